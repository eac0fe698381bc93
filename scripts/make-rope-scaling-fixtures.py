#!/usr/bin/env python3
"""Make Tests/Fixtures/models/tiny-llama-rope/: tiny-llama with RoPE frequency scaling, and llama.cpp's outputs.

Run by the fixtures' maintainer:

    scripts/make-rope-scaling-fixtures.py --llama-cpp DIR      (or LLAMA_CPP_DIR=DIR scripts/make-rope-scaling-fixtures.py)

It needs
  - Python 3 with numpy, gguf 0.19.0 (gguf-py: GGUFReader, GGUFWriter) and safetensors (its numpy API);
  - a C compiler (`cc`, or --cc);
  - a built llama.cpp, commit 0c1e57098 (the one every other llama.cpp reference here comes from): DIR holds
    include/llama.h, ggml/include/ and build/bin/libllama.so (+ libggml*.so), e.g. the `vendor/llama.cpp` of the
    llama-cpp-python 0.3.36 sdist built with CMake (BUILD_SHARED_LIBS on);
  - tiny-llama's committed `hf/` and `gguf-skeletons/f32.skeleton` (its f32.gguf is rebuilt first if missing).

What it does, in the folder Tests/Fixtures/models/tiny-llama-rope/:
  1. `llama3.gguf`: tiny-llama's f32.gguf (read with GGUFReader, written again with GGUFWriter: same metadata,
     tensors, order and types) plus the tensor `rope_freqs.weight` (F32, [head_dim/2] = [32]) put first, where
     llama.cpp's convert_hf_to_gguf.py puts it: one factor per frequency pair by Llama 3.1's rule ("llama3") for
     base 10000, dim 64, factor 8, low_freq_factor 1, high_freq_factor 4, original_max_position_embeddings 64.
     The frequencies are numpy float32 `1 / base ** (arange(0, dim, 2) / dim)`, and the rest runs in float32 too,
     as in the converter (which loops over a float32 torch tensor). `general.name` becomes "tiny-llama-rope-llama3".
  2. `linear.gguf`: tiny-llama's f32.gguf plus `llama.rope.scaling.type` = "linear" and `llama.rope.scaling.factor`
     = 4.0 (float32) right after `llama.rope.freq_base`; `general.name` "tiny-llama-rope-linear".
  3. `config-llama3.json`, `config-linear.json`: tiny-llama's hf/config.json with `rope_scaling` set (pair them
     with tiny-llama/hf's weights and tokenizer).
  4. `gguf-skeletons/{llama3,linear}.skeleton` (scripts/make-gguf-skeletons.py's `make`, tensors from
     `../tiny-llama/hf/model.safetensors`, `rope_freqs.weight` inline), so scripts/rebuild-gguf-fixtures.py
     rebuilds both GGUFs byte for byte; the GGUFs themselves are git-ignored.
  5. compiles scripts/llama-cpp-logits.c against DIR and runs it on tiny-llama's 24 `input_ids`: first on
     tiny-llama/f32.gguf, which must reproduce tiny-llama's committed `ref-llama-cpp.safetensors` `logits.f32`
     and `hidden_last.f32` (the harness check), then on llama3.gguf and linear.gguf, each twice (the outputs must
     be bit-identical). The scaled logits must differ from the unscaled ones by more than 0.05 somewhere.
  6. `ref-llama-cpp.safetensors`: `input_ids` (int64 [1, 24]), `logits.llama3`, `logits.linear` ([1, 24, 512]),
     `hidden_last.llama3`, `hidden_last.linear` ([1, 24, 256], llama.cpp's `result_norm`), float32.
  7. `ref.json`: input ids, the two rope_scaling parameter sets, the rope_freqs factors, the checks' numbers,
     provenance, tool versions, and the `files` map (size and sha256 of every data file of the folder; the
     rebuild script checks the GGUFs against it). README.md is written by hand and not in the map.

Deterministic: the same inputs give the same bytes (the llama.cpp outputs for the same build on the same CPU).
"""

