#!/usr/bin/env python3
"""Make Tests/Fixtures/models/tiny-gemma3/: a tiny random-weight Gemma 3 (text), its GGUFs, and reference outputs.

Run by the fixtures' maintainer:

    scripts/make-gemma3-fixture.py --llama-cpp DIR      (or LLAMA_CPP_DIR=DIR scripts/make-gemma3-fixture.py)

It needs
  - Python 3 with numpy, gguf 0.19.0 (gguf-py: GGUFReader, GGUFWriter, SpecialVocab, the tensor name map),
    safetensors (its numpy API) and tokenizers (the Hugging Face tokenizer check); no torch or transformers;
  - a C compiler (`cc`, or --cc);
  - a built llama.cpp, commit 0c1e57098 (the one every other llama.cpp reference here comes from): DIR holds
    include/llama.h, ggml/include/ and build/bin/libllama.so (+ libggml*.so), e.g. the `vendor/llama.cpp` of the
    llama-cpp-python 0.3.36 sdist built with CMake (BUILD_SHARED_LIBS on);
  - tiny-llama's committed `hf/` tokenizer files, `ref.json` and `ref-llama-cpp.safetensors`, and its f32.gguf
    (rebuilt first from its skeleton if missing): the tokenizer.* arrays convert_hf_to_gguf.py wrote for the same
    tokenizer.model, and the harness check.
It reuses scripts/make-rope-scaling-fixtures.py's helpers (the GGUF file writer, the llama.cpp harness driver and
its checks, GGUF summary, JSON and file-map writers, command line, tool versions), scripts/make-qwen3-fixture.py's
(random weights, config writer, the converter's common GGUF part, the tensor check, `copy_file`, ref.json parts),
scripts/make-gguf-skeletons.py's `make` and scripts/rebuild-gguf-fixtures.py's atomic writer and hashes.
scripts/make-gemma2-fixture.py reuses this script's (the tokenizer vocabulary, tokenizer.* keys and check, the GGUF
check, the libllama runs, the float64 forward pass, which takes Gemma 2's attention softcap too, with its ggml-GELU
twin and jitter measure, the feature-effect and agreement measures).

What it does, in the folder Tests/Fixtures/models/tiny-gemma3/:
  1. `hf/config.json`: Gemma3ForCausalLM / gemma3_text with the bytes transformers 4.57.6 writes for this
     Gemma3TextConfig (sorted keys, indent 2; it writes `sliding_window_pattern` and `_sliding_window_pattern`
     both when given the former): hidden 64, intermediate 128, 6 layers ("sliding_attention" x 5 then
     "full_attention", llama.cpp's default pattern 6), 2 heads / 1 KV head, head_dim 48 (!= hidden / heads),
     query_pre_attn_scalar 48, sliding_window 8, rope_theta 1e6 with linear rope_scaling (factor 8; transformers
     applies it to the full-attention layers only), rope_local_base_freq 1e4 (sliding layers, unscaled),
     256 positions, rms_norm_eps 1e-6, gelu_pytorch_tanh, no softcapping, tied embeddings, vocab 512, bos 1 /
     eos 2 (tiny-llama's; no pad token). `hf/config-softcap.json`: the same with final_logit_softcapping
     SOFTCAP. config.json also goes to Fuzz/corpus/hf-config/tiny-gemma3.json (a fuzz seed).
     Tokenizer, from tiny-llama/hf (SentencePiece BPE, 512 pieces, byte fallback), made Gemma-style (no dummy
     prefix): `tokenizer.model` with normalizer_spec.add_dummy_prefix cleared (one byte; Gemma's own
     tokenizer.model has it false); `tokenizer.json` with transformers' GemmaConverter pipeline (normalizer
     Replace " " -> "▁"; pre_tokenizer Split(" ", MergedWithPrevious), a no-op after that normalizer, kept because
     Gemma's files have it; decoder Replace "▁" -> " ", ByteFallback, Fuse, no Strip), model, added tokens and
     post-processor (BOS) unchanged; `tokenizer_config.json` with tokenizer_class GemmaTokenizer and no
     add_prefix_space / legacy (with those, transformers would rebuild a Llama tokenizer with a dummy prefix
     from tokenizer.model instead of reading tokenizer.json); special_tokens_map.json and generation_config.json
     copied unchanged.
  2. `hf/model.safetensors`: float32, Hugging Face names, no lm_head.weight (tied), metadata {"format": "pt"}.
     numpy.random.default_rng(SEED) draws one standard_normal(shape) per tensor, in sorted name order; matrices
     are 0.0625 x that, every norm weight (input, post-attention, pre- and post-feedforward, q_norm, k_norm,
     final) 0.2 x that: Gemma's RMSNorm multiplies by (1 + weight), so the stored weight is the offset.
  3. `f32.gguf` and `softcap.gguf`: written with gguf-py's GGUFWriter the way llama.cpp's convert_hf_to_gguf.py
     (Gemma3Model, at 0c1e57098) writes an `--outtype f32` conversion of hf/ (with config-softcap.json for the
     second): tensors in the safetensors names' sorted order, renamed by gguf-py's gemma3 name map, all F32, every
     `*norm.weight` + 1.0 (Gemma3Model.norm_shift), token_embd trimmed to the tokenizer's 512 pieces, no
     output.weight (tied); metadata in the order the converter's calls give (GGUFWriter keeps a repeated key
     where it was first written): general.type, name, size_label; TextModel.set_gguf_parameters (block_count,
     context_length, embedding_length, feed_forward_length, head_count, head_count_kv, rope.scaling.type
     "linear" and rope.scaling.factor 8, rope.freq_base 1e6, rope.freq_base_swa 1e4 (from
     rope_local_base_freq), layer_norm_rms_epsilon, key_length, value_length, file_type); Gemma3Model's own
     (final_logit_softcapping when set, attention.sliding_window); quantization_version; then set_vocab:
     _set_vocab_sentencepiece (tokenizer model "llama", pre "default", tokens / scores / token types as
     _create_vocab_sentencepiece reads them from tokenizer.model and tokenizer_config.json's added tokens,
     gguf-py's SpecialVocab) and add_space_prefix false. The token arrays must equal the ones the converter
     wrote into tiny-llama/f32.gguf for the same pieces. Both files are read back with GGUFReader, checked, and
     git-ignored.
  4. `gguf-skeletons/{f32,softcap}.skeleton` (scripts/make-gguf-skeletons.py's `make`: identity transforms, and
     `plus_one` for the norms), so scripts/rebuild-gguf-fixtures.py rebuilds both GGUFs byte for byte.
  5. compiles scripts/llama-cpp-logits.c and scripts/llama-cpp-tokenize.c against DIR. Tokenizer check: TEXT
     (spaces, a newline, digits, non-ASCII) tokenized by the `tokenizers` library from hf/tokenizer.json and by
     libllama from f32.gguf must give the same ids, with and without BOS; those ids (with BOS) are the model
     input. Harness check: tiny-llama/f32.gguf on tiny-llama's ids must reproduce its committed llama.cpp
     reference. Then f32.gguf and softcap.gguf run twice each (bit-identical outputs required; libllama must log
     no warning but the harness's pooling one).
  6. `ref-llama-cpp.safetensors`: `input_ids` (int64 [1, T]), `logits.f32` [1, T, 512], `hidden_last.f32`
     [1, T, 64] (llama.cpp's `result_norm`), `softcap.logits.f32`, `softcap.hidden_last.f32`, float32.
  7. an independent float64 numpy forward pass of hf/ with transformers' Gemma3ForCausalLM math (numpy_gemma3).
     It must match libllama to NUMPY_TOLERANCE; with its GELU replaced by ggml's (the input rounded to float16
     indexes a float16 table of the tanh-GELU: libggml-cpu's own table, read with ctypes, or a numpy
     recomputation) to EMULATED_TOLERANCE and at most half the gap, which shows the gap is that table. The
     table's sensitivity to float32-sized input changes is measured (JITTER) to account for what is left. Every
     Gemma 3 feature left out must move the logits by more than MIN_FEATURE_EFFECT, the softcap by more than
     MIN_SOFTCAP_EFFECT. Its outputs, rounded to float32, are `ref.safetensors` (`input_ids`, `logits`,
     `hidden_last`, `softcap.logits`).
  8. `ref.json`: text and ids, the tokenizer check, config summary, seed and scales, the checks' numbers, the
     GGUFs' metadata and tensors, provenance, tool versions, and the `files` map (size and sha256 of every data
     file of the folder; the rebuild script checks the GGUFs against it). README.md is written by hand and not
     in the map.

Deterministic: the same inputs give the same bytes (the llama.cpp outputs for the same build on the same CPU).
"""

