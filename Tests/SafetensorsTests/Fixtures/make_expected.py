#!/usr/bin/env python3
"""Records what the official Python `safetensors` library reads from safetensors checkpoints.

For every `*.safetensors` file: its sha256 and `__metadata__`; for every tensor: its dtype, shape and the sha256 of its raw little-endian
bytes, plus, for BF16 tensors, the sha256 of the values upcast exactly to float32 (little-endian). The bytes
come from `safetensors.deserialize`, which validates the file with the reference (Rust) implementation;
numpy does the bf16 -> f32 upcast. The Swift tests compare their reader against this.

Usage:
    make_expected.py                      # every Tests/Fixtures/models/*/hf folder -> expected.json here
    make_expected.py --model DIR --out F  # one model folder (e.g. all-MiniLM-L6-v2) -> F
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np
import safetensors


def describe_file(path):
    with open(path, "rb") as f:
        raw = f.read()
    header_len = int.from_bytes(raw[:8], "little")
    metadata = json.loads(raw[8:8 + header_len]).get("__metadata__") or {}
    tensors = {}
    for name, info in safetensors.deserialize(raw):
        data = bytes(info["data"])
        entry = {
            "dtype": info["dtype"],
            "shape": list(info["shape"]),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        if info["dtype"] == "BF16":
            upcast = (np.frombuffer(data, dtype="<u2").astype("<u4") << 16).astype("<u4")
            entry["sha256_f32"] = hashlib.sha256(upcast.tobytes()).hexdigest()
        tensors[name] = entry
    return {"file_sha256": hashlib.sha256(raw).hexdigest(), "metadata": metadata, "tensors": tensors}


def describe_folder(folder):
    return {
        name: describe_file(os.path.join(folder, name))
        for name in sorted(os.listdir(folder))
        if name.endswith(".safetensors")
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="one model folder instead of the fixtures")
    parser.add_argument("--out", help="output JSON path")
    args = parser.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    result = {"safetensors_version": safetensors.__version__, "numpy_version": np.__version__}
    if args.model:
        result["files"] = describe_folder(args.model)
        out = args.out or "expected.json"
    else:
        models = os.path.join(here, "..", "..", "Fixtures", "models")
        result["fixtures"] = {
            name: describe_folder(os.path.join(models, name, "hf"))
            for name in sorted(os.listdir(models))
            if os.path.isdir(os.path.join(models, name, "hf"))
        }
        out = args.out or os.path.join(here, "expected.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
