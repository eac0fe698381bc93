import SieveCore
import SieveKernels

/// A linear projection ready for the kernels: the weights in their stored dtype and the bias in f32.
struct LinearPlan {
    let weight: WeightMatrix
    let bias: FloatBuffer?
    var outputs: Int { weight.rows }
    var inputs: Int { weight.columns }
}

/// A normalisation with its parameters decoded to f32.
struct NormPlan {
    let kind: NormKind
    let weight: FloatBuffer
    let bias: FloatBuffer?
    let epsilon: Float
}

/// One attention layer. A class, like `BlockPlan`: the forward pass hands it on per layer and token.
final class AttentionPlan {
    let q: LinearPlan
    let k: LinearPlan
    let v: LinearPlan
    let o: LinearPlan
    let heads: Int
    let kvHeads: Int
    let headDim: Int
    let rope: RoPE?
    let causal: Bool
    /// RMSNorm over each query head and each key head before RoPE (Qwen3, Gemma 3).
    let queryNorm: NormPlan?
    let keyNorm: NormPlan?
    /// Positions a query sees, its own included (sliding-window layers); nil for all.
    let window: Int?
    /// Multiplier of the scores.
    let scale: Float
    /// `c` of the scaled scores' soft cap c·tanh(score / c); nil for none.
    let softcap: Float?
    /// Per head, the logit of its attention sink (gpt-oss); nil for none.
    let sinks: FloatBuffer?

    init(q: LinearPlan, k: LinearPlan, v: LinearPlan, o: LinearPlan, heads: Int, kvHeads: Int, headDim: Int, rope: RoPE?, causal: Bool,
         queryNorm: NormPlan?, keyNorm: NormPlan?, window: Int?, scale: Float, softcap: Float?, sinks: FloatBuffer?) {
        self.q = q
        self.k = k
        self.v = v
        self.o = o
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.rope = rope
        self.causal = causal
        self.queryNorm = queryNorm
        self.keyNorm = keyNorm
        self.window = window
        self.scale = scale
        self.softcap = softcap
        self.sinks = sinks
    }

    /// Head `h`'s sink logit, if the layer has sinks.
    @inline(__always)
    func sink(_ h: Int) -> Float? { sinks.map { $0.pointer[h] } }

    /// The cached positions the query of position `position` attends to, in a sequence whose last evaluated
    /// position is `last`: causal (and windowed) for decoders, everything up to `last` for encoders.
    @inline(__always)
    func keyPositions(query position: Int, last: Int) -> Range<Int> {
        let end = causal ? position + 1 : last + 1
        return max(0, end - (window ?? end))..<end
    }
}

/// One feed-forward layer. A class, like `BlockPlan`: the forward pass hands it on per layer and token.
final class FeedForwardPlan {
    let kind: FeedForwardKind
    let activation: Activation
    /// Neurons.
    let width: Int
    /// `[ff, hidden]` up and (gated layers) gate rows; nil in a layer whose fused `gateUp` copy replaces them.
    let up: WeightMatrix?
    let gate: WeightMatrix?
    let upBias: FloatBuffer?
    let gateBias: FloatBuffer?
    /// Whether the activation is `f(gate)·up`.
    let gated: Bool
    /// A dense layer's `[hidden, ff]` down; nil in a blocked layer.
    let down: WeightMatrix?
    /// A blocked layer's down transposed, `[ff, hidden]` (neuron `n`'s output column is row `n`: one contiguous
    /// stream per block), checked but not read (`Model.transposedDowns` binds it); nil in a layer that keeps its
    /// source's `down`.
    let transposedDown: Tensor?
    /// `[hidden]` bias of the down projection.
    let downBias: FloatBuffer?
    /// Neurons per block of a blocked (sparse-bundle) layer, whose down is stored transposed; nil when dense.
    let blockSize: Int?
    /// A blocked layer's kept source `down` `[hidden, ff]` (`FeedForwardNode.sourceDown`), and `sourceOrder[n]`, the
    /// source index of stored neuron `n`: dense execution scatters the activations to source order and multiplies
    /// them with it, exactly as the source does.
    let sourceDown: WeightMatrix?
    let sourceOrder: [Int]
    /// A blocked gated layer's gate and up rows in one interleaved matrix, block by block
    /// (`WeightMatrix.interleavedBlocks`), which every gate/up product then reads (the plan keeps no other copy of
    /// them, so the graph's rows are freed with the graph); nil otherwise.
    let gateUp: WeightMatrix?
    /// A mixture of experts' router and experts (then `width` is one expert's, and `up`, `gate` and `down` are nil).
    let experts: ExpertsPlan?
    /// Neuron blocks (1 for a dense layer).
    var blocks: Int { blockSize.map { width / $0 } ?? 1 }