import contextlib
import copy
import ctypes
import importlib.util
import json
import logging
import math
import os
import struct
import sys
import tempfile
from importlib import metadata

import numpy as np
import gguf
from safetensors.numpy import save
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))


# The Qwen3 fixture script holds the weights and the converter's common GGUF part; the RoPE-scaling fixture script
# it loads holds the shared helpers (GGUF file writer, harness, skeletons, files map, JSON writers).
_spec = importlib.util.spec_from_file_location("make_qwen3_fixture", os.path.join(HERE, "make-qwen3-fixture.py"))
qwen3 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(qwen3)
rope, rebuild, skeletons = qwen3.rope, qwen3.rebuild, qwen3.skeletons
write_json, file_entry, max_abs = rope.write_json, rope.file_entry, rope.max_abs

REPO, MODELS = rope.REPO, rope.MODELS
NAME = "tiny-gemma3"
OUT = os.path.join(MODELS, NAME)
TOKENIZER_FROM = os.path.join(MODELS, "tiny-llama")
TOKENIZE_HARNESS = os.path.join(HERE, "llama-cpp-tokenize.c")
COPIED_TOKENIZER_FILES = ["generation_config.json", "special_tokens_map.json"]
DERIVED_TOKENIZER_FILES = ["tokenizer.json", "tokenizer.model", "tokenizer_config.json"]

SEED = 0
MATRIX_SCALE = 0.0625   # matrices (embeddings included): MATRIX_SCALE * N(0, 1)
NORM_SCALE = 0.2        # norm weights (the offset from 1 that Gemma's RMSNorm adds): NORM_SCALE * N(0, 1)
SOFTCAP = 1.5           # final_logit_softcapping of softcap.gguf / config-softcap.json
# Spaces (single and double), a newline, digits and non-ASCII letters, so the dummy-prefix and byte-fallback rules
# show; its ids (with BOS) are the model input, 32 of them: 4 windows of 8.
TEXT = "Gemma 3 sees 8 back.\nCafé  naïve 42"
NUMPY_TOLERANCE = 1e-2      # max |difference| float64 pass (exact tanh-GELU) vs libllama (ggml's fp16 GELU table)
EMULATED_TOLERANCE = 1e-3   # the same with ggml's GELU table emulated (and at most half the gap without it)
JITTER = 6e-8               # relative noise (float32 rounding size) put on the GELU inputs to measure the table's
JITTER_RUNS = 8             # sensitivity to it, in this many runs
MIN_FEATURE_EFFECT = 0.05   # max |logit difference| each left-out Gemma 3 feature must cause
MIN_SOFTCAP_EFFECT = 0.3    # max |logit difference| the softcap must cause
# libllama's warnings that every run of the harness on this model gives: the pooling type the harness asks for (as
# for every model), and the full-size SWA cache of llama_context_default_params' swa_full = true (the sliding
# layers' K/V cache holds every position; the window is applied by the attention mask, so results do not change).
EXPECTED_WARNINGS = [
    "llama_init_from_model: model default pooling_type is [-1], but [0] was specified",
    "llama_kv_cache_iswa: using full-size SWA cache (ref: https://github.com/ggml-org/llama.cpp/pull/13194#issuecomment-2868343055)",
]

# ref.json's account of the libllama warnings EXPECTED_WARNINGS allows (this script's and make-gemma2-fixture.py's).
WARNINGS_NOTE = ("the pooling_type warning follows from the harness's pooling NONE (embeddings output); libllama logs "
                 "it for every model. The full-size SWA cache warning follows from llama_context_default_params' "
                 "swa_full = true: the sliding layers' cache keeps every position and the window is applied by the "
                 "mask, so the outputs are the same. No warning about missing or unused tensors.")

# As transformers 4.57.6 writes Gemma3TextConfig(vocab_size=512, hidden_size=64, intermediate_size=128,
# num_hidden_layers=6, num_attention_heads=2, num_key_value_heads=1, head_dim=48, query_pre_attn_scalar=48,
# sliding_window=8, sliding_window_pattern=6, max_position_embeddings=256, rope_theta=1e6,
# rope_local_base_freq=1e4, rope_scaling={"rope_type": "linear", "factor": 8.0}, bos_token_id=1, eos_token_id=2,
# pad_token_id=None, initializer_range=0.0625) with architectures ["Gemma3ForCausalLM"] and dtype float32
# (to_json_string: sorted keys, indent 2).
CONFIG = {
    "_sliding_window_pattern": 6,
    "architectures": ["Gemma3ForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "attn_logit_softcapping": None,
    "bos_token_id": 1,
    "dtype": "float32",
    "eos_token_id": 2,
    "final_logit_softcapping": None,
    "head_dim": 48,
    "hidden_activation": "gelu_pytorch_tanh",
    "hidden_size": 64,
    "initializer_range": MATRIX_SCALE,
    "intermediate_size": 128,
    "layer_types": ["sliding_attention"] * 5 + ["full_attention"],
    "max_position_embeddings": 256,
    "model_type": "gemma3_text",
    "num_attention_heads": 2,
    "num_hidden_layers": 6,
    "num_key_value_heads": 1,
    "pad_token_id": None,
    "query_pre_attn_scalar": 48,
    "rms_norm_eps": 1e-06,
    "rope_local_base_freq": 10000.0,
    "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
    "rope_theta": 1000000.0,
    "sliding_window": 8,
    "sliding_window_pattern": 6,
    "transformers_version": "4.57.6",
    "use_bidirectional_attention": False,
    "use_cache": True,
    "vocab_size": 512,
}


# Gemma 3's per-layer norms beside Qwen3's (the sandwich norms), and the converter's GGUF tensor names of a block
# in the HF names' sorted order.
EXTRA_LAYER_NORMS = ["pre_feedforward_layernorm", "post_feedforward_layernorm"]
LAYER_TENSORS = ["attn_norm", "ffn_down", "ffn_gate", "ffn_up", "post_attention_norm", "post_ffw_norm", "ffn_norm",
                 "attn_k_norm", "attn_k", "attn_output", "attn_q_norm", "attn_q", "attn_v"]


def say(text):
    print(f"gemma3-fixture: {text}", flush=True)


def rel(path):
    return os.path.relpath(path, REPO)


# --- tokenizer ------------------------------------------------------------------------------------------------

def _varint(data, i):
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _proto_fields(data):
    """(field number, wire type, value, start, end of the value) of one protobuf message, in order."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        field, wire = key >> 3, key & 7
        start = i
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 2:
            n, start = _varint(data, i)
            value, i = data[start:start + n], start + n
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"protobuf wire type {wire} not expected in a SentencePiece model")
        yield field, wire, value, start, i


def sentencepiece_pieces(model):
    """[(piece, score, type)] of a SentencePiece ModelProto (field 1: pieces {1: piece, 2: score, 3: type})."""
    pieces = []
    for field, _, value, _, _ in _proto_fields(model):
        if field == 1:
            piece, score, kind = None, 0.0, 1  # proto defaults: score 0, type NORMAL
            for f, _, v, _, _ in _proto_fields(value):
                if f == 1:
                    piece = v.decode("utf-8")
                elif f == 2:
                    (score,) = struct.unpack("<f", v)
                elif f == 3:
                    kind = v
            pieces.append((piece, score, kind))
    return pieces


def without_dummy_prefix(model):
    """`model` with normalizer_spec (field 3).add_dummy_prefix (field 3, a one-byte varint) set to false; the rest
    of the bytes unchanged. Returns (new bytes, the flag's old value)."""
    for field, wire, value, start, _ in _proto_fields(model):
        if field == 3 and wire == 2:
            for f, w, v, s, e in _proto_fields(value):
                if f == 3 and w == 0:
                    assert e - s == 1, "add_dummy_prefix is not a one-byte varint"
                    at = start + s
                    return model[:at] + b"\x00" + model[at + 1:], bool(v)
    raise SystemExit("gemma3-fixture: tokenizer.model has no normalizer_spec.add_dummy_prefix to clear")


def gemma_tokenizer_json(llama):
    """tiny-llama's tokenizer.json with transformers' GemmaConverter pipeline (no dummy prefix)."""
    out = copy.deepcopy(llama)
    out["normalizer"] = {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}
    out["pre_tokenizer"] = {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious",
                            "invert": False}
    out["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"},
        {"type": "Fuse"},
    ]}
    return out


