#!/usr/bin/env python3
"""Development cross-check: load a Hugging Face folder written by `sieve convert` with transformers and print its
greedy continuation of "The capital of France is", comparing it with llama.cpp's recorded one.

usage: hf_greedy_check.py CONVERTED_FOLDER [REFERENCE_JSON]

CONVERTED_FOLDER is e.g. the output of
    sieve convert SmolLM2-135M-Instruct.Q4_1.gguf -o smollm2-f32 --to safetensors --dtype f32
REFERENCE_JSON defaults to Tests/Fixtures/smollm2/reference.json. The prompt's token ids come from the reference
(llama.cpp's tokenization), so the folder needs no tokenizer files. Needs torch and transformers (not installed
by the project's set-up: this is a development check, not part of CI). Exits 0 when the first greedy tokens
equal transformers' own float32 run recorded in the reference (`hf_new_ids`), 1 otherwise.
"""
import json
import os
import sys

try:
    import torch
    from transformers import AutoModelForCausalLM
except ImportError:
    sys.exit("hf_greedy_check.py: needs torch and transformers (pip install torch transformers)")

folder = sys.argv[1]
ref_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "smollm2", "reference.json")
reference = json.load(open(ref_path))
prompt = next(p for p in reference["generate"]["prompts"] if p["name"] == "capital")

model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32)
model.eval()
ids = torch.tensor([prompt["prompt_ids"]])
expected = prompt["hf_new_ids"]
with torch.no_grad():
    out = model.generate(ids, max_new_tokens=len(expected), do_sample=False)
new_ids = out[0, ids.shape[1]:].tolist()
print("greedy ids:   ", new_ids)
print("reference ids:", expected)
print("llama.cpp text:", repr(prompt["new_text"]))
sys.exit(0 if new_ids == expected else 1)
