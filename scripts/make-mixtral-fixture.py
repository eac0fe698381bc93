#!/usr/bin/env python3
"""Make Tests/Fixtures/models/tiny-mixtral/: a tiny random-weight Mixtral, its GGUFs, and reference outputs.

Run by the fixtures' maintainer:

    scripts/make-mixtral-fixture.py --llama-cpp DIR      (or LLAMA_CPP_DIR=DIR scripts/make-mixtral-fixture.py)

It needs what scripts/make-qwen3moe-fixture.py needs (Python 3 with numpy, gguf 0.19.0, safetensors and tokenizers,
no torch or transformers; a C compiler; a built llama.cpp at commit 0c1e57098 with build/bin/llama-quantize), and
tiny-llama's committed files and its f32.gguf (rebuilt first if missing). It imports
scripts/make-qwen3moe-fixture.py and reuses its MoE helpers with Mixtral's layout (MIXTRAL_LAYOUT: the random
weights and their scales, the experts stacked as the converter stacks them, the f32 / q8_0 GGUF checks,
llama-quantize, the dequantized weights, the float64 MoE block and pass, the routing statistics and the seed search)
and, through it, scripts/make-phi3-fixture.py's (the three-way tokenizer check, the libllama runs),
scripts/make-gemma3-fixture.py's (the feature-effect and agreement measures), scripts/make-qwen3-fixture.py's
(config writer, the converter's tensors, general.* and TextModel keys, the tensor check, ref.json parts),
scripts/make-rope-scaling-fixtures.py's (harness driver and check, the float64 Llama pass, GGUF summary, JSON and
file-map writers, command line, tool versions), scripts/make-gguf-skeletons.py's `make` and
scripts/rebuild-gguf-fixtures.py's atomic writer, hashes and Llama row permutation. It also imports
scripts/make-smollm3-fixture.py for LlamaModel's part of the converter (its GGUF writer: Q/K rows permuted,
TextModel's keys then LlamaModel's vocab_size and rope.dimension_count, tiny-llama's tokenizer keys; and its
check of that writer against tiny-llama/f32.gguf).

Mixtral (transformers' MixtralForCausalLM, model_type mixtral) is Llama's graph (RMSNorm x w, rotate-half RoPE, GQA,
no biases, no q/k norm, untied LM head) whose every feed-forward block is a sparse mixture of experts
(MixtralSparseMoeBlock): router logits = block_sparse_moe.gate(x) ([num_local_experts, hidden], no bias), softmax
over the experts, the top num_experts_per_tok probabilities, always divided by their sum, weight the SwiGLU experts'
outputs: sum_k w_k w2_e(silu(w1_e x) * w3_e x) (w1 = gate, w3 = up, w2 = down). llama.cpp has no mixtral
architecture: convert_hf_to_gguf.py's LlamaModel converts it as `llama` with llama.expert_count /
expert_used_count, the experts stacked into ffn_{gate,down,up}_exps and the router as ffn_gate_inp, and
src/models/llama.cpp runs build_moe_ffn (softmax gating, norm_w true, no weight scale) wherever a layer has
ffn_gate_inp.

What it does, in the folder Tests/Fixtures/models/tiny-mixtral/:
  1. `hf/config.json`: MixtralForCausalLM / mixtral with the bytes transformers 4.57.6 writes for this MixtralConfig
     (sorted keys, indent 2): hidden 64, 4 layers, 4 heads / 2 KV heads, head_dim 16 (written), vocab 512,
     max_position_embeddings 256, rope_theta 1e6, rms_norm_eps 1e-5, silu, num_local_experts 8,
     num_experts_per_tok 2, intermediate_size 32 (each expert's width: Mixtral has no dense FFN), no sliding window
     (sliding_window null), untied LM head (tie_word_embeddings false, written), bos 1 / eos 2 (tiny-llama's),
     router_jitter_noise 0. It also goes to Fuzz/corpus/hf-config/tiny-mixtral.json (a fuzz seed). The tokenizer
     files (tokenizer.model, tokenizer.json, tokenizer_config.json, special_tokens_map.json,
     generation_config.json) are tiny-llama/hf's, copied unchanged: SentencePiece with BOS (LlamaModel.set_vocab
     gives the same tokenizer.* keys as tiny-llama's converter run).
  2. `hf/model.safetensors`: float32, Hugging Face names (`lm_head.weight`, `model.embed_tokens.weight`,
     `model.layers.{i}.self_attn.{q,k,v,o}_proj.weight`, `block_sparse_moe.gate.weight` [8, 64] (the router),
     `block_sparse_moe.experts.{e}.w1.weight` / `w3.weight` [32, 64], `w2.weight` [64, 32], `input_layernorm`,
     `post_attention_layernorm`, `model.norm.weight`), metadata {"format": "pt"}. The qwen3moe script's scheme:
     numpy.random.default_rng(SEED) draws one standard_normal(shape) per tensor, in sorted name order; matrices are
     0.0625 x that, except the embeddings: 0.25 x that, and the routers: 0.5 x that (the float32 0.0625 draw x 4
     and x 8, exact); every norm weight 1 + 0.2 x that. SEED (151) is the first seed from 0 whose float64 pass meets
     ROUTING_CRITERIA (checked in step 8: every seed below misses them).
  3. `f32.gguf`: written with gguf-py's GGUFWriter the way llama.cpp's convert_hf_to_gguf.py (LlamaModel,
     conversion/llama.py, at 0c1e57098) writes an `--outtype f32` conversion of hf/: the safetensors tensors in
     sorted name order, q_proj / k_proj rows permuted (LlamaModel.permute with n_head / n_head_kv: llama.cpp's
     NORM RoPE rotates adjacent pairs), except that each layer's 24 expert tensors become three 3-D tensors,
     `torch.stack`ed over the experts in LlamaModel.modify_tensors when the block's last one (experts.7.w3)
     arrives: for w1, w2, w3 in that order `ffn_gate_exps` [64, 32, 8] (ggml shape), `ffn_down_exps` [32, 64, 8],
     `ffn_up_exps` [64, 32, 8] (before the router `ffn_gate_inp` [64, 8]); renamed by gguf-py's llama name map,
     all F32, `output.weight` first (lm_head sorts first). Then general.type, name, size_label ("8x..."); TextModel's
     keys (block_count, context_length, embedding_length, feed_forward_length 32, head_count, head_count_kv,
     rope.freq_base, layer_norm_rms_epsilon, expert_count 8, expert_used_count 2, key_length 16, value_length 16,
     general.file_type), LlamaModel's vocab_size and rope.dimension_count; quantization_version; then
     tiny-llama/f32.gguf's tokenizer.* keys copied in order. The writer (scripts/make-smollm3-fixture.py's) checks
     itself first: with architecture llama on tiny-llama/hf it must give tiny-llama/f32.gguf (which
     convert_hf_to_gguf.py wrote) byte for byte. The file is read back with GGUFReader, checked, and git-ignored.
     (Checked once by hand, not by this script: the real converter, run on hf/ with --outtype f32 --no-lazy
     --model-name tiny-mixtral and a numpy stand-in for its few eager torch calls, torch.stack included, writes
     f32.gguf byte for byte; see the folder's README.)
  4. `q8_0.gguf`: `llama-quantize f32.gguf q8_0.gguf Q8_0` (DIR/build/bin): every matrix Q8_0 (token_embd,
     output, attention, the 3-D expert tensors), the routers and the norms F32. Read back and checked as the
     qwen3moe script checks its own: the metadata with general.quantization_version and general.file_type (now 7)
     last, the tensors in llama_model_loader's order, the F32 ones unchanged and the Q8_0 ones equal to
     scripts/rebuild-gguf-fixtures.py's to_q8_0 of f32.gguf's (permuted) data. Git-ignored as well.
  5. `gguf-skeletons/f32.skeleton` and `q8_0.skeleton` (scripts/make-gguf-skeletons.py's `make`: identity,
     llama_rope_permute for attn_q / attn_k, `stack` for the expert tensors, type Q8_0 in q8_0's: format version 4),
     so scripts/rebuild-gguf-fixtures.py rebuilds both GGUFs byte for byte from hf/model.safetensors.
  6. compiles scripts/llama-cpp-logits.c and scripts/llama-cpp-tokenize.c against DIR. Tokenizer check: TEXT
     tokenized by the `tokenizers` library from hf/tokenizer.json, by libllama from f32.gguf and by libllama from
     tiny-llama/f32.gguf must give the same ids, with and without BOS; those ids (with BOS) are the model input.
     Harness check: tiny-llama/f32.gguf on tiny-llama's ids must reproduce its committed llama.cpp reference. Then
     f32.gguf and q8_0.gguf run twice each (bit-identical outputs required; libllama must log no warning but
     EXPECTED_WARNINGS, and rope type 0, NORM).
  7. `ref-llama-cpp.safetensors`: `input_ids` (int64 [1, T]), `logits.f32`, `logits.q8_0` [1, T, 512],
     `hidden_last.f32`, `hidden_last.q8_0` [1, T, 64] (llama.cpp's `result_norm`), float32.
  8. an independent float64 numpy forward pass with transformers' MixtralForCausalLM math (the qwen3moe script's
     numpy_qwen3moe with Mixtral's layout: rope.numpy_llama's Llama attention with moe_ffn as its feed-forward
     block). Routing: in every layer and at every position the gap between the router's 2nd and 3rd largest logits
     must be at least MIN_ROUTER_MARGIN and every expert must be chosen at least once per layer (ROUTING_CRITERIA);
     every seed below SEED must miss these criteria. The pass must match libllama's f32.gguf run to
     NUMPY_TOLERANCE; its agreement with the q8_0.gguf run is recorded, and so is that of the same pass on
     q8_0.gguf's dequantized weights (the experts split again, Q/K rows permuted back). Every MoE feature left out
     or changed must move the logits by more than MIN_FEATURE_EFFECT: no top-k normalization, top-1 or top-3
     instead of top-2, gate (w1) and up (w3) swapped, the experts in reversed order (the routing unchanged), and the
     GGUF's permuted Q/K rows taken for HF's (rotate-half RoPE on them); and the top-k softmax (a softmax over the
     two largest router logits) must give the same pass (to 1e-12). Its outputs, rounded to float32, are
     `ref.safetensors` (`input_ids`, `logits`, `hidden_last`, `router_topk.{layer}` (int64 [T, 2], the chosen
     experts by weight descending)).
  9. `ref.json`: text and ids, the tokenizer check, config summary, seed and scales, the routing statistics, the
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


# The Qwen3-MoE fixture script: the MoE helpers; through it the Phi-3, Gemma 3, Qwen3 and RoPE-scaling fixture
# scripts' (tokenizer check, libllama runs, measures, config writer, harness, float64 pass, skeletons, files map,
# JSON writers). The SmolLM3 fixture script: LlamaModel's GGUF writer (Q/K rows permuted, vocab_size,
# rope.dimension_count) and its Q/K permutation.
qwen3moe = _load("make-qwen3moe-fixture.py", "make_qwen3moe_fixture")
smollm3 = _load("make-smollm3-fixture.py", "make_smollm3_fixture")
phi3, gemma3, qwen3, rope = qwen3moe.phi3, qwen3moe.gemma3, qwen3moe.qwen3, qwen3moe.rope
rebuild, skeletons = qwen3moe.rebuild, qwen3moe.skeletons
write_json, file_entry, max_abs = rope.write_json, rope.file_entry, rope.max_abs
effect, agreement, top2_margins = gemma3.effect, gemma3.agreement, gemma3.top2_margins

REPO, MODELS = rope.REPO, rope.MODELS
NAME = "tiny-mixtral"
OUT = os.path.join(MODELS, NAME)
TOKENIZER_BASE = "tiny-llama"
TOKENIZER_FROM = phi3.TOKENIZER_FROM    # tiny-llama
TOKENIZER_FILES = phi3.TOKENIZER_FILES  # generation_config.json, special_tokens_map.json, tokenizer.json, ...
PROG = "mixtral-fixture"

SEED = 151                                # the first seed from 0 that meets ROUTING_CRITERIA (see the header)
MATRIX_SCALE = qwen3moe.MATRIX_SCALE      # 0.0625: every matrix but the embeddings and the routers
EMBED_SCALE = qwen3moe.EMBED_SCALE        # 0.25: embed_tokens
ROUTER_SCALE = qwen3moe.ROUTER_SCALE      # 0.5: block_sparse_moe.gate, the routers
NORM_SCALE = qwen3moe.NORM_SCALE          # 0.2: norm weights 1 + 0.2 N(0, 1)
# A colon, digits, a newline, a double space and non-ASCII letters (byte fallback); its ids (with BOS) are the model
# input: 32 of them.
TEXT = "Mixtral: 2 of 8 experts.\nCafé  naïve"
NUMPY_TOLERANCE = qwen3moe.NUMPY_TOLERANCE          # 1e-4: max |difference| float64 pass vs libllama (f32.gguf)
MIN_FEATURE_EFFECT = qwen3moe.MIN_FEATURE_EFFECT    # 0.05: max |Δlogit| each left-out or changed feature must cause
MIN_ROUTER_MARGIN = qwen3moe.MIN_ROUTER_MARGIN      # 0.05: the 2nd / 3rd router logit gap, every layer and position
EQUIVALENCE_TOLERANCE = qwen3moe.EQUIVALENCE_TOLERANCE  # 1e-12: the top-k softmax pass vs the normalized pass
ROUTING_CRITERIA = (f"in the float64 pass, every layer and every position: router logit gap between the 2nd and "
                    f"3rd largest >= {MIN_ROUTER_MARGIN}; every expert chosen by at least one position in every layer")
QUANT_TYPE = qwen3moe.QUANT_TYPE          # Q8_0
# libllama's one warning on every run of the harness: the pooling type the harness asks for (as for every model).
EXPECTED_WARNINGS = qwen3moe.EXPECTED_WARNINGS
WARNINGS_NOTE = qwen3moe.WARNINGS_NOTE
TOKENIZER_NOTE = ("tiny-llama's tokenizer files, unchanged: Llama-style SentencePiece with a dummy prefix ('▁' before "
                  "the first word) and BOS; the GGUF's tokenizer.* keys are tiny-llama/f32.gguf's "
                  "(LlamaModel.set_vocab wrote them from the same files), add_space_prefix true included")

# Mixtral's names and keys for the qwen3moe script's MoE helpers (see its QWEN3MOE_LAYOUT).
MIXTRAL_LAYOUT = {
    "router": "block_sparse_moe.gate",
    "experts": "block_sparse_moe.experts",
    "gate": "w1", "up": "w3", "down": "w2",
    "merge_order": ["w1", "w2", "w3"],    # LlamaModel.modify_tensors: `for wid in ["w1", "w2", "w3"]`
    "n_experts": "num_local_experts",
    "width": "intermediate_size",
    "qk_norm": False,
}

# As transformers 4.57.6 writes MixtralConfig(vocab_size=512, hidden_size=64, intermediate_size=32,
# num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=256,
# rope_theta=1e6, rms_norm_eps=1e-5, hidden_act="silu", tie_word_embeddings=False, sliding_window=None,
# num_local_experts=8, num_experts_per_tok=2, bos_token_id=1, eos_token_id=2, initializer_range=0.0625) with
# architectures ["MixtralForCausalLM"] and dtype float32 (save_pretrained: sorted keys, indent 2; checked once with
# transformers 4.57.6, see the README). MixtralConfig has no rope_scaling, attention_bias or norm_topk_prob; it
# writes head_dim (None would be written null) and sliding_window null; tie_word_embeddings false differs from
# PretrainedConfig's default, so it is written; pad_token_id (None) is not.
CONFIG = {
    "architectures": ["MixtralForCausalLM"],
    "attention_dropout": 0.0,
    "bos_token_id": 1,
    "dtype": "float32",
    "eos_token_id": 2,
    "head_dim": 16,
    "hidden_act": "silu",
    "hidden_size": 64,
    "initializer_range": MATRIX_SCALE,
    "intermediate_size": 32,
    "max_position_embeddings": 256,
    "model_type": "mixtral",
    "num_attention_heads": 4,
    "num_experts_per_tok": 2,
    "num_hidden_layers": 4,
    "num_key_value_heads": 2,
    "num_local_experts": 8,
    "output_router_logits": False,
    "rms_norm_eps": 1e-05,
    "rope_theta": 1000000.0,
    "router_aux_loss_coef": 0.001,
    "router_jitter_noise": 0.0,
    "sliding_window": None,
    "tie_word_embeddings": False,
    "transformers_version": "4.57.6",
    "use_cache": True,
    "vocab_size": 512,
}

# The converter's GGUF tensor names of a Mixtral block, in its order: the HF names' sorted order with the 24 expert
# tensors replaced by the three stacked ones, in LlamaModel's w1, w2, w3 order (block_sparse_moe.experts.{w1,w2,w3},
# block_sparse_moe.gate, input_layernorm, post_attention_layernorm, self_attn.k_proj, o_proj, q_proj, v_proj).
LAYER_TENSORS = ["ffn_gate_exps", "ffn_down_exps", "ffn_up_exps", "ffn_gate_inp", "attn_norm", "ffn_norm", "attn_k",
                 "attn_output", "attn_q", "attn_v"]


def say(text):
    print(f"{PROG}: {text}", flush=True)


def rel(path):
    return os.path.relpath(path, REPO)


# --- the model ------------------------------------------------------------------------------------------------

def numpy_mixtral(w, c, ids, **moe):
    """(logits [T, vocab], hidden_last [T, hidden], routing per layer) of MixtralForCausalLM in float64, transformers'
    math: the qwen3moe script's numpy_qwen3moe with MIXTRAL_LAYOUT (rope.numpy_llama: RMSNorm x w, eps 1e-5; q_proj /
    k_proj / v_proj, rotate-half RoPE with inv_freq = theta^(-arange(0, d, 2) / d), no q/k norm; scores x d^-0.5,
    causal, GQA; o_proj; MixtralSparseMoeBlock as every feed-forward block: softmax router, top 2, divided by their
    sum, w2(silu(w1 x) * w3 x); final norm; lm_head, untied). `moe`: moe_ffn's variants."""
    return qwen3moe.numpy_qwen3moe(w, c, ids, layout=MIXTRAL_LAYOUT, **moe)


