#!/usr/bin/env python3
"""Make Tests/Fixtures/models/tiny-gemma2/: a tiny random-weight Gemma 2, its GGUF, and reference outputs.

Run by the fixtures' maintainer:

    scripts/make-gemma2-fixture.py --llama-cpp DIR      (or LLAMA_CPP_DIR=DIR scripts/make-gemma2-fixture.py)

It needs what scripts/make-gemma3-fixture.py needs (Python 3 with numpy, gguf 0.19.0, safetensors and tokenizers,
no torch or transformers; a C compiler; a built llama.cpp at commit 0c1e57098; tiny-llama's committed files and
its f32.gguf, rebuilt first if missing), and tiny-gemma3's committed hf/ tokenizer files and its f32.gguf (rebuilt
first if missing). It is the Gemma 3 maker with Gemma 2's differences: it imports that script and reuses its
helpers (tokenizer vocabulary and check, the SentencePiece tokenizer.* keys, GGUF check, libllama runs, the
float64 forward pass with its ggml-GELU twin, the feature-effect and agreement measures) and, through it,
scripts/make-qwen3-fixture.py's (random weights, config writer, the converter's tensors and general.* keys, the
tensor check, ref.json parts), scripts/make-rope-scaling-fixtures.py's (GGUF file writer, harness driver, JSON
and file-map writers, command line, tool versions), scripts/make-gguf-skeletons.py's `make` and
scripts/rebuild-gguf-fixtures.py's atomic writer and hashes.

What it does, in the folder Tests/Fixtures/models/tiny-gemma2/:
  1. `hf/config.json`: Gemma2ForCausalLM / gemma2 with the bytes transformers 4.57.6 writes for this
     Gemma2Config (sorted keys, indent 2): hidden 64, intermediate 128, 4 layers (layer_types "sliding_attention",
     "full_attention" alternating: transformers' default, and llama.cpp's pattern 2), 2 heads / 1 KV head,
     head_dim 48 (!= hidden / heads), query_pre_attn_scalar 48, sliding_window 8, rope_theta 1e4 (the converter
     writes no rope.freq_base for Gemma 2, so llama.cpp's default 1e4 is the only value that round-trips),
     256 positions, rms_norm_eps 1e-6, gelu_pytorch_tanh, attn_logit_softcapping ATTN_SOFTCAP,
     final_logit_softcapping FINAL_SOFTCAP, tied embeddings, vocab 512, bos 1 / eos 2 (tiny-llama's; no pad
     token). config.json also goes to Fuzz/corpus/hf-config/tiny-gemma2.json (a fuzz seed). The tokenizer files
     (tokenizer.model, tokenizer.json, tokenizer_config.json, special_tokens_map.json, generation_config.json)
     are copied unchanged from tiny-gemma3/hf (tiny-llama's vocabulary made Gemma-style: Gemma 2 uses the same
     GemmaTokenizer pipeline as Gemma 3).
  2. `hf/model.safetensors`: float32, Hugging Face names, no lm_head.weight (tied), metadata {"format": "pt"}.
     numpy.random.default_rng(SEED) draws one standard_normal(shape) per tensor, in sorted name order; matrices
     are 0.0625 x that, every norm weight (input, post-attention, pre- and post-feedforward, final; Gemma 2 has no
     q_norm / k_norm) 0.2 x that: Gemma's RMSNorm multiplies by (1 + weight), so the stored weight is the offset.
  3. `f32.gguf`: written with gguf-py's GGUFWriter the way llama.cpp's convert_hf_to_gguf.py (Gemma2Model, at
     0c1e57098) writes an `--outtype f32` conversion of hf/: tensors in the safetensors names' sorted order,
     renamed by gguf-py's gemma2 name map, all F32, every `*norm.weight` + 1 (Gemma2Model.modify_tensors), no
     output.weight (tied; Gemma2Model also drops an lm_head.weight); metadata in the order the converter's calls
     give: general.type, name, size_label; Gemma2Model.set_gguf_parameters, which does not call TextModel's
     (context_length, embedding_length, block_count, feed_forward_length, head_count, head_count_kv,
     layer_norm_rms_epsilon, key_length, value_length, file_type, attn_logit_softcapping,
     final_logit_softcapping, attention.sliding_window: no rope.* key); quantization_version; then set_vocab:
     _set_vocab_sentencepiece (tokenizer model "llama", pre "default", tokens / scores / token types, gguf-py's
     SpecialVocab) and add_space_prefix false. Its tokenizer.* keys must equal tiny-gemma3/f32.gguf's (Gemma3Model
     makes the same calls on the same files) and its token arrays tiny-llama/f32.gguf's (which the converter
     wrote). Read back with GGUFReader, checked, git-ignored.
  4. `gguf-skeletons/f32.skeleton` (scripts/make-gguf-skeletons.py's `make`: identity transforms, and `plus_one`
     for the norms), so scripts/rebuild-gguf-fixtures.py rebuilds f32.gguf byte for byte.
  5. compiles scripts/llama-cpp-logits.c and scripts/llama-cpp-tokenize.c against DIR. Tokenizer check (the Gemma 3
     maker's): its TEXT tokenized by the `tokenizers` library from hf/tokenizer.json and by libllama from
     f32.gguf must give the same ids, with and without BOS; those ids (with BOS) are the model input. Harness
     check: tiny-llama/f32.gguf on tiny-llama's ids must reproduce its committed llama.cpp reference. Then
     f32.gguf runs twice (bit-identical outputs required; libllama must log no warning but the harness's pooling
     one and the full-size SWA cache one).
  6. `ref-llama-cpp.safetensors`: `input_ids` (int64 [1, T]), `logits.f32` [1, T, 512], `hidden_last.f32`
     [1, T, 64] (llama.cpp's `result_norm`), float32.
  7. an independent float64 numpy forward pass of hf/ with transformers' Gemma2ForCausalLM math (numpy_gemma2:
     the Gemma 3 maker's pass without q/k norms, one RoPE base, with both softcaps). It must match libllama to
     the Gemma 3 maker's NUMPY_TOLERANCE; with ggml's float16 GELU table emulated to its EMULATED_TOLERANCE and
     at most half the gap. Every Gemma 2 feature left out (attention softcap, final softcap, sliding window,
     sandwich norms, embedding scale, (1 + w) norms, query_pre_attn_scalar, which layers slide) must move the
     logits by more than MIN_FEATURE_EFFECT. Its outputs, rounded to float32, are `ref.safetensors` (`input_ids`,
     `logits`, `hidden_last`).
  8. `ref.json`: text and ids, the tokenizer check, config summary, seed and scales, the checks' numbers, the
     GGUF's metadata and tensors, provenance, tool versions, and the `files` map (size and sha256 of every data
     file of the folder; the rebuild script checks the GGUF against it). README.md is written by hand and not in
     the map.

Deterministic: the same inputs give the same bytes (the llama.cpp outputs for the same build on the same CPU).
"""

