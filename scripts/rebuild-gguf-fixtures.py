#!/usr/bin/env python3
"""Rebuild the GGUF fixtures (float, and two Q8_0) that the repository does not commit, byte for byte.

llama.cpp's `convert_hf_to_gguf.py` wrote six float GGUFs of the tiny models (about 27 MB together),
`scripts/make-rope-scaling-fixtures.py` wrote two more from tiny-llama's f32.gguf with gguf-py's GGUFWriter
(RoPE scaling: llama3 `rope_freqs.weight`, linear metadata; about 12 MB together), and
`scripts/make-qwen3-fixture.py` wrote tiny-qwen3's two (f32.gguf and its YaRN variant yarn.gguf) with GGUFWriter
as the converter would (1.7 MB each),
`scripts/make-gemma3-fixture.py` wrote tiny-gemma3's two (1.2 MB each), `scripts/make-gemma2-fixture.py`
tiny-gemma2's f32.gguf (0.8 MB), `scripts/make-phi3-fixture.py` tiny-phi3's two (0.64 MB each) and
`scripts/make-smollm3-fixture.py` tiny-smollm3's f32.gguf (0.7 MB) the same way; and
`scripts/make-qwen3moe-fixture.py` wrote tiny-qwen3moe's f32.gguf (1.27 MB) the same way and its q8_0.gguf
(0.36 MB) with llama.cpp's `llama-quantize` from that f32.gguf, and `scripts/make-mixtral-fixture.py` tiny-mixtral's
two likewise (1.27 MB and 0.36 MB); `scripts/make-granite-fixture.py` wrote tiny-granite's f32.gguf (0.7 MB) with
GGUFWriter as well, and `scripts/make-granitemoe-fixture.py` tiny-granitemoe's two (f32.gguf from its `hf/`, 1.1 MB,
and shared.gguf from its `hf-shared/`, 1.3 MB: the shared-expert variant), and `scripts/make-qwen2moe-fixture.py`
tiny-qwen2moe's f32.gguf (1.4 MB):

    Tests/Fixtures/models/tiny-llama/{f32,f16,bf16}.gguf
    Tests/Fixtures/models/tiny-llama-bpe/f32.gguf
    Tests/Fixtures/models/tiny-qwen2/f32.gguf
    Tests/Fixtures/models/tiny-gpt2/f32.gguf
    Tests/Fixtures/models/tiny-llama-rope/{llama3,linear}.gguf
    Tests/Fixtures/models/tiny-qwen3/{f32,yarn}.gguf
    Tests/Fixtures/models/tiny-gemma3/{f32,softcap}.gguf
    Tests/Fixtures/models/tiny-gemma2/f32.gguf
    Tests/Fixtures/models/tiny-phi3/{f32,longrope}.gguf
    Tests/Fixtures/models/tiny-smollm3/f32.gguf
    Tests/Fixtures/models/tiny-qwen3moe/{f32,q8_0}.gguf
    Tests/Fixtures/models/tiny-mixtral/{f32,q8_0}.gguf
    Tests/Fixtures/models/tiny-granite/f32.gguf
    Tests/Fixtures/models/tiny-granitemoe/{f32,shared}.gguf
    Tests/Fixtures/models/tiny-qwen2moe/f32.gguf

Their tensor data are a deterministic function of the committed `hf/model.safetensors`, so the repository keeps
only a small *skeleton* of each (`Tests/Fixtures/models/<name>/gguf-skeletons/<stem>.skeleton`, written by
`scripts/make-gguf-skeletons.py`): the exact bytes before the tensor data section plus a recipe per tensor.
This script puts the two together again, checks the result against the sha256 that `ref.json` (`files` map)
records for the original file, and writes it atomically to `Tests/Fixtures/models/<name>/<stem>.gguf`
(git-ignored). A file that is already present with the right sha256 is left alone.

It uses Python 3, numpy and the standard library only (no Sieve code), so it stays an independent cross-check
of Sieve's own GGUF and safetensors readers.

Skeleton format (versions 1 to 5)
---------------------------------
    line 1   b"SIEVE-GGUF-SKELETON <V> <R>\\n", V = format version, R = byte length of the recipe that follows
             (both decimal). Version 2 is version 1 plus the `inline` transform, version 3 is version 2 plus the
             `plus_one` transform, version 4 is version 3 plus the `stack` transform and the Q8_0 type, version 5
             is version 4 plus the `row_slice` transform; a skeleton is written with the lowest version its
             transforms and types need, and this script reads all five.
    R bytes  the recipe: UTF-8 JSON, one line per key and per tensor (readable with `head -c`), see below
    rest     the GGUF file's first `header_bytes` bytes (header, metadata, tensor infos, alignment padding),
             compressed with `lzma` (xz container, standard library)

Recipe keys:
    file             the GGUF's file name (`f32.gguf`)
    size, sha256     size and sha256 of the whole GGUF (equal to ref.json's `files` entry)
    header_bytes     length of the part before the tensor data (= the data section's offset)
    header_sha256    sha256 of those bytes (after decompression)
    source           the safetensors file the tensors come from, relative to the model folder (it may lie in
                     another model folder: tiny-llama-rope's is `../tiny-llama/hf/model.safetensors`; or in another
                     subfolder: tiny-granitemoe's shared.gguf's is `hf-shared/model.safetensors`), and its sha256
    made_by          how the original GGUF was written (provenance only)
    tensors          in file order, each with:
        name         GGUF tensor name
        type         GGML type written: F32, F16, BF16 or (version 4) Q8_0
        shape        ggml shape (ne0 first, the reverse of numpy's order)
        offset       offset inside the data section (relative to `header_bytes`)
        n_bytes      size of the tensor data
        pad_after    zero bytes that follow it (alignment padding up to the next tensor / end of file)
        sources      safetensors tensor name(s); several are concatenated along axis 0 (numpy order), or stacked
                     along a new axis 0 by `stack`; empty for `inline`
        transform    applied to the float32 source, in this order:
                       identity
                       transpose                 2-D transpose (GPT-2's Conv1D [in, out] -> [out, in]; GPT-2's
                                                 c_attn is already the fused q|k|v, so attn_qkv is its transpose)
                       llama_rope_permute        convert_hf_to_gguf's LlamaModel.permute(w, n_head, n_head_kv):
                                                 rows grouped per head from HF's rotate-half order to the
                                                 interleaved order: reshape(h, 2, rows/h/2, ...).swapaxes(1, 2),
                                                 h = n_head_kv when given and different from n_head, else n_head
                       inline                    (version 2) no safetensors source: the float32 values are
                                                 stored in the recipe, field `data` (for tensors the converter
                                                 computes itself, e.g. llama3 RoPE's `rope_freqs.weight`,
                                                 Phi-3 LongRoPE's `rope_factors_long.weight` and
                                                 `rope_factors_short.weight`)
                       plus_one                  (version 3) w + 1.0 in float32: convert_hf_to_gguf's
                                                 Gemma3Model.norm_shift (Gemma2Model.modify_tensors' `+ 1`) for
                                                 every `*norm.weight` (Gemma's RMSNorm multiplies by 1 + weight;
                                                 llama.cpp's by the stored weight)
                       stack                     (version 4) the sources (of one shape) stacked along a new
                                                 axis 0: convert_hf_to_gguf's Qwen2MoeModel.modify_tensors
                                                 (`torch.stack(datas, dim=0)`) merging the per-expert
                                                 `mlp.experts.{e}.{gate,up,down}_proj.weight`, e = 0, 1, ..., into
                                                 one 3-D `ffn_{gate,up,down}_exps.weight` (Qwen3-MoE's and
                                                 Qwen2-MoE's; Mixtral's `w1` / `w3` / `w2` likewise)
                       row_slice                 (version 5) rows row_start .. row_stop - 1 (numpy w[..., start:stop,
                                                 :], the second-to-last axis: a 2-D matrix's rows, each expert's rows
                                                 of a 3-D [experts, rows, cols] tensor) of a single source:
                                                 convert_hf_to_gguf's GraniteMoeModel.modify_tensors splitting
                                                 GraniteMoe's fused `input_linear` (gate rows, then up rows) with
                                                 `data_torch.split(ffn_dim, dim=-2)`: the experts'
                                                 `block_sparse_moe.input_linear.weight` [E, 2 n_ff, d] into
                                                 `ffn_gate_exps` (rows 0 .. n_ff - 1) and `ffn_up_exps` (rows n_ff ..
                                                 2 n_ff - 1), the shared expert's `shared_mlp.input_linear.weight`
                                                 [2 n_ff_shexp, d] into `ffn_gate_shexp` and `ffn_up_shexp`
        n_head, n_head_kv  the permutation's parameters (llama_rope_permute only)
        row_start, row_stop  the slice's bounds (row_slice only)
        data         inline only: the values' float32 little-endian bytes as lowercase hex, numpy (C) order
        sha256       sha256 of the tensor's bytes (pinpoints a mismatch)
    Type conversion from float32: F32 as is; F16 numpy's astype(float16) (IEEE round-to-nearest-even);
    BF16 gguf-py's rounding (NaN made quiet, then round-to-nearest-even on the top 16 bits); Q8_0 ggml's
    quantize_row_q8_0_ref, which llama-quantize uses (blocks of 32 values along ne0: d = max |x| / 127 in
    float32, stored as float16 rounded to nearest even, then 32 int8 roundf(x * (1 / d)), 0 when d is 0).

Usage: scripts/rebuild-gguf-fixtures.py [--check] [--force] [--models DIR]
    --check   only verify the rebuilt files that exist / report missing ones; write nothing
    --force   rebuild even when a file is present with the right sha256
Exit status 0 when every file is present and verified, 1 otherwise (with a message naming the file).
"""

