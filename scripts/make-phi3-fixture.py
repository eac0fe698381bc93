#!/usr/bin/env python3
"""Make Tests/Fixtures/models/tiny-phi3/: a tiny random-weight Phi-3, its GGUFs, and reference outputs.

Run by the fixtures' maintainer:

    scripts/make-phi3-fixture.py --llama-cpp DIR      (or LLAMA_CPP_DIR=DIR scripts/make-phi3-fixture.py)

It needs what scripts/make-gemma3-fixture.py needs (Python 3 with numpy, gguf 0.19.0, safetensors and tokenizers,
no torch or transformers; a C compiler; a built llama.cpp at commit 0c1e57098; tiny-llama's committed files and
its f32.gguf, rebuilt first if missing). It imports that script and reuses its helpers (SentencePiece pieces,
libllama tokenization, the feature-effect and agreement measures) and, through it, scripts/make-qwen3-fixture.py's
(random weights, config writer, the converter's tensors and general.* keys, ref.json parts),
scripts/make-rope-scaling-fixtures.py's (GGUF file writer, harness driver, GGUF summary, JSON and file-map writers,
command line, tool versions), scripts/make-gguf-skeletons.py's `make` and scripts/rebuild-gguf-fixtures.py's
atomic writer and hashes. scripts/make-smollm3-fixture.py reuses this script's three-way tokenizer check and libllama
runs (check_tokenizer, llama_cpp_run: their keywords default to this script's text, warnings and names).

What it does, in the folder Tests/Fixtures/models/tiny-phi3/:
  1. `hf/config.json`: Phi3ForCausalLM / phi3 with the bytes transformers 4.57.6 writes for this Phi3Config
     (sorted keys, indent 2): hidden 64, intermediate 96, 3 layers, 4 heads / 2 KV heads (GQA, as Phi-3-medium;
     head_dim 16 = hidden / heads, no head_dim key), vocab 512, max_position_embeddings 256,
     original_max_position_embeddings 256, rope_theta 1e4, rms_norm_eps 1e-5, silu, no rope_scaling,
     partial_rotary_factor 1, sliding_window 2047 (Phi-3-mini-4k's: wider than the input, so it changes nothing;
     llama.cpp disables it for phi3), tie_word_embeddings false (Phi-3 has an lm_head), bos 1 / eos 2, pad null.
     `hf/config-longrope.json`: the same model with Phi-3.5 / Phi-4-mini's features: partial_rotary_factor 0.75
     (12 of the 16 head dims rotate: 6 pairs) and rope_scaling {"type": "longrope", "short_factor": SHORT_FACTOR,
     "long_factor": LONG_FACTOR} with max_position_embeddings 1024 over original_max_position_embeddings 256
     (scale 4: attention factor sqrt(1 + ln 4 / ln 256)); the same weights. Why 256 and not a smaller original
     context: libllama rounds every context up to a multiple of 256 (llama_context: GGML_PAD(n_ctx, 256)) and picks
     the long factors iff that context exceeds rope.scaling.original_context_length, so with an original context
     below 256 it could never run the short ones. config.json also goes to Fuzz/corpus/hf-config/tiny-phi3.json (a
     fuzz seed). The tokenizer files (tokenizer.model, tokenizer.json, tokenizer_config.json,
     special_tokens_map.json, generation_config.json) are copied unchanged from tiny-llama/hf (Phi-3 uses the
     SentencePiece LlamaTokenizer).
  2. `hf/model.safetensors`: float32, Hugging Face names (fused `self_attn.qkv_proj` [q + 2 kv = 128, 64] and
     `mlp.gate_up_proj` [2 x 96, 64]: gate rows first, up rows second, as Phi3MLP's chunk(2)), `lm_head.weight`
     (untied), metadata {"format": "pt"}. numpy.random.default_rng(SEED) draws one standard_normal(shape) per
     tensor, in sorted name order; matrices are 0.0625 x that, every norm weight 1 + 0.2 x that (Phi-3's RMSNorm
     multiplies by the weight).
  3. `f32.gguf` and `longrope.gguf`: written with gguf-py's GGUFWriter the way llama.cpp's convert_hf_to_gguf.py
     (Phi3MiniModel, conversion/phi.py, at 0c1e57098) writes an `--outtype f32` conversion of hf/ (with
     config-longrope.json for the second). ModelBase.prepare_tensors runs before prepare_metadata and starts with
     Phi3MiniModel.generate_extra_tensors, so for longrope.gguf the first key after general.architecture is
     `phi3.rope.scaling.attn_factor` (float32) and the first two tensors are `rope_factors_long.weight` and
     `rope_factors_short.weight` (F32 [6], the config's lists); then the safetensors tensors in sorted name order
     renamed by gguf-py's phi3 name map (`lm_head` -> `output`, `qkv_proj` -> `attn_qkv`, `gate_up_proj` ->
     `ffn_up`, ...), all F32, not permuted (NEOX RoPE); then general.type, name (GENERAL_NAME, not the folder's:
     see there), size_label; the keys of
     Phi3MiniModel.set_gguf_parameters, which does not call TextModel's (context_length,
     rope.scaling.original_context_length, embedding_length, feed_forward_length, block_count, head_count,
     head_count_kv, layer_norm_rms_epsilon, rope.dimension_count (int(partial_rotary_factor x hidden) / heads),
     rope.freq_base, general.file_type, attention.sliding_window); quantization_version; then
     Phi3MiniModel.set_vocab's SentencePiece branch (tokenizer model "llama", pre "default", tokens / scores /
     token types as phi3_vocab reads them, gguf-py's SpecialVocab; no add_space_prefix key). The token arrays must
     equal the ones the converter wrote into tiny-llama/f32.gguf for the same files. Both files are read back with
     GGUFReader, checked, and git-ignored. (Checked once by hand, not by this script: the real converter, run on
     hf/ with --outtype f32 --no-lazy --model-name "Tiny Phi 3" and a numpy stand-in for its few eager torch calls,
     writes both files byte for byte; see the folder's README.)
  4. `gguf-skeletons/{f32,longrope}.skeleton` (scripts/make-gguf-skeletons.py's `make`: identity transforms, the
     LongRoPE factors inline), so scripts/rebuild-gguf-fixtures.py rebuilds both GGUFs byte for byte.
  5. compiles scripts/llama-cpp-logits.c and scripts/llama-cpp-tokenize.c against DIR. Tokenizer check: TEXT
     tokenized by the `tokenizers` library from hf/tokenizer.json, by libllama from f32.gguf and by libllama from
     tiny-llama/f32.gguf (the converter's) must give the same ids, with and without BOS; those ids (with BOS) are
     the model input. Harness check: tiny-llama/f32.gguf on tiny-llama's ids must reproduce its committed llama.cpp
     reference, with and without `--n-ctx 256`. Then, each run twice (bit-identical outputs required; libllama must
     log no warning but EXPECTED_WARNINGS): f32.gguf; longrope.gguf at the harness's n_ctx 256 (not above the
     original 256: libllama uses the SHORT factors); longrope.gguf with `--n-ctx LONG_N_CTX` (the LONG factors);
     and longrope.gguf with `--n-ctx 64`, which must give the n_ctx 256 run's outputs bit for bit (the rounding).
  6. `ref-llama-cpp.safetensors`: `input_ids` (int64 [1, T]), `logits.f32` [1, T, 512], `hidden_last.f32`
     [1, T, 64] (llama.cpp's `result_norm`), `longrope_short.logits.f32`, `longrope_short.hidden_last.f32`,
     `longrope_long.logits.f32`, `longrope_long.hidden_last.f32`, float32.
  7. an independent float64 numpy forward pass with transformers' Phi3ForCausalLM math (numpy_phi3): of hf/, and of
     hf/ with config-longrope.json with the short and with the long factors (transformers takes the long ones only
     for sequences longer than original_max_position_embeddings; causal attention makes its outputs at these T
     positions of any longer sequence that starts with these tokens equal to the long-factor pass). Each must
     match its libllama run to NUMPY_TOLERANCE. Every Phi-3 feature left out or swapped must move the logits by
     more than MIN_FEATURE_EFFECT. Its outputs, rounded to float32, are `ref.safetensors` (`input_ids`, `logits`,
     `hidden_last`, `longrope_short.*`, `longrope_long.*`).
  8. `ref.json`: text and ids, the tokenizer check, config summary, seed and scales, the checks' numbers, the
     GGUFs' metadata and tensors, provenance, tool versions, and the `files` map (size and sha256 of every data
     file of the folder; the rebuild script checks the GGUFs against it). README.md is written by hand and not in
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
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))


# The Gemma 3 fixture script: the SentencePiece, libllama-tokenizer and measuring helpers; through it the Qwen3 and
# RoPE-scaling fixture scripts' (weights, config writer, GGUF writer, harness, skeletons, files map, JSON writers).
_spec = importlib.util.spec_from_file_location("make_gemma3_fixture", os.path.join(HERE, "make-gemma3-fixture.py"))
gemma3 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gemma3)
qwen3, rope, rebuild, skeletons = gemma3.qwen3, gemma3.rope, gemma3.rebuild, gemma3.skeletons
write_json, file_entry, max_abs = rope.write_json, rope.file_entry, rope.max_abs
effect, agreement, top2_margins = gemma3.effect, gemma3.agreement, gemma3.top2_margins

REPO, MODELS = rope.REPO, rope.MODELS
NAME = "tiny-phi3"
OUT = os.path.join(MODELS, NAME)
TOKENIZER_FROM = os.path.join(MODELS, "tiny-llama")
TOKENIZER_FILES = ["generation_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer.model",
                   "tokenizer_config.json"]
PROG = "phi3-fixture"

SEED = qwen3.SEED                   # 0
MATRIX_SCALE = qwen3.MATRIX_SCALE   # 0.0625: matrices (embeddings and lm_head included)
NORM_SCALE = qwen3.NORM_SCALE       # 0.2: norm weights 1 + 0.2 N(0, 1)
# Spaces (single and double), a newline, digits, punctuation and non-ASCII letters (byte fallback); its ids (with
# BOS) are the model input: 27 of them.
TEXT = "Phi-3: 12 of 16.\nNaïve  café"
# LongRoPE factors of config-longrope.json (one per rotated pair, 6 = 12 / 2), shaped like Phi-3.5-mini's and
# Phi-4-mini's: short ones near 1, long ones growing over the pairs. Dyadic, so float32 holds them exactly (the
# converter's tensors and transformers' ext_factors are float32, the numpy pass float64: the same numbers).
SHORT_FACTOR = [1.0, 1.03125, 1.0625, 1.125, 1.1875, 1.25]
LONG_FACTOR = [1.0, 1.5, 3.0, 6.0, 11.0, 20.0]
LONG_N_CTX = 512          # the harness's --n-ctx for the long-factor run (> original_max_position_embeddings 256)
PADDED_N_CTX = 64         # asked for too: libllama rounds it up to 256, so it runs the short factors all the same
NUMPY_TOLERANCE = qwen3.NUMPY_TOLERANCE        # 1e-4: max |difference| float64 pass vs libllama (float32 model)
MIN_FEATURE_EFFECT = gemma3.MIN_FEATURE_EFFECT  # 0.05: max |Δlogit| each left-out or swapped feature must cause
# libllama's warnings that every run of the harness on these GGUFs gives: the pooling type the harness asks for
# (as for every model), and phi3's loader turning the sliding window off (llama_model_phi3::load_arch_hparams:
# attention.sliding_window > 0 -> "Phi SWA is currently disabled", swa_type NONE).
EXPECTED_WARNINGS = [
    "llama_init_from_model: model default pooling_type is [-1], but [0] was specified",
    "load_arch_hparams: Phi SWA is currently disabled - results might be suboptimal for some models (see "
    "https://github.com/ggml-org/llama.cpp/pull/13676)",
]
WARNINGS_NOTE = ("the pooling_type warning follows from the harness's pooling NONE (embeddings output); libllama "
                 "logs it for every model. The Phi SWA warning is phi3's loader ignoring attention.sliding_window "
                 "(2047 here, more than the input's length, so nothing changes). No warning about missing or unused "
                 "tensors.")

# As transformers 4.57.6 writes Phi3Config(vocab_size=512, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
# num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, original_max_position_embeddings=256,
# rope_theta=10000.0, rms_norm_eps=1e-5, hidden_act="silu", rope_scaling=None, partial_rotary_factor=1.0,
# sliding_window=2047, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=None,
# initializer_range=0.0625) with architectures ["Phi3ForCausalLM"] and dtype float32 (save_pretrained: sorted keys,
# indent 2). Phi3Config has no attention_bias or head_dim; tie_word_embeddings false is written because it differs
# from PretrainedConfig's default.
CONFIG = {
    "architectures": ["Phi3ForCausalLM"],
    "attention_dropout": 0.0,
    "bos_token_id": 1,
    "dtype": "float32",
    "embd_pdrop": 0.0,
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 64,
    "initializer_range": MATRIX_SCALE,
    "intermediate_size": 96,
    "max_position_embeddings": 256,
    "model_type": "phi3",
    "num_attention_heads": 4,
    "num_hidden_layers": 3,
    "num_key_value_heads": 2,
    "original_max_position_embeddings": 256,
    "pad_token_id": None,
    "partial_rotary_factor": 1.0,
    "resid_pdrop": 0.0,
    "rms_norm_eps": 1e-05,
    "rope_scaling": None,
    "rope_theta": 10000.0,
    "sliding_window": 2047,
    "tie_word_embeddings": False,
    "transformers_version": "4.57.6",
    "use_cache": True,
    "vocab_size": 512,
}
# The same with partial_rotary_factor=0.75, max_position_embeddings=1024 and rope_scaling={"type": "longrope",
# "short_factor": SHORT_FACTOR, "long_factor": LONG_FACTOR} (Phi3Config keeps "type"; its validation wants exactly
# these three keys and len(factors) = int(head_dim x partial_rotary_factor) / 2).
LONGROPE_CONFIG = dict(CONFIG, max_position_embeddings=1024, partial_rotary_factor=0.75,
                       rope_scaling={"long_factor": LONG_FACTOR, "short_factor": SHORT_FACTOR, "type": "longrope"})

# The converter's GGUF tensor names of a Phi-3 block, in the HF names' sorted order (input_layernorm,
# mlp.down_proj, mlp.gate_up_proj, post_attention_layernorm, self_attn.o_proj, self_attn.qkv_proj).
LAYER_TENSORS = ["attn_norm", "ffn_down", "ffn_up", "ffn_norm", "attn_output", "attn_qkv"]
ROPE_FACTOR_TENSORS = ["rope_factors_long.weight", "rope_factors_short.weight"]
# general.name of both GGUFs, as `convert_hf_to_gguf.py --model-name "Tiny Phi 3"` writes it (the folder name would
# not do): libllama's vocabulary loader lowercases general.name and, when it contains "phi3" or "phi-3", sets
# Phi-3's token attributes with token_to_id.at("<|endoftext|>"), which throws (the model fails to load) for a
# vocabulary without that token, such as tiny-llama's.
GENERAL_NAME = "Tiny Phi 3"


def say(text):
    print(f"{PROG}: {text}", flush=True)


def rel(path):
    return os.path.relpath(path, REPO)


# --- the model ------------------------------------------------------------------------------------------------

def head_dim(c):
    return c["hidden_size"] // c["num_attention_heads"]


def rope_dims(c):
    """Rotated dims per head: Phi3MiniModel's int(partial_rotary_factor x hidden) // heads (transformers'
    int(head_dim x partial_rotary_factor) gives the same here)."""
    n = int(c.get("partial_rotary_factor", 1.0) * c["hidden_size"]) // c["num_attention_heads"]
    assert n == int(head_dim(c) * c.get("partial_rotary_factor", 1.0)), n
    return n


def longrope_attention_factor(c):
    """LongRoPE's attention factor (transformers' _compute_longrope_parameters, the converter's attn_factor):
    sqrt(1 + ln(scale) / ln(original)), scale = max_position_embeddings / original_max_position_embeddings; 1 when
    the scale is not above 1."""
    original = c["original_max_position_embeddings"]
    scale = c["max_position_embeddings"] / original
    return math.sqrt(1 + math.log(scale) / math.log(original)) if scale > 1.0 else 1.0


def hf_shapes(c):
    """{Hugging Face tensor name: numpy shape} of Phi3ForCausalLM (fused qkv_proj and gate_up_proj, an lm_head)."""
    h, ff, d = c["hidden_size"], c["intermediate_size"], head_dim(c)
    q, kv = c["num_attention_heads"] * d, c["num_key_value_heads"] * d
    shapes = {"lm_head.weight": (c["vocab_size"], h), "model.embed_tokens.weight": (c["vocab_size"], h),
              "model.norm.weight": (h,)}
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        shapes.update({
            p + "input_layernorm.weight": (h,),
            p + "self_attn.qkv_proj.weight": (q + 2 * kv, h),
            p + "self_attn.o_proj.weight": (h, q),
            p + "post_attention_layernorm.weight": (h,),
            p + "mlp.gate_up_proj.weight": (2 * ff, h),
            p + "mlp.down_proj.weight": (h, ff),
        })
    return shapes


# --- tokenizer ------------------------------------------------------------------------------------------------

def phi3_vocab(pieces, hf_dir, vocab_size):
    """(tokens, scores, token types) as Phi3MiniModel.set_vocab builds them for a SentencePiece tokenizer: vocab_size
    `[PAD{i}]` entries (score -10000, UNUSED), filled with tokenizer.model's pieces (SentencePiece's type: unknown,
    control, unused, byte; anything else NORMAL); then added_tokens.json's (USER_DEFINED, -1000), then every
    tokenizer_config.json added_tokens_decoder entry and every tokenizer.json added_tokens entry: content as is,
    score -1000, CONTROL when special, else USER_DEFINED. (Unlike _create_vocab_sentencepiece it neither bounds-checks
    those ids nor pre-normalizes '▁' in user-defined tokens.)"""
    normal, unknown, control, user_defined, unused, byte = 1, 2, 3, 4, 5, 6
    assert len(pieces) <= vocab_size, (len(pieces), vocab_size)
    tokens = [f"[PAD{i}]".encode("utf-8") for i in range(vocab_size)]
    scores = [-10000.0] * vocab_size
    types = [unused] * vocab_size
    for i, (piece, score, kind) in enumerate(pieces):
        tokens[i], scores[i] = piece.encode("utf-8"), score
        types[i] = kind if kind in (unknown, control, unused, byte) else normal
    path = os.path.join(hf_dir, "added_tokens.json")
    if os.path.exists(path):
        for key, i in json.load(open(path, encoding="utf-8")).items():
            if i < vocab_size:
                tokens[i], scores[i], types[i] = key.encode("utf-8"), -1000.0, user_defined
    added = []
    path = os.path.join(hf_dir, "tokenizer_config.json")
    if os.path.exists(path):
        added += [(int(k), t) for k, t in json.load(open(path, encoding="utf-8")).get("added_tokens_decoder",
                                                                                        {}).items()]
    path = os.path.join(hf_dir, "tokenizer.json")
    if os.path.exists(path):
        added += [(int(t["id"]), t) for t in json.load(open(path, encoding="utf-8")).get("added_tokens", [])]
    for i, t in added:
        tokens[i], scores[i] = t["content"].encode("utf-8"), -1000.0
        types[i] = control if t.get("special") else user_defined
    return tokens, scores, types


def add_phi3_vocab(writer, hf_dir, vocab):
    """The tokenizer.* keys of Phi3MiniModel.set_vocab (tokenizer_config.json's class is not GPT2Tokenizer):
    model "llama", pre "default", the `vocab` phi3_vocab made, gguf-py's SpecialVocab of `hf_dir`."""
    tokens, scores, types = vocab
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    # SpecialVocab warns "Unknown separator token '<s>' in TemplateProcessing<pair>" (tiny-llama's pair template
    # uses BOS as the separator), as it does in the converter; it adds no sep token either way.
    with gemma3.quiet("gguf.vocab"):
        gguf.SpecialVocab(hf_dir, n_vocab=len(tokens)).add_to_gguf(writer, quiet=True)


# check_tokenizer's default note for ref.json (scripts/make-smollm3-fixture.py gives its own).
TOKENIZER_NOTE = ("tiny-llama's tokenizer files, unchanged: Llama-style SentencePiece with a dummy prefix ('▁' before "
                  "the first word; libllama's default add_space_prefix true, the GGUF has no such key, as the "
                  "converter's phi3 set_vocab writes none)")


def check_tokenizer(tok_exe, llama_cpp, model, hf_dir, workdir, text=TEXT, prog=PROG, say=say,
                    expected_warnings=EXPECTED_WARNINGS, note=TOKENIZER_NOTE, base="tiny-llama"):
    """`text` tokenized by the `tokenizers` library from `hf_dir`/tokenizer.json, by libllama from the GGUF `model`
    and by libllama from `base`/f32.gguf (tiny-llama's, which convert_hf_to_gguf.py wrote for the same tokenizer
    files) must give the same ids, with and without BOS, and libllama must log nothing but `expected_warnings`; the
    script `prog` exits otherwise. Returns (ref.json's record of the check, with `note`, the ids with BOS). The
    keywords default to this script's values; scripts/make-smollm3-fixture.py passes its own, and
    scripts/make-qwen3moe-fixture.py base tiny-qwen2 too."""
    hf_tok = Tokenizer.from_file(os.path.join(hf_dir, "tokenizer.json"))
    l_special, l_plain, tok_log = gemma3.llama_cpp_tokenize(tok_exe, llama_cpp, model, text, workdir)
    b_special, b_plain, base_log = gemma3.llama_cpp_tokenize(tok_exe, llama_cpp,
                                                             os.path.join(MODELS, base, "f32.gguf"), text, workdir)
    hf_special = hf_tok.encode(text).ids
    hf_plain = hf_tok.encode(text, add_special_tokens=False).ids
    check = {
        "text": text,
        "hf_tokenizers": {"library": f"tokenizers {metadata.version('tokenizers')}", "file": "hf/tokenizer.json",
                          "ids_with_special": hf_special, "ids_without_special": hf_plain,
                          "pieces": hf_tok.encode(text).tokens},
        "llama_cpp": {"method": f"scripts/llama-cpp-tokenize.c: llama_tokenize on {os.path.basename(model)} (vocab "
                                f"only), add_special true / false, parse_special false",
                      "ids_with_special": l_special, "ids_without_special": l_plain, "log": tok_log},
        f"llama_cpp_{base.replace('-', '_')}_f32": {"ids_with_special": b_special,
                                                    "ids_without_special": b_plain},
        "equal_with_special": hf_special == l_special == b_special,
        "equal_without_special": hf_plain == l_plain == b_plain,
        "hf_decode_round_trip": hf_tok.decode(hf_plain) == text,
        "note": note,
    }
    say(f"tokenizer check: HF {hf_special}\n  llama.cpp {l_special}\n  equal with / without BOS (HF, "
        f"{os.path.basename(model)}, {base}/f32.gguf) {check['equal_with_special']} / "
        f"{check['equal_without_special']}, HF decode round trip {check['hf_decode_round_trip']}")
    if not (check["equal_with_special"] and check["equal_without_special"]):
        sys.exit(f"{prog}: the Hugging Face tokenizer and libllama tokenize the text differently")
    unexpected = [line for line in tok_log + base_log if line not in expected_warnings]
    if unexpected:
        sys.exit(f"{prog}: libllama logged unexpected warnings while tokenizing: {unexpected}")
    return check, hf_special


# --- GGUF -----------------------------------------------------------------------------------------------------

def write_gguf(path, c, weights, hf_dir, vocab):
    """A GGUF as convert_hf_to_gguf.py --outtype f32 writes it for a Phi3ForCausalLM with config `c`, these float32
    weights and the tokenizer files of `hf_dir` (see the header). Returns the GGUF tensor names in order and the
    parameter count."""

    def fill(writer):
        # ModelBase.prepare_tensors: chain(generate_extra_tensors(), get_tensors()). Phi3MiniModel's
        # generate_extra_tensors writes the attention factor (the first key after general.architecture, since the
        # metadata comes after the tensors) and yields the LongRoPE factors, when the config has long factors.
        scaling = c.get("rope_scaling") or {}
        extra = []
        if scaling.get("long_factor"):
            assert scaling["type"] == "longrope", scaling
            assert len(scaling["long_factor"]) == len(scaling["short_factor"]) == rope_dims(c) // 2, scaling
            writer.add_rope_scaling_attn_factors(longrope_attention_factor(c))
            for name, key in zip(ROPE_FACTOR_TENSORS, ("long_factor", "short_factor")):
                writer.add_tensor(name, np.array(scaling[key], dtype=np.float32),
                                  raw_dtype=gguf.GGMLQuantizationType.F32)
                extra.append(name)
        # The safetensors tensors (TextModel.modify_tensors: gguf-py's phi3 names, data as is), prepare_metadata's
        # general.* keys (the size label counts the factor tensors too, as the converter's).
        names, total = qwen3.add_tensors_and_general(writer, gguf.MODEL_ARCH.PHI3, GENERAL_NAME, c, weights)
        # Phi3MiniModel.set_gguf_parameters (it does not call TextModel's).
        writer.add_context_length(c["max_position_embeddings"])
        writer.add_rope_scaling_orig_ctx_len(c["original_max_position_embeddings"])
        writer.add_embedding_length(c["hidden_size"])
        writer.add_feed_forward_length(c["intermediate_size"])
        writer.add_block_count(c["num_hidden_layers"])
        writer.add_head_count(c["num_attention_heads"])
        writer.add_head_count_kv(c["num_key_value_heads"])
        writer.add_layer_norm_rms_eps(c["rms_norm_eps"])
        writer.add_rope_dimension_count(rope_dims(c))
        writer.add_rope_freq_base(c["rope_theta"])
        writer.add_file_type(gguf.LlamaFileType.ALL_F32)
        writer.add_sliding_window(c.get("sliding_window") or 0)
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        # TextModel.prepare_metadata's set_vocab: Phi3MiniModel's SentencePiece branch.
        add_phi3_vocab(writer, hf_dir, vocab)
        return extra + names, total

    return rope.write_gguf_file(path, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.PHI3], fill)