    init(kind: FeedForwardKind, activation: Activation, width: Int, up: WeightMatrix?, gate: WeightMatrix?, upBias: FloatBuffer?,
         gateBias: FloatBuffer?, gated: Bool, down: WeightMatrix?, transposedDown: Tensor?, downBias: FloatBuffer?, blockSize: Int?,
         sourceDown: WeightMatrix?, sourceOrder: [Int], gateUp: WeightMatrix?, experts: ExpertsPlan? = nil) {
        self.kind = kind
        self.activation = activation
        self.width = width
        self.up = up
        self.gate = gate
        self.upBias = upBias
        self.gateBias = gateBias
        self.gated = gated
        self.down = down
        self.transposedDown = transposedDown
        self.downBias = downBias
        self.blockSize = blockSize
        self.sourceDown = sourceDown
        self.sourceOrder = sourceOrder
        self.gateUp = gateUp
        self.experts = experts
    }
}

/// A mixture of experts' shared expert: `[width, hidden]` gate and up, `[hidden, width]` down, and the `[1, hidden]`
/// projection whose sigmoid weighs its output (Qwen2-MoE), if any.
struct SharedExpertPlan {
    let gate: LinearPlan, up: LinearPlan, down: LinearPlan
    let outputGate: LinearPlan?
    var width: Int { gate.outputs }
}

/// A mixture-of-experts layer: the router and each expert's gate, up and down matrices (row ranges of the stacked
/// tensors, no copies).
final class ExpertsPlan {
    /// `[experts, hidden]`.
    let router: LinearPlan
    let routing: MixtureOfExperts
    /// Per expert, `[width, hidden]`.
    let gate: [WeightMatrix]
    let up: [WeightMatrix]
    /// Per expert, `[hidden, width]`.
    let down: [WeightMatrix]
    /// The experts' biases (gpt-oss), expert after expert: `[experts, width]` of gate and up, `[experts, hidden]` of down.
    let gateBias: FloatBuffer?
    let upBias: FloatBuffer?
    let downBias: FloatBuffer?
    /// The shared expert every token runs (GraniteMoeShared, Qwen2-MoE).
    let shared: SharedExpertPlan?

    init(router: LinearPlan, routing: MixtureOfExperts, gate: [WeightMatrix], up: [WeightMatrix], down: [WeightMatrix],
         gateBias: FloatBuffer?, upBias: FloatBuffer?, downBias: FloatBuffer?, shared: SharedExpertPlan?) {
        self.router = router
        self.routing = routing
        self.gate = gate
        self.up = up
        self.down = down
        self.gateBias = gateBias
        self.upBias = upBias
        self.downBias = downBias
        self.shared = shared
    }
}

/// A low-rank sparsity predictor `scores = up · (down · x) + bias`, reading block `sourceBlock`'s residual stream at
/// `input`.
struct PredictorPlan {
    /// `[rank, hidden]`, in its stored dtype (multiplied in the source block's Q/K/V region, or before the FFN for
    /// a predictor of the FFN input).
    let down: WeightMatrix
    /// `[units, rank]`, in its stored dtype (multiplied on the thread pool when the scores are needed).
    let up: WeightMatrix
    let bias: FloatBuffer?
    let sourceBlock: Int
    let input: PredictorInput
    let units: Int
    var rank: Int { down.rows }
}

/// One transformer block. A class: the forward pass reads a block per layer and token, and copying a struct of
/// this many references would retain and release each of them every time.
final class BlockPlan {
    let attentionNorm: NormPlan
    let attention: AttentionPlan
    let feedForwardNorm: NormPlan
    let feedForward: FeedForwardPlan
    let placement: NormPlacement
    /// Norms of attention's and the FFN's outputs before the residual adds (Gemma).
    let attentionOutputNorm: NormPlan?
    let feedForwardOutputNorm: NormPlan?
    /// Predictors of this block's FFN blocks and attention heads (sparse bundles).
    let ffnPredictor: PredictorPlan?
    let headPredictor: PredictorPlan?
    /// The bundle's per-block densities (its schedule), if any.
    let ffnDensity: Double?
    let headDensity: Double?
    /// Multiplier of attention's and the FFN's outputs before the residual adds (Granite), if any.
    let residualScale: Float?

