#!/usr/bin/env python3
"""Write a random-weight GGUF with Gemma 3 270M's, Gemma 2 2B's or Phi-3.5 mini's shapes, to measure decode speed
where no real checkpoint can be fetched (only PyPI is reachable from the machines Sieve is developed on).

    scripts/make-bench-model.py [--arch gemma3|gemma2|phi3] OUT.gguf

Gemma 3 270M (the default): hidden 640, FFN 2048, 18 layers, 4 heads / 1 KV head of 256, per-head q/k norms,
vocabulary 262144, sliding window 512 (llama.cpp's default pattern: every sixth layer global), RoPE bases 1e6 / 1e4.
Gemma 2 2B: hidden 2304, FFN 9216, 26 layers, 8 heads / 4 KV heads of 256, vocabulary 256000, sliding window 4096
on every other layer, RoPE base 1e4, attention scores soft-capped at 50 and logits at 30.
Both Gemmas: tied embeddings. Phi-3.5 mini: hidden 3072, FFN 8192, 32 layers, 32 heads of 96, vocabulary 32064, an
output matrix of its own, fused `attn_qkv` and gate/up `ffn_up` as llama.cpp's converter writes them, LongRoPE
(48 short and long factors, original context 4096 of 131072, attention factor √(1 + ln 32 / ln 4096)), no window.
All: weights f16 (matrices N(0, 0.02²), norm weights 1), a placeholder SentencePiece vocabulary
of the model's size (`<unk>`, `<s>`, `</s>`, the 256 byte tokens, then `▁tokN`). Quantize it with llama.cpp's
`llama-quantize`, then compare `sieve bench` with `llama-bench` on the same file. Decode speed does not depend on
the weights' values; the texts generated are meaningless.

Needs numpy and gguf-py (`pip install gguf`).
"""
import argparse

import numpy as np
import gguf

# hidden, FFN, layers, heads, KV heads, head size, vocabulary, window, RoPE base, context.
SHAPES = {
    "gemma3": (640, 2048, 18, 4, 1, 256, 262144, 512, 1_000_000.0, 32768),
    "gemma2": (2304, 9216, 26, 8, 4, 256, 256000, 4096, 10_000.0, 8192),
    "phi3": (3072, 8192, 32, 32, 32, 96, 32064, 0, 10_000.0, 131072),
}
# llama.cpp expects Phi-3's special tokens when the name contains "phi-3" or "phi3": the name avoids both.
NAMES = {"gemma3": "gemma-3-270m", "gemma2": "gemma-2-2b", "phi3": "phi 3.5-mini"}
PHI3_ORIGINAL_CONTEXT = 4096


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=sorted(SHAPES), default="gemma3")
    parser.add_argument("out")
    args = parser.parse_args()
    HIDDEN, FF, LAYERS, HEADS, KV_HEADS, HEAD_DIM, VOCAB, WINDOW, ROPE_BASE, CONTEXT = SHAPES[args.arch]
    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(args.out, args.arch)

    def matrix(rows, cols):
        return (0.02 * rng.standard_normal((rows, cols), dtype=np.float32)).astype(np.float16)

    def ones(n):
        return np.ones(n, dtype=np.float32)

    if args.arch == "phi3":
        pairs = HEAD_DIM // 2
        writer.add_tensor("rope_factors_long.weight", np.linspace(1.0, 60.0, pairs, dtype=np.float32))
        writer.add_tensor("rope_factors_short.weight", np.linspace(1.0, 1.5, pairs, dtype=np.float32))
    writer.add_tensor("token_embd.weight", matrix(VOCAB, HIDDEN))
    if args.arch == "phi3":
        writer.add_tensor("output.weight", matrix(VOCAB, HIDDEN))
    for i in range(LAYERS):
        if args.arch == "phi3":
            b = f"blk.{i}."
            writer.add_tensor(b + "attn_norm.weight", ones(HIDDEN))
            writer.add_tensor(b + "attn_qkv.weight", matrix((HEADS + 2 * KV_HEADS) * HEAD_DIM, HIDDEN))
            writer.add_tensor(b + "attn_output.weight", matrix(HIDDEN, HEADS * HEAD_DIM))
            writer.add_tensor(b + "ffn_norm.weight", ones(HIDDEN))
            writer.add_tensor(b + "ffn_up.weight", matrix(2 * FF, HIDDEN))
            writer.add_tensor(b + "ffn_down.weight", matrix(HIDDEN, FF))
            continue
        b = f"blk.{i}."
        writer.add_tensor(b + "attn_norm.weight", ones(HIDDEN))
        writer.add_tensor(b + "attn_q.weight", matrix(HEADS * HEAD_DIM, HIDDEN))
        writer.add_tensor(b + "attn_k.weight", matrix(KV_HEADS * HEAD_DIM, HIDDEN))
        writer.add_tensor(b + "attn_v.weight", matrix(KV_HEADS * HEAD_DIM, HIDDEN))
        if args.arch == "gemma3":
            writer.add_tensor(b + "attn_q_norm.weight", ones(HEAD_DIM))
            writer.add_tensor(b + "attn_k_norm.weight", ones(HEAD_DIM))
        writer.add_tensor(b + "attn_output.weight", matrix(HIDDEN, HEADS * HEAD_DIM))
        writer.add_tensor(b + "post_attention_norm.weight", ones(HIDDEN))
        writer.add_tensor(b + "ffn_norm.weight", ones(HIDDEN))
        writer.add_tensor(b + "ffn_gate.weight", matrix(FF, HIDDEN))
        writer.add_tensor(b + "ffn_up.weight", matrix(FF, HIDDEN))
        writer.add_tensor(b + "ffn_down.weight", matrix(HIDDEN, FF))
        writer.add_tensor(b + "post_ffw_norm.weight", ones(HIDDEN))
    writer.add_tensor("output_norm.weight", ones(HIDDEN))

    writer.add_name(NAMES[args.arch] + "-shaped random weights")
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FF)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    if args.arch == "phi3":
        writer.add_rope_dimension_count(HEAD_DIM)
        writer.add_rope_scaling_orig_ctx_len(PHI3_ORIGINAL_CONTEXT)
        scale = CONTEXT / PHI3_ORIGINAL_CONTEXT
        writer.add_rope_scaling_attn_factors(float(np.sqrt(1 + np.log(scale) / np.log(PHI3_ORIGINAL_CONTEXT))))
    else:
        writer.add_key_length(HEAD_DIM)
        writer.add_value_length(HEAD_DIM)
    writer.add_layer_norm_rms_eps(1e-5 if args.arch == "phi3" else 1e-6)
    writer.add_rope_freq_base(ROPE_BASE)
    writer.add_sliding_window(WINDOW)
    if args.arch == "gemma2":
        writer.add_attn_logit_softcapping(50.0)
        writer.add_final_logit_softcapping(30.0)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    tokens += [f"\u2581tok{i}" for i in range(VOCAB - len(tokens))]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.BYTE] * 256
    types += [gguf.TokenType.NORMAL] * (VOCAB - len(types))
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores([-float(i) for i in range(VOCAB)])
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_space_prefix(False)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main()
