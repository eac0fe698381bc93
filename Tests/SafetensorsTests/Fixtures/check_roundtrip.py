#!/usr/bin/env python3
"""Checks a checkpoint written by Sieve against its source with the official Python `safetensors` library.

Usage: check_roundtrip.py SOURCE_FOLDER OUTPUT DTYPE
  SOURCE_FOLDER  the Hugging Face folder that was read (all its *.safetensors files are loaded)
  OUTPUT         the written folder (its model.safetensors is checked) or .safetensors file
  DTYPE          f32, f16, bf16 or keep

The output must load with `safetensors.deserialize` (the reference validator) and hold the same tensor names
and shapes as the source. Float tensors must have the requested dtype and equal the source values rounded to
it (round to nearest even, as numpy / PyTorch do; exact for f32 and keep); other tensors must be unchanged.
The file must also be byte-identical to `safetensors.serialize` of its own tensors with
`{"format": "pt"}` metadata, i.e. laid out exactly as the official writer lays it out.

Prints `OK ...` and exits 0, or prints `FAIL: ...` and exits 1.
"""
import json
import os
import sys

import numpy as np
import safetensors

NUMPY_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
                "I8": "i1", "U8": "u1", "BOOL": "u1"}
SPEC_NAMES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
              "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}
TARGETS = {"f32": "F32", "f16": "F16", "bf16": "BF16"}
FLOATS = {"F64", "F32", "F16", "BF16"}


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    return raw, {name: info for name, info in safetensors.deserialize(raw)}


def values(info):
    """Tensor values as float64 (BF16 upcast by shifting its bits into a float32)."""
    data = bytes(info["data"])
    if info["dtype"] == "BF16":
        return (np.frombuffer(data, "<u2").astype("<u4") << 16).view("<f4").astype(np.float64)
    return np.frombuffer(data, NUMPY_DTYPES[info["dtype"]]).astype(np.float64)


def rounded_bytes(x, dtype):
    """float64 values rounded (through float32, as Sieve does) to `dtype`, as little-endian bytes."""
    f32 = x.astype("<f4")
    if dtype == "F32":
        return f32.tobytes()
    if dtype == "F16":
        return f32.astype("<f2").tobytes()
    if dtype == "F64":
        return f32.astype("<f8").tobytes()
    bits = f32.view("<u4").astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")
    return rounded.tobytes()


def main():
    if len(sys.argv) != 4:
        fail(__doc__)
    source_folder, output, mode = sys.argv[1:]
    source = {}
    for name in sorted(os.listdir(source_folder)):
        if name.endswith(".safetensors"):
            source.update(load(os.path.join(source_folder, name))[1])
    output_file = os.path.join(output, "model.safetensors") if os.path.isdir(output) else output
    raw, written = load(output_file)

    if set(source) != set(written):
        fail(f"tensor names differ: missing {sorted(set(source) - set(written))}, extra {sorted(set(written) - set(source))}")
    max_diff = 0.0
    for name, src in source.items():
        out = written[name]
        if list(out["shape"]) != list(src["shape"]):
            fail(f"{name}: shape {out['shape']} != source {src['shape']}")
        if src["dtype"] in FLOATS:
            want = src["dtype"] if mode == "keep" else TARGETS[mode]
            if out["dtype"] != want:
                fail(f"{name}: dtype {out['dtype']} != {want}")
            x = values(src)
            expected = bytes(src["data"]) if want == src["dtype"] else rounded_bytes(x, want)
            if bytes(out["data"]) != expected:
                fail(f"{name}: values differ from the source rounded to {want}")
            if x.size:
                max_diff = max(max_diff, float(np.max(np.abs(values(out) - x))))
        elif out["dtype"] != src["dtype"] or bytes(out["data"]) != bytes(src["data"]):
            fail(f"{name}: non-float tensor changed")

    keep_alive = []
    specs = {}
    for name, info in written.items():
        array = np.frombuffer(bytes(info["data"]), np.uint8).copy()
        keep_alive.append(array)
        specs[name] = safetensors.TensorSpec(dtype=SPEC_NAMES[info["dtype"]], shape=list(info["shape"]),
                                             data_ptr=array.ctypes.data, data_len=array.size)
    if safetensors.serialize(specs, metadata={"format": "pt"}) != raw:
        fail("the file is not byte-identical to safetensors.serialize of its tensors")

    if os.path.isdir(output):
        with open(os.path.join(output, "config.json")) as f:
            written_config = json.load(f)
        with open(os.path.join(source_folder, "config.json")) as f:
            source_config = json.load(f)
        if written_config.get("model_type") != source_config.get("model_type"):
            fail(f"config.json model_type {written_config.get('model_type')} != {source_config.get('model_type')}")
    print(f"OK {len(written)} tensors, max |diff| {max_diff:.3g}")


if __name__ == "__main__":
    main()
