#!/usr/bin/env python3
"""Make Tests/Fixtures/models/tiny-qwen3/: a tiny random-weight Qwen3 model, its GGUF, and reference outputs.

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
  4. `gguf-skeletons/f32.skeleton` (scripts/make-gguf-skeletons.py's `make`: identity transforms from
     hf/model.safetensors), so scripts/rebuild-gguf-fixtures.py rebuilds f32.gguf byte for byte.
  5. compiles scripts/llama-cpp-logits.c against DIR and runs it on tiny-qwen2's 24 `input_ids`: first on
     tiny-qwen2/f32.gguf, which must reproduce tiny-qwen2's committed `logits.f32` / `hidden_last.f32` (the
     harness check), then twice on f32.gguf (bit-identical outputs required; libllama must log no warning).
  6. `ref-llama-cpp.safetensors`: `input_ids` (int64 [1, 24]), `logits.f32` [1, 24, 512], `hidden_last.f32`
     [1, 24, 128] (llama.cpp's `result_norm`), float32.
  7. an independent float64 numpy forward pass of hf/model.safetensors with transformers' Qwen3 math
     (rotate-half RoPE, theta 1e6; per-head RMSNorm q_norm / k_norm before RoPE; causal GQA softmax attention
     scaled by 1/sqrt(head_dim); SwiGLU; final norm; tied LM head). It must match libllama to 1e-4; the same
     pass without q_norm / k_norm must move the logits by more than 0.5. Its outputs, rounded to float32, are
     `ref.safetensors` (`input_ids`, `logits`, `hidden_last`).
  8. `ref.json`: input ids, config summary, seed and scales, the checks' numbers, the GGUF's metadata and
     tensors, provenance, tool versions, and the `files` map (size and sha256 of every data file of the
     folder; the rebuild script checks f32.gguf against it). README.md is written by hand and not in the map.

Deterministic: the same inputs give the same bytes (the llama.cpp outputs for the same build on the same CPU).
"""