    init(attentionNorm: NormPlan, attention: AttentionPlan, feedForwardNorm: NormPlan, feedForward: FeedForwardPlan,
         placement: NormPlacement, ffnPredictor: PredictorPlan?, headPredictor: PredictorPlan?, ffnDensity: Double?,
         headDensity: Double?, attentionOutputNorm: NormPlan?, feedForwardOutputNorm: NormPlan?, residualScale: Double?) {
        self.attentionNorm = attentionNorm
        self.residualScale = residualScale.map { Float($0) }
        self.attentionOutputNorm = attentionOutputNorm
        self.feedForwardOutputNorm = feedForwardOutputNorm
        self.attention = attention
        self.feedForwardNorm = feedForwardNorm
        self.feedForward = feedForward
        self.placement = placement
        self.ffnPredictor = ffnPredictor
        self.headPredictor = headPredictor
        self.ffnDensity = ffnDensity
        self.headDensity = headDensity
    }
}

/// The compiled form of a `ModelGraph`: every tensor the forward pass reads, bound once, checked for shape
/// and dtype. Weight matrices stay in their stored dtype (mapped or owned by the graph's tensors).
struct ExecutionPlan {
    let architecture: Architecture
    let hyperparameters: Hyperparameters
    let tokenEmbedding: WeightMatrix
    /// Multiplier of the token embeddings (Gemma), if any.
    let embeddingScale: Float?
    let positionEmbedding: WeightMatrix?
    let tokenTypeEmbedding: WeightMatrix?
    let embeddingNorm: NormPlan?
    let blocks: [BlockPlan]
    let finalNorm: NormPlan?
    let lmHead: LinearPlan?
    /// `c` of the logits' soft cap `c·tanh(logits / c)`, if any.
    let logitSoftcap: Float?
    /// What the logits are multiplied by: the reciprocal of the head's divisor (Granite), as llama.cpp scales them.
    let logitScale: Float?

    /// Widest activation row a product reads (the size of the shared `MatMulInput`).
    var widestInput: Int {
        var widest = hyperparameters.hiddenSize
        for b in blocks {
            widest = max(widest, b.attention.o.inputs, b.feedForward.width, b.attention.q.inputs)
        }
        return widest
    }

