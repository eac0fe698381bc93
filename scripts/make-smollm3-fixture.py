#!/usr/bin/env python3
"""Make Tests/Fixtures/models/tiny-smollm3/: a tiny random-weight SmolLM3, its GGUF, and reference outputs.

Run by the fixtures' maintainer:

    scripts/make-smollm3-fixture.py --llama-cpp DIR      (or LLAMA_CPP_DIR=DIR scripts/make-smollm3-fixture.py)

It needs what scripts/make-phi3-fixture.py needs (Python 3 with numpy, gguf 0.19.0, safetensors and tokenizers, no
torch or transformers; a C compiler; a built llama.cpp at commit 0c1e57098; tiny-llama's committed files and its
f32.gguf, rebuilt first if missing). It imports that script and reuses its helpers (the three-way tokenizer check,
the libllama runs) and, through it, scripts/make-gemma3-fixture.py's (libllama tokenization, the feature-effect and
agreement measures), scripts/make-qwen3-fixture.py's (random weights, config writer, the converter's tensors,
general.* and TextModel keys, the tensor check, ref.json parts), scripts/make-rope-scaling-fixtures.py's (GGUF file
writer, harness driver and check, GGUF summary, JSON and file-map writers, command line, tool versions),
scripts/make-gguf-skeletons.py's `make` and scripts/rebuild-gguf-fixtures.py's atomic writer, hashes and Llama
row permutation.

SmolLM3 (transformers' SmolLM3ForCausalLM, llama.cpp's smollm3) is Llama's graph (RMSNorm x w, SwiGLU, GQA, tied
embeddings) except that some layers use no RoPE at all ("NoPE"): transformers reads the list `no_rope_layers`
(1 = the layer rotates Q and K, 0 = it does not; by default int((i + 1) % no_rope_layer_interval != 0), interval 4),
llama.cpp (src/models/smollm3.cpp) hard-codes n_no_rope_layer_step = 4 (layer i skips RoPE iff (i + 1) % 4 == 0)
and has no GGUF key for it.

What it does, in the folder Tests/Fixtures/models/tiny-smollm3/:
  1. `hf/config.json`: SmolLM3ForCausalLM / smollm3 with the bytes transformers 4.57.6 writes for this
     SmolLM3Config (sorted keys, indent 2): hidden 64, intermediate 128, 4 layers (no_rope_layers [1, 1, 1, 0],
     written out by transformers: layer 3 is NoPE), 4 heads / 2 KV heads (head_dim 16 = hidden / heads, no head_dim
     key), vocab 512, max_position_embeddings 256, rope_theta 2e6 (SmolLM3's), rms_norm_eps 1e-6, silu, no
     rope_scaling, no sliding window, tied embeddings (tie_word_embeddings true is PretrainedConfig's default, so
     it is not written), bos 1 / eos 2, pad null. `hf/config-nope.json`: the same model with no_rope_layers
     NOPE_LAYERS (layer 1 NoPE, layer 3 rotating: not llama.cpp's every-4th-layer rule, so no GGUF can express
     it); the same weights. config.json also goes to Fuzz/corpus/hf-config/tiny-smollm3.json (a fuzz seed). The
     tokenizer files (tokenizer.model, tokenizer.json, tokenizer_config.json, special_tokens_map.json,
     generation_config.json) are copied unchanged from tiny-llama/hf: SmolLM3Model.set_vocab is LlamaModel's,
     which takes a SentencePiece tokenizer.model first.
  2. `hf/model.safetensors`: float32, Hugging Face names (`model.embed_tokens.weight`,
     `model.layers.{i}.self_attn.{q,k,v,o}_proj.weight`, `mlp.{gate,up,down}_proj.weight`, `input_layernorm`,
     `post_attention_layernorm`, `model.norm.weight`; no lm_head: tied), metadata {"format": "pt"}.
     numpy.random.default_rng(SEED) draws one standard_normal(shape) per tensor, in sorted name order; matrices
     are 0.0625 x that, except q_proj and k_proj: QK_SCALE (0.25) x that; every norm weight 1 + 0.2 x that
     (SmolLM3's RMSNorm multiplies by the weight). The larger query and key weights make attention peaked (scores
     of standard deviation about 4 rather than 0.5): with 0.0625 everywhere, attention is so flat that RoPE in the
     last layer (the NoPE one) moves the logits by only 0.025, with 0.25 by about 1.
  3. `f32.gguf`: written with gguf-py's GGUFWriter the way llama.cpp's convert_hf_to_gguf.py (SmolLM3Model, a
     LlamaModel with model_arch SMOLLM3, conversion/llama.py, at 0c1e57098) writes an `--outtype f32 --model-name
     tiny-smollm3` conversion of hf/: the safetensors tensors in sorted name order renamed by gguf-py's smollm3
     name map, all F32, attn_q / attn_k rows permuted as LlamaModel.permute does (undo_permute: llama.cpp runs
     NORM RoPE, on adjacent pairs, for smollm3), no output.weight (tied); then general.type, name, size_label;
     TextModel.set_gguf_parameters' keys (block_count, context_length, embedding_length, feed_forward_length,
     head_count, head_count_kv, rope.freq_base, layer_norm_rms_epsilon, general.file_type; no key_length: the
     config has no head_dim), LlamaModel's (vocab_size, rope.dimension_count 16); quantization_version; then
     tiny-llama/f32.gguf's tokenizer.* keys copied in order (LlamaModel.set_vocab wrote them from the same files:
     add_space_prefix from tokenizer_config.json's add_prefix_space, then _set_vocab_sentencepiece). Nothing says
     which layers skip RoPE. The writer checks itself first: run with architecture llama on tiny-llama/hf, it
     must give tiny-llama/f32.gguf (which convert_hf_to_gguf.py wrote) byte for byte. The file is read back with
     GGUFReader, checked, and git-ignored. (Checked once by hand, not by this script: the real converter, run on
     hf/ with --outtype f32 --no-lazy --model-name tiny-smollm3 and a numpy stand-in for its few eager torch
     calls, writes f32.gguf byte for byte; see the folder's README.)
  4. `gguf-skeletons/f32.skeleton` (scripts/make-gguf-skeletons.py's `make`: identity transforms and
     llama_rope_permute for attn_q / attn_k), so scripts/rebuild-gguf-fixtures.py rebuilds f32.gguf byte for byte.
  5. compiles scripts/llama-cpp-logits.c and scripts/llama-cpp-tokenize.c against DIR. Tokenizer check: TEXT
     tokenized by the `tokenizers` library from hf/tokenizer.json, by libllama from f32.gguf and by libllama from
     tiny-llama/f32.gguf must give the same ids, with and without BOS; those ids (with BOS) are the model input.
     Harness check: tiny-llama/f32.gguf on tiny-llama's ids must reproduce its committed llama.cpp reference. Then
     f32.gguf runs twice (bit-identical outputs required; libllama must log no warning but EXPECTED_WARNINGS).
  6. `ref-llama-cpp.safetensors`: `input_ids` (int64 [1, T]), `logits.f32` [1, T, 512], `hidden_last.f32`
     [1, T, 64] (llama.cpp's `result_norm`), float32.
  7. an independent float64 numpy forward pass with transformers' SmolLM3ForCausalLM math (numpy_smollm3): of
     hf/ (config.json) and of hf/ with config-nope.json. The first must match libllama to NUMPY_TOLERANCE; the
     same pass on the GGUF's permuted Q/K rows with RoPE on adjacent pairs must give it too (to 1e-9: the
     permutation is exact). Every NoPE feature left out or changed must move the logits by more than
     MIN_FEATURE_EFFECT: RoPE in the NoPE layer too (plain Llama), no RoPE in one RoPE layer (each of 0-2), no
     RoPE at all, RoPE on adjacent pairs of HF's unpermuted rows; for config-nope.json llama.cpp's
     every-4th-layer rule instead of its list, and RoPE in its NoPE layer. Its outputs, rounded to float32, are
     `ref.safetensors` (`input_ids`, `logits`, `hidden_last`, `nope.logits`, `nope.hidden_last`).
  8. `ref.json`: text and ids, the tokenizer check, config summary, seed and scales, the checks' numbers, the
     GGUF's metadata and tensors, provenance, tool versions, and the `files` map (size and sha256 of every data
     file of the folder; the rebuild script checks the GGUF against it). README.md is written by hand and not in
     the map.

Deterministic: the same inputs give the same bytes (the llama.cpp outputs for the same build on the same CPU).
"""