import argparse
import hashlib
import importlib.util
from importlib import metadata
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter
from safetensors.numpy import load_file, save

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, ".."))
MODELS = os.path.join(REPO, "Tests", "Fixtures", "models")
BASE = os.path.join(MODELS, "tiny-llama")
NAME = "tiny-llama-rope"
OUT = os.path.join(MODELS, NAME)
HARNESS = os.path.join(HERE, "llama-cpp-logits.c")
LLAMA_CPP_COMMIT = "0c1e57098"

LLAMA3 = {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 64,
          "rope_type": "llama3"}
LINEAR = {"factor": 4.0, "rope_type": "linear"}
MIN_SCALING_EFFECT = 0.05   # max |logit difference| the scaling must cause against unscaled tiny-llama
HARNESS_TOLERANCE = 1e-5    # max |difference| from a committed llama.cpp reference allowed for the harness


def load_script(filename, module):
    spec = importlib.util.spec_from_file_location(module, os.path.join(HERE, filename))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


rebuild = load_script("rebuild-gguf-fixtures.py", "rebuild_gguf_fixtures")
skeletons = load_script("make-gguf-skeletons.py", "make_gguf_skeletons")


def say(text):
    print(f"rope-fixtures: {text}", flush=True)


def rel(path):
    return os.path.relpath(path, REPO)


# --- RoPE factors ---------------------------------------------------------------------------------------------

def llama3_factors(base, dim, factor, low_freq_factor, high_freq_factor, old_context_len):
    """Per-pair divisors of the RoPE frequencies (Llama 3.1 rule), as float32, and the class of each pair."""
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    assert freqs.dtype == np.float32
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    out, kinds = [], []
    # The converter loops over a float32 torch tensor, so every step below runs in float32 (Python scalars are
    # cast to the tensor's type); numpy 2's scalar promotion (NEP 50) does the same with np.float32.
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        assert wavelen.dtype == np.float32
        if wavelen < high_freq_wavelen:
            out.append(1.0)
            kinds.append("1")
        elif wavelen > low_freq_wavelen:
            out.append(float(factor))
            kinds.append("factor")
        else:
            smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            value = 1 / ((1 - smooth) / factor + smooth)
            assert value.dtype == np.float32
            out.append(value)
            kinds.append("smooth")
    return freqs, np.array(out, dtype=np.float32), kinds


# --- GGUFs ----------------------------------------------------------------------------------------------------

def write_gguf_file(path, arch, fill):
    """Write a GGUF with gguf-py's GGUFWriter, atomically (a temporary file renamed to `path`): the writer writes
    general.architecture = `arch` first, `fill(writer)` adds the rest of the metadata and the tensors. Returns what
    `fill` returns."""
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=os.path.dirname(path))
    os.close(fd)
    try:
        writer = GGUFWriter(tmp, arch)
        result = fill(writer)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return result


def copy_field(writer, field, value):
    """Add a GGUFReader field's key with `value` and the field's type (an array with its element type)."""
    if field.types[0] == GGUFValueType.ARRAY:
        assert len(field.types) == 2, f"{field.name}: nested arrays are not copied"
        writer.add_key_value(field.name, value, field.types[0], sub_type=field.types[1])
    else:
        writer.add_key_value(field.name, value, field.types[0])


def derive_gguf(src, dst, general_name, after_key=None, extra_kv=(), first_tensors=()):
    """Copy `src` to `dst` with gguf-py: `general.name` replaced, `extra_kv` (key, value, type) inserted after
    `after_key`, `first_tensors` (name, float32 array) placed before the source's tensors."""
    reader = GGUFReader(src)

    def fill(writer):   # the writer has written general.architecture itself, first, as the source has it
        inserted = False
        for field in reader.fields.values():
            if field.name.startswith("GGUF.") or field.name == "general.architecture":
                continue
            copy_field(writer, field, general_name if field.name == "general.name" else field.contents())
            if field.name == after_key:
                for key, v, vtype in extra_kv:
                    writer.add_key_value(key, v, vtype)
                inserted = True
        if extra_kv and not inserted:
            raise SystemExit(f"rope-fixtures: {src} has no key {after_key}")
        for name, array in first_tensors:
            writer.add_tensor(name, np.ascontiguousarray(array, dtype=np.float32))
        for t in reader.tensors:
            writer.add_tensor(t.name, np.array(t.data), raw_dtype=t.tensor_type)

    write_gguf_file(dst, reader.fields["general.architecture"].contents(), fill)