import importlib.util
import json
import math
import os
import sys
import tempfile
from importlib import metadata

import numpy as np
import gguf
from safetensors.numpy import save

HERE = os.path.dirname(os.path.abspath(__file__))


# The Gemma 3 fixture script: the tokenizer, GGUF and forward-pass helpers; through it the Qwen3 and RoPE-scaling
# fixture scripts' (weights, config writer, GGUF writer, harness, skeletons, files map, JSON writers).
_spec = importlib.util.spec_from_file_location("make_gemma3_fixture", os.path.join(HERE, "make-gemma3-fixture.py"))
gemma3 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gemma3)
qwen3, rope, rebuild, skeletons = gemma3.qwen3, gemma3.rope, gemma3.rebuild, gemma3.skeletons
write_json, file_entry, max_abs = rope.write_json, rope.file_entry, rope.max_abs
effect, agreement, top2_margins = gemma3.effect, gemma3.agreement, gemma3.top2_margins

REPO, MODELS = rope.REPO, rope.MODELS
NAME = "tiny-gemma2"
OUT = os.path.join(MODELS, NAME)
TOKENIZER_FROM = os.path.join(MODELS, "tiny-gemma3")
TOKENIZER_FILES = ["generation_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer.model",
                   "tokenizer_config.json"]
PROG = "gemma2-fixture"

SEED = gemma3.SEED                  # 0
MATRIX_SCALE = gemma3.MATRIX_SCALE  # 0.0625: matrices (embeddings included)
NORM_SCALE = gemma3.NORM_SCALE      # 0.2: norm weights (the offset from 1)
# Small caps, so that each one matters with these weights: the scaled attention scores have rms 0.28 and reach
# 1.0 (a cap of 1.0 would move the logits by only 0.09), the logits rms 0.52 and reach 2.1.
ATTN_SOFTCAP = 0.5      # attn_logit_softcapping: scores -> 0.5 tanh(scores / 0.5)
FINAL_SOFTCAP = 1.5     # final_logit_softcapping: logits -> 1.5 tanh(logits / 1.5)
MIN_FEATURE_EFFECT = gemma3.MIN_FEATURE_EFFECT  # 0.05: max |Δlogit| each left-out Gemma 2 feature must cause

