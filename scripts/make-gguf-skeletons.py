#!/usr/bin/env python3
"""Write the GGUF skeletons that `scripts/rebuild-gguf-fixtures.py` turns back into the float GGUF fixtures.

Run by the fixtures' maintainer, with the project's shared fixture set at hand (it is not part of a user's
clone): `scripts/make-gguf-skeletons.py [--shared DIR] [--only NAME/STEM ...]`, DIR defaulting to
`$SIEVE_SHARED_FIXTURES/models` or `../shared/fixtures/models` beside the repository; `--only` limits the run to
the named fixtures (e.g. `--only tiny-llama-rope/llama3`).

The originals are the six float GGUFs that llama.cpp's `convert_hf_to_gguf.py` wrote (read from DIR), the
two RoPE-scaling GGUFs of `tiny-llama-rope` (`llama3.gguf`, `linear.gguf`), which
`scripts/make-rope-scaling-fixtures.py` writes into the repository's own model folder, `tiny-qwen3/{f32,yarn}.gguf`,
which `scripts/make-qwen3-fixture.py` writes there, `tiny-gemma3/{f32,softcap}.gguf`, which
`scripts/make-gemma3-fixture.py` writes there, `tiny-gemma2/f32.gguf`, which `scripts/make-gemma2-fixture.py`
writes there, `tiny-phi3/{f32,longrope}.gguf`, which `scripts/make-phi3-fixture.py` writes there, and
`tiny-smollm3/f32.gguf`, which `scripts/make-smollm3-fixture.py` writes there, and `tiny-qwen3moe/f32.gguf` and
`q8_0.gguf` (llama-quantize's Q8_0 of that f32.gguf), which `scripts/make-qwen3moe-fixture.py` writes there, and
`tiny-mixtral/f32.gguf` and `q8_0.gguf`, which `scripts/make-mixtral-fixture.py` writes there, and
`tiny-granite/f32.gguf`, which `scripts/make-granite-fixture.py` writes there, and `tiny-granitemoe/f32.gguf` and
`shared.gguf`, which `scripts/make-granitemoe-fixture.py` writes there, and `tiny-qwen2moe/f32.gguf`, which
`scripts/make-qwen2moe-fixture.py` writes there; these are read from the repository (DERIVED below; the eleven
scripts call `make()` themselves).
tiny-llama-rope's tensors come from another folder's weights (SOURCES: `../tiny-llama/hf/model.safetensors`),
checked against that folder's `ref.json`; tiny-granitemoe's shared.gguf's from its own `hf-shared/model.safetensors`
(SOURCES too). Tensors that have no safetensors source (`rope_freqs.weight`, which
the converter computes for llama3 RoPE scaling, and Phi-3's LongRoPE `rope_factors_long.weight` /
`rope_factors_short.weight`, which it makes from config.json's rope_scaling) are stored in the recipe itself with
the `inline` transform, which makes the skeleton format version 2. Gemma 2's and Gemma 3's norm weights are stored
by the converter as HF weight + 1 (`plus_one`, format version 3). Qwen3-MoE's expert tensors stack one HF tensor
per expert (`stack`), and so do Mixtral's (a llama GGUF with expert_count) and Qwen2-MoE's, and q8_0.gguf's
quantized tensors are Q8_0 (format version 4). GraniteMoe's converter splits each fused gate|up `input_linear` (the
experts' and the shared expert's) into two GGUF tensors, each a `row_slice` of it (format version 5).

For each original it
  1. checks the original's sha256 against `Tests/Fixtures/models/<name>/ref.json` (`files` map);
  2. parses the GGUF header itself (cross-checked with gguf-py's GGUFReader when gguf-py is installed);
  3. keeps the bytes before the tensor data section verbatim and derives a recipe per tensor from the
     converter's name mapping (llama, smollm3, granite, granitemoe, qwen2, qwen3, qwen3moe, qwen2moe, gemma2, gemma3,
     phi3, gpt2): which HF tensor(s), which transform (identity, also for Phi-3's already fused qkv_proj and
     gate_up_proj; transpose for GPT-2's Conv1D weights, whose c_attn is already the fused q|k|v; llama RoPE row
     permutation of attn_q / attn_k with n_head / n_head_kv, for llama, smollm3, granite and granitemoe; inline
     values for tensors without an HF source; + 1 for Gemma 2's and Gemma 3's norm weights; the experts' tensors
     stacked for qwen3moe, qwen2moe and Mixtral's llama; row slices of GraniteMoe's fused gate|up tensors), which
     GGML type (F32, F16, BF16, Q8_0), and the zero padding that follows;
  4. proves the recipe with the rebuild script's own code: every tensor, then the whole file, must equal the
     original byte for byte, and so must a rebuild from the skeleton file just written;
  5. writes `Tests/Fixtures/models/<name>/gguf-skeletons/<stem>.skeleton` (format: see the rebuild script).

Python 3 + numpy + the standard library (gguf-py optional). Deterministic: the same inputs give the same bytes.
"""