def gguf_summary(path):
    """(metadata {key: (types, value)}, [(tensor name, type, shape, bytes sha256)]) read with GGUFReader."""
    reader = GGUFReader(path)
    kv = {}
    for field in reader.fields.values():
        if field.name.startswith("GGUF."):
            continue
        kv[field.name] = ([t.name for t in field.types], field.contents())
    tensors = [(t.name, t.tensor_type.name, [int(d) for d in t.shape], hashlib.sha256(t.data.tobytes()).hexdigest())
               for t in reader.tensors]
    return kv, tensors


def verify_derived(src, dst, general_name, extra_kv, first_tensors):
    """The derived GGUF equals the source except for the intended changes (read back with GGUFReader)."""
    kv_src, t_src = gguf_summary(src)
    kv_dst, t_dst = gguf_summary(dst)
    expected_kv = dict(kv_src)
    expected_kv["general.name"] = (["STRING"], general_name)
    keys = list(kv_src)
    for key, value, vtype in extra_kv:
        expected_kv[key] = ([vtype.name], value)
    if extra_kv:
        at = keys.index("llama.rope.freq_base") + 1
        keys[at:at] = [k for k, _, _ in extra_kv]
    assert list(kv_dst) == keys, f"{dst}: metadata order {list(kv_dst)}"
    for key in keys:
        assert kv_dst[key] == expected_kv[key], f"{dst}: {key} = {kv_dst[key]}, expected {expected_kv[key]}"
    extra = [(n, "F32", [int(a.size)], hashlib.sha256(np.ascontiguousarray(a, "<f4").tobytes()).hexdigest())
             for n, a in first_tensors]
    assert t_dst == extra + t_src, f"{dst}: tensors differ from the source's"


# --- llama.cpp ------------------------------------------------------------------------------------------------

def build_harness(llama_cpp, cc, workdir, source=HARNESS):
    """Compile a C harness (scripts/llama-cpp-logits.c unless `source` says otherwise) against libllama."""
    exe = os.path.join(workdir, os.path.splitext(os.path.basename(source))[0])
    lib = os.path.join(llama_cpp, "build", "bin")
    cmd = [cc, "-O2", "-std=c11", "-Wall", "-Wextra", "-o", exe, source,
           "-I", os.path.join(llama_cpp, "include"), "-I", os.path.join(llama_cpp, "ggml", "include"),
           "-L", lib, "-lllama", f"-Wl,-rpath,{lib}"]
    subprocess.run(cmd, check=True)
    return exe


def run_libllama(exe, llama_cpp, args):
    """Run a harness built by build_harness with `args`, libllama on the library path: the finished process
    (stdout and stderr as text)."""
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(llama_cpp, "build", "bin"))
    return subprocess.run([exe, *args], env=env, check=True, capture_output=True, text=True)


def harness_outputs(exe, llama_cpp, model, ids, workdir, tag, n_ctx=None):
    """(logits [1, T, vocab], hidden [1, T, n_embd], freq_scale_train, the harness's stderr lines: libllama's
    RoPE lines and every warning or error it logged). `n_ctx` given: the harness's --n-ctx (default 256)."""
    prefix = os.path.join(workdir, tag)
    options = [] if n_ctx is None else ["--n-ctx", str(n_ctx)]
    done = run_libllama(exe, llama_cpp, [*options, model, prefix, *map(str, ids)])
    n_tokens, n_vocab, n_embd, freq_scale = done.stdout.split()
    n_tokens, n_vocab, n_embd = int(n_tokens), int(n_vocab), int(n_embd)
    logits = np.fromfile(prefix + ".logits.f32", dtype="<f4").reshape(1, n_tokens, n_vocab)
    hidden = np.fromfile(prefix + ".hidden.f32", dtype="<f4").reshape(1, n_tokens, n_embd)
    return logits, hidden, float(freq_scale), done.stderr.splitlines()


def harness_outputs_twice(exe, llama_cpp, model, ids, workdir, tag, prog, n_ctx=None):
    """harness_outputs of a second run too: exits unless the two runs' outputs are bit-identical."""
    first = harness_outputs(exe, llama_cpp, model, ids, workdir, tag, n_ctx)
    again = harness_outputs(exe, llama_cpp, model, ids, workdir, tag + "-again", n_ctx)
    if not (np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])):
        sys.exit(f"{prog}: two runs on {os.path.basename(model)} differ")
    return first


