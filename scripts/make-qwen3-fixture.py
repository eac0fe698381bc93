#!/usr/bin/env python3
"""Make Tests/Fixtures/models/tiny-qwen3/: a tiny random-weight Qwen3 model, its YaRN variants, GGUFs and reference outputs.

Run by the fixtures' maintainer:

    scripts/make-qwen3-fixture.py --llama-cpp DIR      (or LLAMA_CPP_DIR=DIR scripts/make-qwen3-fixture.py)

It needs
  - Python 3 with numpy, gguf 0.19.0 (gguf-py: GGUFReader, GGUFWriter, the tensor name map) and safetensors
    (its numpy API); no torch or transformers;
  - a C compiler (`cc`, or --cc);
  - a built llama.cpp, commit 0c1e57098 (the one every other llama.cpp reference here comes from): DIR holds
    include/llama.h, ggml/include/ and build/bin/libllama.so (+ libggml*.so), e.g. the `vendor/llama.cpp` of the
    llama-cpp-python 0.3.36 sdist built with CMake (BUILD_SHARED_LIBS on);
  - tiny-qwen2's committed `hf/` tokenizer files, `ref.json` (input ids) and `ref-llama-cpp.safetensors`, and
    its f32.gguf (rebuilt first from its skeleton if missing) for the tokenizer metadata.
It reuses scripts/make-rope-scaling-fixtures.py's helpers (the GGUF file writer, the llama.cpp harness driver, the
float64 forward pass, JSON and file-map writers) and scripts/make-gguf-skeletons.py's `make`; scripts/
make-gemma3-fixture.py reuses this script's (random weights, config writer, the converter's common GGUF part, the
tensor check, ref.json parts), and scripts/make-gemma2-fixture.py through it.

What it does, in the folder Tests/Fixtures/models/tiny-qwen3/:
  1. `hf/config.json`: Qwen3ForCausalLM, hidden 128, intermediate 256, 2 layers, 4 heads / 2 KV heads,
     head_dim 48 (so Q is 192 wide, K and V 96: head_dim != hidden / heads), vocab 512, 256 positions,
     rms_norm_eps 1e-6, rope_theta 1e6, no rope_scaling, tied embeddings, no attention bias, SiLU. The same
     bytes go to Fuzz/corpus/hf-config/tiny-qwen3.json (a fuzz seed). tiny-qwen2/hf's tokenizer files
     (tokenizer.json, tokenizer_config.json, special_tokens_map.json, generation_config.json) are copied as is.
     YaRN variants of the same model (same weights and tokenizer), with the bytes transformers 4.57.6's
     Qwen3Config(...).save_pretrained writes for it (transformers_config: `dtype` for `torch_dtype`,
     `layer_types`, `transformers_version`): `hf/config-yarn.json` with rope_scaling YARN (factor 4 over
     original_max_position_embeddings 64 = max_position_embeddings / 4, every other option at its default), and
     `hf/config-yarn-params.json` with YARN_PARAMS (every YaRN option set to a non-default value: beta_fast 16,
     beta_slow 2, attention_factor 1.05, truncate false).
  2. `hf/model.safetensors`: float32, Hugging Face names, no lm_head.weight (tied), metadata {"format": "pt"}.
     numpy.random.default_rng(SEED) draws one standard_normal(shape) per tensor, in sorted name order;
     matrices are 0.0625 x that, every norm weight (input_layernorm, post_attention_layernorm, q_norm, k_norm,
     model.norm) 1 + 0.2 x that, so a runtime that skipped q_norm / k_norm is clearly wrong.
  3. `f32.gguf`: written with gguf-py's GGUFWriter the way llama.cpp's convert_hf_to_gguf.py (Qwen3Model, at
     0c1e57098) writes an `--outtype f32` conversion of hf/: tensors first, in the safetensors names' sorted
     order (gguf's SafetensorsLocal sorts them), renamed by gguf-py's qwen3 tensor name map, all F32, no row
     permutation (NEOX RoPE), no output.weight (tied); then the metadata in the converter's order:
     general.type, name, size_label (gguf.size_label of the writer's parameter count), the qwen3.* keys of
     TextModel.set_gguf_parameters (block_count, context_length, embedding_length, feed_forward_length,
     attention.head_count, head_count_kv, rope.freq_base, attention.layer_norm_rms_epsilon,
     attention.key_length, attention.value_length), general.file_type 0, general.quantization_version, and
     tiny-qwen2/f32.gguf's tokenizer.* keys copied unchanged (the converter's Qwen2/Qwen3 set_vocab writes them
     from the same tokenizer files). The file is read back with GGUFReader and checked. It is git-ignored.
     The writer checks itself first: run with architecture qwen2 on tiny-qwen2/hf's config and weights, it must
     give tiny-qwen2/f32.gguf (which convert_hf_to_gguf.py wrote) byte for byte.
     `yarn.gguf`: the same writer on hf/ with config-yarn.json, as the converter writes it: f32.gguf plus
     TextModel.set_gguf_parameters' YaRN keys qwen3.rope.scaling.type "yarn" (string), rope.scaling.factor 4
     (float32) and rope.scaling.original_context_length 64 (uint32), between attention.head_count_kv and
     rope.freq_base; nothing else differs (checked). Also git-ignored. (Checked once by hand, not by this script:
     the real converter, run on hf/ with config-yarn.json as config.json, --outtype f32 --no-lazy --model-name
     tiny-qwen3 and a numpy stand-in for its few eager torch calls, writes yarn.gguf, and with config.json
     f32.gguf, byte for byte; see the folder's README.) config-yarn-params.json has no GGUF: llama.cpp's qwen3
     loader reads none of the converter's rope.scaling.yarn_* keys, and no key says `truncate`.
  4. `gguf-skeletons/{f32,yarn}.skeleton` (scripts/make-gguf-skeletons.py's `make`: identity transforms from
     hf/model.safetensors), so scripts/rebuild-gguf-fixtures.py rebuilds both GGUFs byte for byte.
  5. compiles scripts/llama-cpp-logits.c against DIR and runs it on tiny-qwen2's 24 `input_ids`: first on
     tiny-qwen2/f32.gguf, which must reproduce tiny-qwen2's committed `logits.f32` / `hidden_last.f32` (the
     harness check), then twice on f32.gguf and twice on yarn.gguf (bit-identical outputs required; libllama must
     log no warning). Once more on yarn.gguf with a copy of the harness that also echoes libllama's lines about
     YaRN and frequencies (yarn_log_harness), which must log `rope scaling = yarn`, `freq_scale_train = 0.25` and
     `n_ctx_orig_yarn = 64` and give the same outputs bit for bit.
  6. `ref-llama-cpp.safetensors`: `input_ids` (int64 [1, 24]), `logits.f32` [1, 24, 512], `hidden_last.f32`
     [1, 24, 128] (llama.cpp's `result_norm`), `yarn.logits.f32`, `yarn.hidden_last.f32` (yarn.gguf), float32.
  7. an independent float64 numpy forward pass of hf/model.safetensors with transformers' Qwen3 math
     (rotate-half RoPE, theta 1e6; per-head RMSNorm q_norm / k_norm before RoPE; causal GQA softmax attention
     scaled by 1/sqrt(head_dim); SwiGLU; final norm; tied LM head). It must match libllama to 1e-4; the same
     pass without q_norm / k_norm must move the logits by more than 0.5. The same pass with YaRN
     (yarn_parameters: transformers 4.57.6's _compute_yarn_parameters in float64; cos and sin times the attention
     factor) for config-yarn.json must match libllama on yarn.gguf to 1e-4; it runs for config-yarn-params.json
     too, and each YaRN feature left out or swapped (no attention factor, no ramp, no scaling, the params config)
     must move the logits by more than MIN_YARN_EFFECT (truncate false vs true is recorded, whatever its size).
     Its outputs, rounded to float32, are `ref.safetensors` (`input_ids`, `logits`, `hidden_last`, `yarn.logits`,
     `yarn.hidden_last`, `yarn_params.logits`, `yarn_params.hidden_last`).
  8. `ref.json`: input ids, config summary, seed and scales, the checks' numbers, the YaRN parameters (correction
     range, per-pair inverse frequencies, attention factor), the GGUFs' metadata and tensors, provenance, tool
     versions, and the `files` map (size and sha256 of every data file of the folder; the rebuild script checks
     the GGUFs against it). README.md is written by hand and not in the map.

Deterministic: the same inputs give the same bytes (the llama.cpp outputs for the same build on the same CPU).
"""

