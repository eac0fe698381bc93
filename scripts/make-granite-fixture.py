#!/usr/bin/env python3
"""Make Tests/Fixtures/models/tiny-granite/: a tiny random-weight IBM Granite 3.x (dense), its GGUF, and references.

Run by the fixtures' maintainer:

    scripts/make-granite-fixture.py --llama-cpp DIR      (or LLAMA_CPP_DIR=DIR scripts/make-granite-fixture.py)

It needs what scripts/make-smollm3-fixture.py needs (Python 3 with numpy, gguf 0.19.0, safetensors and tokenizers, no
torch or transformers; a C compiler; a built llama.cpp at commit 0c1e57098; tiny-llama's committed files and its
f32.gguf, rebuilt first if missing). It imports that script and reuses its helpers (LlamaModel's GGUF writer and its
self-check on tiny-llama, the Q/K row permutation, the GGUF check, the SmolLM3 shapes: Llama's without q/k norms)
and, through it, scripts/make-phi3-fixture.py's (the three-way tokenizer check, the libllama runs),
scripts/make-gemma3-fixture.py's (libllama tokenization, the feature-effect and agreement measures),
scripts/make-qwen3-fixture.py's (random weights, config writer, the converter's tensors, general.* and TextModel
keys, the tensor check, ref.json parts, the widened-log harness), scripts/make-rope-scaling-fixtures.py's (the
float64 Llama pass, which applies Granite's four multipliers when the config has them; GGUF file writer, harness
driver and check, GGUF summary, JSON and file-map writers, command line, tool versions),
scripts/make-gguf-skeletons.py's `make` and scripts/rebuild-gguf-fixtures.py's atomic writer, hashes and Llama
row permutation.

Granite 3.x dense (transformers' GraniteForCausalLM, model_type granite; llama.cpp's granite) is Llama's graph
(RMSNorm x w, rotate-half RoPE, GQA, SwiGLU, no biases) with four multipliers from config.json: the input embeddings
x embedding_multiplier; the attention scores x attention_multiplier (instead of 1/sqrt(head_dim)); each block's
attention output and feed-forward output x residual_multiplier before it is added to the residual stream; the
logits / logits_scaling. The converter (GraniteModel, a LlamaModel) writes them as granite.attention.scale,
granite.embedding_scale, granite.residual_scale and granite.logit_scale; llama.cpp (src/models/granite.cpp,
build_inp_embd) applies them.

What it does, in the folder Tests/Fixtures/models/tiny-granite/:
  1. `hf/config.json`: GraniteForCausalLM / granite with the bytes transformers 4.57.6 writes for this
     GraniteConfig (sorted keys, indent 2): hidden 64, intermediate 128, 4 layers, 4 heads / 2 KV heads (head_dim
     16 = hidden / heads: GraniteConfig has no head_dim), vocab 512, max_position_embeddings 256, rope_theta 1e4
     (GraniteConfig's default; Granite 3.3 uses 1e7), rms_norm_eps 1e-5, silu, no rope_scaling, tied embeddings
     (tie_word_embeddings true, written: GraniteConfig's default is false), bos 1 / eos 2 (tiny-llama's), pad null
     (not written); embedding_multiplier 12, attention_multiplier 0.125 (not 1/sqrt(16) = 0.25),
     residual_multiplier 0.22, logits_scaling 8 (Granite 3 2B's but the attention multiplier). It also goes to
     Fuzz/corpus/hf-config/tiny-granite.json (a fuzz seed). The tokenizer files (tokenizer.model, tokenizer.json,
     tokenizer_config.json, special_tokens_map.json, generation_config.json) are tiny-llama/hf's, copied unchanged:
     GraniteModel.set_vocab is LlamaModel's, which takes a SentencePiece tokenizer.model first.
  2. `hf/model.safetensors`: float32, Hugging Face names (`model.embed_tokens.weight`,
     `model.layers.{i}.self_attn.{q,k,v,o}_proj.weight`, `mlp.{gate,up,down}_proj.weight`, `input_layernorm`,
     `post_attention_layernorm`, `model.norm.weight`; no lm_head: tied), metadata {"format": "pt"}.
     numpy.random.default_rng(SEED) draws one standard_normal(shape) per tensor, in sorted name order; every matrix
     is MATRIX_SCALE (0.25) x that, every norm weight 1 + 0.2 x that. Why 0.25 and not the other fixtures' 0.0625:
     the embeddings x 12 dominate the residual stream and the blocks' outputs enter it x 0.22, so with 0.0625 the
     attention hardly reaches the logits (the default attention scale moves them by 0.002, reading the permuted Q/K
     rows as HF's by 0.0016); with 0.25 every feature moves them by 0.2 or more.
  3. `f32.gguf`: written with gguf-py's GGUFWriter the way llama.cpp's convert_hf_to_gguf.py (GraniteModel, a
     LlamaModel with model_arch GRANITE, conversion/granite.py, at 0c1e57098) writes an `--outtype f32 --model-name
     tiny-granite` conversion of hf/ (scripts/make-smollm3-fixture.py's writer with GraniteModel's keys): the
     safetensors tensors in sorted name order renamed by gguf-py's granite name map, all F32, attn_q / attn_k rows
     permuted as LlamaModel.permute does (undo_permute: llama.cpp runs NORM RoPE, on adjacent pairs, for granite),
     no output.weight (tied); then general.type, name, size_label; TextModel.set_gguf_parameters' keys
     (block_count, context_length, embedding_length, feed_forward_length, head_count, head_count_kv,
     rope.freq_base, layer_norm_rms_epsilon, general.file_type; no key_length: no head_dim), LlamaModel's
     (vocab_size, rope.dimension_count 16), GraniteModel's (attention.scale, embedding_scale, residual_scale,
     logit_scale, float32, each written only when the multiplier is truthy); quantization_version; then
     tiny-llama/f32.gguf's tokenizer.* keys copied in order (LlamaModel.set_vocab wrote them from the same files).
     The writer checks itself first: run with architecture llama on tiny-llama/hf, it must give tiny-llama/f32.gguf
     (which convert_hf_to_gguf.py wrote) byte for byte. The file is read back with GGUFReader, checked, and
     git-ignored. (Checked once by hand, not by this script: the real converter, run on hf/ with --outtype f32
     --no-lazy --model-name tiny-granite and a numpy stand-in for its few eager torch calls, writes f32.gguf byte
     for byte; see the folder's README.)
  4. `gguf-skeletons/f32.skeleton` (scripts/make-gguf-skeletons.py's `make`: identity transforms and
     llama_rope_permute for attn_q / attn_k), so scripts/rebuild-gguf-fixtures.py rebuilds f32.gguf byte for byte.
  5. compiles scripts/llama-cpp-logits.c and scripts/llama-cpp-tokenize.c against DIR. Tokenizer check: TEXT
     tokenized by the `tokenizers` library from hf/tokenizer.json, by libllama from f32.gguf and by libllama from
     tiny-llama/f32.gguf must give the same ids, with and without BOS; those ids (with BOS) are the model input.
     Harness check: tiny-llama/f32.gguf on tiny-llama's ids must reproduce its committed llama.cpp reference. Then
     f32.gguf runs twice (bit-identical outputs required; libllama must log no warning but EXPECTED_WARNINGS, and
     rope type 0, NORM), and once more with the harness's log filter widened to "scale" (qwen3's
     yarn_log_harness): its outputs must be the same and its log must show EXPECTED_SCALE_LOG (the four scales as
     libllama read them). Then key_variants: temporary GGUFs (not kept) with one of GraniteModel's keys left out
     or changed, each run by libllama and compared with the float64 pass that libllama's reading of it predicts
     (to NUMPY_TOLERANCE): what llama.cpp does without attention.scale (1/sqrt(head_dim)), without embedding_scale or
     residual_scale or with residual_scale 0 (no scaling: llama.cpp treats 0 as absent), and with
     rope.scaling.finetuned false (no RoPE in any layer: granite reads it as a RoPE switch).
  6. `ref-llama-cpp.safetensors`: `input_ids` (int64 [1, T]), `logits.f32` [1, T, 512] (after llama.cpp's division
     by logit_scale), `hidden_last.f32` [1, T, 64] (llama.cpp's `result_norm`: the final norm's output, before the
     LM head and the division), float32.
  7. an independent float64 numpy forward pass with transformers' GraniteForCausalLM math (rope.numpy_llama with
     the config's four multipliers). It must match libllama to NUMPY_TOLERANCE. Every Granite feature left out or
     changed must move the logits by more than MIN_FEATURE_EFFECT: no embedding multiplier, the default attention
     scale 1/sqrt(16), no residual multiplier, no logits scaling, all four ignored (plain Llama), and the GGUF's
     permuted Q/K rows read as HF's (rotate-half RoPE on them). Its outputs, rounded to float32, are
     `ref.safetensors` (`input_ids`, `logits`, `hidden_last`: the final norm's output, before lm_head).
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
from safetensors.numpy import load_file, save

HERE = os.path.dirname(os.path.abspath(__file__))


# The SmolLM3 fixture script: LlamaModel's GGUF writer (Q/K rows permuted, vocab_size, rope.dimension_count; a
# subclass's keys after them), its self-check, the GGUF check and Llama's HF shapes without q/k norms; through it the
# Phi-3, Gemma 3, Qwen3 and RoPE-scaling fixture scripts' helpers (tokenizer check, libllama runs, measures, weights,
# config writer, the float64 Llama pass, harness, skeletons, files map, JSON writers).
_spec = importlib.util.spec_from_file_location("make_smollm3_fixture", os.path.join(HERE, "make-smollm3-fixture.py"))
smollm3 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(smollm3)
phi3, gemma3, qwen3, rope = smollm3.phi3, smollm3.gemma3, smollm3.qwen3, smollm3.rope
rebuild, skeletons = smollm3.rebuild, smollm3.skeletons
write_json, file_entry, max_abs = rope.write_json, rope.file_entry, rope.max_abs
effect, agreement, top2_margins = gemma3.effect, gemma3.agreement, gemma3.top2_margins

REPO, MODELS = rope.REPO, rope.MODELS
NAME = "tiny-granite"
OUT = os.path.join(MODELS, NAME)
TOKENIZER_BASE = "tiny-llama"
TOKENIZER_FROM = phi3.TOKENIZER_FROM    # tiny-llama
TOKENIZER_FILES = phi3.TOKENIZER_FILES  # generation_config.json, special_tokens_map.json, tokenizer.json, ...
PROG = "granite-fixture"

SEED = qwen3.SEED                       # 0
MATRIX_SCALE = 4 * qwen3.MATRIX_SCALE   # 0.25: every matrix (the float32 0.0625 draw x 4, exact); see the header
NORM_SCALE = qwen3.NORM_SCALE           # 0.2: norm weights 1 + 0.2 N(0, 1)
# A colon, digits, a comma, a slash, a newline, a double space and non-ASCII letters (byte fallback); its ids (with
# BOS) are the model input: 30 of them.
TEXT = "Granite 3: x12, /8.\nCafé  naïve"
NUMPY_TOLERANCE = qwen3.NUMPY_TOLERANCE        # 1e-4: max |difference| float64 pass vs libllama (float32 model)
MIN_FEATURE_EFFECT = gemma3.MIN_FEATURE_EFFECT  # 0.05: max |Δlogit| each left-out or changed feature must cause
# libllama's one warning on every run of the harness: the pooling type the harness asks for (as for every model).
EXPECTED_WARNINGS = smollm3.EXPECTED_WARNINGS
WARNINGS_NOTE = smollm3.WARNINGS_NOTE
TOKENIZER_NOTE = ("tiny-llama's tokenizer files, unchanged: Llama-style SentencePiece with a dummy prefix ('▁' before "
                  "the first word) and BOS; the GGUF's tokenizer.* keys are tiny-llama/f32.gguf's "
                  "(LlamaModel.set_vocab, which GraniteModel inherits, wrote them from the same files), "
                  "add_space_prefix true included")
# libllama's print_info lines about the four scales (whitespace collapsed) that the widened-log run must show.
EXPECTED_SCALE_LOG = ["f_logit_scale = 8.0e+00", "f_attn_scale = 1.2e-01", "f_embedding_scale = 12.000000",
                      "f_residual_scale = 0.220000", "f_attention_scale = 0.125000", "rope_finetuned = yes"]

# As transformers 4.57.6 writes GraniteConfig(vocab_size=512, hidden_size=64, intermediate_size=128,
# num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, rope_theta=10000.0,
# rms_norm_eps=1e-5, hidden_act="silu", tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
# initializer_range=0.0625, embedding_multiplier=12.0, attention_multiplier=0.125, residual_multiplier=0.22,
# logits_scaling=8.0) with architectures ["GraniteForCausalLM"] and dtype float32 (save_pretrained: sorted keys,
# indent 2; checked once with transformers 4.57.6, see the README). GraniteConfig has no head_dim; it writes
# rope_scaling null, attention_bias and mlp_bias false; tie_word_embeddings true differs from GraniteConfig's default
# (false), so it is written; pad_token_id (None) is not.
CONFIG = {
    "architectures": ["GraniteForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "attention_multiplier": 0.125,
    "bos_token_id": 1,
    "dtype": "float32",
    "embedding_multiplier": 12.0,
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 64,
    "initializer_range": qwen3.MATRIX_SCALE,
    "intermediate_size": 128,
    "logits_scaling": 8.0,
    "max_position_embeddings": 256,
    "mlp_bias": False,
    "model_type": "granite",
    "num_attention_heads": 4,
    "num_hidden_layers": 4,
    "num_key_value_heads": 2,
    "residual_multiplier": 0.22,
    "rms_norm_eps": 1e-05,
    "rope_scaling": None,
    "rope_theta": 10000.0,
    "tie_word_embeddings": True,
    "transformers_version": "4.57.6",
    "use_cache": True,
    "vocab_size": 512,
}
# GraniteConfig's multiplier keys, GraniteModel.set_gguf_parameters' GGUF keys (after "granite.") and the GGUFWriter
# methods it writes them with, in the converter's order.
MULTIPLIERS = [("attention_multiplier", "attention.scale", "add_attention_scale"),
               ("embedding_multiplier", "embedding_scale", "add_embedding_scale"),
               ("residual_multiplier", "residual_scale", "add_residual_scale"),
               ("logits_scaling", "logit_scale", "add_logit_scale")]

# The converter's GGUF tensor names of a Granite block: Llama's (and SmolLM3's), in the HF names' sorted order.
LAYER_TENSORS = smollm3.LAYER_TENSORS


def say(text):
    print(f"{PROG}: {text}", flush=True)


def rel(path):
    return os.path.relpath(path, REPO)


# --- the model ------------------------------------------------------------------------------------------------

def head_dim(c):
    return c["hidden_size"] // c["num_attention_heads"]


def random_weights(c):
    """qwen3.random_weights of smollm3.hf_shapes(c) (Llama's tensors with tied embeddings, no q/k norms): one
    standard_normal draw per tensor in sorted name order from default_rng(SEED); every matrix MATRIX_SCALE x that,
    norms 1 + NORM_SCALE x that."""
    return qwen3.random_weights(c, SEED, MATRIX_SCALE, NORM_SCALE, shapes=smollm3.hf_shapes(c))


def numpy_granite(w, c, ids, **kw):
    """(logits [T, vocab], hidden_last [T, hidden]) of GraniteForCausalLM in float64, transformers' math:
    rope.numpy_llama with the config's four multipliers: h = embed_tokens[ids] x embedding_multiplier; per layer
    h += residual_multiplier x o_proj(attn(input_layernorm(h))), h += residual_multiplier x
    down_proj(silu(gate_proj(x)) * up_proj(x)) of x = post_attention_layernorm(h); RMSNorm(x) * w, eps 1e-5;
    rotate-half RoPE (inv_freq = theta^(-arange(0, d, 2) / d)); scores x attention_multiplier, causal, GQA; final
    norm (hidden_last); logits = hidden_last @ embed_tokens.T / logits_scaling (tied). `kw`: numpy_llama's RoPE
    options (inv_freq_divisors inf: no RoPE)."""
    return rope.numpy_llama(w, c, ids, **kw)


def plain_llama(c):
    """`c` with Granite's four multipliers at the values a Llama reader implies (1, 1/sqrt(head_dim), 1, 1)."""
    return dict(c, embedding_multiplier=1.0, attention_multiplier=head_dim(c) ** -0.5, residual_multiplier=1.0,
                logits_scaling=1.0)


# --- GGUF -----------------------------------------------------------------------------------------------------

def granite_keys(c, changes=None):
    """smollm3.write_gguf's `extra_keys` for GraniteModel.set_gguf_parameters (after LlamaModel's keys): for each of
    attention_multiplier, embedding_multiplier, residual_multiplier and logits_scaling, in that order, the float32
    key granite.attention.scale / embedding_scale / residual_scale / logit_scale when the config's value is truthy
    (the converter's `if x := hparams.get(...)`: a missing or 0 multiplier writes no key). `changes` ({GGUF key
    suffix: value or None}, for key_variants) writes another value or (None) leaves the key out; a key that is not
    a scale (rope.scaling.finetuned) is added after them."""
    changes = changes or {}

    def add(writer):
        for hf_key, suffix, method in MULTIPLIERS:
            value = changes[suffix] if suffix in changes else (c.get(hf_key) or None)
            if value is not None:
                getattr(writer, method)(value)
        for suffix, value in changes.items():
            if suffix not in [m[1] for m in MULTIPLIERS]:
                assert suffix == "rope.scaling.finetuned", suffix
                writer.add_rope_scaling_finetuned(value)

    return add


def expected_metadata(c):
    """{key: value} of the GGUF's non-tokenizer keys in the converter's order (as GGUFReader reads them); None:
    checked separately."""
    f32 = lambda x: float(np.float32(x))  # noqa: E731
    a = "granite."
    return {
        "general.architecture": "granite", "general.type": "model", "general.name": NAME, "general.size_label": None,
        a + "block_count": c["num_hidden_layers"], a + "context_length": c["max_position_embeddings"],
        a + "embedding_length": c["hidden_size"], a + "feed_forward_length": c["intermediate_size"],
        a + "attention.head_count": c["num_attention_heads"],
        a + "attention.head_count_kv": c["num_key_value_heads"],
        a + "rope.freq_base": f32(c["rope_theta"]),
        a + "attention.layer_norm_rms_epsilon": f32(c["rms_norm_eps"]),
        "general.file_type": 0, a + "vocab_size": c["vocab_size"], a + "rope.dimension_count": head_dim(c),
        a + "attention.scale": f32(c["attention_multiplier"]), a + "embedding_scale": f32(c["embedding_multiplier"]),
        a + "residual_scale": f32(c["residual_multiplier"]), a + "logit_scale": f32(c["logits_scaling"]),
        "general.quantization_version": 2,
    }


# Temporary GGUFs with GraniteModel's keys changed (not kept): {stem: (note, {GGUF key suffix: value, None: left
# out}, the config whose float64 pass libllama's reading of that GGUF should give, numpy_granite keywords)}.
def key_variants(c):
    no_rope = dict(inv_freq_divisors=np.full(head_dim(c) // 2, np.inf))
    return {
        "no_attention_scale": ("granite.attention.scale left out: llama.cpp's kq_scale falls back to "
                               "1/sqrt(head_dim) (f_attention_scale 0)", {"attention.scale": None},
                               dict(c, attention_multiplier=head_dim(c) ** -0.5), {}),
        "no_embedding_scale": ("granite.embedding_scale left out: build_inp_embd scales only when f_embedding_scale "
                               "!= 0", {"embedding_scale": None}, dict(c, embedding_multiplier=1.0), {}),
        "no_residual_scale": ("granite.residual_scale left out: build_layer_ffn scales only when f_residual_scale "
                              "!= 0", {"residual_scale": None}, dict(c, residual_multiplier=1.0), {}),
        "residual_scale_0": ("granite.residual_scale 0.0 written: llama.cpp treats 0 as absent (no scaling), where "
                             "transformers' residual_multiplier 0 would drop every block's output (and the "
                             "converter would write no key)", {"residual_scale": 0.0},
                             dict(c, residual_multiplier=1.0), {}),
        "rope_finetuned_false": ("granite.rope.scaling.finetuned false added: granite's loader reads it as a RoPE "
                                 "switch (default true) and fills rope_pattern with it, so no layer rotates",
                                 {"rope.scaling.finetuned": False}, c, no_rope),
    }


# --- driver ---------------------------------------------------------------------------------------------------

def main():
    args, llama_cpp, commit = rope.parse_arguments(NAME, PROG, say)

    say(rebuild.rebuild(MODELS, TOKENIZER_BASE, "f32", False, False, {}))
    base_ref = json.load(open(os.path.join(TOKENIZER_FROM, "ref.json"), encoding="utf-8"))
    base_config = json.load(open(os.path.join(TOKENIZER_FROM, "hf", "config.json"), encoding="utf-8"))
    generation_config = json.load(open(os.path.join(TOKENIZER_FROM, "hf", "generation_config.json"),
                                       encoding="utf-8"))
    tok_gguf = os.path.join(TOKENIZER_FROM, "f32.gguf")
    hf_dir = os.path.join(OUT, "hf")
    os.makedirs(hf_dir, exist_ok=True)
    os.makedirs(os.path.join(OUT, "gguf-skeletons"), exist_ok=True)

    # 1. config and tokenizer.
    config = dict(CONFIG)
    for key in ("bos_token_id", "eos_token_id", "vocab_size"):
        assert config[key] == base_config[key], key
    for key in ("bos_token_id", "eos_token_id"):
        assert config[key] == generation_config[key], key
    assert config["attention_multiplier"] != head_dim(config) ** -0.5
    qwen3.write_config(NAME, config)
    for name in TOKENIZER_FILES:
        qwen3.copy_file(os.path.join(TOKENIZER_FROM, "hf", name), os.path.join(hf_dir, name))
        assert rebuild.sha256_file(os.path.join(hf_dir, name)) == base_ref["files"][f"hf/{name}"]["sha256"], name

    # 2. weights.
    weights = random_weights(config)
    n_params = qwen3.save_weights(os.path.join(hf_dir, "model.safetensors"), weights, say)

    # 3. GGUF. First the writer's own check: with architecture llama on tiny-llama/hf it must give the converter's
    # tiny-llama/f32.gguf (LlamaModel: GraniteModel's code path without its four keys).
    permute = smollm3.gguf_tensor(config)
    with tempfile.TemporaryDirectory(prefix=f"{PROG}-") as work:
        llama_path = os.path.join(work, "llama.gguf")
        smollm3.write_gguf(llama_path, gguf.MODEL_ARCH.LLAMA, TOKENIZER_BASE, base_config,
                           load_file(os.path.join(TOKENIZER_FROM, "hf", "model.safetensors")), tok_gguf)
        writer_check = {
            "method": "this script's GGUF writer (scripts/make-smollm3-fixture.py's write_gguf) run with "
                      "architecture llama on tiny-llama/hf (config, weights, tokenizer keys) gives a file "
                      "byte-identical to tiny-llama/f32.gguf, which convert_hf_to_gguf.py (LlamaModel, Q/K rows "
                      "permuted) wrote",
            "sha256": rebuild.sha256_file(llama_path),
            "equal": rebuild.sha256_file(llama_path) == rebuild.sha256_file(tok_gguf),
        }
    say(f"writer check on tiny-llama: {writer_check}")
    if not writer_check["equal"]:
        sys.exit(f"{PROG}: the GGUF writer does not reproduce tiny-llama/f32.gguf (convert_hf_to_gguf.py's)")
    gguf_path = os.path.join(OUT, "f32.gguf")
    names, total = smollm3.write_gguf(gguf_path, gguf.MODEL_ARCH.GRANITE, NAME, config, weights, tok_gguf,
                                      extra_keys=granite_keys(config))
    assert total == n_params, (total, n_params)
    kv, tensors = smollm3.check_gguf(gguf_path, config, weights, names, tok_gguf, want=expected_metadata(config))
    assert [kv[f"granite.{suffix}"][0] for _, suffix, _ in MULTIPLIERS] == [["FLOAT32"]] * 4
    say(f"{rel(gguf_path)}: {os.path.getsize(gguf_path):,} bytes, {len(tensors)} tensors, size label "
        f"{kv['general.size_label'][1]}, checked with GGUFReader (tokenizer keys = tiny-llama/f32.gguf's)")

    # 4. skeleton: ref.json must record the GGUF's and the source's sha256 first (make() checks them).
    gguf_info = {
        "made_by": "scripts/make-granite-fixture.py: gguf-py 0.19.0 GGUFWriter, as convert_hf_to_gguf.py "
                   "--outtype f32 --model-name tiny-granite (llama.cpp 0c1e57098, GraniteModel = LlamaModel with "
                   "architecture granite and four scale keys) writes hf/: tensors in sorted HF name order, all F32, "
                   "attn_q / attn_k rows permuted (LlamaModel.permute), no output.weight (tied); TextModel's, "
                   "LlamaModel's and GraniteModel's keys; tokenizer.* keys copied from tiny-llama/f32.gguf",
    }
    gguf_info.update(file_entry(gguf_path))
    write_json(os.path.join(OUT, "ref.json"), {
        "gguf": {"f32.gguf": gguf_info},
        "files": {n: file_entry(os.path.join(OUT, n)) for n in ("f32.gguf", "hf/model.safetensors")}}, 1)
    out, header_bytes = skeletons.make(MODELS, NAME, "f32")
    say(f"{rel(out)}: {os.path.getsize(out):,} bytes (header {header_bytes:,}), round trip verified")

    # 5. llama.cpp: the tokenizer check, the harness check, the runs, the widened log and the key variants.
    w64 = {k: v.astype(np.float64) for k, v in weights.items()}
    variants = key_variants(config)
    variant_runs = {}
    with tempfile.TemporaryDirectory(prefix=f"{PROG}-") as work:
        tok_exe = rope.build_harness(llama_cpp, args.cc, work, gemma3.TOKENIZE_HARNESS)
        tokenizer_check, ids = phi3.check_tokenizer(tok_exe, llama_cpp, gguf_path, hf_dir, work, text=TEXT,
                                                    prog=PROG, say=say, expected_warnings=EXPECTED_WARNINGS,
                                                    note=TOKENIZER_NOTE, base=TOKENIZER_BASE)
        exe = rope.build_harness(llama_cpp, args.cc, work)
        harness_check, _, _ = rope.check_harness(exe, llama_cpp, TOKENIZER_BASE, base_ref["input_ids"], work, PROG,
                                                 say)
        output = phi3.llama_cpp_run(exe, llama_cpp, gguf_path, ids, work, "f32", prog=PROG, say=say,
                                    expected_warnings=EXPECTED_WARNINGS)
        log_exe = qwen3.yarn_log_harness(llama_cpp, args.cc, work, words=("scale",), tag="scale")
        log_logits, log_hidden, _, wide_log = rope.harness_outputs(log_exe, llama_cpp, gguf_path, ids, work,
                                                                   "scale-log")
        for stem, (note, changes, _, _) in variants.items():
            path = os.path.join(work, f"{stem}.gguf")
            smollm3.write_gguf(path, gguf.MODEL_ARCH.GRANITE, NAME, config, weights, tok_gguf,
                               extra_keys=granite_keys(config, changes))
            variant_runs[stem] = phi3.llama_cpp_run(exe, llama_cpp, path, ids, work, stem, prog=PROG, say=say,
                                                    expected_warnings=EXPECTED_WARNINGS)
    if not any("rope type" in line and "= 0" in line for line in output["rope_log"]):
        sys.exit(f"{PROG}: libllama does not report rope type 0 (NORM) for granite: {output['rope_log']}")
    if ids[0] != config["bos_token_id"] or ids[1:] != tokenizer_check["hf_tokenizers"]["ids_without_special"]:
        sys.exit(f"{PROG}: the tokenizer's special tokens are not BOS alone")
    scale_log = [" ".join(line.split("print_info:", 1)[1].split()) for line in wide_log
                 if line.startswith("print_info:") and ("scale" in line or "rope_finetuned" in line)]
    scale_metadata_log = [" ".join(line.split(":", 1)[1].split()) for line in wide_log
                          if line.startswith("llama_model_loader: - kv") and "scale" in line]
    say(f"llama.cpp on f32.gguf, widened log: {scale_log}; metadata {scale_metadata_log}")
    missing = [line for line in EXPECTED_SCALE_LOG if line not in scale_log]
    if missing:
        sys.exit(f"{PROG}: libllama's log on f32.gguf lacks {missing}")
    if not (np.array_equal(log_logits, output["logits"]) and np.array_equal(log_hidden, output["hidden"])):
        sys.exit(f"{PROG}: the widened-log harness gives other outputs on f32.gguf")

    # 6. the llama.cpp reference.
    T = len(ids)
    input_ids = np.array([ids], dtype=np.int64)
    llama_tensors = {"input_ids": input_ids,
                     "logits.f32": np.ascontiguousarray(output["logits"], dtype=np.float32),
                     "hidden_last.f32": np.ascontiguousarray(output["hidden"], dtype=np.float32)}
    rope.write_llama_reference(os.path.join(OUT, "ref-llama-cpp.safetensors"), llama_tensors)

    # 7. the independent float64 pass and every feature left out or changed.
    ref = numpy_granite(w64, config, ids)
    llama = (output["logits"][0], output["hidden"][0])
    w_gguf_qk = {k: permute(k, v) for k, v in w64.items()}
    features = {
        "no_embedding_multiplier": ("the input embeddings not multiplied by embedding_multiplier (12)", w64,
                                    dict(config, embedding_multiplier=1.0)),
        "default_attention_scale": (f"the attention scores x 1/sqrt(head_dim) = {head_dim(config) ** -0.5} "
                                    f"(Llama's) instead of attention_multiplier ({config['attention_multiplier']})",
                                    w64, dict(config, attention_multiplier=head_dim(config) ** -0.5)),
        "no_residual_multiplier": ("the attention and feed-forward outputs added to the residual stream without "
                                   "the residual_multiplier (0.22)", w64, dict(config, residual_multiplier=1.0)),
        "no_logits_scaling": ("the logits not divided by logits_scaling (8): 8 x the logits (hidden_last "
                              "unchanged)", w64, dict(config, logits_scaling=1.0)),
        "plain_llama": ("all four multipliers ignored (1, 1/sqrt(head_dim), 1, 1): the model read as Llama", w64,
                        plain_llama(config)),
        "qk_rows_not_unpermuted": ("the GGUF's attn_q / attn_k rows (LlamaModel.permute's interleaved order) "
                                   "taken for HF's, with rotate-half RoPE: a reader that does not undo the "
                                   "permutation (or a writer that does not apply it)", w_gguf_qk, config),
    }
    left_out = {}
    for key, (note, w, c) in features.items():
        left_out[key] = dict(note=note, **effect(numpy_granite(w, c, ids), ref))
    scaling = left_out["no_logits_scaling"]
    scaling["relative_max_abs_logit_diff"] = scaling["max_abs_logit_diff"] / float(np.max(np.abs(ref[0])))
    scaling["relative_note"] = ("max |Δlogit| / max |logit| of the full pass: logits_scaling - 1 = 7 up to "
                                "rounding, as the unscaled logits are 8 x the scaled ones")
    key_checks = {}
    for stem, (note, changes, c, kw) in variants.items():
        run = variant_runs[stem]
        predicted = numpy_granite(w64, c, ids, **kw)
        key_checks[stem] = {
            "note": note,
            "gguf_changes": {f"granite.{k}": v for k, v in changes.items()},
            "predicted_by": ("the float64 pass with " + ", ".join(f"{k} {c[k]}" for k, _, _ in MULTIPLIERS
                                                                  if c[k] != config[k])
                             if c is not config else "the float64 pass without RoPE (inv_freq 0)"),
            "vs_llama_cpp": agreement(predicted, run["logits"][0], run["hidden"][0]),
            "llama_cpp_vs_f32_gguf": {"max_abs_logit_diff": max_abs(run["logits"], output["logits"]),
                                      "max_abs_hidden_last_diff": max_abs(run["hidden"], output["hidden"])},
            "rope_log": run["rope_log"],
            "warnings": run["warnings"],
        }
    no_rope = effect(numpy_granite(w64, config, ids, **variants["rope_finetuned_false"][3]), ref)
    numpy_check = {
        "method": "float64 numpy forward pass of hf/model.safetensors with transformers' GraniteForCausalLM math "
                  "(numpy_granite: rope.numpy_llama with the config's four multipliers): h = embed_tokens[ids] x "
                  "12; per layer h += 0.22 x o_proj(attn(input_layernorm(h))), h += 0.22 x "
                  "down_proj(silu(gate_proj(x)) * up_proj(x)) with x = post_attention_layernorm(h); RMSNorm(x) * w, "
                  "eps 1e-5; rotate-half RoPE (inv_freq = 1e4^(-arange(0, 16, 2) / 16)); scores x 0.125 "
                  "(attention_multiplier), causal, GQA 4/2; final norm (hidden_last); logits = hidden_last @ "
                  "embed_tokens.T / 8 (tied)",
        "tolerance": NUMPY_TOLERANCE,
        "vs_llama_cpp": agreement(ref, *llama),
        "min_top2_logit_margin": min(top2_margins(ref[0])),
        "top2_logit_margins": top2_margins(ref[0]),
        "top2_note": "argmax checks against libllama are only safe where the margin exceeds the tolerance",
        "logit_scale_rms": float(np.sqrt(np.mean(ref[0] ** 2))),
        "logit_max_abs": float(np.max(np.abs(ref[0]))),
        "hidden_last_scale_rms": float(np.sqrt(np.mean(ref[1] ** 2))),
        "float32_rounding": {
            "max_abs_logit_diff_ref_vs_llama_cpp": max_abs(ref[0].astype(np.float32), llama[0]),
            "max_abs_hidden_last_diff_ref_vs_llama_cpp": max_abs(ref[1].astype(np.float32), llama[1]),
        },
        "min_feature_effect": MIN_FEATURE_EFFECT,
        "left_out_features": left_out,
        "no_rope": dict(no_rope, note="informational: no RoPE in any layer (what libllama computes with "
                                      "rope.scaling.finetuned false, see llama_cpp.key_variants)"),
        "note": "each feature's effect is measured against the pass above; libllama's f32.gguf run agrees with it "
                "far closer than any effect",
    }
    say(f"numpy float64 vs libllama: {numpy_check['vs_llama_cpp']}")
    for key, e in left_out.items():
        say(f"{key}: max |Δlogit| {e['max_abs_logit_diff']:.4g}, rms {e['rms_logit_diff']:.3g}, "
            f"argmax {e['argmax_agree_positions']}/{T}, max |Δhidden| {e['max_abs_hidden_last_diff']:.4g}")
    for stem, e in key_checks.items():
        say(f"key variant {stem}: libllama vs {e['predicted_by']}: {e['vs_llama_cpp']}; vs f32.gguf's run: "
            f"{e['llama_cpp_vs_f32_gguf']}")
    worst = max(numpy_check["vs_llama_cpp"][m] for m in ("max_abs_logit_diff", "max_abs_hidden_last_diff"))
    if worst > NUMPY_TOLERANCE:
        sys.exit(f"{PROG}: the numpy forward pass disagrees with libllama by {worst} > {NUMPY_TOLERANCE}")
    weak = [k for k, e in left_out.items() if e["max_abs_logit_diff"] <= MIN_FEATURE_EFFECT]
    if weak:
        sys.exit(f"{PROG}: leaving out {weak} changes the logits too little")
    off = [k for k, e in key_checks.items()
           if max(e["vs_llama_cpp"]["max_abs_logit_diff"], e["vs_llama_cpp"]["max_abs_hidden_last_diff"])
           > NUMPY_TOLERANCE or e["llama_cpp_vs_f32_gguf"]["max_abs_logit_diff"] <= MIN_FEATURE_EFFECT]
    if off:
        sys.exit(f"{PROG}: libllama does not read {off} as expected")
    ref_tensors = {"input_ids": input_ids, "logits": ref[0][None].astype(np.float32),
                   "hidden_last": ref[1][None].astype(np.float32)}
    rebuild.write_atomically(os.path.join(OUT, "ref.safetensors"),
                             save(ref_tensors, metadata={"generator": "scripts/make-granite-fixture.py: float64 "
                                                                      "numpy forward pass, rounded to float32"}))

    # 8. ref.json.
    files = {}
    for name in (["f32.gguf", "gguf-skeletons/f32.skeleton"]
                 + [f"hf/{n}" for n in sorted(TOKENIZER_FILES + ["config.json", "model.safetensors"])]
                 + ["ref-llama-cpp.safetensors", "ref.safetensors"]):
        files[name] = file_entry(os.path.join(OUT, name))
    tokenizer_arrays = ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type")
    gguf_info.update({
        "writer_check": writer_check,
        "metadata": {k: v[1] for k, v in kv.items() if k not in tokenizer_arrays},
        "metadata_types": {k: "/".join(v[0]) for k, v in kv.items()},
        "tokenizer_arrays": f"{', '.join(k for k in tokenizer_arrays if k in kv)}: tiny-llama/f32.gguf's "
                            f"(convert_hf_to_gguf.py wrote them from the same files); all tokenizer.* keys are "
                            f"copied from there in order",
        "scale_keys": "GraniteModel.set_gguf_parameters, after LlamaModel's keys: attention.scale = "
                      "attention_multiplier, embedding_scale = embedding_multiplier, residual_scale = "
                      "residual_multiplier, logit_scale = logits_scaling (float32), each only when the value is "
                      "truthy (a missing or 0 multiplier writes no key); head_dim would be popped with a warning",
        "no_keys": "no rope.scaling.finetuned (llama.cpp's granite loader defaults it to true: RoPE on), no "
                   "key_length / value_length (no head_dim)",
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
                                      f"1 + {NORM_SCALE} * N(0,1)")
    weights_info["init"]["weights"] = (f"every matrix (embed_tokens, q/k/v/o_proj, gate/up/down_proj) "
                                       f"{MATRIX_SCALE} * N(0,1) (the float32 {qwen3.MATRIX_SCALE} draw x 4, exact)")
    weights_info["init"]["matrix_scale_why"] = (
        f"the embeddings x 12 dominate the residual stream and the blocks' outputs enter it x 0.22: with "
        f"{qwen3.MATRIX_SCALE} (the other fixtures' scale, and config.json's initializer_range) the attention hardly "
        f"reaches the logits (the default attention scale moves them by 0.002, the permuted Q/K rows read as HF's by "
        f"0.0016, below min_feature_effect); with {MATRIX_SCALE} see numpy_check.left_out_features")
    ref_json = {
        "model": NAME,
        "description": "tiny random-weight GraniteForCausalLM (Granite 3.x dense): Llama's graph (GQA 4/2, head_dim "
                       "16, rotate-half RoPE, SwiGLU, RMSNorm x w, no biases, tied embeddings) with "
                       "embedding_multiplier 12, attention_multiplier 0.125, residual_multiplier 0.22 and "
                       "logits_scaling 8; tiny-llama's SentencePiece tokenizer files",
        "text": TEXT,
        "input_ids": ids,
        "T": T,
        "tokenizer": {
            "type": "SentencePiece BPE (byte fallback, dummy prefix)",
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
             "rope_scaling", "rms_norm_eps", "hidden_act", "attention_bias", "mlp_bias", "tie_word_embeddings",
             "bos_token_id", "eos_token_id", "embedding_multiplier", "attention_multiplier", "residual_multiplier",
             "logits_scaling"), n_params,
            head_dim_note="not in config.json (GraniteConfig has none): hidden / heads",
            rope_theta_note="GraniteConfig's default (Granite 3.3 uses 1e7); the multipliers do not depend on it",
            multipliers_note="Granite 3 2B's embedding_multiplier, residual_multiplier and logits_scaling; "
                             "attention_multiplier 0.125 is not 1/sqrt(head_dim) = 0.25, so that a reader using "
                             "the default scale shows",
            tie_word_embeddings_note="written (GraniteConfig's default is false); no lm_head.weight",
            default_attention_scale=head_dim(config) ** -0.5),
        **weights_info,
        "ref_safetensors_keys": {"ref.safetensors": rope.tensor_keys(ref_tensors),
                                 "ref-llama-cpp.safetensors": rope.tensor_keys(llama_tensors)},
        "hidden_last": "both references: the final norm's output (model.norm / output_norm), before the LM head and "
                       "the division by logits_scaling; llama.cpp's result_norm is taken there too (granite.cpp "
                       "divides the logits after the LM head)",
        "llama_cpp": rope.llama_cpp_info(
            T, "run twice with bit-identical outputs", harness_check,
            freq_scale_train=output["freq_scale_train"], rope_log=output["rope_log"],
            rope_metadata_log=output["rope_metadata_log"], warnings=output["warnings"],
            warnings_note=WARNINGS_NOTE,
            scale_log=scale_log, scale_metadata_log=scale_metadata_log,
            scale_log_method="one more run with the harness's log filter widened to lines mentioning scale "
                             "(qwen3.yarn_log_harness with words ['scale']): libllama's print_info lines about the "
                             "scales and rope_finetuned, and the loader's metadata dump of the scale keys, whitespace "
                             "collapsed; its outputs equal the runs' bit for bit",
            expected_in_scale_log=EXPECTED_SCALE_LOG,
            key_variants=dict(key_checks, method="temporary GGUFs (not kept): f32.gguf's writer with one of "
                                                 "GraniteModel's keys left out or changed (the converter never "
                                                 "writes these), each run by libllama and compared with the float64 "
                                                 "pass its reading predicts, and with f32.gguf's run"),
            runtime_notes="granite in llama.cpp (src/models/granite.cpp): load_arch_hparams reads "
                          "attention.layer_norm_rms_epsilon, logit_scale (required), residual_scale, embedding_scale "
                          "and attention.scale (optional, default 0), and rope.scaling.finetuned (optional, default "
                          "true) as a RoPE switch for every layer (rope_pattern); build_inp_embd multiplies the "
                          "token embeddings by f_embedding_scale when it is non-zero; per layer build_qkv, NORM RoPE "
                          "(adjacent pairs, hence the converter's Q/K row permutation), kq_scale = f_attention_scale "
                          "or 1/sqrt(head_dim) when it is 0, the attention output x f_residual_scale (when non-zero) "
                          "+ residual, RMSNorm, SwiGLU, x f_residual_scale + residual; output_norm (result_norm), LM "
                          "head (output.weight missing -> token_embd duplicated: tied), x 1/f_logit_scale "
                          "(result_output)"),
        "numpy_check": numpy_check,
        "gguf": {"f32.gguf": gguf_info},
        "made_by": "scripts/make-granite-fixture.py (config, tokenizer copies, weights, GGUF, skeleton via "
                   "scripts/make-gguf-skeletons.py's make, ref.safetensors), scripts/llama-cpp-logits.c "
                   "(ref-llama-cpp.safetensors), scripts/llama-cpp-tokenize.c (the tokenizer check)",
        "files": files,
        "tools": dict(rope.tool_versions(args.cc, commit), tokenizers=metadata.version("tokenizers")),
    }
    rope.write_ref(OUT, NAME, ref_json, say)


if __name__ == "__main__":
    main()
