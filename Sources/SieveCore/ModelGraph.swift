/// Architecture families Sieve recognises.
public enum Architecture: String, CaseIterable, Sendable, Codable {
    /// The supported families (Qwen3: Qwen2's layout without Q/K/V biases, with RMSNorm over each query and key head;
    /// Gemma 3: Qwen3's head norms, norms after attention and the FFN too, scaled embeddings, GeGLU, and layers
    /// that attend through a sliding window with their own RoPE base; Gemma 2: Gemma 3 without the head norms,
    /// every other layer sliding, attention scores soft-capped; Phi-3: Llama's graph, stored with fused Q/K/V and
    /// gate/up projections, often with partial rotary and LongRoPE; SmolLM3: Llama's graph with RoPE left out of some
    /// layers; Qwen3-MoE: Qwen3's attention with a mixture of experts in place of every FFN; Granite: Llama's graph
    /// with multipliers of the embeddings, attention scores, block outputs and logits, and in Granite MoE a mixture of
    /// experts (with a shared expert in GraniteMoeShared) in place of every FFN; gpt-oss: attention with biases
    /// and sinks, every other layer sliding, and a mixture of clamped-SwiGLU experts with biases in every FFN).
    case llama, qwen2, qwen3, gpt2, opt, bert, gemma2, gemma3, phi3, smollm3, qwen3moe, granite
    case gptOSS = "gpt_oss"

    /// Gemma 2 or 3: embeddings × √hidden, (1 + weight) RMSNorms, norms of attention's and the FFN's outputs.
    public var isGemma: Bool { self == .gemma2 || self == .gemma3 }

    /// Whether llama.cpp's converter interleaves this architecture's Q/K rows for its NORM RoPE (the IR keeps
    /// Hugging Face's half-split rows).
    public var interleavesRoPERowsInGGUF: Bool { self == .llama || self == .smollm3 || self == .granite }
}

/// Activation functions used by feed-forward networks.
public enum Activation: String, Sendable, Codable {
    /// SiLU (swish), used gated in SwiGLU.
    case silu
    /// GELU, exact (erf).
    case gelu
    /// GELU, tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    case geluTanh = "gelu_tanh"
    /// ReLU.
    case relu
    /// gpt-oss's gated unit (llama.cpp's `swiglu_oai`): `(clamp(up, ±7) + 1) · g·σ(1.702·g)`, `g = min(gate, 7)`.
    case clampedSwiGLU = "swiglu_oai"
}

/// How rotary position embeddings pair dimensions.
public enum RoPEStyle: String, Sendable, Codable {
    /// Dimension i pairs with i + d/2 (HF "rotate_half", llama.cpp NEOX). The IR's convention for llama/qwen2.
    case halfSplit = "half_split"
    /// Dimension 2i pairs with 2i + 1 (llama.cpp NORM, GPT-J).
    case interleaved
}