def expected_metadata(c):
    """{key: value} in the converter's order (read back as GGUFReader gives them); None: checked separately."""
    f32 = lambda x: float(np.float32(x))  # noqa: E731
    a = "phi3."
    want = {"general.architecture": "phi3"}
    if (c.get("rope_scaling") or {}).get("long_factor"):
        want[a + "rope.scaling.attn_factor"] = f32(longrope_attention_factor(c))
    want.update({
        "general.type": "model", "general.name": GENERAL_NAME, "general.size_label": None,
        a + "context_length": c["max_position_embeddings"],
        a + "rope.scaling.original_context_length": c["original_max_position_embeddings"],
        a + "embedding_length": c["hidden_size"], a + "feed_forward_length": c["intermediate_size"],
        a + "block_count": c["num_hidden_layers"], a + "attention.head_count": c["num_attention_heads"],
        a + "attention.head_count_kv": c["num_key_value_heads"],
        a + "attention.layer_norm_rms_epsilon": f32(c["rms_norm_eps"]),
        a + "rope.dimension_count": rope_dims(c), a + "rope.freq_base": f32(c["rope_theta"]),
        "general.file_type": 0, a + "attention.sliding_window": c["sliding_window"],
        "general.quantization_version": 2,
        "tokenizer.ggml.model": "llama", "tokenizer.ggml.pre": "default",
        "tokenizer.ggml.tokens": None, "tokenizer.ggml.scores": None, "tokenizer.ggml.token_type": None,
        "tokenizer.ggml.bos_token_id": c["bos_token_id"], "tokenizer.ggml.eos_token_id": c["eos_token_id"],
        "tokenizer.ggml.unknown_token_id": 0, "tokenizer.ggml.add_bos_token": True,
        "tokenizer.ggml.add_sep_token": False, "tokenizer.ggml.add_eos_token": False,
    })
    return want


