#!/usr/bin/env python3
"""Writes minilm-reference.json: an independent float64 numpy forward pass of all-MiniLM-L6-v2 (HF BertModel
semantics: word + position + token-type-0 embeddings and LayerNorm; per layer self-attention, residual and
LayerNorm, then GELU (erf) feed-forward, residual and LayerNorm) for fixed token ids, with the mean-pooled
sentence embedding. Usage: make_minilm_reference.py MODEL_DIR > minilm-reference.json"""
import json, math, sys
import numpy as np
from safetensors.numpy import load_file

d = sys.argv[1]
cfg = json.load(open(f"{d}/config.json"))
w = {k.removeprefix("bert."): v.astype(np.float64) for k, v in load_file(f"{d}/model.safetensors").items()}
# "[CLS] the quick brown fox jumps over the lazy dog . [SEP]" in the model's WordPiece vocabulary.
ids = [101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 1012, 102]
eps = cfg["layer_norm_eps"]
heads = cfg["num_attention_heads"]

def layer_norm(x, g, b):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b

def linear(x, name):
    return x @ w[name + ".weight"].T + w[name + ".bias"]

erf = np.vectorize(math.erf)
n = len(ids)
x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n] \
    + w["embeddings.token_type_embeddings.weight"][0]
x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
for i in range(cfg["num_hidden_layers"]):
    p = f"encoder.layer.{i}."
    q, k, v = (linear(x, p + "attention.self." + s) for s in ("query", "key", "value"))
    hd = q.shape[1] // heads
    out = np.zeros_like(q)
    for h in range(heads):
        s = slice(h * hd, (h + 1) * hd)
        scores = q[:, s] @ k[:, s].T / math.sqrt(hd)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        out[:, s] = (scores / scores.sum(-1, keepdims=True)) @ v[:, s]
    x = layer_norm(x + linear(out, p + "attention.output.dense"), w[p + "attention.output.LayerNorm.weight"],
                   w[p + "attention.output.LayerNorm.bias"])
    inner = linear(x, p + "intermediate.dense")
    inner = 0.5 * inner * (1 + erf(inner / math.sqrt(2)))
    x = layer_norm(x + linear(inner, p + "output.dense"), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
json.dump({"model": "all-MiniLM-L6-v2", "input_ids": ids, "hidden_last_row0": x[0].tolist(),
           "mean_pooled": x.mean(0).tolist()}, sys.stdout)