import argparse
import hashlib
import json
import lzma
import os
import struct
import sys
import tempfile

try:
    import numpy as np
except ImportError:  # pragma: no cover
    sys.exit("rebuild-gguf-fixtures: numpy is required (python3 -m pip install numpy)")

MAGIC = b"SIEVE-GGUF-SKELETON"
VERSION = 1          # written for recipes without `inline` or `plus_one` tensors
INLINE_VERSION = 2   # written when a tensor's transform is `inline` (and none is `plus_one`)
PLUS_ONE_VERSION = 3  # written when a tensor's transform is `plus_one`
STACK_Q8_0_VERSION = 4  # written when a tensor's transform is `stack` or its type Q8_0 (and none is `row_slice`)
ROW_SLICE_VERSION = 5   # written when a tensor's transform is `row_slice`
READ_VERSIONS = (VERSION, INLINE_VERSION, PLUS_ONE_VERSION, STACK_Q8_0_VERSION, ROW_SLICE_VERSION)
# The rebuilt GGUFs: (model folder, file stem).
FIXTURES = [
    ("tiny-llama", "f32"),
    ("tiny-llama", "f16"),
    ("tiny-llama", "bf16"),
    ("tiny-llama-bpe", "f32"),
    ("tiny-qwen2", "f32"),
    ("tiny-gpt2", "f32"),
    ("tiny-llama-rope", "llama3"),
    ("tiny-llama-rope", "linear"),
    ("tiny-qwen3", "f32"),
    ("tiny-qwen3", "yarn"),
    ("tiny-gemma3", "f32"),
    ("tiny-gemma3", "softcap"),
    ("tiny-gemma2", "f32"),
    ("tiny-phi3", "f32"),
    ("tiny-phi3", "longrope"),
    ("tiny-smollm3", "f32"),
    ("tiny-qwen3moe", "f32"),
    ("tiny-qwen3moe", "q8_0"),
    ("tiny-mixtral", "f32"),
    ("tiny-mixtral", "q8_0"),
    ("tiny-granite", "f32"),
    ("tiny-granitemoe", "f32"),
    ("tiny-granitemoe", "shared"),
    ("tiny-qwen2moe", "f32"),
]
REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DEFAULT_MODELS = os.path.join(REPO, "Tests", "Fixtures", "models")