def expected_tensors(c, weights):
    """[(GGUF name, HF source or None, float32 data)] in the converter's order, spelled out independently of gguf-py's
    name map: the LongRoPE factors (longrope only), then the HF names' sorted order."""
    out = []
    scaling = c.get("rope_scaling") or {}
    if scaling.get("long_factor"):
        out += [(n, None, np.array(scaling[k], dtype=np.float32))
                for n, k in zip(ROPE_FACTOR_TENSORS, ("long_factor", "short_factor"))]
    names = (["output.weight", "token_embd.weight"]
             + [f"blk.{i}.{part}.weight" for i in range(c["num_hidden_layers"]) for part in LAYER_TENSORS]
             + ["output_norm.weight"])
    return out + [(n, s, weights[s]) for n, s in zip(names, sorted(weights))]


def check_gguf(path, c, weights, names, tokenizer_gguf):
    """Read a GGUF back with GGUFReader: metadata (order and values as expected_metadata gives them; the tokenizer
    arrays and special ids against tiny-llama/f32.gguf, which convert_hf_to_gguf.py wrote for the same tokenizer
    files), tensor names, types, shapes and data."""
    kv, tensors = rope.gguf_summary(path)
    want = expected_metadata(c)
    assert list(kv) == list(want), list(kv)
    for key, value in want.items():
        if value is not None:
            assert kv[key][1] == value, f"{key} = {kv[key]}, expected {value}"
    tok_kv, _ = rope.gguf_summary(tokenizer_gguf)
    for key in ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                "tokenizer.ggml.token_type", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_sep_token",
                "tokenizer.ggml.add_eos_token"):
        assert kv[key] == tok_kv[key], f"{key} differs from tiny-llama/f32.gguf's"
    want_tensors = expected_tensors(c, weights)
    assert names == [n for n, _, _ in want_tensors] == [t[0] for t in tensors], names
    for (name, kind, shape, digest), (_, _, data) in zip(tensors, want_tensors):
        assert kind == "F32" and shape == list(reversed(data.shape)), (name, kind, shape)
        assert digest == rebuild.sha256_bytes(np.ascontiguousarray(data, "<f4").tobytes()), name
    return kv, tensors


