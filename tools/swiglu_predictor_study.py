#!/usr/bin/env python3
"""How well can a cheap predictor choose a SwiGLU model's FFN neurons? A study outside the product.

Runs a llama-architecture GGUF (SmolLM2) in numpy, records calibration activations, builds several per-layer
predictors of the neurons' |silu(gate)·up| and measures perplexity when each token keeps only its predicted top
fraction of neurons (single neurons, no blocks), the way `sieve perplexity` scores a text (chunks of 512 tokens,
BOS first, second half scored).

Needs `pip install gguf tokenizers numpy`. Example (about 10 minutes on 2 cores):

    python3 tools/swiglu_predictor_study.py --model SmolLM2-135M-Instruct.Q4_1.gguf --text dev.txt \\
        oracle:0.5 linear-input:64:0.5 linear-input:576:0.5 factored-ffn:64:0.5 factored-ffn:256:0.5 q2-ffn:0.5

Variants (`kind[:rank]:density`):
- oracle: the true top |silu(g)·u| (the best any selection can do).
- linear-input / linear-ffn: a linear score of the block input (what sieve's predictors read) or of the FFN input,
  least squares on |silu(g)·u|, reduced to `rank` (576: full rank). sieve's trained predictors are of this kind.
- factored-input / factored-ffn: |silu(ĝ)·û| with ĝ, û linear estimates of the gate and up products of rank `rank`
  (from the FFN input: the weights themselves, reduced with the input covariance; from the block input: least
  squares).
- q1-ffn / q2-ffn: |silu(ĝ)·û| with gate and up quantized to 1 or 2 bits per weight (blocks of 32).
- gate: the true |silu(g)| alone (the whole gate computed, up ignored), as CATS selects.
- `input:<share>:<density>` (no neuron predictor): input sparsity, as TEAL: each token keeps the `share` of the
  FFN input's entries with the largest |x_j|·‖(gate, up)[:, j]‖ (so gate and up read only those columns), then the
  true top `density` of the resulting |silu(g)·u| for down. Gate/up/down bytes read: (2·share + density) / 3.
"""
import argparse
import json
import sys
import time

import numpy as np


def load(path):
    import gguf
    from gguf.quants import dequantize
    reader = gguf.GGUFReader(path)
    weights = {}
    for t in reader.tensors:
        a = dequantize(t.data, t.tensor_type).astype(np.float32)
        shape = [int(x) for x in reversed(t.shape)]
        weights[t.name] = a.reshape(shape)
    fields = reader.fields

    def field(name):
        f = fields[name]
        return f.parts[f.data[0]][0]

    def strings(name):
        f = fields[name]
        return [bytes(f.parts[i]).decode('utf-8') for i in f.data]

    config = dict(layers=int(field('llama.block_count')), hidden=int(field('llama.embedding_length')),
                  heads=int(field('llama.attention.head_count')), kv_heads=int(field('llama.attention.head_count_kv')),
                  ffn=int(field('llama.feed_forward_length')), theta=float(field('llama.rope.freq_base')),
                  eps=float(field('llama.attention.layer_norm_rms_epsilon')), bos=int(field('tokenizer.ggml.bos_token_id')))
    return weights, config, strings('tokenizer.ggml.tokens'), strings('tokenizer.ggml.merges')


