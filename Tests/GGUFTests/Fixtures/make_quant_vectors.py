#!/usr/bin/env python3
"""Writes quant_vectors.json: reference block-quantization vectors from the official `gguf` package (gguf-py).

For each block type it records
  - `random_blocks`: random block bytes (with finite fp16 scales) and gguf-py's dequantized float32 values (for
    the grid types too, which Sieve only decodes);
  - `quantized` (types gguf-py can quantize): float32 inputs, gguf-py's quantized bytes and their dequantization.
Floats are stored as the hex of their little-endian float32 bytes so the comparison can be bit-exact.

Run from this folder:  python3 make_quant_vectors.py   (needs `pip install gguf numpy`)
"""
import json

import numpy as np
from gguf import GGMLQuantizationType as T, GGML_QUANT_SIZES
from gguf.quants import dequantize, quantize

# (type, byte offsets of fp16 scale fields inside a block)
HALF_FIELDS = {
    T.Q8_0: [0], T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2],
    T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
    T.Q2_K: [80, 82], T.Q3_K: [108],  # appended last: the earlier types' random draws stay the same
    T.IQ4_NL: [0], T.IQ4_XS: [0],  # likewise
    # The grid types (decode only), likewise, with fewer blocks; IQ1_M has no fp16 field of its own (see below).
    T.IQ2_XXS: [0], T.IQ2_XS: [0], T.IQ2_S: [0], T.IQ3_XXS: [0], T.IQ3_S: [0], T.IQ1_S: [0], T.IQ1_M: [],
    T.MXFP4: [],  # likewise; its E8M0 scale byte is drawn from 100…149 (values 2^-28…2^21 times the codes)
}
GRID_TYPES = {T.IQ2_XXS, T.IQ2_XS, T.IQ2_S, T.IQ3_XXS, T.IQ3_S, T.IQ1_S, T.IQ1_M}
QUANTIZABLE = [T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.MXFP4]


def hexf(a):
    return np.ascontiguousarray(a, dtype="<f4").tobytes().hex()


def main():
    rng = np.random.default_rng(20240601)
    out = {"generator": "make_quant_vectors.py with gguf-py", "types": {}}
    for qtype, halves in HALF_FIELDS.items():
        block_size, type_size = GGML_QUANT_SIZES[qtype]
        n_blocks = 3 if qtype in GRID_TYPES else 6
        raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
        for off in halves:
            scales = (rng.standard_normal(n_blocks) * 0.05).astype(np.float16)
            raw[:, off:off + 2] = scales.view(np.uint8).reshape(n_blocks, 2)
        if qtype == T.IQ1_M:
            # The fp16 scale's nibbles are the top nibbles of the four u16 scale words at bytes 48…55.
            bits = (rng.standard_normal(n_blocks) * 0.05).astype(np.float16).view(np.uint16)
            for k in range(4):
                top = ((bits >> (4 * k)) & 0xF).astype(np.uint8)
                raw[:, 49 + 2 * k] = (raw[:, 49 + 2 * k] & 0x0F) | (top << 4)
        if qtype == T.MXFP4:
            raw[:, 0] = rng.integers(100, 150, size=n_blocks, dtype=np.uint8)
        values = dequantize(raw.reshape(-1), qtype).reshape(-1)
        entry = {
            "block_size": block_size, "type_size": type_size,
            "random_blocks": {"bytes": raw.tobytes().hex(), "values": hexf(values)},
        }
        if qtype in QUANTIZABLE:
            x = (rng.standard_normal((8, block_size)) * 0.3).astype(np.float32)
            x[1] = 0                                   # all-zero block
            x[2] = np.linspace(-1, 1, block_size)      # evenly spaced, exercises rounding ties
            x[3, :] = 0.25
            x[3, 5] = -2.0                             # one dominant negative value
            x[4] = np.abs(x[4])                        # all positive (min > 0)
            q = quantize(x, qtype)
            entry["quantized"] = {
                "inputs": hexf(x.reshape(-1)),
                "bytes": q.tobytes().hex(),
                "values": hexf(dequantize(q, qtype).reshape(-1)),
            }
        out["types"][qtype.name.lower().replace("_k", "_K")] = entry
    with open("quant_vectors.json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
