#!/usr/bin/env python3
"""Records what the official `gguf` package (gguf-py) reads from every fixture GGUF into expected.json:
version, alignment, data offset, metadata (types and values; long arrays as count, head and FNV-1a hash),
tensor infos, and per tensor a checksum and samples of gguf-py's dequantized float32 values
(definitions in gguf_describe.py).

The GGUFs themselves come from the shared fixture set made by llama.cpp at commit 0c1e57098
(`convert_hf_to_gguf.py` for f32/f16/bf16/q8_0, `llama-quantize` for q4_0/q4_1/q5_0/q4_k_m/q6_k). The repository
carries the quantized ones in Tests/Fixtures/models; the float conversions (and the only qwen2 / gpt2 GGUFs) are
read from the shared set beside the repository (../shared/fixtures/models) when it is present.

It also records the real default model, SmolLM2-135M-Instruct Q4_1 (fetched by `make models` into
$SIEVE_MODELS, default ~/.cache/sieve/models), into expected_smollm2.json when the model is present.

Run from this folder:  python3 make_expected.py   (needs `pip install gguf numpy`)
"""
import hashlib
import json
import os

from gguf_describe import describe

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
ROOTS = [os.path.join(REPO, "Tests", "Fixtures", "models"),
         os.path.normpath(os.path.join(REPO, "..", "shared", "fixtures", "models"))]
FILES = [
    "tiny-llama/f32.gguf", "tiny-llama/f16.gguf", "tiny-llama/bf16.gguf", "tiny-llama/q8_0.gguf",
    "tiny-llama/q4_0.gguf", "tiny-llama/q4_1.gguf", "tiny-llama/q5_0.gguf", "tiny-llama/q4_k_m.gguf",
    "tiny-llama/q6_k.gguf", "tiny-llama-bpe/f32.gguf", "tiny-llama-bpe/q8_0.gguf", "tiny-qwen2/f32.gguf",
    "tiny-gpt2/f32.gguf",
]


def main():
    out = {"generator": "make_expected.py (gguf-py)", "files": {}}
    for rel in FILES:
        path = next((os.path.join(r, rel) for r in ROOTS if os.path.exists(os.path.join(r, rel))), None)
        if path is None:
            print(f"skipping {rel}: not found in {ROOTS}")
            continue
        out["files"][rel] = describe(path)
        print(f"{rel}: {len(out['files'][rel]['tensors'])} tensors")
    write(out, "expected.json")

    models = os.environ.get("SIEVE_MODELS", os.path.expanduser("~/.cache/sieve/models"))
    smollm2 = os.path.join(models, "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    if os.path.exists(smollm2):
        with open(smollm2, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        write({"generator": "make_expected.py (gguf-py)", "sha256": digest, "file": describe(smollm2)},
              "expected_smollm2.json")
        print("SmolLM2-135M-Instruct.Q4_1.gguf recorded")


def write(obj, name):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(obj, f, indent=None, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
