#!/usr/bin/env python3
"""Make Tests/Fixtures/models/tiny-qwen2moe/: a tiny random-weight Qwen2-MoE, its GGUF, and reference outputs.

Run by the fixtures' maintainer:

    scripts/make-qwen2moe-fixture.py --llama-cpp DIR      (or LLAMA_CPP_DIR=DIR scripts/make-qwen2moe-fixture.py)

It needs what scripts/make-qwen3moe-fixture.py needs (Python 3 with numpy, gguf 0.19.0, safetensors and tokenizers,
no torch or transformers; a C compiler; a built llama.cpp at commit 0c1e57098), and tiny-qwen2's committed files and
its f32.gguf (rebuilt first if missing). It imports scripts/make-qwen3moe-fixture.py and reuses its MoE helpers
(shapes, the expert stacking, the GGUF writer and its self-check on tiny-qwen2, the GGUF check, the float64 routed
MoE block `moe_ffn`, the routing statistics and criteria) with its QWEN3MOE_LAYOUT minus q_norm / k_norm, and,
through it, scripts/make-phi3-fixture.py's (the three-way tokenizer check, the libllama runs),
scripts/make-gemma3-fixture.py's (the feature-effect and agreement measures), scripts/make-qwen3-fixture.py's
(random weights, config writer, TextModel's GGUF keys, ref.json parts, the widened-log harness),
scripts/make-rope-scaling-fixtures.py's (GGUF file writer, harness driver and check, JSON and file-map writers,
command line, tool versions), scripts/make-gguf-skeletons.py's `make` and scripts/rebuild-gguf-fixtures.py's atomic
writer and hashes.

Qwen2-MoE (transformers' Qwen2MoeForCausalLM, model_type qwen2_moe; llama.cpp's qwen2moe: Qwen1.5-MoE-A2.7B,
Qwen2-57B-A14B) is Qwen2's graph (q/k/v_proj with biases, o_proj without; no q/k norms; rotate-half RoPE, GQA)
whose every feed-forward block is Qwen2MoeSparseMoeBlock: router logits = mlp.gate(x) ([num_experts, hidden], no
bias), softmax over the experts, the top num_experts_per_tok probabilities (divided by their sum only when
norm_topk_prob, false by default and here) weight the SwiGLU experts' outputs, sum_k p_k down_e(silu(gate_e x) *
up_e x); plus a shared expert, always on: sigmoid(mlp.shared_expert_gate(x)) * shared_expert(x), with
shared_expert_gate an nn.Linear(hidden, 1, bias=False) (one scalar gate per position) and shared_expert a SwiGLU of
width shared_expert_intermediate_size. llama.cpp (src/models/qwen2moe.cpp) computes the same: build_moe_ffn with
norm_w false, softmax gating and no weight scale (hard-coded: no GGUF key for norm_topk_prob), plus
ffn_gate_inp_shexp x cur through ggml_div(ggml_silu(g), g) (= sigmoid(g)) times build_ffn(up_shexp, gate_shexp,
down_shexp, SILU, PAR).

What it does, in the folder Tests/Fixtures/models/tiny-qwen2moe/:
  1. `hf/config.json`: Qwen2MoeForCausalLM / qwen2_moe with the bytes transformers 4.57.6 writes for this
     Qwen2MoeConfig (sorted keys, indent 2): hidden 64, 4 layers, 4 heads / 2 KV heads (head_dim 16 = hidden /
     heads: Qwen2MoeConfig has no head_dim), vocab 512, max_position_embeddings 256, rope_theta 1e4 (Qwen2MoeConfig's
     default; see ref.json's config.rope_theta_note), rms_norm_eps 1e-6, silu, qkv_bias true (the default: q/k/v
     biases), no rope_scaling, no sliding window, untied LM head (tie_word_embeddings false, the default), bos = eos
     = 0 (tiny-qwen2's); num_experts 8, num_experts_per_tok 2, moe_intermediate_size 32,
     shared_expert_intermediate_size 48, norm_topk_prob false (the default), decoder_sparse_step 1, mlp_only_layers []
     (every layer sparse), intermediate_size 96 (no dense layer uses it; unlike both expert widths on purpose). It
     also goes to Fuzz/corpus/hf-config/tiny-qwen2moe.json (a fuzz seed). The tokenizer files (tokenizer.json,
     tokenizer_config.json, special_tokens_map.json, generation_config.json) are tiny-qwen2/hf's, copied unchanged.
  2. `hf/model.safetensors`: float32, Hugging Face names (`lm_head.weight`, `model.embed_tokens.weight`,
     `model.layers.{i}.self_attn.{q,k,v,o}_proj.weight`, `self_attn.{q,k,v}_proj.bias`, `mlp.gate.weight` [8, 64]
     (the router), `mlp.experts.{e}.{gate,up}_proj.weight` [32, 64], `mlp.experts.{e}.down_proj.weight` [64, 32],
     `mlp.shared_expert.{gate,up}_proj.weight` [48, 64], `mlp.shared_expert.down_proj.weight` [64, 48],
     `mlp.shared_expert_gate.weight` [1, 64], `input_layernorm`, `post_attention_layernorm`, `model.norm.weight`),
     metadata {"format": "pt"}. numpy.random.default_rng(SEED) draws one standard_normal(shape) per tensor, in sorted
     name order; every matrix is 0.0625 x that, except embed_tokens: EMBED_SCALE (0.5), the routers: ROUTER_SCALE
     (0.5), the shared experts' gates: SHARED_GATE_SCALE (0.25) and the q/k/v biases: BIAS_SCALE (0.25) x that (the
     float32 0.0625 draw x 8, x 8, x 4, x 4, exact); every norm weight 1 + 0.2 x that. SEED (65) is the first seed
     from 0 whose float64 pass meets ROUTING_CRITERIA (checked in step 7: every seed below misses them).
  3. `f32.gguf`: written with gguf-py's GGUFWriter the way llama.cpp's convert_hf_to_gguf.py (Qwen2MoeModel,
     conversion/qwen.py, at 0c1e57098) writes an `--outtype f32 --model-name tiny-qwen2moe` conversion of hf/: the
     safetensors tensors in sorted name order, except that each layer's 24 expert tensors become three 3-D tensors,
     `torch.stack`ed over the experts in Qwen2MoeModel.modify_tensors when the block's last one (experts.7.up_proj)
     arrives: `ffn_down_exps` [32, 64, 8] (ggml shape), `ffn_gate_exps` [64, 32, 8], `ffn_up_exps` [64, 32, 8] (in that
     order, before the router `ffn_gate_inp` [64, 8]); the shared expert as it is (`ffn_down_shexp` [48, 64],
     `ffn_gate_shexp` [64, 48], `ffn_up_shexp` [64, 48], `ffn_gate_inp_shexp` [64, 1]); the biases as
     `attn_{k,q,v}.bias` (each before its weight); renamed by gguf-py's qwen2moe name map, all F32, nothing permuted
     (NEOX RoPE), `output.weight` first (lm_head sorts first). Then general.type, name, size_label ("8x180K": gguf-py
     counts the expert tensors per expert); TextModel's keys (block_count, context_length, embedding_length,
     feed_forward_length 96, head_count, head_count_kv, rope.freq_base, layer_norm_rms_epsilon, expert_count 8,
     expert_used_count 2, general.file_type; no key_length: no head_dim), Qwen2MoeModel's expert_feed_forward_length 32
     and expert_shared_feed_forward_length 48; quantization_version; then tiny-qwen2/f32.gguf's tokenizer.* keys copied
     in order. Nothing says norm_topk_prob. The writer checks itself first: run with architecture qwen2 on
     tiny-qwen2/hf, it must give tiny-qwen2/f32.gguf (which convert_hf_to_gguf.py wrote) byte for byte. The file is read
     back with GGUFReader, checked, and git-ignored. (Checked once by hand, not by this script: the real converter, run
     on hf/ with --outtype f32 --no-lazy --model-name tiny-qwen2moe and a numpy stand-in for its few eager torch calls,
     torch.stack included, writes f32.gguf byte for byte; see the folder's README.)
  4. `gguf-skeletons/f32.skeleton` (scripts/make-gguf-skeletons.py's `make`: identity transforms, `stack` for the
     expert tensors: format version 4), so scripts/rebuild-gguf-fixtures.py rebuilds f32.gguf byte for byte from
     hf/model.safetensors.
  5. compiles scripts/llama-cpp-logits.c and scripts/llama-cpp-tokenize.c against DIR. Tokenizer check: TEXT
     tokenized by the `tokenizers` library from hf/tokenizer.json, by libllama from f32.gguf and by libllama from
     tiny-qwen2/f32.gguf must give the same ids, with and without special tokens (the same: no BOS); those ids are
     the model input. Harness check: tiny-qwen2/f32.gguf on tiny-qwen2's ids must reproduce its committed llama.cpp
     reference. Then f32.gguf runs twice (bit-identical outputs required; libllama must log no warning but
     EXPECTED_WARNINGS, and rope type 2, NEOX), and once more with the harness's log filter widened to "expert" and
     "n_ff" (qwen3's yarn_log_harness): the same outputs, and the log must show EXPECTED_LOG (n_ff_exp 32, n_ff_shexp
     48). Two probes on temporary GGUFs: feed_forward_length FF_PROBE (200) instead of 96 must give bit-identical
     outputs (llama.cpp's qwen2moe does not use it when both expert widths are given), and a GGUF without
     expert_shared_feed_forward_length must fail to load with a wrong-shape error for a shared-expert tensor (the
     shared width falls back to feed_forward_length).
  6. `ref-llama-cpp.safetensors`: `input_ids` (int64 [1, T]), `logits.f32` [1, T, 512], `hidden_last.f32` [1, T, 64]
     (llama.cpp's `result_norm`), float32.
  7. an independent float64 numpy forward pass with transformers' Qwen2MoeForCausalLM math (numpy_qwen2moe, written
     here: Qwen2's biased attention, the qwen3moe script's moe_ffn for the routed experts, the gated shared expert),
     itself checked against the qwen3moe script's numpy_qwen3moe (rope.numpy_llama's attention) with the biases and
     the shared expert left out (to SELF_CHECK_TOLERANCE). Routing: in every layer and at every position the gap
     between the router's 2nd and 3rd largest logits must be at least MIN_ROUTER_MARGIN and every expert must be
     chosen at least once per layer (ROUTING_CRITERIA); every seed below SEED must miss these criteria. The pass
     must match libllama's f32.gguf run to NUMPY_TOLERANCE. Every feature left out or changed must move the logits
     by more than MIN_FEATURE_EFFECT: the shared expert dropped; its gate dropped (weight 1), without the sigmoid,
     silu instead of sigmoid, applied to the routed experts' output too, or the sigmoid applied to the shared
     expert's output; the shared expert's gate and up swapped; the top-2 weights normalized (norm_topk_prob true);
     a softmax over the top 2 logits only (the same function as the normalized weights: checked to
     EQUIVALENCE_TOLERANCE); the q/k/v biases dropped, all three and each alone; the experts in reversed order;
     top-1 routing; gate and up swapped in the routed experts. Its outputs, rounded to float32, are
     `ref.safetensors` (`input_ids`, `logits`, `hidden_last`, `router_topk.{layer}` (int64 [T, 2], the chosen
     experts by weight descending)).
  8. `ref.json`: text and ids, the tokenizer check, config summary, seed and scales, the routing statistics, the
     shared gates' range, the checks' numbers, the GGUF's metadata and tensors, libllama's log of the expert sizes
     and the probes, provenance, tool versions, and the `files` map (size and sha256 of every data file of the
     folder; the rebuild script checks the GGUF against it). README.md is written by hand and not in the map.

Deterministic: the same inputs give the same bytes (the llama.cpp outputs for the same build on the same CPU).
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from importlib import metadata

import numpy as np
import gguf
from gguf import GGUFReader
from safetensors.numpy import load_file, save

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(filename, module):
    spec = importlib.util.spec_from_file_location(module, os.path.join(HERE, filename))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# The Qwen3-MoE fixture script: the MoE helpers (shapes, expert stacking, the GGUF check, the float64 MoE block,
# routing statistics); through it the Phi-3, Gemma 3, Qwen3 and RoPE-scaling fixture scripts' (tokenizer check,
# libllama runs, measures, config writer, GGUF writer parts, harness, skeletons, files map, JSON writers).
qwen3moe = _load("make-qwen3moe-fixture.py", "make_qwen3moe_fixture")
phi3, gemma3, qwen3, rope = qwen3moe.phi3, qwen3moe.gemma3, qwen3moe.qwen3, qwen3moe.rope
rebuild, skeletons = qwen3moe.rebuild, qwen3moe.skeletons
write_json, file_entry, max_abs = rope.write_json, rope.file_entry, rope.max_abs
effect, agreement, top2_margins = gemma3.effect, gemma3.agreement, gemma3.top2_margins

REPO, MODELS = rope.REPO, rope.MODELS
NAME = "tiny-qwen2moe"
OUT = os.path.join(MODELS, NAME)
TOKENIZER_BASE = "tiny-qwen2"
TOKENIZER_FROM = qwen3moe.TOKENIZER_FROM    # tiny-qwen2
TOKENIZER_FILES = qwen3moe.TOKENIZER_FILES  # generation_config.json, special_tokens_map.json, tokenizer.json, ...
PROG = "qwen2moe-fixture"

SEED = 65                                 # the first seed from 0 that meets ROUTING_CRITERIA (see the header)
MATRIX_SCALE = qwen3moe.MATRIX_SCALE      # 0.0625: every matrix but those below (lm_head, q/k/v/o, the experts)
EMBED_SCALE = 8 * MATRIX_SCALE            # 0.5: embed_tokens (the float32 0.0625 draw x 8, exact)
ROUTER_SCALE = qwen3moe.ROUTER_SCALE      # 0.5: mlp.gate, the routers (x 8, exact)
BIAS_SCALE = 4 * MATRIX_SCALE             # 0.25: the q/k/v_proj biases (x 4, exact)
SHARED_GATE_SCALE = 4 * MATRIX_SCALE      # 0.25: mlp.shared_expert_gate (x 4, exact)
NORM_SCALE = qwen3moe.NORM_SCALE          # 0.2: norm weights 1 + 0.2 N(0, 1)
# A hyphen, a colon, digits, a plus, a newline, a double space and non-ASCII letters (two bytes each in the byte-level
# BPE); its ids are the model input: 32 of them.
TEXT = "Qwen2-MoE: 2 of 8 + shared.\nCafé  naïve"
NUMPY_TOLERANCE = qwen3moe.NUMPY_TOLERANCE          # 1e-4: max |difference| float64 pass vs libllama (f32.gguf)
MIN_FEATURE_EFFECT = qwen3moe.MIN_FEATURE_EFFECT    # 0.05: max |Δlogit| each left-out or changed feature must cause
MIN_ROUTER_MARGIN = qwen3moe.MIN_ROUTER_MARGIN      # 0.05: the 2nd / 3rd router logit gap, every layer and position
EQUIVALENCE_TOLERANCE = qwen3moe.EQUIVALENCE_TOLERANCE  # 1e-12: two formulations of one function
SELF_CHECK_TOLERANCE = 1e-12   # this script's pass without biases and shared expert vs the qwen3moe script's
ROUTING_CRITERIA = (f"in the float64 pass, every layer and every position: router logit gap between the 2nd and 3rd "
                    f"largest >= {MIN_ROUTER_MARGIN}; every expert chosen by at least one position in every layer")
EXPECTED_WARNINGS = qwen3moe.EXPECTED_WARNINGS
WARNINGS_NOTE = qwen3moe.WARNINGS_NOTE
TOKENIZER_NOTE = ("tiny-qwen2's tokenizer files, unchanged (as tiny-qwen3's and tiny-qwen3moe's): byte-level BPE, "
                  "qwen2 pre-tokenizer, no BOS; the GGUF's tokenizer.* keys are tiny-qwen2/f32.gguf's "
                  "(convert_hf_to_gguf.py's _set_vocab_gpt2, which Qwen2MoeModel's set_vocab (TextModel's) comes down "
                  "to, wrote them from the same files)")
# The widened log's words, and libllama's print_info lines (whitespace collapsed) that it must show.
LOG_WORDS = ("expert", "n_ff")
EXPECTED_LOG = ["n_ff = 96", "n_expert = 8", "n_expert_used = 2", "n_ff_exp = 32", "n_ff_shexp = 48"]
# A temporary GGUF with feed_forward_length FF_PROBE instead of 96 must give bit-identical outputs (llama.cpp's
# qwen2moe sizes the experts and the shared expert by their own keys), and one without
# expert_shared_feed_forward_length must fail to load (the shared expert would be sized n_ff).
FF_PROBE = 200

# As transformers 4.57.6 writes Qwen2MoeConfig(vocab_size=512, hidden_size=64, intermediate_size=96,
# num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
# rope_theta=10000.0, rms_norm_eps=1e-6, hidden_act="silu", tie_word_embeddings=False, bos_token_id=0,
# eos_token_id=0, initializer_range=0.0625, num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32,
# shared_expert_intermediate_size=48, norm_topk_prob=False, decoder_sparse_step=1, mlp_only_layers=[]) with
# architectures ["Qwen2MoeForCausalLM"] and dtype float32 (save_pretrained: sorted keys, indent 2; checked once with
# transformers 4.57.6, see the README). Qwen2MoeConfig has no head_dim (Qwen2MoeAttention: getattr(config,
# "head_dim", hidden_size // num_attention_heads) = 16) and no attention_bias: qkv_bias (default true) gives
# q/k/v_proj their biases, o_proj has none. It writes max_window_layers 28 and sliding_window null
# (use_sliding_window false), output_router_logits false and router_aux_loss_coef 0.001 (training only);
# tie_word_embeddings false differs from PretrainedConfig's default, so it is written; pad_token_id (None) is not.
CONFIG = {
    "architectures": ["Qwen2MoeForCausalLM"],
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "decoder_sparse_step": 1,
    "dtype": "float32",
    "eos_token_id": 0,
    "hidden_act": "silu",
    "hidden_size": 64,
    "initializer_range": MATRIX_SCALE,
    "intermediate_size": 96,
    "max_position_embeddings": 256,
    "max_window_layers": 28,
    "mlp_only_layers": [],
    "model_type": "qwen2_moe",
    "moe_intermediate_size": 32,
    "norm_topk_prob": False,
    "num_attention_heads": 4,
    "num_experts": 8,
    "num_experts_per_tok": 2,
    "num_hidden_layers": 4,
    "num_key_value_heads": 2,
    "output_router_logits": False,
    "qkv_bias": True,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 10000.0,
    "router_aux_loss_coef": 0.001,
    "shared_expert_intermediate_size": 48,
    "sliding_window": None,
    "tie_word_embeddings": False,
    "transformers_version": "4.57.6",
    "use_cache": True,
    "use_sliding_window": False,
    "vocab_size": 512,
}

# The qwen3moe script's MoE layout (the same router and expert names, config keys and stacking order) without
# q_norm / k_norm.
LAYOUT = dict(qwen3moe.QWEN3MOE_LAYOUT, qk_norm=False)
# The converter's GGUF tensor names of a Qwen2-MoE block, in its order: the HF names' sorted order
# (input_layernorm, mlp.experts.*, mlp.gate, mlp.shared_expert.{down,gate,up}_proj, mlp.shared_expert_gate,
# post_attention_layernorm, self_attn.k_proj.{bias,weight}, o_proj.weight, q_proj.{bias,weight}, v_proj.{bias,weight})
# with the 24 expert tensors replaced by the three stacked ones (down, gate, up).
LAYER_TENSORS = ["attn_norm.weight", "ffn_down_exps.weight", "ffn_gate_exps.weight", "ffn_up_exps.weight",
                 "ffn_gate_inp.weight", "ffn_down_shexp.weight", "ffn_gate_shexp.weight", "ffn_up_shexp.weight",
                 "ffn_gate_inp_shexp.weight", "ffn_norm.weight", "attn_k.bias", "attn_k.weight", "attn_output.weight",
                 "attn_q.bias", "attn_q.weight", "attn_v.bias", "attn_v.weight"]


def say(text):
    print(f"{PROG}: {text}", flush=True)


def rel(path):
    return os.path.relpath(path, REPO)


# --- the model ------------------------------------------------------------------------------------------------

def head_dim(c):
    """Qwen2MoeAttention's head_dim: getattr(config, "head_dim", hidden_size // num_attention_heads)."""
    return c.get("head_dim", c["hidden_size"] // c["num_attention_heads"])


def hf_shapes(c):
    """{Hugging Face tensor name: numpy shape} of Qwen2MoeForCausalLM with every layer sparse: the qwen3moe script's
    (embed_tokens, lm_head, q/k/v/o_proj, norms, the router mlp.gate [experts, hidden], the experts' gate_proj /
    up_proj [moe_intermediate, hidden] and down_proj [hidden, moe_intermediate]) without q_norm / k_norm, plus per
    layer the q/k/v_proj biases (qkv_bias) and the shared expert: mlp.shared_expert.gate_proj / up_proj
    [shared_expert_intermediate, hidden], down_proj [hidden, shared_expert_intermediate] and its gate
    mlp.shared_expert_gate [1, hidden] (nn.Linear(hidden, 1, bias=False))."""
    h, s, d = c["hidden_size"], c["shared_expert_intermediate_size"], head_dim(c)
    shapes = qwen3moe.hf_shapes(dict(c, head_dim=d), LAYOUT)
    assert c["qkv_bias"]
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        shapes.update({
            p + "self_attn.q_proj.bias": (c["num_attention_heads"] * d,),
            p + "self_attn.k_proj.bias": (c["num_key_value_heads"] * d,),
            p + "self_attn.v_proj.bias": (c["num_key_value_heads"] * d,),
            p + "mlp.shared_expert.gate_proj.weight": (s, h),
            p + "mlp.shared_expert.up_proj.weight": (s, h),
            p + "mlp.shared_expert.down_proj.weight": (h, s),
            p + "mlp.shared_expert_gate.weight": (1, h),
        })
    return shapes


def random_weights(c, seed=SEED):
    """qwen3.random_weights of hf_shapes(c) (one standard_normal draw per tensor in sorted name order from
    default_rng(seed); matrices and biases MATRIX_SCALE x that, norms 1 + NORM_SCALE x that), then in float32 (powers
    of two: exactly float32(scale x the draw)) embed_tokens x 8, every router mlp.gate x 8, every q/k/v_proj bias x 4
    and every mlp.shared_expert_gate x 4."""
    weights = qwen3.random_weights(c, seed, MATRIX_SCALE, NORM_SCALE, shapes=hf_shapes(c))
    factors = [("model.embed_tokens.weight", EMBED_SCALE), (".mlp.gate.weight", ROUTER_SCALE),
               ("_proj.bias", BIAS_SCALE), (".mlp.shared_expert_gate.weight", SHARED_GATE_SCALE)]
    out = {}
    for name, w in weights.items():
        scales = [s for suffix, s in factors if name.endswith(suffix)]
        assert len(scales) <= 1, name
        factor = np.float32(scales[0] / MATRIX_SCALE) if scales else None
        assert factor is None or factor in (4, 8), (name, factor)
        out[name] = w if factor is None else w * factor
    return out


def silu(x):
    return x / (1 + np.exp(-x))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# How the shared expert's gate z = shared_expert_gate(x) ([T, 1]) meets the routed experts' output r and the shared
# expert's output s in the block's output: transformers' r + sigmoid(z) * s, and what a runtime that got it wrong
# would compute.
SHARED_GATES = {
    "sigmoid": lambda z, r, s: r + sigmoid(z) * s,
    "dropped": lambda z, r, s: r + s,                       # the gate left out: weight 1
    "no_sigmoid": lambda z, r, s: r + z * s,                # the raw gate logit as the weight
    "silu": lambda z, r, s: r + silu(z) * s,                # llama.cpp's silu(z) / z without the division
    "on_block_output": lambda z, r, s: sigmoid(z) * (r + s),  # the gate on the routed experts' output too
    "on_expert_output": lambda z, r, s: r + z * sigmoid(s),   # the sigmoid on the shared expert's output
}


def shared_expert(w, layer, x, mode="on"):
    """Qwen2MoeMLP(shared_expert_intermediate_size) in float64 for x [T, hidden]: down_proj(silu(gate_proj(x)) *
    up_proj(x)). `mode`: "on"; "off" (zeros); "gate_up_swapped" (silu(up_proj(x)) * gate_proj(x))."""
    if mode == "off":
        return np.zeros_like(x)
    p = f"model.layers.{layer}.mlp.shared_expert."
    gate, up = x @ w[p + "gate_proj.weight"].T, x @ w[p + "up_proj.weight"].T
    if mode == "gate_up_swapped":
        gate, up = up, gate
    else:
        assert mode == "on", mode
    return (silu(gate) * up) @ w[p + "down_proj.weight"].T


def numpy_qwen2moe(w, c, ids, qkv_bias="qkv", shared="on", shared_gate="sigmoid", **moe):
    """(logits [T, vocab], hidden_last [T, hidden], routing per layer) of Qwen2MoeForCausalLM in float64,
    transformers' math, written here (Qwen2's attention has biases, which rope.numpy_llama has not): h =
    embed_tokens[ids]; per layer x = input_layernorm(h) (RMSNorm: x / sqrt(mean(x^2) + eps) * w, eps 1e-6); q / k / v
    = x @ W.T + b (the letters in `qkv_bias` keep their bias), [T, heads, 16]; rotate-half RoPE on q and k
    (inv_freq = theta^(-arange(0, 16, 2) / 16), emb = cat(freqs, freqs), q * cos + rotate_half(q) * sin); k and v
    repeated per query head (repeat_kv: head i reads KV head i // 2); softmax(q k^T / sqrt(16) + causal mask) v;
    h += o_proj(that) (no bias); x = post_attention_layernorm(h); h += Qwen2MoeSparseMoeBlock(x): the routed experts
    (the qwen3moe script's moe_ffn with `moe`: router logits x @ mlp.gate.T, softmax over the 8 experts, the top 2
    probabilities, divided by their sum only when norm_topk_prob (false here), weighting down(silu(gate x) * up x))
    plus sigmoid(mlp.shared_expert_gate(x)) * shared_expert(x) (`shared`: shared_expert's mode, `shared_gate`: a
    SHARED_GATES key); final norm; logits = hidden @ lm_head.T (untied). Each layer's routing record (moe_ffn's) also
    gets the shared expert's gate logits, `shared_gate_logits` [T, 1]."""
    n_head, n_kv, d = c["num_attention_heads"], c["num_key_value_heads"], head_dim(c)
    eps, T = c["rms_norm_eps"], len(ids)

    def norm(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    inv_freq = 1.0 / c["rope_theta"] ** (np.arange(0, d, 2, dtype=np.float64) / d)
    freqs = np.arange(T, dtype=np.float64)[:, None] * inv_freq[None]
    emb = np.concatenate([freqs, freqs], -1)     # [T, d]
    cos, sin = np.cos(emb), np.sin(emb)

    def rotate_half(x):
        return np.concatenate([-x[..., d // 2:], x[..., :d // 2]], -1)

    def linear(x, name, bias):
        y = x @ w[name + ".weight"].T
        return y + w[name + ".bias"] if bias else y

    mask = np.triu(np.full((T, T), -np.inf), 1)
    routing = []
    routed = qwen3moe.moe_ffn(w, c, routing, layout=LAYOUT, **moe)
    combine = SHARED_GATES[shared_gate]
    h = w["model.embed_tokens.weight"][ids]
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        x = norm(h, w[p + "input_layernorm.weight"])
        q = linear(x, p + "self_attn.q_proj", "q" in qkv_bias).reshape(T, n_head, d).transpose(1, 0, 2)
        k = linear(x, p + "self_attn.k_proj", "k" in qkv_bias).reshape(T, n_kv, d).transpose(1, 0, 2)
        v = linear(x, p + "self_attn.v_proj", "v" in qkv_bias).reshape(T, n_kv, d).transpose(1, 0, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = np.repeat(k, n_head // n_kv, axis=0), np.repeat(v, n_head // n_kv, axis=0)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(d) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        a = (s / s.sum(-1, keepdims=True)) @ v                      # [heads, T, d]
        h = h + a.transpose(1, 0, 2).reshape(T, n_head * d) @ w[p + "self_attn.o_proj.weight"].T
        x = norm(h, w[p + "post_attention_layernorm.weight"])
        z = x @ w[p + "mlp.shared_expert_gate.weight"].T            # [T, 1]
        h = h + combine(z, routed(layer, x), shared_expert(w, layer, x, shared))
        routing[-1]["shared_gate_logits"] = z
    hidden = norm(h, w["model.norm.weight"])
    return hidden @ w["lm_head.weight"].T, hidden, routing


def self_check(w, c, ids):
    """This script's pass with no biases and no shared expert against the qwen3moe script's numpy_qwen3moe
    (rope.numpy_llama's attention, no q/k norm, with the same moe_ffn) on the same weights: the attention written
    twice, independently."""
    ours = numpy_qwen2moe(w, c, ids, qkv_bias="", shared="off")
    theirs = qwen3moe.numpy_qwen3moe(w, c, ids, layout=LAYOUT)
    return {"method": "numpy_qwen2moe without the q/k/v biases and the shared expert vs the qwen3moe script's "
                      "numpy_qwen3moe (rope.numpy_llama's attention, no q/k norm, the same routed experts) on these "
                      "weights",
            "max_abs_logit_diff": max_abs(ours[0], theirs[0]), "max_abs_hidden_last_diff": max_abs(ours[1], theirs[1]),
            "tolerance": SELF_CHECK_TOLERANCE}


def seed_search(ids, first=SEED):
    """Every seed below `first` must miss ROUTING_CRITERIA (the float64 pass on `ids` with random_weights(CONFIG,
    seed)), `first` must meet them; the script exits otherwise. Returns ref.json's record."""
    missed_gap = missed_coverage = 0
    for seed in range(first + 1):
        w = {k: v.astype(np.float64) for k, v in random_weights(CONFIG, seed).items()}
        stats = qwen3moe.routing_stats(numpy_qwen2moe(w, CONFIG, ids)[2], CONFIG, LAYOUT)
        if qwen3moe.meets_criteria([stats]) != (seed == first):
            sys.exit(f"{PROG}: seed {seed} {'meets' if seed < first else 'misses'} the routing criteria; SEED {first} "
                     f"is not the first seed that meets them")
        missed_gap += seed < first and stats["min_topk_gap"] < MIN_ROUTER_MARGIN
        missed_coverage += seed < first and stats["min_expert_count"] < 1
    return {"seeds_checked": f"0..{first}", "first_meeting_criteria": first,
            "seeds_below_with_a_gap_below_the_margin": int(missed_gap),
            "seeds_below_with_an_unused_expert": int(missed_coverage)}


# --- GGUF -----------------------------------------------------------------------------------------------------

def write_gguf(path, c, weights, tokenizer_gguf, shared_key=True):
    """An f32 GGUF as convert_hf_to_gguf.py --outtype f32 writes it for a Qwen2MoeModel with config `c`, these float32
    HF weights and the tokenizer files tokenizer_gguf was converted from (see the header): the qwen3moe script's
    writer with Qwen2MoeModel.set_gguf_parameters' second key, expert_shared_feed_forward_length, after
    expert_feed_forward_length (shared_key False leaves it out: a probe). Returns the GGUF tensor names in order and
    the parameter count."""
    tok = GGUFReader(tokenizer_gguf)

    def fill(writer):
        # ModelBase.prepare_tensors (Qwen2MoeModel.modify_tensors: the experts stacked), prepare_metadata: general.*,
        # TextModel.set_gguf_parameters (expert_count and expert_used_count included), then Qwen2MoeModel's keys.
        names, total = qwen3.add_text_model(writer, gguf.MODEL_ARCH.QWEN2MOE, NAME, c,
                                            qwen3moe.converter_tensors(c, weights, LAYOUT))
        writer.add_expert_feed_forward_length(c["moe_intermediate_size"])
        if shared_key:
            writer.add_expert_shared_feed_forward_length(c["shared_expert_intermediate_size"])
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        # TextModel.prepare_metadata's set_vocab (_set_vocab_gpt2): the same tokenizer files give the same keys.
        for field in tok.fields.values():
            if field.name.startswith("tokenizer."):
                rope.copy_field(writer, field, field.contents())
        return names, total

    return rope.write_gguf_file(path, "qwen2moe", fill)


def expected_metadata(c):
    """{key: value} of the GGUF's non-tokenizer keys in the converter's order (as GGUFReader reads them); None:
    checked separately."""
    f32 = lambda x: float(np.float32(x))  # noqa: E731
    a = "qwen2moe."
    return {
        "general.architecture": "qwen2moe", "general.type": "model", "general.name": NAME, "general.size_label": None,
        a + "block_count": c["num_hidden_layers"], a + "context_length": c["max_position_embeddings"],
        a + "embedding_length": c["hidden_size"], a + "feed_forward_length": c["intermediate_size"],
        a + "attention.head_count": c["num_attention_heads"],
        a + "attention.head_count_kv": c["num_key_value_heads"],
        a + "rope.freq_base": f32(c["rope_theta"]),
        a + "attention.layer_norm_rms_epsilon": f32(c["rms_norm_eps"]),
        a + "expert_count": c["num_experts"], a + "expert_used_count": c["num_experts_per_tok"],
        "general.file_type": 0, a + "expert_feed_forward_length": c["moe_intermediate_size"],
        a + "expert_shared_feed_forward_length": c["shared_expert_intermediate_size"],
        "general.quantization_version": 2,
    }


def expected_gguf_names(c):
    """The converter's GGUF tensor names in file order, spelled out independently of gguf-py's name map."""
    return (["output.weight", "token_embd.weight"]
            + [f"blk.{i}.{part}" for i in range(c["num_hidden_layers"]) for part in LAYER_TENSORS]
            + ["output_norm.weight"])


def check_gguf(path, c, weights, names, tokenizer_gguf):
    """Read f32.gguf back with GGUFReader: the qwen3moe script's check (metadata order and values as
    expected_metadata(c), then tiny-qwen2/f32.gguf's tokenizer.* keys; tensor names, F32, shapes and data, the
    experts stacked), the integers UINT32 and the floats FLOAT32, and the shared expert's ggml shapes."""
    kv, tensors = qwen3moe.check_gguf(path, c, weights, names, tokenizer_gguf, want=expected_metadata(c),
                                      gguf_names=expected_gguf_names(c), layout=LAYOUT)
    for key in expected_metadata(c):
        if key.startswith("qwen2moe."):
            want = "FLOAT32" if key.endswith(("freq_base", "epsilon")) else "UINT32"
            assert kv[key][0] == [want], (key, kv[key])
    shapes = {n: s for n, _, s, _ in tensors}
    h, s = c["hidden_size"], c["shared_expert_intermediate_size"]
    for i in range(c["num_hidden_layers"]):
        assert shapes[f"blk.{i}.ffn_gate_shexp.weight"] == shapes[f"blk.{i}.ffn_up_shexp.weight"] == [h, s]
        assert shapes[f"blk.{i}.ffn_down_shexp.weight"] == [s, h]
        assert shapes[f"blk.{i}.ffn_gate_inp_shexp.weight"] == [h, 1]
        kv_width = c["num_key_value_heads"] * head_dim(c)
        assert shapes[f"blk.{i}.attn_q.bias"] == [h]
        assert shapes[f"blk.{i}.attn_k.bias"] == shapes[f"blk.{i}.attn_v.bias"] == [kv_width]
    return kv, tensors


def tensor_sources(c, names, weights):
    """{GGUF tensor name: its HF source} (ref.json's record), the stacked experts as the qwen3moe script records
    them."""
    merged = sorted(qwen3moe.converter_tensors(c, weights, LAYOUT))
    stacked = qwen3moe.expert_sources(c, LAYOUT)
    return {n: stacked.get(n, s) for n, s in zip(names, merged)}


# --- driver ---------------------------------------------------------------------------------------------------

def shared_gate_stats(routing):
    """Per layer: min / mean / max of sigmoid(shared_expert_gate(x)) over the positions."""
    return [{"min": float(g.min()), "mean": float(g.mean()), "max": float(g.max())}
            for g in (sigmoid(r["shared_gate_logits"][:, 0]) for r in routing)]


def main():
    args, llama_cpp, commit = rope.parse_arguments(NAME, PROG, say)

    say(rebuild.rebuild(MODELS, TOKENIZER_BASE, "f32", False, False, {}))
    base_ref = json.load(open(os.path.join(TOKENIZER_FROM, "ref.json"), encoding="utf-8"))
    base_config = json.load(open(os.path.join(TOKENIZER_FROM, "hf", "config.json"), encoding="utf-8"))
    tok_gguf = os.path.join(TOKENIZER_FROM, "f32.gguf")
    hf_dir = os.path.join(OUT, "hf")
    os.makedirs(hf_dir, exist_ok=True)
    os.makedirs(os.path.join(OUT, "gguf-skeletons"), exist_ok=True)

    # 1. config and tokenizer.
    config = dict(CONFIG)
    for key in ("bos_token_id", "eos_token_id", "vocab_size"):
        assert config[key] == base_config[key], key
    assert config["intermediate_size"] not in (config["moe_intermediate_size"],
                                               config["shared_expert_intermediate_size"])
    assert config["shared_expert_intermediate_size"] != config["moe_intermediate_size"]
    qwen3.write_config(NAME, config)
    for name in TOKENIZER_FILES:
        qwen3.copy_file(os.path.join(TOKENIZER_FROM, "hf", name), os.path.join(hf_dir, name))
        assert rebuild.sha256_file(os.path.join(hf_dir, name)) == base_ref["files"][f"hf/{name}"]["sha256"], name

    # 2. weights.
    weights = random_weights(config)
    n_params = qwen3.save_weights(os.path.join(hf_dir, "model.safetensors"), weights, say)

    # 3. GGUF. First the writer's own check (the qwen3moe script's): with architecture qwen2 on tiny-qwen2/hf it must
    # give the converter's tiny-qwen2/f32.gguf (Q/K/V biases included).
    with tempfile.TemporaryDirectory(prefix=f"{PROG}-") as work:
        q2_path = os.path.join(work, "qwen2.gguf")
        qwen3moe.write_gguf(q2_path, gguf.MODEL_ARCH.QWEN2, TOKENIZER_BASE, base_config,
                            load_file(os.path.join(TOKENIZER_FROM, "hf", "model.safetensors")), tok_gguf)
        writer_check = {
            "method": "the qwen3moe script's GGUF writer (this script's without the MoE keys) run with architecture "
                      "qwen2 on tiny-qwen2/hf (config, weights with q/k/v biases, tokenizer keys) gives a file "
                      "byte-identical to tiny-qwen2/f32.gguf, which convert_hf_to_gguf.py wrote",
            "sha256": rebuild.sha256_file(q2_path),
            "equal": rebuild.sha256_file(q2_path) == rebuild.sha256_file(tok_gguf),
        }
    say(f"writer check on tiny-qwen2: {writer_check}")
    if not writer_check["equal"]:
        sys.exit(f"{PROG}: the GGUF writer does not reproduce tiny-qwen2/f32.gguf (convert_hf_to_gguf.py's)")
    gguf_path = os.path.join(OUT, "f32.gguf")
    names, total = write_gguf(gguf_path, config, weights, tok_gguf)
    assert total == n_params, (total, n_params)
    kv, tensors = check_gguf(gguf_path, config, weights, names, tok_gguf)
    say(f"{rel(gguf_path)}: {os.path.getsize(gguf_path):,} bytes, {len(tensors)} tensors, size label "
        f"{kv['general.size_label'][1]}, checked with GGUFReader (tokenizer keys = tiny-qwen2/f32.gguf's)")

    # 4. skeleton: ref.json must record the GGUF's and the source's sha256 first (make() checks them).
    gguf_info = {
        "f32.gguf": {
            "made_by": "scripts/make-qwen2moe-fixture.py: gguf-py 0.19.0 GGUFWriter, as convert_hf_to_gguf.py "
                       "--outtype f32 --model-name tiny-qwen2moe (llama.cpp 0c1e57098, Qwen2MoeModel, "
                       "conversion/qwen.py) writes hf/: tensors in sorted HF name order with each layer's experts "
                       "stacked into ffn_{down,gate,up}_exps (torch.stack over the experts), all F32, not permuted, "
                       "the shared expert and its gate as they are; TextModel's and Qwen2MoeModel's keys; tokenizer.* "
                       "keys copied from tiny-qwen2/f32.gguf",
            **file_entry(gguf_path),
            "converter_check": "checked once by hand (see the README): the real convert_hf_to_gguf.py on hf/ writes "
                               "these bytes",
        },
    }
    write_json(os.path.join(OUT, "ref.json"), {
        "gguf": gguf_info,
        "files": {n: file_entry(os.path.join(OUT, n)) for n in ("f32.gguf", "hf/model.safetensors")}}, 1)
    out, header_bytes = skeletons.make(MODELS, NAME, "f32")
    say(f"{rel(out)}: {os.path.getsize(out):,} bytes (header {header_bytes:,}), round trip verified")

    # 5. llama.cpp: the tokenizer check, the harness check, the runs, the widened log and the two probes.
    probes = {}
    with tempfile.TemporaryDirectory(prefix=f"{PROG}-") as work:
        tok_exe = rope.build_harness(llama_cpp, args.cc, work, gemma3.TOKENIZE_HARNESS)
        tokenizer_check, ids = phi3.check_tokenizer(tok_exe, llama_cpp, gguf_path, hf_dir, work, text=TEXT,
                                                    prog=PROG, say=say, expected_warnings=EXPECTED_WARNINGS,
                                                    note=TOKENIZER_NOTE, base=TOKENIZER_BASE)
        exe = rope.build_harness(llama_cpp, args.cc, work)
        harness_check, _, _ = rope.check_harness(exe, llama_cpp, TOKENIZER_BASE, base_ref["input_ids"], work, PROG,
                                                 say)
        run = phi3.llama_cpp_run(exe, llama_cpp, gguf_path, ids, work, "f32", prog=PROG, say=say,
                                 expected_warnings=EXPECTED_WARNINGS)
        if not any("rope type" in line and "= 2" in line for line in run["rope_log"]):
            sys.exit(f"{PROG}: libllama does not report rope type 2 (NEOX) for qwen2moe: {run['rope_log']}")
        log_exe = qwen3.yarn_log_harness(llama_cpp, args.cc, work, words=LOG_WORDS, tag="qwen2moe")
        log_logits, log_hidden, _, log = rope.harness_outputs(log_exe, llama_cpp, gguf_path, ids, work, "f32-log")
        if not (np.array_equal(log_logits, run["logits"]) and np.array_equal(log_hidden, run["hidden"])):
            sys.exit(f"{PROG}: the widened-log harness gives other outputs")
        print_info = [" ".join(line.split("print_info:", 1)[1].split()) for line in log
                      if line.startswith("print_info:") and any(wd in line for wd in LOG_WORDS)]
        loader = [" ".join(line.split(":", 1)[1].split()) for line in log
                  if line.startswith("llama_model_loader: - kv") and any(wd in line for wd in LOG_WORDS)]
        wide = {"print_info": print_info, "metadata": loader}
        say(f"llama.cpp on f32.gguf, widened log: {print_info}; metadata {loader}")
        missing = [line for line in EXPECTED_LOG if line not in print_info]
        if missing:
            sys.exit(f"{PROG}: libllama's log lacks {missing}")
        # Probe 1: another feed_forward_length (intermediate_size) gives the same outputs bit for bit.
        probe_path = os.path.join(work, "ff-probe.gguf")
        write_gguf(probe_path, dict(config, intermediate_size=FF_PROBE), weights, tok_gguf)
        p_logits, p_hidden, _, p_log = rope.harness_outputs(exe, llama_cpp, probe_path, ids, work, "ff-probe")
        same = bool(np.array_equal(p_logits, run["logits"]) and np.array_equal(p_hidden, run["hidden"]))
        probes["feed_forward_length"] = {
            "gguf": f"f32.gguf's tensors and keys with qwen2moe.feed_forward_length {FF_PROBE} instead of "
                    f"{config['intermediate_size']} (a temporary file)",
            "outputs_bit_identical": same,
            "warnings": rope.split_log(p_log, EXPECTED_WARNINGS)[2],
            "meaning": "llama.cpp's qwen2moe sizes the routed experts by expert_feed_forward_length (n_ff_exp) and "
                       "the shared expert by expert_shared_feed_forward_length (n_ff_shexp); feed_forward_length "
                       "(n_ff) is only their fallback (n_ff / n_expert_used and n_ff) when those keys are missing",
        }
        say(f"probe feed_forward_length {FF_PROBE}: outputs bit-identical {same}")
        if not same or probes["feed_forward_length"]["warnings"]:
            sys.exit(f"{PROG}: feed_forward_length changes libllama's outputs or logs a warning")
        # Probe 2: without expert_shared_feed_forward_length the shared expert is sized n_ff (96): the load fails.
        probe_path = os.path.join(work, "no-shexp-key.gguf")
        write_gguf(probe_path, config, weights, tok_gguf, shared_key=False)
        try:
            rope.run_libllama(exe, llama_cpp, [probe_path, os.path.join(work, "no-shexp"), *map(str, ids)])
            sys.exit(f"{PROG}: libllama loads a qwen2moe GGUF without expert_shared_feed_forward_length")
        except subprocess.CalledProcessError as e:
            errors = [" ".join(line.split()) for line in e.stderr.splitlines() if "wrong shape" in line]
        probes["no_expert_shared_feed_forward_length"] = {
            "gguf": "f32.gguf without qwen2moe.expert_shared_feed_forward_length (a temporary file)",
            "loads": False,
            "error_lines": errors,
            "meaning": f"n_ff_shexp falls back to feed_forward_length ({config['intermediate_size']}), which does not "
                       f"fit ffn_*_shexp's {config['shared_expert_intermediate_size']} columns",
        }
        say(f"probe without expert_shared_feed_forward_length: load fails with {errors}")
        if not any("ffn_gate_shexp" in line or "ffn_up_shexp" in line or "ffn_down_shexp" in line for line in errors):
            sys.exit(f"{PROG}: libllama's error without expert_shared_feed_forward_length is not about the shared "
                     f"expert's shape")
    if ids != tokenizer_check["hf_tokenizers"]["ids_without_special"]:
        sys.exit(f"{PROG}: the tokenizer adds special tokens; expected none (no BOS)")

    # 6. the llama.cpp reference.
    T = len(ids)
    input_ids = np.array([ids], dtype=np.int64)
    llama_tensors = {"input_ids": input_ids,
                     "logits.f32": np.ascontiguousarray(run["logits"], dtype=np.float32),
                     "hidden_last.f32": np.ascontiguousarray(run["hidden"], dtype=np.float32)}
    rope.write_llama_reference(os.path.join(OUT, "ref-llama-cpp.safetensors"), llama_tensors)

    # 7. the independent float64 pass, the routing, and every feature left out or changed.
    w64 = {k: v.astype(np.float64) for k, v in weights.items()}
    ref = numpy_qwen2moe(w64, config, ids)
    routing = qwen3moe.routing_stats(ref[2], config, LAYOUT)
    say(f"routing: min top-2 gap {routing['min_topk_gap']:.4f}, min expert count {routing['min_expert_count']}, per "
        f"layer counts {[s['expert_counts'] for s in routing['layers']]}")
    if not qwen3moe.meets_criteria([routing]):
        sys.exit(f"{PROG}: seed {SEED} does not meet the routing criteria ({ROUTING_CRITERIA})")
    search = seed_search(ids)
    say(f"seed search: {SEED} is the first seed that meets the routing criteria; below it "
        f"{search['seeds_below_with_a_gap_below_the_margin']} miss the margin, "
        f"{search['seeds_below_with_an_unused_expert']} leave an expert unused")
    gates = shared_gate_stats(ref[2])
    say(f"sigmoid(shared_expert_gate(x)) per layer (min, mean, max): "
        f"{[(round(g['min'], 3), round(g['mean'], 3), round(g['max'], 3)) for g in gates]}")
    check = self_check(w64, config, ids)
    say(f"self-check against the qwen3moe script's pass: {check['max_abs_logit_diff']:.3g} / "
        f"{check['max_abs_hidden_last_diff']:.3g}")
    if max(check["max_abs_logit_diff"], check["max_abs_hidden_last_diff"]) > SELF_CHECK_TOLERANCE:
        sys.exit(f"{PROG}: this script's attention differs from the qwen3moe script's")
    llama = (run["logits"][0], run["hidden"][0])
    n_experts = config["num_experts"]
    features = {
        "shared_expert_dropped": ("the shared expert and its gate left out (the routed experts alone: Qwen3-MoE's "
                                  "block)", dict(shared="off")),
        "shared_gate_dropped": ("the shared expert added with weight 1: its sigmoid gate left out",
                                dict(shared_gate="dropped")),
        "shared_gate_without_sigmoid": ("the raw gate logit shared_expert_gate(x) as the shared expert's weight, no "
                                        "sigmoid", dict(shared_gate="no_sigmoid")),
        "shared_gate_silu": ("silu(z) instead of sigmoid(z) for the gate logit z: llama.cpp's ggml_div(ggml_silu(z), "
                             "z) without the division", dict(shared_gate="silu")),
        "shared_gate_on_block_output": ("the sigmoid gate applied to the routed experts' output too: sigmoid(z) * "
                                        "(routed + shared) instead of routed + sigmoid(z) * shared",
                                        dict(shared_gate="on_block_output")),
        "shared_gate_sigmoid_on_expert_output": ("the sigmoid applied to the shared expert's output instead of the "
                                                 "gate logit: z * sigmoid(shared(x))",
                                                 dict(shared_gate="on_expert_output")),
        "shared_gate_up_swapped": ("silu(up_proj(x)) * gate_proj(x) in the shared expert",
                                   dict(shared="gate_up_swapped")),
        "topk_normalized": ("the top-2 softmax probabilities divided by their sum (norm_topk_prob true; what "
                            "Qwen3-MoE's and Mixtral's GGUFs compute)", dict(norm_topk_prob=True)),
        "softmax_over_topk_only": ("a softmax over the two largest router logits only (Mixtral's order), instead of "
                                   "the top-2 probabilities of the softmax over all 8: the same function as "
                                   "topk_normalized", dict(softmax_after_topk=True)),
        "qkv_biases_dropped": ("q_proj, k_proj and v_proj without their biases", dict(qkv_bias="")),
        "q_bias_dropped": ("q_proj without its bias", dict(qkv_bias="kv")),
        "k_bias_dropped": ("k_proj without its bias", dict(qkv_bias="qv")),
        "v_bias_dropped": ("v_proj without its bias", dict(qkv_bias="qk")),
        "experts_reversed": (f"expert e computed with expert {n_experts - 1} - e's weights (the routing unchanged): "
                             f"a wrong expert order in the stacked tensors",
                             dict(expert_order=list(reversed(range(n_experts))))),
        "top1_instead_of_top2": ("only the most probable expert, with its probability as the weight", dict(top_k=1)),
        "gate_up_swapped": ("silu(up_proj(x)) * gate_proj(x) in every routed expert", dict(swap_gate_up=True)),
    }
    left_out = {}
    variants = {}
    for key, (note, kw) in features.items():
        variants[key] = numpy_qwen2moe(w64, config, ids, **kw)
        left_out[key] = dict(note=note, **effect(variants[key][:2], ref[:2]))
    informational = {
        "moe_skipped": dict(effect(numpy_qwen2moe(w64, config, ids, shared="off", top_k=0)[:2], ref[:2]),
                            note="every feed-forward block's output left out (routed and shared experts)"),
        "routed_experts_skipped": dict(effect(numpy_qwen2moe(w64, config, ids, top_k=0)[:2], ref[:2]),
                                       note="the routed experts left out, the gated shared expert kept"),
    }
    equivalence = {
        "note": "the softmax over the top-k logits (Mixtral's order) and the normalized top-k probabilities of the "
                "softmax over all experts (norm_topk_prob true, llama.cpp's norm_w) are the same function: "
                "p_i / sum_top p_j = exp(l_i) / sum_top exp(l_j); so the two rows of the table are one feature",
        "max_abs_logit_diff": max_abs(variants["softmax_over_topk_only"][0], variants["topk_normalized"][0]),
        "max_abs_hidden_last_diff": max_abs(variants["softmax_over_topk_only"][1], variants["topk_normalized"][1]),
        "tolerance": EQUIVALENCE_TOLERANCE,
    }
    numpy_check = {
        "method": "float64 numpy forward pass of hf/model.safetensors with transformers' Qwen2MoeForCausalLM math, "
                  "written independently (numpy_qwen2moe): per layer h += o_proj(attn(input_layernorm(h))), h += "
                  "moe(post_attention_layernorm(h)); RMSNorm(x) * w, eps 1e-6; q/k/v = x W^T + b; rotate-half RoPE "
                  "(inv_freq = 1e4^(-arange(0, 16, 2) / 16)); scores x 16^-0.5, causal, GQA 4/2 (repeat_kv); "
                  "moe(x) = routed(x) + sigmoid(x @ shared_expert_gate.T) * shared_expert(x): routed (the qwen3moe "
                  "script's moe_ffn): router logits x @ mlp.gate.T, softmax over the 8 experts, the top 2 "
                  "probabilities as they are (norm_topk_prob false), sum of p_k * down(silu(gate(x)) * up(x)); "
                  "shared_expert(x) = down(silu(gate(x)) * up(x)) of width 48; final norm; LM head lm_head.weight "
                  "(untied)",
        "tolerance": NUMPY_TOLERANCE,
        "vs_llama_cpp": agreement(ref[:2], *llama),
        "self_check": check,
        "routing_criteria": ROUTING_CRITERIA,
        "min_top2_logit_margin": min(top2_margins(ref[0])),
        "top2_logit_margins": top2_margins(ref[0]),
        "top2_note": "argmax checks against libllama are only safe where the margin exceeds the tolerance",
        "logit_scale_rms": float(np.sqrt(np.mean(ref[0] ** 2))),
        "logit_max_abs": float(np.max(np.abs(ref[0]))),
        "hidden_last_scale_rms": float(np.sqrt(np.mean(ref[1] ** 2))),
        "float32_rounding": {
            "max_abs_logit_diff_ref_vs_llama_cpp": max_abs(ref[0].astype(np.float32), llama[0]),
            "max_abs_hidden_last_diff_ref_vs_llama_cpp": max_abs(ref[1].astype(np.float32), llama[1]),
        },
        "shared_gate_sigmoid_per_layer": gates,
        "min_feature_effect": MIN_FEATURE_EFFECT,
        "left_out_features": left_out,
        "informational": informational,
        "topk_softmax_equivalence": equivalence,
        "note": "each feature's effect is measured against the pass; libllama's f32.gguf run agrees with the pass "
                "far closer than any effect",
    }
    say(f"numpy float64 vs libllama f32: {numpy_check['vs_llama_cpp']}")
    for key, e in left_out.items():
        say(f"{key}: max |Δlogit| {e['max_abs_logit_diff']:.4g}, rms {e['rms_logit_diff']:.3g}, argmax "
            f"{e['argmax_agree_positions']}/{T}, max |Δhidden| {e['max_abs_hidden_last_diff']:.4g}")
    for key, e in informational.items():
        say(f"{key}: max |Δlogit| {e['max_abs_logit_diff']:.4g}")
    say(f"top-k softmax vs normalized: {equivalence['max_abs_logit_diff']:.3g}")
    worst = max(numpy_check["vs_llama_cpp"][m] for m in ("max_abs_logit_diff", "max_abs_hidden_last_diff"))
    if worst > NUMPY_TOLERANCE:
        sys.exit(f"{PROG}: the numpy forward pass disagrees with libllama by {worst} > {NUMPY_TOLERANCE}")
    weak = [k for k, e in left_out.items() if e["max_abs_logit_diff"] <= MIN_FEATURE_EFFECT]
    if weak:
        sys.exit(f"{PROG}: leaving out {weak} changes the logits too little")
    if max(equivalence["max_abs_logit_diff"], equivalence["max_abs_hidden_last_diff"]) > EQUIVALENCE_TOLERANCE:
        sys.exit(f"{PROG}: the top-k softmax pass differs from the normalized pass")
    ref_tensors = {"input_ids": input_ids, "logits": ref[0][None].astype(np.float32),
                   "hidden_last": ref[1][None].astype(np.float32)}
    for layer, r in enumerate(ref[2]):
        ref_tensors[f"router_topk.{layer}"] = r["top"].astype(np.int64)
    rebuild.write_atomically(os.path.join(OUT, "ref.safetensors"),
                             save(ref_tensors, metadata={"generator": "scripts/make-qwen2moe-fixture.py: float64 "
                                                                      "numpy forward pass, rounded to float32"}))

    # 8. ref.json.
    files = {}
    for name in (["f32.gguf", "gguf-skeletons/f32.skeleton"]
                 + [f"hf/{n}" for n in sorted(TOKENIZER_FILES + ["config.json", "model.safetensors"])]
                 + ["ref-llama-cpp.safetensors", "ref.safetensors"]):
        files[name] = file_entry(os.path.join(OUT, name))
    tokenizer_arrays = ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges")
    gguf_info["f32.gguf"].update({
        "writer_check": writer_check,
        "metadata": {k: v[1] for k, v in kv.items() if k not in tokenizer_arrays},
        "metadata_types": {k: "/".join(v[0]) for k, v in kv.items()},
        "tokenizer_arrays": f"{', '.join(k for k in tokenizer_arrays if k in kv)}: tiny-qwen2/f32.gguf's "
                            f"(convert_hf_to_gguf.py wrote them from the same files); all tokenizer.* keys are "
                            f"copied from there in order",
        "moe_keys": "TextModel.set_gguf_parameters: feed_forward_length = intermediate_size (96: no layer of this "
                    "model uses it, and neither does llama.cpp when the two expert widths are given: probes), "
                    "expert_count = num_experts, expert_used_count = num_experts_per_tok; "
                    "Qwen2MoeModel.set_gguf_parameters: expert_feed_forward_length = moe_intermediate_size, then "
                    "expert_shared_feed_forward_length = shared_expert_intermediate_size",
        "no_keys": "nothing says norm_topk_prob (llama.cpp's qwen2moe calls build_moe_ffn with norm_w false, softmax "
                   "gating and expert_weights_scale 0 (none) unconditionally; qwen2moe's loader reads no "
                   "expert_weights_norm, expert_weights_scale or expert_gating_func), decoder_sparse_step, "
                   "mlp_only_layers or qkv_bias (the bias tensors are there or not); no key_length / value_length "
                   "(no head_dim in the config: n_embd / n_head = 16), no rope.dimension_count",
        "type_counts": {"F32": len(tensors)},
        "tensor_shapes_ggml": {n: shape for n, _, shape, _ in tensors},
        "tensor_sources": tensor_sources(config, names, weights),
        "stacked_tensors": "ffn_{down,gate,up}_exps: numpy [8, rows, cols] = np.stack of experts 0..7's HF "
                           "matrices (Qwen2MoeModel.modify_tensors' torch.stack(datas, dim=0)); ggml shape "
                           "[cols, rows, 8], expert e's matrix at ne2 = e",
        "shared_gate_tensor": "ffn_gate_inp_shexp: mlp.shared_expert_gate.weight [1, 64] as it is, ggml shape "
                              "[64, 1] (2-D; llama.cpp asks for {n_embd} and accepts the trailing 1)",
    })
    weights_info = qwen3.weights_info(weights, SEED, MATRIX_SCALE, NORM_SCALE,
                                      f"every norm weight (input_layernorm, post_attention_layernorm, model.norm) "
                                      f"1 + {NORM_SCALE} * N(0,1)")
    weights_info["init"]["weights"] = (
        f"every matrix {MATRIX_SCALE} * N(0,1) (lm_head, q/k/v/o_proj, the routed and the shared experts' "
        f"gate/up/down_proj) except embed_tokens: {EMBED_SCALE} * N(0,1), every mlp.gate (router): {ROUTER_SCALE} * "
        f"N(0,1) and every mlp.shared_expert_gate: {SHARED_GATE_SCALE} * N(0,1); every q/k/v_proj bias "
        f"{BIAS_SCALE} * N(0,1) (the float32 {MATRIX_SCALE} draw x 8, x 8, x 4 and x 4, exact)")
    weights_info["init"].update({
        "embed_scale": EMBED_SCALE, "router_scale": ROUTER_SCALE, "bias_scale": BIAS_SCALE,
        "shared_gate_scale": SHARED_GATE_SCALE,
        "scales_why": "embed_tokens x 8: a token-specific residual stream, so that the positions spread over the "
                      "experts in every layer (the v_proj biases and the shared expert add the same vector to every "
                      "position; with x 4, as tiny-qwen3moe, few seeds choose every expert in every layer); routers "
                      "x 8: decisive routing (router logits of standard deviation about 4) whose top-2 margins "
                      "survive float32; biases x 4: each of the q, k and v biases moves the logits by more than "
                      f"{MIN_FEATURE_EFFECT} on its own; shared_expert_gate x 4: gate logits of standard deviation "
                      "about 2, so that the sigmoid gate varies from position to position",
        "seed_choice": f"SEED {SEED}: the first seed from 0 that meets the routing criteria ({ROUTING_CRITERIA})",
    })
    active = n_params - config["num_hidden_layers"] * (n_experts - config["num_experts_per_tok"]) * 3 * config[
        "hidden_size"] * config["moe_intermediate_size"]
    ref_json = {
        "model": NAME,
        "description": "tiny random-weight Qwen2MoeForCausalLM (Qwen1.5-MoE-A2.7B / Qwen2-57B-A14B's layout): "
                       "Qwen2's attention (q/k/v biases, no q/k norms, GQA 4/2, head_dim 16) with a sparse MoE "
                       "block in every layer (8 SwiGLU experts of width 32, softmax router, top 2, norm_topk_prob "
                       "false) plus a shared SwiGLU expert of width 48 gated by sigmoid(shared_expert_gate(x)), "
                       "untied LM head; tiny-qwen2's byte-level BPE tokenizer files",
        "text": TEXT,
        "input_ids": ids,
        "T": T,
        "tokenizer": {
            "type": "byte-level BPE (qwen2 pre-tokenizer)",
            "adds_bos": False,
            "bos_token_id": config["bos_token_id"],
            "eos_token_id": config["eos_token_id"],
            "vocab_size": config["vocab_size"],
            "reference_tokenizer": "tokenizers (hf/tokenizer.json), libllama (f32.gguf) and libllama "
                                   "(tiny-qwen2/f32.gguf), equal ids",
            "copied_from": "tiny-qwen2/hf, unchanged (" + ", ".join(TOKENIZER_FILES) + ")",
            "check": tokenizer_check,
        },
        "config": qwen3.config_info(
            dict(config, head_dim=head_dim(config)),
            ("model_type", "architectures", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
             "num_attention_heads", "num_key_value_heads", "head_dim", "max_position_embeddings", "rope_theta",
             "rope_scaling", "rms_norm_eps", "hidden_act", "qkv_bias", "num_experts", "num_experts_per_tok",
             "moe_intermediate_size", "shared_expert_intermediate_size", "norm_topk_prob", "decoder_sparse_step",
             "mlp_only_layers", "use_sliding_window", "sliding_window", "max_window_layers", "tie_word_embeddings",
             "bos_token_id", "eos_token_id"), n_params,
            head_dim_note="not in config.json (Qwen2MoeConfig has none): hidden / heads",
            rope_theta_note="Qwen2MoeConfig's default (1e4; Qwen1.5-MoE-A2.7B and Qwen2-57B-A14B use 1e6): with "
                            "head_dim 16 and 32 positions, 1e6 barely turns the slower pairs, and the k_proj bias "
                            "acts through RoPE alone (without it q . b_k is the same for every key); with 1e6 and "
                            "these scales the first seed that meets the routing criteria (27) has the k_proj bias "
                            "moving the logits by 0.039 only, below the required 0.05",
            qkv_bias_note="Qwen2MoeConfig's qkv_bias (default true, written): q_proj / k_proj / v_proj have biases, "
                          "o_proj none; there is no attention_bias key",
            intermediate_size_note="no dense layer (decoder_sparse_step 1, mlp_only_layers []): unused by "
                                   "transformers; set to 96, unlike both expert widths (32, 48), so that a reader "
                                   "that sizes an expert by it fails; the converter writes it as "
                                   "feed_forward_length, which llama.cpp's qwen2moe only falls back on",
            shared_expert_intermediate_size_note="the shared expert's width (48, not 32 on purpose)",
            norm_topk_prob_note="Qwen2MoeConfig's default (false), as Qwen1.5-MoE-A2.7B and Qwen2-57B-A14B; "
                                "llama.cpp's qwen2moe never normalizes",
            attention_scale=head_dim(config) ** -0.5,
            active_params_per_token=active),
        **weights_info,
        "routing": {"criteria": ROUTING_CRITERIA, "min_router_margin": MIN_ROUTER_MARGIN, "seed_search": search,
                    **routing},
        "ref_safetensors_keys": {"ref.safetensors": rope.tensor_keys(ref_tensors),
                                 "ref-llama-cpp.safetensors": rope.tensor_keys(llama_tensors)},
        "ref_safetensors_note": "router_topk.L int64 [T, 2]: the two experts layer L chose at each position, the "
                                "larger router logit (and weight) first",
        "llama_cpp": rope.llama_cpp_info(
            T, "run twice with bit-identical outputs", harness_check,
            runs={"f32": {"model": "f32.gguf", "freq_scale_train": run["freq_scale_train"],
                          "rope_log": run["rope_log"], "rope_metadata_log": run["rope_metadata_log"],
                          "warnings": run["warnings"], "wide_log": wide}},
            warnings_note=WARNINGS_NOTE,
            wide_log_method=f"one more run with the harness's log filter widened to lines mentioning "
                            f"{', '.join(LOG_WORDS)} (qwen3.yarn_log_harness): libllama's print_info lines and the "
                            f"loader's metadata dump of those keys, whitespace collapsed; its outputs equal the run's "
                            f"bit for bit",
            expected_in_wide_log=EXPECTED_LOG,
            probes=probes,
            runtime_notes="qwen2moe in llama.cpp (src/models/qwen2moe.cpp): load_arch_hparams reads "
                          "expert_feed_forward_length (n_ff_exp, optional), expert_shared_feed_forward_length "
                          "(n_ff_shexp, optional) and attention.layer_norm_rms_epsilon; load_arch_tensors wants "
                          "token_embd, output_norm, output (required: no tied fallback), per layer attn_norm, "
                          "attn_q/k/v with optional biases, attn_output, ffn_norm, ffn_gate_inp [n_embd, n_expert], "
                          "ffn_{gate,up}_exps [n_embd, n_ff_exp, n_expert], ffn_down_exps [n_ff_exp, n_embd, "
                          "n_expert] with n_ff_exp = n_ff_exp or n_ff / n_expert_used, ffn_gate_inp_shexp {n_embd}, "
                          "ffn_{gate,up}_shexp [n_embd, n_ff_shexp], ffn_down_shexp [n_ff_shexp, n_embd] with "
                          "n_ff_shexp = n_ff_shexp or n_ff; the graph: NEOX RoPE attention (Q x 1/sqrt(head_dim)) "
                          "with the biases, build_moe_ffn(..., LLM_FFN_SILU, norm_w = false, expert_weights_scale (0: "
                          "none), LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX): soft_max of ffn_gate_inp x cur, "
                          "argsort_top_k, the chosen probabilities as they are, mul_mat_id of up / gate, swiglu, "
                          "mul_mat_id of down, weighted sum; plus ffn_gate_inp_shexp x cur -> "
                          "ggml_div(ggml_silu(g), g) (= sigmoid(g)) times build_ffn(up_shexp, gate_shexp, "
                          "down_shexp, SILU, PAR)"),
        "numpy_check": numpy_check,
        "gguf": gguf_info,
        "made_by": "scripts/make-qwen2moe-fixture.py (config, tokenizer copies, weights, f32.gguf, skeleton via "
                   "scripts/make-gguf-skeletons.py's make, ref.safetensors), scripts/llama-cpp-logits.c "
                   "(ref-llama-cpp.safetensors), scripts/llama-cpp-tokenize.c (the tokenizer check)",
        "files": files,
        "tools": dict(rope.tool_versions(args.cc, commit), tokenizers=metadata.version("tokenizers")),
    }
    rope.write_ref(OUT, NAME, ref_json, say)


if __name__ == "__main__":
    main()