class RebuildError(Exception):
    pass


def shown(path):
    """`path` relative to the repository when inside it (messages read the same from any directory)."""
    rel = os.path.relpath(os.path.abspath(path), REPO)
    return path if rel.startswith("..") else rel


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- skeleton -------------------------------------------------------------------------------------------------

def encode_skeleton(recipe, header):
    """The skeleton file's bytes for a recipe (dict) and the raw header bytes."""
    # One line per key and per tensor: readable with `head -c`, and diffs show which tensor changed.
    fields = [f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=True)}" for k, v in recipe.items() if k != "tensors"]
    rows = [f"  {json.dumps(t, ensure_ascii=True)}" for t in recipe["tensors"]]
    text = ("{\n" + ",\n".join(fields + [' "tensors": [\n' + ",\n".join(rows) + "\n ]"]) + "\n}\n").encode("utf-8")
    transforms = {t["transform"] for t in recipe["tensors"]}
    types = {t["type"] for t in recipe["tensors"]}
    version = (ROW_SLICE_VERSION if "row_slice" in transforms else
               STACK_Q8_0_VERSION if "stack" in transforms or "Q8_0" in types else
               PLUS_ONE_VERSION if "plus_one" in transforms else INLINE_VERSION if "inline" in transforms else VERSION)
    first = b"%s %d %d\n" % (MAGIC, version, len(text))
    packed = lzma.compress(header, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=9 | lzma.PRESET_EXTREME)
    return first + text + packed


