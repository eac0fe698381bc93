#!/usr/bin/env python3
"""Make Tests/Fixtures/models/tiny-granitemoe/: a tiny random-weight IBM Granite 3.x MoE (with and without a shared
expert), its GGUFs, and references.

Run by the fixtures' maintainer:

    scripts/make-granitemoe-fixture.py --llama-cpp DIR      (or LLAMA_CPP_DIR=DIR scripts/make-granitemoe-fixture.py)

It needs what scripts/make-granite-fixture.py needs (Python 3 with numpy, gguf 0.19.0, safetensors and tokenizers,
no torch or transformers; a C compiler; a built llama.cpp at commit 0c1e57098; tiny-llama's committed files and its
f32.gguf, rebuilt first if missing). It imports that script and reuses its Granite helpers (the four multipliers'
GGUF keys, the plain-Llama reading, head_dim) and, through it, scripts/make-smollm3-fixture.py's (LlamaModel's GGUF
writer and its self-check on tiny-llama, the Q/K row permutation), scripts/make-phi3-fixture.py's (the three-way
tokenizer check, the libllama runs), scripts/make-gemma3-fixture.py's (the feature-effect and agreement measures),
scripts/make-qwen3-fixture.py's (random weights, config writer, the converter's tensors, general.* and TextModel keys
with the expert count, the tensor check, ref.json parts, the widened-log harness) and
scripts/make-rope-scaling-fixtures.py's (the float64 Llama pass with Granite's multipliers and its `ffn` hook, GGUF
summary, harness driver and check, JSON and file-map writers, command line, tool versions); it imports
scripts/make-qwen3moe-fixture.py for the routing statistics, the router-margin rule and its float64 MoE block
(softmax over all experts, top-k, divided by their sum: llama.cpp's formula, here the cross-check of transformers'
top-k softmax), and uses scripts/make-gguf-skeletons.py's `make` and scripts/rebuild-gguf-fixtures.py's atomic
writer and hashes.

Granite 3.x MoE (transformers' GraniteMoeForCausalLM, model_type granitemoe; llama.cpp's granitemoe) is Granite's
graph (Llama's attention: RMSNorm x w, rotate-half RoPE, GQA, no biases; the four multipliers: the input embeddings
x embedding_multiplier, the attention scores x attention_multiplier instead of 1/sqrt(head_dim), each block's
attention and feed-forward output x residual_multiplier before the residual add, the logits / logits_scaling) whose
every feed-forward block is a sparse mixture of experts (GraniteMoeMoE, JetMoe's parallel experts): router logits =
block_sparse_moe.router.layer(x) ([num_local_experts, hidden], no bias); GraniteMoeTopKGating takes the top
num_experts_per_tok router logits and a softmax over those k (not over all experts); each chosen expert e computes
input_linear[e] x ([2 intermediate_size] rows: chunk(2, dim=-1) gives gate = the first intermediate_size rows, which
get the activation, and up = the next), silu(gate) * up, output_linear[e] of that ([hidden, intermediate_size]),
weighted by its gate and summed. GraniteMoeSharedForCausalLM (model_type granitemoeshared) adds a shared expert in
every layer (GraniteMoeSharedMLP, always on, weight 1): shared_mlp.input_linear [2 shared_intermediate_size, hidden]
(gate rows then up rows, the same chunk), silu(gate) * up, shared_mlp.output_linear [hidden,
shared_intermediate_size]; the layer's feed-forward output is the MoE output + the shared expert's, then x
residual_multiplier. llama.cpp runs both as granitemoe (src/models/granite-moe.cpp with granite.cpp's graph):
build_moe_ffn with softmax gating over all experts, the top k divided by their sum (the same function), the shared
expert a SwiGLU build_ffn added to it when the GGUF has expert_shared_feed_forward_length.

What it does, in the folder Tests/Fixtures/models/tiny-granitemoe/:
  1. `hf/config.json`: GraniteMoeForCausalLM / granitemoe with the bytes transformers 4.57.6 writes for this
     GraniteMoeConfig (sorted keys, indent 2): hidden 64, intermediate_size 32 (each expert's width), 4 layers,
     4 heads / 2 KV heads (head_dim 16 = hidden / heads: GraniteMoeConfig has no head_dim), vocab 512,
     max_position_embeddings 256, rope_theta 1e4, rms_norm_eps 1e-5, silu, no rope_scaling, no biases, tied
     embeddings (tie_word_embeddings true, written: the default is false), bos 1 / eos 2 (tiny-llama's);
     num_local_experts 8, num_experts_per_tok 2; tiny-granite's multipliers: embedding_multiplier 12,
     attention_multiplier 0.125, residual_multiplier 0.22, logits_scaling 8. `hf-shared/config.json`:
     GraniteMoeSharedForCausalLM / granitemoeshared, the same plus shared_intermediate_size 48 (not 32, so that a
     reader sizing the shared expert by intermediate_size shows). They also go to
     Fuzz/corpus/hf-config/tiny-granitemoe.json and tiny-granitemoe-shared.json (fuzz seeds). The tokenizer files
     (tokenizer.model, tokenizer.json, tokenizer_config.json, special_tokens_map.json, generation_config.json) are
     tiny-llama/hf's, copied unchanged into both folders: GraniteMoeModel.set_vocab is LlamaModel's.
  2. `hf/model.safetensors`: float32, Hugging Face names (`model.embed_tokens.weight`,
     `model.layers.{i}.self_attn.{q,k,v,o}_proj.weight`, `block_sparse_moe.input_linear.weight` [8, 64, 64] (per
     expert gate rows 0..31, up rows 32..63), `block_sparse_moe.output_linear.weight` [8, 64, 32],
     `block_sparse_moe.router.layer.weight` [8, 64], `input_layernorm`, `post_attention_layernorm`,
     `model.norm.weight`; no lm_head: tied), metadata {"format": "pt"}. numpy.random.default_rng(SEED) draws one
     standard_normal(shape) per tensor, in sorted name order; every matrix is MATRIX_SCALE (0.25, tiny-granite's)
     x that, except the routers: ROUTER_SCALE (0.5) x that (the float32 0.25 draw x 2, exact); every norm weight
     1 + 0.2 x that. `hf-shared/model.safetensors`: the same tensors (the same bytes) plus, per layer,
     `shared_mlp.input_linear.weight` [96, 64] (gate rows 0..47, up rows 48..95) and
     `shared_mlp.output_linear.weight` [64, 48], drawn the same way (MATRIX_SCALE) from a second generator,
     numpy.random.default_rng([SEED, SHARED_STREAM]), in sorted name order, so that the common tensors are equal.
     SEED (1369) is the first seed from 0 for which the float64 passes of both variants meet ROUTING_CRITERIA
     (checked in step 7: every seed below misses them).
  3. `f32.gguf` (from hf/) and `shared.gguf` (from hf-shared/): written with gguf-py's GGUFWriter the way
     llama.cpp's convert_hf_to_gguf.py (GraniteMoeModel, a GraniteModel with model_arch GRANITE_MOE,
     conversion/granite.py, at 0c1e57098) writes an `--outtype f32 --model-name tiny-granitemoe` conversion: the
     safetensors tensors in sorted name order, attn_q / attn_k rows permuted (LlamaModel.permute), each fused
     input_linear split with `split(n, dim=-2)` where it stands in that order (GraniteMoeModel.modify_tensors): the
     experts' into `ffn_gate_exps` [64, 32, 8] (ggml shape) then `ffn_up_exps` [64, 32, 8], the shared expert's into
     `ffn_gate_shexp` [64, 48] then `ffn_up_shexp` [64, 48]; output_linear as `ffn_down_exps` [32, 64, 8],
     router.layer as `ffn_gate_inp` [64, 8], shared_mlp.output_linear as `ffn_down_shexp` [48, 64]; all F32, no
     output.weight (tied). Then general.type, name, size_label; TextModel.set_gguf_parameters' keys (block_count,
     context_length, embedding_length, feed_forward_length 32, head_count, head_count_kv, rope.freq_base,
     layer_norm_rms_epsilon, expert_count 8, expert_used_count 2, general.file_type; no key_length: no head_dim),
     LlamaModel's (vocab_size, rope.dimension_count 16), GraniteModel's four scales (attention.scale,
     embedding_scale, residual_scale, logit_scale), GraniteMoeModel's expert_shared_feed_forward_length 48
     (shared.gguf only: written when the config has a truthy shared_intermediate_size); quantization_version; then
     tiny-llama/f32.gguf's tokenizer.* keys copied in order. The writer checks itself first: run with architecture
     llama on tiny-llama/hf, it must give tiny-llama/f32.gguf (which convert_hf_to_gguf.py wrote) byte for byte.
     The files are read back with GGUFReader, checked, and git-ignored. (Checked once by hand, not by this script:
     the real converter, run on hf/ and hf-shared/ with --outtype f32 --no-lazy --model-name tiny-granitemoe and a
     numpy stand-in for its few eager torch calls, `split` included, writes both files byte for byte; see the
     folder's README.)
  4. `gguf-skeletons/f32.skeleton` and `shared.skeleton` (scripts/make-gguf-skeletons.py's `make`: identity,
     llama_rope_permute for attn_q / attn_k, and `row_slice` for the halves of each input_linear: format version 5;
     shared.skeleton's source is hf-shared/model.safetensors), so scripts/rebuild-gguf-fixtures.py rebuilds both
     GGUFs byte for byte.
  5. compiles scripts/llama-cpp-logits.c and scripts/llama-cpp-tokenize.c against DIR. Tokenizer check: TEXT
     tokenized by the `tokenizers` library from hf/tokenizer.json, by libllama from f32.gguf and by libllama from
     tiny-llama/f32.gguf must give the same ids, with and without BOS; those ids (with BOS) are the model input.
     Harness check: tiny-llama/f32.gguf on tiny-llama's ids must reproduce its committed llama.cpp reference. Then
     f32.gguf and shared.gguf run twice each (bit-identical outputs required; libllama must log no warning but
     EXPECTED_WARNINGS, and rope type 0, NORM), and once more each with the harness's log filter widened to
     "scale", "expert" and "n_ff" (qwen3's yarn_log_harness): the outputs must be the same and the log must show
     EXPECTED_LOG (libllama's reading of the scales, the expert counts and widths).
  6. `ref-llama-cpp.safetensors`: `input_ids` (int64 [1, T]), `logits.f32`, `shared.logits.f32` [1, T, 512] (after
     llama.cpp's division by logit_scale), `hidden_last.f32`, `shared.hidden_last.f32` [1, T, 64] (llama.cpp's
     `result_norm`: the final norm's output, before the LM head and the division), float32.
  7. an independent float64 numpy forward pass with transformers' GraniteMoeForCausalLM and
     GraniteMoeSharedForCausalLM math (numpy_granitemoe: rope.numpy_llama with the config's four multipliers and
     moe_block (+ shared_mlp) as its feed-forward block). Routing: in every layer, at every position and in both
     passes the gap between the router's 2nd and 3rd largest logits must be at least MIN_ROUTER_MARGIN and every
     expert must be chosen at least once per layer (ROUTING_CRITERIA); every seed below SEED must miss these
     criteria. Both passes must match libllama to NUMPY_TOLERANCE (f32.gguf, shared.gguf), and the same passes with
     llama.cpp's gating formula instead (the qwen3moe script's moe_ffn on the experts split per expert: softmax over
     all experts, top 2, divided by their sum) must give the same outputs (to EQUIVALENCE_TOLERANCE). Every feature
     left out or changed must move the logits by more than MIN_FEATURE_EFFECT: each multiplier (and all four: plain
     Llama), the top-2 probabilities of a softmax over all 8 experts instead of the top-k softmax, gate and up
     swapped in input_linear, top-1 instead of top-2, the experts in reversed order, the GGUF's permuted Q/K rows
     read as HF's; and for the shared variant the shared expert dropped, its gate and up swapped, and its width read
     as intermediate_size. Its outputs, rounded to float32, are `ref.safetensors` (`input_ids`, `logits`,
     `hidden_last`, `router_topk.{layer}` (int64 [T, 2], the chosen experts by weight descending), and
     `shared.logits`, `shared.hidden_last`, `shared.router_topk.{layer}` for the shared variant).
  8. `ref.json`: text and ids, the tokenizer check, config summary, seed and scales, the routing statistics, the
     checks' numbers, the GGUFs' metadata and tensors, provenance, tool versions, and the `files` map (size and
     sha256 of every data file of the folder; the rebuild script checks the GGUFs against it). README.md is written
     by hand and not in the map.

Deterministic: the same inputs give the same bytes (the llama.cpp outputs for the same build on the same CPU).
"""