import importlib.util
import json
import os
import sys
import tempfile
from importlib import metadata

import numpy as np
import gguf
from gguf import GGUFReader
from safetensors.numpy import load_file, save

HERE = os.path.dirname(os.path.abspath(__file__))


# The Phi-3 fixture script: the three-way tokenizer check and the libllama runs; through it the Gemma 3, Qwen3 and
# RoPE-scaling fixture scripts' helpers (measures, weights, config writer, GGUF writer, harness, skeletons, files
# map, JSON writers).
_spec = importlib.util.spec_from_file_location("make_phi3_fixture", os.path.join(HERE, "make-phi3-fixture.py"))
phi3 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(phi3)
gemma3, qwen3, rope, rebuild, skeletons = phi3.gemma3, phi3.qwen3, phi3.rope, phi3.rebuild, phi3.skeletons
write_json, file_entry, max_abs = rope.write_json, rope.file_entry, rope.max_abs
effect, agreement, top2_margins = gemma3.effect, gemma3.agreement, gemma3.top2_margins

REPO, MODELS = rope.REPO, rope.MODELS
NAME = "tiny-smollm3"
OUT = os.path.join(MODELS, NAME)
TOKENIZER_FROM = phi3.TOKENIZER_FROM    # tiny-llama
TOKENIZER_FILES = phi3.TOKENIZER_FILES  # tokenizer.model, tokenizer.json, tokenizer_config.json, ...
PROG = "smollm3-fixture"

SEED = qwen3.SEED                   # 0
MATRIX_SCALE = qwen3.MATRIX_SCALE   # 0.0625: matrices (embeddings included) but q_proj and k_proj
QK_SCALE = 4 * MATRIX_SCALE         # 0.25: q_proj and k_proj (4 x, exact in float32: peaked attention)
NORM_SCALE = qwen3.NORM_SCALE       # 0.2: norm weights 1 + 0.2 N(0, 1)
# A colon, a slash, digits, a newline, a double space and non-ASCII letters (byte fallback); its ids (with BOS) are
# the model input: 31 of them.
TEXT = "SmolLM3: NoPE 1/4.\nCafé  naïve"
NUMPY_TOLERANCE = qwen3.NUMPY_TOLERANCE        # 1e-4: max |difference| float64 pass vs libllama (float32 model)
PERMUTATION_TOLERANCE = 1e-9                   # the float64 pass on the GGUF's permuted rows vs on HF's
MIN_FEATURE_EFFECT = gemma3.MIN_FEATURE_EFFECT  # 0.05: max |Δlogit| each left-out or changed feature must cause
NO_ROPE_LAYER_STEP = 4    # llama.cpp's hparams.n_no_rope_layer_step for smollm3 (hard-coded, no GGUF key)
# config-nope.json's no_rope_layers: layer 1 NoPE, layer 3 rotating (llama.cpp's rule would give [1, 1, 1, 0]).
NOPE_LAYERS = [1, 0, 1, 1]
# libllama's one warning on every run of the harness: the pooling type the harness asks for (as for every model).
EXPECTED_WARNINGS = ["llama_init_from_model: model default pooling_type is [-1], but [0] was specified"]
WARNINGS_NOTE = ("the pooling_type warning follows from the harness's pooling NONE (embeddings output); libllama "
                 "logs it for every model. No warning about missing or unused tensors.")