import argparse
import hashlib
import importlib.util
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, ".."))
MODELS = os.path.join(REPO, "Tests", "Fixtures", "models")

spec = importlib.util.spec_from_file_location("rebuild_gguf_fixtures", os.path.join(HERE, "rebuild-gguf-fixtures.py"))
rebuild = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rebuild)
RebuildError = rebuild.RebuildError

# GGML type id: (name, values per block, bytes per block).
GGML_TYPES = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 30: ("BF16", 1, 2), 8: ("Q8_0", 32, 34)}
SOURCE = "hf/model.safetensors"
# Model folders (or single GGUFs: (folder, stem)) whose GGUFs take their tensors from another safetensors file than
# hf/model.safetensors (path relative to the folder).
SOURCES = {"tiny-llama-rope": "../tiny-llama/hf/model.safetensors",
           ("tiny-granitemoe", "shared"): "hf-shared/model.safetensors"}
# Model folders whose originals are the repository's own rebuilt files (written by make-rope-scaling-fixtures.py,
# make-qwen3-fixture.py, make-gemma3-fixture.py, make-gemma2-fixture.py, make-phi3-fixture.py and
# make-smollm3-fixture.py, make-qwen3moe-fixture.py, make-mixtral-fixture.py, make-granite-fixture.py,
# make-granitemoe-fixture.py and make-qwen2moe-fixture.py), not the shared fixture set's.
DERIVED = {"tiny-llama-rope", "tiny-qwen3", "tiny-gemma3", "tiny-gemma2", "tiny-phi3", "tiny-smollm3", "tiny-qwen3moe",
           "tiny-mixtral", "tiny-granite", "tiny-granitemoe", "tiny-qwen2moe"}
# GGUF tensors with no safetensors counterpart, computed by the converter: kept in the recipe (`inline`, F32 only).
INLINE = {"rope_freqs.weight", "rope_factors_long.weight", "rope_factors_short.weight"}


# --- a small GGUF header parser -------------------------------------------------------------------------------