def gemma_tokenizer_config(llama):
    """tiny-llama's tokenizer_config.json as a GemmaTokenizer's: without add_prefix_space / legacy, which would make
    transformers rebuild a Llama tokenizer (dummy prefix) from tokenizer.model instead of reading tokenizer.json."""
    out = {k: v for k, v in llama.items() if k not in ("add_prefix_space", "legacy")}
    out["tokenizer_class"] = "GemmaTokenizer"
    return out


def converter_vocab(pieces, tokenizer_config, vocab_size):
    """(tokens, scores, token types) as convert_hf_to_gguf.py's _create_vocab_sentencepiece builds them: the pieces
    with SentencePiece's type (unknown, control, unused, byte; anything else NORMAL), then every
    tokenizer_config.json added_tokens_decoder entry as CONTROL (special) or USER_DEFINED with score -1000."""
    normal, unknown, control, user_defined, unused, byte = 1, 2, 3, 4, 5, 6
    tokens = [f"[PAD{i}]".encode("utf-8") for i in range(vocab_size)]
    scores = [-10000.0] * vocab_size
    types = [unused] * vocab_size
    for i, (piece, score, kind) in enumerate(pieces[:vocab_size]):
        tokens[i], scores[i] = piece.encode("utf-8"), score
        types[i] = kind if kind in (unknown, control, unused, byte) else normal
    for key, token in tokenizer_config.get("added_tokens_decoder", {}).items():
        i = int(key)
        if i >= vocab_size:
            continue
        special = token.get("special") or (token["content"].startswith("<|") and token["content"].endswith("|>"))
        types[i] = control if special else user_defined
        scores[i] = -1000.0
        tokens[i] = (token["content"] if special else token["content"].replace("\u2581", " ")).encode("utf-8")
    return tokens, scores, types


def llama_cpp_tokenize(exe, llama_cpp, model, text, workdir):
    """libllama's ids for `text` (exe: scripts/llama-cpp-tokenize.c built by rope.build_harness): (with BOS as the
    GGUF asks, without), and its stderr lines."""
    path = os.path.join(workdir, "text.txt")
    with open(path, "wb") as f:
        f.write(text.encode("utf-8"))
    done = rope.run_libllama(exe, llama_cpp, [model, path])
    special, plain = done.stdout.splitlines()
    return [int(t) for t in special.split()], [int(t) for t in plain.split()], done.stderr.splitlines()


# --- weights --------------------------------------------------------------------------------------------------

def gguf_tensor(hf_name, w, n_vocab):
    """Gemma3Model.modify_tensors for --outtype f32: embeddings trimmed to the tokenizer's vocabulary, every
    `*norm.weight` + 1.0 (in float32, as `data_torch + f_shift` on a float32 tensor)."""
    if "embed_tokens.weight" in hf_name:
        w = w[:n_vocab]
    if hf_name.endswith("norm.weight"):
        w = w + np.float32(1.0)
    assert w.dtype == np.float32
    return w


# --- GGUF -----------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def quiet(logger):
    """Only errors from this gguf-py logger inside the block."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def write_gguf(path, c, weights, hf_dir, vocab):
    """An f32 GGUF as convert_hf_to_gguf.py --outtype f32 writes it for a Gemma3ForCausalLM with config `c`, these
    float32 weights and the tokenizer files of `hf_dir` (see the header). Returns the GGUF tensor names in order
    and the parameter count."""
    tokens = vocab[0]

    def fill(writer):
        # ModelBase.prepare_tensors (Gemma3Model.modify_tensors), prepare_metadata up to TextModel's parameters.
        names, total = qwen3.add_text_model(writer, gguf.MODEL_ARCH.GEMMA3, NAME, c, weights,
                                            lambda hf_name, w: gguf_tensor(hf_name, w, len(tokens)))
        # Gemma3Model.set_gguf_parameters after super(): six keys again (same values, same places; GGUFWriter warns
        # about every repeated key), then its own.
        with quiet("gguf.gguf_writer"):
            for add, key in ((writer.add_context_length, "max_position_embeddings"),
                             (writer.add_head_count, "num_attention_heads"),
                             (writer.add_layer_norm_rms_eps, "rms_norm_eps"), (writer.add_key_length, "head_dim"),
                             (writer.add_value_length, "head_dim"), (writer.add_rope_freq_base, "rope_theta")):
                add(c[key])
            assert c.get("attn_logit_softcapping") is None
            if c.get("final_logit_softcapping"):
                writer.add_final_logit_softcapping(c["final_logit_softcapping"])
            if c.get("sliding_window_pattern") != 1:
                writer.add_sliding_window(c["sliding_window"])
            writer.add_head_count_kv(c["num_key_value_heads"])
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        # Gemma3Model.set_vocab: tokenizer.model present -> _set_vocab_sentencepiece, then add_space_prefix false.
        add_gemma_vocab(writer, hf_dir, vocab)
        return names, total

    return rope.write_gguf_file(path, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.GEMMA3], fill)


def add_gemma_vocab(writer, hf_dir, vocab):
    """The tokenizer.* keys of Gemma2Model's and Gemma3Model's set_vocab (tokenizer.model present): _set_vocab_
    sentencepiece (model "llama", pre "default", the `vocab` (tokens, scores, token types) converter_vocab made,
    gguf-py's SpecialVocab of `hf_dir`), then add_space_prefix false."""
    tokens, scores, types = vocab
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    # SpecialVocab warns "Unknown separator token '<s>' in TemplateProcessing<pair>" (tiny-llama's pair template
    # uses BOS as the separator), as it does in the converter; it adds no sep token either way.
    with quiet("gguf.vocab"):
        gguf.SpecialVocab(hf_dir, n_vocab=len(tokens)).add_to_gguf(writer, quiet=True)
    writer.add_add_space_prefix(False)


def expected_metadata(c):
    """{key: value} in the converter's order (read back as GGUFReader gives them), tokenizer arrays excepted."""
    f32 = lambda x: float(np.float32(x))  # noqa: E731
    a = "gemma3."
    want = {
        "general.architecture": "gemma3", "general.type": "model", "general.name": NAME,
        "general.size_label": None,  # checked separately
        a + "block_count": c["num_hidden_layers"], a + "context_length": c["max_position_embeddings"],
        a + "embedding_length": c["hidden_size"], a + "feed_forward_length": c["intermediate_size"],
        a + "attention.head_count": c["num_attention_heads"], a + "attention.head_count_kv": c["num_key_value_heads"],
        a + "rope.scaling.type": "linear", a + "rope.scaling.factor": f32(c["rope_scaling"]["factor"]),
        a + "rope.freq_base": f32(c["rope_theta"]), a + "rope.freq_base_swa": f32(c["rope_local_base_freq"]),
        a + "attention.layer_norm_rms_epsilon": f32(c["rms_norm_eps"]),
        a + "attention.key_length": c["head_dim"], a + "attention.value_length": c["head_dim"],
        "general.file_type": 0,
    }
    if c.get("final_logit_softcapping"):
        want[a + "final_logit_softcapping"] = f32(c["final_logit_softcapping"])
    want.update({
        a + "attention.sliding_window": c["sliding_window"], "general.quantization_version": 2,
        "tokenizer.ggml.model": "llama", "tokenizer.ggml.pre": "default",
        "tokenizer.ggml.tokens": None, "tokenizer.ggml.scores": None, "tokenizer.ggml.token_type": None,
        "tokenizer.ggml.bos_token_id": c["bos_token_id"], "tokenizer.ggml.eos_token_id": c["eos_token_id"],
        "tokenizer.ggml.unknown_token_id": 0, "tokenizer.ggml.add_bos_token": True,
        "tokenizer.ggml.add_sep_token": False, "tokenizer.ggml.add_eos_token": False,
        "tokenizer.ggml.add_space_prefix": False,
    })
    return want


def check_gguf(path, c, weights, names, tokenizer_gguf, expected=expected_metadata, layer_tensors=LAYER_TENSORS,
               tensor=gguf_tensor):
    """Read a GGUF back with GGUFReader: metadata (order, values as `expected(c)` gives them, the tokenizer arrays
    against tiny-llama/f32.gguf, which convert_hf_to_gguf.py wrote for the same tokenizer.model), tensor names
    (`layer_tensors` per block), types, shapes and data (`tensor(hf_name, w, n_vocab)` of the HF weights)."""
    kv, tensors = rope.gguf_summary(path)
    want = expected(c)
    assert list(kv) == list(want), list(kv)
    for key, value in want.items():
        if value is not None:
            assert kv[key][1] == value, f"{key} = {kv[key]}, expected {value}"
    tok_kv, _ = rope.gguf_summary(tokenizer_gguf)
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
                "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_sep_token", "tokenizer.ggml.add_eos_token"):
        assert kv[key] == tok_kv[key], f"{key} differs from tiny-llama/f32.gguf's"
    n_vocab = len(kv["tokenizer.ggml.tokens"][1])
    qwen3.check_tensors(tensors, names, qwen3.expected_gguf_names(c, layer_tensors), weights,
                        lambda hf_name, w: tensor(hf_name, w, n_vocab))
    return kv, tensors


