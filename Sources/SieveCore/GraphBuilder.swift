/// The IR's tensor names. Format plugins map their own names onto these.
public enum IRName {
    /// Token embedding matrix `[vocab, hidden]`.
    public static let tokenEmbedding = "embed.tokens"
    /// Learned absolute position embeddings `[positions, hidden]`.
    public static let positionEmbedding = "embed.positions"
    /// Token type embeddings (BERT) `[types, hidden]`.
    public static let tokenTypeEmbedding = "embed.token_types"
    /// LayerNorm of the embedding sum (BERT).
    public static let embeddingNorm = "embed.norm"
    /// Norm after the last block.
    public static let finalNorm = "final_norm"
    /// Output projection to vocabulary logits.
    public static let lmHead = "lm_head"

    /// Prefix of block `i`'s tensors.
    public static func block(_ i: Int) -> String { "blocks.\(i)" }
    /// Block `i`'s attention norm.
    public static func attentionNorm(_ i: Int) -> String { "blocks.\(i).attn_norm" }
    /// Block `i`'s feed-forward norm.
    public static func feedForwardNorm(_ i: Int) -> String { "blocks.\(i).ffn_norm" }
    /// Block `i`'s norm of attention's output (Gemma 2 and 3).
    public static func attentionOutputNorm(_ i: Int) -> String { "blocks.\(i).attn_post_norm" }
    /// Block `i`'s norm of the feed-forward output (Gemma 2 and 3).
    public static func feedForwardOutputNorm(_ i: Int) -> String { "blocks.\(i).ffn_post_norm" }
    /// `part` is one of q, k, v, o.
    public static func attention(_ i: Int, _ part: String) -> String { "blocks.\(i).attn.\(part)" }
    /// `part` is one of up, gate, down.
    public static func feedForward(_ i: Int, _ part: String) -> String { "blocks.\(i).ffn.\(part)" }
    /// Block `i`'s stacked experts of a mixture-of-experts FFN, `part` one of up, gate, down (`blocks.i.ffn.up_exps`).
    public static func experts(_ i: Int, _ part: String) -> String { "blocks.\(i).ffn.\(part)_exps" }
    /// Block `i`'s router of a mixture-of-experts FFN.
    public static func router(_ i: Int) -> String { "blocks.\(i).ffn.router" }
    /// Block `i`'s shared expert of a mixture-of-experts FFN, `part` one of up, gate, down, or gate_inp for the
    /// projection that weighs its output (`blocks.i.ffn.up_shexp`).
    public static func sharedExpert(_ i: Int, _ part: String) -> String { "blocks.\(i).ffn.\(part)_shexp" }
    /// Block `i`'s attention sinks (gpt-oss), `[heads]`.
    public static func attentionSinks(_ i: Int) -> String { "blocks.\(i).attn.sinks" }
}