class Header:
    """GGUF v2/v3 header: metadata (scalars and arrays) and tensor infos, and where the data section starts."""

    SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}

    def __init__(self, data, label):
        self.data, self.pos, self.label = data, 0, label
        if self.take(4) != b"GGUF":
            raise RebuildError(f"{label}: not a GGUF file")
        self.version = self.unpack("<I")
        if self.version not in (2, 3):
            raise RebuildError(f"{label}: GGUF version {self.version} not supported")
        n_tensors, n_kv = self.unpack("<Q"), self.unpack("<Q")
        self.metadata = {}
        for _ in range(n_kv):
            key = self.string()
            self.metadata[key] = self.value(self.unpack("<I"))
        self.tensors = []
        for _ in range(n_tensors):
            name = self.string()
            dims = [self.unpack("<Q") for _ in range(self.unpack("<I"))]
            kind, offset = self.unpack("<I"), self.unpack("<Q")
            if kind not in GGML_TYPES:
                raise RebuildError(f"{label}: tensor {name} has GGML type {kind}, expected F32/F16/BF16/Q8_0")
            type_name, block, block_bytes = GGML_TYPES[kind]
            if dims[0] % block:
                raise RebuildError(f"{label}: tensor {name}: ne0 {dims[0]} is not a multiple of {type_name}'s {block}")
            self.tensors.append({"name": name, "shape": dims, "type": type_name, "offset": offset,
                                 "n_bytes": block_bytes * _product(dims) // block})
        alignment = self.metadata.get("general.alignment", 32)
        self.data_start = (self.pos + alignment - 1) // alignment * alignment

    def take(self, n):
        if self.pos + n > len(self.data):
            raise RebuildError(f"{self.label}: header runs past the end of the file")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self):
        return self.take(self.unpack("<Q")).decode("utf-8")

    def value(self, kind):
        if kind in self.SCALARS:
            return self.unpack(self.SCALARS[kind])
        if kind == 8:
            return self.string()
        if kind == 9:
            item, n = self.unpack("<I"), self.unpack("<Q")
            return [self.value(item) for _ in range(n)]
        raise RebuildError(f"{self.label}: unknown metadata value type {kind}")


def _product(dims):
    out = 1
    for d in dims:
        out *= d
    return out


# --- the converter's name mapping -----------------------------------------------------------------------------

def llama_like(name, arch, n_head, n_head_kv):
    """(sources, transform, extra) of a llama / smollm3 / granite / qwen2 / qwen3 GGUF tensor, as
    convert_hf_to_gguf.py maps it (SmolLM3Model and GraniteModel are LlamaModels with the smollm3 / granite
    architecture: the same names and row permutation; GraniteMoeModel's attention and norms too)."""
    top = {"token_embd.weight": "model.embed_tokens.weight", "output.weight": "lm_head.weight",
           "output_norm.weight": "model.norm.weight"}
    if name in top:
        return [top[name]], "identity", {}
    blk, layer, part, suffix = name.split(".")
    assert blk == "blk", name
    hf = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "ffn_down": "mlp.down_proj",
          "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "attn_q": "self_attn.q_proj",
          "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
          "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm"}[part]
    sources = [f"model.layers.{layer}.{hf}.{suffix}"]
    # LlamaModel.modify_tensors (SmolLM3Model's and GraniteModel's too): q_proj -> permute(n_head, n_head), k_proj ->
    # permute(n_head, n_head_kv). Qwen2 and Qwen3 keep HF's rotate-half layout (llama.cpp runs NEOX RoPE for them).
    if arch in ("llama", "smollm3", "granite", "granitemoe") and part == "attn_q":
        return sources, "llama_rope_permute", {"n_head": n_head, "n_head_kv": n_head}
    if arch in ("llama", "smollm3", "granite", "granitemoe") and part == "attn_k":
        return sources, "llama_rope_permute", {"n_head": n_head, "n_head_kv": n_head_kv}
    return sources, "identity", {}


# The HF names of a sparse MoE block's router and experts (after `model.layers.{i}.`), per architecture: qwen3moe
# (Qwen3MoeModel, a Qwen2MoeModel), qwen2moe (Qwen2MoeModel: the same, plus the shared expert and its gate, as they
# are) and llama with expert_count (Mixtral: LlamaModel's block_sparse_moe).
MOE_NAMES = {
    "qwen3moe": {"router": "mlp.gate", "experts": "mlp.experts",
                 "ffn_gate_exps": "gate_proj", "ffn_up_exps": "up_proj", "ffn_down_exps": "down_proj"},
    "qwen2moe": {"router": "mlp.gate", "experts": "mlp.experts",
                 "ffn_gate_exps": "gate_proj", "ffn_up_exps": "up_proj", "ffn_down_exps": "down_proj",
                 "shared": {"ffn_gate_shexp": "mlp.shared_expert.gate_proj",
                            "ffn_up_shexp": "mlp.shared_expert.up_proj",
                            "ffn_down_shexp": "mlp.shared_expert.down_proj",
                            "ffn_gate_inp_shexp": "mlp.shared_expert_gate"}},
    "llama": {"router": "block_sparse_moe.gate", "experts": "block_sparse_moe.experts",
              "ffn_gate_exps": "w1", "ffn_up_exps": "w3", "ffn_down_exps": "w2"},
}