import importlib.util
import json
import os
import sys
import tempfile
from importlib import metadata

import numpy as np
import gguf
from safetensors.numpy import load_file, save

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(filename, module):
    spec = importlib.util.spec_from_file_location(module, os.path.join(HERE, filename))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# The dense Granite fixture script: the four multipliers' GGUF keys, the plain-Llama reading; through it the SmolLM3
# script's LlamaModel GGUF writer and Q/K permutation, and the Phi-3, Gemma 3, Qwen3 and RoPE-scaling scripts'
# helpers. The Qwen3-MoE script: routing statistics, the router-margin rule, its float64 MoE block.
granite = _load("make-granite-fixture.py", "make_granite_fixture")
qwen3moe = _load("make-qwen3moe-fixture.py", "make_qwen3moe_fixture")
smollm3, phi3, gemma3, qwen3, rope = granite.smollm3, granite.phi3, granite.gemma3, granite.qwen3, granite.rope
rebuild, skeletons = granite.rebuild, granite.skeletons
write_json, file_entry, max_abs = rope.write_json, rope.file_entry, rope.max_abs
effect, agreement, top2_margins = gemma3.effect, gemma3.agreement, gemma3.top2_margins

REPO, MODELS = rope.REPO, rope.MODELS
NAME = "tiny-granitemoe"
OUT = os.path.join(MODELS, NAME)
TOKENIZER_BASE = "tiny-llama"
TOKENIZER_FROM = phi3.TOKENIZER_FROM    # tiny-llama
TOKENIZER_FILES = phi3.TOKENIZER_FILES  # generation_config.json, special_tokens_map.json, tokenizer.json, ...
PROG = "granitemoe-fixture"
# The two variants: (GGUF stem, HF folder, ref tensors' prefix).
VARIANTS = {"f32": ("hf", ""), "shared": ("hf-shared", "shared.")}

SEED = 1369                              # the first seed from 0 that meets ROUTING_CRITERIA (see the header)
SHARED_STREAM = 1                        # the shared expert's tensors: default_rng([SEED, SHARED_STREAM])
MATRIX_SCALE = granite.MATRIX_SCALE      # 0.25: every matrix but the routers (tiny-granite's; see its README)
ROUTER_SCALE = 2 * MATRIX_SCALE          # 0.5: block_sparse_moe.router.layer (the float32 0.25 draw x 2, exact)
NORM_SCALE = granite.NORM_SCALE          # 0.2: norm weights 1 + 0.2 N(0, 1)
# A colon, digits, commas, a newline, a double space and non-ASCII letters (byte fallback); its ids (with BOS) are
# the model input: 33 of them.
TEXT = "GraniteMoE: 2 of 8, x12.\nCafé  naïve"
NUMPY_TOLERANCE = granite.NUMPY_TOLERANCE          # 1e-4: max |difference| float64 pass vs libllama
MIN_FEATURE_EFFECT = granite.MIN_FEATURE_EFFECT    # 0.05: max |Δlogit| each left-out or changed feature must cause
MIN_ROUTER_MARGIN = qwen3moe.MIN_ROUTER_MARGIN     # 0.05: the 2nd / 3rd router logit gap, every layer and position
EQUIVALENCE_TOLERANCE = qwen3moe.EQUIVALENCE_TOLERANCE  # 1e-12: llama.cpp's gating formula vs the top-k softmax
ROUTING_CRITERIA = (f"in both float64 passes (hf/ and hf-shared/), every layer and every position: router logit gap "
                    f"between the 2nd and 3rd largest >= {MIN_ROUTER_MARGIN}; every expert chosen by at least one "
                    f"position in every layer")
# libllama's one warning on every run of the harness: the pooling type the harness asks for (as for every model).
EXPECTED_WARNINGS = granite.EXPECTED_WARNINGS
WARNINGS_NOTE = granite.WARNINGS_NOTE
TOKENIZER_NOTE = ("tiny-llama's tokenizer files, unchanged: Llama-style SentencePiece with a dummy prefix ('▁' before "
                  "the first word) and BOS; the GGUFs' tokenizer.* keys are tiny-llama/f32.gguf's "
                  "(LlamaModel.set_vocab, which GraniteMoeModel inherits, wrote them from the same files), "
                  "add_space_prefix true included")
# The widened log's words, and libllama's print_info lines (whitespace collapsed) that it must show per GGUF.
LOG_WORDS = ("scale", "expert", "n_ff")
EXPECTED_LOG_COMMON = ["n_ff = 32", "n_expert = 8", "n_expert_used = 2", "f_logit_scale = 8.0e+00",
                       "f_attn_scale = 1.2e-01", "f_embedding_scale = 12.000000", "f_residual_scale = 0.220000",
                       "f_attention_scale = 0.125000"]
EXPECTED_LOG = {"f32": EXPECTED_LOG_COMMON + ["n_ff_shexp = 0"], "shared": EXPECTED_LOG_COMMON + ["n_ff_shexp = 48"]}

