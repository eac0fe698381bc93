#!/usr/bin/env python3
"""Write a random-weight GGUF with Gemma 3 270M's, Gemma 2 2B's, Phi-3.5 mini's, Qwen3-30B-A3B's, Mixtral 8x7B's, Granite 3.1 3B-A800M's,
Qwen1.5-MoE-A2.7B's or gpt-oss-20b's shapes, to measure
decode speed where no real checkpoint can be fetched (only PyPI is reachable from the machines Sieve is developed on).

    scripts/make-bench-model.py [--arch gemma3|gemma2|phi3|qwen3moe|mixtral|granitemoe|qwen2moe|gpt-oss] [--layers N] OUT.gguf

`--layers` writes fewer (or more) layers than the real model's, for a smaller file of the same per-layer shapes.

Gemma 3 270M (the default): hidden 640, FFN 2048, 18 layers, 4 heads / 1 KV head of 256, per-head q/k norms,
vocabulary 262144, sliding window 512 (llama.cpp's default pattern: every sixth layer global), RoPE bases 1e6 / 1e4.
Gemma 2 2B: hidden 2304, FFN 9216, 26 layers, 8 heads / 4 KV heads of 256, vocabulary 256000, sliding window 4096
on every other layer, RoPE base 1e4, attention scores soft-capped at 50 and logits at 30.
Both Gemmas: tied embeddings. Phi-3.5 mini: hidden 3072, FFN 8192, 32 layers, 32 heads of 96, vocabulary 32064, an
output matrix of its own, fused `attn_qkv` and gate/up `ffn_up` as llama.cpp's converter writes them, LongRoPE
(48 short and long factors, original context 4096 of 131072, attention factor √(1 + ln 32 / ln 4096)), no window.
Qwen3-30B-A3B (llama.cpp's `qwen3moe`): hidden 2048, 48 layers, 32 heads / 4 KV heads of 128, per-head q/k norms,
a mixture of 128 experts of width 768 with 8 used per token (`ffn_gate_inp` router [128, 2048] in f32 as llama.cpp's
converter writes it and llama-quantize keeps it; `ffn_gate_exps`/`ffn_up_exps` [128, 768, 2048], `ffn_down_exps`
[128, 2048, 768]), feed_forward_length 6144, vocabulary 151936, an output matrix of its own, RoPE base 1e6, context
40960, no window; about 30.5 billion parameters (4 layers: 3.1 billion).
Mixtral 8x7B (llama.cpp's `llama` with `expert_count`): hidden 4096, 32 layers, 32 heads / 8 KV heads of 128, a
mixture of 8 experts of width 14336 (feed_forward_length) with 2 used per token (router [8, 4096] in f32), vocabulary
32000, an output matrix of its own, RoPE base 1e6, context 32768; about 46.7 billion parameters (4 layers: 5.9
billion).
Granite 3.1 3B-A800M (llama.cpp's `granitemoe`): hidden 1536, 32 layers, 24 heads / 8 KV heads of 64, a mixture of 40
experts of width 512 (feed_forward_length) with 8 used per token (router [40, 1536] in f32), vocabulary 49155, tied
embeddings, RoPE base 1e7, context 131072, Granite's multipliers (embeddings ×12, attention scores ×1/64, block
outputs ×0.22, logits ÷6); about 3.3 billion parameters (4 layers: 0.48 billion).
Qwen1.5-MoE-A2.7B (llama.cpp's `qwen2moe`): hidden 2048, 24 layers, 16 heads of 128 with Q/K/V biases, a mixture of
60 experts of width 1408 with 4 used per token, their weights not normalised, and a shared expert of width 5632 whose
output σ(`ffn_gate_inp_shexp` · x) weighs (router and that gate in f32), vocabulary 151936, an output matrix of its
own, RoPE base 1e6, context 8192; about 14.3 billion parameters (4 layers: 3.2 billion).
gpt-oss-20b (llama.cpp's `gpt-oss`): hidden 2880, 24 layers, 64 heads / 8 KV heads of 64 with Q/K/V/O biases and one
attention sink per head, the even layers sliding over 128 positions, a mixture of 32 experts of width 2880 with 4 used
per token (router [32, 2880] and its bias in f32; the experts' biases in f32), vocabulary 201088, an output matrix of
its own, RoPE base 150000 with YaRN ×32 from 4096 positions, context 131072; about 20.9 billion parameters (4 layers:
4.3 billion). `llama-quantize … MXFP4_MOE` then makes what ggml-org's gpt-oss GGUFs hold: MXFP4 experts, Q8_0 others.
All: matrices N(0, 0.02²) in f16 (the router N(0, 0.02²) in f32: routing is near-random, which does not matter for
speed), norm weights 1 in f32, a placeholder SentencePiece vocabulary of the model's size (`<unk>`, `<s>`, `</s>`, the
256 byte tokens, then `▁tokN`). Quantize it with llama.cpp's `llama-quantize`, then compare `sieve bench` with
`llama-bench` on the same file. Decode speed does not depend on the weights' values; the texts generated are
meaningless. The tensors are generated one at a time while the file is written, so the memory needed is about three
times the largest tensor's f16 size (1.9 GB for Qwen3's embeddings).

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
    "qwen3moe": (2048, 6144, 48, 32, 4, 128, 151936, 0, 1_000_000.0, 40960),
    "mixtral": (4096, 14336, 32, 32, 8, 128, 32000, 0, 1_000_000.0, 32768),
    "gpt-oss": (2880, 2880, 24, 64, 8, 64, 201088, 128, 150_000.0, 131072),
    "granitemoe": (1536, 512, 32, 24, 8, 64, 49155, 0, 10_000_000.0, 131072),
    "qwen2moe": (2048, 5632, 24, 16, 16, 128, 151936, 0, 1_000_000.0, 8192),
}
# experts, experts used per token, expert FFN width.
EXPERTS = {"qwen3moe": (128, 8, 768), "mixtral": (8, 2, 14336), "granitemoe": (40, 8, 512), "qwen2moe": (60, 4, 1408),
           "gpt-oss": (32, 4, 2880)}
# The shared expert's width.
SHARED_EXPERT = {"qwen2moe": 5632}
# The GGUF architecture where it is not the --arch name.
GGUF_ARCH = {"mixtral": "llama"}
# llama.cpp expects Phi-3's special tokens when the name contains "phi-3" or "phi3": the name avoids both.
NAMES = {"gemma3": "gemma-3-270m", "gemma2": "gemma-2-2b", "phi3": "phi 3.5-mini", "qwen3moe": "qwen3-30b-a3b", "mixtral": "mixtral-8x7b",
         "granitemoe": "granite-3.1-3b-a800m", "qwen2moe": "qwen1.5-moe-a2.7b", "gpt-oss": "gpt-oss-20b"}
PHI3_ORIGINAL_CONTEXT = 4096


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=sorted(SHAPES), default="gemma3")
    parser.add_argument("--layers", type=int, help="layer count (default: the real model's)")
    parser.add_argument("out")
    args = parser.parse_args()
    HIDDEN, FF, LAYERS, HEADS, KV_HEADS, HEAD_DIM, VOCAB, WINDOW, ROPE_BASE, CONTEXT = SHAPES[args.arch]
    if args.layers is not None:
        if args.layers < 1:
            parser.error("--layers must be at least 1")
        LAYERS = args.layers
    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(args.out, GGUF_ARCH.get(args.arch, args.arch))
    # Tensors are declared here (name, numpy shape, type) and made one at a time while the file is written: a
    # GGUFWriter.add_tensor would hold them all in memory until then.
    makers = []

    def tensor(name, shape, dtype, make):
        writer.add_tensor_info(name, shape, np.dtype(dtype), int(np.prod(shape)) * np.dtype(dtype).itemsize)
        makers.append(make)

    def normal(shape, dtype):
        values = rng.standard_normal(shape, dtype=np.float32)
        values *= 0.02
        return values.astype(dtype, copy=False)

    def matrix(name, *shape, dtype=np.float16):
        tensor(name, shape, dtype, lambda: normal(shape, dtype))

    def small(name, *shape):
        tensor(name, shape, np.float32, lambda: normal(shape, np.float32))

    def ones(name, n):
        tensor(name, (n,), np.float32, lambda: np.ones(n, dtype=np.float32))

    def fixed(name, values):
        tensor(name, values.shape, values.dtype, lambda: values)

    if args.arch == "phi3":
        pairs = HEAD_DIM // 2
        fixed("rope_factors_long.weight", np.linspace(1.0, 60.0, pairs, dtype=np.float32))
        fixed("rope_factors_short.weight", np.linspace(1.0, 1.5, pairs, dtype=np.float32))
    matrix("token_embd.weight", VOCAB, HIDDEN)
    if args.arch in ("phi3", "qwen3moe", "mixtral", "qwen2moe", "gpt-oss"):
        matrix("output.weight", VOCAB, HIDDEN)
    for i in range(LAYERS):
        if args.arch == "phi3":
            b = f"blk.{i}."
            ones(b + "attn_norm.weight", HIDDEN)
            matrix(b + "attn_qkv.weight", (HEADS + 2 * KV_HEADS) * HEAD_DIM, HIDDEN)
            matrix(b + "attn_output.weight", HIDDEN, HEADS * HEAD_DIM)
            ones(b + "ffn_norm.weight", HIDDEN)
            matrix(b + "ffn_up.weight", 2 * FF, HIDDEN)
            matrix(b + "ffn_down.weight", HIDDEN, FF)
            continue
        if args.arch in EXPERTS:
            n_experts, _, expert_ff = EXPERTS[args.arch]
            b = f"blk.{i}."
            oss = args.arch == "gpt-oss"
            ones(b + "attn_norm.weight", HIDDEN)
            for part, rows in (("q", HEADS), ("k", KV_HEADS), ("v", KV_HEADS)):
                matrix(b + f"attn_{part}.weight", rows * HEAD_DIM, HIDDEN)
                if oss or args.arch == "qwen2moe":
                    small(b + f"attn_{part}.bias", rows * HEAD_DIM)
            if args.arch == "qwen3moe":
                ones(b + "attn_q_norm.weight", HEAD_DIM)
                ones(b + "attn_k_norm.weight", HEAD_DIM)
            matrix(b + "attn_output.weight", HIDDEN, HEADS * HEAD_DIM)
            if oss:
                small(b + "attn_output.bias", HIDDEN)
                small(b + "attn_sinks.weight", HEADS)
            # gpt-oss's FFN norm is llama.cpp's post_attention_norm.
            ones(b + ("post_attention_norm.weight" if oss else "ffn_norm.weight"), HIDDEN)
            # The router in f32, as llama.cpp's converter writes it (llama-quantize leaves it so).
            matrix(b + "ffn_gate_inp.weight", n_experts, HIDDEN, dtype=np.float32)
            matrix(b + "ffn_gate_exps.weight", n_experts, expert_ff, HIDDEN)
            matrix(b + "ffn_up_exps.weight", n_experts, expert_ff, HIDDEN)
            matrix(b + "ffn_down_exps.weight", n_experts, HIDDEN, expert_ff)
            if args.arch in SHARED_EXPERT:
                shared_ff = SHARED_EXPERT[args.arch]
                matrix(b + "ffn_gate_inp_shexp.weight", 1, HIDDEN, dtype=np.float32)
                matrix(b + "ffn_gate_shexp.weight", shared_ff, HIDDEN)
                matrix(b + "ffn_up_shexp.weight", shared_ff, HIDDEN)
                matrix(b + "ffn_down_shexp.weight", HIDDEN, shared_ff)
            if oss:
                small(b + "ffn_gate_inp.bias", n_experts)
                small(b + "ffn_gate_exps.bias", n_experts, expert_ff)
                small(b + "ffn_up_exps.bias", n_experts, expert_ff)
                small(b + "ffn_down_exps.bias", n_experts, HIDDEN)
            continue
        b = f"blk.{i}."
        ones(b + "attn_norm.weight", HIDDEN)
        matrix(b + "attn_q.weight", HEADS * HEAD_DIM, HIDDEN)
        matrix(b + "attn_k.weight", KV_HEADS * HEAD_DIM, HIDDEN)
        matrix(b + "attn_v.weight", KV_HEADS * HEAD_DIM, HIDDEN)
        if args.arch == "gemma3":
            ones(b + "attn_q_norm.weight", HEAD_DIM)
            ones(b + "attn_k_norm.weight", HEAD_DIM)
        matrix(b + "attn_output.weight", HIDDEN, HEADS * HEAD_DIM)
        ones(b + "post_attention_norm.weight", HIDDEN)
        ones(b + "ffn_norm.weight", HIDDEN)
        matrix(b + "ffn_gate.weight", FF, HIDDEN)
        matrix(b + "ffn_up.weight", FF, HIDDEN)
        matrix(b + "ffn_down.weight", HIDDEN, FF)
        ones(b + "post_ffw_norm.weight", HIDDEN)
    ones("output_norm.weight", HIDDEN)

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
    if args.arch in EXPERTS:
        n_experts, n_used, expert_ff = EXPERTS[args.arch]
        writer.add_expert_count(n_experts)
        writer.add_expert_used_count(n_used)
        if args.arch not in ("mixtral", "granitemoe"):  # llama.cpp's llama and granitemoe read it from feed_forward_length
            writer.add_expert_feed_forward_length(expert_ff)
        if args.arch in SHARED_EXPERT:
            writer.add_expert_shared_feed_forward_length(SHARED_EXPERT[args.arch])
    writer.add_layer_norm_rms_eps(1e-5 if args.arch in ("phi3", "mixtral", "gpt-oss") else 1e-6)
    writer.add_rope_freq_base(ROPE_BASE)
    if args.arch not in EXPERTS or args.arch == "gpt-oss":
        writer.add_sliding_window(WINDOW)
    if args.arch == "gpt-oss":
        writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        writer.add_rope_scaling_factor(32.0)
        writer.add_rope_scaling_orig_ctx_len(4096)
    if args.arch == "granitemoe":
        writer.add_attention_scale(1 / 64)
        writer.add_embedding_scale(12.0)
        writer.add_residual_scale(0.22)
        writer.add_logit_scale(6.0)
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
    writer.write_ti_data_to_file()
    for make in makers:
        writer.write_tensor_data(make())
    writer.close()


if __name__ == "__main__":
    main()