def qwen3moe(name, n_head, n_head_kv, n_expert, arch="qwen3moe"):
    """(sources, transform, extra) of a qwen3moe GGUF tensor, as convert_hf_to_gguf.py's Qwen3MoeModel (a
    Qwen2MoeModel) maps it: `ffn_{gate,up,down}_exps` stack the n_expert HF tensors
    `mlp.experts.{e}.{gate,up,down}_proj` along a new axis 0 (expert e's rows at index e), `ffn_gate_inp` is the
    router `mlp.gate`; everything else as qwen3's (llama_like: no row permutation, NEOX RoPE). With arch "llama"
    (a Mixtral GGUF: LlamaModel.modify_tensors) the same with Mixtral's names (MOE_NAMES: `block_sparse_moe.gate`,
    `block_sparse_moe.experts.{e}.w1` / `w3` / `w2` for gate / up / down), and llama's attn_q / attn_k row
    permutation. With arch "qwen2moe" (Qwen2MoeModel itself) the same as qwen3moe, plus the shared expert's
    `ffn_{gate,up,down}_shexp` (`mlp.shared_expert.{gate,up,down}_proj`) and its gate `ffn_gate_inp_shexp`
    (`mlp.shared_expert_gate`, [1, n_embd] in HF, ggml [n_embd, 1]) as they are; the q/k/v biases are llama_like's
    (`attn_{q,k,v}.bias` from `self_attn.{q,k,v}_proj.bias`)."""
    names = MOE_NAMES[arch]
    parts = name.split(".")
    if len(parts) == 4 and parts[0] == "blk":
        _, layer, part, suffix = parts
        if part in ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"):
            return ([f"model.layers.{layer}.{names['experts']}.{e}.{names[part]}.{suffix}" for e in range(n_expert)],
                    "stack", {})
        if part == "ffn_gate_inp":
            return [f"model.layers.{layer}.{names['router']}.{suffix}"], "identity", {}
        if part in names.get("shared", {}):
            return [f"model.layers.{layer}.{names['shared'][part]}.{suffix}"], "identity", {}
    return llama_like(name, arch, n_head, n_head_kv)


def granitemoe(name, n_head, n_head_kv, n_ff, n_ff_shexp):
    """(sources, transform, extra) of a granitemoe GGUF tensor, as convert_hf_to_gguf.py's GraniteMoeModel (a
    GraniteModel) maps it: GraniteMoeModel.modify_tensors splits the experts' fused
    `block_sparse_moe.input_linear.weight` [E, 2 n_ff, d] with `split(n_ff, dim=-2)` into `ffn_gate_exps` (rows
    0 .. n_ff - 1 of every expert) and `ffn_up_exps` (rows n_ff .. 2 n_ff - 1), and the shared expert's
    `shared_mlp.input_linear.weight` [2 n_ff_shexp, d] likewise into `ffn_gate_shexp` and `ffn_up_shexp`
    (`row_slice`); gguf-py's granitemoe names map `block_sparse_moe.output_linear` to `ffn_down_exps`,
    `block_sparse_moe.router.layer` to `ffn_gate_inp` and `shared_mlp.output_linear` to `ffn_down_shexp` (as they
    are); everything else as granite's (llama_like: attn_q / attn_k rows permuted). n_ff is the GGUF's
    feed_forward_length (the config's intermediate_size, each expert's width), n_ff_shexp its
    expert_shared_feed_forward_length."""
    parts = name.split(".")
    if len(parts) == 4 and parts[0] == "blk":
        _, layer, part, suffix = parts
        p = f"model.layers.{layer}."
        fused = {"ffn_gate_exps": ("block_sparse_moe", n_ff, 0), "ffn_up_exps": ("block_sparse_moe", n_ff, 1),
                 "ffn_gate_shexp": ("shared_mlp", n_ff_shexp, 0), "ffn_up_shexp": ("shared_mlp", n_ff_shexp, 1)}
        if part in fused:
            block, width, half = fused[part]
            return ([f"{p}{block}.input_linear.{suffix}"], "row_slice",
                    {"row_start": half * width, "row_stop": (half + 1) * width})
        plain = {"ffn_down_exps": "block_sparse_moe.output_linear", "ffn_gate_inp": "block_sparse_moe.router.layer",
                 "ffn_down_shexp": "shared_mlp.output_linear"}
        if part in plain:
            return [f"{p}{plain[part]}.{suffix}"], "identity", {}
    return llama_like(name, "granitemoe", n_head, n_head_kv)