# As transformers 4.57.6 writes GraniteMoeConfig(vocab_size=512, hidden_size=64, intermediate_size=32,
# num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, rope_theta=10000.0,
# rms_norm_eps=1e-5, hidden_act="silu", tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
# initializer_range=0.0625, embedding_multiplier=12.0, attention_multiplier=0.125, residual_multiplier=0.22,
# logits_scaling=8.0, num_local_experts=8, num_experts_per_tok=2) with architectures ["GraniteMoeForCausalLM"] and
# dtype float32 (save_pretrained: sorted keys, indent 2; checked once with transformers 4.57.6, see the README).
# GraniteMoeConfig has no head_dim and no mlp_bias; it writes position_embedding_type "rope" (hard-coded),
# rope_scaling null, output_router_logits false and router_aux_loss_coef 0.001 (training only); tie_word_embeddings
# true differs from its default (false), so it is written; pad_token_id (None) is not.
CONFIG = {
    "architectures": ["GraniteMoeForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "attention_multiplier": 0.125,
    "bos_token_id": 1,
    "dtype": "float32",
    "embedding_multiplier": 12.0,
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 64,
    "initializer_range": qwen3.MATRIX_SCALE,
    "intermediate_size": 32,
    "logits_scaling": 8.0,
    "max_position_embeddings": 256,
    "model_type": "granitemoe",
    "num_attention_heads": 4,
    "num_experts_per_tok": 2,
    "num_hidden_layers": 4,
    "num_key_value_heads": 2,
    "num_local_experts": 8,
    "output_router_logits": False,
    "position_embedding_type": "rope",
    "residual_multiplier": 0.22,
    "rms_norm_eps": 1e-05,
    "rope_scaling": None,
    "rope_theta": 10000.0,
    "router_aux_loss_coef": 0.001,
    "tie_word_embeddings": True,
    "transformers_version": "4.57.6",
    "use_cache": True,
    "vocab_size": 512,
}
# The same for GraniteMoeSharedConfig(..., shared_intermediate_size=48) with architectures
# ["GraniteMoeSharedForCausalLM"] (checked once the same way): model_type granitemoeshared and the shared width.
SHARED_CONFIG = dict(CONFIG, architectures=["GraniteMoeSharedForCausalLM"], model_type="granitemoeshared",
                     shared_intermediate_size=48)
CONFIGS = {"f32": CONFIG, "shared": SHARED_CONFIG}

# The converter's GGUF tensor names of a GraniteMoe block, in its order: the HF names' sorted order
# (block_sparse_moe.input_linear, output_linear, router.layer, input_layernorm, post_attention_layernorm,
# self_attn.k_proj, o_proj, q_proj, v_proj; then shared_mlp.input_linear, output_linear) with each input_linear
# split into its gate and up halves, gate first.
LAYER_TENSORS = ["ffn_gate_exps", "ffn_up_exps", "ffn_down_exps", "ffn_gate_inp", "attn_norm", "ffn_norm", "attn_k",
                 "attn_output", "attn_q", "attn_v"]
SHARED_LAYER_TENSORS = LAYER_TENSORS + ["ffn_gate_shexp", "ffn_up_shexp", "ffn_down_shexp"]
# The experts split per expert in Mixtral's names, for the qwen3moe script's moe_ffn (llama.cpp's gating formula).
SPLIT_LAYOUT = dict(qwen3moe.QWEN3MOE_LAYOUT, router="block_sparse_moe.router.layer",
                    experts="block_sparse_moe.experts", gate="w1", up="w3", down="w2", n_experts="num_local_experts",
                    width="intermediate_size", qk_norm=False)


def say(text):
    print(f"{PROG}: {text}", flush=True)


def rel(path):
    return os.path.relpath(path, REPO)


# --- the model ------------------------------------------------------------------------------------------------

head_dim = granite.head_dim


def hf_shapes(c):
    """{Hugging Face tensor name: numpy shape} of GraniteMoeForCausalLM with tied embeddings: Llama's attention and
    norms (qwen3.hf_shapes without q/k norms and without its dense MLP), per layer the experts' fused
    block_sparse_moe.input_linear [experts, 2 x intermediate, hidden], output_linear [experts, hidden, intermediate]
    and the router block_sparse_moe.router.layer [experts, hidden]."""
    h, f, n_experts = c["hidden_size"], c["intermediate_size"], c["num_local_experts"]
    shapes = {k: v for k, v in qwen3.hf_shapes(dict(c, head_dim=head_dim(c)), qk_norm=False).items()
              if ".mlp." not in k}
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}.block_sparse_moe."
        shapes.update({p + "input_linear.weight": (n_experts, 2 * f, h), p + "output_linear.weight": (n_experts, h, f),
                       p + "router.layer.weight": (n_experts, h)})
    return shapes


def shared_shapes(c):
    """GraniteMoeSharedForCausalLM's extra tensors: per layer shared_mlp.input_linear [2 x shared, hidden] and
    shared_mlp.output_linear [hidden, shared]."""
    h, s = c["hidden_size"], c["shared_intermediate_size"]
    return {name: shape for layer in range(c["num_hidden_layers"])
            for name, shape in ((f"model.layers.{layer}.shared_mlp.input_linear.weight", (2 * s, h)),
                                (f"model.layers.{layer}.shared_mlp.output_linear.weight", (h, s)))}


def random_weights(seed=SEED):
    """(hf/'s weights, hf-shared/'s weights): qwen3.random_weights of hf_shapes(CONFIG) (one standard_normal draw
    per tensor in sorted name order from default_rng(seed); matrices MATRIX_SCALE x that, norms 1 + NORM_SCALE x
    that), then every router x 2 in float32 (a power of two: exactly float32(ROUTER_SCALE x the draw)); the shared
    variant's are the same tensors plus qwen3.random_weights of shared_shapes(SHARED_CONFIG) from
    default_rng([seed, SHARED_STREAM]) (MATRIX_SCALE)."""
    weights = qwen3.random_weights(CONFIG, seed, MATRIX_SCALE, NORM_SCALE, shapes=hf_shapes(CONFIG))
    router = np.float32(ROUTER_SCALE / MATRIX_SCALE)
    assert router == 2
    weights = {k: w * router if k.endswith(".block_sparse_moe.router.layer.weight") else w for k, w in weights.items()}
    extra = qwen3.random_weights(SHARED_CONFIG, [seed, SHARED_STREAM], MATRIX_SCALE, NORM_SCALE,
                                 shapes=shared_shapes(SHARED_CONFIG))
    return weights, {**weights, **extra}


def silu(x):
    return x / (1 + np.exp(-x))


def moe_block(w, c, layer, x, routing=None, gating="topk_softmax", top_k=None, swap_gate_up=False,
              expert_order=None):
    """GraniteMoeMoE in float64, transformers' math, for x [T, hidden] (post_attention_layernorm's output): router
    logits = x @ block_sparse_moe.router.layer.weight.T [T, experts]; the top_k (default num_experts_per_tok)
    largest logits, descending (torch.topk); gates = softmax over those k (GraniteMoeTopKGating); per chosen expert e
    h = input_linear[e] @ x, gate = h[:intermediate], up = h[intermediate:] (chunk(2, dim=-1); the activation on
    the first), out += gate_k x output_linear[e] @ (silu(gate) * up). `routing`, a list, gets {logits, probs (the
    softmax over all experts, for the statistics), top, weights}. The other keywords are what a runtime that got a
    feature wrong would compute: gating "softmax_all" (the top-k probabilities of a softmax over all experts, not
    renormalized), gate and up swapped, `expert_order` (expert e computed with expert expert_order[e]'s weights,
    the routing unchanged)."""
    p = f"model.layers.{layer}.block_sparse_moe."
    f, n_experts = c["intermediate_size"], c["num_local_experts"]
    k = c["num_experts_per_tok"] if top_k is None else top_k
    order = list(range(n_experts)) if expert_order is None else list(expert_order)
    logits = x @ w[p + "router.layer.weight"].T
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    top = np.argsort(-logits, axis=-1, kind="stable")[:, :k]
    if gating == "topk_softmax":
        chosen = np.take_along_axis(logits, top, -1)
        gates = np.exp(chosen - chosen.max(-1, keepdims=True))
        gates /= gates.sum(-1, keepdims=True)
    else:
        assert gating == "softmax_all", gating
        gates = np.take_along_axis(probs, top, -1)
    out = np.zeros_like(x)
    for e in range(n_experts):
        rows, slot = np.nonzero(top == e)
        if rows.size == 0:
            continue
        h = x[rows] @ w[p + "input_linear.weight"][order[e]].T
        gate, up = h[:, :f], h[:, f:]
        if swap_gate_up:
            gate, up = up, gate
        out[rows] += gates[rows, slot, None] * ((silu(gate) * up) @ w[p + "output_linear.weight"][order[e]].T)
    if routing is not None:
        routing.append({"logits": logits, "probs": probs, "top": top, "weights": gates})
    return out


def shared_mlp(w, c, layer, x, mode="on"):
    """GraniteMoeSharedMLP in float64 for x [T, hidden]: h = shared_mlp.input_linear @ x, gate = h[:shared], up =
    h[shared:] (chunk(2, dim=-1)), shared_mlp.output_linear @ (silu(gate) * up). `mode`: "on"; "off" (zeros: the
    shared expert dropped); "gate_up_swapped"; "width_as_intermediate": a reader that sizes the shared expert by
    intermediate_size (32) instead of shared_intermediate_size (48) and takes the tensors' data for that shape:
    input_linear's first 2 x 32 rows split at 32 (gate rows 0..31, up rows 32..63) and output_linear's first
    64 x 32 values (row-major) as its [64, 32] matrix."""
    if mode == "off":
        return np.zeros_like(x)
    p = f"model.layers.{layer}.shared_mlp."
    w_in, w_out = w[p + "input_linear.weight"], w[p + "output_linear.weight"]
    s = c["shared_intermediate_size"]
    if mode == "width_as_intermediate":
        s = c["intermediate_size"]
        w_in, w_out = w_in[:2 * s], w_out.reshape(-1)[:w_out.shape[0] * s].reshape(w_out.shape[0], s)
    h = x @ w_in.T
    gate, up = h[:, :s], h[:, s:]
    if mode == "gate_up_swapped":
        gate, up = up, gate
    else:
        assert mode in ("on", "width_as_intermediate"), mode
    return (silu(gate) * up) @ w_out.T