/// Model hyperparameters, the same whatever format the model came from.
public struct Hyperparameters: Sendable, Equatable, Codable {
    /// Vocabulary size (rows of the token embedding).
    public var vocabSize: Int
    /// Width of the residual stream.
    public var hiddenSize: Int
    /// Width of the feed-forward layer (neurons per block).
    public var intermediateSize: Int
    /// Number of transformer blocks.
    public var layerCount: Int
    /// Attention (query) heads.
    public var headCount: Int
    /// Key/value heads (fewer than `headCount` for grouped-query attention).
    public var kvHeadCount: Int
    /// Dimensions per head.
    public var headDim: Int
    /// Maximum context (positions) the model was trained for.
    public var contextLength: Int
    /// Epsilon of the normalisations.
    public var normEpsilon: Double
    /// Activation of the feed-forward layer.
    public var activation: Activation
    /// RoPE frequency base; nil for models with learned absolute positions.
    public var ropeTheta: Double?
    /// Number of rotated dimensions per head (partial rotary); nil means all of `headDim`.
    public var ropeDimensions: Int?
    /// How RoPE's frequencies are rescaled for a longer context; nil for none.
    public var ropeScaling: RoPEScaling?
    /// Offset added to positions before the learned position table (OPT: 2).
    public var positionOffset: Int
    /// Whether the LM head shares the token embedding matrix.
    public var tiedEmbeddings: Bool
    /// Number of token types (BERT); 0 otherwise.
    public var tokenTypeCount: Int
    /// Layers that attend only to the most recent positions (Gemma 2 and 3); nil when every layer sees the whole context.
    public var slidingWindow: SlidingWindowAttention?
    /// Multiplier of the attention scores; nil for the usual 1/√headDim (Gemma 3: 1/√query_pre_attn_scalar).
    public var attentionScale: Double?
    /// `c` of the final logits' soft cap `c·tanh(logits / c)`; nil for none.
    public var finalLogitSoftcap: Double?
    /// `c` of the attention scores' soft cap `c·tanh(scores / c)`, after scaling (Gemma 2); nil for none.
    public var attentionLogitSoftcap: Double?
    /// Per layer, whether it attends without any position encoding (SmolLM3's "NoPE" layers); nil when every layer
    /// uses RoPE (or the model has none).
    public var layersWithoutRoPE: [Bool]?
    /// The experts of mixture-of-experts FFNs (Qwen3-MoE, Mixtral); nil for dense FFNs.
    public var mixtureOfExperts: MixtureOfExperts?
    /// Multiplier of the token embeddings (Granite's `embedding_multiplier`); nil for none (Gemma's √hidden comes
    /// with the architecture).
    public var embeddingScale: Double?
    /// Multiplier of each block's attention and FFN outputs before they join the residual stream (Granite's
    /// `residual_multiplier`); nil for none.
    public var residualScale: Double?
    /// Divisor of the final logits (Granite's `logits_scaling`, llama.cpp's `logit_scale`); nil for none.
    public var logitDivisor: Double?