import importlib.util
import json
import math
import os
import sys
import tempfile

import numpy as np
import gguf
from gguf import GGUFReader
from safetensors.numpy import load_file, save

HERE = os.path.dirname(os.path.abspath(__file__))


# The RoPE-scaling fixture script holds the shared helpers (harness, skeletons, files map, float64 forward pass).
_spec = importlib.util.spec_from_file_location("make_rope_scaling_fixtures", os.path.join(HERE, "make-rope-scaling-fixtures.py"))
rope = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rope)
rebuild, skeletons = rope.rebuild, rope.skeletons
write_json, file_entry, max_abs = rope.write_json, rope.file_entry, rope.max_abs

REPO, MODELS = rope.REPO, rope.MODELS
NAME = "tiny-qwen3"
OUT = os.path.join(MODELS, NAME)
TOKENIZER_FROM = os.path.join(MODELS, "tiny-qwen2")
TOKENIZER_FILES = ["generation_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]

SEED = 0
MATRIX_SCALE = 0.0625   # matrices (embeddings included): MATRIX_SCALE * N(0, 1)
NORM_SCALE = 0.2        # norm weights: 1 + NORM_SCALE * N(0, 1)
NUMPY_TOLERANCE = 1e-4  # max |difference| allowed between the float64 pass and libllama
MIN_QK_NORM_EFFECT = 0.5  # max |logit difference| that skipping q_norm / k_norm must cause
EXPECTED_WARNING = "llama_init_from_model: model default pooling_type is [-1], but [0] was specified"

CONFIG = {
    "architectures": ["Qwen3ForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "eos_token_id": 0,
    "head_dim": 48,
    "hidden_act": "silu",
    "hidden_size": 128,
    "initializer_range": MATRIX_SCALE,
    "intermediate_size": 256,
    "max_position_embeddings": 256,
    "max_window_layers": 2,
    "model_type": "qwen3",
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 1000000.0,
    "sliding_window": None,
    "tie_word_embeddings": True,
    "torch_dtype": "float32",
    "use_cache": True,
    "use_sliding_window": False,
    "vocab_size": None,   # tiny-qwen2's, filled in by main()
}

# YaRN over the same model (hf/config-yarn.json, yarn.gguf): factor 4 over an original context of 64, which is
# max_position_embeddings 256 / 4 (so transformers' _validate_yarn_parameters does not warn); every other option at
# its default (beta_fast 32, beta_slow 1, attention_factor 0.1 ln 4 + 1, truncate true). YARN_PARAMS
# (hf/config-yarn-params.json) sets each of those to a non-default value, as floats where the validation wants
# floats. The libllama run covers YARN only (see the header).
YARN = {"factor": 4.0, "original_max_position_embeddings": 64, "rope_type": "yarn"}
YARN_PARAMS = dict(YARN, attention_factor=1.05, beta_fast=16.0, beta_slow=2.0, truncate=False)
# The YaRN variants: reference-name stem (prefix "yarn." / "yarn_params." in ref*.safetensors) -> config file in hf/.
YARN_CONFIG_FILES = {"yarn": "config-yarn.json", "yarn_params": "config-yarn-params.json"}
TRANSFORMERS_VERSION = "4.57.6"   # whose Qwen3Config.save_pretrained the YaRN configs' bytes follow
MIN_YARN_EFFECT = 0.05  # max |logit difference| each YaRN feature left out or swapped must cause
# libllama's print_info lines yarn.gguf must log (whitespace collapsed), seen through yarn_log_harness.
EXPECTED_YARN_LOG = ["rope scaling = yarn", "freq_scale_train = 0.25", "n_ctx_orig_yarn = 64"]


def say(text):
    print(f"qwen3-fixture: {text}", flush=True)


def rel(path):
    return os.path.relpath(path, REPO)


# --- weights --------------------------------------------------------------------------------------------------

def hf_shapes(c, extra_layer_norms=(), qk_norm=True):
    """{Hugging Face tensor name: numpy shape} of Qwen3ForCausalLM with tied embeddings (no lm_head.weight);
    `extra_layer_norms` names more [hidden] norm weights of every layer (Gemma 3's pre_ / post_feedforward_layernorm),
    placed after post_attention_layernorm; qk_norm=False leaves out q_norm / k_norm (Gemma 2 has none)."""
    h, d, ff = c["hidden_size"], c["head_dim"], c["intermediate_size"]
    q, kv = c["num_attention_heads"] * d, c["num_key_value_heads"] * d
    shapes = {"model.embed_tokens.weight": (c["vocab_size"], h), "model.norm.weight": (h,)}
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        shapes.update({
            p + "input_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (q, h),
            p + "self_attn.k_proj.weight": (kv, h),
            p + "self_attn.v_proj.weight": (kv, h),
            p + "self_attn.o_proj.weight": (h, q),
            **({p + "self_attn.q_norm.weight": (d,), p + "self_attn.k_norm.weight": (d,)} if qk_norm else {}),
            p + "post_attention_layernorm.weight": (h,),
            **{p + norm + ".weight": (h,) for norm in extra_layer_norms},
            p + "mlp.gate_proj.weight": (ff, h),
            p + "mlp.up_proj.weight": (ff, h),
            p + "mlp.down_proj.weight": (h, ff),
        })
    return shapes


def random_weights(c, seed, matrix_scale, norm_scale, norm_offset=1.0, extra_layer_norms=(), qk_norm=True,
                   shapes=None):
    """float32 weights of hf_shapes(c, extra_layer_norms, qk_norm), or of `shapes` ({name: shape}) when given
    (scripts/make-phi3-fixture.py's fused layout): one standard_normal draw per tensor in sorted name order from
    default_rng(seed); matrices matrix_scale x that, norm weights norm_offset + norm_scale x that (Gemma's (1 + w)
    norms store the offset from 1: norm_offset 0)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in sorted((hf_shapes(c, extra_layer_norms, qk_norm) if shapes is None else shapes).items()):
        z = rng.standard_normal(shape)
        w = norm_offset + norm_scale * z if name.endswith("norm.weight") else matrix_scale * z
        out[name] = w.astype(np.float32)
    return out


def save_weights(path, weights, say):
    """hf/model.safetensors (metadata {"format": "pt"}), read back and compared; returns the parameter count."""
    rebuild.write_atomically(path, save(weights, metadata={"format": "pt"}))
    reloaded = load_file(path)
    assert sorted(reloaded) == sorted(weights) and all(np.array_equal(reloaded[k], weights[k]) for k in weights)
    n_params = sum(int(w.size) for w in weights.values())
    say(f"{rel(path)}: {len(weights)} tensors, {n_params:,} parameters, {os.path.getsize(path):,} bytes")
    return n_params


def weights_info(weights, seed, matrix_scale, norm_scale, norms):
    """ref.json's `init` (how random_weights drew `weights`; `norms` describes the norm weights' rule),
    `weights_dtype` and `hf_tensors`."""
    init = {
        "seed": seed,
        "rng": f"numpy.random.default_rng({seed}) (PCG64), one standard_normal(shape) float64 draw per tensor in "
               f"sorted name order, then cast to float32",
        "matrix_scale": matrix_scale,
        "norm_scale": norm_scale,
        "weights": f"every matrix (embed_tokens, q/k/v/o_proj, gate/up/down_proj) {matrix_scale} * N(0,1)",
        "norms": norms,
    }
    return {"init": init, "weights_dtype": "float32",
            "hf_tensors": {k: list(v.shape) for k, v in sorted(weights.items())}}


def transformers_config(c, rope_scaling):
    """Config `c` with `rope_scaling`, as transformers 4.57.6's Qwen3Config(**c, rope_scaling=rope_scaling,
    dtype="float32").save_pretrained writes it (compared once by hand; see the README): `torch_dtype` becomes
    `dtype`, `layer_types` lists every layer as "full_attention" (no sliding window), `transformers_version` is
    added; rope_scaling is kept as given (Qwen3Config adds no "type" key when "rope_type" is there, and
    rope_config_validation accepts these keys without a warning). write_config sorts the keys."""
    assert not c["use_sliding_window"] and c["sliding_window"] is None, "layer_types would list sliding layers"
    out = {k: v for k, v in c.items() if k != "torch_dtype"}
    out.update(dtype=c["torch_dtype"], layer_types=["full_attention"] * c["num_hidden_layers"],
               rope_scaling=dict(rope_scaling), transformers_version=TRANSFORMERS_VERSION)
    return out


def yarn_parameters(c):
    """transformers 4.57.6's _compute_yarn_parameters (modeling_rope_utils.py) for config `c`, in float64 (transformers
    computes inv_freq in float32): dim = head_dim (no partial rotary); attention_factor as given, else
    0.1 ln(factor) + 1 (factor > 1; no mscale / mscale_all_dim here); beta_fast / beta_slow as given, else 32 / 1;
    the correction range [low, high] = find_correction_dim(beta_fast), find_correction_dim(beta_slow) with
    find_correction_dim(r) = dim ln(original / (2 pi r)) / (2 ln base), floored / ceiled when `truncate` (default
    true), then clamped to [0, dim - 1] (dim, not dim / 2, as transformers and ggml_rope_yarn_corr_dims clamp); the
    ramp of pair i = clip((i - low) / (high - low), 0, 1) (high + 0.001 when equal); inv_freq = ramp x
    base^(-2i/dim) / factor + (1 - ramp) x base^(-2i/dim): pairs at or below low keep their frequency
    (extrapolation), pairs at or above high are divided by the factor (interpolation)."""
    s = c["rope_scaling"]
    assert s["rope_type"] == "yarn" and not {"mscale", "mscale_all_dim"} & set(s), s
    assert c.get("partial_rotary_factor", 1.0) == 1.0
    base, dim, factor = c["rope_theta"], c["head_dim"], s["factor"]
    original = s.get("original_max_position_embeddings") or c["max_position_embeddings"]
    attention_factor = s.get("attention_factor")
    if attention_factor is None:
        attention_factor = 0.1 * math.log(factor) + 1.0 if factor > 1 else 1.0
    beta_fast, beta_slow = s.get("beta_fast") or 32, s.get("beta_slow") or 1

    def correction_dim(rotations):
        return dim * math.log(original / (rotations * 2 * math.pi)) / (2 * math.log(base))

    raw = (correction_dim(beta_fast), correction_dim(beta_slow))
    truncate = s.get("truncate", True)
    low, high = (math.floor(raw[0]), math.ceil(raw[1])) if truncate else raw
    low, high = float(max(low, 0)), float(min(high, dim - 1))
    span = high - low if high != low else high + 0.001 - low
    ramp = np.clip((np.arange(dim // 2, dtype=np.float64) - low) / span, 0.0, 1.0)
    pos_freqs = base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    inv_freq = ramp / (factor * pos_freqs) + (1 - ramp) / pos_freqs
    return {"factor": factor, "original_max_position_embeddings": original, "beta_fast": beta_fast,
            "beta_slow": beta_slow, "truncate": truncate, "attention_factor": attention_factor,
            "correction_dims_unrounded": list(raw), "low": low, "high": high, "ramp": ramp, "inv_freq": inv_freq}


def numpy_qwen3(w64, c, ids, inv_freq=None, attention_factor=1.0):
    """(logits, hidden_last) of rope.numpy_llama's float64 Qwen3 pass, with RoPE pair i turning by position x
    inv_freq[i] (default theta^(-2i/d)) and the rotated queries' and keys' cos and sin multiplied by
    `attention_factor` (transformers' YaRN post-scaling). numpy_llama takes divisors of its own frequencies
    theta^(-2i/d), so inv_freq goes in as those divisors; every head dim rotates and RoPE is linear, so multiplying
    cos and sin equals multiplying the q_norm and k_norm weights (applied right before RoPE) by the factor, which is
    how it goes in."""
    d = c["head_dim"]
    w = dict(w64)
    divisors = None
    if inv_freq is not None:
        divisors = c["rope_theta"] ** (-np.arange(0, d, 2, dtype=np.float64) / d) / inv_freq
    if attention_factor != 1.0:
        for name in w:
            if name.endswith(("self_attn.q_norm.weight", "self_attn.k_norm.weight")):
                w[name] = w[name] * attention_factor
    return rope.numpy_llama(w, c, ids, inv_freq_divisors=divisors)


def effect(variant, reference):
    """How far a left-out or swapped feature moves the outputs (as scripts/make-gemma3-fixture.py's `effect`): max and
    rms |Δlogit|, argmax agreement, max |Δhidden|, the positions whose logits move by more than 1e-6."""
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


def config_info(config, keys, n_params, **notes):
    """ref.json's `config`: the config's `keys`, then `notes`, the query and key/value widths, the parameter count."""
    return {**{k: config[k] for k in keys}, **notes,
            "q_width": config["num_attention_heads"] * config["head_dim"],
            "kv_width": config["num_key_value_heads"] * config["head_dim"],
            "n_params": n_params}


# --- GGUF -----------------------------------------------------------------------------------------------------

def add_tensors_and_general(writer, model_arch, general_name, c, weights, tensor=None):
    """The part of an f32 GGUF that convert_hf_to_gguf.py --outtype f32 writes alike for every model class with
    config `c` and these float32 weights (see the header): ModelBase.prepare_tensors' tensors, every safetensors
    tensor in sorted name order renamed by gguf-py's name map, F32 (`tensor(hf_name, w)` gives the data the model
    class's modify_tensors makes of `w`; default `w`); then ModelBase.prepare_metadata's general.type, name and
    size label. Returns the GGUF tensor names in order and the parameter count."""
    arch = gguf.MODEL_ARCH_NAMES[model_arch]
    tensor_map = gguf.get_tensor_name_map(model_arch, c["num_hidden_layers"])
    names = []
    for hf_name in sorted(weights):
        name = tensor_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise SystemExit(f"gguf-py maps no {arch} tensor to {hf_name}")
        data = weights[hf_name] if tensor is None else tensor(hf_name, weights[hf_name])
        writer.add_tensor(name, data, raw_dtype=gguf.GGMLQuantizationType.F32)
        names.append(name)
    total, shared, expert, expert_count = writer.get_total_parameter_count()
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(general_name)
    writer.add_size_label(gguf.size_label(total, shared, expert, expert_count))
    return names, total


def add_text_model(writer, model_arch, general_name, c, weights, tensor=None):
    """add_tensors_and_general, then TextModel.set_gguf_parameters' keys up to general.file_type (linear
    rope_scaling, rope_local_base_freq, the expert count and num_experts_per_tok where `c` has them). Returns the GGUF
    tensor names in order and the parameter count."""
    names, total = add_tensors_and_general(writer, model_arch, general_name, c, weights, tensor)
    writer.add_block_count(c["num_hidden_layers"])
    writer.add_context_length(c["max_position_embeddings"])
    writer.add_embedding_length(c["hidden_size"])
    writer.add_feed_forward_length(c["intermediate_size"])
    writer.add_head_count(c["num_attention_heads"])
    writer.add_head_count_kv(c["num_key_value_heads"])
    # TextModel.__init__ made rope_parameters from rope_scaling, plus rope_theta and, from rope_local_base_freq,
    # {"sliding_attention": {"rope_theta": ...}}.
    # Its rope_scaling branch: linear -> type and factor; yarn -> type, factor, original_context_length (the config's
    # original_max_position_embeddings), then extrapolation_factor, attention_factor (or attn_factor), beta_fast and
    # beta_slow where rope_scaling has them (truncate, mscale and mscale_all_dim are not written).
    scaling = c.get("rope_scaling")
    if scaling:
        assert scaling["rope_type"] in ("linear", "yarn") and scaling["factor"] is not None, scaling
        if scaling["rope_type"] == "linear":
            writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            writer.add_rope_scaling_factor(scaling["factor"])
        else:
            writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
            writer.add_rope_scaling_factor(scaling["factor"])
            writer.add_rope_scaling_orig_ctx_len(scaling["original_max_position_embeddings"])
            if scaling.get("extrapolation_factor") is not None:
                writer.add_rope_scaling_yarn_ext_factor(scaling["extrapolation_factor"])
            if scaling.get("attention_factor", scaling.get("attn_factor")) is not None:
                writer.add_rope_scaling_yarn_attn_factor(scaling.get("attention_factor", scaling.get("attn_factor")))
            if scaling.get("beta_fast") is not None:
                writer.add_rope_scaling_yarn_beta_fast(scaling["beta_fast"])
            if scaling.get("beta_slow") is not None:
                writer.add_rope_scaling_yarn_beta_slow(scaling["beta_slow"])
    writer.add_rope_freq_base(c["rope_theta"])
    if "rope_local_base_freq" in c:
        writer.add_rope_freq_base_swa(c["rope_local_base_freq"])
    writer.add_layer_norm_rms_eps(c["rms_norm_eps"])
    # MoE configs (scripts/make-qwen3moe-fixture.py's num_experts, scripts/make-mixtral-fixture.py's
    # num_local_experts): find_hparam(["num_local_experts", "num_experts", "n_routed_experts"]) and
    # (["num_experts_per_tok", ...]): the first key present, written unless its value is None.
    n_experts = next((c[k] for k in ("num_local_experts", "num_experts", "n_routed_experts") if k in c), None)
    if n_experts is not None:
        writer.add_expert_count(n_experts)
    if c.get("num_experts_per_tok") is not None:
        writer.add_expert_used_count(c["num_experts_per_tok"])
    if "head_dim" in c:
        writer.add_key_length(c["head_dim"])
        writer.add_value_length(c["head_dim"])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    return names, total


def write_gguf(path, model_arch, general_name, c, weights, tokenizer_gguf):
    """An f32 GGUF as convert_hf_to_gguf.py --outtype f32 writes it for a Qwen2/Qwen3ForCausalLM with config `c`
    and these float32 weights (see the header). Returns the GGUF tensor names in order and the parameter count."""
    tok = GGUFReader(tokenizer_gguf)

    def fill(writer):
        # ModelBase.prepare_tensors and prepare_metadata (type, name, size label, set_gguf_parameters, quantization
        # version); then TextModel.prepare_metadata's set_vocab.
        names, total = add_text_model(writer, model_arch, general_name, c, weights)
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        for field in tok.fields.values():
            if field.name.startswith("tokenizer."):
                rope.copy_field(writer, field, field.contents())
        return names, total

    return rope.write_gguf_file(path, gguf.MODEL_ARCH_NAMES[model_arch], fill)


# The converter's GGUF tensor names of a Qwen3 block, in the HF names' sorted order.
LAYER_TENSORS = ["attn_norm", "ffn_down", "ffn_gate", "ffn_up", "ffn_norm", "attn_k_norm", "attn_k", "attn_output",
                 "attn_q_norm", "attn_q", "attn_v"]


def expected_gguf_names(c, per_layer=LAYER_TENSORS):
    """The converter's GGUF tensor names in file order, spelled out independently of gguf-py's name map."""
    return (["token_embd.weight"]
            + [f"blk.{i}.{part}.weight" for i in range(c["num_hidden_layers"]) for part in per_layer]
            + ["output_norm.weight"])


def check_gguf(path, c, weights, names, tokenizer_gguf):
    """Read f32.gguf (or yarn.gguf) back with GGUFReader: metadata, tokenizer keys, tensor names, types, shapes and
    data."""
    kv, tensors = rope.gguf_summary(path)
    d, L = c["head_dim"], c["num_hidden_layers"]
    scaling = c.get("rope_scaling") or {}
    assert set(scaling) <= set(YARN), f"check_gguf expects no rope_scaling or one with the keys of YARN: {scaling}"
    yarn_keys = {"qwen3.rope.scaling.type": "yarn", "qwen3.rope.scaling.factor": float(np.float32(scaling["factor"])),
                 "qwen3.rope.scaling.original_context_length": scaling["original_max_position_embeddings"]
                 } if scaling else {}
    want = {
        "general.architecture": "qwen3", "general.type": "model", "general.name": NAME,
        "qwen3.block_count": L, "qwen3.context_length": c["max_position_embeddings"],
        "qwen3.embedding_length": c["hidden_size"], "qwen3.feed_forward_length": c["intermediate_size"],
        "qwen3.attention.head_count": c["num_attention_heads"],
        "qwen3.attention.head_count_kv": c["num_key_value_heads"],
        **yarn_keys,
        "qwen3.rope.freq_base": float(np.float32(c["rope_theta"])),
        "qwen3.attention.layer_norm_rms_epsilon": float(np.float32(c["rms_norm_eps"])),
        "qwen3.attention.key_length": d, "qwen3.attention.value_length": d,
        "general.file_type": 0, "general.quantization_version": 2,
    }
    non_tok = [k for k in kv if not k.startswith("tokenizer.")]
    assert non_tok == list(want)[:3] + ["general.size_label"] + list(want)[3:], non_tok
    for key, value in want.items():
        assert kv[key][1] == value, f"{key} = {kv[key]}, expected {value}"
    if scaling:
        assert [kv[k][0] for k in yarn_keys] == [["STRING"], ["FLOAT32"], ["UINT32"]], "YaRN key types"
    tok_kv, _ = rope.gguf_summary(tokenizer_gguf)
    tok_keys = [k for k in tok_kv if k.startswith("tokenizer.")]
    assert list(kv)[len(non_tok):] == tok_keys, "tokenizer keys out of order"
    for key in tok_keys:
        assert kv[key] == tok_kv[key], f"{key} differs from tiny-qwen2/f32.gguf"
    check_tensors(tensors, names, expected_gguf_names(c), weights)
    return kv, tensors


def check_tensors(tensors, names, expected_names, weights, tensor=None):
    """A GGUF's tensors as gguf_summary reads them, against the names add_text_model returned and `expected_names`,
    and against the float32 HF weights they came from (sorted name order): F32, numpy shape reversed, the data's
    sha256 (of `tensor(hf_name, w)` when given, as for add_text_model)."""
    assert names == expected_names == [t[0] for t in tensors], names
    by_gguf = dict(zip(names, sorted(weights)))
    for name, kind, shape, digest in tensors:
        src = weights[by_gguf[name]]
        data = src if tensor is None else tensor(by_gguf[name], src)
        assert kind == "F32" and shape == list(reversed(src.shape)), (name, kind, shape)
        assert digest == rebuild.sha256_bytes(np.ascontiguousarray(data, "<f4").tobytes()), name


# --- llama.cpp ------------------------------------------------------------------------------------------------

def yarn_log_harness(llama_cpp, cc, workdir, words=("yarn", "freq_"), tag="yarn"):
    """scripts/llama-cpp-logits.c built (in `workdir`) with its log filter widened to echo libllama's lines that
    mention "yarn" or "freq_" too, not only "rope" (n_ctx_orig_yarn, freq_base_train / freq_scale_train, the
    context's freq_base / freq_scale); nothing else changes. `words` (and `tag`, which names the source file)
    widen it otherwise: scripts/make-granite-fixture.py's "scale" (Granite's four scales)."""
    with open(rope.HARNESS, encoding="utf-8") as f:
        source = f.read()
    old = 'strstr(text, "rope") != NULL'
    assert source.count(old) == 1, "scripts/llama-cpp-logits.c's log filter changed"
    source = source.replace(old, "(" + " || ".join(f'strstr(text, "{w}") != NULL' for w in ("rope", *words)) + ")")
    path = os.path.join(workdir, f"llama-cpp-logits-{tag}-log.c")
    with open(path, "w", encoding="utf-8") as f:
        f.write(source)
    return rope.build_harness(llama_cpp, cc, workdir, path)


# --- driver ---------------------------------------------------------------------------------------------------

def copy_file(src, dst):
    with open(src, "rb") as f:
        rebuild.write_atomically(dst, f.read())


def write_config(name, config, filename="config.json"):
    """models/`name`/hf/`filename` as transformers writes a config (indent 2, sorted keys); config.json's bytes go
    to the fuzz seed Fuzz/corpus/hf-config/`name`.json too."""
    path = os.path.join(MODELS, name, "hf", filename)
    write_json(path, config, indent=2, sort_keys=True)
    if filename == "config.json":
        copy_file(path, os.path.join(REPO, "Fuzz", "corpus", "hf-config", f"{name}.json"))


def main():
    args, llama_cpp, commit = rope.parse_arguments(NAME, "qwen3-fixture", say)

    say(rebuild.rebuild(MODELS, "tiny-qwen2", "f32", False, False, {}))
    tok_ref = json.load(open(os.path.join(TOKENIZER_FROM, "ref.json"), encoding="utf-8"))
    tok_config = json.load(open(os.path.join(TOKENIZER_FROM, "hf", "config.json"), encoding="utf-8"))
    ids = tok_ref["input_ids"]
    tok_gguf = os.path.join(TOKENIZER_FROM, "f32.gguf")
    os.makedirs(os.path.join(OUT, "hf"), exist_ok=True)
    os.makedirs(os.path.join(OUT, "gguf-skeletons"), exist_ok=True)

    # 1. configs and tokenizer.
    config = dict(CONFIG, vocab_size=tok_config["vocab_size"])
    for key in ("bos_token_id", "eos_token_id"):
        assert config[key] == tok_config[key], key
    write_config(NAME, config)
    yarn_configs = {"yarn": transformers_config(config, YARN), "yarn_params": transformers_config(config, YARN_PARAMS)}
    for stem, c in yarn_configs.items():
        write_config(NAME, c, YARN_CONFIG_FILES[stem])
    for name in TOKENIZER_FILES:
        copy_file(os.path.join(TOKENIZER_FROM, "hf", name), os.path.join(OUT, "hf", name))
    hf_files = sorted(os.listdir(os.path.join(TOKENIZER_FROM, "hf")))
    assert hf_files == sorted(TOKENIZER_FILES + ["config.json", "model.safetensors"]), hf_files

    # 2. weights.
    weights = random_weights(config, SEED, MATRIX_SCALE, NORM_SCALE)
    n_params = save_weights(os.path.join(OUT, "hf", "model.safetensors"), weights, say)

    # 3. GGUFs. First the writer's own check: on tiny-qwen2/hf it must give the converter's tiny-qwen2/f32.gguf.
    with tempfile.TemporaryDirectory(prefix="qwen3-fixture-") as work:
        q2_path = os.path.join(work, "qwen2.gguf")
        write_gguf(q2_path, gguf.MODEL_ARCH.QWEN2, "tiny-qwen2", tok_config,
                   load_file(os.path.join(TOKENIZER_FROM, "hf", "model.safetensors")), tok_gguf)
        writer_check = {
            "method": "this script's GGUF writer run with architecture qwen2 on tiny-qwen2/hf (config and weights) "
                      "gives a file byte-identical to tiny-qwen2/f32.gguf, which convert_hf_to_gguf.py wrote",
            "sha256": rebuild.sha256_file(q2_path),
            "equal": rebuild.sha256_file(q2_path) == rebuild.sha256_file(tok_gguf),
        }
    say(f"writer check on tiny-qwen2: {writer_check}")
    if not writer_check["equal"]:
        sys.exit("qwen3-fixture: the GGUF writer does not reproduce tiny-qwen2/f32.gguf (convert_hf_to_gguf.py's)")
    ggufs = {"f32": config, "yarn": yarn_configs["yarn"]}
    summaries = {}
    for stem, c in ggufs.items():
        path = os.path.join(OUT, f"{stem}.gguf")
        names, total = write_gguf(path, gguf.MODEL_ARCH.QWEN3, NAME, c, weights, tok_gguf)
        assert total == n_params, (total, n_params)
        summaries[stem] = check_gguf(path, c, weights, names, tok_gguf)
        kv, tensors = summaries[stem]
        say(f"{rel(path)}: {os.path.getsize(path):,} bytes, {len(tensors)} tensors, size label "
            f"{kv['general.size_label'][1]}, checked with GGUFReader")
    kv, tensors = summaries["f32"]
    yarn_kv = summaries["yarn"][0]
    yarn_only = [k for k in yarn_kv if k not in kv]
    assert yarn_only == ["qwen3.rope.scaling.type", "qwen3.rope.scaling.factor",
                         "qwen3.rope.scaling.original_context_length"], yarn_only
    assert {k: v for k, v in yarn_kv.items() if k not in yarn_only} == kv and summaries["yarn"][1] == tensors

    # 4. skeletons: ref.json must record the GGUFs' and the source's sha256 first (make() checks them).
    gguf_info = {
        "f32.gguf": {
            "made_by": "scripts/make-qwen3-fixture.py: gguf-py 0.19.0 GGUFWriter, as convert_hf_to_gguf.py --outtype "
                       "f32 (llama.cpp 0c1e57098, Qwen3Model) writes hf/: tensors in sorted HF name order, all F32, "
                       "not permuted, no output.weight (tied); tokenizer.* keys copied from tiny-qwen2/f32.gguf",
        },
        "yarn.gguf": {
            "made_by": "scripts/make-qwen3-fixture.py: the same writer, as convert_hf_to_gguf.py --outtype f32 writes "
                       "hf/ with config-yarn.json as its config.json",
            "differs_from_f32.gguf": "only qwen3.rope.scaling.type = \"yarn\" (string), qwen3.rope.scaling.factor = "
                                     "4.0 (float32) and qwen3.rope.scaling.original_context_length = 64 (uint32), "
                                     "in that order between qwen3.attention.head_count_kv and qwen3.rope.freq_base",
        },
    }
    for name in gguf_info:
        gguf_info[name].update(file_entry(os.path.join(OUT, name)))
    write_json(os.path.join(OUT, "ref.json"), {
        "gguf": gguf_info,
        "files": {n: file_entry(os.path.join(OUT, n)) for n in ("f32.gguf", "yarn.gguf", "hf/model.safetensors")}}, 1)
    for stem in ggufs:
        out, header_bytes = skeletons.make(MODELS, NAME, stem)
        say(f"{rel(out)}: {os.path.getsize(out):,} bytes (header {header_bytes:,}), round trip verified")

    # 5. llama.cpp.
    with tempfile.TemporaryDirectory(prefix="qwen3-fixture-") as work:
        exe = rope.build_harness(llama_cpp, args.cc, work)
        harness_check, _, _ = rope.check_harness(exe, llama_cpp, "tiny-qwen2", ids, work, "qwen3-fixture", say)
        runs = {}
        for stem in ggufs:
            runs[stem] = rope.harness_outputs_twice(exe, llama_cpp, os.path.join(OUT, f"{stem}.gguf"), ids, work, stem,
                                                    "qwen3-fixture")
        log_exe = yarn_log_harness(llama_cpp, args.cc, work)
        yarn_log_run = rope.harness_outputs(log_exe, llama_cpp, os.path.join(OUT, "yarn.gguf"), ids, work, "yarn-log")
    logits, hidden, freq_scale, log = runs["f32"]
    # The harness echoes libllama's lines that mention RoPE, and every warning or error. The one expected warning
    # is about the harness's own choice of pooling NONE (libllama logs it for every model, tiny-qwen2's too).
    rope_log, warnings, unexpected = rope.split_log(log, [EXPECTED_WARNING])
    say(f"llama.cpp on f32.gguf: rope log {rope_log}; warnings {warnings}")
    if unexpected:
        sys.exit(f"qwen3-fixture: libllama logged unexpected warnings or errors on f32.gguf: {unexpected}")
    yarn_logits, yarn_hidden, yarn_freq_scale, yarn_log = runs["yarn"]
    yarn_rope_log, yarn_warnings, unexpected = rope.split_log(yarn_log, [EXPECTED_WARNING])
    say(f"llama.cpp on yarn.gguf: freq_scale_train {yarn_freq_scale}; rope log {yarn_rope_log}; warnings "
        f"{yarn_warnings}")
    if unexpected:
        sys.exit(f"qwen3-fixture: libllama logged unexpected warnings or errors on yarn.gguf: {unexpected}")
    if yarn_freq_scale != 1 / YARN["factor"]:
        sys.exit(f"qwen3-fixture: libllama's freq_scale_train on yarn.gguf is {yarn_freq_scale}, not 1 / 4")
    # The widened log (print_info's lines about RoPE, YaRN and frequencies, whitespace collapsed, and the context's).
    yarn_info_log = [" ".join(line.split(":", 1)[1].split()) for line in yarn_log_run[3]
                     if line.startswith(("print_info:", "llama_context:")) and line not in yarn_warnings]
    missing = [line for line in EXPECTED_YARN_LOG if line not in yarn_info_log]
    say(f"llama.cpp on yarn.gguf, widened log: {yarn_info_log}")
    if missing:
        sys.exit(f"qwen3-fixture: libllama's log on yarn.gguf lacks {missing}")
    if not (np.array_equal(yarn_log_run[0], yarn_logits) and np.array_equal(yarn_log_run[1], yarn_hidden)):
        sys.exit("qwen3-fixture: the widened-log harness gives other outputs on yarn.gguf")

    # 6. the llama.cpp reference.
    input_ids = np.array([ids], dtype=np.int64)
    llama_tensors = {"input_ids": input_ids, "logits.f32": np.ascontiguousarray(logits, dtype=np.float32),
                     "hidden_last.f32": np.ascontiguousarray(hidden, dtype=np.float32),
                     "yarn.logits.f32": np.ascontiguousarray(yarn_logits, dtype=np.float32),
                     "yarn.hidden_last.f32": np.ascontiguousarray(yarn_hidden, dtype=np.float32)}
    rope.write_llama_reference(os.path.join(OUT, "ref-llama-cpp.safetensors"), llama_tensors)

    # 7. the independent float64 pass, with and without q_norm / k_norm; then with YaRN.
    w64 = {k: v.astype(np.float64) for k, v in weights.items()}
    np_logits, np_hidden = rope.numpy_llama(w64, config, ids)
    raw_logits, raw_hidden = rope.numpy_llama(w64, config, ids, qk_norm=False)
    numpy_check = {
        "method": "float64 numpy forward pass of hf/model.safetensors with transformers' Qwen3ForCausalLM math: "
                  "RMSNorm, rotate-half RoPE (theta 1e6, head_dim 48), per-head RMSNorm q_norm / k_norm (weight "
                  "[48], eps 1e-6) on the projected queries and keys before RoPE, causal GQA softmax attention "
                  "scaled by 1/sqrt(48), SwiGLU, final norm, LM head = embed_tokens (tied)",
        "vs_llama_cpp": {
            "max_abs_logit_diff": max_abs(np_logits, logits[0]),
            "max_abs_hidden_last_diff": max_abs(np_hidden, hidden[0]),
            "argmax_agree_positions": int(np.sum(np_logits.argmax(-1) == logits[0].argmax(-1))),
        },
        "without_qk_norm": {
            "note": "the same pass with q_norm and k_norm skipped: what a runtime that ignored them would give",
            "max_abs_logit_diff_vs_with": max_abs(raw_logits, np_logits),
            "rms_logit_diff_vs_with": float(np.sqrt(np.mean((raw_logits - np_logits) ** 2))),
            "max_abs_hidden_last_diff_vs_with": max_abs(raw_hidden, np_hidden),
            "max_abs_logit_diff_vs_llama_cpp": max_abs(raw_logits, logits[0]),
            "argmax_agree_positions": int(np.sum(raw_logits.argmax(-1) == np_logits.argmax(-1))),
        },
        "logit_scale_rms": float(np.sqrt(np.mean(np_logits ** 2))),
        "hidden_last_scale_rms": float(np.sqrt(np.mean(np_hidden ** 2))),
        "float32_rounding": {
            "max_abs_logit_diff_ref_vs_llama_cpp": max_abs(np_logits.astype(np.float32), logits[0]),
            "max_abs_hidden_last_diff_ref_vs_llama_cpp": max_abs(np_hidden.astype(np.float32), hidden[0]),
        },
    }
    say(f"numpy float64 check: {numpy_check}")
    if max(numpy_check["vs_llama_cpp"]["max_abs_logit_diff"],
           numpy_check["vs_llama_cpp"]["max_abs_hidden_last_diff"]) > NUMPY_TOLERANCE:
        sys.exit("qwen3-fixture: the numpy forward pass disagrees with libllama by more than 1e-4")
    if numpy_check["without_qk_norm"]["max_abs_logit_diff_vs_with"] <= MIN_QK_NORM_EFFECT:
        sys.exit("qwen3-fixture: skipping q_norm / k_norm changes the logits too little")

    # YaRN: both configs' parameters and passes, then each feature left out or swapped, against the pass it changes.
    yarn = {stem: yarn_parameters(c) for stem, c in yarn_configs.items()}
    yarn_refs = {stem: numpy_qwen3(w64, yarn_configs[stem], ids, p["inv_freq"], p["attention_factor"])
                 for stem, p in yarn.items()}
    for stem, p in yarn.items():
        say(f"{stem}: correction range [{p['low']}, {p['high']}] (unrounded {p['correction_dims_unrounded']}), "
            f"attention factor {p['attention_factor']!r}")
        for i, (r, f) in enumerate(zip(p["ramp"], p["inv_freq"])):
            say(f"  pair {i:2d}: ramp {r:.6f}, inv_freq {f:.17g}")
    p = yarn["yarn"]
    d = config["head_dim"]
    inv_freq_unscaled = config["rope_theta"] ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    untruncated = yarn_parameters(dict(yarn_configs["yarn"], rope_scaling=dict(YARN, truncate=False)))
    features = {
        "no_attention_factor": ("yarn", f"cos and sin not multiplied by the attention factor 0.1 ln 4 + 1 = "
                                        f"{p['attention_factor']!r} (1 instead)",
                                numpy_qwen3(w64, config, ids, p["inv_freq"], 1.0)),
        "no_ramp": ("yarn", "every pair interpolated (its frequency divided by 4: linear scaling by 4), the "
                            "attention factor kept; no pair extrapolated or blended",
                    numpy_qwen3(w64, config, ids, inv_freq_unscaled / YARN["factor"], p["attention_factor"])),
        "no_scaling": ("yarn", "rope_scaling ignored: plain tiny-qwen3 (config.json; the `logits` reference)",
                       (np_logits, np_hidden)),
        "truncate_false": ("yarn", f"config-yarn.json with truncate false: the correction range not rounded "
                                   f"outwards, [{untruncated['low']!r}, {untruncated['high']!r}] instead of "
                                   f"[{p['low']!r}, {p['high']!r}] (recorded whatever its size)",
                           numpy_qwen3(w64, config, ids, untruncated["inv_freq"], untruncated["attention_factor"])),
        "params_config": ("yarn", "config-yarn-params.json (beta_fast 16, beta_slow 2, attention_factor 1.05, truncate "
                                  "false) instead of config-yarn.json: the yarn_params pass",
                          yarn_refs["yarn_params"]),
    }
    yarn_effects = {key: dict(reference=ref, note=note, **effect(out, yarn_refs[ref]))
                    for key, (ref, note, out) in features.items()}
    yarn_vs_llama = {
        "max_abs_logit_diff": max_abs(yarn_refs["yarn"][0], yarn_logits[0]),
        "rms_logit_diff": float(np.sqrt(np.mean((yarn_refs["yarn"][0] - yarn_logits[0]) ** 2))),
        "max_abs_hidden_last_diff": max_abs(yarn_refs["yarn"][1], yarn_hidden[0]),
        "argmax_agree_positions": int(np.sum(yarn_refs["yarn"][0].argmax(-1) == yarn_logits[0].argmax(-1))),
    }
    say(f"numpy float64 yarn vs libllama on yarn.gguf: {yarn_vs_llama}")
    for key, e in yarn_effects.items():
        say(f"{key} (vs {e['reference']}): max |Δlogit| {e['max_abs_logit_diff']:.4g}, rms {e['rms_logit_diff']:.3g}, "
            f"argmax {e['argmax_agree_positions']}/{len(ids)}, max |Δhidden| {e['max_abs_hidden_last_diff']:.4g}, "
            f"positions moved {e['positions_moved']} from {e['first_position_moved']}")
    if max(yarn_vs_llama["max_abs_logit_diff"], yarn_vs_llama["max_abs_hidden_last_diff"]) > NUMPY_TOLERANCE:
        sys.exit("qwen3-fixture: the numpy YaRN pass disagrees with libllama on yarn.gguf by more than 1e-4")
    weak = [k for k, e in yarn_effects.items() if k != "truncate_false" and e["max_abs_logit_diff"] <= MIN_YARN_EFFECT]
    if weak:
        sys.exit(f"qwen3-fixture: leaving out {weak} changes the YaRN logits too little")

    def rounded(out):
        return out[0][None].astype(np.float32), out[1][None].astype(np.float32)

    ref_tensors = {"input_ids": input_ids, "logits": np_logits[None].astype(np.float32),
                   "hidden_last": np_hidden[None].astype(np.float32)}
    for stem, out in yarn_refs.items():
        ref_tensors[stem + ".logits"], ref_tensors[stem + ".hidden_last"] = rounded(out)
    rebuild.write_atomically(os.path.join(OUT, "ref.safetensors"),
                             save(ref_tensors, metadata={"generator": f"scripts/make-qwen3-fixture.py: float64 numpy "
                                                                      f"forward pass, rounded to float32"}))
    numpy_check["yarn"] = {
        "method": "the same pass with YaRN (yarn_parameters: transformers 4.57.6's _compute_yarn_parameters in "
                  "float64): RoPE pair i turns by position x inv_freq[i] (below), the rotated queries' and keys' cos "
                  "and sin multiplied by the attention factor. yarn: config-yarn.json (reference tensors yarn.*); "
                  "yarn_params: config-yarn-params.json (yarn_params.*; no libllama run)",
        "tolerance": NUMPY_TOLERANCE,
        "yarn_vs_llama_cpp": yarn_vs_llama,
        "float32_rounding": {
            "max_abs_logit_diff_ref_vs_llama_cpp": max_abs(yarn_refs["yarn"][0].astype(np.float32), yarn_logits[0]),
            "max_abs_hidden_last_diff_ref_vs_llama_cpp": max_abs(yarn_refs["yarn"][1].astype(np.float32),
                                                                 yarn_hidden[0]),
        },
        "logit_scale_rms": {stem: float(np.sqrt(np.mean(r[0] ** 2))) for stem, r in yarn_refs.items()},
        "min_feature_effect": MIN_YARN_EFFECT,
        "feature_effects": yarn_effects,
        "note": "each effect is measured against the pass it changes (`reference`); libllama agrees with the yarn "
                "pass far closer than any effect but truncate_false's, so it applies the attention factor, the ramp "
                "and the scaling",
    }

    # 8. ref.json.
    files = {}
    for name in (["f32.gguf", "gguf-skeletons/f32.skeleton", "gguf-skeletons/yarn.skeleton"]
                 + [f"hf/{n}" for n in sorted(TOKENIZER_FILES + ["config.json", "model.safetensors"]
                                              + list(YARN_CONFIG_FILES.values()))]
                 + ["ref-llama-cpp.safetensors", "ref.safetensors", "yarn.gguf"]):
        files[name] = file_entry(os.path.join(OUT, name))
    for stem in ggufs:
        kv_s, tensors_s = summaries[stem]
        gguf_info[f"{stem}.gguf"].update({
            **({"writer_check": writer_check} if stem == "f32" else {}),
            "metadata": {k: v[1] for k, v in kv_s.items() if not k.startswith("tokenizer.")},
            "metadata_types": {k: "/".join(v[0]) for k, v in kv_s.items() if not k.startswith("tokenizer.")},
            "tokenizer_metadata": "the tokenizer.* keys of tiny-qwen2/f32.gguf, copied in order with their types: "
                                  + ", ".join(k for k in kv_s if k.startswith("tokenizer.")),
            "type_counts": {"F32": len(tensors_s)},
            "tensor_shapes_ggml": {n: shape for n, _, shape, _ in tensors_s},
            "tensor_sources": dict(zip(names, sorted(weights))),
        })
    yarn_info = {
        "note": "YaRN variants of this model: the same weights and tokenizer, config.json with rope_scaling set, "
                "written with the bytes transformers 4.57.6's Qwen3Config(...).save_pretrained writes (so `dtype`, "
                "`layer_types` and `transformers_version` where config.json has `torch_dtype`)",
        "variants": {},
    }
    for stem, c in yarn_configs.items():
        q = yarn[stem]
        yarn_info["variants"][stem] = {
            "config": f"hf/{YARN_CONFIG_FILES[stem]}",
            "rope_scaling": c["rope_scaling"],
            "reference_prefix": f"{stem}.",
            "gguf": "yarn.gguf" if stem == "yarn" else None,
            "factor": q["factor"], "original_max_position_embeddings": q["original_max_position_embeddings"],
            "beta_fast": q["beta_fast"], "beta_slow": q["beta_slow"], "truncate": q["truncate"],
            "attention_factor": q["attention_factor"],
            "correction_dims_unrounded": q["correction_dims_unrounded"],
            "low": q["low"], "high": q["high"],
            "ramp": [float(v) for v in q["ramp"]],
            "inv_freq": [float(v) for v in q["inv_freq"]],
            "inv_freq_unscaled": [float(v) for v in inv_freq_unscaled],
        }
    yarn_info["rule"] = ("yarn_parameters (see the script): ramp[i] = clip((i - low) / (high - low), 0, 1), inv_freq[i] "
                         "= ramp[i] x base^(-2i/48) / factor + (1 - ramp[i]) x base^(-2i/48), base 1e6, 24 pairs; "
                         "cos and sin x attention_factor")
    ref = {
        "model": NAME,
        "description": "tiny random-weight Qwen3ForCausalLM (q_norm / k_norm, head_dim 48 != hidden / heads, tied "
                       "embeddings, no attention bias) with tiny-qwen2's tokenizer and input ids; YaRN variants "
                       "(hf/config-yarn.json with yarn.gguf, hf/config-yarn-params.json) with the same weights",
        "text": tok_ref["text"],
        "input_ids": ids,
        "T": len(ids),
        "tokenizer": dict(tok_ref["tokenizer"], copied_from="tiny-qwen2/hf (" + ", ".join(TOKENIZER_FILES) + ")"),
        "config": config_info(config, ("model_type", "architectures", "vocab_size", "hidden_size", "intermediate_size",
                                       "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
                                       "max_position_embeddings", "rope_theta", "rope_scaling", "rms_norm_eps",
                                       "hidden_act", "attention_bias", "tie_word_embeddings", "bos_token_id",
                                       "eos_token_id", "use_sliding_window"), n_params),
        **weights_info(weights, SEED, MATRIX_SCALE, NORM_SCALE,
                       f"every norm weight (input_layernorm, post_attention_layernorm, self_attn.q_norm, "
                       f"self_attn.k_norm, model.norm) 1 + {NORM_SCALE} * N(0,1)"),
        "ref_safetensors_keys": {"ref.safetensors": rope.tensor_keys(ref_tensors),
                                 "ref-llama-cpp.safetensors": rope.tensor_keys(llama_tensors)},
        "llama_cpp": rope.llama_cpp_info(
            len(ids), "each GGUF run twice with bit-identical outputs", harness_check,
            freq_scale_train=freq_scale, rope_log=rope_log, warnings=warnings,
            warnings_note="the pooling_type warning follows from the harness's pooling NONE (embeddings output); "
                          "libllama logs it for every model. No warning about missing or unused tensors.",
            yarn={"model": "yarn.gguf", "freq_scale_train": yarn_freq_scale, "rope_log": yarn_rope_log,
                  "warnings": yarn_warnings,
                  "widened_log": yarn_info_log,
                  "widened_log_note": "one more run with scripts/llama-cpp-logits.c's log filter widened to lines "
                                      "mentioning yarn or freq_ (yarn_log_harness): libllama's print_info and "
                                      "llama_context lines, whitespace collapsed; its outputs equal the runs' bit for "
                                      "bit",
                  "expected_in_log": EXPECTED_YARN_LOG}),
        "numpy_check": numpy_check,
        "yarn": yarn_info,
        "gguf": gguf_info,
        "made_by": "scripts/make-qwen3-fixture.py (configs, weights, GGUFs, skeletons via scripts/make-gguf-skeletons.py's "
                   "make, ref.safetensors), scripts/llama-cpp-logits.c (ref-llama-cpp.safetensors); tokenizer files "
                   "copied from tiny-qwen2/hf",
        "files": files,
        "tools": rope.tool_versions(args.cc, commit),
    }
    rope.write_ref(OUT, NAME, ref, say)


if __name__ == "__main__":
    main()