def gemma3(name):
    """(sources, transform, extra) of a gemma3 GGUF tensor, as convert_hf_to_gguf.py's Gemma3Model maps it: gguf-py's
    gemma3 names, no row permutation (NEOX RoPE), every `*norm.weight` stored as weight + 1 (Gemma3Model.norm_shift).
    token_embd would be trimmed to the tokenizer's vocabulary; the rebuild checks the shape, so a trimmed
    embedding fails loudly rather than silently. Gemma2Model maps a gemma2 GGUF's tensors the same way (the same
    names without attn_q_norm / attn_k_norm; `*norm.weight` + 1 in its modify_tensors; no trimming)."""
    top = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight"}
    if name in top:
        hf = top[name]
    else:
        blk, layer, part, suffix = name.split(".")
        assert blk == "blk", name
        hf = {"attn_norm": "input_layernorm", "post_attention_norm": "post_attention_layernorm",
              "ffn_norm": "pre_feedforward_layernorm", "post_ffw_norm": "post_feedforward_layernorm",
              "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
              "attn_output": "self_attn.o_proj", "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
              "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}[part]
        hf = f"model.layers.{layer}.{hf}.{suffix}"
    return [hf], "plus_one" if hf.endswith("norm.weight") else "identity", {}


def phi3(name):
    """(sources, transform, extra) of a phi3 GGUF tensor, as convert_hf_to_gguf.py's Phi3MiniModel maps it: gguf-py's
    phi3 names, no row permutation (NEOX RoPE), no shift; HF's fused `self_attn.qkv_proj` (q | k | v rows) and
    `mlp.gate_up_proj` (gate | up rows) are stored as they are, as `attn_qkv` and `ffn_up`. The LongRoPE factor
    tensors have no HF source (INLINE)."""
    top = {"token_embd.weight": "model.embed_tokens.weight", "output.weight": "lm_head.weight",
           "output_norm.weight": "model.norm.weight"}
    if name in top:
        return [top[name]], "identity", {}
    blk, layer, part, suffix = name.split(".")
    assert blk == "blk", name
    hf = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_qkv": "self_attn.qkv_proj",
          "attn_output": "self_attn.o_proj", "ffn_up": "mlp.gate_up_proj", "ffn_down": "mlp.down_proj"}[part]
    return [f"model.layers.{layer}.{hf}.{suffix}"], "identity", {}


def gpt2(name):
    """(sources, transform, extra) of a gpt2 GGUF tensor: Conv1D weights [in, out] are transposed."""
    top = {"token_embd.weight": "transformer.wte.weight", "position_embd.weight": "transformer.wpe.weight",
           "output_norm.weight": "transformer.ln_f.weight", "output_norm.bias": "transformer.ln_f.bias"}
    if name in top:
        return [top[name]], "identity", {}
    blk, layer, part, suffix = name.split(".")
    assert blk == "blk", name
    hf = {"attn_norm": "ln_1", "ffn_norm": "ln_2", "attn_qkv": "attn.c_attn", "attn_output": "attn.c_proj",
          "ffn_up": "mlp.c_fc", "ffn_down": "mlp.c_proj"}[part]
    conv1d = part in ("attn_qkv", "attn_output", "ffn_up", "ffn_down")
    transform = "transpose" if conv1d and suffix == "weight" else "identity"
    return [f"transformer.h.{layer}.{hf}.{suffix}"], transform, {}


# --- one file -------------------------------------------------------------------------------------------------