    /// Hyperparameters with the given values.
    public init(vocabSize: Int, hiddenSize: Int, intermediateSize: Int, layerCount: Int, headCount: Int,
                kvHeadCount: Int, headDim: Int, contextLength: Int, normEpsilon: Double, activation: Activation,
                ropeTheta: Double? = nil, ropeDimensions: Int? = nil, positionOffset: Int = 0,
                tiedEmbeddings: Bool = false, tokenTypeCount: Int = 0, ropeScaling: RoPEScaling? = nil,
                slidingWindow: SlidingWindowAttention? = nil, attentionScale: Double? = nil, finalLogitSoftcap: Double? = nil,
                attentionLogitSoftcap: Double? = nil, layersWithoutRoPE: [Bool]? = nil, mixtureOfExperts: MixtureOfExperts? = nil,
                embeddingScale: Double? = nil, residualScale: Double? = nil, logitDivisor: Double? = nil) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.contextLength = contextLength
        self.normEpsilon = normEpsilon
        self.activation = activation
        self.ropeTheta = ropeTheta
        self.ropeDimensions = ropeDimensions
        self.ropeScaling = ropeScaling
        self.positionOffset = positionOffset
        self.tiedEmbeddings = tiedEmbeddings
        self.tokenTypeCount = tokenTypeCount
        self.slidingWindow = slidingWindow
        self.attentionScale = attentionScale
        self.finalLogitSoftcap = finalLogitSoftcap
        self.attentionLogitSoftcap = attentionLogitSoftcap
        self.layersWithoutRoPE = layersWithoutRoPE
        self.mixtureOfExperts = mixtureOfExperts
        self.embeddingScale = embeddingScale
        self.residualScale = residualScale
        self.logitDivisor = logitDivisor
    }

    /// What the attention scores are multiplied by: `attentionScale`, else 1/√headDim.
    public var scoreScale: Double { attentionScale ?? 1 / Double(headDim).squareRoot() }

    /// The context of the first training: LongRoPE's original context, else `contextLength`.
    public var originalContextLength: Int {
        if case let .longRoPE(p) = ropeScaling { return p.originalContextLength }
        return contextLength
    }

    /// Checks ranges and consistency; `source` names the origin in errors.
    public func validate(source: String) throws {
        func check(_ ok: Bool, _ name: String, _ reason: String) throws {
            if !ok { throw SieveCoreError.invalidHyperparameter(source: source, name: name, reason: reason) }
        }
        let limit = 1 << 24
        try check(vocabSize > 0 && vocabSize <= limit, "vocab_size", "\(vocabSize) is out of range 1…\(limit)")
        try check(hiddenSize > 0 && hiddenSize <= limit, "hidden_size", "\(hiddenSize) is out of range")
        try check(intermediateSize > 0 && intermediateSize <= limit, "intermediate_size", "\(intermediateSize) is out of range")
        try check(layerCount > 0 && layerCount <= 4096, "num_hidden_layers", "\(layerCount) is out of range 1…4096")
        try check(headCount > 0 && headCount <= hiddenSize, "num_attention_heads", "\(headCount) is out of range")
        try check(kvHeadCount > 0 && headCount % kvHeadCount == 0, "num_key_value_heads", "\(kvHeadCount) must divide num_attention_heads \(headCount)")
        try check(headDim > 0 && headDim <= limit, "head_dim", "\(headDim) is out of range 1…\(limit)")
        try check(contextLength > 0 && contextLength <= 1 << 24, "max_position_embeddings", "\(contextLength) is out of range")
        try check(normEpsilon > 0 && normEpsilon < 1, "norm_eps", "\(normEpsilon) is out of range (0, 1)")
        if let r = ropeDimensions { try check(r > 0 && r <= headDim && r % 2 == 0, "rope_dimensions", "\(r) must be even and at most head_dim \(headDim)") }
        if let problem = ropeScaling?.problem(dimensions: ropeDimensions ?? headDim) { try check(false, "rope_scaling", problem) }
        if let w = slidingWindow {
            try check(w.window > 0, "sliding_window", "\(w.window) must be positive")
            try check(w.slidingLayers.count == layerCount, "layer_types", "\(w.slidingLayers.count) entries for \(layerCount) layers")
            try check(w.ropeTheta > 0 && w.ropeTheta.isFinite, "rope_local_base_freq", "\(w.ropeTheta) must be positive")
        }
        if let s = attentionScale { try check(s > 0 && s.isFinite, "query_pre_attn_scalar", "the attention scale \(s) must be positive") }
        if let c = finalLogitSoftcap { try check(c > 0 && c.isFinite, "final_logit_softcapping", "\(c) must be positive") }
        if let c = attentionLogitSoftcap { try check(c > 0 && c.isFinite, "attn_logit_softcapping", "\(c) must be positive") }
        for (name, value) in [("embedding_multiplier", embeddingScale), ("residual_multiplier", residualScale), ("logits_scaling", logitDivisor)] {
            if let value { try check(value > 0 && value.isFinite, name, "\(value) must be a positive number") }
        }
        if let layers = layersWithoutRoPE {
            try check(layers.count == layerCount, "no_rope_layers", "\(layers.count) entries for \(layerCount) layers")
        }
        if let moe = mixtureOfExperts {
            try check(moe.expertCount > 0 && moe.expertCount <= 4096, "num_experts", "\(moe.expertCount) is out of range 1…4096")
            try check(moe.expertsPerToken > 0 && moe.expertsPerToken <= moe.expertCount, "num_experts_per_tok",
                      "\(moe.expertsPerToken) is out of range 1…\(moe.expertCount) (the number of experts)")
            try check(moe.expertWidth > 0 && moe.expertWidth <= limit, "moe_intermediate_size", "\(moe.expertWidth) is out of range")
            if let shared = moe.sharedExpertWidth {
                try check(shared > 0 && shared <= limit, "shared_intermediate_size", "\(shared) is out of range")
            }
        }
    }
}

/// Mixture-of-experts FFNs (Qwen3-MoE, Mixtral, Granite MoE, gpt-oss): a token's FFN output is the weighted sum of `expertsPerToken` of
/// `expertCount` gated experts of `expertWidth` neurons each. A linear router gives one logit per expert; the
/// softmax over all of them gives the weights, of which the `expertsPerToken` largest are kept (divided by their sum
/// when `normalizesWeights`).
public struct MixtureOfExperts: Sendable, Equatable, Codable {
    /// Experts per layer.
    public var expertCount: Int
    /// Experts each token runs.
    public var expertsPerToken: Int
    /// Neurons of one expert.
    public var expertWidth: Int
    /// Whether the kept weights are divided by their sum (`norm_topk_prob`).
    public var normalizesWeights: Bool
    /// Neurons of the shared expert that every token runs besides its chosen ones (GraniteMoeShared's
    /// `shared_intermediate_size`, Qwen2-MoE's `shared_expert_intermediate_size`); nil when there is none.
    public var sharedExpertWidth: Int?