def tokenize(text, tokens, merges):
    from tokenizers import Tokenizer, models, pre_tokenizers
    vocab = {t: i for i, t in enumerate(tokens)}
    tokenizer = Tokenizer(models.BPE(vocab, [tuple(m.split(' ')) for m in merges]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    return np.array(tokenizer.encode(text).ids, dtype=np.int32)


def silu(x):
    return x / (1 + np.exp(-x))


class Llama:
    """A plain numpy forward pass of a llama GGUF (rope on adjacent pairs, as GGUF stores Q and K)."""

    def __init__(self, weights, config):
        self.w, self.c = weights, config
        self.head_dim = config['hidden'] // config['heads']
        self.inverse = config['theta'] ** (-np.arange(0, self.head_dim, 2) / self.head_dim)

    def rms(self, x, weight):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + self.c['eps']) * weight

    def rope(self, x, positions):
        angle = positions[:, None] * self.inverse[None, :]
        cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
        a, b = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = a * cos - b * sin
        out[..., 1::2] = a * sin + b * cos
        return out.astype(np.float32)

    def forward(self, tokens, ffn=None):
        """Final normed hidden states; `ffn(layer, block_input, ffn_input, activations)` may return new activations."""
        c, w, hd = self.c, self.w, self.head_dim
        n, group = len(tokens), c['heads'] // c['kv_heads']
        positions = np.arange(n, dtype=np.float64)
        mask = np.triu(np.full((n, n), -np.inf, dtype=np.float32), 1)
        x = w['token_embd.weight'][tokens].astype(np.float32)
        for layer in range(c['layers']):
            p = f'blk.{layer}.'
            block_input = x
            h = self.rms(x, w[p + 'attn_norm.weight'])
            q = self.rope((h @ w[p + 'attn_q.weight'].T).reshape(n, c['heads'], hd), positions)
            k = self.rope((h @ w[p + 'attn_k.weight'].T).reshape(n, c['kv_heads'], hd), positions)
            v = (h @ w[p + 'attn_v.weight'].T).reshape(n, c['kv_heads'], hd)
            out = np.empty((n, c['heads'], hd), np.float32)
            for head in range(c['heads']):
                s = q[:, head] @ k[:, head // group].T / np.sqrt(hd) + mask
                s = np.exp(s - s.max(-1, keepdims=True))
                out[:, head] = (s / s.sum(-1, keepdims=True)) @ v[:, head // group]
            x = x + out.reshape(n, -1) @ w[p + 'attn_output.weight'].T
            f = self.rms(x, w[p + 'ffn_norm.weight'])
            a = silu(f @ w[p + 'ffn_gate.weight'].T) * (f @ w[p + 'ffn_up.weight'].T)
            if ffn is not None:
                a = ffn(layer, block_input, f, a)
            x = x + a @ w[p + 'ffn_down.weight'].T
        return self.rms(x, w['output_norm.weight'])

    def chunk_nll(self, tokens, ffn=None):
        t = tokens.copy()
        t[0] = self.c['bos']
        x = self.forward(t, ffn)
        half = len(t) // 2
        logits = x[half - 1:-1] @ self.w['token_embd.weight'].T
        top = logits.max(-1, keepdims=True)
        return np.log(np.exp(logits - top).sum(-1)) + top[:, 0] - logits[np.arange(len(logits)), tokens[half:]]


def normalized(x, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)


def with_bias(x):
    return np.concatenate([x, np.ones((len(x), 1), np.float32)], 1)


def reduce_rank(b, inputs, rank):
    """`b` ([in+1, out]) kept on the top `rank` directions of its outputs over `inputs`."""
    if rank >= b.shape[0] - 1:
        return b
    covariance = inputs.T @ inputs / len(inputs)
    _, vectors = np.linalg.eigh(b.T @ covariance @ b)
    v = vectors[:, ::-1][:, :rank]
    return (b @ v) @ v.T


def quantize_bits(m, bits):
    """`m` ([out, in]) with every block of 32 inputs quantized to `bits` bits (1: sign × mean |w|)."""
    rows, columns = m.shape
    b = m.reshape(rows, columns // 32, 32)
    if bits == 1:
        q = np.sign(b) * np.abs(b).mean(-1, keepdims=True)
    else:
        low, high = b.min(-1, keepdims=True), b.max(-1, keepdims=True)
        step = (high - low) / (2 ** bits - 1) + 1e-12
        q = np.round((b - low) / step) * step + low
    return q.reshape(rows, columns).astype(np.float32)


def build(kind, rank, model, records):
    """Per layer, a function (block_input, ffn_input) -> scores of every neuron."""
    eps = model.c['eps']
    scorers = []
    for layer in range(model.c['layers']):
        p = f'blk.{layer}.'
        gate, up = model.w[p + 'ffn_gate.weight'], model.w[p + 'ffn_up.weight']
        block_input, ffn_input, a = (np.asarray(r[layer], np.float32) for r in records)
        if kind == 'oracle':
            scorers.append(None)
        elif kind == 'gate':
            scorers.append((kind, gate))
        elif kind in ('linear-input', 'linear-ffn'):
            source = with_bias(normalized(block_input, eps) if kind == 'linear-input' else ffn_input)
            b = reduce_rank(np.linalg.lstsq(source, np.abs(a), rcond=None)[0], source, rank)
            scorers.append((kind, b))
        elif kind == 'factored-ffn':
            source = with_bias(ffn_input)
            zero = np.zeros((1, gate.shape[0]), np.float32)
            scorers.append((kind, reduce_rank(np.vstack([gate.T, zero]), source, rank),
                            reduce_rank(np.vstack([up.T, zero]), source, rank)))
        elif kind == 'factored-input':
            source = with_bias(normalized(block_input, eps))
            bg = np.linalg.lstsq(source, ffn_input @ gate.T, rcond=None)[0]
            bu = np.linalg.lstsq(source, ffn_input @ up.T, rcond=None)[0]
            scorers.append((kind, reduce_rank(bg, source, rank), reduce_rank(bu, source, rank)))
        elif kind in ('q1-ffn', 'q2-ffn'):
            bits = int(kind[1])
            scorers.append((kind, quantize_bits(gate, bits), quantize_bits(up, bits)))
        else:
            sys.exit(f'unknown variant kind {kind}')
    return scorers


def scores(scorer, block_input, ffn_input, a, eps):
    if scorer is None:
        return np.abs(a)
    kind = scorer[0]
    if kind == 'gate':
        return np.abs(silu(ffn_input @ scorer[1].T))
    if kind.startswith('linear'):
        source = with_bias(normalized(block_input, eps) if kind == 'linear-input' else ffn_input)
        return source @ scorer[1]
    if kind.startswith('factored'):
        source = with_bias(normalized(block_input, eps) if kind == 'factored-input' else ffn_input)
        return np.abs(silu(source @ scorer[1]) * (source @ scorer[2]))
    return np.abs(silu(ffn_input @ scorer[1].T) * (ffn_input @ scorer[2].T))


def input_sparsity_perplexity(model, ids, chunks, context, share, density):
    """Perplexity with each FFN's input cut to its `share` largest weighted entries, and down to `density`."""
    hidden, width = model.c['hidden'], model.c['ffn']
    keep_in, keep_down = int(round(share * hidden)), int(round(density * width))
    weights = []
    for layer in range(model.c['layers']):
        gate, up = model.w[f'blk.{layer}.ffn_gate.weight'], model.w[f'blk.{layer}.ffn_up.weight']
        weights.append((gate, up, np.sqrt((gate * gate).sum(0) + (up * up).sum(0))))

    def top_mask(scores, k):
        mask = np.zeros_like(scores)
        np.put_along_axis(mask, np.argpartition(-scores, k - 1, axis=1)[:, :k], 1, 1)
        return mask

    def select(layer, block_input, ffn_input, a):
        gate, up, norms = weights[layer]
        if keep_in < hidden:
            f = ffn_input * top_mask(np.abs(ffn_input) * norms, keep_in)
            a = silu(f @ gate.T) * (f @ up.T)
        return a * top_mask(np.abs(a), keep_down) if keep_down < width else a

    nll = [model.chunk_nll(ids[c * context:(c + 1) * context], select) for c in range(chunks)]
    return float(np.exp(np.concatenate(nll).mean()))


def perplexity(model, ids, chunks, context, scorers=None, density=1.0):
    width = model.c['ffn']
    keep = int(round(density * width))

    def select(layer, block_input, ffn_input, a):
        s = scores(scorers[layer], block_input, ffn_input, a, model.c['eps'])
        top = np.argpartition(-s, keep - 1, axis=1)[:, :keep]
        mask = np.zeros_like(a)
        np.put_along_axis(mask, top, 1, 1)
        return a * mask

    nll = [model.chunk_nll(ids[c * context:(c + 1) * context], select if scorers else None) for c in range(chunks)]
    return float(np.exp(np.concatenate(nll).mean()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', required=True)
    parser.add_argument('--text', required=True)
    parser.add_argument('--chunks', type=int, default=16, help='scored chunks (the first ones of the text)')
    parser.add_argument('--train-chunks', type=int, default=32, help='calibration chunks, after the scored ones')
    parser.add_argument('--context', type=int, default=512)
    parser.add_argument('variants', nargs='+', help='kind[:rank]:density')
    args = parser.parse_args()
    weights, config, tokens, merges = load(args.model)
    model = Llama(weights, config)
    ids = tokenize(open(args.text, encoding='utf-8').read(), tokens, merges)
    dense = perplexity(model, ids, args.chunks, args.context)
    print(f'dense: PPL {dense:.4f} ({args.chunks} chunks of {args.context})', flush=True)

    # Calibration records after the scored chunks: block input, FFN input, activations (f16, every layer).
    n, layers = args.train_chunks * args.context, config['layers']
    records = (np.zeros((layers, n, config['hidden']), np.float16), np.zeros((layers, n, config['hidden']), np.float16),
               np.zeros((layers, n, config['ffn']), np.float16))
    for c in range(args.train_chunks):
        start = (args.chunks + c) * args.context
        t = ids[start:start + args.context].copy()
        t[0] = config['bos']
        rows = slice(c * args.context, (c + 1) * args.context)

        def record(layer, block_input, ffn_input, a):
            records[0][layer, rows], records[1][layer, rows], records[2][layer, rows] = block_input, ffn_input, a
            return a
        model.forward(t, record)

    results = []
    for spec in args.variants:
        parts = spec.split(':')
        kind, density = parts[0], float(parts[-1])
        began = time.time()
        if kind == 'input':
            rank = 0
            value = input_sparsity_perplexity(model, ids, args.chunks, args.context, float(parts[1]), density)
        else:
            rank = int(parts[1]) if len(parts) == 3 else 0
            value = perplexity(model, ids, args.chunks, args.context, build(kind, rank, model, records), density)
        results.append(dict(spec=spec, kind=kind, rank=rank, density=density, ppl=value, increase_percent=100 * (value / dense - 1)))
        print(f'{spec}: PPL {value:.4f} ({results[-1]["increase_percent"]:+.2f}%), {time.time() - began:.0f} s', flush=True)
    print(json.dumps(dict(dense_ppl=dense, results=results)))


if __name__ == '__main__':
    main()