def make(shared, name, stem):
    label = f"{name}/{stem}.gguf"
    original_path = os.path.join(shared, name, f"{stem}.gguf")
    with open(original_path, "rb") as f:
        original = f.read()
    model_dir = os.path.join(MODELS, name)
    with open(os.path.join(model_dir, "ref.json"), "rb") as f:
        ref = json.load(f)
    want = ref["files"][f"{stem}.gguf"]
    digest = rebuild.sha256_bytes(original)
    if digest != want["sha256"] or len(original) != want["size_bytes"]:
        raise RebuildError(f"{original_path}: sha256 {digest} / {len(original)} bytes, ref.json records "
                           f"{want['sha256']} / {want['size_bytes']}")
    # The source may lie in another model folder: check it against that folder's ref.json.
    source_rel = SOURCES.get((name, stem), SOURCES.get(name, SOURCE))
    source_path = os.path.normpath(os.path.join(model_dir, source_rel))
    owner_dir = os.path.join(MODELS, os.path.relpath(source_path, MODELS).split(os.sep)[0])
    with open(os.path.join(owner_dir, "ref.json"), "rb") as f:
        owner_files = json.load(f)["files"]
    source_sha = rebuild.sha256_file(source_path)
    if source_sha != owner_files[os.path.relpath(source_path, owner_dir)]["sha256"]:
        raise RebuildError(f"{source_path}: sha256 differs from ref.json's record")

    h = Header(original, label)
    arch = h.metadata["general.architecture"]
    n_head = h.metadata.get(f"{arch}.attention.head_count")
    n_head_kv = h.metadata.get(f"{arch}.attention.head_count_kv", n_head)
    config = json.load(open(os.path.join(owner_dir, "hf", "config.json")))
    if arch in ("llama", "smollm3", "granite", "granitemoe", "qwen2", "qwen3", "qwen3moe", "qwen2moe", "gemma2",
                "gemma3", "phi3"):
        assert (n_head, n_head_kv) == (config["num_attention_heads"], config["num_key_value_heads"]), label
    _crosscheck_gguf_py(original_path, h)

    data_size = len(original) - h.data_start
    tensors = []
    for i, t in enumerate(h.tensors):
        end = t["offset"] + t["n_bytes"]
        next_offset = h.tensors[i + 1]["offset"] if i + 1 < len(h.tensors) else data_size
        pad = next_offset - end
        if pad < 0:
            raise RebuildError(f"{label}: tensor {t['name']} overlaps the next one")
        padding = original[h.data_start + end:h.data_start + next_offset]
        if padding != bytes(pad):
            raise RebuildError(f"{label}: non-zero padding after tensor {t['name']}")
        body = original[h.data_start + t["offset"]:h.data_start + end]
        if t["name"] in INLINE:
            if t["type"] != "F32":
                raise RebuildError(f"{label}: inline tensor {t['name']} is {t['type']}, only F32 is supported")
            sources, transform, extra = [], "inline", {"data": body.hex()}
        elif arch in ("qwen3moe", "qwen2moe") or (arch == "llama" and f"{arch}.expert_count" in h.metadata):
            sources, transform, extra = qwen3moe(t["name"], n_head, n_head_kv, h.metadata[f"{arch}.expert_count"],
                                                 arch)
        elif arch == "granitemoe":
            sources, transform, extra = granitemoe(t["name"], n_head, n_head_kv,
                                                   h.metadata["granitemoe.feed_forward_length"],
                                                   h.metadata.get("granitemoe.expert_shared_feed_forward_length"))
        elif arch in ("llama", "smollm3", "granite", "qwen2", "qwen3"):
            sources, transform, extra = llama_like(t["name"], arch, n_head, n_head_kv)
        elif arch in ("gemma2", "gemma3"):
            sources, transform, extra = gemma3(t["name"])
        elif arch == "phi3":
            sources, transform, extra = phi3(t["name"])
        elif arch == "gpt2":
            sources, transform, extra = gpt2(t["name"])
        else:
            raise RebuildError(f"{label}: architecture {arch} has no name mapping")
        entry = {"name": t["name"], "type": t["type"], "shape": t["shape"], "offset": t["offset"],
                 "n_bytes": t["n_bytes"], "pad_after": pad, "sources": sources, "transform": transform, **extra,
                 "sha256": rebuild.sha256_bytes(body)}
        tensors.append(entry)

    header = original[:h.data_start]
    recipe = {
        "file": f"{stem}.gguf",
        "size": len(original),
        "sha256": digest,
        "header_bytes": len(header),
        "header_sha256": rebuild.sha256_bytes(header),
        "source": {"path": source_rel, "sha256": source_sha},
        "made_by": ref.get("gguf", {}).get(f"{stem}.gguf", {}).get("made_by", "convert_hf_to_gguf.py"),
        "tensors": tensors,
    }

    # Prove the recipe with the rebuild script's code, tensor by tensor and as a whole.
    st = rebuild.Safetensors(source_path)
    for entry in tensors:
        got = rebuild.tensor_bytes(entry, st)
        if got != original[h.data_start + entry["offset"]:h.data_start + entry["offset"] + entry["n_bytes"]]:
            raise RebuildError(f"{label}: tensor {entry['name']}: recipe {entry['transform']} does not reproduce it")
    if rebuild.assemble(recipe, header, st, label) != original:
        raise RebuildError(f"{label}: assembled file differs from the original")

    out_dir = os.path.join(model_dir, "gguf-skeletons")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, f"{stem}.skeleton")
    rebuild.write_atomically(out, rebuild.encode_skeleton(recipe, header))
    recipe2, header2 = rebuild.decode_skeleton(out)
    if rebuild.assemble(recipe2, header2, st, label) != original:
        raise RebuildError(f"{out}: round trip through the skeleton file differs from the original")
    return out, len(header)