/// Builds the typed `ModelGraph` of an architecture from hyperparameters and tensors already under IR names,
/// checking that every tensor the architecture needs is present with the expected shape.
public enum GraphBuilder {
    /// Builds the graph of `architecture`, throwing a `missingTensor` or `invalidShape` error naming `source` when a tensor is absent or misshapen.
    public static func build(architecture: Architecture, hyperparameters hp: Hyperparameters, tensors: TensorStore,
                             tokenizer: TokenizerDescription?, metadata: [String: String], source: String) throws -> ModelGraph {
        try hp.validate(source: source)
        func require(_ name: String, _ shape: [Int]?) throws -> String {
            guard let t = tensors[name] else { throw SieveCoreError.missingTensor(source: source, name: name) }
            if let shape, t.shape.dims != shape {
                throw SieveCoreError.invalidShape(source: source, tensor: name, reason: "shape \(t.shape) but the config implies \(Shape(shape))")
            }
            return name
        }
        func optional(_ name: String, _ shape: [Int]) throws -> String? {
            tensors.contains(name) ? try require(name, shape) : nil
        }
        func linear(_ base: String, out: Int, in inDim: Int) throws -> LinearRef {
            LinearRef(weight: try require(base + ".weight", [out, inDim]), bias: try optional(base + ".bias", [out]))
        }
        let normKind: NormKind = [.llama, .qwen2, .qwen3, .qwen3moe, .gemma2, .gemma3, .phi3, .smollm3, .granite, .gptOSS].contains(architecture) ? .rms : .layer
        func norm(_ base: String) throws -> NormNode {
            NormNode(kind: normKind, weight: try require(base + ".weight", [hp.hiddenSize]),
                     bias: try optional(base + ".bias", [hp.hiddenSize]), epsilon: hp.normEpsilon)
        }

        let d = hp.hiddenSize
        let qDim = hp.headCount * hp.headDim
        let kvDim = hp.kvHeadCount * hp.headDim
        let ff = hp.intermediateSize

        var embedding = EmbeddingNode(tokens: try require(IRName.tokenEmbedding + ".weight", [hp.vocabSize, d]),
                                      positions: nil, tokenTypes: nil, norm: nil)
        switch architecture {
        case .gpt2, .opt, .bert:
            embedding.positions = try require(IRName.positionEmbedding + ".weight", [hp.contextLength + hp.positionOffset, d])
        default: break
        }
        if architecture.isGemma { embedding.scale = Double(d).squareRoot() }
        if let scale = hp.embeddingScale { embedding.scale = scale }
        if architecture == .bert {
            embedding.tokenTypes = try optional(IRName.tokenTypeEmbedding + ".weight", [hp.tokenTypeCount, d])
            embedding.norm = try norm(IRName.embeddingNorm)
        }

        let rope: RoPE? = hp.ropeTheta.map {
            RoPE(theta: $0, dimensions: hp.ropeDimensions ?? hp.headDim, style: .halfSplit, scaling: hp.ropeScaling)
        }
        /// A sliding layer's RoPE: Gemma 3's has its own base and is never frequency-scaled; the others' is the model's.
        let slidingRoPE = hp.slidingWindow.map {
            RoPE(theta: $0.ropeTheta, dimensions: hp.ropeDimensions ?? hp.headDim, style: .halfSplit,
                 scaling: architecture == .gemma3 ? nil : hp.ropeScaling)
        }
        let ffnKind: FeedForwardKind
        switch (architecture, hp.activation) {
        case (.llama, _), (.qwen2, _), (.qwen3, _), (.qwen3moe, _), (.gemma2, _), (.gemma3, _), (.phi3, _), (.smollm3, _), (.granite, _), (.gptOSS, _):
            ffnKind = hp.activation == .silu || hp.activation == .clampedSwiGLU ? .swiglu : .geglu
        case (_, .relu): ffnKind = .relu
        default: ffnKind = .gelu
        }

        /// Qwen3's and Gemma 3's RMSNorm over each query or key head.
        func headNorm(_ i: Int, _ part: String) throws -> NormNode? {
            guard [.qwen3, .qwen3moe, .gemma3].contains(architecture) else { return nil }
            return NormNode(kind: .rms, weight: try require(IRName.attention(i, part) + ".weight", [hp.headDim]), bias: nil, epsilon: hp.normEpsilon)
        }

        var blocks: [TransformerBlock] = []
        for i in 0..<hp.layerCount {
            let sliding = hp.slidingWindow?.slidingLayers[i] == true
            let positionless = hp.layersWithoutRoPE?[i] == true
            let attention = AttentionNode(
                q: try linear(IRName.attention(i, "q"), out: qDim, in: d),
                k: try linear(IRName.attention(i, "k"), out: kvDim, in: d),
                v: try linear(IRName.attention(i, "v"), out: kvDim, in: d),
                o: try linear(IRName.attention(i, "o"), out: d, in: qDim),
                heads: hp.headCount, kvHeads: hp.kvHeadCount, headDim: hp.headDim, rope: positionless ? nil : sliding ? slidingRoPE : rope,
                causal: architecture != .bert, queryNorm: try headNorm(i, "q_norm"), keyNorm: try headNorm(i, "k_norm"),
                window: sliding ? hp.slidingWindow?.window : nil, scale: hp.attentionScale, softcap: hp.attentionLogitSoftcap,
                sinks: try optional(IRName.attentionSinks(i) + ".weight", [hp.headCount]))
            if architecture == .qwen2, let moe = hp.mixtureOfExperts, moe.sharedExpertWidth == nil {
                throw SieveCoreError.invalidHyperparameter(source: source, name: "shared_expert_intermediate_size", reason: "missing: Qwen2-MoE's experts always have a shared expert")
            }
            if (architecture == .qwen3moe || architecture == .gptOSS) && hp.mixtureOfExperts == nil {
                throw SieveCoreError.invalidHyperparameter(source: source, name: "num_experts", reason: "missing: a mixture-of-experts model needs its expert count, experts per token and expert width")
            }
            if hp.activation == .clampedSwiGLU && hp.mixtureOfExperts == nil {
                throw SieveCoreError.invalidHyperparameter(source: source, name: "hidden_act", reason: "swiglu_oai is gpt-oss's activation of experts, and this model has no experts")
            }
            let ffn = try hp.mixtureOfExperts.map { moe in
                let (e, w) = (moe.expertCount, moe.expertWidth)
                guard ffnKind.isGated else {
                    throw SieveCoreError.invalidHyperparameter(source: source, name: "hidden_act", reason: "experts are gated FFNs, but the activation is \(hp.activation.rawValue)")
                }
                func experts(_ part: String, _ rows: Int, _ columns: Int) throws -> LinearRef {
                    let base = IRName.experts(i, part)
                    return LinearRef(weight: try require(base + ".weight", [e, rows, columns]), bias: try optional(base + ".bias", [e, rows]))
                }
                let shared = try moe.sharedExpertWidth.map { s in
                    // Qwen2-MoE weighs its shared expert's output by a sigmoid; GraniteMoeShared does not.
                    SharedExpert(gate: try linear(IRName.sharedExpert(i, "gate"), out: s, in: d),
                                 up: try linear(IRName.sharedExpert(i, "up"), out: s, in: d),
                                 down: try linear(IRName.sharedExpert(i, "down"), out: d, in: s),
                                 outputGate: architecture == .qwen2 ? try linear(IRName.sharedExpert(i, "gate_inp"), out: 1, in: d) : nil)
                }
                return FeedForwardNode(
                    kind: ffnKind, up: try experts("up", w, d), gate: try experts("gate", w, d), down: try experts("down", d, w),
                    activation: hp.activation, layout: .dense,
                    experts: ExpertRouter(projection: try linear(IRName.router(i), out: e, in: d), routing: moe, shared: shared))
            } ?? FeedForwardNode(
                kind: ffnKind,
                up: try linear(IRName.feedForward(i, "up"), out: ff, in: d),
                gate: ffnKind.isGated ? try linear(IRName.feedForward(i, "gate"), out: ff, in: d) : nil,
                down: try linear(IRName.feedForward(i, "down"), out: d, in: ff),
                activation: hp.activation, layout: .dense)
            blocks.append(TransformerBlock(
                attentionNorm: try norm(IRName.attentionNorm(i)), attention: attention,
                feedForwardNorm: try norm(IRName.feedForwardNorm(i)), feedForward: ffn,
                normPlacement: architecture == .bert ? .post : .pre,
                attentionOutputNorm: architecture.isGemma ? try norm(IRName.attentionOutputNorm(i)) : nil,
                feedForwardOutputNorm: architecture.isGemma ? try norm(IRName.feedForwardOutputNorm(i)) : nil,
                residualScale: hp.residualScale))
        }

        var finalNorm: NormNode?
        var lmHead: LMHeadNode?
        if architecture != .bert {
            finalNorm = try norm(IRName.finalNorm)
            let headWeight = hp.tiedEmbeddings ? embedding.tokens : try require(IRName.lmHead + ".weight", [hp.vocabSize, d])
            lmHead = LMHeadNode(projection: LinearRef(weight: headWeight, bias: try optional(IRName.lmHead + ".bias", [hp.vocabSize])),
                                softcap: hp.finalLogitSoftcap, divisor: hp.logitDivisor)
        }
        return ModelGraph(architecture: architecture, hyperparameters: hp, tokenizer: tokenizer, metadata: metadata,
                          embedding: embedding, blocks: blocks, finalNorm: finalNorm, lmHead: lmHead, tensors: tensors)
    }
}