def decode_skeleton(path):
    """(recipe, header bytes) of a skeleton file; RebuildError naming the file when it is malformed."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise RebuildError(f"{shown(path)}: cannot read the skeleton ({e.strerror})")
    newline = data.find(b"\n")
    fields = data[:newline].split(b" ") if newline > 0 else []
    if len(fields) != 3 or fields[0] != MAGIC or not fields[2].isdigit():
        raise RebuildError(f"{shown(path)}: not a GGUF skeleton (first line should be '{MAGIC.decode()} {VERSION} <length>')")
    if fields[1] not in [str(v).encode() for v in READ_VERSIONS]:
        raise RebuildError(f"{shown(path)}: skeleton version {fields[1].decode(errors='replace')}, this script reads "
                           f"{', '.join(map(str, READ_VERSIONS[:-1]))} and {READ_VERSIONS[-1]}")
    start, length = newline + 1, int(fields[2])
    try:
        recipe = json.loads(data[start:start + length].decode("utf-8"))
        header = lzma.decompress(data[start + length:], format=lzma.FORMAT_XZ)
    except (ValueError, lzma.LZMAError) as e:
        raise RebuildError(f"{shown(path)}: corrupt skeleton ({e})")
    if len(header) != recipe["header_bytes"] or sha256_bytes(header) != recipe["header_sha256"]:
        raise RebuildError(f"{shown(path)}: the header bytes do not match the recipe's header_bytes/header_sha256")
    return recipe, header


# --- safetensors ----------------------------------------------------------------------------------------------

class Safetensors:
    """A minimal safetensors reader: 8-byte little-endian header length, JSON header, then the data."""

    def __init__(self, path):
        self.path = path
        try:
            with open(path, "rb") as f:
                self.data = f.read()
        except OSError as e:
            raise RebuildError(f"{shown(path)}: cannot read ({e.strerror})")
        if len(self.data) < 8:
            raise RebuildError(f"{shown(path)}: too short for a safetensors file")
        (n,) = struct.unpack("<Q", self.data[:8])
        if 8 + n > len(self.data):
            raise RebuildError(f"{shown(path)}: header length {n} runs past the end of the file")
        try:
            self.header = json.loads(self.data[8:8 + n].decode("utf-8"))
        except ValueError as e:
            raise RebuildError(f"{shown(path)}: bad safetensors header ({e})")
        self.base = 8 + n

    def tensor(self, name):
        """The tensor `name` as a float32 numpy array (a copy)."""
        info = self.header.get(name)
        if info is None or name == "__metadata__":
            raise RebuildError(f"{shown(self.path)}: no tensor {name!r}")
        if info["dtype"] != "F32":
            raise RebuildError(f"{shown(self.path)}: tensor {name!r} is {info['dtype']}, the recipes expect F32")
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape)) if shape else 1
        if end - begin != 4 * count or self.base + end > len(self.data):
            raise RebuildError(f"{shown(self.path)}: tensor {name!r} has inconsistent offsets {begin}..{end} for shape {list(shape)}")
        return np.frombuffer(self.data, dtype="<f4", count=count, offset=self.base + begin).reshape(shape).copy()


# --- transforms -----------------------------------------------------------------------------------------------

def llama_rope_permute(w, n_head, n_head_kv):
    """convert_hf_to_gguf.py LlamaModel.permute: HF rotate-half row order -> llama.cpp's interleaved order."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    rows = w.shape[0]
    if rows % (2 * n_head):
        raise RebuildError(f"llama_rope_permute: {rows} rows do not split into {n_head} heads of pairs")
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def to_bf16(a):
    """gguf-py's float32 -> bfloat16: quiet NaNs, then round to nearest even on the upper 16 bits."""
    n = np.ascontiguousarray(a, dtype="<f4").view("<u4")
    n = np.where((n & 0x7FFFFFFF) > 0x7F800000, (n & np.uint32(0xFFFF0000)) | np.uint32(64 << 16), n)
    n = (n.astype(np.uint64) + (0x7FFF + ((n >> 16) & 1))) >> 16
    return n.astype("<u2")