# As transformers 4.57.6 writes Gemma2Config(vocab_size=512, hidden_size=64, intermediate_size=128,
# num_hidden_layers=4, num_attention_heads=2, num_key_value_heads=1, head_dim=48, query_pre_attn_scalar=48,
# sliding_window=8, max_position_embeddings=256, rope_theta=10000.0, bos_token_id=1, eos_token_id=2,
# pad_token_id=None, initializer_range=0.0625, attn_logit_softcapping=0.5, final_logit_softcapping=1.5) with
# architectures ["Gemma2ForCausalLM"] and dtype float32 (save_pretrained: sorted keys, indent 2). layer_types is
# its default (the same bytes when given explicitly); tie_word_embeddings (true) is left out, being
# PretrainedConfig's default.
CONFIG = {
    "architectures": ["Gemma2ForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "attn_logit_softcapping": ATTN_SOFTCAP,
    "bos_token_id": 1,
    "dtype": "float32",
    "eos_token_id": 2,
    "final_logit_softcapping": FINAL_SOFTCAP,
    "head_dim": 48,
    "hidden_activation": "gelu_pytorch_tanh",
    "hidden_size": 64,
    "initializer_range": MATRIX_SCALE,
    "intermediate_size": 128,
    "layer_types": ["sliding_attention", "full_attention"] * 2,
    "max_position_embeddings": 256,
    "model_type": "gemma2",
    "num_attention_heads": 2,
    "num_hidden_layers": 4,
    "num_key_value_heads": 1,
    "pad_token_id": None,
    "query_pre_attn_scalar": 48,
    "rms_norm_eps": 1e-06,
    "rope_theta": 10000.0,
    "sliding_window": 8,
    "transformers_version": "4.57.6",
    "use_cache": True,
    "vocab_size": 512,
}

# The converter's GGUF tensor names of a Gemma 2 block, in the HF names' sorted order (Gemma 3's without the q/k
# norms).
LAYER_TENSORS = ["attn_norm", "ffn_down", "ffn_gate", "ffn_up", "post_attention_norm", "post_ffw_norm", "ffn_norm",
                 "attn_k", "attn_output", "attn_q", "attn_v"]


def say(text):
    print(f"{PROG}: {text}", flush=True)


def rel(path):
    return os.path.relpath(path, REPO)


# --- GGUF -----------------------------------------------------------------------------------------------------

def gguf_tensor(hf_name, w, n_vocab=None):
    """Gemma2Model.modify_tensors for --outtype f32: every `*norm.weight` + 1 (in float32, as `data_torch + 1` on a
    float32 tensor); unlike Gemma3Model it does not trim token_embd to the tokenizer (`n_vocab` unused)."""
    if hf_name.endswith("norm.weight"):
        w = w + np.float32(1.0)
    assert w.dtype == np.float32
    return w


def write_gguf(path, c, weights, hf_dir, vocab):
    """f32.gguf as convert_hf_to_gguf.py --outtype f32 writes it for a Gemma2ForCausalLM with config `c`, these
    float32 weights and the tokenizer files of `hf_dir` (see the header). Returns the GGUF tensor names in order
    and the parameter count."""

    def fill(writer):
        # ModelBase.prepare_tensors (Gemma2Model.modify_tensors), prepare_metadata's general.* keys.
        names, total = qwen3.add_tensors_and_general(writer, gguf.MODEL_ARCH.GEMMA2, NAME, c, weights, gguf_tensor)
        # Gemma2Model.set_gguf_parameters (it does not call TextModel's: no rope.freq_base, no rope scaling).
        writer.add_context_length(c["max_position_embeddings"])
        writer.add_embedding_length(c["hidden_size"])
        writer.add_block_count(c["num_hidden_layers"])
        writer.add_feed_forward_length(c["intermediate_size"])
        writer.add_head_count(c["num_attention_heads"])
        writer.add_head_count_kv(c["num_key_value_heads"])
        writer.add_layer_norm_rms_eps(c["rms_norm_eps"])
        writer.add_key_length(c["head_dim"])
        writer.add_value_length(c["head_dim"])
        writer.add_file_type(gguf.LlamaFileType.ALL_F32)
        writer.add_attn_logit_softcapping(c["attn_logit_softcapping"])
        writer.add_final_logit_softcapping(c["final_logit_softcapping"])
        writer.add_sliding_window(c["sliding_window"])
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        # Gemma2Model.set_vocab: _set_vocab_sentencepiece, then add_space_prefix false (as Gemma3Model's).
        gemma3.add_gemma_vocab(writer, hf_dir, vocab)
        return names, total

    return rope.write_gguf_file(path, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.GEMMA2], fill)