def _crosscheck_gguf_py(path, h):
    try:
        from gguf import GGUFReader
    except ImportError:
        print("make-gguf-skeletons: gguf-py not installed; header parsed by this script only", file=sys.stderr)
        return
    r = GGUFReader(path)
    assert r.data_offset == h.data_start, (path, r.data_offset, h.data_start)
    assert len(r.tensors) == len(h.tensors), path
    for a, b in zip(r.tensors, h.tensors):
        assert a.name == b["name"] and a.tensor_type.name == b["type"], (path, a.name)
        assert a.data_offset == h.data_start + b["offset"] and a.n_bytes == b["n_bytes"], (path, a.name)
        assert [int(x) for x in a.shape] == b["shape"], (path, a.name)


def main():
    default = os.path.join(os.environ["SIEVE_SHARED_FIXTURES"], "models") if "SIEVE_SHARED_FIXTURES" in os.environ \
        else os.path.join(REPO, "..", "shared", "fixtures", "models")
    p = argparse.ArgumentParser(description="Write the GGUF skeletons from the original float GGUFs.")
    p.add_argument("--shared", default=default, help="the shared fixture set's models folder (default: %(default)s)")
    p.add_argument("--only", action="append", metavar="NAME/STEM",
                   help="only this fixture (repeatable), e.g. tiny-llama-rope/llama3")
    args = p.parse_args()
    fixtures = rebuild.FIXTURES
    if args.only:
        unknown = [f for f in args.only if tuple(f.split("/", 1)) not in rebuild.FIXTURES]
        if unknown:
            sys.exit(f"make-gguf-skeletons: unknown fixture(s) {', '.join(unknown)}")
        fixtures = [f for f in rebuild.FIXTURES if "/".join(f) in args.only]
    for name, stem in fixtures:
        originals = MODELS if name in DERIVED else os.path.normpath(args.shared)
        try:
            out, header_bytes = make(originals, name, stem)
        except (RebuildError, OSError, KeyError) as e:
            sys.exit(f"make-gguf-skeletons: {name}/{stem}.gguf: {e}")
        print(f"make-gguf-skeletons: {os.path.relpath(out, REPO)}: {os.path.getsize(out):,} bytes "
              f"(header {header_bytes:,} bytes), verified against the original")


if __name__ == "__main__":
    main()
