#!/usr/bin/env python3
"""Checks a safetensors file written by `sieve convert` with the official `safetensors` library.

usage: check_converted.py SOURCE_HF_FOLDER CONVERTED.safetensors DTYPE(f32|f16|bf16)

Every tensor of the source checkpoint (single file or shards) must be present in the converted file under the
same name and shape, with the requested dtype, and equal to the source value rounded to that dtype
(round to nearest even; exact for f32). Prints one JSON line with the verdict; exits 1 on a mismatch.
"""
import glob, json, os, sys
import numpy as np
import safetensors

def load(path):
    """name -> (dtype, shape, float32 values) using safetensors.deserialize (handles BF16 too)."""
    out = {}
    with open(path, "rb") as f:
        for name, spec in safetensors.deserialize(f.read()):
            raw = bytes(spec["data"])
            dt = spec["dtype"]
            if dt == "F32": v = np.frombuffer(raw, "<f4")
            elif dt == "F16": v = np.frombuffer(raw, "<f2").astype(np.float32)
            elif dt == "BF16": v = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
            elif dt == "I64": v = np.frombuffer(raw, "<i8")
            else: raise SystemExit(f"unexpected dtype {dt} in {path}")
            out[name] = (dt, list(spec["shape"]), v)
    return out

def to_bf16(v):
    u = v.astype(np.float32).view(np.uint32)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint32) << 16
    return r.view(np.float32)

src_dir, converted, dtype = sys.argv[1], sys.argv[2], sys.argv[3]
source = {}
for p in sorted(glob.glob(os.path.join(src_dir, "*.safetensors"))):
    source.update(load(p))
out = load(converted)
# The official reader must also open it (header parsing, offsets, metadata).
with safetensors.safe_open(converted, "numpy") as f:
    names = set(f.keys())
problems = []
if names != set(source):
    problems.append(f"names differ: missing {sorted(set(source) - names)[:5]}, extra {sorted(names - set(source))[:5]}")
want = {"f32": "F32", "f16": "F16", "bf16": "BF16"}[dtype]
for name, (sdt, shape, v) in source.items():
    if name not in out: continue
    odt, oshape, ov = out[name]
    if oshape != shape: problems.append(f"{name}: shape {oshape} != {shape}"); continue
    if sdt == "I64":
        if odt != "I64" or not np.array_equal(ov, v): problems.append(f"{name}: integer tensor changed")
        continue
    if odt != want: problems.append(f"{name}: dtype {odt} != {want}"); continue
    expected = {"f32": v.astype(np.float32), "f16": v.astype(np.float16).astype(np.float32), "bf16": to_bf16(v)}[dtype]
    if not np.array_equal(ov, expected):
        problems.append(f"{name}: max |diff| {float(np.max(np.abs(ov - expected)))}")
print(json.dumps({"ok": not problems, "tensors": len(out), "problems": problems[:10]}))
sys.exit(0 if not problems else 1)