    /// Mixture-of-experts settings.
    public init(expertCount: Int, expertsPerToken: Int, expertWidth: Int, normalizesWeights: Bool, sharedExpertWidth: Int? = nil) {
        self.expertCount = expertCount; self.expertsPerToken = expertsPerToken
        self.expertWidth = expertWidth; self.normalizesWeights = normalizesWeights
        self.sharedExpertWidth = sharedExpertWidth
    }
}

/// Local attention of some layers (Gemma 2 and 3): a sliding layer's query at position p attends only to positions
/// `p - window + 1 ... p`, with RoPE of base `ropeTheta` and never frequency-scaled; the other layers attend to
/// the whole context with the model's RoPE.
public struct SlidingWindowAttention: Sendable, Equatable, Codable {
    /// Positions a sliding layer's query sees, its own included.
    public var window: Int
    /// Per layer, whether it attends through the window.
    public var slidingLayers: [Bool]
    /// RoPE frequency base of the sliding layers.
    public var ropeTheta: Double

    /// Sliding-window settings.
    public init(window: Int, slidingLayers: [Bool], ropeTheta: Double) {
        self.window = window; self.slidingLayers = slidingLayers; self.ropeTheta = ropeTheta
    }

    /// llama.cpp's layout of `layers` layers with pattern `n`: every n-th layer (the last of each n) is global.
    public static func pattern(_ n: Int, layers: Int) -> [Bool] {
        (0..<layers).map { n == 0 || $0 % n < n - 1 }
    }
}

/// Normalisation kinds.
public enum NormKind: String, Sendable, Codable { case rms, layer }

/// A normalisation node: weight (and bias for LayerNorm) by IR tensor name.
public struct NormNode: Sendable, Equatable {
    /// RMSNorm or LayerNorm.
    public var kind: NormKind
    /// Scale tensor.
    public var weight: String
    /// Shift tensor (LayerNorm only).
    public var bias: String?
    /// Added to the variance before the square root.
    public var epsilon: Double
    /// A norm node.
    public init(kind: NormKind, weight: String, bias: String?, epsilon: Double) {
        self.kind = kind; self.weight = weight; self.bias = bias; self.epsilon = epsilon
    }
}

/// A linear projection `y = W x (+ b)`, W stored `[out, in]` row-major, by IR tensor name.
public struct LinearRef: Sendable, Equatable {
    /// Weight tensor `[out, in]`.
    public var weight: String
    /// Bias tensor `[out]`, if any.
    public var bias: String?
    /// A projection of the given tensors.
    public init(weight: String, bias: String?) { self.weight = weight; self.bias = bias }
}

/// Rotary position embedding settings of an attention node.
public struct RoPE: Sendable, Equatable {
    /// Frequency base.
    public var theta: Double
    /// Rotated dimensions per head.
    public var dimensions: Int
    /// How dimensions are paired.
    public var style: RoPEStyle
    /// How the frequencies are rescaled for a longer context; nil for none.
    public var scaling: RoPEScaling?
    /// RoPE settings.
    public init(theta: Double, dimensions: Int, style: RoPEStyle, scaling: RoPEScaling? = nil) {
        self.theta = theta; self.dimensions = dimensions; self.style = style; self.scaling = scaling
    }
}

/// Multi-head (grouped-query) self-attention.
public struct AttentionNode: Sendable, Equatable {
    /// Query projection.
    public var q: LinearRef
    /// Key projection.
    public var k: LinearRef
    /// Value projection.
    public var v: LinearRef
    /// Output projection.
    public var o: LinearRef
    /// Query heads.
    public var heads: Int
    /// Key/value heads.
    public var kvHeads: Int
    /// Dimensions per head.
    public var headDim: Int
    /// nil for models with learned absolute positions.
    public var rope: RoPE?
    /// Causal (decoder) or bidirectional (encoder).
    public var causal: Bool
    /// RMSNorm over each query head (weight `[headDim]`) before RoPE (Qwen3); nil for none.
    public var queryNorm: NormNode?
    /// RMSNorm over each key head before RoPE (Qwen3); nil for none.
    public var keyNorm: NormNode?
    /// Positions a query sees, its own included (sliding-window attention); nil for the whole context.
    public var window: Int?
    /// Multiplier of the scores; nil for 1/√headDim.
    public var scale: Double?
    /// `c` of the scaled scores' soft cap `c·tanh(score / c)` before the softmax (Gemma 2); nil for none.
    public var softcap: Double?
    /// Tensor `[heads]` of attention sinks (gpt-oss): per head, a logit that joins the softmax's denominator and
    /// contributes no value; nil for none.
    public var sinks: String?