def check_harness(exe, llama_cpp, base, ids, workdir, prog, say):
    """The harness on models/`base`/f32.gguf with `ids` must reproduce `base`'s committed ref-llama-cpp.safetensors
    (logits.f32, hidden_last.f32) to HARNESS_TOLERANCE, or the script exits. Returns (the check's numbers, logits,
    hidden)."""
    folder = os.path.join(MODELS, base)
    committed = load_file(os.path.join(folder, "ref-llama-cpp.safetensors"))
    logits, hidden, _, _ = harness_outputs(exe, llama_cpp, os.path.join(folder, "f32.gguf"), ids, workdir, base)
    check = {
        "model": f"{base}/f32.gguf",
        "max_abs_logit_diff_vs_committed_logits.f32": max_abs(logits, committed["logits.f32"]),
        "max_abs_hidden_diff_vs_committed_hidden_last.f32": max_abs(hidden, committed["hidden_last.f32"]),
    }
    say(f"harness on {base}/f32.gguf vs committed reference: {check}")
    if max(check[k] for k in list(check)[1:]) > HARNESS_TOLERANCE:
        sys.exit(f"{prog}: the harness does not reproduce {base}'s committed llama.cpp reference")
    return check, logits, hidden


def split_log(log, expected_warnings=()):
    """A harness's stderr lines: (libllama's print_info lines about RoPE without that prefix, the warnings and
    errors (every line not about RoPE), those of them not in `expected_warnings`)."""
    rope_log = [line.split("print_info:", 1)[1].strip() for line in log if line.startswith("print_info: rope")]
    warnings = [line for line in log if "rope" not in line]
    return rope_log, warnings, [line for line in warnings if line not in expected_warnings]


def llama_cpp_info(n_tokens, repeats, harness_check, **results):
    """ref.json's `llama_cpp`: the commit, how the harness ran on `n_tokens` ids (`repeats`: how often each model
    ran), check_harness's numbers, then `results`."""
    method = (f"scripts/llama-cpp-logits.c on libllama: all {n_tokens} positions in one batch (sequence 0, positions "
              f"0..{n_tokens - 1}, output at every position), n_ctx 256, n_batch = n_ubatch = 256, F32 K/V cache, "
              f"flash attention disabled, embeddings on with pooling NONE (hidden_last = result_norm), 2 threads; "
              f"{repeats}")
    return {"commit": LLAMA_CPP_COMMIT, "method": method, "harness_check": harness_check, **results}


def write_llama_reference(path, tensors):
    """ref-llama-cpp.safetensors: the harness's outputs, the llama.cpp build named as the generator."""
    generator = f"llama.cpp {LLAMA_CPP_COMMIT} libllama, F32 K/V cache, flash attention off"
    rebuild.write_atomically(path, save(tensors, metadata={"generator": generator}))


# --- an independent float64 forward pass --------------------------------------------------------------------