# --- llama.cpp ------------------------------------------------------------------------------------------------

def llama_cpp_run(exe, llama_cpp, path, ids, workdir, tag, n_ctx=None, prog=PROG, say=say,
                  expected_warnings=EXPECTED_WARNINGS):
    """The harness (exe: scripts/llama-cpp-logits.c) twice on `ids` with `path` (and --n-ctx `n_ctx` when given):
    bit-identical outputs and no libllama warning but `expected_warnings`, or the script `prog` exits. Returns
    {logits [1, T, vocab], hidden [1, T, hidden], freq_scale_train, rope_log, rope_metadata_log, warnings}. The
    keywords default to this script's values; scripts/make-smollm3-fixture.py passes its own."""
    logits, hidden, freq_scale, log = rope.harness_outputs_twice(exe, llama_cpp, path, ids, workdir, tag, prog,
                                                                 n_ctx=n_ctx)
    # The harness echoes libllama's lines that mention RoPE (print_info's, and the loader's metadata dump of the
    # rope.* keys) and every warning or error.
    rope_log, warnings, unexpected = rope.split_log(log, expected_warnings)
    rope_kv = [" ".join(line.split(":", 1)[1].split()) for line in log if line.startswith("llama_model_loader: - kv")]
    say(f"llama.cpp {tag} ({os.path.basename(path)}, n_ctx {n_ctx or 256}): freq_scale_train {freq_scale}, rope log "
        f"{rope_log}; warnings {warnings}")
    if unexpected:
        sys.exit(f"{prog}: libllama logged unexpected warnings or errors on {tag}: {unexpected}")
    return {"logits": logits, "hidden": hidden, "freq_scale_train": freq_scale, "rope_log": rope_log,
            "rope_metadata_log": rope_kv, "warnings": warnings}