def expected_metadata(c):
    """{key: value} in the converter's order (read back as GGUFReader gives them), tokenizer arrays excepted."""
    f32 = lambda x: float(np.float32(x))  # noqa: E731
    a = "gemma2."
    return {
        "general.architecture": "gemma2", "general.type": "model", "general.name": NAME,
        "general.size_label": None,  # checked separately
        a + "context_length": c["max_position_embeddings"], a + "embedding_length": c["hidden_size"],
        a + "block_count": c["num_hidden_layers"], a + "feed_forward_length": c["intermediate_size"],
        a + "attention.head_count": c["num_attention_heads"], a + "attention.head_count_kv": c["num_key_value_heads"],
        a + "attention.layer_norm_rms_epsilon": f32(c["rms_norm_eps"]),
        a + "attention.key_length": c["head_dim"], a + "attention.value_length": c["head_dim"],
        "general.file_type": 0,
        a + "attn_logit_softcapping": f32(c["attn_logit_softcapping"]),
        a + "final_logit_softcapping": f32(c["final_logit_softcapping"]),
        a + "attention.sliding_window": c["sliding_window"], "general.quantization_version": 2,
        "tokenizer.ggml.model": "llama", "tokenizer.ggml.pre": "default",
        "tokenizer.ggml.tokens": None, "tokenizer.ggml.scores": None, "tokenizer.ggml.token_type": None,
        "tokenizer.ggml.bos_token_id": c["bos_token_id"], "tokenizer.ggml.eos_token_id": c["eos_token_id"],
        "tokenizer.ggml.unknown_token_id": 0, "tokenizer.ggml.add_bos_token": True,
        "tokenizer.ggml.add_sep_token": False, "tokenizer.ggml.add_eos_token": False,
        "tokenizer.ggml.add_space_prefix": False,
    }


# --- the independent float64 forward pass ---------------------------------------------------------------------

def numpy_gemma2(w, c, ids, attn_softcap=True, final_softcap=True, **kw):
    """(logits, hidden_last) [T, vocab], [T, hidden] of Gemma2ForCausalLM in float64, transformers' math: the Gemma 3
    maker's numpy_gemma3 with Gemma 2's differences: no q_norm / k_norm, rope_theta on every layer (no
    rope_local_base_freq, no rope_scaling), scores x query_pre_attn_scalar^-0.5 then attn_logit_softcapping
    (cap * tanh(scores / cap), before the mask), final_logit_softcapping on the logits. attn_softcap=False /
    final_softcap=False leave a cap out; the other keywords are numpy_gemma3's (sliding_window, sandwich_norms,
    embed_scale, norm_offset, gelu)."""
    assert "rope_scaling" not in c and "rope_local_base_freq" not in c
    return gemma3.numpy_gemma3(w, c, ids, qk_norm=False, local_base=False,
                               attn_softcap=c["attn_logit_softcapping"] if attn_softcap else None,
                               softcap=c["final_logit_softcapping"] if final_softcap else None, **kw)


# --- driver ---------------------------------------------------------------------------------------------------