def numpy_granitemoe(w, c, ids, shared="on", **moe):
    """(logits [T, vocab], hidden_last [T, hidden], routing per layer) of GraniteMoeForCausalLM (or, when `c` has
    shared_intermediate_size, GraniteMoeSharedForCausalLM) in float64, transformers' math: rope.numpy_llama with the
    config's four multipliers (h = embed_tokens[ids] x embedding_multiplier; per layer h += residual_multiplier x
    o_proj(attn(input_layernorm(h))), h += residual_multiplier x ffn(post_attention_layernorm(h)); RMSNorm(x) * w,
    eps 1e-5; rotate-half RoPE; scores x attention_multiplier, causal, GQA; final norm (hidden_last); logits =
    hidden_last @ embed_tokens.T / logits_scaling) with ffn = moe_block(**moe) (+ shared_mlp(`shared`))."""
    routing = []

    def ffn(layer, x):
        out = moe_block(w, c, layer, x, routing, **moe)
        if c.get("shared_intermediate_size"):
            out = out + shared_mlp(w, c, layer, x, shared)
        return out

    logits, hidden = rope.numpy_llama(w, c, ids, ffn=ffn)
    return logits, hidden, routing


def split_experts(w, c):
    """`w` with each layer's fused experts split per expert in Mixtral's names (SPLIT_LAYOUT):
    block_sparse_moe.experts.{e}.w1 (gate) = input_linear[e][:intermediate], w3 (up) = input_linear[e][intermediate:],
    w2 (down) = output_linear[e]; for the qwen3moe script's moe_ffn."""
    out = {k: v for k, v in w.items() if not k.endswith(("input_linear.weight", "output_linear.weight"))
           or ".shared_mlp." in k}
    f = c["intermediate_size"]
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}.block_sparse_moe."
        for e in range(c["num_local_experts"]):
            fused = w[p + "input_linear.weight"][e]
            out.update({f"{p}experts.{e}.w1.weight": fused[:f], f"{p}experts.{e}.w3.weight": fused[f:],
                        f"{p}experts.{e}.w2.weight": w[p + "output_linear.weight"][e]})
    return out


def numpy_llama_cpp_gating(w, c, ids):
    """The same pass with llama.cpp's gating formula (build_moe_ffn: softmax over all experts, top k, divided by
    their sum): the qwen3moe script's moe_ffn on split_experts(w) (+ shared_mlp)."""
    split = split_experts(w, c)
    moe = qwen3moe.moe_ffn(split, c, layout=SPLIT_LAYOUT)

    def ffn(layer, x):
        out = moe(layer, x)
        return out + shared_mlp(w, c, layer, x) if c.get("shared_intermediate_size") else out

    return rope.numpy_llama(split, c, ids, ffn=ffn)


def seed_search(ids, first=SEED):
    """Every seed below `first` must miss ROUTING_CRITERIA (the float64 passes of both variants on `ids`), `first`
    must meet them; the script exits otherwise. Returns ref.json's record."""
    missed_gap = missed_coverage = 0
    for seed in range(first + 1):
        passes = [{k: v.astype(np.float64) for k, v in w.items()} for w in random_weights(seed)]
        stats = [qwen3moe.routing_stats(numpy_granitemoe(w, c, ids)[2], c, SPLIT_LAYOUT)
                 for w, c in zip(passes, (CONFIG, SHARED_CONFIG))]
        if qwen3moe.meets_criteria(stats) != (seed == first):
            sys.exit(f"{PROG}: seed {seed} {'meets' if seed < first else 'misses'} the routing criteria; SEED {first} "
                     f"is not the first seed that meets them")
        missed_gap += seed < first and min(x["min_topk_gap"] for x in stats) < MIN_ROUTER_MARGIN
        missed_coverage += seed < first and min(x["min_expert_count"] for x in stats) < 1
    return {"seeds_checked": f"0..{first}", "first_meeting_criteria": first,
            "seeds_below_with_a_gap_below_the_margin": int(missed_gap),
            "seeds_below_with_an_unused_expert": int(missed_coverage)}


# --- GGUF -----------------------------------------------------------------------------------------------------

def converter_tensors(c, weights):
    """The tensors convert_hf_to_gguf.py's GraniteMoeModel.modify_tensors hands on, keyed so that their sorted order
    is the converter's and gguf-py's granitemoe name map gives their GGUF names: each
    block_sparse_moe.input_linear [E, 2f, d] split at f along its rows (`split(f, dim=-2)`) into
    `block_sparse_moe.experts.gate` (rows 0..f-1 of every expert) and `.experts.up` (rows f..2f-1), which sort where
    input_linear does, gate first (gguf-py: ffn_gate_exps, ffn_up_exps); each shared_mlp.input_linear [2s, d] into
    `share_expert.gate_proj` / `up_proj` (rows 0..s-1, s..2s-1; gguf-py's hunyuan-style names for
    ffn_gate_shexp / ffn_up_shexp, which sort after self_attn.* and before shared_mlp.output_linear, where
    shared_mlp.input_linear does); the rest as is (output_linear, router.layer and shared_mlp.output_linear map to
    ffn_down_exps, ffn_gate_inp and ffn_down_shexp)."""
    out = {}
    for name, w in weights.items():
        if name.endswith(".block_sparse_moe.input_linear.weight"):
            f = c["intermediate_size"]
            assert w.shape[-2] == 2 * f
            prefix = name[:-len("input_linear.weight")]
            out[prefix + "experts.gate.weight"], out[prefix + "experts.up.weight"] = w[:, :f], w[:, f:]
        elif name.endswith(".shared_mlp.input_linear.weight"):
            s = c["shared_intermediate_size"]
            assert w.shape[-2] == 2 * s
            prefix = name[:-len("shared_mlp.input_linear.weight")]
            out[prefix + "share_expert.gate_proj.weight"], out[prefix + "share_expert.up_proj.weight"] = w[:s], w[s:]
        else:
            out[name] = w
    assert sum(w.size for w in out.values()) == sum(w.size for w in weights.values())
    return out


def granitemoe_keys(c):
    """smollm3.write_gguf's `extra_keys` for GraniteMoeModel.set_gguf_parameters (after LlamaModel's keys):
    GraniteModel's four scales (granite.granite_keys), then expert_shared_feed_forward_length when the config's
    shared_intermediate_size is truthy (`if x := hparams.get(...)`)."""
    scales = granite.granite_keys(c)

    def add(writer):
        scales(writer)
        if c.get("shared_intermediate_size"):
            writer.add_expert_shared_feed_forward_length(c["shared_intermediate_size"])

    return add


def expected_metadata(c):
    """{key: value} of the GGUF's non-tokenizer keys in the converter's order (as GGUFReader reads them); None:
    checked separately."""
    f32 = lambda x: float(np.float32(x))  # noqa: E731
    a = "granitemoe."
    want = {
        "general.architecture": "granitemoe", "general.type": "model", "general.name": NAME,
        "general.size_label": None,
        a + "block_count": c["num_hidden_layers"], a + "context_length": c["max_position_embeddings"],
        a + "embedding_length": c["hidden_size"], a + "feed_forward_length": c["intermediate_size"],
        a + "attention.head_count": c["num_attention_heads"],
        a + "attention.head_count_kv": c["num_key_value_heads"],
        a + "rope.freq_base": f32(c["rope_theta"]),
        a + "attention.layer_norm_rms_epsilon": f32(c["rms_norm_eps"]),
        a + "expert_count": c["num_local_experts"], a + "expert_used_count": c["num_experts_per_tok"],
        "general.file_type": 0, a + "vocab_size": c["vocab_size"], a + "rope.dimension_count": head_dim(c),
        a + "attention.scale": f32(c["attention_multiplier"]), a + "embedding_scale": f32(c["embedding_multiplier"]),
        a + "residual_scale": f32(c["residual_multiplier"]), a + "logit_scale": f32(c["logits_scaling"]),
    }
    if c.get("shared_intermediate_size"):
        want[a + "expert_shared_feed_forward_length"] = c["shared_intermediate_size"]
    want["general.quantization_version"] = 2
    return want


def expected_gguf_names(c):
    """The converter's GGUF tensor names in file order, spelled out independently of gguf-py's name map."""
    return qwen3.expected_gguf_names(c, SHARED_LAYER_TENSORS if c.get("shared_intermediate_size") else LAYER_TENSORS)


def check_gguf(path, c, weights, names, tokenizer_gguf):
    """Read a GGUF back with GGUFReader: metadata (order and values as expected_metadata(c) gives them, the scales
    FLOAT32, the counts UINT32, then tiny-llama/f32.gguf's tokenizer.* keys in its order with its types and values),
    tensor names (expected_gguf_names), types, shapes and data (converter_tensors, Q/K permuted)."""
    kv, tensors = rope.gguf_summary(path)
    want = expected_metadata(c)
    non_tok = [k for k in kv if not k.startswith("tokenizer.")]
    assert non_tok == list(want), non_tok
    for key, value in want.items():
        if value is not None:
            assert kv[key][1] == value, f"{key} = {kv[key]}, expected {value}"
        if key.endswith(("scale", "rope.freq_base", "layer_norm_rms_epsilon")):
            assert kv[key][0] == ["FLOAT32"], (key, kv[key])
        elif key.startswith("granitemoe."):
            assert kv[key][0] == ["UINT32"], (key, kv[key])
    tok_kv, _ = rope.gguf_summary(tokenizer_gguf)
    tok_keys = [k for k in tok_kv if k.startswith("tokenizer.")]
    assert list(kv)[len(non_tok):] == tok_keys, "tokenizer keys out of order"
    for key in tok_keys:
        assert kv[key] == tok_kv[key], f"{key} differs from tiny-llama/f32.gguf's"
    merged = converter_tensors(c, weights)
    qwen3.check_tensors(tensors, names, expected_gguf_names(c), merged, smollm3.gguf_tensor(c))
    shapes = {n: s for n, _, s, _ in tensors}
    h, f, n_experts = c["hidden_size"], c["intermediate_size"], c["num_local_experts"]
    for i in range(c["num_hidden_layers"]):
        assert shapes[f"blk.{i}.ffn_gate_exps.weight"] == shapes[f"blk.{i}.ffn_up_exps.weight"] == [h, f, n_experts]
        assert shapes[f"blk.{i}.ffn_down_exps.weight"] == [f, h, n_experts]
        assert shapes[f"blk.{i}.ffn_gate_inp.weight"] == [h, n_experts]
        if c.get("shared_intermediate_size"):
            s = c["shared_intermediate_size"]
            assert shapes[f"blk.{i}.ffn_gate_shexp.weight"] == shapes[f"blk.{i}.ffn_up_shexp.weight"] == [h, s]
            assert shapes[f"blk.{i}.ffn_down_shexp.weight"] == [s, h]
    permuted = [n for n, s in zip(names, sorted(merged))
                if not np.array_equal(smollm3.gguf_tensor(c)(s, merged[s]), merged[s])]
    assert permuted == [f"blk.{i}.attn_{x}.weight" for i in range(c["num_hidden_layers"]) for x in "kq"], permuted
    return kv, tensors, merged