QK8_0 = 32   # values per Q8_0 block (ggml's block_q8_0: float16 d, then 32 int8)


def to_q8_0(a):
    """ggml's quantize_row_q8_0_ref (what llama-quantize writes for Q8_0), block by block of 32 float32 values in
    ne0 order: amax = max |x|, d = amax / 127 (float32), id = 1 / d (0 when d is 0), q = roundf(x * id) (halves away
    from zero; exact in float64), stored as d (float16, round to nearest even) followed by the 32 int8 q."""
    x = np.ascontiguousarray(a, dtype="<f4").reshape(-1, QK8_0)
    d = np.max(np.abs(x), axis=1) / np.float32(127)
    safe = np.where(d != 0, d, np.float32(1))
    inv = np.where(d != 0, np.float32(1) / safe, np.float32(0)).astype(np.float32)
    v = (x * inv[:, None]).astype(np.float64)
    q = np.trunc(v + np.copysign(0.5, v)).astype(np.int8)
    out = np.empty((x.shape[0], 2 + QK8_0), dtype=np.uint8)
    out[:, :2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out


def tensor_bytes(entry, st):
    """The data bytes of one recipe entry, from the safetensors reader `st`."""
    name = entry["name"]
    transform = entry["transform"]
    if transform == "inline":
        if entry["sources"]:
            raise RebuildError(f"{name}: an inline tensor has no sources, the recipe lists {entry['sources']}")
        try:
            raw = bytes.fromhex(entry["data"])
        except ValueError as e:
            raise RebuildError(f"{name}: inline data is not hex ({e})")
        count = int(np.prod(entry["shape"], dtype=np.int64))
        if len(raw) != 4 * count:
            raise RebuildError(f"{name}: inline data has {len(raw)} bytes, shape {entry['shape']} needs {4 * count}")
        w = np.frombuffer(raw, dtype="<f4").reshape(tuple(reversed(entry["shape"])))
    else:
        if not entry["sources"]:
            raise RebuildError(f"{name}: transform {transform!r} needs at least one source tensor")
        parts = [st.tensor(s) for s in entry["sources"]]
        if transform == "stack":
            if len({p.shape for p in parts}) != 1:
                raise RebuildError(f"{name}: stack needs sources of one shape, got {[list(p.shape) for p in parts]}")
            w = np.stack(parts, axis=0)
        else:
            w = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
    if transform in ("identity", "inline", "stack"):
        pass
    elif transform == "row_slice":
        start, stop = entry.get("row_start"), entry.get("row_stop")
        if len(parts) != 1 or w.ndim < 2:
            raise RebuildError(f"{name}: row_slice needs one source of at least 2 dimensions")
        if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start < stop <= w.shape[-2]):
            raise RebuildError(f"{name}: row_slice bounds {start}..{stop} do not fit {w.shape[-2]} rows")
        w = w[..., start:stop, :]
    elif transform == "plus_one":
        w = w + np.float32(1.0)   # float32 + float32: the converter's `data_torch + f_shift` on a float32 tensor
    elif transform == "transpose":
        if w.ndim != 2:
            raise RebuildError(f"{name}: transpose needs a 2-D source, got shape {list(w.shape)}")
        w = w.T
    elif transform == "llama_rope_permute":
        w = llama_rope_permute(w, entry["n_head"], entry.get("n_head_kv"))
    else:
        raise RebuildError(f"{name}: unknown transform {transform!r}")
    expected = tuple(reversed(entry["shape"]))
    if tuple(w.shape) != expected:
        raise RebuildError(f"{name}: recipe gives shape {list(w.shape)}, the GGUF expects {list(expected)} (numpy order)")
    kind = entry["type"]
    if kind == "F32":
        out = np.ascontiguousarray(w, dtype="<f4")
    elif kind == "F16":
        out = np.ascontiguousarray(w.astype("<f2"))
    elif kind == "BF16":
        out = to_bf16(w)
    elif kind == "Q8_0":
        if w.shape[-1] % QK8_0:
            raise RebuildError(f"{name}: Q8_0 needs rows of a multiple of {QK8_0} values, got shape {list(w.shape)}")
        out = to_q8_0(w)
    else:
        raise RebuildError(f"{name}: unsupported GGML type {kind!r}")
    data = out.tobytes()
    if len(data) != entry["n_bytes"]:
        raise RebuildError(f"{name}: {len(data)} bytes, the recipe says {entry['n_bytes']}")
    return data