import importlib.util
import json
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
    scaling = c.get("rope_scaling")
    if scaling:
        assert scaling["rope_type"] == "linear" and scaling["factor"] is not None, scaling
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(scaling["factor"])
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
    """Read f32.gguf back with GGUFReader: metadata, tokenizer keys, tensor names, types, shapes and data."""
    kv, tensors = rope.gguf_summary(path)
    d, L = c["head_dim"], c["num_hidden_layers"]
    want = {
        "general.architecture": "qwen3", "general.type": "model", "general.name": NAME,
        "qwen3.block_count": L, "qwen3.context_length": c["max_position_embeddings"],
        "qwen3.embedding_length": c["hidden_size"], "qwen3.feed_forward_length": c["intermediate_size"],
        "qwen3.attention.head_count": c["num_attention_heads"],
        "qwen3.attention.head_count_kv": c["num_key_value_heads"],
        "qwen3.rope.freq_base": float(np.float32(c["rope_theta"])),
        "qwen3.attention.layer_norm_rms_epsilon": float(np.float32(c["rms_norm_eps"])),
        "qwen3.attention.key_length": d, "qwen3.attention.value_length": d,
        "general.file_type": 0, "general.quantization_version": 2,
    }
    non_tok = [k for k in kv if not k.startswith("tokenizer.")]
    assert non_tok == list(want)[:3] + ["general.size_label"] + list(want)[3:], non_tok
    for key, value in want.items():
        assert kv[key][1] == value, f"{key} = {kv[key]}, expected {value}"
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

    # 1. config and tokenizer.
    config = dict(CONFIG, vocab_size=tok_config["vocab_size"])
    for key in ("bos_token_id", "eos_token_id"):
        assert config[key] == tok_config[key], key
    write_config(NAME, config)
    for name in TOKENIZER_FILES:
        copy_file(os.path.join(TOKENIZER_FROM, "hf", name), os.path.join(OUT, "hf", name))
    hf_files = sorted(os.listdir(os.path.join(TOKENIZER_FROM, "hf")))
    assert hf_files == sorted(TOKENIZER_FILES + ["config.json", "model.safetensors"]), hf_files

    # 2. weights.
    weights = random_weights(config, SEED, MATRIX_SCALE, NORM_SCALE)
    n_params = save_weights(os.path.join(OUT, "hf", "model.safetensors"), weights, say)

    # 3. GGUF. First the writer's own check: on tiny-qwen2/hf it must give the converter's tiny-qwen2/f32.gguf.
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
    gguf_path = os.path.join(OUT, "f32.gguf")
    names, total = write_gguf(gguf_path, gguf.MODEL_ARCH.QWEN3, NAME, config, weights, tok_gguf)
    assert total == n_params, (total, n_params)
    kv, tensors = check_gguf(gguf_path, config, weights, names, tok_gguf)
    say(f"{rel(gguf_path)}: {os.path.getsize(gguf_path):,} bytes, {len(tensors)} tensors, size label "
        f"{kv['general.size_label'][1]}, checked with GGUFReader")

    # 4. skeleton: ref.json must record the GGUF's and the source's sha256 first (make() checks both).
    gguf_info = {
        "made_by": "scripts/make-qwen3-fixture.py: gguf-py 0.19.0 GGUFWriter, as convert_hf_to_gguf.py --outtype f32 "
                   "(llama.cpp 0c1e57098, Qwen3Model) writes hf/: tensors in sorted HF name order, all F32, not "
                   "permuted, no output.weight (tied); tokenizer.* keys copied from tiny-qwen2/f32.gguf",
    }
    gguf_info.update(file_entry(gguf_path))
    write_json(os.path.join(OUT, "ref.json"), {
        "gguf": {"f32.gguf": gguf_info},
        "files": {n: file_entry(os.path.join(OUT, n)) for n in ("f32.gguf", "hf/model.safetensors")}}, 1)
    out, header_bytes = skeletons.make(MODELS, NAME, "f32")
    say(f"{rel(out)}: {os.path.getsize(out):,} bytes (header {header_bytes:,}), round trip verified")

    # 5. llama.cpp.
    with tempfile.TemporaryDirectory(prefix="qwen3-fixture-") as work:
        exe = rope.build_harness(llama_cpp, args.cc, work)
        harness_check, _, _ = rope.check_harness(exe, llama_cpp, "tiny-qwen2", ids, work, "qwen3-fixture", say)
        logits, hidden, freq_scale, log = rope.harness_outputs_twice(exe, llama_cpp, gguf_path, ids, work, "f32",
                                                                     "qwen3-fixture")
    # The harness echoes libllama's lines that mention RoPE, and every warning or error. The one expected warning
    # is about the harness's own choice of pooling NONE (libllama logs it for every model, tiny-qwen2's too).
    rope_log, warnings, unexpected = rope.split_log(log, [EXPECTED_WARNING])
    say(f"llama.cpp on f32.gguf: rope log {rope_log}; warnings {warnings}")
    if unexpected:
        sys.exit(f"qwen3-fixture: libllama logged unexpected warnings or errors on f32.gguf: {unexpected}")

    # 6. the llama.cpp reference.
    input_ids = np.array([ids], dtype=np.int64)
    llama_tensors = {"input_ids": input_ids, "logits.f32": np.ascontiguousarray(logits, dtype=np.float32),
                     "hidden_last.f32": np.ascontiguousarray(hidden, dtype=np.float32)}
    rope.write_llama_reference(os.path.join(OUT, "ref-llama-cpp.safetensors"), llama_tensors)

    # 7. the independent float64 pass, with and without q_norm / k_norm.
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
    ref_tensors = {"input_ids": input_ids, "logits": np_logits[None].astype(np.float32),
                   "hidden_last": np_hidden[None].astype(np.float32)}
    rebuild.write_atomically(os.path.join(OUT, "ref.safetensors"),
                             save(ref_tensors, metadata={"generator": f"scripts/make-qwen3-fixture.py: float64 numpy "
                                                                      f"forward pass, rounded to float32"}))

    # 8. ref.json.
    files = {}
    for name in (["f32.gguf", "gguf-skeletons/f32.skeleton"] + [f"hf/{n}" for n in sorted(TOKENIZER_FILES + [
            "config.json", "model.safetensors"])] + ["ref-llama-cpp.safetensors", "ref.safetensors"]):
        files[name] = file_entry(os.path.join(OUT, name))
    gguf_info.update({
        "writer_check": writer_check,
        "metadata": {k: v[1] for k, v in kv.items() if not k.startswith("tokenizer.")},
        "metadata_types": {k: "/".join(v[0]) for k, v in kv.items() if not k.startswith("tokenizer.")},
        "tokenizer_metadata": "the tokenizer.* keys of tiny-qwen2/f32.gguf, copied in order with their types: "
                              + ", ".join(k for k in kv if k.startswith("tokenizer.")),
        "type_counts": {"F32": len(tensors)},
        "tensor_shapes_ggml": {n: shape for n, _, shape, _ in tensors},
        "tensor_sources": dict(zip(names, sorted(weights))),
    })
    ref = {
        "model": NAME,
        "description": "tiny random-weight Qwen3ForCausalLM (q_norm / k_norm, head_dim 48 != hidden / heads, tied "
                       "embeddings, no attention bias) with tiny-qwen2's tokenizer and input ids",
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
            len(ids), "run twice with bit-identical outputs", harness_check,
            freq_scale_train=freq_scale, rope_log=rope_log, warnings=warnings,
            warnings_note="the pooling_type warning follows from the harness's pooling NONE (embeddings output); "
                          "libllama logs it for every model. No warning about missing or unused tensors."),
        "numpy_check": numpy_check,
        "gguf": {"f32.gguf": gguf_info},
        "made_by": "scripts/make-qwen3-fixture.py (config, weights, GGUF, skeleton via scripts/make-gguf-skeletons.py's "
                   "make, ref.safetensors), scripts/llama-cpp-logits.c (ref-llama-cpp.safetensors); tokenizer files "
                   "copied from tiny-qwen2/hf",
        "files": files,
        "tools": rope.tool_versions(args.cc, commit),
    }
    rope.write_ref(OUT, NAME, ref, say)


if __name__ == "__main__":
    main()