def tensor_sources(c, names, merged):
    """{GGUF tensor name: its HF source, and how the converter made it} (ref.json's record)."""
    out = {}
    for name, key in zip(names, sorted(merged)):
        if ".experts.gate." in key or ".experts.up." in key:
            half = "gate" if ".experts.gate." in key else "up"
            f = c["intermediate_size"]
            rows = f"0..{f - 1}" if half == "gate" else f"{f}..{2 * f - 1}"
            out[name] = (f"{key.rsplit('.experts.', 1)[0]}.input_linear.weight, rows {rows} of every expert "
                         f"({half}; split(intermediate_size, dim=-2))")
        elif ".share_expert." in key:
            s = c["shared_intermediate_size"]
            half = "gate" if ".gate_proj." in key else "up"
            rows = f"0..{s - 1}" if half == "gate" else f"{s}..{2 * s - 1}"
            out[name] = (f"{key.split('.share_expert.')[0]}.shared_mlp.input_linear.weight, rows {rows} ({half}; "
                         f"split(shared_intermediate_size, dim=-2))")
        else:
            out[name] = key
    return out


# --- driver ---------------------------------------------------------------------------------------------------

def main():
    args, llama_cpp, commit = rope.parse_arguments(NAME, PROG, say)

    say(rebuild.rebuild(MODELS, TOKENIZER_BASE, "f32", False, False, {}))
    base_ref = json.load(open(os.path.join(TOKENIZER_FROM, "ref.json"), encoding="utf-8"))
    base_config = json.load(open(os.path.join(TOKENIZER_FROM, "hf", "config.json"), encoding="utf-8"))
    generation_config = json.load(open(os.path.join(TOKENIZER_FROM, "hf", "generation_config.json"),
                                       encoding="utf-8"))
    tok_gguf = os.path.join(TOKENIZER_FROM, "f32.gguf")
    os.makedirs(os.path.join(OUT, "gguf-skeletons"), exist_ok=True)

    # 1. configs and tokenizer copies.
    for key in ("bos_token_id", "eos_token_id", "vocab_size"):
        assert CONFIG[key] == base_config[key], key
    for key in ("bos_token_id", "eos_token_id"):
        assert CONFIG[key] == generation_config[key], key
    assert CONFIG["attention_multiplier"] != head_dim(CONFIG) ** -0.5
    assert SHARED_CONFIG["shared_intermediate_size"] != SHARED_CONFIG["intermediate_size"]
    for stem, (folder, _) in VARIANTS.items():
        hf_dir = os.path.join(OUT, folder)
        os.makedirs(hf_dir, exist_ok=True)
        path = os.path.join(hf_dir, "config.json")
        write_json(path, CONFIGS[stem], indent=2, sort_keys=True)
        fuzz = NAME if stem == "f32" else f"{NAME}-shared"
        qwen3.copy_file(path, os.path.join(REPO, "Fuzz", "corpus", "hf-config", f"{fuzz}.json"))
        for name in TOKENIZER_FILES:
            qwen3.copy_file(os.path.join(TOKENIZER_FROM, "hf", name), os.path.join(hf_dir, name))
            assert rebuild.sha256_file(os.path.join(hf_dir, name)) == base_ref["files"][f"hf/{name}"]["sha256"], name

    # 2. weights.
    weights = dict(zip(VARIANTS, random_weights()))
    n_params = {stem: qwen3.save_weights(os.path.join(OUT, folder, "model.safetensors"), weights[stem], say)
                for stem, (folder, _) in VARIANTS.items()}
    assert all(np.array_equal(weights["shared"][k], w) for k, w in weights["f32"].items())

    # 3. GGUFs. First the writer's own check: with architecture llama on tiny-llama/hf it must give the converter's
    # tiny-llama/f32.gguf (LlamaModel: GraniteMoeModel's code path without its experts and keys).
    with tempfile.TemporaryDirectory(prefix=f"{PROG}-") as work:
        llama_path = os.path.join(work, "llama.gguf")
        smollm3.write_gguf(llama_path, gguf.MODEL_ARCH.LLAMA, TOKENIZER_BASE, base_config,
                           load_file(os.path.join(TOKENIZER_FROM, "hf", "model.safetensors")), tok_gguf)
        writer_check = {
            "method": "this script's GGUF writer (scripts/make-smollm3-fixture.py's write_gguf) run with "
                      "architecture llama on tiny-llama/hf (config, weights, tokenizer keys) gives a file "
                      "byte-identical to tiny-llama/f32.gguf, which convert_hf_to_gguf.py (LlamaModel, Q/K rows "
                      "permuted) wrote",
            "sha256": rebuild.sha256_file(llama_path),
            "equal": rebuild.sha256_file(llama_path) == rebuild.sha256_file(tok_gguf),
        }
    say(f"writer check on tiny-llama: {writer_check}")
    if not writer_check["equal"]:
        sys.exit(f"{PROG}: the GGUF writer does not reproduce tiny-llama/f32.gguf (convert_hf_to_gguf.py's)")
    gguf_paths, written = {}, {}
    for stem in VARIANTS:
        c = CONFIGS[stem]
        gguf_paths[stem] = path = os.path.join(OUT, f"{stem}.gguf")
        names, total = smollm3.write_gguf(path, gguf.MODEL_ARCH.GRANITE_MOE, NAME, c,
                                          converter_tensors(c, weights[stem]), tok_gguf, extra_keys=granitemoe_keys(c))
        assert total == n_params[stem], (total, n_params[stem])
        kv, tensors, merged = check_gguf(path, c, weights[stem], names, tok_gguf)
        written[stem] = (names, kv, tensors, merged)
        say(f"{rel(path)}: {os.path.getsize(path):,} bytes, {len(tensors)} tensors, size label "
            f"{kv['general.size_label'][1]}, checked with GGUFReader (tokenizer keys = tiny-llama/f32.gguf's)")

    # 4. skeletons: ref.json must record the GGUFs' and the sources' sha256 first (make() checks them).
    made_by = ("scripts/make-granitemoe-fixture.py: gguf-py 0.19.0 GGUFWriter, as convert_hf_to_gguf.py --outtype f32 "
               "--model-name tiny-granitemoe (llama.cpp 0c1e57098, GraniteMoeModel = GraniteModel with architecture "
               "granitemoe: each input_linear split into gate and up) writes {folder}/: tensors in sorted HF name "
               "order, all F32, attn_q / attn_k rows permuted (LlamaModel.permute), the experts' input_linear as "
               "ffn_gate_exps + ffn_up_exps{shexp}, no output.weight (tied); TextModel's, LlamaModel's, GraniteModel's "
               "and GraniteMoeModel's keys; tokenizer.* keys copied from tiny-llama/f32.gguf")
    gguf_info = {
        f"{stem}.gguf": {
            "made_by": made_by.format(folder=folder, shexp=", the shared expert's as ffn_gate_shexp + ffn_up_shexp"
                                      if stem == "shared" else ""),
            **file_entry(gguf_paths[stem]),
            "converter_check": f"checked once by hand (see the README): the real convert_hf_to_gguf.py on {folder}/ "
                               f"writes these bytes",
        } for stem, (folder, _) in VARIANTS.items()}
    write_json(os.path.join(OUT, "ref.json"), {
        "gguf": gguf_info,
        "files": {n: file_entry(os.path.join(OUT, n)) for n in ("f32.gguf", "shared.gguf", "hf/model.safetensors",
                                                                 "hf-shared/model.safetensors")}}, 1)
    for stem in VARIANTS:
        out, header_bytes = skeletons.make(MODELS, NAME, stem)
        say(f"{rel(out)}: {os.path.getsize(out):,} bytes (header {header_bytes:,}), round trip verified")

    # 5. llama.cpp: the tokenizer check, the harness check, the runs and the widened logs.
    runs, wide = {}, {}
    with tempfile.TemporaryDirectory(prefix=f"{PROG}-") as work:
        tok_exe = rope.build_harness(llama_cpp, args.cc, work, gemma3.TOKENIZE_HARNESS)
        tokenizer_check, ids = phi3.check_tokenizer(tok_exe, llama_cpp, gguf_paths["f32"], os.path.join(OUT, "hf"),
                                                    work, text=TEXT, prog=PROG, say=say,
                                                    expected_warnings=EXPECTED_WARNINGS, note=TOKENIZER_NOTE,
                                                    base=TOKENIZER_BASE)
        exe = rope.build_harness(llama_cpp, args.cc, work)
        harness_check, _, _ = rope.check_harness(exe, llama_cpp, TOKENIZER_BASE, base_ref["input_ids"], work, PROG,
                                                 say)
        log_exe = qwen3.yarn_log_harness(llama_cpp, args.cc, work, words=LOG_WORDS, tag="granitemoe")
        for stem, path in gguf_paths.items():
            runs[stem] = phi3.llama_cpp_run(exe, llama_cpp, path, ids, work, stem, prog=PROG, say=say,
                                            expected_warnings=EXPECTED_WARNINGS)
            if not any("rope type" in line and "= 0" in line for line in runs[stem]["rope_log"]):
                sys.exit(f"{PROG}: libllama does not report rope type 0 (NORM) for granitemoe: "
                         f"{runs[stem]['rope_log']}")
            log_logits, log_hidden, _, log = rope.harness_outputs(log_exe, llama_cpp, path, ids, work, f"{stem}-log")
            if not (np.array_equal(log_logits, runs[stem]["logits"]) and np.array_equal(log_hidden,
                                                                                        runs[stem]["hidden"])):
                sys.exit(f"{PROG}: the widened-log harness gives other outputs on {stem}.gguf")
            print_info = [" ".join(line.split("print_info:", 1)[1].split()) for line in log
                          if line.startswith("print_info:") and any(wd in line for wd in LOG_WORDS)]
            loader = [" ".join(line.split(":", 1)[1].split()) for line in log
                      if line.startswith("llama_model_loader: - kv") and any(wd in line for wd in LOG_WORDS)]
            wide[stem] = {"print_info": print_info, "metadata": loader}
            say(f"llama.cpp on {stem}.gguf, widened log: {print_info}; metadata {loader}")
            missing = [line for line in EXPECTED_LOG[stem] if line not in print_info]
            if missing:
                sys.exit(f"{PROG}: libllama's log on {stem}.gguf lacks {missing}")
    if ids[0] != CONFIG["bos_token_id"] or ids[1:] != tokenizer_check["hf_tokenizers"]["ids_without_special"]:
        sys.exit(f"{PROG}: the tokenizer's special tokens are not BOS alone")
    tok_shared = {name: rebuild.sha256_file(os.path.join(OUT, "hf-shared", name)) for name in TOKENIZER_FILES}
    assert all(tok_shared[n] == rebuild.sha256_file(os.path.join(OUT, "hf", n)) for n in TOKENIZER_FILES)
    assert ([(k, v) for k, v in written["shared"][1].items() if k.startswith("tokenizer.")]
            == [(k, v) for k, v in written["f32"][1].items() if k.startswith("tokenizer.")])

    # 6. the llama.cpp reference.
    T = len(ids)
    input_ids = np.array([ids], dtype=np.int64)
    llama_tensors = {"input_ids": input_ids}
    for stem, run in runs.items():
        llama_tensors[f"{VARIANTS[stem][1]}logits.f32"] = np.ascontiguousarray(run["logits"], dtype=np.float32)
        llama_tensors[f"{VARIANTS[stem][1]}hidden_last.f32"] = np.ascontiguousarray(run["hidden"], dtype=np.float32)
    rope.write_llama_reference(os.path.join(OUT, "ref-llama-cpp.safetensors"), llama_tensors)

    # 7. the independent float64 passes, the routing, and every feature left out or changed.
    w64 = {stem: {k: v.astype(np.float64) for k, v in w.items()} for stem, w in weights.items()}
    ref = {stem: numpy_granitemoe(w64[stem], CONFIGS[stem], ids) for stem in VARIANTS}
    routing = {stem: qwen3moe.routing_stats(ref[stem][2], CONFIGS[stem], SPLIT_LAYOUT) for stem in VARIANTS}
    for stem, r in routing.items():
        say(f"routing ({stem}): min top-2 gap {r['min_topk_gap']:.4f}, min expert count {r['min_expert_count']}, per "
            f"layer counts {[s['expert_counts'] for s in r['layers']]}")
    if not qwen3moe.meets_criteria(list(routing.values())):
        sys.exit(f"{PROG}: seed {SEED} does not meet the routing criteria ({ROUTING_CRITERIA})")
    search = seed_search(ids)
    say(f"seed search: {SEED} is the first seed that meets the routing criteria; below it "
        f"{search['seeds_below_with_a_gap_below_the_margin']} miss the margin, "
        f"{search['seeds_below_with_an_unused_expert']} leave an expert unused")
    llama = {stem: (run["logits"][0], run["hidden"][0]) for stem, run in runs.items()}
    permute = smollm3.gguf_tensor(CONFIG)
    n_experts = CONFIG["num_local_experts"]
    base, sh = (w64["f32"], CONFIG), (w64["shared"], SHARED_CONFIG)
    features = {
        "no_embedding_multiplier": ("the input embeddings not multiplied by embedding_multiplier (12)", "f32",
                                    w64["f32"], dict(CONFIG, embedding_multiplier=1.0), {}),
        "default_attention_scale": (f"the attention scores x 1/sqrt(head_dim) = {head_dim(CONFIG) ** -0.5} (Llama's) "
                                    f"instead of attention_multiplier ({CONFIG['attention_multiplier']})", "f32",
                                    w64["f32"], dict(CONFIG, attention_multiplier=head_dim(CONFIG) ** -0.5), {}),
        "no_residual_multiplier": ("the attention and MoE outputs added to the residual stream without the "
                                   "residual_multiplier (0.22)", "f32", w64["f32"],
                                   dict(CONFIG, residual_multiplier=1.0), {}),
        "no_logits_scaling": ("the logits not divided by logits_scaling (8): 8 x the logits (hidden_last unchanged)",
                              "f32", w64["f32"], dict(CONFIG, logits_scaling=1.0), {}),
        "plain_llama": ("all four multipliers ignored (1, 1/sqrt(head_dim), 1, 1): the model read as a Llama MoE",
                        "f32", w64["f32"], granite.plain_llama(CONFIG), {}),
        "softmax_over_all_experts": ("the top-2 experts weighted by their probabilities of a softmax over all 8 "
                                     "router logits, not renormalized (Qwen3-MoE's norm_topk_prob false), instead of "
                                     "GraniteMoeTopKGating's softmax over the top-2 logits", "f32", *base,
                                     dict(gating="softmax_all")),
        "gate_up_swapped": ("input_linear's halves read the other way round: rows 32..63 of each expert as the gate "
                            "(activated), rows 0..31 as up", "f32", *base, dict(swap_gate_up=True)),
        "top1_instead_of_top2": ("only the largest router logit's expert (weight 1)", "f32", *base, dict(top_k=1)),
        "experts_reversed": (f"expert e computed with expert {n_experts - 1} - e's weights (the routing unchanged): "
                             f"a wrong expert order in the stacked tensors", "f32", *base,
                             dict(expert_order=list(reversed(range(n_experts))))),
        "qk_rows_not_unpermuted": ("the GGUF's attn_q / attn_k rows (LlamaModel.permute's interleaved order) taken "
                                   "for HF's, with rotate-half RoPE: a reader that does not undo the permutation (or "
                                   "a writer that does not apply it)", "f32",
                                   {k: permute(k, v) for k, v in w64["f32"].items()}, CONFIG, {}),
        "shared_expert_dropped": ("the shared expert left out (GraniteMoeShared read as GraniteMoe: what a reader "
                                  "that ignores shared_mlp.* or expert_shared_feed_forward_length computes)",
                                  "shared", *sh, dict(shared="off")),
        "shared_gate_up_swapped": ("shared_mlp.input_linear's halves read the other way round: rows 48..95 as the "
                                   "gate, rows 0..47 as up", "shared", *sh, dict(shared="gate_up_swapped")),
        "shared_width_as_intermediate_size": ("the shared expert sized by intermediate_size (32) instead of "
                                              "shared_intermediate_size (48), the tensors' data taken for that "
                                              "shape: input_linear rows 0..31 as gate and 32..63 as up, "
                                              "output_linear's first 64 x 32 values (row-major) as [64, 32]",
                                              "shared", *sh, dict(shared="width_as_intermediate")),
        "shared_softmax_over_all_experts": ("as softmax_over_all_experts, with the shared expert", "shared", *sh,
                                            dict(gating="softmax_all")),
    }
    left_out = {}
    for key, (note, stem, w, c, kw) in features.items():
        left_out[key] = dict(note=note, variant=stem, **effect(numpy_granitemoe(w, c, ids, **kw)[:2], ref[stem][:2]))
    scaling = left_out["no_logits_scaling"]
    scaling["relative_max_abs_logit_diff"] = scaling["max_abs_logit_diff"] / float(np.max(np.abs(ref["f32"][0])))
    scaling["relative_note"] = ("max |Δlogit| / max |logit| of the full pass: logits_scaling - 1 = 7 up to "
                                "rounding, as the unscaled logits are 8 x the scaled ones")
    informational = {
        "moe_skipped": dict(effect(rope.numpy_llama(w64["f32"], CONFIG, ids, ffn=lambda layer, x: np.zeros_like(x)),
                                   ref["f32"][:2]),
                            note="every MoE block's output left out (f32)"),
        "shared_vs_unshared": dict(effect(ref["shared"][:2], ref["f32"][:2]),
                                   note="the shared variant's pass against the unshared one's (the same weights but "
                                        "the shared expert; the routing in layers 1..3 differs with it)"),
    }
    equivalence = {}
    for stem in VARIANTS:
        alt = numpy_llama_cpp_gating(w64[stem], CONFIGS[stem], ids)
        equivalence[stem] = {"max_abs_logit_diff": max_abs(alt[0], ref[stem][0]),
                             "max_abs_hidden_last_diff": max_abs(alt[1], ref[stem][1])}
    equivalence.update(
        note="llama.cpp's gating (build_moe_ffn: softmax over all experts, top k, divided by their sum; here the "
             "qwen3moe script's moe_ffn on the experts split per expert) is the same function as "
             "GraniteMoeTopKGating's softmax over the top-k logits: p_i / sum_top p_j = exp(l_i) / sum_top exp(l_j)",
        tolerance=EQUIVALENCE_TOLERANCE)
    vs_llama = {stem: agreement(ref[stem][:2], *llama[stem]) for stem in VARIANTS}
    numpy_check = {
        "method": "float64 numpy forward pass of hf/model.safetensors (and hf-shared/'s) with transformers' "
                  "GraniteMoeForCausalLM (GraniteMoeSharedForCausalLM) math (numpy_granitemoe: rope.numpy_llama "
                  "with the config's four multipliers and moe_block (+ shared_mlp) as the feed-forward block): h = "
                  "embed_tokens[ids] x 12; per layer h += 0.22 x o_proj(attn(input_layernorm(h))), h += 0.22 x "
                  "ffn(x) with x = post_attention_layernorm(h); RMSNorm(x) * w, eps 1e-5; rotate-half RoPE (inv_freq "
                  "= 1e4^(-arange(0, 16, 2) / 16)); scores x 0.125, causal, GQA 4/2; ffn(x) = moe(x) (+ shared(x)): "
                  "router logits x @ router.layer.T, the top 2 (descending), softmax over those 2, each chosen expert "
                  "e: h = input_linear[e] @ x, silu(h[:32]) * h[32:], output_linear[e] @ that, weighted and summed; "
                  "shared(x): h = shared_mlp.input_linear @ x, shared_mlp.output_linear @ (silu(h[:48]) * h[48:]); "
                  "final norm (hidden_last); logits = hidden_last @ embed_tokens.T / 8 (tied)",
        "tolerance": NUMPY_TOLERANCE,
        "vs_llama_cpp": vs_llama["f32"],
        "vs_llama_cpp_shared": vs_llama["shared"],
        "routing_criteria": ROUTING_CRITERIA,
        "min_top2_logit_margin": min(top2_margins(ref["f32"][0])),
        "top2_logit_margins": top2_margins(ref["f32"][0]),
        "min_top2_logit_margin_shared": min(top2_margins(ref["shared"][0])),
        "top2_logit_margins_shared": top2_margins(ref["shared"][0]),
        "top2_note": "argmax checks against libllama are only safe where the margin exceeds the tolerance",
        "logit_scale_rms": {stem: float(np.sqrt(np.mean(ref[stem][0] ** 2))) for stem in VARIANTS},
        "logit_max_abs": {stem: float(np.max(np.abs(ref[stem][0]))) for stem in VARIANTS},
        "hidden_last_scale_rms": {stem: float(np.sqrt(np.mean(ref[stem][1] ** 2))) for stem in VARIANTS},
        "float32_rounding": {
            stem: {"max_abs_logit_diff_ref_vs_llama_cpp": max_abs(ref[stem][0].astype(np.float32), llama[stem][0]),
                   "max_abs_hidden_last_diff_ref_vs_llama_cpp": max_abs(ref[stem][1].astype(np.float32),
                                                                        llama[stem][1])}
            for stem in VARIANTS},
        "min_feature_effect": MIN_FEATURE_EFFECT,
        "left_out_features": left_out,
        "informational": informational,
        "llama_cpp_gating_equivalence": equivalence,
        "note": "each feature's effect is measured against the pass of its variant (`variant`: f32 = hf/, shared = "
                "hf-shared/); libllama's runs agree with the passes far closer than any effect",
    }
    for stem in VARIANTS:
        say(f"numpy float64 vs libllama {stem}: {vs_llama[stem]}")
    for key, e in left_out.items():
        say(f"{key} ({e['variant']}): max |Δlogit| {e['max_abs_logit_diff']:.4g}, rms {e['rms_logit_diff']:.3g}, "
            f"argmax {e['argmax_agree_positions']}/{T}, max |Δhidden| {e['max_abs_hidden_last_diff']:.4g}")
    for key, e in informational.items():
        say(f"{key}: max |Δlogit| {e['max_abs_logit_diff']:.4g}")
    say(f"llama.cpp's gating vs the top-k softmax: {[equivalence[s] for s in VARIANTS]}")
    worst = max(v[m] for v in vs_llama.values() for m in ("max_abs_logit_diff", "max_abs_hidden_last_diff"))
    if worst > NUMPY_TOLERANCE:
        sys.exit(f"{PROG}: a numpy forward pass disagrees with libllama by {worst} > {NUMPY_TOLERANCE}")
    weak = [k for k, e in left_out.items() if e["max_abs_logit_diff"] <= MIN_FEATURE_EFFECT]
    if weak:
        sys.exit(f"{PROG}: leaving out {weak} changes the logits too little")
    if max(v for s in VARIANTS for v in equivalence[s].values()) > EQUIVALENCE_TOLERANCE:
        sys.exit(f"{PROG}: llama.cpp's gating formula gives another pass than the top-k softmax")
    ref_tensors = {"input_ids": input_ids}
    for stem, (_, prefix) in VARIANTS.items():
        ref_tensors[f"{prefix}logits"] = ref[stem][0][None].astype(np.float32)
        ref_tensors[f"{prefix}hidden_last"] = ref[stem][1][None].astype(np.float32)
        for layer, r in enumerate(ref[stem][2]):
            ref_tensors[f"{prefix}router_topk.{layer}"] = r["top"].astype(np.int64)
    rebuild.write_atomically(os.path.join(OUT, "ref.safetensors"),
                             save(ref_tensors, metadata={"generator": "scripts/make-granitemoe-fixture.py: float64 "
                                                                      "numpy forward pass, rounded to float32"}))

    # 8. ref.json.
    files = {}
    for name in (["f32.gguf", "gguf-skeletons/f32.skeleton", "gguf-skeletons/shared.skeleton"]
                 + [f"{folder}/{n}" for folder, _ in VARIANTS.values()
                    for n in sorted(TOKENIZER_FILES + ["config.json", "model.safetensors"])]
                 + ["ref-llama-cpp.safetensors", "ref.safetensors", "shared.gguf"]):
        files[name] = file_entry(os.path.join(OUT, name))
    tokenizer_arrays = ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type")
    for stem, (folder, _) in VARIANTS.items():
        names, kv, tensors, merged = written[stem]
        c = CONFIGS[stem]
        gguf_info[f"{stem}.gguf"].update({
            "writer_check": writer_check,
            "metadata": {k: v[1] for k, v in kv.items() if k not in tokenizer_arrays},
            "metadata_types": {k: "/".join(v[0]) for k, v in kv.items()},
            "tokenizer_arrays": f"{', '.join(k for k in tokenizer_arrays if k in kv)}: tiny-llama/f32.gguf's "
                                f"(convert_hf_to_gguf.py wrote them from the same files); all tokenizer.* keys are "
                                f"copied from there in order",
            "moe_keys": "TextModel.set_gguf_parameters: expert_count = num_local_experts, expert_used_count = "
                        "num_experts_per_tok, feed_forward_length = intermediate_size (the experts' width, which "
                        "llama.cpp sizes them by); GraniteMoeModel.set_gguf_parameters: "
                        "expert_shared_feed_forward_length = shared_intermediate_size, after GraniteModel's four "
                        "scales, only when it is truthy (so not in f32.gguf); no expert_feed_forward_length (the "
                        "converter writes none for granitemoe and llama.cpp's granitemoe does not read it), no "
                        "expert_gating_func / expert_weights_scale / expert_weights_norm (llama.cpp's granite graph "
                        "hard-codes softmax gating and the normalization)",
            "scale_keys": "GraniteModel.set_gguf_parameters, after LlamaModel's keys: "
                          "attention.scale = attention_multiplier, embedding_scale = embedding_multiplier, "
                          "residual_scale = residual_multiplier, logit_scale = logits_scaling (float32), each only "
                          "when the value is truthy",
            "no_keys": "no rope.scaling.finetuned (granitemoe's loader does not read it; RoPE in every layer), no "
                       "key_length / value_length (no head_dim)",
            "type_counts": {"F32": len(tensors)},
            "tensor_shapes_ggml": {n: shape for n, _, shape, _ in tensors},
            "tensor_sources": tensor_sources(c, names, merged),
            "permuted_tensors": {n: {"n_head": c["num_attention_heads"],
                                     "n_head_kv": c["num_attention_heads"] if ".attn_q." in n
                                     else c["num_key_value_heads"]}
                                 for n in names if ".attn_q." in n or ".attn_k." in n},
        })
    weights_info = qwen3.weights_info(weights["shared"], SEED, MATRIX_SCALE, NORM_SCALE,
                                      f"every norm weight (input_layernorm, post_attention_layernorm, model.norm) "
                                      f"1 + {NORM_SCALE} * N(0,1)")
    weights_info["hf_tensors"] = {k: list(v.shape) for k, v in sorted(weights["f32"].items())}
    weights_info["hf_shared_extra_tensors"] = {k: list(v.shape) for k, v in sorted(weights["shared"].items())
                                               if k not in weights["f32"]}
    weights_info["init"].update({
        "rng": f"numpy.random.default_rng({SEED}) (PCG64), one standard_normal(shape) float64 draw per tensor of hf/ "
               f"in sorted name order, then cast to float32; hf-shared/'s shared_mlp.* tensors likewise from "
               f"numpy.random.default_rng([{SEED}, {SHARED_STREAM}]) (a second, independent stream), in sorted name "
               f"order, so that every other tensor of hf-shared/ equals hf/'s byte for byte",
        "weights": f"every matrix (embed_tokens, q/k/v/o_proj, input_linear, output_linear, shared_mlp.*) "
                   f"{MATRIX_SCALE} * N(0,1) (tiny-granite's scale) except every block_sparse_moe.router.layer: "
                   f"{ROUTER_SCALE} * N(0,1) (the float32 {MATRIX_SCALE} draw x 2, exact)",
        "router_scale": ROUTER_SCALE,
        "scales_why": "tiny-granite's matrix scale (0.25: the embeddings x 12 dominate the residual stream and the "
                      "blocks' outputs enter it x 0.22; smaller matrices would hide the attention and the experts); "
                      "routers x 2 make the routing decisive (router logits of standard deviation about 4) with "
                      "top-2 margins that survive float32",
        "seed_choice": f"SEED {SEED}: the first seed from 0 that meets the routing criteria ({ROUTING_CRITERIA}); with "
                       f"33 positions x 4 layers x 2 variants most seeds have a 2nd / 3rd router logit gap below "
                       f"{MIN_ROUTER_MARGIN} somewhere",
    })
    active = n_params["f32"] - CONFIG["num_hidden_layers"] * (n_experts - CONFIG["num_experts_per_tok"]) * 3 * CONFIG[
        "hidden_size"] * CONFIG["intermediate_size"]
    ref_json = {
        "model": NAME,
        "description": "tiny random-weight GraniteMoeForCausalLM (Granite 3.x MoE) and GraniteMoeSharedForCausalLM "
                       "(hf-shared/: the same weights plus a shared expert of width 48 in every layer): Granite's "
                       "graph (GQA 4/2, head_dim 16, rotate-half RoPE, RMSNorm x w, no biases, tied embeddings; "
                       "embedding_multiplier 12, attention_multiplier 0.125, residual_multiplier 0.22, logits_scaling "
                       "8) with a sparse MoE block in every layer (8 SwiGLU experts of width 32 with fused gate|up "
                       "input_linear, top 2 of the router logits, softmax over those 2); tiny-llama's SentencePiece "
                       "tokenizer files",
        "text": TEXT,
        "input_ids": ids,
        "T": T,
        "tokenizer": {
            "type": "SentencePiece BPE (byte fallback, dummy prefix)",
            "adds_bos": True,
            "bos_token_id": CONFIG["bos_token_id"],
            "eos_token_id": CONFIG["eos_token_id"],
            "vocab_size": CONFIG["vocab_size"],
            "reference_tokenizer": "tokenizers (hf/tokenizer.json), libllama (f32.gguf) and libllama "
                                   "(tiny-llama/f32.gguf), equal ids; hf-shared/'s tokenizer files are the same bytes "
                                   "and shared.gguf's tokenizer.* keys f32.gguf's",
            "copied_from": "tiny-llama/hf, unchanged, into hf/ and hf-shared/ (" + ", ".join(TOKENIZER_FILES) + ")",
            "check": tokenizer_check,
        },
        "config": qwen3.config_info(
            dict(SHARED_CONFIG, head_dim=head_dim(CONFIG)),
            ("model_type", "architectures", "vocab_size", "hidden_size", "intermediate_size",
             "shared_intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
             "head_dim", "max_position_embeddings", "rope_theta", "rope_scaling", "rms_norm_eps", "hidden_act",
             "attention_bias", "tie_word_embeddings", "bos_token_id", "eos_token_id", "num_local_experts",
             "num_experts_per_tok", "embedding_multiplier", "attention_multiplier", "residual_multiplier",
             "logits_scaling"), n_params["f32"],
            variants_note="hf/config.json: model_type granitemoe, GraniteMoeForCausalLM, no shared_intermediate_size "
                          "(GraniteMoeConfig has none); hf-shared/config.json: model_type granitemoeshared, "
                          "GraniteMoeSharedForCausalLM, shared_intermediate_size 48; otherwise the same keys and "
                          "values (the values above are hf-shared/'s)",
            head_dim_note="not in config.json (GraniteMoeConfig has none): hidden / heads",
            intermediate_size_note="each routed expert's width (input_linear holds 2 x 32 rows per expert: gate, "
                                   "then up); the converter writes it as feed_forward_length, which llama.cpp sizes "
                                   "the experts by",
            shared_intermediate_size_note="the shared expert's width (48, not 32 on purpose); GraniteMoeSharedConfig's "
                                          "default 0 means no shared expert",
            multipliers_note="tiny-granite's: Granite 3 2B's embedding_multiplier, residual_multiplier and "
                             "logits_scaling; attention_multiplier 0.125 is not 1/sqrt(head_dim) = 0.25",
            tie_word_embeddings_note="written (the default is false); no lm_head.weight",
            default_attention_scale=head_dim(CONFIG) ** -0.5,
            n_params_shared=n_params["shared"],
            active_params_per_token=active,
            active_params_per_token_shared=active + n_params["shared"] - n_params["f32"]),
        **weights_info,
        "routing": {"criteria": ROUTING_CRITERIA, "min_router_margin": MIN_ROUTER_MARGIN, "seed_search": search,
                    **routing["f32"], "shared": routing["shared"]},
        "ref_safetensors_keys": {"ref.safetensors": rope.tensor_keys(ref_tensors),
                                 "ref-llama-cpp.safetensors": rope.tensor_keys(llama_tensors)},
        "ref_safetensors_note": "`logits`, `hidden_last`, `router_topk.{layer}`: hf/ (f32.gguf's model); "
                                "`shared.*`: hf-shared/ (shared.gguf's); router_topk.L int64 [T, 2]: the two experts "
                                "layer L chose at each position, the larger router logit (and weight) first",
        "hidden_last": "both references: the final norm's output (model.norm / output_norm), before the LM head and "
                       "the division by logits_scaling; llama.cpp's result_norm is taken there too",
        "llama_cpp": rope.llama_cpp_info(
            T, "each GGUF run twice with bit-identical outputs", harness_check,
            runs={stem: {"model": f"{stem}.gguf", "freq_scale_train": run["freq_scale_train"],
                         "rope_log": run["rope_log"], "rope_metadata_log": run["rope_metadata_log"],
                         "warnings": run["warnings"], "wide_log": wide[stem]} for stem, run in runs.items()},
            warnings_note=WARNINGS_NOTE,
            wide_log_method=f"one more run per GGUF with the harness's log filter widened to lines mentioning "
                            f"{', '.join(LOG_WORDS)} (qwen3.yarn_log_harness): libllama's print_info lines and the "
                            f"loader's metadata dump of those keys, whitespace collapsed; its outputs equal the runs' "
                            f"bit for bit",
            expected_in_wide_log=EXPECTED_LOG,
            runtime_notes="granitemoe in llama.cpp (src/models/granite-moe.cpp: load_arch_hparams and "
                          "load_arch_tensors; the graph is granite.cpp's): load_arch_hparams reads "
                          "attention.layer_norm_rms_epsilon, logit_scale (required), residual_scale, embedding_scale "
                          "and attention.scale (optional, 0 = not applied) and expert_shared_feed_forward_length "
                          "(optional, n_ff_shexp, default 0), not rope.scaling.finetuned (RoPE everywhere); with "
                          "expert_count > 0 every layer must have ffn_gate_inp [n_embd, n_expert], ffn_down_exps and "
                          "ffn_up_exps of width feed_forward_length (ffn_gate_exps is optional) and, when n_ff_shexp "
                          "> 0, ffn_gate_shexp / ffn_up_shexp [n_embd, n_ff_shexp] and ffn_down_shexp; the graph: "
                          "token embeddings x f_embedding_scale, per layer NORM RoPE attention with kq_scale = "
                          "f_attention_scale, x f_residual_scale + residual, RMSNorm, build_moe_ffn(..., LLM_FFN_SILU, "
                          "norm_w = true, expert_weights_scale (0: none), LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX): "
                          "soft_max of ffn_gate_inp x cur over all experts, argsort_top_k, the chosen probabilities "
                          "divided by their sum (clamped below at 6.1e-5), mul_mat_id of up / gate, swiglu, "
                          "mul_mat_id of down, weighted sum; + build_ffn(up_shexp, gate_shexp, down_shexp, SILU, PAR) "
                          "when n_ff_shexp > 0; x f_residual_scale + residual; output_norm (result_norm), LM head "
                          "(token_embd duplicated: tied), x 1/f_logit_scale"),
        "numpy_check": numpy_check,
        "gguf": gguf_info,
        "made_by": "scripts/make-granitemoe-fixture.py (configs, tokenizer copies, weights, GGUFs, skeletons via "
                   "scripts/make-gguf-skeletons.py's make, ref.safetensors), scripts/llama-cpp-logits.c "
                   "(ref-llama-cpp.safetensors), scripts/llama-cpp-tokenize.c (the tokenizer check)",
        "files": files,
        "tools": dict(rope.tool_versions(args.cc, commit), tokenizers=metadata.version("tokenizers")),
    }
    rope.write_ref(OUT, NAME, ref_json, say)


if __name__ == "__main__":
    main()