    /// With `interleavedWeights`, where the 16-row kernels run (`DecodeKernels.preferred` is VNNI or AVX2), the
    /// matrices of the types with blocks of 32 (`WeightMatrix.canInterleave`) and whole 16-row groups that products
    /// read — Q, K, V, O, gate and up (unless a sparse layer reads them by single neurons), down, a kept source down,
    /// an untied LM head, predictors but a q8_0 up (`InterleavedQ8Matrix`) — are replaced by their shared interleaved
    /// copies (`WeightMatrix.sharedInterleaved()`), whatever holds their bytes,
    /// so that a matrix runs the same kernel (and gives the same bits) from a GGUF and from a bundle packed with
    /// `--dtype keep`.
    /// Pages mapped from a file are released after copying; a buffer the graph owns (a GGUF's Q/K rows put back in
    /// transformers' order) is held twice until the graph is released. A blocked gated layer whose blocks are whole
    /// groups gets one copy of gate and up together, block by block (`FeedForwardPlan.gateUp`), instead of one
    /// each, made from a bundle's blocks without gathering their rows (`TensorStorage.deferred`). With AVX2 alone
    /// (forced on a Zen 4 machine) SmolLM2 Q4_1 decoded 332–366 tokens/s this way against 278–288 row by row
    /// (`--no-interleave`); a predictor's short rows (two blocks at rank 64) then take one pass on the calling thread.
    init(graph: ModelGraph, interleavedWeights: Bool = false) throws {
        let hp = graph.hyperparameters
        architecture = graph.architecture
        hyperparameters = hp
        let d = hp.hiddenSize

        func tensor(_ name: String) throws -> Tensor {
            guard let t = graph.tensors[name] else { throw SieveCoreError.missingTensor(source: "model", name: name) }
            return t
        }
        /// Tensor `name`, checked to be a `[rows, columns]` matrix of a type the kernels read, without reading it.
        func matrixTensor(_ name: String, rows: Int?, columns: Int) throws -> Tensor {
            let t = try tensor(name)
            guard t.shape.rank == 2, t.shape.dims[1] == columns, rows == nil || t.shape.dims[0] == rows else {
                throw SieveCoreError.invalidShape(source: "model", tensor: name, reason: "shape \(t.shape), the runtime expects [\(rows.map(String.init) ?? "n"), \(columns)]")
            }
            guard WeightMatrix.supportedTypes.contains(t.dtype) else {
                throw SieveRuntimeError.unsupportedWeightType(tensor: name, dtype: t.dtype.name)
            }
            return t
        }
        func matrix(_ name: String, rows: Int?, columns: Int) throws -> WeightMatrix {
            try WeightMatrix(try matrixTensor(name, rows: rows, columns: columns))
        }
        func vector(_ name: String, count: Int) throws -> FloatBuffer {
            let t = try tensor(name)
            guard t.elementCount == count, t.dtype.isFloat else {
                throw SieveCoreError.invalidShape(source: "model", tensor: name, reason: "shape \(t.shape) as \(t.dtype.name), the runtime expects \(count) float values")
            }
            return try FloatBuffer(tensor: t)
        }
        let interleave = interleavedWeights && DecodeKernels.preferred != .swift
        /// The matrix a product reads: its interleaved copy when it has one.
        func product(_ m: WeightMatrix) -> WeightMatrix {
            interleave && m.canInterleave ? m.sharedInterleaved() : m
        }
        func linear(_ ref: LinearRef, outputs: Int, inputs: Int, product read: Bool = true) throws -> LinearPlan {
            let m = try matrix(ref.weight, rows: outputs, columns: inputs)
            return LinearPlan(weight: read ? product(m) : m, bias: try ref.bias.map { try vector($0, count: outputs) })
        }
        func norm(_ node: NormNode, width: Int) throws -> NormPlan {
            NormPlan(kind: node.kind, weight: try vector(node.weight, count: width), bias: try node.bias.map { try vector($0, count: width) },
                     epsilon: Float(node.epsilon))
        }
        func norm(_ node: NormNode) throws -> NormPlan { try norm(node, width: d) }

        tokenEmbedding = try matrix(graph.embedding.tokens, rows: hp.vocabSize, columns: d)
        embeddingScale = graph.embedding.scale.map { Float($0) }
        positionEmbedding = try graph.embedding.positions.map { try matrix($0, rows: nil, columns: d) }
        tokenTypeEmbedding = try graph.embedding.tokenTypes.map { try matrix($0, rows: nil, columns: d) }
        embeddingNorm = try graph.embedding.norm.map(norm)
        if let p = positionEmbedding, p.rows < hp.contextLength + hp.positionOffset {
            throw SieveCoreError.invalidShape(source: "model", tensor: p.name, reason: "\(p.rows) positions, fewer than the context \(hp.contextLength) + offset \(hp.positionOffset)")
        }
        // Some layers may go without position encoding (SmolLM3's NoPE layers), but not all of a model without a table.
        if graph.embedding.positions == nil && graph.blocks.allSatisfy({ $0.attention.rope == nil }) {
            throw SieveRuntimeError.unsupportedGraph(reason: "attention without RoPE needs a learned position table, and the graph has none")
        }

        /// Block `i`'s predictor of `units` units, checked against the block.
        func predictor(_ node: PredictorNode?, units: Int, block i: Int) throws -> PredictorPlan? {
            guard let node else { return nil }
            guard node.units == units, node.sourceBlock >= 0, node.sourceBlock <= i else {
                throw SieveRuntimeError.unsupportedGraph(reason: "block \(i): a \(node.target.rawValue) predictor of \(node.units) units reading block \(node.sourceBlock) (expected \(units) units and a block at most \(i))")
            }
            if let problem = node.inputProblem(block: i) { throw SieveRuntimeError.unsupportedGraph(reason: "block \(i): \(problem)") }
            let downT = try tensor(node.down)
            let rank = downT.shape.dims.first ?? 0
            let up = try tensor(node.up)
            guard up.shape.dims == [units, rank] else {
                throw SieveCoreError.invalidShape(source: "model", tensor: node.up, reason: "shape \(up.shape), the runtime expects [\(units), \(rank)]")
            }
            // A q8_0 up stays row-major: the sparse run copies it into `InterleavedQ8Matrix`'s layout.
            let predictorUp = try matrix(node.up, rows: units, columns: rank)
            return PredictorPlan(down: product(try matrix(node.down, rows: rank, columns: d)),
                                 up: predictorUp.dtype == .q8_0 ? predictorUp : product(predictorUp),
                                 bias: try node.bias.map { try vector($0, count: units) }, sourceBlock: node.sourceBlock,
                                 input: node.input, units: units)
        }

        /// A mixture-of-experts layer: its router and every expert's rows of the stacked `[experts, rows, columns]`
        /// tensors, cut from their interleaved copies where whole 16-row groups make an expert.
        func experts(_ router: ExpertRouter, _ f: FeedForwardNode, block i: Int) throws -> FeedForwardPlan {
            let moe = router.routing, (e, w) = (moe.expertCount, moe.expertWidth)
            guard let gateRef = f.gate, f.kind == .swiglu || f.kind == .geglu else {
                throw SieveRuntimeError.unsupportedGraph(reason: "block \(i): experts must be gated feed-forward layers")
            }
            func stacked(_ name: String, rows: Int, columns: Int) throws -> [WeightMatrix] {
                let t = try tensor(name)
                guard t.shape.dims == [e, rows, columns] else {
                    throw SieveCoreError.invalidShape(source: "model", tensor: name, reason: "shape \(t.shape), the runtime expects [\(e), \(rows), \(columns)]")
                }
                guard WeightMatrix.supportedTypes.contains(t.dtype) else {
                    throw SieveRuntimeError.unsupportedWeightType(tensor: name, dtype: t.dtype.name)
                }
                var m = try WeightMatrix(t)
                if rows % 16 == 0 { m = product(m) }
                return (0..<e).map { m.rows(($0 * rows)..<(($0 + 1) * rows)) }
            }
            let plan = ExpertsPlan(router: try linear(router.projection, outputs: e, inputs: d), routing: moe,
                                   gate: try stacked(gateRef.weight, rows: w, columns: d), up: try stacked(f.up.weight, rows: w, columns: d),
                                   down: try stacked(f.down.weight, rows: d, columns: w),
                                   gateBias: try gateRef.bias.map { try vector($0, count: e * w) },
                                   upBias: try f.up.bias.map { try vector($0, count: e * w) },
                                   downBias: try f.down.bias.map { try vector($0, count: e * d) },
                                   shared: try router.shared.map { s in
                                       let width = moe.sharedExpertWidth ?? 0
                                       return SharedExpertPlan(gate: try linear(s.gate, outputs: width, inputs: d), up: try linear(s.up, outputs: width, inputs: d),
                                                               down: try linear(s.down, outputs: d, inputs: width),
                                                               outputGate: try s.outputGate.map { try linear($0, outputs: 1, inputs: d) })
                                   })
            return FeedForwardPlan(kind: f.kind, activation: f.activation, width: w, up: nil, gate: nil, upBias: nil, gateBias: nil, gated: true,
                                   down: nil, transposedDown: nil, downBias: nil, blockSize: nil, sourceDown: nil, sourceOrder: [],
                                   gateUp: nil, experts: plan)
        }

        var blocks: [BlockPlan] = []
        // Layers gather gate and up in turn into temporaries of the same sizes: reuse them.
        try DeferredBuffer.reusingTemporaryBuffers {
            for (i, b) in graph.blocks.enumerated() {
                let a = b.attention
                guard a.heads > 0, a.kvHeads > 0, a.heads % a.kvHeads == 0, a.headDim > 0 else {
                    throw SieveRuntimeError.unsupportedGraph(reason: "block \(i): \(a.heads) heads and \(a.kvHeads) KV heads (the KV heads must divide the heads)")
                }
                if let rope = a.rope, rope.dimensions <= 0 || rope.dimensions > a.headDim || rope.dimensions % 2 != 0 {
                    throw SieveRuntimeError.unsupportedGraph(reason: "block \(i): RoPE over \(rope.dimensions) of \(a.headDim) head dimensions (must be even and at most the head size)")
                }
                if let rope = a.rope, let problem = rope.scaling?.problem(dimensions: rope.dimensions) {
                    throw SieveRuntimeError.unsupportedGraph(reason: "block \(i): RoPE scaling: \(problem)")
                }
                if [a.queryNorm, a.keyNorm].contains(where: { $0 != nil && $0?.kind != .rms }) {
                    throw SieveRuntimeError.unsupportedGraph(reason: "block \(i): per-head query and key norms must be RMSNorm")
                }
                if b.normPlacement == .post && (b.attentionOutputNorm != nil || b.feedForwardOutputNorm != nil) {
                    throw SieveRuntimeError.unsupportedGraph(reason: "block \(i): output norms (Gemma's) need pre-norm placement")
                }
                if let window = a.window, window < 1 || !a.causal {
                    throw SieveRuntimeError.unsupportedGraph(reason: "block \(i): a sliding window of \(window) positions (must be positive, and only causal attention slides)")
                }
                let scale = Float(a.scoreScale)
                guard scale > 0, scale.isFinite else {
                    throw SieveRuntimeError.unsupportedGraph(reason: "block \(i): attention scale \(a.scoreScale) (must be positive)")
                }
                let softcap = a.softcap.map { Float($0) }
                if let softcap, !(softcap > 0 && softcap.isFinite) {
                    throw SieveRuntimeError.unsupportedGraph(reason: "block \(i): attention score soft cap \(softcap) (must be positive)")
                }
                let qDim = a.heads * a.headDim
                let kvDim = a.kvHeads * a.headDim
                let attention = AttentionPlan(
                    q: try linear(a.q, outputs: qDim, inputs: d), k: try linear(a.k, outputs: kvDim, inputs: d),
                    v: try linear(a.v, outputs: kvDim, inputs: d), o: try linear(a.o, outputs: d, inputs: qDim),
                    heads: a.heads, kvHeads: a.kvHeads, headDim: a.headDim, rope: a.rope, causal: a.causal,
                    queryNorm: try a.queryNorm.map { try norm($0, width: a.headDim) }, keyNorm: try a.keyNorm.map { try norm($0, width: a.headDim) },
                    window: a.window, scale: scale, softcap: softcap, sinks: try a.sinks.map { try vector($0, count: a.heads) })
                let f = b.feedForward
                if f.activation == .clampedSwiGLU && f.experts == nil {
                    throw SieveRuntimeError.unsupportedGraph(reason: "block \(i): swiglu_oai (gpt-oss's clamped SwiGLU) runs in experts only")
                }
                if f.kind.isGated && f.gate == nil {
                    throw SieveRuntimeError.unsupportedGraph(reason: "block \(i): a \(f.kind.rawValue) feed-forward layer without a gate projection")
                }
                if let router = f.experts {
                    let feedForward = try experts(router, f, block: i)
                    blocks.append(BlockPlan(attentionNorm: try norm(b.attentionNorm), attention: attention,
                                            feedForwardNorm: try norm(b.feedForwardNorm), feedForward: feedForward,
                                            placement: b.normPlacement, ffnPredictor: nil,
                                            headPredictor: try predictor(b.headPredictor, units: a.heads, block: i),
                                            ffnDensity: nil, headDensity: b.headDensity,
                                            attentionOutputNorm: try b.attentionOutputNorm.map(norm),
                                            feedForwardOutputNorm: try b.feedForwardOutputNorm.map(norm), residualScale: b.residualScale))
                    continue
                }
                let width = try tensor(f.up.weight).shape.dims.first ?? 0
                var down: WeightMatrix?
                var transposedDown: Tensor?
                var blockSize: Int?
                switch f.layout {
                case .dense:
                    down = product(try matrix(f.down.weight, rows: d, columns: width))
                case let .blocked(size, _):
                    // Bundles store down transposed, `[ff, hidden]`, multiplied by `TransposedMatMul`.
                    guard size > 0, width % size == 0 else {
                        throw SieveRuntimeError.unsupportedGraph(reason: "block \(i): FFN width \(width) is not a whole number of blocks of \(size)")
                    }
                    if f.sourceDown == nil { transposedDown = try matrixTensor(f.down.weight, rows: width, columns: d) }
                    blockSize = size
                }
                // A sparse layer whose blocks are not whole 16-row groups (single neurons) reads gate/up rows row-major;
                // a gated one whose blocks are reads both from one matrix, block by block.
                let byGroups = (blockSize ?? 16) % 16 == 0
                let up = try matrixTensor(f.up.weight, rows: width, columns: d)
                let gate = try f.gate.map { try matrixTensor($0.weight, rows: width, columns: d) }
                var gateUp: WeightMatrix?
                if interleave, let blockSize, byGroups, let gate, gate.dtype == up.dtype, WeightMatrix.canInterleave(up.dtype, rows: width) {
                    gateUp = try WeightMatrix.sharedInterleavedBlocks(gate: gate, up: up, blockRows: blockSize)
                }
                /// Gate or up as products read it when they are not fused: interleaved where whole groups are read.
                func read(_ m: WeightMatrix) -> WeightMatrix { byGroups ? product(m) : m }
                var sourceDown: WeightMatrix?
                var sourceOrder: [Int] = []
                if let source = f.sourceDown, case let .blocked(_, permutation) = f.layout {
                    sourceDown = product(try matrix(source, rows: d, columns: width))
                    let order = try tensor(permutation)
                    guard order.dtype == .i32, order.elementCount == width else {
                        throw SieveCoreError.invalidShape(source: "model", tensor: permutation, reason: "shape \(order.shape) as \(order.dtype.name), the runtime expects \(width) i32 values")
                    }
                    sourceOrder = try order.floats().map { Int($0) }
                    guard Set(sourceOrder) == Set(0..<width) else {
                        throw SieveCoreError.invalidShape(source: "model", tensor: permutation, reason: "is not a permutation of 0..<\(width)")
                    }
                }
                let feedForward = FeedForwardPlan(
                    kind: f.kind, activation: f.activation, width: width, up: gateUp == nil ? read(try WeightMatrix(up)) : nil,
                    gate: try gateUp == nil ? gate.map { read(try WeightMatrix($0)) } : nil,
                    upBias: try f.up.bias.map { try vector($0, count: width) }, gateBias: try f.gate?.bias.map { try vector($0, count: width) },
                    gated: gate != nil,
                    down: down, transposedDown: transposedDown, downBias: try f.down.bias.map { try vector($0, count: d) },
                    blockSize: blockSize, sourceDown: sourceDown, sourceOrder: sourceOrder, gateUp: gateUp)
                let ffnPredictor = try predictor(b.ffnPredictor, units: feedForward.blocks, block: i)
                if ffnPredictor != nil && blockSize == nil {
                    throw SieveRuntimeError.unsupportedGraph(reason: "block \(i) has an FFN predictor but no blocked FFN layout")
                }
                blocks.append(BlockPlan(attentionNorm: try norm(b.attentionNorm), attention: attention,
                                        feedForwardNorm: try norm(b.feedForwardNorm), feedForward: feedForward,
                                        placement: b.normPlacement, ffnPredictor: ffnPredictor,
                                        headPredictor: try predictor(b.headPredictor, units: a.heads, block: i),
                                        ffnDensity: b.ffnDensity, headDensity: b.headDensity,
                                        attentionOutputNorm: try b.attentionOutputNorm.map(norm),
                                        feedForwardOutputNorm: try b.feedForwardOutputNorm.map(norm), residualScale: b.residualScale))
            }
        }
        guard !blocks.isEmpty else { throw SieveRuntimeError.unsupportedGraph(reason: "the graph has no transformer blocks") }
        self.blocks = blocks
        finalNorm = try graph.finalNorm.map(norm)
        // A head tied to the embedding stays as it is: the embedding's row lookups read the same tensor.
        lmHead = try graph.lmHead.map {
            try linear($0.projection, outputs: hp.vocabSize, inputs: d, product: $0.projection.weight != graph.embedding.tokens)
        }
        logitSoftcap = graph.lmHead?.softcap.map { Float($0) }
        logitScale = graph.lmHead?.divisor.map { 1 / Float($0) }
        if let cap = logitSoftcap, !(cap > 0 && cap.isFinite) {
            throw SieveRuntimeError.unsupportedGraph(reason: "logit soft cap \(cap) (must be positive)")
        }
    }
}