# --- llama.cpp ------------------------------------------------------------------------------------------------

def check_tokenizer(tok_exe, llama_cpp, model, hf_dir, workdir, prog, say):
    """The tokenizer check: TEXT tokenized by the `tokenizers` library from `hf_dir`/tokenizer.json and by libllama
    (tok_exe: scripts/llama-cpp-tokenize.c built by rope.build_harness) from the GGUF `model` must give the same ids,
    with and without BOS, without libllama warnings, and differ from what tiny-llama's own tokenizer.json gives (the
    dummy prefix); the script `prog` exits otherwise. Returns (ref.json's record of the check, the ids with BOS)."""
    hf_tok = Tokenizer.from_file(os.path.join(hf_dir, "tokenizer.json"))
    llama_style = Tokenizer.from_file(os.path.join(TOKENIZER_FROM, "hf", "tokenizer.json"))
    l_special, l_plain, tok_log = llama_cpp_tokenize(tok_exe, llama_cpp, model, TEXT, workdir)
    hf_special = hf_tok.encode(TEXT).ids
    hf_plain = hf_tok.encode(TEXT, add_special_tokens=False).ids
    tokenizer_check = {
        "text": TEXT,
        "hf_tokenizers": {"library": f"tokenizers {metadata.version('tokenizers')}", "file": "hf/tokenizer.json",
                          "ids_with_special": hf_special, "ids_without_special": hf_plain,
                          "pieces": hf_tok.encode(TEXT).tokens},
        "llama_cpp": {"method": f"scripts/llama-cpp-tokenize.c: llama_tokenize on {os.path.basename(model)} (vocab "
                                f"only), add_special true / false, parse_special false",
                      "ids_with_special": l_special, "ids_without_special": l_plain, "log": tok_log},
        "equal_with_special": hf_special == l_special,
        "equal_without_special": hf_plain == l_plain,
        "hf_decode_round_trip": hf_tok.decode(hf_plain) == TEXT,
        "tiny_llama_tokenizer_ids_with_special": llama_style.encode(TEXT).ids,
        "note": "tiny-llama's own tokenizer.json (Metaspace, prepend_scheme first) adds a dummy-prefix '▁' "
                "before the first word; the Gemma-style one does not, like libllama with add_space_prefix false",
    }
    say(f"tokenizer check: HF {hf_special}\n  llama.cpp {l_special}\n  equal with / without BOS "
        f"{tokenizer_check['equal_with_special']} / {tokenizer_check['equal_without_special']}, HF decode round "
        f"trip {tokenizer_check['hf_decode_round_trip']}")
    if not (tokenizer_check["equal_with_special"] and tokenizer_check["equal_without_special"]):
        sys.exit(f"{prog}: the Hugging Face tokenizer and libllama tokenize TEXT differently")
    if tok_log:
        sys.exit(f"{prog}: libllama logged warnings while tokenizing: {tok_log}")
    if llama_style.encode(TEXT).ids == hf_special:
        sys.exit(f"{prog}: TEXT does not show the dummy prefix difference")
    return tokenizer_check, hf_special


def llama_cpp_runs(exe, llama_cpp, models, ids, workdir, prog, say):
    """Each GGUF of `models` ({stem: path}) run twice on `ids` by the harness (exe: scripts/llama-cpp-logits.c), with
    bit-identical outputs and no libllama warning but EXPECTED_WARNINGS (the script `prog` exits otherwise).
    Returns {stem: {logits [1, T, vocab], hidden [1, T, hidden], freq_scale_train, rope_log, rope_metadata_log,
    warnings}}."""
    outputs = {}
    for stem, path in models.items():
        logits, hidden, freq_scale, log = rope.harness_outputs_twice(exe, llama_cpp, path, ids, workdir, stem, prog)
        # The harness echoes libllama's lines that mention RoPE (print_info's, and the loader's metadata dump of
        # the rope.* keys) and every warning or error.
        rope_log, warnings, unexpected = rope.split_log(log, EXPECTED_WARNINGS)
        rope_kv = [" ".join(line.split(":", 1)[1].split()) for line in log
                   if line.startswith("llama_model_loader: - kv")]
        say(f"llama.cpp on {stem}.gguf: freq_scale_train {freq_scale}, rope log {rope_log}; warnings {warnings}")
        if unexpected:
            sys.exit(f"{prog}: libllama logged unexpected warnings or errors on {stem}.gguf: {unexpected}")
        outputs[stem] = {"logits": logits, "hidden": hidden, "freq_scale_train": freq_scale,
                         "rope_log": rope_log, "rope_metadata_log": rope_kv, "warnings": warnings}
    return outputs


# --- the independent float64 forward pass ---------------------------------------------------------------------

def gelu_table_numpy():
    """ggml_table_gelu_f16 recomputed: for every float16 bit pattern h, float16(ggml_gelu_f32(h)), the float32
    tanh-GELU 0.5 h (1 + tanh(sqrt(2/pi) h (1 + 0.044715 h^2))) (as float64 values; NaN where h is not finite)."""
    h = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
    c = np.float32(0.79788456080286535587989211986876)
    with np.errstate(invalid="ignore", over="ignore"):
        y = np.float32(0.5) * h * (np.float32(1) + np.tanh(c * h * (np.float32(1) + np.float32(0.044715) * h * h)))
    return y.astype(np.float16).astype(np.float64)