    /// An attention node.
    public init(q: LinearRef, k: LinearRef, v: LinearRef, o: LinearRef, heads: Int, kvHeads: Int, headDim: Int,
                rope: RoPE?, causal: Bool, queryNorm: NormNode? = nil, keyNorm: NormNode? = nil, window: Int? = nil,
                scale: Double? = nil, softcap: Double? = nil, sinks: String? = nil) {
        self.q = q; self.k = k; self.v = v; self.o = o
        self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim; self.rope = rope; self.causal = causal
        self.queryNorm = queryNorm; self.keyNorm = keyNorm; self.window = window; self.scale = scale; self.softcap = softcap
        self.sinks = sinks
    }

    /// The multiplier of the scores: `scale`, else 1/√headDim.
    public var scoreScale: Double { scale ?? 1 / Double(headDim).squareRoot() }
}

/// Feed-forward network kinds.
public enum FeedForwardKind: String, Sendable, Codable {
    /// Plain ReLU, plain GELU, gated SiLU (SwiGLU), gated GELU.
    case relu, gelu, swiglu, geglu
    /// Whether the FFN has a gate projection.
    public var isGated: Bool { self == .swiglu || self == .geglu }
}

/// How FFN neurons are laid out in storage.
public enum FeedForwardLayout: Sendable, Equatable {
    /// Plain `up`/`gate` `[ff, hidden]` and `down` `[hidden, ff]` matrices.
    case dense
    /// Neurons permuted and grouped into blocks of `blockSize` neurons. `up`/`gate` stay `[ff, hidden]` with
    /// permuted rows; `down` is stored **transposed**, `[ff, hidden]` (row n = neuron n's output column), so
    /// block b's gate rows, up rows and down rows are each one contiguous range `b*blockSize ..< (b+1)*blockSize`.
    /// `permutation` names an i32 tensor `[ff]` mapping stored neuron index to original neuron index.
    case blocked(blockSize: Int, permutation: String)
}

/// What a predictor scores.
public enum PredictorTarget: String, Sendable, Codable {
    /// FFN neuron blocks of a blocked feed-forward layer.
    case ffnBlocks = "ffn_blocks"
    /// Attention heads.
    case heads
}

/// Where in its source block a predictor reads the residual stream.
public enum PredictorInput: String, Sendable, Codable {
    /// The residual stream entering the block, before its first norm: known before the block's attention runs,
    /// so the predictor's products overlap it (and, read from the previous block, the previous block's work).
    case blockInput = "block_input"
    /// The residual stream as the block's FFN receives it (attention's output added; for post-norm blocks also
    /// normalised): known only after attention, so the predictor runs between attention and the FFN, but it has
    /// seen the token's context. FFN predictors only, and only of their own block.
    case feedForwardInput = "ffn_input"

    /// The predictor source column of recall tables: the source block, marked `f` when the FFN input is read,
    /// right-aligned in `width` characters.
    public static func sourceColumn(_ sourceBlock: Int, ffnPredictorReads input: PredictorInput?, width: Int = 3) -> String {
        let text = "\(sourceBlock)" + (input == .feedForwardInput ? "f" : "")
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }
}

/// A small learned low-rank network `scores = up · (down · x) (+ bias)` that predicts which units of a block
/// matter for the current token, reading the residual stream of block `sourceBlock` (the block itself, or the one
/// before it for lookahead) at `input`.
public struct PredictorNode: Sendable, Equatable {
    /// What the predictor scores.
    public var target: PredictorTarget
    /// The block whose residual stream the predictor reads.
    public var sourceBlock: Int
    /// Where in `sourceBlock` it reads it.
    public var input: PredictorInput
    /// Tensor `[rank, hidden]`.
    public var down: String
    /// Tensor `[units, rank]`.
    public var up: String
    /// Tensor `[units]`, if any.
    public var bias: String?
    /// Number of scored units (FFN blocks or heads).
    public var units: Int
    /// Measured recall of the oracle's activation mass, by density, on held-out calibration data.
    public var recall: [DensityRecall]
    /// A predictor node.
    public init(target: PredictorTarget, sourceBlock: Int, input: PredictorInput = .blockInput, down: String, up: String,
                bias: String?, units: Int, recall: [DensityRecall]) {
        self.target = target; self.sourceBlock = sourceBlock; self.input = input; self.down = down; self.up = up; self.bias = bias
        self.units = units; self.recall = recall
    }