TOKENIZER_NOTE = ("tiny-llama's tokenizer files, unchanged: Llama-style SentencePiece with a dummy prefix ('▁' before "
                  "the first word); the GGUF's tokenizer.* keys are tiny-llama/f32.gguf's (LlamaModel.set_vocab, "
                  "which SmolLM3Model inherits), add_space_prefix true included")

# As transformers 4.57.6 writes SmolLM3Config(vocab_size=512, hidden_size=64, intermediate_size=128,
# num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
# rope_theta=2000000.0, rms_norm_eps=1e-6, hidden_act="silu", tie_word_embeddings=True, bos_token_id=1,
# eos_token_id=2, pad_token_id=None, initializer_range=0.0625) with architectures ["SmolLM3ForCausalLM"] and dtype
# float32 (save_pretrained: sorted keys, indent 2). SmolLM3Config writes the no_rope_layers it derives from
# no_rope_layer_interval (4) and layer_types (all "full_attention": no sliding window); it has no head_dim;
# tie_word_embeddings true is PretrainedConfig's default, so it is left out.
CONFIG = {
    "architectures": ["SmolLM3ForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 1,
    "dtype": "float32",
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 64,
    "initializer_range": MATRIX_SCALE,
    "intermediate_size": 128,
    "layer_types": ["full_attention"] * 4,
    "max_position_embeddings": 256,
    "mlp_bias": False,
    "model_type": "smollm3",
    "no_rope_layer_interval": 4,
    "no_rope_layers": [1, 1, 1, 0],
    "num_attention_heads": 4,
    "num_hidden_layers": 4,
    "num_key_value_heads": 2,
    "pad_token_id": None,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 2000000.0,
    "sliding_window": None,
    "transformers_version": "4.57.6",
    "use_cache": True,
    "use_sliding_window": False,
    "vocab_size": 512,
}
# The same with no_rope_layers=NOPE_LAYERS (transformers keeps the given list and writes the interval all the same).
NOPE_CONFIG = dict(CONFIG, no_rope_layers=NOPE_LAYERS)

# The converter's GGUF tensor names of a Llama / SmolLM3 block, in the HF names' sorted order (input_layernorm,
# mlp.down_proj, mlp.gate_proj, mlp.up_proj, post_attention_layernorm, self_attn.k_proj, o_proj, q_proj, v_proj).
LAYER_TENSORS = ["attn_norm", "ffn_down", "ffn_gate", "ffn_up", "ffn_norm", "attn_k", "attn_output", "attn_q",
                 "attn_v"]


def say(text):
    print(f"{PROG}: {text}", flush=True)


def rel(path):
    return os.path.relpath(path, REPO)


# --- the model ------------------------------------------------------------------------------------------------

def head_dim(c):
    return c["hidden_size"] // c["num_attention_heads"]


def hf_shapes(c):
    """{Hugging Face tensor name: numpy shape} of SmolLM3ForCausalLM with tied embeddings: Qwen3's without q_norm /
    k_norm (head_dim = hidden / heads)."""
    return qwen3.hf_shapes(dict(c, head_dim=head_dim(c)), qk_norm=False)


def llama_cpp_rope_layers(c):
    """Per layer 1 if llama.cpp's smollm3 graph rotates Q and K there, else 0: (il + 1) % n_no_rope_layer_step != 0."""
    return [int((i + 1) % NO_ROPE_LAYER_STEP != 0) for i in range(c["num_hidden_layers"])]


def random_weights(c):
    """qwen3.random_weights of hf_shapes(c) (one standard_normal draw per tensor in sorted name order from
    default_rng(SEED); matrices MATRIX_SCALE x that, norms 1 + NORM_SCALE x that), then q_proj and k_proj x 4 in
    float32 (a power of two: exactly float32(QK_SCALE x the draw))."""
    weights = qwen3.random_weights(c, SEED, MATRIX_SCALE, NORM_SCALE, shapes=hf_shapes(c))
    factor = np.float32(QK_SCALE / MATRIX_SCALE)
    assert factor == 4
    return {k: w * factor if k.endswith(("self_attn.q_proj.weight", "self_attn.k_proj.weight")) else w
            for k, w in weights.items()}


# --- GGUF -----------------------------------------------------------------------------------------------------

def gguf_tensor(c):
    """LlamaModel.modify_tensors' data for --outtype f32 (undo_permute): q_proj rows permute(n_head, n_head), k_proj
    rows permute(n_head, n_head_kv) (HF's rotate-half order to llama.cpp's adjacent pairs); everything else as is."""
    n_head, n_kv = c["num_attention_heads"], c["num_key_value_heads"]

    def tensor(hf_name, w):
        if hf_name.endswith("self_attn.q_proj.weight"):
            return rebuild.llama_rope_permute(w, n_head, n_head)
        if hf_name.endswith("self_attn.k_proj.weight"):
            return rebuild.llama_rope_permute(w, n_head, n_kv)
        return w

    return tensor


def write_gguf(path, model_arch, general_name, c, weights, tokenizer_gguf, extra_keys=None):
    """An f32 GGUF as convert_hf_to_gguf.py --outtype f32 writes it for a LlamaModel (model_arch LLAMA) or
    SmolLM3Model (SMOLLM3) with config `c`, these float32 weights and the tokenizer files tokenizer_gguf was
    converted from (see the header). `extra_keys(writer)`, when given, adds a LlamaModel subclass's own keys after
    LlamaModel's (scripts/make-granite-fixture.py: GraniteModel's four scales). Returns the GGUF tensor names in
    order and the parameter count."""
    tok = GGUFReader(tokenizer_gguf)

    def fill(writer):
        # ModelBase.prepare_tensors (LlamaModel.modify_tensors: Q/K rows permuted), prepare_metadata: general.*,
        # TextModel.set_gguf_parameters, then LlamaModel's own keys.
        names, total = qwen3.add_text_model(writer, model_arch, general_name, c, weights, gguf_tensor(c))
        writer.add_vocab_size(c["vocab_size"])
        writer.add_rope_dimension_count(c.get("head_dim") or head_dim(c))
        if extra_keys is not None:
            extra_keys(writer)
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        # TextModel.prepare_metadata's set_vocab (LlamaModel's): the same tokenizer files give the same keys.
        for field in tok.fields.values():
            if field.name.startswith("tokenizer."):
                rope.copy_field(writer, field, field.contents())
        return names, total

    return rope.write_gguf_file(path, gguf.MODEL_ARCH_NAMES[model_arch], fill)


def expected_metadata(c):
    """{key: value} of the GGUF's non-tokenizer keys in the converter's order (as GGUFReader reads them); None:
    checked separately."""
    f32 = lambda x: float(np.float32(x))  # noqa: E731
    a = "smollm3."
    return {
        "general.architecture": "smollm3", "general.type": "model", "general.name": NAME, "general.size_label": None,
        a + "block_count": c["num_hidden_layers"], a + "context_length": c["max_position_embeddings"],
        a + "embedding_length": c["hidden_size"], a + "feed_forward_length": c["intermediate_size"],
        a + "attention.head_count": c["num_attention_heads"],
        a + "attention.head_count_kv": c["num_key_value_heads"],
        a + "rope.freq_base": f32(c["rope_theta"]),
        a + "attention.layer_norm_rms_epsilon": f32(c["rms_norm_eps"]),
        "general.file_type": 0, a + "vocab_size": c["vocab_size"], a + "rope.dimension_count": head_dim(c),
        "general.quantization_version": 2,
    }


def check_gguf(path, c, weights, names, tokenizer_gguf, want=None):
    """Read f32.gguf back with GGUFReader: metadata (order and values as `want`, default expected_metadata(c), gives
    them, then tiny-llama/f32.gguf's tokenizer.* keys in its order with its types and values), tensor names, types,
    shapes and data (Q/K permuted). scripts/make-granite-fixture.py passes its own `want`."""
    kv, tensors = rope.gguf_summary(path)
    want = expected_metadata(c) if want is None else want
    non_tok = [k for k in kv if not k.startswith("tokenizer.")]
    assert non_tok == list(want), non_tok
    for key, value in want.items():
        if value is not None:
            assert kv[key][1] == value, f"{key} = {kv[key]}, expected {value}"
    tok_kv, _ = rope.gguf_summary(tokenizer_gguf)
    tok_keys = [k for k in tok_kv if k.startswith("tokenizer.")]
    assert list(kv)[len(non_tok):] == tok_keys, "tokenizer keys out of order"
    for key in tok_keys:
        assert kv[key] == tok_kv[key], f"{key} differs from tiny-llama/f32.gguf's"
    qwen3.check_tensors(tensors, names, qwen3.expected_gguf_names(c, LAYER_TENSORS), weights, gguf_tensor(c))
    permuted = [n for n, s in zip(names, sorted(weights)) if not np.array_equal(gguf_tensor(c)(s, weights[s]),
                                                                                weights[s])]
    assert permuted == [f"blk.{i}.attn_{x}.weight" for i in range(c["num_hidden_layers"]) for x in "kq"], permuted
    return kv, tensors


# --- the independent float64 forward pass ---------------------------------------------------------------------

def numpy_smollm3(w, c, ids, use_rope=None, adjacent_pairs=False):
    """(logits, hidden_last) [T, vocab], [T, hidden] of SmolLM3ForCausalLM in float64, transformers' math: per layer
    h += o_proj(attn(input_layernorm(h))), h += down_proj(silu(gate_proj(x)) * up_proj(x)) of
    post_attention_layernorm(h); RMSNorm(x) * w; q, k, v = q_proj, k_proj, v_proj (heads x d, kv_heads x d);
    SmolLM3Attention applies apply_rotary_pos_emb (rotate-half, inv_freq = theta^(-arange(0, d, 2) / d), attention
    scaling 1: no rope_scaling) only where config.no_rope_layers[layer] is 1 (`use_rope`, default that list);
    scores x d^-0.5, causal, GQA (head i reads KV head i // (heads / kv_heads)); final norm; LM head =
    embed_tokens (tied). adjacent_pairs: RoPE on dims (2i, 2i + 1) instead of (i, i + d/2), as llama.cpp's NORM
    RoPE does: right on the GGUF's permuted Q/K rows, wrong on HF's."""
    n_head, n_kv, d = c["num_attention_heads"], c["num_key_value_heads"], head_dim(c)
    eps, T = c["rms_norm_eps"], len(ids)
    use_rope = c["no_rope_layers"] if use_rope is None else use_rope
    assert len(use_rope) == c["num_hidden_layers"] and set(use_rope) <= {0, 1}, use_rope

    def norm(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    inv = c["rope_theta"] ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    angle = np.arange(T, dtype=np.float64)[:, None] * inv[None]
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]   # [T, 1, d / 2]

    def rope(x):
        if adjacent_pairs:
            x0, x1 = x[..., 0::2], x[..., 1::2]
            out = np.empty_like(x)
            out[..., 0::2], out[..., 1::2] = x0 * cos - x1 * sin, x0 * sin + x1 * cos
            return out
        x0, x1 = x[..., :d // 2], x[..., d // 2:]
        return np.concatenate([x0 * cos - x1 * sin, x1 * cos + x0 * sin], -1)

    mask = np.triu(np.full((T, T), -np.inf), 1)
    h = w["model.embed_tokens.weight"][ids]
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        x = norm(h, w[p + "input_layernorm.weight"])
        q = (x @ w[p + "self_attn.q_proj.weight"].T).reshape(T, n_head, d)
        k = (x @ w[p + "self_attn.k_proj.weight"].T).reshape(T, n_kv, d)
        v = (x @ w[p + "self_attn.v_proj.weight"].T).reshape(T, n_kv, d)
        if use_rope[layer]:
            q, k = rope(q), rope(k)
        heads = []
        for i in range(n_head):
            j = i // (n_head // n_kv)
            s = q[:, i] @ k[:, j].T * d ** -0.5 + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            heads.append((s / s.sum(-1, keepdims=True)) @ v[:, j])
        h = h + np.concatenate(heads, -1) @ w[p + "self_attn.o_proj.weight"].T
        x = norm(h, w[p + "post_attention_layernorm.weight"])
        gate, up = x @ w[p + "mlp.gate_proj.weight"].T, x @ w[p + "mlp.up_proj.weight"].T
        h = h + (gate / (1 + np.exp(-gate)) * up) @ w[p + "mlp.down_proj.weight"].T
    hidden = norm(h, w["model.norm.weight"])
    return hidden @ w["model.embed_tokens.weight"].T, hidden


# --- driver ---------------------------------------------------------------------------------------------------

def main():
    args, llama_cpp, commit = rope.parse_arguments(NAME, PROG, say)

    say(rebuild.rebuild(MODELS, "tiny-llama", "f32", False, False, {}))
    base_ref = json.load(open(os.path.join(TOKENIZER_FROM, "ref.json"), encoding="utf-8"))
    base_config = json.load(open(os.path.join(TOKENIZER_FROM, "hf", "config.json"), encoding="utf-8"))
    tok_gguf = os.path.join(TOKENIZER_FROM, "f32.gguf")
    hf_dir = os.path.join(OUT, "hf")
    os.makedirs(hf_dir, exist_ok=True)
    os.makedirs(os.path.join(OUT, "gguf-skeletons"), exist_ok=True)

    # 1. configs and tokenizer.
    config, nope_config = dict(CONFIG), dict(NOPE_CONFIG)
    for key in ("bos_token_id", "eos_token_id", "vocab_size"):
        assert config[key] == base_config[key], key
    assert "pad_token_id" not in base_config
    assert config["no_rope_layers"] == llama_cpp_rope_layers(config) == [
        int((i + 1) % config["no_rope_layer_interval"] != 0) for i in range(config["num_hidden_layers"])]
    assert nope_config["no_rope_layers"] != llama_cpp_rope_layers(nope_config)
    qwen3.write_config(NAME, config)
    qwen3.write_config(NAME, nope_config, "config-nope.json")
    for name in TOKENIZER_FILES:
        qwen3.copy_file(os.path.join(TOKENIZER_FROM, "hf", name), os.path.join(hf_dir, name))
        assert rebuild.sha256_file(os.path.join(hf_dir, name)) == base_ref["files"][f"hf/{name}"]["sha256"], name

    # 2. weights.
    weights = random_weights(config)
    n_params = qwen3.save_weights(os.path.join(hf_dir, "model.safetensors"), weights, say)

    # 3. GGUF. First the writer's own check: with architecture llama on tiny-llama/hf it must give the converter's
    # tiny-llama/f32.gguf (LlamaModel: the same code path but the architecture name).
    with tempfile.TemporaryDirectory(prefix=f"{PROG}-") as work:
        llama_path = os.path.join(work, "llama.gguf")
        write_gguf(llama_path, gguf.MODEL_ARCH.LLAMA, "tiny-llama", base_config,
                   load_file(os.path.join(TOKENIZER_FROM, "hf", "model.safetensors")), tok_gguf)
        writer_check = {
            "method": "this script's GGUF writer run with architecture llama on tiny-llama/hf (config, weights, "
                      "tokenizer keys) gives a file byte-identical to tiny-llama/f32.gguf, which "
                      "convert_hf_to_gguf.py (LlamaModel, Q/K rows permuted) wrote",
            "sha256": rebuild.sha256_file(llama_path),
            "equal": rebuild.sha256_file(llama_path) == rebuild.sha256_file(tok_gguf),
        }
    say(f"writer check on tiny-llama: {writer_check}")
    if not writer_check["equal"]:
        sys.exit(f"{PROG}: the GGUF writer does not reproduce tiny-llama/f32.gguf (convert_hf_to_gguf.py's)")
    gguf_path = os.path.join(OUT, "f32.gguf")
    names, total = write_gguf(gguf_path, gguf.MODEL_ARCH.SMOLLM3, NAME, config, weights, tok_gguf)
    assert total == n_params, (total, n_params)
    kv, tensors = check_gguf(gguf_path, config, weights, names, tok_gguf)
    say(f"{rel(gguf_path)}: {os.path.getsize(gguf_path):,} bytes, {len(tensors)} tensors, size label "
        f"{kv['general.size_label'][1]}, checked with GGUFReader (tokenizer keys = tiny-llama/f32.gguf's)")

    # 4. skeleton: ref.json must record the GGUF's and the source's sha256 first (make() checks them).
    gguf_info = {
        "made_by": "scripts/make-smollm3-fixture.py: gguf-py 0.19.0 GGUFWriter, as convert_hf_to_gguf.py "
                   "--outtype f32 --model-name tiny-smollm3 (llama.cpp 0c1e57098, SmolLM3Model = LlamaModel with "
                   "architecture smollm3) writes hf/: tensors in sorted HF name order, all F32, attn_q / attn_k rows "
                   "permuted (LlamaModel.permute), no output.weight (tied); TextModel's and LlamaModel's keys; "
                   "tokenizer.* keys copied from tiny-llama/f32.gguf",
    }
    gguf_info.update(file_entry(gguf_path))
    write_json(os.path.join(OUT, "ref.json"), {
        "gguf": {"f32.gguf": gguf_info},
        "files": {n: file_entry(os.path.join(OUT, n)) for n in ("f32.gguf", "hf/model.safetensors")}}, 1)
    out, header_bytes = skeletons.make(MODELS, NAME, "f32")
    say(f"{rel(out)}: {os.path.getsize(out):,} bytes (header {header_bytes:,}), round trip verified")

    # 5. llama.cpp: the tokenizer check, the harness check, then the runs.
    with tempfile.TemporaryDirectory(prefix=f"{PROG}-") as work:
        tok_exe = rope.build_harness(llama_cpp, args.cc, work, gemma3.TOKENIZE_HARNESS)
        tokenizer_check, ids = phi3.check_tokenizer(tok_exe, llama_cpp, gguf_path, hf_dir, work, text=TEXT,
                                                    prog=PROG, say=say, expected_warnings=EXPECTED_WARNINGS,
                                                    note=TOKENIZER_NOTE)
        exe = rope.build_harness(llama_cpp, args.cc, work)
        harness_check, _, _ = rope.check_harness(exe, llama_cpp, "tiny-llama", base_ref["input_ids"], work, PROG,
                                                 say)
        output = phi3.llama_cpp_run(exe, llama_cpp, gguf_path, ids, work, "f32", prog=PROG, say=say,
                                    expected_warnings=EXPECTED_WARNINGS)
    if not any("rope type" in line and "= 0" in line for line in output["rope_log"]):
        sys.exit(f"{PROG}: libllama does not report rope type 0 (NORM) for smollm3: {output['rope_log']}")

    # 6. the llama.cpp reference.
    T = len(ids)
    input_ids = np.array([ids], dtype=np.int64)
    llama_tensors = {"input_ids": input_ids,
                     "logits.f32": np.ascontiguousarray(output["logits"], dtype=np.float32),
                     "hidden_last.f32": np.ascontiguousarray(output["hidden"], dtype=np.float32)}
    rope.write_llama_reference(os.path.join(OUT, "ref-llama-cpp.safetensors"), llama_tensors)

    # 7. the independent float64 passes and every feature left out or changed.
    w64 = {k: v.astype(np.float64) for k, v in weights.items()}
    refs = {"f32": numpy_smollm3(w64, config, ids), "nope": numpy_smollm3(w64, nope_config, ids)}
    llama = (output["logits"][0], output["hidden"][0])
    permute = gguf_tensor(config)
    g64 = {k: permute(k, v).astype(np.float64) for k, v in weights.items()}
    gguf_layout = numpy_smollm3(g64, config, ids, adjacent_pairs=True)
    permutation_check = {
        "method": "the same float64 pass on the GGUF's permuted attn_q / attn_k rows with RoPE on adjacent pairs "
                  "(2i, 2i + 1), as llama.cpp's NORM RoPE, against the pass on HF's rows with rotate-half",
        "max_abs_logit_diff": max_abs(gguf_layout[0], refs["f32"][0]),
        "max_abs_hidden_last_diff": max_abs(gguf_layout[1], refs["f32"][1]),
        "tolerance": PERMUTATION_TOLERANCE,
    }
    say(f"permutation check: {permutation_check}")
    if max(permutation_check["max_abs_logit_diff"], permutation_check["max_abs_hidden_last_diff"]) \
            > PERMUTATION_TOLERANCE:
        sys.exit(f"{PROG}: the permuted Q/K rows with adjacent-pair RoPE do not give transformers' outputs")
    L = config["num_hidden_layers"]
    features = {
        "rope_in_nope_layer": ("f32", "RoPE in layer 3 too (no_rope_layers ignored: every layer rotates, plain "
                                      "Llama)", config, dict(use_rope=[1] * L)),
        **{f"no_rope_in_layer_{i}": ("f32", f"no RoPE in layer {i} (a RoPE layer) either", config,
                                     dict(use_rope=[0 if j in (i, L - 1) else 1 for j in range(L)]))
           for i in range(L - 1)},
        "no_rope_anywhere": ("f32", "no layer rotates", config, dict(use_rope=[0] * L)),
        "adjacent_pairs_unpermuted": ("f32", "RoPE on adjacent pairs (2i, 2i + 1) of HF's unpermuted Q/K rows "
                                             "(llama.cpp's NORM RoPE without the converter's permutation)",
                                      config, dict(adjacent_pairs=True)),
        "llama_cpp_rule_instead_of_list": ("nope", f"config-nope.json's no_rope_layers {NOPE_LAYERS} ignored for "
                                                   f"llama.cpp's every-4th-layer rule {llama_cpp_rope_layers(config)} "
                                                   f"(= the config.json pass)", nope_config,
                                           dict(use_rope=llama_cpp_rope_layers(nope_config))),
        "nope_rope_in_nope_layer": ("nope", "config-nope.json with RoPE in its NoPE layer 1 too (every layer "
                                            "rotates)", nope_config, dict(use_rope=[1] * L)),
    }
    left_out = {key: dict(reference=ref, note=note, **effect(numpy_smollm3(w64, c, ids, **kw), refs[ref]))
                for key, (ref, note, c, kw) in features.items()}
    assert left_out["llama_cpp_rule_instead_of_list"] == dict(
        left_out["llama_cpp_rule_instead_of_list"], **effect(refs["f32"], refs["nope"]))
    numpy_check = {
        "method": "float64 numpy forward pass of hf/model.safetensors with transformers' SmolLM3ForCausalLM math "
                  "(numpy_smollm3): per layer h += o_proj(attn(input_layernorm(h))), h += "
                  "down_proj(silu(gate_proj(x)) * up_proj(x)) with x = post_attention_layernorm(h); RMSNorm(x) * w, "
                  "eps 1e-6; rotate-half RoPE (inv_freq = 2e6^(-arange(0, 16, 2) / 16)) on Q and K only in the "
                  "layers whose no_rope_layers entry is 1 (SmolLM3Attention.use_rope); scores x 16^-0.5, causal, "
                  "GQA 4/2; final norm; LM head embed_tokens (tied). f32: config.json (no_rope_layers [1, 1, 1, 0]); "
                  f"nope: config-nope.json (no_rope_layers {NOPE_LAYERS})",
        "tolerance": NUMPY_TOLERANCE,
        "vs_llama_cpp": agreement(refs["f32"], *llama),
        "nope_vs_llama_cpp": dict(agreement(refs["nope"], *llama),
                                  note="informational: libllama applies its every-4th-layer rule, not "
                                       "config-nope.json's list, so it computes the f32 pass"),
        "gguf_layout_check": permutation_check,
        "min_top2_logit_margin": {stem: min(top2_margins(r[0])) for stem, r in refs.items()},
        "top2_logit_margins": {stem: top2_margins(r[0]) for stem, r in refs.items()},
        "top2_note": "argmax checks against libllama are only safe where the margin exceeds the tolerance",
        "logit_scale_rms": {stem: float(np.sqrt(np.mean(r[0] ** 2))) for stem, r in refs.items()},
        "logit_max_abs": {stem: float(np.max(np.abs(r[0]))) for stem, r in refs.items()},
        "hidden_last_scale_rms": {stem: float(np.sqrt(np.mean(r[1] ** 2))) for stem, r in refs.items()},
        "float32_rounding": {
            "max_abs_logit_diff_ref_vs_llama_cpp": max_abs(refs["f32"][0].astype(np.float32), llama[0]),
            "max_abs_hidden_last_diff_ref_vs_llama_cpp": max_abs(refs["f32"][1].astype(np.float32), llama[1]),
        },
        "min_feature_effect": MIN_FEATURE_EFFECT,
        "left_out_features": left_out,
        "note": "each feature's effect is measured against the pass it changes (`reference`); libllama agrees with "
                "the f32 pass far closer than any effect, so it leaves RoPE out of layer 3 and only there",
    }
    say(f"numpy float64 vs libllama: {numpy_check['vs_llama_cpp']}")
    say(f"numpy float64 nope pass vs libllama (informational): {numpy_check['nope_vs_llama_cpp']}")
    for key, e in left_out.items():
        say(f"{key} (vs {e['reference']}): max |Δlogit| {e['max_abs_logit_diff']:.4g}, rms {e['rms_logit_diff']:.3g}, "
            f"argmax {e['argmax_agree_positions']}/{T}, max |Δhidden| {e['max_abs_hidden_last_diff']:.4g}, "
            f"positions moved {e['positions_moved']} from {e['first_position_moved']}")
    worst = max(numpy_check["vs_llama_cpp"][m] for m in ("max_abs_logit_diff", "max_abs_hidden_last_diff"))
    if worst > NUMPY_TOLERANCE:
        sys.exit(f"{PROG}: the numpy forward pass disagrees with libllama by {worst} > {NUMPY_TOLERANCE}")
    weak = [k for k, e in left_out.items() if e["max_abs_logit_diff"] <= MIN_FEATURE_EFFECT]
    if weak:
        sys.exit(f"{PROG}: leaving out {weak} changes the logits too little")
    ref_tensors = {"input_ids": input_ids}
    for stem, prefix in (("f32", ""), ("nope", "nope.")):
        ref_tensors[prefix + "logits"] = refs[stem][0][None].astype(np.float32)
        ref_tensors[prefix + "hidden_last"] = refs[stem][1][None].astype(np.float32)
    rebuild.write_atomically(os.path.join(OUT, "ref.safetensors"),
                             save(ref_tensors, metadata={"generator": "scripts/make-smollm3-fixture.py: float64 "
                                                                      "numpy forward pass, rounded to float32"}))

    # 8. ref.json.
    files = {}
    for name in (["f32.gguf", "gguf-skeletons/f32.skeleton"]
                 + [f"hf/{n}" for n in sorted(TOKENIZER_FILES + ["config.json", "config-nope.json",
                                                                 "model.safetensors"])]
                 + ["ref-llama-cpp.safetensors", "ref.safetensors"]):
        files[name] = file_entry(os.path.join(OUT, name))
    gguf_info.update({
        "writer_check": writer_check,
        "metadata": {k: v[1] for k, v in kv.items() if k not in ("tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                                                                  "tokenizer.ggml.token_type")},
        "metadata_types": {k: "/".join(v[0]) for k, v in kv.items()},
        "tokenizer_arrays": "tokenizer.ggml.tokens / scores / token_type: 512 entries each, tiny-llama/f32.gguf's "
                            "(convert_hf_to_gguf.py wrote them from the same files); all tokenizer.* keys are "
                            "copied from there in order",
        "no_rope_layers": f"no key: llama.cpp's smollm3 loader sets n_no_rope_layer_step = {NO_ROPE_LAYER_STEP} "
                          f"itself, so the GGUF runs RoPE in layers {llama_cpp_rope_layers(config)} (1 = RoPE)",
        "type_counts": {"F32": len(tensors)},
        "tensor_shapes_ggml": {n: shape for n, _, shape, _ in tensors},
        "tensor_sources": dict(zip(names, sorted(weights))),
        "permuted_tensors": {n: {"n_head": config["num_attention_heads"],
                                 "n_head_kv": config["num_attention_heads"] if ".attn_q." in n
                                 else config["num_key_value_heads"]}
                             for n in names if ".attn_q." in n or ".attn_k." in n},
    })
    weights_info = qwen3.weights_info(weights, SEED, MATRIX_SCALE, NORM_SCALE,
                                      f"every norm weight (input_layernorm, post_attention_layernorm, model.norm) "
                                      f"1 + {NORM_SCALE} * N(0,1): SmolLM3's RMSNorm multiplies by the weight")
    weights_info["init"]["weights"] = (f"every matrix {MATRIX_SCALE} * N(0,1) (embed_tokens, v_proj, o_proj, "
                                       f"gate/up/down_proj) except q_proj and k_proj: {QK_SCALE} * N(0,1) (the "
                                       f"float32 {MATRIX_SCALE} draw x 4, exact)")
    weights_info["init"]["qk_scale"] = QK_SCALE
    weights_info["init"]["qk_scale_why"] = (
        "peaked attention (scores of standard deviation about 4 instead of 0.5), so that RoPE matters in every "
        "layer: with 0.0625 for q_proj and k_proj too, applying RoPE in the NoPE layer 3 (the last) moves the logits "
        "by only 0.025 (below min_feature_effect); see numpy_check.left_out_features.rope_in_nope_layer for 0.25")
    ref_json = {
        "model": NAME,
        "description": "tiny random-weight SmolLM3ForCausalLM: Llama's graph (GQA 4/2, SwiGLU, RMSNorm x w, tied "
                       "embeddings, rope_theta 2e6) with NoPE layers: no_rope_layers [1, 1, 1, 0] (layer 3 without "
                       f"RoPE, llama.cpp's rule); config-nope.json: the same weights with no_rope_layers "
                       f"{NOPE_LAYERS} (no GGUF). tiny-llama's SentencePiece tokenizer files",
        "text": TEXT,
        "input_ids": ids,
        "T": T,
        "tokenizer": {
            "type": "sentencepiece-bpe (byte fallback), Llama-style: dummy prefix",
            "adds_bos": True,
            "bos_token_id": config["bos_token_id"],
            "eos_token_id": config["eos_token_id"],
            "vocab_size": config["vocab_size"],
            "reference_tokenizer": "tokenizers (hf/tokenizer.json), libllama (f32.gguf) and libllama "
                                   "(tiny-llama/f32.gguf), equal ids",
            "copied_from": "tiny-llama/hf, unchanged (" + ", ".join(TOKENIZER_FILES) + ")",
            "check": tokenizer_check,
        },
        "config": qwen3.config_info(
            dict(config, head_dim=head_dim(config)),
            ("model_type", "architectures", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
             "num_attention_heads", "num_key_value_heads", "head_dim", "max_position_embeddings", "rope_theta",
             "rope_scaling", "no_rope_layers", "no_rope_layer_interval", "layer_types", "rms_norm_eps", "hidden_act",
             "use_sliding_window", "sliding_window", "attention_bias", "mlp_bias", "bos_token_id", "eos_token_id",
             "pad_token_id"), n_params,
            head_dim_note="not in config.json (SmolLM3Config has none): hidden / heads",
            tie_word_embeddings="true: PretrainedConfig's default, so config.json does not write it; no "
                                "lm_head.weight",
            llama_cpp_rope_layers=llama_cpp_rope_layers(config),
            nope_variant={
                "file": "hf/config-nope.json",
                "changes": {"no_rope_layers": NOPE_LAYERS},
                "note": "layer 1 NoPE, layer 3 rotating: not llama.cpp's every-4th-layer rule, which has no GGUF "
                        "key, so there is no GGUF (and no libllama run) for it; float64 reference only",
            },
            attention_scale=head_dim(config) ** -0.5),
        **weights_info,
        "ref_safetensors_keys": {"ref.safetensors": rope.tensor_keys(ref_tensors),
                                 "ref-llama-cpp.safetensors": rope.tensor_keys(llama_tensors)},
        "llama_cpp": rope.llama_cpp_info(
            T, "run twice with bit-identical outputs", harness_check,
            freq_scale_train=output["freq_scale_train"], rope_log=output["rope_log"],
            rope_metadata_log=output["rope_metadata_log"], warnings=output["warnings"],
            warnings_note=WARNINGS_NOTE,
            runtime_notes="smollm3 in llama.cpp (src/models/smollm3.cpp): load_arch_hparams reads only "
                          "attention.layer_norm_rms_epsilon beyond the common keys and sets n_no_rope_layer_step = "
                          "4; the graph is Llama's (build_qkv, SwiGLU FFN, RMSNorm) with ggml_rope_ext on Q and K "
                          "only where (il + 1) % 4 != 0; rope type NORM (llama_model_rope_type: adjacent pairs, "
                          "hence the converter's Q/K row permutation); Q x 1/sqrt(head_dim); output.weight missing "
                          "-> token_embd duplicated (tied)"),
        "numpy_check": numpy_check,
        "gguf": {"f32.gguf": gguf_info},
        "made_by": "scripts/make-smollm3-fixture.py (configs, tokenizer copies, weights, GGUF, skeleton via "
                   "scripts/make-gguf-skeletons.py's make, ref.safetensors), scripts/llama-cpp-logits.c "
                   "(ref-llama-cpp.safetensors), scripts/llama-cpp-tokenize.c (the tokenizer check)",
        "files": files,
        "tools": dict(rope.tool_versions(args.cc, commit), tokenizers=metadata.version("tokenizers")),
    }
    rope.write_ref(OUT, NAME, ref_json, say)


if __name__ == "__main__":
    main()