# --- the independent float64 forward pass ---------------------------------------------------------------------

def numpy_phi3(w, c, ids, factors="short", attention_factor=None, rotary_dims=None, swap_gate_up=False,
               swap_kv=False, tied_head=False):
    """(logits, hidden_last) [T, vocab], [T, hidden] of Phi3ForCausalLM in float64, transformers' math: per layer
    h += o_proj(attn(input_layernorm(h))), h += down_proj(silu(gate) * up) of post_attention_layernorm(h), with
    gate, up = gate_up_proj(x).chunk(2) (gate rows first); RMSNorm(x) * w; qkv_proj(x) split as q (heads x d),
    k (kv_heads x d), v (kv_heads x d); RoPE rotate-half on the first `rotary_dims` = int(d x partial_rotary_factor)
    dims of each head only (the rest pass through), inv_freq = 1 / (ext_factors x theta^(arange(0, rd, 2) / rd)),
    cos and sin both x the attention factor; scores x d^-0.5, causal mask with the sliding window (key j visible to
    query i iff i - j < sliding_window: nothing at this length), GQA; final norm; LM head lm_head.weight.
    `factors`: "short" / "long" (the config's LongRoPE factors; without rope_scaling all 1), or a list;
    `attention_factor`: None = LongRoPE's (1 without rope_scaling), or a number. The other keywords are what a
    runtime that got a feature wrong would compute: rotary_dims (rotating more dims; list `factors` then), gate and
    up halves swapped, K and V slices swapped, the LM head tied to the embeddings."""
    n_head, n_kv, d = c["num_attention_heads"], c["num_key_value_heads"], head_dim(c)
    ff, eps, T = c["intermediate_size"], c["rms_norm_eps"], len(ids)
    rd = rope_dims(c) if rotary_dims is None else rotary_dims
    scaling = c.get("rope_scaling") or {}
    if isinstance(factors, str):
        ext = np.asarray(scaling[factors + "_factor"], dtype=np.float64) if scaling else np.ones(rd // 2)
    else:
        ext = np.asarray(factors, dtype=np.float64)
    assert ext.shape == (rd // 2,), ext.shape
    if attention_factor is None:
        attention_factor = longrope_attention_factor(c) if scaling else 1.0

    def norm(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    inv = 1.0 / (ext * c["rope_theta"] ** (np.arange(0, rd, 2, dtype=np.float64) / rd))
    angle = np.arange(T, dtype=np.float64)[:, None] * inv[None]
    cos = (np.tile(np.cos(angle), 2) * attention_factor)[:, None]
    sin = (np.tile(np.sin(angle), 2) * attention_factor)[:, None]

    def rope(x):
        r = x[..., :rd]
        rotated = r * cos + np.concatenate([-r[..., rd // 2:], r[..., :rd // 2]], -1) * sin
        return np.concatenate([rotated, x[..., rd:]], -1)

    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    window = c.get("sliding_window") or T + 1
    mask = np.where((j <= i) & (i - j < window), 0.0, -np.inf)
    q_w, kv_w = n_head * d, n_kv * d
    h = w["model.embed_tokens.weight"][ids]
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        x = norm(h, w[p + "input_layernorm.weight"])
        qkv = x @ w[p + "self_attn.qkv_proj.weight"].T
        q, k, v = qkv[:, :q_w], qkv[:, q_w:q_w + kv_w], qkv[:, q_w + kv_w:]
        if swap_kv:
            k, v = v, k
        q, k, v = q.reshape(T, n_head, d), k.reshape(T, n_kv, d), v.reshape(T, n_kv, d)
        q, k = rope(q), rope(k)
        heads = []
        for head in range(n_head):
            g = head // (n_head // n_kv)
            s = q[:, head] @ k[:, g].T * d ** -0.5 + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            heads.append((s / s.sum(-1, keepdims=True)) @ v[:, g])
        h = h + np.concatenate(heads, -1) @ w[p + "self_attn.o_proj.weight"].T
        x = norm(h, w[p + "post_attention_layernorm.weight"])
        gate_up = x @ w[p + "mlp.gate_up_proj.weight"].T
        gate, up = gate_up[:, :ff], gate_up[:, ff:]
        if swap_gate_up:
            gate, up = up, gate
        h = h + (gate / (1 + np.exp(-gate)) * up) @ w[p + "mlp.down_proj.weight"].T
    hidden = norm(h, w["model.norm.weight"])
    head_w = w["model.embed_tokens.weight"] if tied_head else w["lm_head.weight"]
    return hidden @ head_w.T, hidden


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
    config, long_config = dict(CONFIG), dict(LONGROPE_CONFIG)
    for key in ("bos_token_id", "eos_token_id", "vocab_size", "rope_theta", "rms_norm_eps"):
        assert config[key] == base_config[key], key
    assert "pad_token_id" not in base_config
    assert rope_dims(config) == head_dim(config) == 16 and rope_dims(long_config) == 12
    qwen3.write_config(NAME, config)
    qwen3.write_config(NAME, long_config, "config-longrope.json")
    for name in TOKENIZER_FILES:
        qwen3.copy_file(os.path.join(TOKENIZER_FROM, "hf", name), os.path.join(hf_dir, name))
        assert rebuild.sha256_file(os.path.join(hf_dir, name)) == base_ref["files"][f"hf/{name}"]["sha256"], name
    with open(os.path.join(hf_dir, "tokenizer.model"), "rb") as f:
        pieces = gemma3.sentencepiece_pieces(f.read())
    assert len(pieces) == config["vocab_size"], len(pieces)
    vocab = phi3_vocab(pieces, hf_dir, config["vocab_size"])

    # 2. weights.
    weights = qwen3.random_weights(config, SEED, MATRIX_SCALE, NORM_SCALE, shapes=hf_shapes(config))
    n_params = qwen3.save_weights(os.path.join(hf_dir, "model.safetensors"), weights, say)

    # 3. GGUFs.
    ggufs = {"f32": config, "longrope": long_config}
    summaries = {}
    for stem, c in ggufs.items():
        path = os.path.join(OUT, f"{stem}.gguf")
        names, total = write_gguf(path, c, weights, hf_dir, vocab)
        n_factors = 2 * (rope_dims(c) // 2) if c.get("rope_scaling") else 0
        assert total == n_params + n_factors, (total, n_params)
        summaries[stem] = check_gguf(path, c, weights, names, tok_gguf)
        kv = summaries[stem][0]
        say(f"{rel(path)}: {os.path.getsize(path):,} bytes, {len(summaries[stem][1])} tensors, size label "
            f"{kv['general.size_label'][1]}, checked with GGUFReader (tokenizer arrays = tiny-llama/f32.gguf's)")
    kv_f32, kv_long = summaries["f32"][0], summaries["longrope"][0]
    differing = sorted(k for k in set(kv_f32) | set(kv_long) if kv_f32.get(k) != kv_long.get(k))
    assert differing == ["phi3.context_length", "phi3.rope.dimension_count", "phi3.rope.scaling.attn_factor"], \
        differing
    assert summaries["longrope"][1][2:] == summaries["f32"][1]

    # 4. skeletons: ref.json must record the GGUFs' and the source's sha256 first (make() checks them).
    made_by = ("scripts/make-phi3-fixture.py: gguf-py 0.19.0 GGUFWriter, as convert_hf_to_gguf.py --outtype f32 "
               "(llama.cpp 0c1e57098, Phi3MiniModel) writes hf/{}: {}tensors in sorted HF name order, all F32, not "
               "permuted, fused attn_qkv / ffn_up as HF stores them, output.weight from lm_head; "
               "Phi3MiniModel.set_gguf_parameters' keys; tokenizer.* keys from Phi3MiniModel.set_vocab's "
               "SentencePiece branch + SpecialVocab")
    gguf_info = {
        "f32.gguf": {"made_by": made_by.format("", "")},
        "longrope.gguf": {
            "made_by": made_by.format(" with config-longrope.json",
                                      "rope.scaling.attn_factor and the LongRoPE factor tensors first "
                                      "(generate_extra_tensors), then the "),
            "differs_from_f32.gguf": "phi3.rope.scaling.attn_factor (float32, right after general.architecture), "
                                     "the tensors rope_factors_long.weight and rope_factors_short.weight (F32 [6], "
                                     "before all others), phi3.context_length 1024 (256), "
                                     "phi3.rope.dimension_count 12 (16)"},
    }
    for name in gguf_info:
        gguf_info[name].update(file_entry(os.path.join(OUT, name)))
    write_json(os.path.join(OUT, "ref.json"), {
        "gguf": gguf_info,
        "files": {n: file_entry(os.path.join(OUT, n)) for n in ("f32.gguf", "longrope.gguf", "hf/model.safetensors")}},
        1)
    for stem in ggufs:
        out, header_bytes = skeletons.make(MODELS, NAME, stem)
        say(f"{rel(out)}: {os.path.getsize(out):,} bytes (header {header_bytes:,}), round trip verified")

    # 5. llama.cpp: the tokenizer check, the harness check, then the runs.
    f32_path, long_path = os.path.join(OUT, "f32.gguf"), os.path.join(OUT, "longrope.gguf")
    with tempfile.TemporaryDirectory(prefix=f"{PROG}-") as work:
        tok_exe = rope.build_harness(llama_cpp, args.cc, work, gemma3.TOKENIZE_HARNESS)
        tokenizer_check, ids = check_tokenizer(tok_exe, llama_cpp, f32_path, hf_dir, work)
        exe = rope.build_harness(llama_cpp, args.cc, work)
        harness_check, base_logits, base_hidden = rope.check_harness(exe, llama_cpp, "tiny-llama",
                                                                     base_ref["input_ids"], work, PROG, say)
        again = rope.harness_outputs(exe, llama_cpp, tok_gguf, base_ref["input_ids"], work, "tiny-llama-n-ctx",
                                     n_ctx=256)
        harness_check["explicit_n_ctx_256_bit_identical"] = bool(np.array_equal(again[0], base_logits)
                                                                 and np.array_equal(again[1], base_hidden))
        if not harness_check["explicit_n_ctx_256_bit_identical"]:
            sys.exit(f"{PROG}: the harness with --n-ctx 256 differs from its default run")
        outputs = {
            "f32": llama_cpp_run(exe, llama_cpp, f32_path, ids, work, "f32"),
            "longrope_short": llama_cpp_run(exe, llama_cpp, long_path, ids, work, "longrope_short"),
            "longrope_long": llama_cpp_run(exe, llama_cpp, long_path, ids, work, "longrope_long", n_ctx=LONG_N_CTX),
            "longrope_n_ctx_64": llama_cpp_run(exe, llama_cpp, long_path, ids, work, "longrope_n_ctx_64",
                                               n_ctx=PADDED_N_CTX),
        }
    padded_equal = bool(np.array_equal(outputs["longrope_n_ctx_64"]["logits"], outputs["longrope_short"]["logits"])
                        and np.array_equal(outputs["longrope_n_ctx_64"]["hidden"], outputs["longrope_short"]["hidden"]))
    if not padded_equal:
        sys.exit(f"{PROG}: longrope.gguf at --n-ctx {PADDED_N_CTX} differs from n_ctx 256 (no rounding up?)")
    llama_long_vs_short = effect((outputs["longrope_long"]["logits"][0], outputs["longrope_long"]["hidden"][0]),
                                 (outputs["longrope_short"]["logits"][0], outputs["longrope_short"]["hidden"][0]))
    if llama_long_vs_short["max_abs_logit_diff"] <= MIN_FEATURE_EFFECT:
        sys.exit(f"{PROG}: libllama's long- and short-factor runs hardly differ: did it switch factors?")

    # 6. the llama.cpp reference.
    T = len(ids)
    input_ids = np.array([ids], dtype=np.int64)
    llama_tensors = {"input_ids": input_ids}
    for stem, prefix in (("f32", ""), ("longrope_short", "longrope_short."), ("longrope_long", "longrope_long.")):
        llama_tensors[prefix + "logits.f32"] = np.ascontiguousarray(outputs[stem]["logits"], dtype=np.float32)
        llama_tensors[prefix + "hidden_last.f32"] = np.ascontiguousarray(outputs[stem]["hidden"], dtype=np.float32)
    rope.write_llama_reference(os.path.join(OUT, "ref-llama-cpp.safetensors"), llama_tensors)

    # 7. the independent float64 passes and every feature left out or swapped.
    w64 = {k: v.astype(np.float64) for k, v in weights.items()}
    refs = {"f32": numpy_phi3(w64, config, ids),
            "longrope_short": numpy_phi3(w64, long_config, ids, factors="short"),
            "longrope_long": numpy_phi3(w64, long_config, ids, factors="long")}
    llama = {stem: (outputs[stem]["logits"][0], outputs[stem]["hidden"][0]) for stem in refs}
    d, rd = head_dim(config), rope_dims(long_config)
    features = {
        "gate_up_swapped": ("f32", "mlp.gate_up_proj's halves swapped: the first 96 rows taken as up, the second as "
                                   "the (silu) gate", config, dict(swap_gate_up=True)),
        "k_v_swapped": ("f32", "self_attn.qkv_proj split as q | v | k instead of q | k | v", config,
                        dict(swap_kv=True)),
        "tied_lm_head": ("f32", "LM head = embed_tokens (lm_head.weight ignored, as if tied)", config,
                         dict(tied_head=True)),
        "full_rotary": ("longrope_short", f"partial_rotary_factor ignored: all {d} head dims rotate (pairs i, i + "
                                          f"{d // 2}; theta^(-2i/{d}); the 6 short factors on pairs 0-5, 1 on 6-7) "
                                          f"instead of the first {rd}", long_config,
                        dict(rotary_dims=d, factors=SHORT_FACTOR + [1.0] * (d // 2 - rd // 2))),
        "full_rotary_long": ("longrope_long", f"the same with the long factors (1 on pairs 6-7)", long_config,
                             dict(factors=LONG_FACTOR + [1.0] * (d // 2 - rd // 2), rotary_dims=d)),
        "no_attention_factor_short": ("longrope_short", "cos and sin not multiplied by the attention factor "
                                                        "sqrt(1 + ln 4 / ln 256) (short factors)", long_config,
                                      dict(factors="short", attention_factor=1.0)),
        "no_attention_factor_long": ("longrope_long", "the same with the long factors", long_config,
                                     dict(factors="long", attention_factor=1.0)),
        "short_instead_of_long": ("longrope_long", "the short factors where libllama (context above 256) takes the "
                                                   "long ones", long_config, dict(factors="short")),
        "no_longrope": ("longrope_short", "rope_scaling ignored: factors 1 and attention factor 1 (partial rotary "
                                          "kept)", long_config, dict(factors=[1.0] * (rd // 2), attention_factor=1.0)),
    }
    left_out = {key: dict(reference=ref, note=note, **effect(numpy_phi3(w64, c, ids, **kw), refs[ref]))
                for key, (ref, note, c, kw) in features.items()}
    window = dict(config, sliding_window=None)
    left_out["no_sliding_window"] = dict(
        reference="f32", note="sliding_window (2047) ignored: plain causal attention; the window is wider than the "
                              "input, so this must change nothing (informational)",
        **effect(numpy_phi3(w64, window, ids), refs["f32"]))
    numpy_check = {
        "method": "float64 numpy forward pass of hf/model.safetensors with transformers' Phi3ForCausalLM math "
                  "(numpy_phi3): per layer h += o_proj(attn(input_layernorm(h))), h += down_proj(silu(gate) * up) "
                  "with gate, up = gate_up_proj(post_attention_layernorm(h)).chunk(2); RMSNorm(x) * w, eps 1e-5; "
                  "qkv_proj(x) split q (64) | k (32) | v (32); rotate-half RoPE on the first int(16 x "
                  "partial_rotary_factor) dims of each head, inv_freq = 1 / (ext_factors x 1e4^(arange(0, rd, 2) / "
                  "rd)), cos and sin x the attention factor; scores x 16^-0.5, causal (window 2047), GQA 4/2; final "
                  "norm; LM head lm_head.weight. f32: rd 16, factors 1, attention factor 1; longrope_short / "
                  "longrope_long: config-longrope.json, rd 12, the short / long factors, attention factor "
                  f"sqrt(1 + ln 4 / ln 256) = {longrope_attention_factor(long_config)!r}",
        "tolerance": NUMPY_TOLERANCE,
        "vs_llama_cpp": agreement(refs["f32"], *llama["f32"]),
        "longrope_short_vs_llama_cpp": agreement(refs["longrope_short"], *llama["longrope_short"]),
        "longrope_long_vs_llama_cpp": agreement(refs["longrope_long"], *llama["longrope_long"]),
        "min_top2_logit_margin": {stem: min(top2_margins(r[0])) for stem, r in refs.items()},
        "top2_logit_margins": {stem: top2_margins(r[0]) for stem, r in refs.items()},
        "top2_note": "argmax checks against libllama are only safe where the margin exceeds the tolerance",
        "logit_scale_rms": {stem: float(np.sqrt(np.mean(r[0] ** 2))) for stem, r in refs.items()},
        "logit_max_abs": {stem: float(np.max(np.abs(r[0]))) for stem, r in refs.items()},
        "hidden_last_scale_rms": {stem: float(np.sqrt(np.mean(r[1] ** 2))) for stem, r in refs.items()},
        "float32_rounding": {stem: {
            "max_abs_logit_diff_ref_vs_llama_cpp": max_abs(r[0].astype(np.float32), llama[stem][0]),
            "max_abs_hidden_last_diff_ref_vs_llama_cpp": max_abs(r[1].astype(np.float32), llama[stem][1]),
        } for stem, r in refs.items()},
        "min_feature_effect": MIN_FEATURE_EFFECT,
        "left_out_features": left_out,
        "note": "each feature's effect is measured against the pass it changes (`reference`); libllama agrees with "
                "every pass far closer than any effect, so it applies each feature (and picks the factors by "
                "context size)",
    }
    for stem in refs:
        key = "vs_llama_cpp" if stem == "f32" else f"{stem}_vs_llama_cpp"
        say(f"numpy float64 vs libllama, {stem}: {numpy_check[key]}")
    say(f"libllama long vs short factors: max |Δlogit| {llama_long_vs_short['max_abs_logit_diff']:.4g}")
    for key, e in left_out.items():
        say(f"{key} (vs {e['reference']}): max |Δlogit| {e['max_abs_logit_diff']:.4g}, rms {e['rms_logit_diff']:.3g}, "
            f"argmax {e['argmax_agree_positions']}/{T}, max |Δhidden| {e['max_abs_hidden_last_diff']:.4g}, "
            f"positions moved {e['positions_moved']} from {e['first_position_moved']}")
    worst = max(numpy_check[k][m] for k in ("vs_llama_cpp", "longrope_short_vs_llama_cpp", "longrope_long_vs_llama_cpp")
                for m in ("max_abs_logit_diff", "max_abs_hidden_last_diff"))
    if worst > NUMPY_TOLERANCE:
        sys.exit(f"{PROG}: the numpy forward pass disagrees with libllama by {worst} > {NUMPY_TOLERANCE}")
    weak = [k for k, e in left_out.items()
            if k != "no_sliding_window" and e["max_abs_logit_diff"] <= MIN_FEATURE_EFFECT]
    if weak:
        sys.exit(f"{PROG}: leaving out {weak} changes the logits too little")
    if left_out["no_sliding_window"]["max_abs_logit_diff"] != 0.0:
        sys.exit(f"{PROG}: the sliding window changed the outputs (it is meant to be wider than the input)")
    if left_out["tied_lm_head"]["max_abs_hidden_last_diff"] != 0.0:
        sys.exit(f"{PROG}: the LM head changed hidden_last")
    ref_tensors = {"input_ids": input_ids}
    for stem, prefix in (("f32", ""), ("longrope_short", "longrope_short."), ("longrope_long", "longrope_long.")):
        ref_tensors[prefix + "logits"] = refs[stem][0][None].astype(np.float32)
        ref_tensors[prefix + "hidden_last"] = refs[stem][1][None].astype(np.float32)
    rebuild.write_atomically(os.path.join(OUT, "ref.safetensors"),
                             save(ref_tensors, metadata={"generator": "scripts/make-phi3-fixture.py: float64 numpy "
                                                                      "forward pass, rounded to float32"}))

    # 8. ref.json.
    files = {}
    for name in (["f32.gguf", "gguf-skeletons/f32.skeleton", "gguf-skeletons/longrope.skeleton"]
                 + [f"hf/{n}" for n in sorted(TOKENIZER_FILES + ["config.json", "config-longrope.json",
                                                                 "model.safetensors"])]
                 + ["longrope.gguf", "ref-llama-cpp.safetensors", "ref.safetensors"]):
        files[name] = file_entry(os.path.join(OUT, name))
    for stem, c in ggufs.items():
        kv, tensors = summaries[stem]
        gguf_info[f"{stem}.gguf"].update({
            "metadata": {k: v[1] for k, v in kv.items() if k not in ("tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                                                                      "tokenizer.ggml.token_type")},
            "metadata_types": {k: "/".join(v[0]) for k, v in kv.items()},
            "tokenizer_arrays": "tokenizer.ggml.tokens / scores / token_type: 512 entries each, equal to "
                                "tiny-llama/f32.gguf's (which convert_hf_to_gguf.py wrote from the same files); no "
                                "tokenizer.ggml.add_space_prefix key (libllama's default for the llama tokenizer: "
                                "true)",
            "type_counts": {"F32": len(tensors)},
            "tensor_shapes_ggml": {n: shape for n, _, shape, _ in tensors},
            "tensor_sources": {n: (s if s is not None else "config rope_scaling." + ("long_factor" if "long" in n
                                                                                     else "short_factor"))
                               for n, s, _ in expected_tensors(c, weights)},
        })
    gguf_info["longrope.gguf"]["rope_factors"] = {
        "rope_factors_long.weight": LONG_FACTOR, "rope_factors_short.weight": SHORT_FACTOR,
        "attn_factor": {"value": longrope_attention_factor(long_config),
                        "float32": float(np.float32(longrope_attention_factor(long_config))),
                        "rule": "sqrt(1 + ln(max_position_embeddings / original_max_position_embeddings) / "
                                "ln(original_max_position_embeddings)) = sqrt(1 + ln 4 / ln 256)"},
    }
    long_scaling = long_config["rope_scaling"]
    weights_info = qwen3.weights_info(weights, SEED, MATRIX_SCALE, NORM_SCALE,
                                      f"every norm weight (input_layernorm, post_attention_layernorm, model.norm) "
                                      f"1 + {NORM_SCALE} * N(0,1): Phi-3's RMSNorm multiplies by the weight")
    weights_info["init"]["weights"] = (f"every matrix (embed_tokens, lm_head, qkv_proj, o_proj, gate_up_proj, "
                                       f"down_proj) {MATRIX_SCALE} * N(0,1)")
    ref_json = {
        "model": NAME,
        "description": "tiny random-weight Phi3ForCausalLM: fused qkv_proj (q | k | v) and gate_up_proj (gate | up), "
                       "GQA 4/2, untied lm_head, SiLU GLU, RMSNorm x w; a LongRoPE variant (config-longrope.json, "
                       "longrope.gguf: partial rotary 0.75, short / long factors over 6 pairs, attention factor "
                       "sqrt(1 + ln 4 / ln 256)) with the same weights. tiny-llama's SentencePiece tokenizer files",
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
             "num_attention_heads", "num_key_value_heads", "head_dim", "max_position_embeddings",
             "original_max_position_embeddings", "rope_theta", "rope_scaling", "partial_rotary_factor",
             "rms_norm_eps", "hidden_act", "sliding_window", "tie_word_embeddings", "bos_token_id", "eos_token_id",
             "pad_token_id"), n_params,
            head_dim_note="not in config.json (Phi3Config has none): hidden / heads",
            attention_bias="none (Phi3Config has no attention_bias; qkv_proj and o_proj have no bias)",
            rope_dims=rope_dims(config),
            longrope_variant={
                "file": "hf/config-longrope.json",
                "changes": {"partial_rotary_factor": long_config["partial_rotary_factor"],
                            "max_position_embeddings": long_config["max_position_embeddings"],
                            "rope_scaling": long_scaling},
                "rope_dims": rope_dims(long_config),
                "scale": long_config["max_position_embeddings"] / long_config["original_max_position_embeddings"],
                "attention_factor": longrope_attention_factor(long_config),
                "why_original_256": "libllama 0c1e57098 rounds n_ctx up to a multiple of 256 (GGML_PAD(n_ctx, 256) "
                                    "in llama_context) and takes the long factors iff n_ctx_seq > "
                                    "rope.scaling.original_context_length: with an original context below 256 no "
                                    "context would run the short factors",
            },
            attention_scale=head_dim(config) ** -0.5),
        **weights_info,
        "ref_safetensors_keys": {"ref.safetensors": rope.tensor_keys(ref_tensors),
                                 "ref-llama-cpp.safetensors": rope.tensor_keys(llama_tensors)},
        "llama_cpp": rope.llama_cpp_info(
            T, "each run twice with bit-identical outputs; longrope_long with --n-ctx 512 (n_ctx = n_batch = "
               "n_ubatch = 512)", harness_check,
            runs={
                "f32": dict(model="f32.gguf", n_ctx=256, factors=None),
                "longrope_short": dict(model="longrope.gguf", n_ctx=256, factors="short (n_ctx_seq 256 is not above "
                                                                                  "original_context_length 256)"),
                "longrope_long": dict(model="longrope.gguf", n_ctx=LONG_N_CTX, factors="long (n_ctx_seq 512 > 256)"),
                "longrope_n_ctx_64": dict(model="longrope.gguf", n_ctx_asked=PADDED_N_CTX, n_ctx=256,
                                          factors="short", bit_identical_to_longrope_short=padded_equal,
                                          note="not stored: libllama rounds n_ctx 64 up to 256"),
            },
            run_logs={stem: {k: o[k] for k in ("freq_scale_train", "rope_log", "rope_metadata_log", "warnings")}
                      for stem, o in outputs.items()},
            long_vs_short=dict(note="libllama's longrope_long against its longrope_short run", **llama_long_vs_short),
            warnings_note=WARNINGS_NOTE,
            runtime_notes="phi3 in llama.cpp (src/models/phi3.cpp): attn_qkv split q | k | v (build_qkv), NEOX RoPE "
                          "on the first rope.dimension_count dims of each head with the layer's rope factors "
                          "(llama_model::get_rope_factors: rope_factors_long iff the context's n_ctx_seq > "
                          "rope.scaling.original_context_length, else rope_factors_short; the tensors are global, "
                          "duplicated for every layer), theta / factor, cos and sin x rope.scaling.attn_factor "
                          "(hparams.rope_attn_factor into cparams.yarn_attn_factor; ext_factor 0, no YaRN), Q x "
                          "1/sqrt(head_dim), ffn_up [2 n_ff] through LLM_FFN_SWIGLU (silu(first half) x second "
                          "half), lm_head = output.weight; attention.sliding_window > 0 only logs 'Phi SWA is "
                          "currently disabled' and turns the window off"),
        "numpy_check": numpy_check,
        "gguf": gguf_info,
        "made_by": "scripts/make-phi3-fixture.py (configs, tokenizer copies, weights, GGUFs, skeletons via "
                   "scripts/make-gguf-skeletons.py's make, ref.safetensors), scripts/llama-cpp-logits.c "
                   "(ref-llama-cpp.safetensors), scripts/llama-cpp-tokenize.c (the tokenizer check)",
        "files": files,
        "tools": dict(rope.tool_versions(args.cc, commit), tokenizers=metadata.version("tokenizers")),
    }
    rope.write_ref(OUT, NAME, ref_json, say)


if __name__ == "__main__":
    main()