def gelu_table_libggml(llama_cpp):
    """The table libggml-cpu itself fills (ggml_cpu_init; libm's tanhf, the compiler's float contractions), read
    with ctypes; None when the library or the symbol is not there."""
    try:
        lib = ctypes.CDLL(os.path.join(llama_cpp, "build", "bin", "libggml-cpu.so"))
        lib.ggml_cpu_init()
        raw = (ctypes.c_uint16 * (1 << 16)).in_dll(lib, "ggml_table_gelu_f16")
    except (OSError, AttributeError, ValueError):
        return None
    return np.ctypeslib.as_array(raw).copy().view(np.float16).astype(np.float64)


def ggml_gelu(table):
    """ggml's CPU GELU (GGML_GELU_FP16) with this table: x rounded to float16 indexes it when -10 < x < 10; x <= -10
    gives 0 and x >= 10 gives x."""
    def gelu(x):
        x32 = np.asarray(x, dtype=np.float32)
        with np.errstate(over="ignore"):
            looked_up = table[x32.astype(np.float16).view(np.uint16)]
        return np.where(x32 <= -10, 0.0, np.where(x32 >= 10, x32.astype(np.float64), looked_up))
    return gelu


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_erf(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def numpy_gemma3(w, c, ids, sliding_window=True, sandwich_norms=True, embed_scale=True, norm_offset=True,
                 qk_norm=True, rope_scaling="full_attention", local_base=True, gelu="tanh", softcap=None,
                 attn_softcap=None):
    """(logits, hidden_last) [T, vocab], [T, hidden] of Gemma3ForCausalLM in float64, transformers' math:
    embeddings x sqrt(hidden); per layer h += post_attention_layernorm(attn(input_layernorm(h))),
    h += post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h))); RMSNorm(x) * (1 + w); per-head q_norm /
    k_norm before rotate-half RoPE (sliding layers: rope_local_base_freq, unscaled; full layers: rope_theta with
    positions / factor); scores x query_pre_attn_scalar^-0.5, causal, plus the window (key j visible to query i
    iff i - j < sliding_window) on sliding layers; GQA; mlp = down(gelu_tanh(gate x) * up x); final norm; tied
    LM head; cap * tanh(logits / cap) when `softcap`; cap * tanh(scores / cap) on the scaled scores, before the
    mask, when `attn_softcap` (Gemma 2's attn_logit_softcapping; scripts/make-gemma2-fixture.py).
    The keywords leave features out (what a runtime that missed them would compute): sliding_window=False (all
    layers full causal), sandwich_norms=False (no post-attention / post-feedforward norms), embed_scale=False,
    norm_offset=False (RMSNorm x w), qk_norm=False, rope_scaling "all_layers" / "none", local_base=False (rope_theta
    on every layer); gelu "tanh" (transformers), "erf" (exact GELU) or a function (e.g. ggml_gelu(table))."""
    n_head, n_kv, d = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    eps, T, offset = c["rms_norm_eps"], len(ids), 1.0 if norm_offset else 0.0
    act = gelu if callable(gelu) else {"tanh": gelu_tanh, "erf": gelu_erf}[gelu]

    def norm(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * (offset + g)

    def rotation(theta, divisor):
        inv = theta ** (-np.arange(0, d, 2, dtype=np.float64) / d)
        angle = (np.arange(T, dtype=np.float64) / divisor)[:, None] * inv[None]
        return np.tile(np.cos(angle), 2)[:, None], np.tile(np.sin(angle), 2)[:, None]

    factor = c["rope_scaling"]["factor"] if c.get("rope_scaling") and rope_scaling != "none" else 1.0
    tables = {
        "full_attention": rotation(c["rope_theta"], factor),
        "sliding_attention": rotation(c["rope_local_base_freq"] if local_base else c["rope_theta"],
                                      factor if rope_scaling == "all_layers" else 1.0),
    }
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    masks = {"full_attention": np.where(j <= i, 0.0, -np.inf),
             "sliding_attention": np.where((j <= i) & ((i - j < c["sliding_window"]) | (not sliding_window)),
                                           0.0, -np.inf)}
    scale = c["query_pre_attn_scalar"] ** -0.5

    h = w["model.embed_tokens.weight"][ids] * (math.sqrt(c["hidden_size"]) if embed_scale else 1.0)
    for layer, kind in enumerate(c["layer_types"]):
        p = f"model.layers.{layer}."
        cos, sin = tables[kind]

        def rope(x):
            return x * cos + np.concatenate([-x[..., d // 2:], x[..., :d // 2]], -1) * sin

        x = norm(h, w[p + "input_layernorm.weight"])
        q = (x @ w[p + "self_attn.q_proj.weight"].T).reshape(T, n_head, d)
        k = (x @ w[p + "self_attn.k_proj.weight"].T).reshape(T, n_kv, d)
        v = (x @ w[p + "self_attn.v_proj.weight"].T).reshape(T, n_kv, d)
        if qk_norm:
            q, k = norm(q, w[p + "self_attn.q_norm.weight"]), norm(k, w[p + "self_attn.k_norm.weight"])
        q, k = rope(q), rope(k)
        heads = []
        for head in range(n_head):
            g = head // (n_head // n_kv)
            s = q[:, head] @ k[:, g].T * scale
            if attn_softcap:
                s = attn_softcap * np.tanh(s / attn_softcap)
            s = s + masks[kind]
            s = np.exp(s - s.max(-1, keepdims=True))
            heads.append((s / s.sum(-1, keepdims=True)) @ v[:, g])
        a = np.concatenate(heads, -1) @ w[p + "self_attn.o_proj.weight"].T
        h = h + (norm(a, w[p + "post_attention_layernorm.weight"]) if sandwich_norms else a)
        x = norm(h, w[p + "pre_feedforward_layernorm.weight"])
        gate, up = x @ w[p + "mlp.gate_proj.weight"].T, x @ w[p + "mlp.up_proj.weight"].T
        m = (act(gate) * up) @ w[p + "mlp.down_proj.weight"].T
        h = h + (norm(m, w[p + "post_feedforward_layernorm.weight"]) if sandwich_norms else m)
    hidden = norm(h, w["model.norm.weight"])
    logits = hidden @ w["model.embed_tokens.weight"].T
    if softcap:
        logits = softcap * np.tanh(logits / softcap)
    return logits, hidden


GELU_METHOD = ("the same pass with ggml's CPU GELU: x rounded to float16 indexes a float16 table of the float32 "
               "tanh-GELU (GGML_GELU_FP16; |x| >= 10 bypasses it)")


def ggml_gelu_table(llama_cpp):
    """(ggml's GELU table: libggml-cpu's own when it can be read, else the numpy recomputation; where it came from;
    how many finite entries libggml-cpu's differs from the recomputation in, None without libggml-cpu's)."""
    table, lib_table = gelu_table_numpy(), gelu_table_libggml(llama_cpp)
    if lib_table is None:
        return table, "numpy recomputation", None
    diffs = int(np.sum((lib_table != table) & np.isfinite(table)))
    return lib_table, "libggml-cpu.so's own ggml_table_gelu_f16 (after ggml_cpu_init, via ctypes)", diffs


def gelu_jitter(forward, table, exact, emulated):
    """The GELU table is a step function: a float32-sized change of a GELU input that crosses a float16 rounding
    boundary moves that output by a float16 step. Measured: JITTER_RUNS passes `forward(gelu)` (-> logits, hidden)
    with every GELU input multiplied by 1 + JITTER N(0,1) (numpy default_rng(SEED + 1)), with the table GELU and
    with the exact one, against the unjittered passes `emulated` and `exact`: the max |Δlogit| lists."""
    rng = np.random.default_rng(SEED + 1)

    def jittered(gelu):
        return lambda x: gelu(np.asarray(x) * (1.0 + JITTER * rng.standard_normal(np.shape(x))))

    table_jitter = [max_abs(forward(jittered(ggml_gelu(table)))[0], emulated[0]) for _ in range(JITTER_RUNS)]
    smooth_jitter = [max_abs(forward(jittered(gelu_tanh))[0], exact[0]) for _ in range(JITTER_RUNS)]
    return table_jitter, smooth_jitter


def jitter_info(table_jitter, smooth_jitter):
    """ref.json's record of gelu_jitter."""
    return {
        "method": f"{JITTER_RUNS} runs with every GELU input multiplied by 1 + {JITTER} N(0,1) (float32 "
                  f"rounding size, numpy default_rng({SEED + 1})): max |Δlogit| against the unjittered pass",
        "table_gelu_max_abs_logit_diff": table_jitter,
        "exact_gelu_max_abs_logit_diff": smooth_jitter,
        "reading": "the table turns float32-sized input differences into float16-sized output steps where "
                   "an input sits near a float16 rounding boundary; that is the size of what is left "
                   "between the emulated pass and libllama (whose float32 gate values differ from the "
                   "float64 pass's in the last bits)",
    }


def effect(variant, reference):
    """How far a left-out feature moves the outputs: max and rms |Δlogit|, argmax agreement, max |Δhidden|, and the
    positions whose logits move by more than 1e-6."""
    (vl, vh), (rl, rh) = variant, reference
    moved = np.nonzero(np.max(np.abs(vl - rl), axis=-1) > 1e-6)[0]
    return {
        "max_abs_logit_diff": max_abs(vl, rl),
        "rms_logit_diff": float(np.sqrt(np.mean((vl - rl) ** 2))),
        "argmax_agree_positions": int(np.sum(vl.argmax(-1) == rl.argmax(-1))),
        "max_abs_hidden_last_diff": max_abs(vh, rh),
        "positions_moved": int(moved.size),
        "first_position_moved": int(moved[0]) if moved.size else None,
    }


def top2_margins(logits):
    """Per position, the gap between the largest and the second-largest logit (how safe an argmax check is)."""
    top = np.sort(logits, axis=-1)
    return [float(m) for m in top[:, -1] - top[:, -2]]


def agreement(ours, llama_logits, llama_hidden):
    (logits, hidden) = ours
    return {
        "max_abs_logit_diff": max_abs(logits, llama_logits),
        "rms_logit_diff": float(np.sqrt(np.mean((logits - llama_logits) ** 2))),
        "max_abs_hidden_last_diff": max_abs(hidden, llama_hidden),
        "argmax_agree_positions": int(np.sum(logits.argmax(-1) == llama_logits.argmax(-1))),
    }


# --- driver ---------------------------------------------------------------------------------------------------

def main():
    args, llama_cpp, commit = rope.parse_arguments(NAME, "gemma3-fixture", say)

    say(rebuild.rebuild(MODELS, "tiny-llama", "f32", False, False, {}))
    base_ref = json.load(open(os.path.join(TOKENIZER_FROM, "ref.json"), encoding="utf-8"))
    base_config = json.load(open(os.path.join(TOKENIZER_FROM, "hf", "config.json"), encoding="utf-8"))
    tok_gguf = os.path.join(TOKENIZER_FROM, "f32.gguf")
    hf_dir = os.path.join(OUT, "hf")
    os.makedirs(hf_dir, exist_ok=True)
    os.makedirs(os.path.join(OUT, "gguf-skeletons"), exist_ok=True)

    # 1. configs and tokenizer.
    config = dict(CONFIG)
    for key in ("bos_token_id", "eos_token_id", "vocab_size"):
        assert config[key] == base_config[key], key
    assert "pad_token_id" not in base_config
    softcap_config = dict(config, final_logit_softcapping=SOFTCAP)
    qwen3.write_config(NAME, config)
    qwen3.write_config(NAME, softcap_config, "config-softcap.json")
    for name in COPIED_TOKENIZER_FILES:
        qwen3.copy_file(os.path.join(TOKENIZER_FROM, "hf", name), os.path.join(hf_dir, name))
    with open(os.path.join(TOKENIZER_FROM, "hf", "tokenizer.model"), "rb") as f:
        sp_model, had_dummy_prefix = without_dummy_prefix(f.read())
    assert had_dummy_prefix, "tiny-llama's tokenizer.model was expected to add a dummy prefix"
    rebuild.write_atomically(os.path.join(hf_dir, "tokenizer.model"), sp_model)
    llama_tok = json.load(open(os.path.join(TOKENIZER_FROM, "hf", "tokenizer.json"), encoding="utf-8"))
    write_json(os.path.join(hf_dir, "tokenizer.json"), gemma_tokenizer_json(llama_tok), indent=2)
    llama_tok_config = json.load(open(os.path.join(TOKENIZER_FROM, "hf", "tokenizer_config.json"), encoding="utf-8"))
    tok_config = gemma_tokenizer_config(llama_tok_config)
    write_json(os.path.join(hf_dir, "tokenizer_config.json"), tok_config, indent=2)
    pieces = sentencepiece_pieces(sp_model)
    assert len(pieces) == config["vocab_size"], len(pieces)
    vocab = converter_vocab(pieces, tok_config, config["vocab_size"])

    # 2. weights.
    weights = qwen3.random_weights(config, SEED, MATRIX_SCALE, NORM_SCALE, norm_offset=0.0,
                                   extra_layer_norms=EXTRA_LAYER_NORMS)
    n_params = qwen3.save_weights(os.path.join(hf_dir, "model.safetensors"), weights, say)

    # 3. GGUFs.
    ggufs = {"f32": config, "softcap": softcap_config}
    summaries = {}
    for stem, c in ggufs.items():
        path = os.path.join(OUT, f"{stem}.gguf")
        names, total = write_gguf(path, c, weights, hf_dir, vocab)
        assert total == n_params, (total, n_params)
        summaries[stem] = check_gguf(path, c, weights, names, tok_gguf)
        kv = summaries[stem][0]
        say(f"{rel(path)}: {os.path.getsize(path):,} bytes, {len(summaries[stem][1])} tensors, size label "
            f"{kv['general.size_label'][1]}, checked with GGUFReader (tokenizer arrays = tiny-llama/f32.gguf's)")
    kv_f32, kv_cap = summaries["f32"][0], summaries["softcap"][0]
    assert {k: v for k, v in kv_cap.items() if k != "gemma3.final_logit_softcapping"} == kv_f32
    assert summaries["f32"][1] == summaries["softcap"][1]

    # 4. skeletons: ref.json must record the GGUFs' and the source's sha256 first (make() checks them).
    made_by = ("scripts/make-gemma3-fixture.py: gguf-py 0.19.0 GGUFWriter, as convert_hf_to_gguf.py --outtype f32 "
               "(llama.cpp 0c1e57098, Gemma3Model) writes hf/{}: tensors in sorted HF name order, all F32, not "
               "permuted, every *norm.weight + 1, no output.weight (tied); tokenizer.* keys from _set_vocab_"
               "sentencepiece + SpecialVocab + add_space_prefix false")
    gguf_info = {
        "f32.gguf": {"made_by": made_by.format("")},
        "softcap.gguf": {"made_by": made_by.format(" with config-softcap.json"),
                         "differs_from_f32.gguf": f"only gemma3.final_logit_softcapping = {SOFTCAP} (float32), "
                                                  f"after general.file_type"},
    }
    for name in gguf_info:
        gguf_info[name].update(file_entry(os.path.join(OUT, name)))
    write_json(os.path.join(OUT, "ref.json"), {
        "gguf": gguf_info,
        "files": {n: file_entry(os.path.join(OUT, n))
                  for n in ("f32.gguf", "softcap.gguf", "hf/model.safetensors")}}, 1)
    for stem in ggufs:
        out, header_bytes = skeletons.make(MODELS, NAME, stem)
        say(f"{rel(out)}: {os.path.getsize(out):,} bytes (header {header_bytes:,}), round trip verified")

    # 5. llama.cpp: the tokenizer check, the harness check, then the two GGUFs.
    with tempfile.TemporaryDirectory(prefix="gemma3-fixture-") as work:
        tok_exe = rope.build_harness(llama_cpp, args.cc, work, TOKENIZE_HARNESS)
        tokenizer_check, ids = check_tokenizer(tok_exe, llama_cpp, os.path.join(OUT, "f32.gguf"), hf_dir, work,
                                               "gemma3-fixture", say)
        exe = rope.build_harness(llama_cpp, args.cc, work)
        harness_check, _, _ = rope.check_harness(exe, llama_cpp, "tiny-llama", base_ref["input_ids"], work,
                                                 "gemma3-fixture", say)
        outputs = llama_cpp_runs(exe, llama_cpp, {stem: os.path.join(OUT, f"{stem}.gguf") for stem in ggufs}, ids,
                                 work, "gemma3-fixture", say)
    if not np.array_equal(outputs["f32"]["hidden"], outputs["softcap"]["hidden"]):
        sys.exit("gemma3-fixture: the softcap changed libllama's hidden_last (it should only touch the logits)")

    # 6. the llama.cpp reference.
    T = len(ids)
    input_ids = np.array([ids], dtype=np.int64)
    llama_tensors = {"input_ids": input_ids}
    for stem, prefix in (("f32", ""), ("softcap", "softcap.")):
        llama_tensors[prefix + "logits.f32"] = np.ascontiguousarray(outputs[stem]["logits"], dtype=np.float32)
        llama_tensors[prefix + "hidden_last.f32"] = np.ascontiguousarray(outputs[stem]["hidden"], dtype=np.float32)
    rope.write_llama_reference(os.path.join(OUT, "ref-llama-cpp.safetensors"), llama_tensors)

    # 7. the independent float64 pass, its ggml-GELU twin, and every feature left out.
    w64 = {k: v.astype(np.float64) for k, v in weights.items()}
    ref = numpy_gemma3(w64, config, ids)
    ref_cap = numpy_gemma3(w64, config, ids, softcap=SOFTCAP)
    table, table_source, table_diffs = ggml_gelu_table(llama_cpp)
    ggml = numpy_gemma3(w64, config, ids, gelu=ggml_gelu(table))
    ggml_cap = numpy_gemma3(w64, config, ids, gelu=ggml_gelu(table), softcap=SOFTCAP)
    table_jitter, smooth_jitter = gelu_jitter(lambda gelu: numpy_gemma3(w64, config, ids, gelu=gelu), table, ref,
                                              ggml)
    llama = {stem: (outputs[stem]["logits"][0], outputs[stem]["hidden"][0]) for stem in ggufs}
    features = {
        "no_sliding_window": ("every layer full causal attention (sliding_window / layer_types ignored)",
                              dict(sliding_window=False)),
        "no_sandwich_norms": ("no post_attention_layernorm / post_feedforward_layernorm on the sublayer outputs",
                              dict(sandwich_norms=False)),
        "no_embedding_scale": ("embeddings not multiplied by sqrt(hidden_size) = 8", dict(embed_scale=False)),
        "no_norm_offset": ("every RMSNorm multiplies by w instead of (1 + w)", dict(norm_offset=False)),
        "rope_scaling_all_layers": ("linear scaling (positions / 8) on the sliding layers too",
                                    dict(rope_scaling="all_layers")),
        "no_rope_scaling": ("rope_scaling ignored (the full-attention layer unscaled)", dict(rope_scaling="none")),
        "one_rope_base": ("rope_theta 1e6 on the sliding layers too (rope_local_base_freq ignored)",
                          dict(local_base=False)),
        "no_qk_norm": ("q_norm / k_norm skipped", dict(qk_norm=False)),
        "erf_gelu": ("exact (erf) GELU instead of gelu_pytorch_tanh", dict(gelu="erf")),
    }
    left_out = {}
    for key, (note, kw) in features.items():
        left_out[key] = dict(note=note, **effect(numpy_gemma3(w64, config, ids, **kw), ref))
    left_out["no_softcap"] = dict(note=f"softcap.gguf / config-softcap.json without the final {SOFTCAP} * tanh(logits "
                                       f"/ {SOFTCAP}): the softcap's own effect", **effect(ref, ref_cap))
    numpy_check = {
        "method": "float64 numpy forward pass of hf/model.safetensors with transformers' Gemma3ForCausalLM math: "
                  "embeddings x 8 (sqrt(hidden)); per layer h += post_attention_layernorm(attn(input_layernorm(h))), "
                  "h += post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h))); RMSNorm(x) * (1 + w), eps "
                  "1e-6; per-head q_norm / k_norm before rotate-half RoPE (sliding layers 0-4: theta 1e4, "
                  "unscaled; full layer 5: theta 1e6, positions / 8); scores x 48^-0.5; causal mask, plus key j "
                  "visible to query i only if i - j < 8 on the sliding layers; GQA 2/1; mlp = down(gelu_tanh(gate "
                  "x) * up x); final norm; LM head = embed_tokens (tied); softcap variant 1.5 * tanh(logits / 1.5)",
        "vs_llama_cpp": agreement(ref, *llama["f32"]),
        "softcap_vs_llama_cpp": agreement(ref_cap, *llama["softcap"]),
        "ggml_gelu_emulated": {
            "method": GELU_METHOD,
            "table": table_source,
            "table_entries_differing_from_numpy_recomputation": table_diffs,
            "vs_llama_cpp": agreement(ggml, *llama["f32"]),
            "softcap_vs_llama_cpp": agreement(ggml_cap, *llama["softcap"]),
            "vs_exact_float64": effect(ggml, ref),
            "jitter": jitter_info(table_jitter, smooth_jitter),
        },
        "min_top2_logit_margin": min(top2_margins(ref[0])),
        "softcap_min_top2_logit_margin": min(top2_margins(ref_cap[0])),
        "top2_logit_margins": top2_margins(ref[0]),
        "softcap_top2_logit_margins": top2_margins(ref_cap[0]),
        "top2_note": "argmax checks against libllama are only safe where the margin exceeds the tolerance",
        "logit_scale_rms": float(np.sqrt(np.mean(ref[0] ** 2))),
        "logit_max_abs": float(np.max(np.abs(ref[0]))),
        "softcap_logit_scale_rms": float(np.sqrt(np.mean(ref_cap[0] ** 2))),
        "hidden_last_scale_rms": float(np.sqrt(np.mean(ref[1] ** 2))),
        "float32_rounding": {
            "max_abs_logit_diff_ref_vs_llama_cpp": max_abs(ref[0].astype(np.float32), llama["f32"][0]),
            "max_abs_hidden_last_diff_ref_vs_llama_cpp": max_abs(ref[1].astype(np.float32), llama["f32"][1]),
        },
        "left_out_features": left_out,
        "note": "query_pre_attn_scalar = head_dim = 48 here, so 1/sqrt(query_pre_attn_scalar) and llama.cpp's "
                "1/sqrt(head_dim) coincide; the fixture does not tell them apart",
    }
    say(f"numpy float64 vs libllama: {numpy_check['vs_llama_cpp']}; softcap {numpy_check['softcap_vs_llama_cpp']}")
    say(f"with ggml's GELU table ({table_source}, {table_diffs} entries differ from numpy's): "
        f"{numpy_check['ggml_gelu_emulated']['vs_llama_cpp']}; softcap "
        f"{numpy_check['ggml_gelu_emulated']['softcap_vs_llama_cpp']}")
    say(f"jitter {JITTER}: table GELU moves the logits by up to {max(table_jitter):.3g}, exact GELU by "
        f"{max(smooth_jitter):.3g}")
    for key, e in left_out.items():
        say(f"left out {key}: max |Δlogit| {e['max_abs_logit_diff']:.4g}, rms {e['rms_logit_diff']:.3g}, argmax "
            f"{e['argmax_agree_positions']}/{T}, max |Δhidden| {e['max_abs_hidden_last_diff']:.4g}, positions moved "
            f"{e['positions_moved']} from {e['first_position_moved']}")
    worst = max(numpy_check[k][m] for k in ("vs_llama_cpp", "softcap_vs_llama_cpp")
                for m in ("max_abs_logit_diff", "max_abs_hidden_last_diff"))
    worst_emulated = max(numpy_check["ggml_gelu_emulated"][k][m] for k in ("vs_llama_cpp", "softcap_vs_llama_cpp")
                         for m in ("max_abs_logit_diff", "max_abs_hidden_last_diff"))
    if worst > NUMPY_TOLERANCE:
        sys.exit(f"gemma3-fixture: the numpy forward pass disagrees with libllama by {worst} > {NUMPY_TOLERANCE}")
    if worst_emulated > min(EMULATED_TOLERANCE, worst / 2):
        sys.exit(f"gemma3-fixture: with ggml's GELU emulated the pass still disagrees with libllama by "
                 f"{worst_emulated}")
    weak = [k for k, e in left_out.items() if k not in ("erf_gelu", "no_softcap")
            and e["max_abs_logit_diff"] <= MIN_FEATURE_EFFECT]
    if weak:
        sys.exit(f"gemma3-fixture: leaving out {weak} changes the logits too little")
    if left_out["no_softcap"]["max_abs_logit_diff"] <= MIN_SOFTCAP_EFFECT:
        sys.exit("gemma3-fixture: the softcap changes the logits too little")
    ref_tensors = {"input_ids": input_ids, "logits": ref[0][None].astype(np.float32),
                   "hidden_last": ref[1][None].astype(np.float32),
                   "softcap.logits": ref_cap[0][None].astype(np.float32)}
    assert np.array_equal(ref[1], ref_cap[1])
    rebuild.write_atomically(os.path.join(OUT, "ref.safetensors"),
                             save(ref_tensors, metadata={"generator": "scripts/make-gemma3-fixture.py: float64 numpy "
                                                                      "forward pass, rounded to float32"}))

    # 8. ref.json.
    files = {}
    for name in (["f32.gguf", "gguf-skeletons/f32.skeleton", "gguf-skeletons/softcap.skeleton"]
                 + [f"hf/{n}" for n in sorted(COPIED_TOKENIZER_FILES + DERIVED_TOKENIZER_FILES + [
                     "config.json", "config-softcap.json", "model.safetensors"])]
                 + ["ref-llama-cpp.safetensors", "ref.safetensors", "softcap.gguf"]):
        files[name] = file_entry(os.path.join(OUT, name))
    for stem, c in ggufs.items():
        kv, tensors = summaries[stem]
        gguf_info[f"{stem}.gguf"].update({
            "metadata": {k: v[1] for k, v in kv.items() if k not in ("tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                                                                      "tokenizer.ggml.token_type")},
            "metadata_types": {k: "/".join(v[0]) for k, v in kv.items()},
            "tokenizer_arrays": "tokenizer.ggml.tokens / scores / token_type: 512 entries each, equal to "
                                "tiny-llama/f32.gguf's (which convert_hf_to_gguf.py wrote from the same pieces)",
            "type_counts": {"F32": len(tensors)},
            "tensor_shapes_ggml": {n: shape for n, _, shape, _ in tensors},
            "tensor_sources": {n: (s + " + 1" if s.endswith("norm.weight") else s)
                               for n, s in zip(qwen3.expected_gguf_names(c, LAYER_TENSORS), sorted(weights))},
        })
    bos = config["bos_token_id"]
    ref_json = {
        "model": NAME,
        "description": "tiny random-weight Gemma3ForCausalLM (text): sliding-window attention on 5 of 6 layers "
                       "(window 8), separate RoPE bases (1e4 sliding, 1e6 full) with linear scaling x8 on the "
                       "full layer only, sandwich norms, (1 + w) RMSNorm, embeddings x sqrt(hidden), per-head "
                       "q/k norms, head_dim 48 != hidden / heads, GELU-tanh GLU, tied embeddings; a softcap variant. "
                       "tiny-llama's SentencePiece vocabulary made Gemma-style (no dummy prefix)",
        "text": TEXT,
        "input_ids": ids,
        "T": T,
        "tokenizer": {
            "type": "sentencepiece-bpe (byte fallback), Gemma-style: no dummy prefix",
            "adds_bos": True,
            "bos_token_id": bos,
            "eos_token_id": config["eos_token_id"],
            "vocab_size": config["vocab_size"],
            "reference_tokenizer": "tokenizers (hf/tokenizer.json) and libllama (f32.gguf), equal ids",
            "derived_from": "tiny-llama/hf: tokenizer.model with normalizer_spec.add_dummy_prefix cleared; "
                            "tokenizer.json with transformers' GemmaConverter normalizer / pre_tokenizer / decoder; "
                            "tokenizer_config.json with tokenizer_class GemmaTokenizer, no add_prefix_space / legacy; "
                            "special_tokens_map.json and generation_config.json unchanged",
            "tokenizer_json_pipeline": {k: gemma_tokenizer_json(llama_tok)[k] for k in ("normalizer", "pre_tokenizer",
                                                                                          "post_processor", "decoder")},
            "check": tokenizer_check,
        },
        "config": qwen3.config_info(
            config, ("model_type", "architectures", "vocab_size", "hidden_size", "intermediate_size",
                     "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
                     "query_pre_attn_scalar", "layer_types", "sliding_window", "sliding_window_pattern",
                     "max_position_embeddings", "rope_theta", "rope_local_base_freq", "rope_scaling", "rms_norm_eps",
                     "hidden_activation", "final_logit_softcapping", "attn_logit_softcapping", "attention_bias",
                     "bos_token_id", "eos_token_id", "pad_token_id"), n_params,
            tie_word_embeddings=True,
            tie_word_embeddings_note="not in config.json: Gemma3TextConfig's default (true) equals "
                                     "PretrainedConfig's, so transformers leaves it out",
            softcap_variant={"file": "hf/config-softcap.json", "final_logit_softcapping": SOFTCAP},
            embedding_scale=math.sqrt(config["hidden_size"]),
            attention_scale=config["query_pre_attn_scalar"] ** -0.5),
        **qwen3.weights_info(weights, SEED, MATRIX_SCALE, NORM_SCALE,
                             f"every norm weight (input_layernorm, post_attention_layernorm, "
                             f"pre_feedforward_layernorm, post_feedforward_layernorm, self_attn.q_norm, "
                             f"self_attn.k_norm, model.norm) {NORM_SCALE} * N(0,1): the offset, Gemma's RMSNorm "
                             f"scales by (1 + weight); the GGUFs store 1 + weight"),
        "ref_safetensors_keys": {"ref.safetensors": rope.tensor_keys(ref_tensors),
                                 "ref-llama-cpp.safetensors": rope.tensor_keys(llama_tensors)},
        "llama_cpp": rope.llama_cpp_info(
            T, "each GGUF run twice with bit-identical outputs", harness_check,
            runs={f"{stem}.gguf": {k: outputs[stem][k] for k in ("freq_scale_train", "rope_log", "rope_metadata_log",
                                                                  "warnings")}
                  for stem in ggufs},
            warnings_note=WARNINGS_NOTE,
            softcap_hidden_last_equal=True,
            runtime_notes="gemma3 in llama.cpp: layer il is sliding iff il % 6 < 5 (default pattern 6; the GGUF "
                          "has no attention.sliding_window_pattern key), sliding layers use rope.freq_base_swa "
                          "with scale 1 (rope scaling only on the others), attention scale 1/sqrt(head_dim) "
                          "(query_pre_attn_scalar is not read), GELU through ggml's float16 table"),
        "numpy_check": numpy_check,
        "gguf": gguf_info,
        "made_by": "scripts/make-gemma3-fixture.py (configs, tokenizer files, weights, GGUFs, skeletons via "
                   "scripts/make-gguf-skeletons.py's make, ref.safetensors), scripts/llama-cpp-logits.c "
                   "(ref-llama-cpp.safetensors), scripts/llama-cpp-tokenize.c (the tokenizer check)",
        "files": files,
        "tools": dict(rope.tool_versions(args.cc, commit), tokenizers=metadata.version("tokenizers")),
    }
    rope.write_ref(OUT, NAME, ref_json, say)


if __name__ == "__main__":
    main()