def assemble(recipe, header, st, label):
    """The whole GGUF's bytes; RebuildError naming `label` and the tensor on any mismatch."""
    chunks = [header]
    cursor = 0
    for entry in recipe["tensors"]:
        if entry["offset"] != cursor:
            raise RebuildError(f"{label}: tensor {entry['name']} at data offset {entry['offset']}, expected {cursor}")
        try:
            data = tensor_bytes(entry, st)
        except RebuildError as e:
            raise RebuildError(f"{label}: {e}")
        digest = sha256_bytes(data)
        if digest != entry["sha256"]:
            raise RebuildError(f"{label}: tensor {entry['name']} rebuilt with sha256 {digest}, expected {entry['sha256']} "
                               f"(sources {entry['sources']}, transform {entry['transform']}, type {entry['type']})")
        chunks.append(data)
        chunks.append(bytes(entry["pad_after"]))
        cursor += len(data) + entry["pad_after"]
    out = b"".join(chunks)
    if len(out) != recipe["size"]:
        raise RebuildError(f"{label}: rebuilt {len(out)} bytes, expected {recipe['size']}")
    return out


# --- driver ---------------------------------------------------------------------------------------------------

def expected_files(model_dir, label):
    path = os.path.join(model_dir, "ref.json")
    try:
        with open(path, "rb") as f:
            return json.load(f)["files"]
    except (OSError, ValueError, KeyError) as e:
        raise RebuildError(f"{label}: cannot read the `files` map of {shown(path)} ({e})")