def main():
    args, llama_cpp, commit = rope.parse_arguments(NAME, PROG, say)

    say(rebuild.rebuild(MODELS, "tiny-llama", "f32", False, False, {}))
    say(rebuild.rebuild(MODELS, "tiny-gemma3", "f32", False, False, {}))
    base_ref = json.load(open(os.path.join(gemma3.TOKENIZER_FROM, "ref.json"), encoding="utf-8"))
    gemma3_ref = json.load(open(os.path.join(TOKENIZER_FROM, "ref.json"), encoding="utf-8"))
    tok_gguf = os.path.join(gemma3.TOKENIZER_FROM, "f32.gguf")
    gemma3_gguf = os.path.join(TOKENIZER_FROM, "f32.gguf")
    hf_dir = os.path.join(OUT, "hf")
    os.makedirs(hf_dir, exist_ok=True)
    os.makedirs(os.path.join(OUT, "gguf-skeletons"), exist_ok=True)

    # 1. config and tokenizer.
    config = dict(CONFIG)
    for key in ("bos_token_id", "eos_token_id", "vocab_size"):
        assert config[key] == gemma3.CONFIG[key], key
    assert config["layer_types"] == ["sliding_attention" if i % 2 == 0 else "full_attention"
                                     for i in range(config["num_hidden_layers"])]
    qwen3.write_config(NAME, config)
    for name in TOKENIZER_FILES:
        qwen3.copy_file(os.path.join(TOKENIZER_FROM, "hf", name), os.path.join(hf_dir, name))
        assert rebuild.sha256_file(os.path.join(hf_dir, name)) == gemma3_ref["files"][f"hf/{name}"]["sha256"], name
    with open(os.path.join(hf_dir, "tokenizer.model"), "rb") as f:
        pieces = gemma3.sentencepiece_pieces(f.read())
    tok_config = json.load(open(os.path.join(hf_dir, "tokenizer_config.json"), encoding="utf-8"))
    assert len(pieces) == config["vocab_size"], len(pieces)
    vocab = gemma3.converter_vocab(pieces, tok_config, config["vocab_size"])

    # 2. weights.
    weights = qwen3.random_weights(config, SEED, MATRIX_SCALE, NORM_SCALE, norm_offset=0.0,
                                   extra_layer_norms=gemma3.EXTRA_LAYER_NORMS, qk_norm=False)
    n_params = qwen3.save_weights(os.path.join(hf_dir, "model.safetensors"), weights, say)

    # 3. the GGUF.
    path = os.path.join(OUT, "f32.gguf")
    names, total = write_gguf(path, config, weights, hf_dir, vocab)
    assert total == n_params, (total, n_params)
    kv, tensors = gemma3.check_gguf(path, config, weights, names, tok_gguf, expected=expected_metadata,
                                    layer_tensors=LAYER_TENSORS, tensor=gguf_tensor)
    g3_kv, _ = rope.gguf_summary(gemma3_gguf)
    tok_keys = [k for k in kv if k.startswith("tokenizer.")]
    assert tok_keys == [k for k in g3_kv if k.startswith("tokenizer.")], tok_keys
    assert all(kv[k] == g3_kv[k] for k in tok_keys), "tokenizer.* keys differ from tiny-gemma3/f32.gguf's"
    say(f"{rel(path)}: {os.path.getsize(path):,} bytes, {len(tensors)} tensors, size label "
        f"{kv['general.size_label'][1]}, checked with GGUFReader (tokenizer arrays = tiny-llama/f32.gguf's, "
        f"tokenizer.* keys = tiny-gemma3/f32.gguf's)")

    # 4. the skeleton: ref.json must record the GGUF's and the source's sha256 first (make() checks them).
    gguf_info = {"f32.gguf": {
        "made_by": "scripts/make-gemma2-fixture.py: gguf-py 0.19.0 GGUFWriter, as convert_hf_to_gguf.py --outtype "
                   "f32 (llama.cpp 0c1e57098, Gemma2Model) writes hf/: tensors in sorted HF name order, all F32, not "
                   "permuted, every *norm.weight + 1, no output.weight (tied); Gemma2Model.set_gguf_parameters' keys "
                   "(no rope.*); tokenizer.* keys from _set_vocab_sentencepiece + SpecialVocab + add_space_prefix "
                   "false",
        **file_entry(path)}}
    write_json(os.path.join(OUT, "ref.json"), {
        "gguf": gguf_info,
        "files": {n: file_entry(os.path.join(OUT, n)) for n in ("f32.gguf", "hf/model.safetensors")}}, 1)
    out, header_bytes = skeletons.make(MODELS, NAME, "f32")
    say(f"{rel(out)}: {os.path.getsize(out):,} bytes (header {header_bytes:,}), round trip verified")

    # 5. llama.cpp: the tokenizer check, the harness check, then the GGUF.
    with tempfile.TemporaryDirectory(prefix=f"{PROG}-") as work:
        tok_exe = rope.build_harness(llama_cpp, args.cc, work, gemma3.TOKENIZE_HARNESS)
        tokenizer_check, ids = gemma3.check_tokenizer(tok_exe, llama_cpp, path, hf_dir, work, PROG, say)
        if ids != gemma3_ref["input_ids"]:
            sys.exit(f"{PROG}: the ids differ from tiny-gemma3's (same tokenizer files, same text)")
        exe = rope.build_harness(llama_cpp, args.cc, work)
        harness_check, _, _ = rope.check_harness(exe, llama_cpp, "tiny-llama", base_ref["input_ids"], work, PROG,
                                                 say)
        outputs = gemma3.llama_cpp_runs(exe, llama_cpp, {"f32": path}, ids, work, PROG, say)["f32"]

    # 6. the llama.cpp reference.
    T = len(ids)
    input_ids = np.array([ids], dtype=np.int64)
    llama_tensors = {"input_ids": input_ids,
                     "logits.f32": np.ascontiguousarray(outputs["logits"], dtype=np.float32),
                     "hidden_last.f32": np.ascontiguousarray(outputs["hidden"], dtype=np.float32)}
    rope.write_llama_reference(os.path.join(OUT, "ref-llama-cpp.safetensors"), llama_tensors)

    # 7. the independent float64 pass, its ggml-GELU twin, and every feature left out.
    w64 = {k: v.astype(np.float64) for k, v in weights.items()}
    ref = numpy_gemma2(w64, config, ids)
    table, table_source, table_diffs = gemma3.ggml_gelu_table(llama_cpp)
    ggml = numpy_gemma2(w64, config, ids, gelu=gemma3.ggml_gelu(table))
    table_jitter, smooth_jitter = gemma3.gelu_jitter(lambda gelu: numpy_gemma2(w64, config, ids, gelu=gelu), table,
                                                     ref, ggml)
    llama = (outputs["logits"][0], outputs["hidden"][0])
    hidden_per_head = config["hidden_size"] // config["num_attention_heads"]
    swapped = ["full_attention" if t == "sliding_attention" else "sliding_attention" for t in config["layer_types"]]
    features = {
        "no_attn_softcap": (f"attn_logit_softcapping ignored: scores not passed through {ATTN_SOFTCAP} * tanh(s / "
                            f"{ATTN_SOFTCAP})", {}, dict(attn_softcap=False)),
        "no_final_softcap": (f"final_logit_softcapping ignored: logits not passed through {FINAL_SOFTCAP} * "
                             f"tanh(l / {FINAL_SOFTCAP})", {}, dict(final_softcap=False)),
        "no_sliding_window": ("every layer full causal attention (sliding_window / layer_types ignored)", {},
                              dict(sliding_window=False)),
        "swapped_layer_types": ("odd layers slide instead of even ones (llama.cpp's dense-first pattern convention, "
                                "il % 2 != 0)", dict(layer_types=swapped), {}),
        "no_sandwich_norms": ("no post_attention_layernorm / post_feedforward_layernorm on the sublayer outputs", {},
                              dict(sandwich_norms=False)),
        "no_embedding_scale": ("embeddings not multiplied by sqrt(hidden_size) = 8", {}, dict(embed_scale=False)),
        "no_norm_offset": ("every RMSNorm multiplies by w instead of (1 + w)", {}, dict(norm_offset=False)),
        "query_scalar_hidden_per_head": (f"scores x (hidden / heads = {hidden_per_head})^-0.5, llama.cpp's rule for "
                                         f"the 46-layer 27B, instead of query_pre_attn_scalar^-0.5 = 48^-0.5",
                                         dict(query_pre_attn_scalar=hidden_per_head), {}),
        "erf_gelu": ("exact (erf) GELU instead of gelu_pytorch_tanh", {}, dict(gelu="erf")),
    }
    left_out = {key: dict(note=note, **effect(numpy_gemma2(w64, dict(config, **change), ids, **kw), ref))
                for key, (note, change, kw) in features.items()}
    numpy_check = {
        "method": "float64 numpy forward pass of hf/model.safetensors with transformers' Gemma2ForCausalLM math "
                  "(scripts/make-gemma3-fixture.py's numpy_gemma3 without q/k norms): embeddings x 8 (sqrt(hidden)); "
                  "per layer h += post_attention_layernorm(attn(input_layernorm(h))), h += "
                  "post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h))); RMSNorm(x) * (1 + w), eps 1e-6; "
                  "rotate-half RoPE, theta 1e4 on every layer; scores x 48^-0.5, then 0.5 * tanh(scores / 0.5); "
                  "causal mask, plus key j visible to query i only if i - j < 8 on the sliding layers (0 and 2); "
                  "GQA 2/1; mlp = down(gelu_tanh(gate x) * up x); final norm; LM head = embed_tokens (tied); "
                  "1.5 * tanh(logits / 1.5)",
        "vs_llama_cpp": agreement(ref, *llama),
        "ggml_gelu_emulated": {
            "method": gemma3.GELU_METHOD,
            "table": table_source,
            "table_entries_differing_from_numpy_recomputation": table_diffs,
            "vs_llama_cpp": agreement(ggml, *llama),
            "vs_exact_float64": effect(ggml, ref),
            "jitter": gemma3.jitter_info(table_jitter, smooth_jitter),
        },
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
        "note": "query_pre_attn_scalar = head_dim = 48 here, so 1/sqrt(query_pre_attn_scalar) and llama.cpp's "
                "1/sqrt(head_dim) coincide; query_scalar_hidden_per_head shows the 27B rule would be told apart. "
                "libllama agrees with the pass far closer than any left-out feature's effect, so it applies each "
                "of them (both softcaps included)",
    }
    say(f"numpy float64 vs libllama: {numpy_check['vs_llama_cpp']}")
    say(f"with ggml's GELU table ({table_source}, {table_diffs} entries differ from numpy's): "
        f"{numpy_check['ggml_gelu_emulated']['vs_llama_cpp']}")
    say(f"jitter {gemma3.JITTER}: table GELU moves the logits by up to {max(table_jitter):.3g}, exact GELU by "
        f"{max(smooth_jitter):.3g}")
    for key, e in left_out.items():
        say(f"left out {key}: max |Δlogit| {e['max_abs_logit_diff']:.4g}, rms {e['rms_logit_diff']:.3g}, argmax "
            f"{e['argmax_agree_positions']}/{T}, max |Δhidden| {e['max_abs_hidden_last_diff']:.4g}, positions moved "
            f"{e['positions_moved']} from {e['first_position_moved']}")
    say(f"logits rms {numpy_check['logit_scale_rms']:.4g}, max |logit| {numpy_check['logit_max_abs']:.4g}, smallest "
        f"top-2 margin {numpy_check['min_top2_logit_margin']:.3g}")
    worst = max(numpy_check["vs_llama_cpp"][m] for m in ("max_abs_logit_diff", "max_abs_hidden_last_diff"))
    worst_emulated = max(numpy_check["ggml_gelu_emulated"]["vs_llama_cpp"][m]
                         for m in ("max_abs_logit_diff", "max_abs_hidden_last_diff"))
    if worst > gemma3.NUMPY_TOLERANCE:
        sys.exit(f"{PROG}: the numpy forward pass disagrees with libllama by {worst} > {gemma3.NUMPY_TOLERANCE}")
    if worst_emulated > min(gemma3.EMULATED_TOLERANCE, worst / 2):
        sys.exit(f"{PROG}: with ggml's GELU emulated the pass still disagrees with libllama by {worst_emulated}")
    weak = [k for k, e in left_out.items() if k != "erf_gelu" and e["max_abs_logit_diff"] <= MIN_FEATURE_EFFECT]
    if weak:
        sys.exit(f"{PROG}: leaving out {weak} changes the logits too little")
    if left_out["no_final_softcap"]["max_abs_hidden_last_diff"] != 0.0:
        sys.exit(f"{PROG}: the final softcap changed hidden_last (it should only touch the logits)")
    ref_tensors = {"input_ids": input_ids, "logits": ref[0][None].astype(np.float32),
                   "hidden_last": ref[1][None].astype(np.float32)}
    rebuild.write_atomically(os.path.join(OUT, "ref.safetensors"),
                             save(ref_tensors, metadata={"generator": "scripts/make-gemma2-fixture.py: float64 numpy "
                                                                      "forward pass, rounded to float32"}))

    # 8. ref.json.
    files = {}
    for name in (["f32.gguf", "gguf-skeletons/f32.skeleton"]
                 + [f"hf/{n}" for n in sorted(TOKENIZER_FILES + ["config.json", "model.safetensors"])]
                 + ["ref-llama-cpp.safetensors", "ref.safetensors"]):
        files[name] = file_entry(os.path.join(OUT, name))
    gguf_info["f32.gguf"].update({
        "metadata": {k: v[1] for k, v in kv.items() if k not in ("tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                                                                  "tokenizer.ggml.token_type")},
        "metadata_types": {k: "/".join(v[0]) for k, v in kv.items()},
        "tokenizer_arrays": "tokenizer.ggml.tokens / scores / token_type: 512 entries each, equal to "
                            "tiny-llama/f32.gguf's (which convert_hf_to_gguf.py wrote from the same pieces); every "
                            "tokenizer.* key equal to tiny-gemma3/f32.gguf's",
        "not_written": "no gemma2.rope.* key (Gemma2Model.set_gguf_parameters does not call TextModel's: llama.cpp "
                       "uses its default freq_base 1e4) and no attention.sliding_window_pattern (llama.cpp's gemma2 "
                       "default pattern 2: layer il slides iff il % 2 == 0)",
        "type_counts": {"F32": len(tensors)},
        "tensor_shapes_ggml": {n: shape for n, _, shape, _ in tensors},
        "tensor_sources": {n: (s + " + 1" if s.endswith("norm.weight") else s)
                           for n, s in zip(qwen3.expected_gguf_names(config, LAYER_TENSORS), sorted(weights))},
    })
    ref_json = {
        "model": NAME,
        "description": "tiny random-weight Gemma2ForCausalLM: attention logit softcapping (0.5) and final logit "
                       "softcapping (1.5), sliding-window attention on layers 0 and 2 of 4 (window 8), one RoPE base "
                       "(1e4), sandwich norms, (1 + w) RMSNorm, embeddings x sqrt(hidden), no q/k norms, head_dim 48 "
                       "!= hidden / heads, GELU-tanh GLU, tied embeddings. tiny-gemma3's tokenizer files (tiny-llama's "
                       "SentencePiece vocabulary made Gemma-style)",
        "text": gemma3.TEXT,
        "input_ids": ids,
        "T": T,
        "tokenizer": {
            "type": "sentencepiece-bpe (byte fallback), Gemma-style: no dummy prefix",
            "adds_bos": True,
            "bos_token_id": config["bos_token_id"],
            "eos_token_id": config["eos_token_id"],
            "vocab_size": config["vocab_size"],
            "reference_tokenizer": "tokenizers (hf/tokenizer.json) and libllama (f32.gguf), equal ids",
            "copied_from": "tiny-gemma3/hf, unchanged (tokenizer.model, tokenizer.json, tokenizer_config.json, "
                           "special_tokens_map.json, generation_config.json); the ids equal tiny-gemma3's",
            "check": tokenizer_check,
        },
        "config": qwen3.config_info(
            config, ("model_type", "architectures", "vocab_size", "hidden_size", "intermediate_size",
                     "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
                     "query_pre_attn_scalar", "layer_types", "sliding_window", "max_position_embeddings",
                     "rope_theta", "rms_norm_eps", "hidden_activation", "attn_logit_softcapping",
                     "final_logit_softcapping", "attention_bias", "bos_token_id", "eos_token_id", "pad_token_id"),
            n_params,
            tie_word_embeddings=True,
            tie_word_embeddings_note="not in config.json: Gemma2Config's default (true) equals PretrainedConfig's, "
                                     "so transformers leaves it out",
            embedding_scale=math.sqrt(config["hidden_size"]),
            attention_scale=config["query_pre_attn_scalar"] ** -0.5),
        **qwen3.weights_info(weights, SEED, MATRIX_SCALE, NORM_SCALE,
                             f"every norm weight (input_layernorm, post_attention_layernorm, "
                             f"pre_feedforward_layernorm, post_feedforward_layernorm, model.norm; Gemma 2 has no "
                             f"q_norm / k_norm) {NORM_SCALE} * N(0,1): the offset, Gemma's RMSNorm scales by "
                             f"(1 + weight); the GGUF stores 1 + weight"),
        "ref_safetensors_keys": {"ref.safetensors": rope.tensor_keys(ref_tensors),
                                 "ref-llama-cpp.safetensors": rope.tensor_keys(llama_tensors)},
        "llama_cpp": rope.llama_cpp_info(
            T, "f32.gguf run twice with bit-identical outputs", harness_check,
            runs={"f32.gguf": {k: outputs[k] for k in ("freq_scale_train", "rope_log", "rope_metadata_log",
                                                       "warnings")}},
            warnings_note=gemma3.WARNINGS_NOTE,
            runtime_notes="gemma2 in llama.cpp (src/models/gemma2.cpp): layer il slides iff il % 2 == 0 (pattern "
                          "2; no attention.sliding_window_pattern key), n_swa from attention.sliding_window "
                          "(default 4096), rope freq_base 1e4 (no key), one base on every layer, attention scale "
                          "1/sqrt(head_dim) (1/sqrt(hidden / heads) for the 46-layer 27B; query_pre_attn_scalar is "
                          "not read), Q scaled before K.Q, then the attention softcap cap * tanh(kq / cap) "
                          "(attn_logit_softcapping, default 50 when the key is absent) before the masked softmax, "
                          "the final softcap (final_logit_softcapping, default 30) on the logits, GELU through "
                          "ggml's float16 table"),
        "numpy_check": numpy_check,
        "gguf": gguf_info,
        "made_by": "scripts/make-gemma2-fixture.py (config, tokenizer copies, weights, GGUF, skeleton via "
                   "scripts/make-gguf-skeletons.py's make, ref.safetensors), scripts/llama-cpp-logits.c "
                   "(ref-llama-cpp.safetensors), scripts/llama-cpp-tokenize.c (the tokenizer check)",
        "files": files,
        "tools": dict(rope.tool_versions(args.cc, commit), tokenizers=metadata.version("tokenizers")),
    }
    rope.write_ref(OUT, NAME, ref_json, say)


if __name__ == "__main__":
    main()
