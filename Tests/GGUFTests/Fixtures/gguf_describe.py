#!/usr/bin/env python3
"""Describes GGUF files as JSON using the official `gguf` package (gguf-py): version, alignment, metadata,
tensor infos, and for every tensor a checksum of gguf-py's dequantized float32 values.

    python3 gguf_describe.py FILE.gguf [FILE.gguf ...]     # prints {"FILE.gguf": {...}, ...}

The Swift tests run it on files Sieve wrote (round trips) and `make_expected.py` uses it to record the expected
values of the fixture GGUFs. Definitions shared with the Swift side (GGUFTests/GGUFTestSupport.swift):

- `bits_checksum`: sum over i of uint32(bits of value i) * (2*i + 1), modulo 2^64, values in ggml memory order
  (row-major, ne[0] fastest), as a hex string; equal checksums mean bit-identical values.
- `fnv64` of an array: FNV-1a 64 over its payload (strings: UTF-8 bytes + NUL each; numbers: little-endian
  bytes of the element type; bools: one byte each), as a hex string.
"""
import json
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType
from gguf.quants import dequantize

ARRAY_HEAD = 8
FULL_ARRAY_LIMIT = 64
NUMPY_TYPES = {
    GGUFValueType.UINT8: "<u1", GGUFValueType.INT8: "<i1", GGUFValueType.UINT16: "<u2",
    GGUFValueType.INT16: "<i2", GGUFValueType.UINT32: "<u4", GGUFValueType.INT32: "<i4",
    GGUFValueType.UINT64: "<u8", GGUFValueType.INT64: "<i8", GGUFValueType.FLOAT32: "<f4",
    GGUFValueType.FLOAT64: "<f8", GGUFValueType.BOOL: "<u1",
}


def fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def jsonable(v):
    if isinstance(v, (bytes, bytearray)):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, (np.floating, float)):
        return float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def describe_field(field):
    types = field.types
    if types[0] != GGUFValueType.ARRAY:
        return {"type": types[0].name, "value": jsonable(field.contents())}
    elem = types[1] if len(types) > 1 else GGUFValueType.UINT8
    values = field.contents()
    entry = {"type": "ARRAY", "element_type": elem.name, "count": len(values)}
    if elem == GGUFValueType.ARRAY:
        return entry
    if elem == GGUFValueType.STRING:
        payload = b"".join(s.encode("utf-8") + b"\0" for s in values)
    else:
        payload = np.asarray(values, dtype=NUMPY_TYPES[elem]).tobytes()
    entry["fnv64"] = fnv1a64(payload)
    values = [jsonable(v) for v in values]
    if len(values) <= FULL_ARRAY_LIMIT:
        entry["values"] = values
    else:
        entry["head"] = values[:ARRAY_HEAD]
    return entry


def bits_checksum(values: np.ndarray) -> str:
    bits = np.ascontiguousarray(values, dtype="<f4").reshape(-1).view("<u4").astype(np.uint64)
    weights = np.arange(bits.size, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    with np.errstate(over="ignore"):
        total = np.sum(bits * weights, dtype=np.uint64)
    return f"{int(total):016x}"


def describe_tensor(reader, t):
    values = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(-1)
    n = values.size
    picks = sorted({int(i) for i in np.linspace(0, n - 1, num=min(16, n))})
    return {
        "name": t.name,
        "type": t.tensor_type.name,
        "ne": [int(x) for x in t.shape],
        "offset": int(t.data_offset - reader.data_offset),
        "n_bytes": int(t.n_bytes),
        "bits_checksum": bits_checksum(values),
        "sum": float(values.astype(np.float64).sum()),
        "abs_max": float(np.abs(values).max()) if n else 0.0,
        "samples": [[i, f"{int(values[i:i + 1].view('<u4')[0]):08x}"] for i in picks],
    }


def describe(path: str) -> dict:
    reader = GGUFReader(path)
    metadata = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        metadata[key] = describe_field(field)
    version = int(reader.fields["GGUF.version"].contents())
    return {
        "version": version,
        "alignment": int(reader.alignment),
        "data_offset": int(reader.data_offset),
        "metadata": metadata,
        "metadata_order": list(metadata.keys()),
        "tensors": [describe_tensor(reader, t) for t in reader.tensors],
    }


def main(argv):
    json.dump({p: describe(p) for p in argv}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