    /// Why this predictor cannot read what it reads from block `block`'s position, or nil: only an FFN predictor
    /// can read an FFN input, and only its own block's.
    public func inputProblem(block: Int) -> String? {
        guard input == .feedForwardInput, target != .ffnBlocks || sourceBlock != block else { return nil }
        return "only an FFN predictor can read its own block's FFN input (this one scores \(target.rawValue) of block \(block) from block \(sourceBlock)'s FFN input)"
    }
}

/// A predictor's measured recall at one density.
public struct DensityRecall: Sendable, Equatable, Codable {
    /// Fraction of units kept.
    public var density: Double
    /// Mass of the predicted top-k over the mass of the oracle's top-k (mean over tokens).
    public var recall: Double
    /// Mean share of a token's total mass held by the predicted top-k, if measured: what the unit kind loses at
    /// this density, used to choose densities.
    public var captured: Double?
    /// A recall measurement.
    public init(density: Double, recall: Double, captured: Double? = nil) {
        self.density = density; self.recall = recall; self.captured = captured
    }
}

/// A feed-forward network node.
public struct FeedForwardNode: Sendable, Equatable {
    /// The network's kind (gated or not, activation).
    public var kind: FeedForwardKind
    /// Up projection.
    public var up: LinearRef
    /// Gate projection (gated kinds only).
    public var gate: LinearRef?
    /// Down projection: `[hidden, ff]`; in a blocked layout stored transposed, `[ff, hidden]` in stored neuron
    /// order, unless `sourceDown` names it.
    public var down: LinearRef
    /// The exact activation (distinguishes erf GELU from its tanh approximation).
    public var activation: Activation
    /// Dense or blocked storage of the neurons.
    public var layout: FeedForwardLayout
    /// Blocked layouts only: the source's `down` `[hidden, ff]`, in its own type and neuron order, kept where a
    /// transposed `down` would not be exact (a block-quantized source packed with `--dtype keep`); it is then
    /// `down`'s own tensor. Every run multiplies it with the activations scattered back to source order (zeros for
    /// the neurons a sparse run skips), so it computes exactly what the source computes. (Bundles written before
    /// it replaced the transposed `down` hold both, and runs ignore the transposed one.)
    public var sourceDown: String?
    /// A mixture of experts: the router and how it chooses. `up` and `gate` are then `[experts, width, hidden]`,
    /// `down` `[experts, hidden, width]`, one expert after the other, and their biases (gpt-oss) `[experts, width]` and
    /// `[experts, hidden]`; nil for a single FFN.
    public var experts: ExpertRouter?

    /// A feed-forward node.
    public init(kind: FeedForwardKind, up: LinearRef, gate: LinearRef?, down: LinearRef, activation: Activation,
                layout: FeedForwardLayout, sourceDown: String? = nil, experts: ExpertRouter? = nil) {
        self.kind = kind; self.up = up; self.gate = gate; self.down = down; self.activation = activation
        self.layout = layout; self.sourceDown = sourceDown; self.experts = experts
    }
}

/// The router of a mixture-of-experts FFN: its projection to one logit per expert (`[experts, hidden]`) and how
/// the experts are chosen from them, and the shared expert every token runs, if any.
public struct ExpertRouter: Sendable, Equatable {
    /// The router's projection.
    public var projection: LinearRef
    /// Expert count, experts per token, width and weighting.
    public var routing: MixtureOfExperts
    /// The shared expert (GraniteMoeShared, Qwen2-MoE), with the routed experts' activation; nil for none.
    public var shared: SharedExpert?
    /// A router.
    public init(projection: LinearRef, routing: MixtureOfExperts, shared: SharedExpert? = nil) {
        self.projection = projection; self.routing = routing; self.shared = shared
    }
}