def numpy_llama(weights, config, ids, inv_freq_divisors=None, position_divisor=1.0, qk_norm=True, ffn=None):
    """(logits, hidden_last) [T, vocab], [T, hidden] of a Llama-family model's HF weights (tiny-llama, tiny-qwen3)
    in float64, with transformers' rotate-half RoPE: pair i turns by
    (position / position_divisor) * theta^(-2i/d) / inv_freq_divisors[i]. Qwen3: when the weights have
    `self_attn.q_norm` / `k_norm` (and `qk_norm`), each head's queries and keys get that RMSNorm over head_dim
    before RoPE; with `tie_word_embeddings` the LM head is `model.embed_tokens.weight`. `ffn(layer, x)`, when
    given, is the feed-forward block's output for post_attention_layernorm's output x [T, hidden] instead of
    SwiGLU's (scripts/make-qwen3moe-fixture.py: the sparse MoE block). Granite (scripts/make-granite-fixture.py):
    each of the config's keys `embedding_multiplier` (the input embeddings x it), `attention_multiplier` (the scores
    x it instead of / sqrt(d)), `residual_multiplier` (each block's attention and feed-forward output x it before
    the residual add) and `logits_scaling` (the logits / it), where present, is applied as GraniteForCausalLM
    applies it; a config without them takes Llama's path unchanged."""
    w = weights
    n_head, n_kv = config["num_attention_heads"], config["num_key_value_heads"]
    d = config.get("head_dim", config["hidden_size"] // n_head)
    eps, T = config["rms_norm_eps"], len(ids)

    def norm(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    inv = config["rope_theta"] ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    if inv_freq_divisors is not None:
        inv = inv / np.asarray(inv_freq_divisors, dtype=np.float64)
    angle = (np.arange(T, dtype=np.float64) / position_divisor)[:, None] * inv[None]
    cos, sin = np.tile(np.cos(angle), 2)[:, None], np.tile(np.sin(angle), 2)[:, None]

    def rope(x):
        return x * cos + np.concatenate([-x[..., d // 2:], x[..., :d // 2]], -1) * sin

    residual_multiplier = config.get("residual_multiplier")

    def residual(y):
        return y if residual_multiplier is None else y * residual_multiplier

    mask = np.triu(np.full((T, T), -np.inf), 1)
    h = w["model.embed_tokens.weight"][ids]
    if "embedding_multiplier" in config:
        h = h * config["embedding_multiplier"]
    for layer in range(config["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        x = norm(h, w[p + "input_layernorm.weight"])
        q = (x @ w[p + "self_attn.q_proj.weight"].T).reshape(T, n_head, d)
        k = (x @ w[p + "self_attn.k_proj.weight"].T).reshape(T, n_kv, d)
        if qk_norm and p + "self_attn.q_norm.weight" in w:
            q, k = norm(q, w[p + "self_attn.q_norm.weight"]), norm(k, w[p + "self_attn.k_norm.weight"])
        q, k = rope(q), rope(k)
        v = (x @ w[p + "self_attn.v_proj.weight"].T).reshape(T, n_kv, d)
        heads = []
        for i in range(n_head):
            j = i // (n_head // n_kv)
            if "attention_multiplier" in config:
                s = q[:, i] @ k[:, j].T * config["attention_multiplier"] + mask
            else:
                s = q[:, i] @ k[:, j].T / math.sqrt(d) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            heads.append((s / s.sum(-1, keepdims=True)) @ v[:, j])
        h = h + residual(np.concatenate(heads, -1) @ w[p + "self_attn.o_proj.weight"].T)
        x = norm(h, w[p + "post_attention_layernorm.weight"])
        if ffn is not None:
            h = h + residual(ffn(layer, x))
            continue
        gate, up = x @ w[p + "mlp.gate_proj.weight"].T, x @ w[p + "mlp.up_proj.weight"].T
        h = h + residual((gate / (1 + np.exp(-gate)) * up) @ w[p + "mlp.down_proj.weight"].T)
    hidden = norm(h, w["model.norm.weight"])
    head = w["model.embed_tokens.weight"] if config.get("tie_word_embeddings") else w["lm_head.weight"]
    logits = hidden @ head.T
    if "logits_scaling" in config:
        logits = logits / config["logits_scaling"]
    return logits, hidden


def max_abs(a, b):
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def tensor_keys(tensors):
    """ref.json's summary of a safetensors file's tensors: {name: {dtype, shape}}, sorted."""
    return {k: {"dtype": str(v.dtype), "shape": list(v.shape)} for k, v in sorted(tensors.items())}


# --- driver ---------------------------------------------------------------------------------------------------

def file_entry(path):
    return {"size_bytes": os.path.getsize(path), "sha256": rebuild.sha256_file(path)}


def write_json(path, obj, indent, sort_keys=False):
    """JSON as the fixtures write it: ref.json with indent 1; configs as transformers (indent 2, sorted keys)."""
    text = json.dumps(obj, indent=indent, ensure_ascii=False, sort_keys=sort_keys) + "\n"
    rebuild.write_atomically(path, text.encode("utf-8"))


def tool_version(cmd):
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[0].strip()
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"


def parse_arguments(folder, tag, say):
    """The command line of a fixture script: (args, the llama.cpp folder, its commit); warns when the commit is not
    the one the references come from."""
    p = argparse.ArgumentParser(description=f"Make Tests/Fixtures/models/{folder}/ (see the script's header).")
    p.add_argument("--llama-cpp", default=os.environ.get("LLAMA_CPP_DIR"),
                   help="a built llama.cpp (include/, ggml/include/, build/bin/libllama.so); default $LLAMA_CPP_DIR")
    p.add_argument("--cc", default=os.environ.get("CC", "cc"), help="C compiler (default $CC or cc)")
    args = p.parse_args()
    if not args.llama_cpp or not os.path.exists(os.path.join(args.llama_cpp, "include", "llama.h")):
        sys.exit(f"{tag}: give a built llama.cpp with --llama-cpp DIR (DIR/include/llama.h, DIR/build/bin)")
    llama_cpp = os.path.abspath(args.llama_cpp)
    commit = tool_version(["git", "-C", llama_cpp, "rev-parse", "--short=9", "HEAD"])
    if commit != LLAMA_CPP_COMMIT:
        say(f"warning: llama.cpp at {llama_cpp} is at commit {commit}, the references here come from {LLAMA_CPP_COMMIT}")
    return args, llama_cpp, commit


def main():
    args, llama_cpp, commit = parse_arguments(NAME, "rope-fixtures", say)

    say(rebuild.rebuild(MODELS, "tiny-llama", "f32", False, False, {}))
    base_ref = json.load(open(os.path.join(BASE, "ref.json"), encoding="utf-8"))
    ids = base_ref["input_ids"]
    config = json.load(open(os.path.join(BASE, "hf", "config.json"), encoding="utf-8"))
    base_gguf = os.path.join(BASE, "f32.gguf")
    os.makedirs(os.path.join(OUT, "gguf-skeletons"), exist_ok=True)

    # 1. RoPE factors.
    head_dim = config["head_dim"]
    freqs, factors, kinds = llama3_factors(config["rope_theta"], head_dim, LLAMA3["factor"], LLAMA3["low_freq_factor"],
                                           LLAMA3["high_freq_factor"], LLAMA3["original_max_position_embeddings"])
    for i, (f, v, k) in enumerate(zip(freqs, factors, kinds)):
        say(f"rope_freqs[{i:2d}] freq {float(f):.9g} wavelen {2 * math.pi / float(f):10.4f} -> {float(v):.9g} ({k})")
    groups = {k: [i for i, x in enumerate(kinds) if x == k] for k in ("1", "smooth", "factor")}
    assert groups == {"1": [0, 1, 2, 3], "smooth": [4, 5, 6, 7, 8], "factor": list(range(9, 32))}, groups
    say("pairs 0-3 factor 1, pairs 4-8 smoothed, pairs 9-31 factor 8: as expected")

    # 2. GGUFs.
    variants = {
        "llama3": dict(general_name=f"{NAME}-llama3", extra_kv=(), first_tensors=[("rope_freqs.weight", factors)]),
        "linear": dict(general_name=f"{NAME}-linear",
                       extra_kv=(("llama.rope.scaling.type", "linear", GGUFValueType.STRING),
                                 ("llama.rope.scaling.factor", LINEAR["factor"], GGUFValueType.FLOAT32)),
                       first_tensors=[]),
    }
    for stem, v in variants.items():
        dst = os.path.join(OUT, f"{stem}.gguf")
        derive_gguf(base_gguf, dst, v["general_name"], "llama.rope.freq_base", v["extra_kv"], v["first_tensors"])
        verify_derived(base_gguf, dst, v["general_name"], v["extra_kv"], v["first_tensors"])
        say(f"{rel(dst)}: {os.path.getsize(dst):,} bytes, checked against tiny-llama/f32.gguf with GGUFReader")

    # 3. configs.
    for stem, scaling in (("llama3", LLAMA3), ("linear", LINEAR)):
        write_json(os.path.join(OUT, f"config-{stem}.json"), dict(config, rope_scaling=scaling), indent=2, sort_keys=True)

    # 4. skeletons: ref.json must record the GGUFs' sha256 first (make() checks the original against it).
    gguf_info = {
        "llama3.gguf": {
            "made_by": "scripts/make-rope-scaling-fixtures.py: tiny-llama/f32.gguf copied with gguf-py 0.19.0 "
                       "(GGUFReader -> GGUFWriter) + tensor rope_freqs.weight (F32 [32], first)",
            "changes_from_tiny_llama_f32": ["general.name = tiny-llama-rope-llama3",
                                            "tensor rope_freqs.weight (F32, ggml shape [32]) added before all others"],
        },
        "linear.gguf": {
            "made_by": "scripts/make-rope-scaling-fixtures.py: tiny-llama/f32.gguf copied with gguf-py 0.19.0 "
                       "(GGUFReader -> GGUFWriter) + RoPE scaling metadata",
            "changes_from_tiny_llama_f32": ["general.name = tiny-llama-rope-linear",
                                            "llama.rope.scaling.type = \"linear\" (string) and "
                                            "llama.rope.scaling.factor = 4.0 (float32), right after "
                                            "llama.rope.freq_base"],
        },
    }
    for name in gguf_info:
        gguf_info[name].update(file_entry(os.path.join(OUT, name)))
    write_json(os.path.join(OUT, "ref.json"), {"gguf": gguf_info,
                                               "files": {n: file_entry(os.path.join(OUT, n)) for n in gguf_info}}, 1)
    for stem in variants:
        out, header_bytes = skeletons.make(MODELS, NAME, stem)
        say(f"{rel(out)}: {os.path.getsize(out):,} bytes (header {header_bytes:,}), round trip verified")

    # 5. llama.cpp.
    with tempfile.TemporaryDirectory(prefix="rope-fixtures-") as work:
        exe = build_harness(llama_cpp, args.cc, work)
        harness_check, base_logits, base_hidden = check_harness(exe, llama_cpp, "tiny-llama", ids, work,
                                                                "rope-fixtures", say)
        outputs, effects = {}, {}
        for stem in variants:
            model = os.path.join(OUT, f"{stem}.gguf")
            logits, hidden, scale, log = harness_outputs_twice(exe, llama_cpp, model, ids, work, stem, "rope-fixtures")
            outputs[stem] = (logits, hidden)
            effects[stem] = {
                "max_abs_logit_diff": max_abs(logits, base_logits),
                "max_abs_hidden_last_diff": max_abs(hidden, base_hidden),
                "positions_with_max_abs_logit_diff_above_1e-4": int(
                    np.sum(np.max(np.abs(logits - base_logits), axis=-1) > 1e-4)),
                "argmax_agree_positions": int(np.sum(logits.argmax(-1) == base_logits.argmax(-1))),
                "llama_cpp_freq_scale_train": scale,
                "llama_cpp_rope_log": split_log(log)[0],
            }
            say(f"{stem}.gguf against unscaled tiny-llama (llama.cpp): {effects[stem]}")
            if effects[stem]["max_abs_logit_diff"] <= MIN_SCALING_EFFECT:
                sys.exit(f"rope-fixtures: {stem} scaling changes the logits by only "
                         f"{effects[stem]['max_abs_logit_diff']}")

    # An independent check of what the references mean: a float64 numpy forward pass of tiny-llama/hf's weights
    # with transformers' RoPE rules (llama3: inv_freq / rope_freqs; linear: position / factor).
    weights = {k: v.astype(np.float64) for k, v in load_file(os.path.join(BASE, "hf", "model.safetensors")).items()}
    transformers_ref = load_file(os.path.join(BASE, "ref.safetensors"))
    logits, hidden = numpy_llama(weights, config, ids)
    numpy_check = {
        "method": "float64 numpy forward pass of tiny-llama/hf/model.safetensors (transformers' LlamaForCausalLM "
                  "math, rotate-half RoPE); llama3: inv_freq divided by the stored float32 rope_freqs values; "
                  "linear: positions divided by 4",
        "unscaled_vs_transformers_ref.safetensors": {
            "max_abs_logit_diff": max_abs(logits, transformers_ref["logits"][0]),
            "max_abs_hidden_last_diff": max_abs(hidden, transformers_ref["hidden_last"][0])},
    }
    for stem, kw in (("llama3", {"inv_freq_divisors": factors}), ("linear", {"position_divisor": LINEAR["factor"]})):
        logits, hidden = numpy_llama(weights, config, ids, **kw)
        numpy_check[f"{stem}_vs_llama_cpp"] = {"max_abs_logit_diff": max_abs(logits, outputs[stem][0][0]),
                                               "max_abs_hidden_last_diff": max_abs(hidden, outputs[stem][1][0])}
    say(f"numpy float64 check: {numpy_check}")
    if max(v for k, e in numpy_check.items() if k != "method" for v in e.values()) > 1e-4:
        sys.exit("rope-fixtures: the numpy forward pass disagrees with the references by more than 1e-4")

    # 6. references.
    tensors = {"input_ids": np.array([ids], dtype=np.int64)}
    for stem, (logits, hidden) in outputs.items():
        tensors[f"logits.{stem}"] = np.ascontiguousarray(logits, dtype=np.float32)
        tensors[f"hidden_last.{stem}"] = np.ascontiguousarray(hidden, dtype=np.float32)
    write_llama_reference(os.path.join(OUT, "ref-llama-cpp.safetensors"), tensors)

    # 7. ref.json.
    files = {}
    for name in ["config-linear.json", "config-llama3.json", "gguf-skeletons/linear.skeleton",
                 "gguf-skeletons/llama3.skeleton", "linear.gguf", "llama3.gguf", "ref-llama-cpp.safetensors"]:
        files[name] = file_entry(os.path.join(OUT, name))
    ref = {
        "model": NAME,
        "base_model": "tiny-llama",
        "description": "tiny-llama's weights, tokenizer and input with RoPE frequency scaling: Llama 3.1's llama3 "
                       "rule (llama3.gguf, config-llama3.json) and linear scaling (linear.gguf, config-linear.json). "
                       "The configs go with ../tiny-llama/hf's weights and tokenizer.",
        "text": base_ref["text"],
        "input_ids": ids,
        "T": len(ids),
        "rope_scaling": {"llama3": LLAMA3, "linear": LINEAR},
        "rope_theta": config["rope_theta"],
        "head_dim": head_dim,
        "rope_freqs": {
            "tensor": "rope_freqs.weight in llama3.gguf (F32, ggml shape [32]); RoPE pair i turns by "
                      "position * base^(-2i/head_dim) / rope_freqs[i]",
            "method": "freqs = numpy float32 1 / base ** (arange(0, dim, 2, float32) / dim); per freq, in float32 "
                      "as the converter's torch loop: wavelen = 2 pi / freq; wavelen < old_ctx / high_freq_factor -> 1; wavelen > old_ctx "
                      "/ low_freq_factor -> factor; else smooth = (old_ctx / wavelen - low_freq_factor) / "
                      "(high_freq_factor - low_freq_factor), 1 / ((1 - smooth) / factor + smooth)",
            "values": [float(v) for v in factors],
            "float32_le_hex": factors.astype("<f4").tobytes().hex(),
            "pairs_factor_1": groups["1"],
            "pairs_smoothed": groups["smooth"],
            "pairs_factor": groups["factor"],
        },
        "ref_safetensors_keys": tensor_keys(tensors),
        "llama_cpp": llama_cpp_info(len(ids), "every model run twice with bit-identical outputs", harness_check,
                                    scaled_vs_unscaled_tiny_llama=effects),
        "numpy_check": numpy_check,
        "gguf": gguf_info,
        "made_by": "scripts/make-rope-scaling-fixtures.py (GGUFs and skeletons; scripts/make-gguf-skeletons.py's "
                   "make), scripts/llama-cpp-logits.c (llama.cpp outputs); configs from tiny-llama/hf/config.json",
        "files": files,
        "tools": tool_versions(args.cc, commit),
    }
    write_ref(OUT, NAME, ref, say)


def tool_versions(cc, commit):
    """The `tools` entry of a fixture's ref.json."""
    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "gguf": metadata.version("gguf"),
        "safetensors": metadata.version("safetensors"),
        "llama.cpp": f"{commit} (libllama, shared build)",
        "cc": tool_version([cc, "--version"]),
    }


def write_ref(out, name, ref, say):
    """Writes `out/ref.json` and lists the files its `files` map records."""
    write_json(os.path.join(out, "ref.json"), ref, 1)
    for path, entry in ref["files"].items():
        say(f"{name}/{path}: {entry['size_bytes']:,} bytes, sha256 {entry['sha256']}")
    say("done")


if __name__ == "__main__":
    main()