def unpermute(c):
    """The inverse of smollm3.gguf_tensor(c) (LlamaModel.permute): llama.cpp's interleaved Q/K rows back to HF's
    rotate-half order (for the weights dequantized from q8_0.gguf)."""
    n_head, n_kv = c["num_attention_heads"], c["num_key_value_heads"]

    def untensor(hf_name, w):
        if not hf_name.endswith(("self_attn.q_proj.weight", "self_attn.k_proj.weight")):
            return w
        heads = n_head if hf_name.endswith("self_attn.q_proj.weight") else n_kv
        return w.reshape(heads, w.shape[0] // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    return untensor


def expected_metadata(c):
    """{key: value} of the GGUF's non-tokenizer keys in the converter's order (as GGUFReader reads them); None:
    checked separately."""
    f32 = lambda x: float(np.float32(x))  # noqa: E731
    a = "llama."
    return {
        "general.architecture": "llama", "general.type": "model", "general.name": NAME, "general.size_label": None,
        a + "block_count": c["num_hidden_layers"], a + "context_length": c["max_position_embeddings"],
        a + "embedding_length": c["hidden_size"], a + "feed_forward_length": c["intermediate_size"],
        a + "attention.head_count": c["num_attention_heads"],
        a + "attention.head_count_kv": c["num_key_value_heads"],
        a + "rope.freq_base": f32(c["rope_theta"]),
        a + "attention.layer_norm_rms_epsilon": f32(c["rms_norm_eps"]),
        a + "expert_count": c["num_local_experts"], a + "expert_used_count": c["num_experts_per_tok"],
        a + "attention.key_length": c["head_dim"], a + "attention.value_length": c["head_dim"],
        "general.file_type": 0, a + "vocab_size": c["vocab_size"], a + "rope.dimension_count": c["head_dim"],
        "general.quantization_version": 2,
    }


def expected_gguf_names(c):
    """The converter's GGUF tensor names in file order, spelled out independently of gguf-py's name map."""
    return ["output.weight"] + qwen3.expected_gguf_names(c, LAYER_TENSORS)


# --- driver ---------------------------------------------------------------------------------------------------

def main():
    args, llama_cpp, commit = rope.parse_arguments(NAME, PROG, say)

    say(rebuild.rebuild(MODELS, TOKENIZER_BASE, "f32", False, False, {}))
    base_ref = json.load(open(os.path.join(TOKENIZER_FROM, "ref.json"), encoding="utf-8"))
    base_config = json.load(open(os.path.join(TOKENIZER_FROM, "hf", "config.json"), encoding="utf-8"))
    generation_config = json.load(open(os.path.join(TOKENIZER_FROM, "hf", "generation_config.json"),
                                       encoding="utf-8"))
    tok_gguf = os.path.join(TOKENIZER_FROM, "f32.gguf")
    hf_dir = os.path.join(OUT, "hf")
    os.makedirs(hf_dir, exist_ok=True)
    os.makedirs(os.path.join(OUT, "gguf-skeletons"), exist_ok=True)

    # 1. config and tokenizer.
    config = dict(CONFIG)
    for key in ("bos_token_id", "eos_token_id", "vocab_size"):
        assert config[key] == base_config[key], key
    for key in ("bos_token_id", "eos_token_id"):
        assert config[key] == generation_config[key], key
    qwen3.write_config(NAME, config)
    for name in TOKENIZER_FILES:
        qwen3.copy_file(os.path.join(TOKENIZER_FROM, "hf", name), os.path.join(hf_dir, name))
        assert rebuild.sha256_file(os.path.join(hf_dir, name)) == base_ref["files"][f"hf/{name}"]["sha256"], name

    # 2. weights.
    weights = qwen3moe.random_weights(config, SEED, MIXTRAL_LAYOUT)
    n_params = qwen3.save_weights(os.path.join(hf_dir, "model.safetensors"), weights, say)

    # 3. GGUF. First the writer's own check: with architecture llama on tiny-llama/hf it must give the converter's
    # tiny-llama/f32.gguf (LlamaModel without experts: the same code path without the MoE parts).
    permute = smollm3.gguf_tensor(config)
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
    gguf_path = os.path.join(OUT, "f32.gguf")
    merged = qwen3moe.converter_tensors(config, weights, MIXTRAL_LAYOUT)
    names, total = smollm3.write_gguf(gguf_path, gguf.MODEL_ARCH.LLAMA, NAME, config, merged, tok_gguf)
    assert total == n_params, (total, n_params)
    kv, tensors = qwen3moe.check_gguf(gguf_path, config, weights, names, tok_gguf, want=expected_metadata(config),
                                      gguf_names=expected_gguf_names(config), layout=MIXTRAL_LAYOUT, tensor=permute)
    permuted = [n for n, s in zip(names, sorted(merged)) if not np.array_equal(permute(s, merged[s]), merged[s])]
    assert permuted == [f"blk.{i}.attn_{x}.weight" for i in range(config["num_hidden_layers"]) for x in "kq"], permuted
    say(f"{rel(gguf_path)}: {os.path.getsize(gguf_path):,} bytes, {len(tensors)} tensors, size label "
        f"{kv['general.size_label'][1]}, checked with GGUFReader (tokenizer keys = tiny-llama/f32.gguf's)")

    # 4. q8_0.gguf: llama-quantize of f32.gguf, checked against the qwen3moe script's expectations and
    # rebuild.to_q8_0.
    q8_path = os.path.join(OUT, "q8_0.gguf")
    quantize_log = qwen3moe.quantize(llama_cpp, gguf_path, q8_path)
    q8_kv, q8_tensors, q8_counts = qwen3moe.check_quantized(q8_path, kv, tensors, config, weights, MIXTRAL_LAYOUT,
                                                            permute)
    say(f"{rel(q8_path)}: {os.path.getsize(q8_path):,} bytes, types {q8_counts}, checked (Q8_0 bytes = "
        f"rebuild.to_q8_0's)")

    # 5. skeletons: ref.json must record the GGUFs' and the source's sha256 first (make() checks them).
    gguf_info = {
        "f32.gguf": {
            "made_by": "scripts/make-mixtral-fixture.py: gguf-py 0.19.0 GGUFWriter, as convert_hf_to_gguf.py "
                       "--outtype f32 --model-name tiny-mixtral (llama.cpp 0c1e57098, LlamaModel, architecture "
                       "llama) writes hf/: tensors in sorted HF name order with attn_q / attn_k rows permuted "
                       "(LlamaModel.permute) and each layer's experts stacked into ffn_{gate,down,up}_exps "
                       "(torch.stack over the experts of w1, w2, w3), all F32; TextModel's and LlamaModel's keys; "
                       "tokenizer.* keys copied from tiny-llama/f32.gguf",
            **file_entry(gguf_path)},
        "q8_0.gguf": {
            "made_by": f"llama-quantize f32.gguf q8_0.gguf {QUANT_TYPE} (llama.cpp 0c1e57098, build/bin), run by "
                       f"scripts/make-mixtral-fixture.py",
            **file_entry(q8_path)},
    }
    write_json(os.path.join(OUT, "ref.json"), {
        "gguf": gguf_info,
        "files": {n: file_entry(os.path.join(OUT, n)) for n in ("f32.gguf", "q8_0.gguf", "hf/model.safetensors")}}, 1)
    for stem in ("f32", "q8_0"):
        out, header_bytes = skeletons.make(MODELS, NAME, stem)
        say(f"{rel(out)}: {os.path.getsize(out):,} bytes (header {header_bytes:,}), round trip verified")

    # 6. llama.cpp: the tokenizer check, the harness check, then the runs.
    runs = {}
    with tempfile.TemporaryDirectory(prefix=f"{PROG}-") as work:
        tok_exe = rope.build_harness(llama_cpp, args.cc, work, gemma3.TOKENIZE_HARNESS)
        tokenizer_check, ids = phi3.check_tokenizer(tok_exe, llama_cpp, gguf_path, hf_dir, work, text=TEXT,
                                                    prog=PROG, say=say, expected_warnings=EXPECTED_WARNINGS,
                                                    note=TOKENIZER_NOTE, base=TOKENIZER_BASE)
        exe = rope.build_harness(llama_cpp, args.cc, work)
        harness_check, _, _ = rope.check_harness(exe, llama_cpp, TOKENIZER_BASE, base_ref["input_ids"], work, PROG,
                                                 say)
        for stem, path in (("f32", gguf_path), ("q8_0", q8_path)):
            runs[stem] = phi3.llama_cpp_run(exe, llama_cpp, path, ids, work, stem, prog=PROG, say=say,
                                            expected_warnings=EXPECTED_WARNINGS)
            if not any("rope type" in line and "= 0" in line for line in runs[stem]["rope_log"]):
                sys.exit(f"{PROG}: libllama does not report rope type 0 (NORM) for llama: {runs[stem]['rope_log']}")
    if ids[0] != config["bos_token_id"] or ids[1:] != tokenizer_check["hf_tokenizers"]["ids_without_special"]:
        sys.exit(f"{PROG}: the tokenizer's special tokens are not BOS alone")

    # 7. the llama.cpp reference.
    T = len(ids)
    input_ids = np.array([ids], dtype=np.int64)
    llama_tensors = {"input_ids": input_ids}
    for stem, run in runs.items():
        llama_tensors[f"logits.{stem}"] = np.ascontiguousarray(run["logits"], dtype=np.float32)
        llama_tensors[f"hidden_last.{stem}"] = np.ascontiguousarray(run["hidden"], dtype=np.float32)
    rope.write_llama_reference(os.path.join(OUT, "ref-llama-cpp.safetensors"), llama_tensors)

    # 8. the independent float64 pass, the routing, and every feature left out or changed.
    w64 = {k: v.astype(np.float64) for k, v in weights.items()}
    ref = numpy_mixtral(w64, config, ids)
    routing = qwen3moe.routing_stats(ref[2], config, MIXTRAL_LAYOUT)
    say(f"routing: min top-2 gap {routing['min_topk_gap']:.4f}, min expert count {routing['min_expert_count']}, per "
        f"layer counts {[s['expert_counts'] for s in routing['layers']]}")
    if not qwen3moe.meets_criteria([routing]):
        sys.exit(f"{PROG}: seed {SEED} does not meet the routing criteria ({ROUTING_CRITERIA})")
    search = qwen3moe.seed_search(ids, configs=(config,), first=SEED, layout=MIXTRAL_LAYOUT, prog=PROG)
    say(f"seed search: {SEED} is the first seed that meets the routing criteria; below it "
        f"{search['seeds_below_with_a_gap_below_the_margin']} miss the margin, "
        f"{search['seeds_below_with_an_unused_expert']} leave an expert unused")
    search["seeds_checked"] = f"0..{SEED}"
    llama = {stem: (run["logits"][0], run["hidden"][0]) for stem, run in runs.items()}
    w_q8 = {k: v.astype(np.float64) for k, v in
            qwen3moe.dequantized_weights(q8_path, config, tensors, weights, MIXTRAL_LAYOUT, unpermute(config)).items()}
    q8_pass = numpy_mixtral(w_q8, config, ids)
    q8_changes = qwen3moe.routing_changes(q8_pass[2], ref[2])
    n_experts = config["num_local_experts"]
    # The GGUF's Q/K rows (permuted for llama.cpp's adjacent-pair RoPE) read as HF's: rotate-half RoPE on them.
    w_gguf_qk = {k: permute(k, v) for k, v in w64.items()}
    features = {
        "no_topk_normalization": ("the top-2 softmax probabilities weight the experts unnormalized (Qwen3-MoE's "
                                  "norm_topk_prob false; Mixtral always normalizes)", w64, dict(norm_topk_prob=False)),
        "top1_instead_of_top2": ("only the most probable expert (weight 1 after normalization)", w64, dict(top_k=1)),
        "top3_instead_of_top2": ("the three most probable experts, normalized over three", w64, dict(top_k=3)),
        "gate_up_swapped": ("silu(w3(x)) * w1(x) instead of silu(w1(x)) * w3(x)", w64, dict(swap_gate_up=True)),
        "experts_reversed": (f"expert e computed with expert {n_experts - 1} - e's weights (the routing unchanged): a "
                             f"wrong expert order in the stacked tensors", w64,
                             dict(expert_order=list(reversed(range(n_experts))))),
        "qk_rows_not_unpermuted": ("the GGUF's attn_q / attn_k rows (LlamaModel.permute's interleaved order) taken for "
                                   "HF's, with rotate-half RoPE: a reader that does not undo the permutation (or "
                                   "a writer that does not apply it)", w_gguf_qk, {}),
    }
    left_out = {}
    for key, (note, w, kw) in features.items():
        variant = numpy_mixtral(w, config, ids, **kw)
        left_out[key] = dict(note=note, **effect(variant[:2], ref[:2]))
    skipped = effect(rope.numpy_llama(w64, config, ids, ffn=lambda layer, x: np.zeros_like(x)), ref[:2])
    topk_softmax = numpy_mixtral(w64, config, ids, softmax_after_topk=True)
    equivalence = {
        "note": "the top-k softmax (the k largest router logits, then a softmax over those k) is the same function "
                "as MixtralSparseMoeBlock's softmax over all experts followed by the top-k and the division by their "
                "sum (llama.cpp's norm_w): p_i / sum_top p_j = exp(l_i) / sum_top exp(l_j)",
        "max_abs_logit_diff": max_abs(topk_softmax[0], ref[0]),
        "max_abs_hidden_last_diff": max_abs(topk_softmax[1], ref[1]),
        "tolerance": EQUIVALENCE_TOLERANCE,
    }
    numpy_check = {
        "method": "float64 numpy forward pass of hf/model.safetensors with transformers' MixtralForCausalLM math "
                  "(numpy_mixtral: rope.numpy_llama's Llama attention with the qwen3moe script's moe_ffn in "
                  "Mixtral's layout as the feed-forward block): per layer h += o_proj(attn(input_layernorm(h))), "
                  "h += moe(post_attention_layernorm(h)); RMSNorm(x) * w, eps 1e-5; rotate-half RoPE (inv_freq = "
                  "1e6^(-arange(0, 16, 2) / 16)), no q/k norm; scores x 16^-0.5, causal, GQA 4/2; moe(x): router "
                  "logits x @ block_sparse_moe.gate.T, softmax over the 8 experts, top 2 by probability, divided by "
                  "their sum, sum of w_k * w2(silu(w1(x)) * w3(x)) over the chosen experts; final norm; LM head "
                  "lm_head.weight (untied)",
        "tolerance": NUMPY_TOLERANCE,
        "vs_llama_cpp": agreement(ref[:2], *llama["f32"]),
        "vs_llama_cpp_q8_0": dict(agreement(ref[:2], *llama["q8_0"]),
                                  note="informational: q8_0.gguf's Q8_0 matrices (and ggml's Q8_0 quantization of "
                                       "the activations they multiply) against the float32 weights' pass"),
        "q8_0_dequantized_pass": {
            "note": "the same float64 pass on q8_0.gguf's weights dequantized by gguf-py (the experts split again, "
                    "the Q/K rows permuted back): what the Q8_0 weights alone change; libllama also rounds the "
                    "activations entering every Q8_0 matrix product to Q8_0 (ggml's vec_dot_type), which this pass "
                    "does not",
            "vs_llama_cpp_q8_0": agreement(q8_pass[:2], *llama["q8_0"]),
            "vs_float_pass": agreement(q8_pass[:2], *ref[:2]),
            "same_routing_as_float_pass": not q8_changes,
            "routing_changes": [{"layer": layer, "position": t, "float_pass_experts": a, "q8_0_pass_experts": b}
                                for layer, t, a, b in q8_changes],
            "routing": qwen3moe.routing_stats(q8_pass[2], config, MIXTRAL_LAYOUT),
        },
        "routing_criteria": ROUTING_CRITERIA,
        "min_top2_logit_margin": min(top2_margins(ref[0])),
        "top2_logit_margins": top2_margins(ref[0]),
        "top2_note": "argmax checks against libllama are only safe where the margin exceeds the tolerance",
        "logit_scale_rms": float(np.sqrt(np.mean(ref[0] ** 2))),
        "logit_max_abs": float(np.max(np.abs(ref[0]))),
        "hidden_last_scale_rms": float(np.sqrt(np.mean(ref[1] ** 2))),
        "float32_rounding": {
            "max_abs_logit_diff_ref_vs_llama_cpp": max_abs(ref[0].astype(np.float32), llama["f32"][0]),
            "max_abs_hidden_last_diff_ref_vs_llama_cpp": max_abs(ref[1].astype(np.float32), llama["f32"][1]),
        },
        "min_feature_effect": MIN_FEATURE_EFFECT,
        "left_out_features": left_out,
        "moe_skipped": dict(skipped, note="informational: every MoE block's output left out"),
        "topk_softmax_equivalence": equivalence,
        "note": "each feature's effect is measured against the pass above; libllama's f32.gguf run agrees with it "
                "far closer than any effect",
    }
    say(f"numpy float64 vs libllama f32: {numpy_check['vs_llama_cpp']}")
    say(f"numpy float64 vs libllama q8_0: {numpy_check['vs_llama_cpp_q8_0']}")
    say(f"q8_0 dequantized pass vs libllama q8_0: {numpy_check['q8_0_dequantized_pass']['vs_llama_cpp_q8_0']}, "
        f"routing changes against the float pass (layer, position, float's, q8_0's): {q8_changes}")
    for key, e in left_out.items():
        say(f"{key}: max |Δlogit| {e['max_abs_logit_diff']:.4g}, rms {e['rms_logit_diff']:.3g}, "
            f"argmax {e['argmax_agree_positions']}/{T}, max |Δhidden| {e['max_abs_hidden_last_diff']:.4g}")
    say(f"moe skipped: max |Δlogit| {skipped['max_abs_logit_diff']:.4g}; top-k softmax vs normalized: "
        f"{equivalence['max_abs_logit_diff']:.3g}")
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
                             save(ref_tensors, metadata={"generator": "scripts/make-mixtral-fixture.py: float64 "
                                                                      "numpy forward pass, rounded to float32"}))

    # 9. ref.json.
    files = {}
    for name in (["f32.gguf", "gguf-skeletons/f32.skeleton", "gguf-skeletons/q8_0.skeleton"]
                 + [f"hf/{n}" for n in sorted(TOKENIZER_FILES + ["config.json", "model.safetensors"])]
                 + ["q8_0.gguf", "ref-llama-cpp.safetensors", "ref.safetensors"]):
        files[name] = file_entry(os.path.join(OUT, name))
    tokenizer_arrays = ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type")
    gguf_info["f32.gguf"].update({
        "writer_check": writer_check,
        "metadata": {k: v[1] for k, v in kv.items() if k not in tokenizer_arrays},
        "metadata_types": {k: "/".join(v[0]) for k, v in kv.items()},
        "tokenizer_arrays": f"{', '.join(k for k in tokenizer_arrays if k in kv)}: tiny-llama/f32.gguf's "
                            f"(convert_hf_to_gguf.py wrote them from the same files); all tokenizer.* keys are "
                            f"copied from there in order",
        "no_keys": "no key says Mixtral: the architecture is llama; nothing says the top-k normalization (llama.cpp's "
                   "llama graph calls build_moe_ffn with norm_w true, softmax gating and no weight scale wherever a "
                   "layer has ffn_gate_inp), router_jitter_noise or sliding_window (null); no "
                   "expert_feed_forward_length: llama.cpp's llama sizes the experts by feed_forward_length",
        "type_counts": {"F32": len(tensors)},
        "tensor_shapes_ggml": {n: shape for n, _, shape, _ in tensors},
        "tensor_sources": {n: qwen3moe.expert_sources(config, MIXTRAL_LAYOUT).get(n, s)
                           for n, s in zip(names, sorted(merged))},
        "stacked_tensors": "ffn_{gate,down,up}_exps: numpy [8, rows, cols] = np.stack of experts 0..7's HF w1 / w2 / "
                           "w3 matrices (LlamaModel.modify_tensors' torch.stack(datas, dim=0), written in the order "
                           "w1, w2, w3); ggml shape [cols, rows, 8], expert e's matrix at ne2 = e",
        "permuted_tensors": {n: {"n_head": config["num_attention_heads"],
                                 "n_head_kv": config["num_attention_heads"] if ".attn_q." in n
                                 else config["num_key_value_heads"]}
                             for n in names if ".attn_q." in n or ".attn_k." in n},
    })
    gguf_info["q8_0.gguf"].update({
        "command": f"llama-quantize f32.gguf q8_0.gguf {QUANT_TYPE}",
        "log_summary": [line for line in quantize_log if "model size" in line or "quant size" in line],
        "metadata": "f32.gguf's keys and values in its order, but general.quantization_version (2) and "
                    "general.file_type, now 7 (MOSTLY_Q8_0), come last: llama-quantize sets them anew",
        "tensor_order": "llama-quantize's, not the converter's: llama_model_loader's weights_map (a std::map with "
                        "weight_name_comparer: by the layer number of blk.N. names, the others first as -1, then by "
                        "name), e.g. output, output_norm, token_embd, blk.0.attn_k, blk.0.attn_norm, ...",
        "type_counts": q8_counts,
        "tensor_types": {n: kind for n, kind, _, _ in q8_tensors},
        "quantization_check": "every Q8_0 tensor's bytes equal scripts/rebuild-gguf-fixtures.py's to_q8_0 (ggml's "
                              "quantize_row_q8_0_ref) of the f32.gguf tensor (Q/K rows permuted); the F32 ones "
                              "(norms, ffn_gate_inp: llama-quantize never quantizes the router) are f32.gguf's bytes",
    })
    weights_info = qwen3.weights_info(weights, SEED, MATRIX_SCALE, NORM_SCALE,
                                      f"every norm weight (input_layernorm, post_attention_layernorm, model.norm) "
                                      f"1 + {NORM_SCALE} * N(0,1)")
    weights_info["init"]["weights"] = (f"every matrix {MATRIX_SCALE} * N(0,1) (lm_head, q/k/v/o_proj, the experts' "
                                       f"w1/w2/w3) except embed_tokens: {EMBED_SCALE} * N(0,1) and every "
                                       f"block_sparse_moe.gate (router): {ROUTER_SCALE} * N(0,1) (the float32 "
                                       f"{MATRIX_SCALE} draw x 4 and x 8, exact)")
    weights_info["init"].update({
        "embed_scale": EMBED_SCALE, "router_scale": ROUTER_SCALE,
        "scales_why": "scripts/make-qwen3moe-fixture.py's scales: embed_tokens x 4 keeps the residual stream "
                      "token-specific, so that the positions spread over the experts in every layer; routers x 8 "
                      "make the routing decisive, with top-2 margins that survive float32",
        "seed_choice": f"SEED {SEED}: the first seed from 0 that meets the routing criteria ({ROUTING_CRITERIA}); "
                       f"with these scales the 2nd / 3rd router logit gap falls below {MIN_ROUTER_MARGIN} somewhere "
                       f"in most seeds",
    })
    active = n_params - config["num_hidden_layers"] * (n_experts - config["num_experts_per_tok"]) * 3 * config[
        "hidden_size"] * config["intermediate_size"]
    ref_json = {
        "model": NAME,
        "description": "tiny random-weight MixtralForCausalLM: Llama's attention (GQA 4/2, head_dim 16, rotate-half "
                       "RoPE, no biases, no q/k norm) with a sparse MoE block in every layer (8 SwiGLU experts w1 / "
                       "w3 / w2 of width 32, softmax router, top 2, weights divided by their sum), untied LM head; "
                       "tiny-llama's SentencePiece tokenizer files",
        "text": TEXT,
        "input_ids": ids,
        "T": T,
        "tokenizer": {
            "type": "SentencePiece BPE (byte fallback, dummy prefix)",
            "adds_bos": True,
            "bos_token_id": config["bos_token_id"],
            "eos_token_id": config["eos_token_id"],
            "vocab_size": config["vocab_size"],
            "reference_tokenizer": "tokenizers (hf/tokenizer.json), libllama (f32.gguf) and libllama "
                                   "(tiny-llama/f32.gguf), equal ids",
            "copied_from": "tiny-llama/hf, unchanged (" + ", ".join(TOKENIZER_FILES) + ")",
            "check": tokenizer_check,
        },
        "config": qwen3.config_info(
            config,
            ("model_type", "architectures", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
             "num_attention_heads", "num_key_value_heads", "head_dim", "max_position_embeddings", "rope_theta",
             "rms_norm_eps", "hidden_act", "num_local_experts", "num_experts_per_tok", "router_jitter_noise",
             "sliding_window", "tie_word_embeddings", "bos_token_id", "eos_token_id"), n_params,
            intermediate_size_note="each expert's width (Mixtral has no dense feed-forward block); the converter "
                                   "writes it as feed_forward_length, which llama.cpp's llama sizes the experts by",
            attention_scale=config["head_dim"] ** -0.5,
            active_params_per_token=active),
        **weights_info,
        "routing": {"criteria": ROUTING_CRITERIA, "min_router_margin": MIN_ROUTER_MARGIN, "seed_search": search,
                    **routing},
        "ref_safetensors_keys": {"ref.safetensors": rope.tensor_keys(ref_tensors),
                                 "ref-llama-cpp.safetensors": rope.tensor_keys(llama_tensors)},
        "llama_cpp": rope.llama_cpp_info(
            T, "each GGUF run twice with bit-identical outputs", harness_check,
            runs={stem: {"model": f"{stem}.gguf", "freq_scale_train": run["freq_scale_train"],
                         "rope_log": run["rope_log"], "rope_metadata_log": run["rope_metadata_log"],
                         "warnings": run["warnings"]} for stem, run in runs.items()},
            warnings_note=WARNINGS_NOTE,
            runtime_notes="Mixtral in llama.cpp is the llama architecture (src/models/llama.cpp): with "
                          "expert_count 8 (n_expert > 0) every layer must have ffn_gate_inp [n_embd, n_expert] and "
                          "ffn_down_exps / ffn_up_exps (ffn_gate_exps optional) of width feed_forward_length (n_ff); "
                          "the graph is Llama's attention (NORM RoPE on adjacent pairs of the permuted Q/K rows, "
                          "Q x 1/sqrt(head_dim)) and build_moe_ffn(..., LLM_FFN_SILU, norm_w = true, "
                          "expert_weights_scale (0: none), LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX): soft_max of "
                          "ffn_gate_inp x cur, argsort_top_k, the chosen probabilities divided by their sum (clamped "
                          "below at 6.1e-5), mul_mat_id of up / gate, swiglu_split, mul_mat_id of down, weighted "
                          "sum; output.weight present (untied)"),
        "numpy_check": numpy_check,
        "gguf": gguf_info,
        "made_by": "scripts/make-mixtral-fixture.py (config, tokenizer copies, weights, f32.gguf, q8_0.gguf via "
                   "llama-quantize, skeletons via scripts/make-gguf-skeletons.py's make, ref.safetensors), "
                   "scripts/llama-cpp-logits.c (ref-llama-cpp.safetensors), scripts/llama-cpp-tokenize.c (the "
                   "tokenizer check)",
        "files": files,
        "tools": dict(rope.tool_versions(args.cc, commit), tokenizers=metadata.version("tokenizers")),
    }
    rope.write_ref(OUT, NAME, ref_json, say)


if __name__ == "__main__":
    main()