def write_atomically(path, data):
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def rebuild(models, name, stem, check_only, force, sources):
    """Rebuild one file. Returns a status line; raises RebuildError on failure."""
    model_dir = os.path.join(models, name)
    target = os.path.join(model_dir, f"{stem}.gguf")
    label = shown(target)
    files = expected_files(model_dir, label)
    want = files.get(f"{stem}.gguf")
    if want is None:
        raise RebuildError(f"{label}: {shown(os.path.join(model_dir, 'ref.json'))} records no sha256 for {stem}.gguf")
    if os.path.exists(target) and not force:
        have = sha256_file(target)
        if have == want["sha256"]:
            return f"{label}: present, sha256 ok"
        if check_only:
            raise RebuildError(f"{label}: sha256 {have} does not match ref.json's {want['sha256']}")
        print(f"gguf-fixtures: {label}: sha256 {have[:16]}… is stale, rebuilding", file=sys.stderr)
    elif check_only:
        raise RebuildError(f"{label}: missing (run scripts/rebuild-gguf-fixtures.py)")

    skeleton = os.path.join(model_dir, "gguf-skeletons", f"{stem}.skeleton")
    recipe, header = decode_skeleton(skeleton)
    if recipe["sha256"] != want["sha256"] or recipe["size"] != want["size_bytes"]:
        raise RebuildError(f"{label}: {shown(skeleton)} was made for sha256 {recipe['sha256']}, ref.json records {want['sha256']}")
    src_rel = recipe["source"]["path"]
    src = os.path.normpath(os.path.join(model_dir, src_rel))
    if src not in sources:
        if not os.path.exists(src):
            raise RebuildError(f"{label}: source {shown(src)} is missing")
        digest = sha256_file(src)
        if digest != recipe["source"]["sha256"]:
            raise RebuildError(f"{label}: source {shown(src)} has sha256 {digest}, the skeleton was made from "
                               f"{recipe['source']['sha256']}")
        sources[src] = Safetensors(src)
    data = assemble(recipe, header, sources[src], label)
    digest = sha256_bytes(data)
    if digest != want["sha256"]:
        raise RebuildError(f"{label}: rebuilt file has sha256 {digest}, ref.json records {want['sha256']}; nothing written")
    write_atomically(target, data)
    return f"{label}: rebuilt from {shown(skeleton)} + {src_rel}, sha256 ok ({len(data):,} bytes)"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="verify only; write nothing")
    p.add_argument("--force", action="store_true", help="rebuild even when present with the right sha256")
    p.add_argument("--models", default=DEFAULT_MODELS, help="the fixtures' models folder (default: Tests/Fixtures/models)")
    args = p.parse_args(argv)
    models = os.path.normpath(args.models)
    failures = 0
    sources = {}
    for name, stem in FIXTURES:
        try:
            print(f"gguf-fixtures: {rebuild(models, name, stem, args.check, args.force, sources)}")
        except RebuildError as e:
            print(f"gguf-fixtures: ERROR: {e}", file=sys.stderr)
            failures += 1
        except (KeyError, TypeError, ValueError) as e:
            print(f"gguf-fixtures: ERROR: {name}/{stem}.gguf: malformed skeleton or ref.json ({type(e).__name__}: {e})",
                  file=sys.stderr)
            failures += 1
    if failures:
        print(f"gguf-fixtures: {failures} of {len(FIXTURES)} rebuilt GGUF fixtures failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