/// A mixture of experts' shared expert: a gated FFN of `MixtureOfExperts.sharedExpertWidth` neurons that every token
/// runs, its output added to the chosen experts', with weight 1 (GraniteMoeShared) or σ(outputGate · x) (Qwen2-MoE).
/// `gate` and `up` are `[width, hidden]`, `down` `[hidden, width]`, `outputGate` `[1, hidden]` (IR
/// `blocks.i.ffn.{gate,up,down,gate_inp}_shexp`).
public struct SharedExpert: Sendable, Equatable {
    /// Gate, up and down projections.
    public var gate: LinearRef, up: LinearRef, down: LinearRef
    /// The projection whose sigmoid weighs the shared expert's output per token (Qwen2-MoE's `shared_expert_gate`);
    /// nil for weight 1.
    public var outputGate: LinearRef?
    /// A shared expert.
    public init(gate: LinearRef, up: LinearRef, down: LinearRef, outputGate: LinearRef? = nil) {
        self.gate = gate; self.up = up; self.down = down; self.outputGate = outputGate
    }
}

/// Where a block's norms sit relative to the residual connection.
public enum NormPlacement: String, Sendable, Codable {
    /// Norm before attention / FFN (Llama, GPT-2, OPT with `do_layer_norm_before`).
    case pre
    /// Norm after the residual add (BERT).
    case post
}

/// One transformer block: attention and feed-forward with their norms.
public struct TransformerBlock: Sendable, Equatable {
    /// Norm before (or after, for post-norm) attention.
    public var attentionNorm: NormNode
    /// Self-attention.
    public var attention: AttentionNode
    /// Norm before (or after) the feed-forward network.
    public var feedForwardNorm: NormNode
    /// Feed-forward network.
    public var feedForward: FeedForwardNode
    /// Pre-norm or post-norm.
    public var normPlacement: NormPlacement
    /// Norm of attention's output before the residual add (Gemma 3); nil for none.
    public var attentionOutputNorm: NormNode?
    /// Norm of the FFN's output before the residual add (Gemma 3); nil for none.
    public var feedForwardOutputNorm: NormNode?
    /// Predictor of this block's FFN blocks (sparse bundles only).
    public var ffnPredictor: PredictorNode?
    /// Predictor of this block's attention heads (sparse bundles only).
    public var headPredictor: PredictorNode?
    /// Default densities for sparse execution (fraction of FFN blocks / heads computed); nil = dense.
    public var ffnDensity: Double?
    /// Default fraction of attention heads computed; nil = dense.
    public var headDensity: Double?
    /// Multiplier of attention's and the FFN's outputs before each joins the residual stream (Granite); nil for none.
    public var residualScale: Double?

    /// A transformer block.
    public init(attentionNorm: NormNode, attention: AttentionNode, feedForwardNorm: NormNode,
                feedForward: FeedForwardNode, normPlacement: NormPlacement, ffnPredictor: PredictorNode? = nil,
                headPredictor: PredictorNode? = nil, ffnDensity: Double? = nil, headDensity: Double? = nil,
                attentionOutputNorm: NormNode? = nil, feedForwardOutputNorm: NormNode? = nil, residualScale: Double? = nil) {
        self.attentionNorm = attentionNorm
        self.residualScale = residualScale
        self.attentionOutputNorm = attentionOutputNorm
        self.feedForwardOutputNorm = feedForwardOutputNorm
        self.attention = attention
        self.feedForwardNorm = feedForwardNorm
        self.feedForward = feedForward
        self.normPlacement = normPlacement
        self.ffnPredictor = ffnPredictor
        self.headPredictor = headPredictor
        self.ffnDensity = ffnDensity
        self.headDensity = headDensity
    }
}

/// Token (and position / token type) embedding.
public struct EmbeddingNode: Sendable, Equatable {
    /// Token embedding tensor.
    public var tokens: String
    /// Learned position embedding tensor, if any.
    public var positions: String?
    /// Token type embedding tensor, if any.
    public var tokenTypes: String?
    /// LayerNorm applied to the embedding sum (BERT).
    public var norm: NormNode?
    /// Multiplier of the token embeddings (Gemma: √hidden); nil for 1.
    public var scale: Double?

    /// An embedding node.
    public init(tokens: String, positions: String? = nil, tokenTypes: String? = nil, norm: NormNode? = nil, scale: Double? = nil) {
        self.tokens = tokens; self.positions = positions; self.tokenTypes = tokenTypes; self.norm = norm; self.scale = scale
    }
}

