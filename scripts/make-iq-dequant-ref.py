#!/usr/bin/env python3
"""Write Tests/Fixtures/models/tiny-llama/ref-iq-dequant.json: how the official `gguf` package dequantizes the
grid-type tensors of the two llama.cpp i-quant fixtures.

For every tensor of type IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S or IQ1_M in `iq2_xxs.gguf` and
`iq3_xxs.gguf` (made by llama-quantize with an importance matrix; see ref-llama-quantize.json), it records the
name, the ggml type, the shape (outermost first, as numpy and Sieve give it), the float64 sum and sum of squares
of all dequantized values, and the full float32 values of the first and the last row (hex of their little-endian
bytes, as Tests/GGUFTests/Fixtures/quant_vectors.json stores floats). It reads the files with `gguf.GGUFReader`
and dequantizes with `gguf.quants.dequantize`, so it uses no Sieve code and is an independent cross-check of
Sieve's decoders.

Usage: scripts/make-iq-dequant-ref.py [--models DIR]   (needs `pip install gguf==0.19.0 numpy`)
"""
import argparse
import hashlib
from importlib import metadata
import json
import os
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

FILES = ["iq2_xxs.gguf", "iq3_xxs.gguf"]
GRID_TYPES = {T.IQ2_XXS, T.IQ2_XS, T.IQ2_S, T.IQ3_XXS, T.IQ3_S, T.IQ1_S, T.IQ1_M}


def hexf(a):
    return np.ascontiguousarray(a, dtype="<f4").tobytes().hex()


def describe(path):
    reader = gguf.GGUFReader(path)
    tensors = []
    for t in reader.tensors:
        if t.tensor_type not in GRID_TYPES:
            continue
        shape = [int(d) for d in reversed(t.shape)]
        values = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape[0], -1)
        wide = values.astype(np.float64)
        tensors.append({
            "name": t.name,
            "type": t.tensor_type.name.lower(),
            "shape": shape,
            "sum": float(wide.sum()),
            "sum_squares": float((wide * wide).sum()),
            "first_row": hexf(values[0]),
            "last_row": hexf(values[-1]),
        })
    return {"sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(), "tensors": tensors}


def main():
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=root / "Tests/Fixtures/models", type=Path)
    args = parser.parse_args()
    folder = args.models / "tiny-llama"
    out = {
        "about": "gguf-py's dequantization of the grid-type (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M) tensors of iq2_xxs.gguf and iq3_xxs.gguf: shape outermost first; sum and sum_squares in float64 over all values; first_row and last_row as hex of little-endian float32",
        "generator": f"scripts/make-iq-dequant-ref.py with gguf {metadata.version('gguf')}, numpy {np.__version__}",
        "files": {name: describe(folder / name) for name in FILES},
    }
    target = folder / "ref-iq-dequant.json"
    temporary = target.with_suffix(".json.tmp")
    with open(temporary, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    os.replace(temporary, target)
    print(f"wrote {target} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