/// The output head: a projection to vocabulary logits (nil `weight` never happens: tied heads name the
/// token embedding).
public struct LMHeadNode: Sendable, Equatable {
    /// The projection to logits.
    public var projection: LinearRef
    /// `c` of the soft cap `c·tanh(logits / c)` applied to the logits; nil for none.
    public var softcap: Double?
    /// Divisor of the logits (Granite); nil for none.
    public var divisor: Double?
    /// An output head.
    public init(projection: LinearRef, softcap: Double? = nil, divisor: Double? = nil) {
        self.projection = projection; self.softcap = softcap; self.divisor = divisor
    }
}

/// The coarse, typed model graph every format reads into and writes from.
///
/// Tensor names are the IR's own, architecture-neutral names (see `IRName`); format plugins map their naming
/// onto them once, on read and on write. Matrices are `[out, in]` row-major; Q/K rows are in the half-split
/// RoPE layout for llama and qwen2.
public struct ModelGraph: @unchecked Sendable {
    /// The architecture family.
    public var architecture: Architecture
    /// The hyperparameters.
    public var hyperparameters: Hyperparameters
    /// The tokenizer, when the file describes one.
    public var tokenizer: TokenizerDescription?
    /// Free-form metadata from the source file (safetensors `__metadata__`, GGUF `general.*`, …).
    public var metadata: [String: String]
    /// The embedding.
    public var embedding: EmbeddingNode
    /// The transformer blocks, in order.
    public var blocks: [TransformerBlock]
    /// Norm after the last block, if any.
    public var finalNorm: NormNode?
    /// Output head (nil for encoders).
    public var lmHead: LMHeadNode?
    /// All tensors by IR name, in a stable order.
    public var tensors: TensorStore

    /// A graph of the given parts.
    public init(architecture: Architecture, hyperparameters: Hyperparameters, tokenizer: TokenizerDescription?,
                metadata: [String: String], embedding: EmbeddingNode, blocks: [TransformerBlock],
                finalNorm: NormNode?, lmHead: LMHeadNode?, tensors: TensorStore) {
        self.architecture = architecture
        self.hyperparameters = hyperparameters
        self.tokenizer = tokenizer
        self.metadata = metadata
        self.embedding = embedding
        self.blocks = blocks
        self.finalNorm = finalNorm
        self.lmHead = lmHead
        self.tensors = tensors
    }

    /// Total number of parameters (elements of all tensors).
    public var parameterCount: Int { tensors.all.reduce(0) { $0 + $1.elementCount } }

    /// Whether the graph is a packed sparse model (`sieve pack`): reordered, blocked FFN layouts or predictors,
    /// which only the `.sieve` bundle holds.
    public var isPacked: Bool {
        blocks.contains { b in
            if case .blocked = b.feedForward.layout { return true }
            return b.ffnPredictor != nil || b.headPredictor != nil
        }
    }

    /// The tensor called `name`, or a `missingTensor` error naming `source`.
    public func tensor(_ name: String, source: String = "model") throws -> Tensor {
        guard let t = tensors[name] else { throw SieveCoreError.missingTensor(source: source, name: name) }
        return t
    }
}

/// An ordered collection of tensors keyed by name.
public struct TensorStore: @unchecked Sendable {
    private var order: [String] = []
    private var byName: [String: Tensor] = [:]

    /// An empty store.
    public init() {}
    /// A store of `tensors`, in order.
    public init(_ tensors: [Tensor]) { for t in tensors { insert(t) } }

    /// Inserts or replaces a tensor (keeping its original position when replacing).
    public mutating func insert(_ tensor: Tensor) {
        if byName[tensor.name] == nil { order.append(tensor.name) }
        byName[tensor.name] = tensor
    }

    /// Removes a tensor.
    public mutating func remove(_ name: String) {
        if byName.removeValue(forKey: name) != nil { order.removeAll { $0 == name } }
    }

    /// The tensor called `name`, if any.
    public subscript(name: String) -> Tensor? { byName[name] }
    /// Whether a tensor is called `name`.
    public func contains(_ name: String) -> Bool { byName[name] != nil }
    /// Tensor names, in order.
    public var names: [String] { order }
    /// The tensors, in order.
    public var all: [Tensor] { order.map { byName[$0]! } }
    /// Number of tensors.
    public var count: Int { order.count }
}
