import Foundation
import SieveCore
import SieveKernels

/// Which positions of an evaluated batch report their outputs.
public enum OutputRows: Sendable, Equatable {
    /// None (prefill whose logits are not needed).
    case none
    /// The last token only (generation).
    case last
    /// Every token (tests, scoring).
    case all
    /// Tokens at these indices of the evaluated sequence (perplexity scores the second half of a chunk).
    case range(Range<Int>)

    func resolved(count: Int) -> Range<Int> {
        switch self {
        case .none: return 0..<0
        case .last: return count > 0 ? (count - 1)..<count : 0..<0
        case .all: return 0..<count
        case let .range(r): return r.clamped(to: 0..<count)
        }
    }
}

/// The outputs of one evaluated position, valid only inside the callback that receives them.
public struct PositionOutput {
    /// The final hidden state: after the final norm for decoders (the LM head's input), the last block's
    /// output for encoders.
    public let hidden: UnsafeBufferPointer<Float>
    /// The LM head's logits (empty for encoders).
    public let logits: UnsafeBufferPointer<Float>
}

/// Where in a block an activation was recorded.
public enum ActivationSite: String, Sendable, CaseIterable {
    /// The residual stream entering the block (before its first norm).
    case blockInput
    /// The attention heads' concatenated outputs (the input of the output projection), `[tokens, heads·headDim]`.
    case attentionOutput
    /// The residual stream as the FFN receives it (attention's output added; for post-norm blocks normalised).
    case feedForwardInput
    /// The FFN's intermediate activation (the input of the down projection), `[tokens, ffnWidth]`.
    case feedForwardActivation
}

/// Activations of one block for a batch of tokens, handed to `Model.activationObserver`. The values are only
/// valid during the call.
public struct ActivationRecord {
    /// Where in the block the values were taken.
    public let site: ActivationSite
    /// The block's index.
    public let layer: Int
    /// Position of the first token of the batch.
    public let firstPosition: Int
    /// Tokens (rows) recorded.
    public let tokens: Int
    /// Values per token.
    public let width: Int
    /// `tokens × width` values, row-major.
    public let values: UnsafeBufferPointer<Float>
}

/// A `ModelGraph` compiled for the CPU: weights bound in their stored dtypes, a KV cache sized to the context,
/// and every activation buffer allocated once, so evaluating tokens allocates nothing.
///
/// `evaluate` appends tokens at `position` (prefill in batches of `RuntimeOptions.batchSize`, decode one at a
/// time) and reports the hidden states and logits of the requested positions. A model is stateful (its cache)
/// and not thread-safe; use one per conversation.
public final class Model {
    /// The architecture family.
    public let architecture: Architecture
    /// The model's hyperparameters.
    public let hyperparameters: Hyperparameters
    /// The tokenizer the graph carried, if any.
    public let tokenizerDescription: TokenizerDescription?
    /// Positions the KV cache holds.
    public let contextLength: Int
    /// The options the model was compiled with.
    public let options: RuntimeOptions
    /// Called with block activations during `evaluate` when set (calibration, tests, analysis). Leave nil for
    /// speed.
    public var activationObserver: ((ActivationRecord) -> Void)?
    /// Test hook of dense evaluation: called per block and row with the attention heads' outputs
    /// (`.attentionOutput`) and the FFN activations (`.feedForwardActivation`), which it may change (e.g. zero
    /// units, as a plain reference for sparse execution).
    var unitFilter: ((ActivationSite, Int, UnsafeMutableBufferPointer<Float>) -> Void)?

    let plan: ExecutionPlan
    let pool: ThreadPool
    /// A pool of the calling thread alone: for products too small to pay for a parallel region (the first product
    /// of a predictor of the FFN input: 64×256 on docs-opt-relu, 0.4 µs, where a region costs about a microsecond),
    /// and for work run as the task of another region (a predictor's scores beside the output projection).
    private let callingThread = ThreadPool(threads: 1)
    let cache: KVCache
    private let work: Workspace
    /// Each block's rotary table (blocks with the same RoPE settings share one; nil without RoPE).
    private let ropes: [RotaryEmbedding?]
    /// Per block, the fused products that share an input: q/k/v (with the predictors that read the block's input,
    /// when they overlap), and gate/up for gated FFNs.
    private let attentionProducts: [[MatMulProduct]]
    private let feedForwardProducts: [[MatMulProduct]]
    /// The mixture-of-experts layers' runner (nil for models without them).
    private let mixtureOfExperts: MixtureOfExpertsRunner?
    /// Per block, q/k/v followed by the first products of the predictors that read the block's input (lookahead
    /// overlap: one parallel region for both).
    private let attentionAndPredictorProducts: [[MatMulProduct]]
    /// Per block, the output projection followed by the `up` products of the predictors that read the block's input
    /// and score early (`SparsityPlan.ActivePredictor.scoresEarly`), for decode steps with lookahead overlap.
    private let outputAndScoreProducts: [[MatMulProduct]]
    /// Per block, the predictors' first products when they run in a region of their own (no overlap).
    private let predictorProducts: [[MatMulProduct]]
    /// Per block, the first product of its FFN predictor when that reads the FFN input (run before the FFN).
    private let feedForwardInputPredictorProducts: [[MatMulProduct]]
    /// Densities, predictors and their buffers.
    let sparsity: SparsityPlan
    private let selection: SelectionBuffers
    /// The raw residual stream at a block's input, as the predictors read it.
    private let predictorInput: MatMulInput
    /// A predictor's hidden vector, as its `up` product reads it.
    private let scoresInput: MatMulInput
    /// Per block, its blocked FFN's transposed down, unless the layer keeps a source down (which it reads instead).
    private let transposedDowns: [WeightMatrix?]
    /// Per-thread scratch of the transposed (blocked) down products.
    private let downScratch: FloatBuffer
    /// The rows of a decoded token's non-zero activations (`TransposedMatMul.multiplyNonzero`).
    private let nonzeroRows: IndexBuffer
    /// Per block, its blocked FFN as the one-region sparse kernel sees it (nil for dense FFNs and where the model
    /// binds no transposed down), and that kernel's scratch.
    private let sparseFeedForwards: [SparseFeedForward.Layer?]
    private let sparseScratch: FloatBuffer
    /// `[batch, ff]`: FFN activations scattered back to source order, for blocked layers with a kept source `down`.
    private let sourceOrderActivations: FloatBuffer
    /// Whether the batch being evaluated runs sparsely (decode, or prefill with `sparsePrefill`).
    private var sparseStep = false
    /// Whether this step's time goes into `decodeProfile` (one token, `profilesDecode` on).
    private var profiling = false

    /// Whether decoded tokens' time is measured by step into `decodeProfile` (off by default).
    public var profilesDecode = false
    /// Where the tokens decoded while `profilesDecode` was on spent their time.
    public private(set) var decodeProfile = DecodeProfile()
    /// Starts a new profile.
    public func resetDecodeProfile() { decodeProfile = DecodeProfile() }

    /// Runs `body`, adding its wall time to `step` of the profile when this step is profiled.
    @inline(__always)
    private func timed<R>(_ step: DecodeProfile.Step, _ body: () throws -> R) rethrows -> R {
        guard profiling else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        defer { decodeProfile.add(step, nanoseconds: DispatchTime.now().uptimeNanoseconds &- start) }
        return try body()
    }
    /// Whether this step computes the early predictor scores in the output-projection regions (one token,
    /// predicted selection, lookahead overlap).
    private var earlyScores = false
    /// The layer whose decoded token's FFN selection is already in `selection.selected` (chosen beside its
    /// output projection), or -1.
    private var ffnSelectedEarly = -1

    /// The units each block computes per token (all of them for dense models and in dense mode).
    public var densities: [BlockDensity] { sparsity.densities }
    /// Whether decoding computes only a subset of FFN blocks or heads somewhere.
    public var isSparse: Bool { sparsity.isSparse }
    /// Mean fraction of FFN blocks computed per token over the blocks.
    public var meanFFNDensity: Double { densities.map(\.ffn).reduce(0, +) / Double(max(1, densities.count)) }
    /// Mean fraction of attention heads computed per token over the blocks.
    public var meanHeadDensity: Double { densities.map(\.head).reduce(0, +) / Double(max(1, densities.count)) }

    /// Compiles `graph`: binds its tensors, checks shapes and dtypes, and allocates the cache and buffers.
    /// - Parameter pool: a thread pool to share with other models; nil starts one with `options.threads` threads.
    public init(graph: ModelGraph, options: RuntimeOptions = RuntimeOptions(), pool: ThreadPool? = nil) throws {
        try options.validate()
        let hp = graph.hyperparameters
        try hp.validate(source: "model")
        let plan = try ExecutionPlan(graph: graph, interleavedWeights: options.interleavedWeights)
        let context = try options.resolvedContext(trainedContext: hp.contextLength)
        let first = plan.blocks[0].attention
        for (i, b) in plan.blocks.enumerated() {
            if b.attention.kvHeads != first.kvHeads || b.attention.headDim != first.headDim {
                throw SieveRuntimeError.unsupportedGraph(reason: "block \(i) has a different KV head layout from block 0")
            }
        }
        let threads = pool?.threadCount ?? options.threads ?? ThreadPool.defaultThreadCount
        let encoder = plan.blocks.contains { !$0.attention.causal }
        let batch = encoder ? max(options.batchSize, context) : min(options.batchSize, context)
        let work = Workspace(plan: plan, batch: batch, context: context, threads: threads,
                             quantizedActivations: options.quantizedActivations)
        // Predictors run for every row of a batch only with a sparse prefill; otherwise for decoded tokens alone.
        let predictedRows = options.sparsePrefill ? batch : 1
        let sparsity = try SparsityPlan(plan: plan, options: options, predictedRows: predictedRows, threads: threads)
        // Dense models and dense modes never bind it: keep it minimal then.
        let predictorsRun = sparsity.readers.contains { !$0.isEmpty } || sparsity.feedForwardInputReaders.contains { $0 != nil }
        let predictorInput = MatMulInput(maxTokens: predictorsRun ? predictedRows : 1,
                                         maxColumns: hp.hiddenSize, threads: threads,
                                         alwaysQuantizeActivations: options.quantizedActivations)
        self.sparsity = sparsity
        self.predictorInput = predictorInput
        scoresInput = MatMulInput(maxTokens: 1, maxColumns: max(1, plan.blocks.flatMap { [$0.ffnPredictor?.rank, $0.headPredictor?.rank] }.compactMap { $0 }.max() ?? 1),
                                  threads: threads, alwaysQuantizeActivations: options.quantizedActivations)
        selection = SelectionBuffers(maxUnits: plan.blocks.map { max($0.feedForward.blocks, $0.attention.heads) }.max() ?? 1,
                                     layers: plan.blocks.count)
        let blocked = plan.blocks.contains { $0.feedForward.blockSize != nil }
        downScratch = FloatBuffer(count: blocked ? TransposedMatMul.scratchFloats(columns: hp.hiddenSize, threads: threads) : 0)
        nonzeroRows = IndexBuffer(count: blocked ? plan.blocks.map(\.feedForward.width).max() ?? 0 : 0)
        let transposedDowns = try plan.blocks.map { b in try b.feedForward.transposedDown.map { try WeightMatrix($0) } }
        self.transposedDowns = transposedDowns
        sparseFeedForwards = plan.blocks.enumerated().map { i, b in
            let f = b.feedForward
            guard let blockSize = f.blockSize, let down = transposedDowns[i] else { return nil }
            let function = Self.kernelFunction(f.activation)
            if let gateUp = f.gateUp {
                return SparseFeedForward.Layer(gateUp: gateUp, down: down, gateBias: f.gateBias?.pointer,
                                               upBias: f.upBias?.pointer, function: function, blockRows: blockSize)
            }
            return SparseFeedForward.Layer(gate: f.gate, up: f.up!, down: down, gateBias: f.gateBias?.pointer,
                                           upBias: f.upBias?.pointer, function: function, blockRows: blockSize)
        }
        sourceOrderActivations = FloatBuffer(count: batch * (plan.blocks.filter { $0.feedForward.sourceDown != nil }.map(\.feedForward.width).max() ?? 0))
        sparseScratch = FloatBuffer(count: blocked && sparsity.isSparse ? SparseFeedForward.scratchFloats(outputs: hp.hiddenSize, threads: threads) : 0)

        self.plan = plan
        architecture = graph.architecture
        hyperparameters = hp
        tokenizerDescription = graph.tokenizer
        self.options = options
        contextLength = context
        self.pool = pool ?? ThreadPool(threads: threads)
        self.work = work
        cache = KVCache(type: options.kvCacheType, layers: plan.blocks.count, kvHeads: first.kvHeads, headDim: first.headDim,
                        capacity: context)
        var tables: [(RoPE, RotaryEmbedding)] = []
        ropes = plan.blocks.map { b in
            guard let settings = b.attention.rope else { return nil }
            if let shared = tables.first(where: { $0.0 == settings }) { return shared.1 }
            let table = RotaryEmbedding(headDimension: first.headDim, rotaryDimension: settings.dimensions, base: Float(settings.theta),
                                        scaling: settings.scaling, layout: settings.style == .halfSplit ? .halfSplit : .interleaved,
                                        maxPositions: context)
            tables.append((settings, table))
            return table
        }
        let predictorProducts = sparsity.readers.map { readers in
            readers.map { MatMulProduct(weights: $0.plan.down, output: $0.hidden.pointer, input: predictorInput) }
        }
        feedForwardInputPredictorProducts = sparsity.feedForwardInputReaders.map { reader in
            reader.map { [MatMulProduct(weights: $0.plan.down, output: $0.hidden.pointer, input: predictorInput)] } ?? []
        }
        let overlap = options.lookaheadOverlap
        self.predictorProducts = overlap ? [] : predictorProducts
        let attentionProducts = plan.blocks.map { b in [
            MatMulProduct(weights: b.attention.q.weight, output: work.queries.pointer),
            MatMulProduct(weights: b.attention.k.weight, output: work.keys.pointer),
            MatMulProduct(weights: b.attention.v.weight, output: work.values.pointer),
        ] }
        self.attentionProducts = attentionProducts
        attentionAndPredictorProducts = attentionProducts.enumerated().map { i, products in
            products + (overlap ? predictorProducts[i] : [])
        }
        outputAndScoreProducts = plan.blocks.indices.map { i in
            [MatMulProduct(weights: plan.blocks[i].attention.o.weight, output: work.projected.pointer)]
                + (overlap ? sparsity.readers[i].filter(\.scoresEarly).map {
                    MatMulProduct(weights: $0.plan.up, output: $0.scores.pointer, input: $0.scoresInput)
                } : [])
        }
        mixtureOfExperts = MixtureOfExpertsRunner(plan: plan, batch: batch, threads: threads, quantizedActivations: options.quantizedActivations)
        feedForwardProducts = plan.blocks.map { b in
            let f = b.feedForward
            if f.experts != nil { return [] }
            if let gateUp = f.gateUp { return [MatMulProduct(weights: gateUp, output: work.gate.pointer)] }
            let up = MatMulProduct(weights: f.up!, output: work.up.pointer)
            guard let gate = f.gate else { return [up] }
            return [MatMulProduct(weights: gate, output: work.gate.pointer), up]
        }
        // Decided on what a dense run reads, so that the dense and sparse runs of one bundle use the same kernels,
        // and on whether the mixed conversion is the faster one on this CPU at all.
        let mixedConversion = MatMulInput.mixedHalfConversionPays
            && Self.weightsStayCached(decodeWeightBytes(downRowsRead: nil, dense: true))
        let predictorInputs = (sparsity.ffnPredictors + sparsity.headPredictors).compactMap { $0?.scoresInput }
        for input in [work.input, predictorInput, scoresInput] + predictorInputs { input.mixedHalfConversion = mixedConversion }
    }

    /// Whether a decoded token's weights (`bytes`, counting every row of a transposed down, of which a ReLU layer
    /// reads a fraction) fit in the last-level cache, so that they are read from it token after token (false when
    /// the cache size is unknown). docs-opt-relu: 13.6 MB counted (10.9 MB read) against a 16 MiB L3.
    static func weightsStayCached(_ bytes: Double) -> Bool {
        guard let cache = CPUCaches.lastLevelBytes else { return false }
        return bytes <= Double(cache)
    }

    /// Tokens in the KV cache; the next evaluated token gets this position.
    public var position: Int { cache.length }
    /// Number of kernel threads.
    public var threadCount: Int { pool.threadCount }
    /// Vocabulary size (rows of the token embedding).
    public var vocabularySize: Int { hyperparameters.vocabSize }
    /// Width of the hidden state.
    public var hiddenSize: Int { hyperparameters.hiddenSize }
    /// Whether the model predicts tokens (decoders) rather than only producing hidden states (encoders).
    public var hasLanguageModelHead: Bool { plan.lmHead != nil }
    /// Whether attention is causal (decoders) or bidirectional (encoders).
    public var isCausal: Bool { plan.blocks[0].attention.causal }
    /// Bytes held by the KV cache.
    public var kvCacheBytes: Int { cache.byteCount }

    /// Empties the KV cache.
    public func reset() { cache.length = 0 }

    /// Drops cached positions from `position` on (to reuse a common prefix of a new prompt).
    public func truncate(to position: Int) {
        precondition(position >= 0 && position <= cache.length, "truncate(to: \(position)) outside 0…\(cache.length)")
        cache.length = position
    }

    /// Evaluates `tokens` at positions `position ..< position + tokens.count`, appending them to the cache, and
    /// calls `body(index, output)` for each index in `outputs` (indices into `tokens`), in order.
    ///
    /// Encoders (bidirectional attention) evaluate a whole sequence at once from an empty cache.
    public func evaluate<C: Collection>(_ tokens: C, outputs: OutputRows = .last,
                                        _ body: (Int, PositionOutput) throws -> Void) throws where C.Element == Int {
        let count = tokens.count
        guard count > 0 else { return }
        let start = cache.length
        guard start + count <= contextLength else {
            throw SieveRuntimeError.cacheFull(position: start, tokens: count, context: contextLength)
        }
        if !isCausal {
            guard start == 0, count <= work.batch else {
                throw SieveRuntimeError.invalidOption(name: "encoder input", value: "\(count) tokens at position \(start)", reason: "an encoder reads one sequence of at most \(work.batch) tokens from an empty cache; call reset() first or shorten the input")
            }
        }
        // Every id is checked before anything is evaluated, so a bad one leaves the cache as it was.
        for t in tokens where t < 0 || t >= vocabularySize {
            throw SieveRuntimeError.tokenOutOfRange(token: t, vocabularySize: vocabularySize)
        }
        let wanted = outputs.resolved(count: count)
        var index = 0
        var iterator = tokens.makeIterator()
        while index < count {
            let n = min(work.batch, count - index)
            for i in 0..<n { work.tokens[i] = iterator.next()! }
            let rows = wanted.clamped(to: index..<(index + n))
            let local = rows.isEmpty ? 0..<0 : (rows.lowerBound - index)..<(rows.upperBound - index)
            profiling = profilesDecode && n == 1
            defer { profiling = false }
            forwardBlocks(tokens: n, at: cache.length, outputRows: local)
            cache.length += n
            if profiling { decodeProfile.tokens += 1 }
            if !local.isEmpty { try emitOutputs(rows: local, batchOffset: index, body) }
            index += n
        }
    }

    /// The mean of the final hidden states of `tokens`, evaluated from an empty cache (sentence embeddings of
    /// encoders such as all-MiniLM; also defined for decoders). `normalize` scales it to unit length.
    public func embedding(_ tokens: [Int], normalize: Bool = false) throws -> [Float] {
        guard !tokens.isEmpty else {
            throw SieveRuntimeError.invalidOption(name: "embedding input", value: "[]", reason: "needs at least one token")
        }
        reset()
        defer { reset() }
        var sum = [Float](repeating: 0, count: hiddenSize)
        try evaluate(tokens, outputs: .all) { _, output in
            for j in 0..<sum.count { sum[j] += output.hidden[j] }
        }
        var scale = 1 / Float(tokens.count)
        if normalize {
            let norm = (sum.reduce(0) { $0 + $1 * $1 }).squareRoot() * scale
            if norm > 0 { scale /= norm }
        }
        return sum.map { $0 * scale }
    }

    /// Evaluates one token (decode) and calls `body` with its logits.
    public func decode<R>(_ token: Int, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        var result: R?
        try evaluate(CollectionOfOne(token), outputs: .last) { _, output in result = try body(output.logits) }
        return result!
    }

    // MARK: - Forward pass

    /// Runs the blocks over batch rows `0..<n` at positions `start...`. Every row's keys and values enter the
    /// cache, but the last block computes its attention output and FFN only for `outputRows` (as llama.cpp
    /// does), unless an activation observer wants every row.
    private func forwardBlocks(tokens n: Int, at start: Int, outputRows: Range<Int>) {
        sparseStep = sparsity.isSparse && (n == 1 || options.sparsePrefill)
        earlyScores = sparseStep && n == 1 && sparsity.mode == .predicted && options.lookaheadOverlap
        ffnSelectedEarly = -1
        timed(.embedding) { embed(tokens: n, at: start) }
        let all = 0..<n
        for layer in plan.blocks.indices {
            let block = plan.blocks[layer]
            let rows = layer == plan.blocks.count - 1 && activationObserver == nil ? outputRows : all
            if let observer = activationObserver {
                observer(ActivationRecord(site: .blockInput, layer: layer, firstPosition: start, tokens: n, width: hiddenSize,
                                          values: UnsafeBufferPointer(work.residual.slice(0, n * hiddenSize))))
            }
            if !sparsity.readers[layer].isEmpty && sparseStep {
                // Lookahead: the predictors that read this block's input run now, inside its Q/K/V region.
                predictorInput.bind(work.residual.pointer, tokens: n, columns: hiddenSize)
                if !predictorProducts.isEmpty { timed(.predictors) { MatMul.multiply(predictorProducts[layer], predictorInput, pool: pool) } }
            }
            switch block.placement {
            case .pre:
                timed(.norms) { normalize(block.attentionNorm, work.residual, into: work.normed, rows: all) }
                attention(block.attention, layer: layer, input: work.normed, tokens: n, at: start, rows: rows)
                timed(.norms) {
                    if let norm = block.attentionOutputNorm { normalize(norm, work.projected, into: work.projected, rows: rows) }
                    addRows(work.projected, scaledBy: block.residualScale, into: work.residual, rows: rows)
                }
                feedForwardInputReady(layer: layer, tokens: n, at: start, rows: rows)
                timed(.norms) { normalize(block.feedForwardNorm, work.residual, into: work.normed, rows: rows) }
                timed(.feedForward) { feedForward(block.feedForward, layer: layer, input: work.normed, at: start, rows: rows) }
                timed(.norms) {
                    if let norm = block.feedForwardOutputNorm { normalize(norm, work.projected, into: work.projected, rows: rows) }
                    addRows(work.projected, scaledBy: block.residualScale, into: work.residual, rows: rows)
                }
            case .post:
                attention(block.attention, layer: layer, input: work.residual, tokens: n, at: start, rows: rows)
                timed(.norms) {
                    addRows(work.projected, scaledBy: block.residualScale, into: work.residual, rows: rows)
                    normalize(block.attentionNorm, work.residual, into: work.residual, rows: rows)
                }
                feedForwardInputReady(layer: layer, tokens: n, at: start, rows: rows)
                timed(.feedForward) { feedForward(block.feedForward, layer: layer, input: work.residual, at: start, rows: rows) }
                timed(.norms) {
                    addRows(work.projected, scaledBy: block.residualScale, into: work.residual, rows: rows)
                    normalize(block.feedForwardNorm, work.residual, into: work.residual, rows: rows)
                }
            }
        }
    }

    /// Block `layer`'s FFN input is in `work.residual` (rows `0..<n` when an observer or a sparse step needs them):
    /// reported to the activation observer, and multiplied by the first product of the FFN predictor that reads it.
    private func feedForwardInputReady(layer: Int, tokens n: Int, at start: Int, rows: Range<Int>) {
        if let observer = activationObserver {
            observer(ActivationRecord(site: .feedForwardInput, layer: layer, firstPosition: start, tokens: n, width: hiddenSize,
                                      values: UnsafeBufferPointer(work.residual.slice(0, n * hiddenSize))))
        }
        if sparseStep && !feedForwardInputPredictorProducts[layer].isEmpty {
            // Rows outside `rows` (the last block's unused rows) are stale; their scores are never read.
            predictorInput.bind(work.residual.pointer, tokens: n, columns: hiddenSize)
            timed(.predictors) { MatMul.multiply(feedForwardInputPredictorProducts[layer], predictorInput, pool: n == 1 ? callingThread : pool) }
        }
    }

    /// Token (+ position, + token type) embeddings into the residual stream, then the embedding norm.
    private func embed(tokens n: Int, at start: Int) {
        let d = hiddenSize
        for i in 0..<n {
            let x = work.residual.row(i, width: d)
            plan.tokenEmbedding.decodeRow(work.tokens[i], into: x)
            if let scale = plan.embeddingScale { Activations.scale(x, by: scale, count: d) }
            if let positions = plan.positionEmbedding {
                positions.decodeRow(start + i + hyperparameters.positionOffset, into: work.scratchRow.pointer)
                Activations.add(work.scratchRow.pointer, into: x, count: d)
            }
            if let types = plan.tokenTypeEmbedding {
                types.decodeRow(0, into: work.scratchRow.pointer)
                Activations.add(work.scratchRow.pointer, into: x, count: d)
            }
        }
        if let norm = plan.embeddingNorm { normalize(norm, work.residual, into: work.residual, rows: 0..<n) }
    }

    /// Q, K and V of all `n` rows (keys and values into the cache), then attention and the output projection
    /// for `rows` (into the same rows of `projected`).
    private func attention(_ a: AttentionPlan, layer: Int, input: FloatBuffer, tokens n: Int, at start: Int, rows: Range<Int>) {
        let d = hiddenSize
        let qDim = a.heads * a.headDim
        let kvDim = a.kvHeads * a.headDim
        timed(.qkv) {
            work.input.bind(input.pointer, tokens: n, columns: d)
            MatMul.multiply(sparseStep ? attentionAndPredictorProducts[layer] : attentionProducts[layer], work.input, pool: pool)
            addBias(a.q.bias, to: work.queries, rows: 0..<n, width: qDim)
            addBias(a.k.bias, to: work.keys, rows: 0..<n, width: kvDim)
            addBias(a.v.bias, to: work.values, rows: 0..<n, width: kvDim)
            // Per-head norms: the heads of all n tokens are n·heads contiguous rows of headDim.
            if let norm = a.queryNorm { normalizeHeads(norm, work.queries.pointer, rows: n * a.heads, width: a.headDim) }
            if let norm = a.keyNorm { normalizeHeads(norm, work.keys.pointer, rows: n * a.kvHeads, width: a.headDim) }
            if let rope = ropes[layer] {
                rope.apply(work.queries.pointer, heads: a.heads, tokens: n, tokenStride: qDim, firstPosition: start)
                rope.apply(work.keys.pointer, heads: a.kvHeads, tokens: n, tokenStride: kvDim, firstPosition: start)
            }
            let keys = cache.keys(layer), values = cache.values(layer)
            for i in 0..<n {
                keys.store(work.keys.row(i, width: kvDim), position: start + i, heads: a.kvHeads, headDimension: a.headDim)
                values.store(work.values.row(i, width: kvDim), position: start + i, heads: a.kvHeads, headDimension: a.headDim)
            }
        }
        guard !rows.isEmpty else { return }
        timed(.attention) {
            let density = sparsity.densities[layer]
            if density.sparseHeads && sparseStep {
                attendSparse(a, layer: layer, tokens: n, at: start, rows: rows, kept: density.headsKept)
            } else {
                attend(a, layer: layer, tokens: n, at: start, rows: rows)
                if let filter = unitFilter {
                    for i in rows { filter(.attentionOutput, layer, work.attended.slice(i * qDim, qDim)) }
                }
            }
        }
        if let observer = activationObserver {
            observer(ActivationRecord(site: .attentionOutput, layer: layer, firstPosition: start, tokens: n, width: qDim,
                                      values: UnsafeBufferPointer(work.attended.slice(0, n * qDim))))
        }
        timed(.outputProjection) { projectOutput(a, layer: layer, rows: rows) }
    }

    /// The output projection of `rows` of `attended` into the same rows of `projected`, with the FFN's scores and
    /// selection beside it (or the early predictor scores in its region) when this decode step computes them.
    private func projectOutput(_ a: AttentionPlan, layer: Int, rows: Range<Int>) {
        let d = hiddenSize, qDim = a.heads * a.headDim
        work.input.bind(work.attended.row(rows.lowerBound, width: qDim), tokens: rows.count, columns: qDim)
        if earlyScores && outputAndScoreProducts[layer].count > 1 {
            // The o projection and the scores of the predictors that read this block's input, in one region.
            for p in sparsity.readers[layer] where p.scoresEarly { p.scoresInput.bind(p.hidden.pointer, tokens: 1, columns: p.plan.rank) }
            MatMul.multiply(outputAndScoreProducts[layer], work.input, pool: pool)
        } else if earlyScores, let predictor = sparsity.ffnPredictors[layer], predictor.scoresOnCallingThread,
                  predictor.plan.input == .blockInput {
            // The FFN's scores and selection (serial, and independent of the output projection) run beside it.
            let kept = sparsity.densities[layer].ffnBlocksKept, units = plan.blocks[layer].feedForward.blocks
            let row = rows.lowerBound
            MatMul.multiply(a.o.weight, work.input, into: work.projected.row(row, width: d), pool: pool) {
                SparsityPlan.scores(predictor, row: row, into: self.selection.scores.pointer, input: self.scoresInput,
                                    pool: self.callingThread)
                _ = self.selection.top(kept, of: self.selection.scores.pointer, units: units, layer: layer, heads: false)
            }
            ffnSelectedEarly = layer
        } else {
            MatMul.multiply(a.o.weight, work.input, into: work.projected.row(rows.lowerBound, width: d), pool: pool)
        }
        addBias(a.o.bias, to: work.projected, rows: rows, width: d)
    }

    /// Scaled dot-product attention of every (token, head) pair over the cached keys and values: causal for
    /// decoders, over the whole sequence for encoders.
    private func attend(_ a: AttentionPlan, layer: Int, tokens n: Int, at start: Int, rows: Range<Int>) {
        let first = rows.lowerBound * a.heads
        let units = rows.count * a.heads
        // A short decode step costs less than a fork/join: run it on the calling thread.
        if units * (start + n) * a.headDim < Self.serialAttentionWork {
            attend(a, layer: layer, units: first..<(first + units), tokens: n, at: start, thread: 0)
        } else {
            pool.parallelFor(units) { range, thread in
                self.attend(a, layer: layer, units: (first + range.lowerBound)..<(first + range.upperBound), tokens: n,
                            at: start, thread: thread)
            }
        }
    }

    /// Attention of the (row, head) units `units` (unit = row · heads + head) on thread `thread`.
    private func attend(_ a: AttentionPlan, layer: Int, units: Range<Int>, tokens n: Int, at start: Int, thread: Int) {
        let qDim = a.heads * a.headDim
        let group = a.heads / a.kvHeads
        let keys = cache.keys(layer), values = cache.values(layer)
        let scores = work.scores.row(thread, width: work.context)
        for unit in units {
            let i = unit / a.heads, h = unit % a.heads
            let span = a.keyPositions(query: start + i, last: start + n - 1)
            Attention.attendOne(work.queries.row(i, width: qDim) + h * a.headDim, keys: keys.from(position: span.lowerBound),
                                values: values.from(position: span.lowerBound), kvHead: h / group, span: span.count,
                                headDimension: a.headDim, scale: a.scale, softcap: a.softcap, sink: a.sink(h), scores: scores,
                                into: work.attended.row(i, width: qDim) + h * a.headDim)
        }
    }

    /// Attention computing only `kept` heads per row (the rest of `attended` is zero, so the output projection
    /// ignores them). One predicted row attends only its selected heads; otherwise (oracle selection, sparse
    /// batches) every head is computed and the unselected ones are zeroed.
    private func attendSparse(_ a: AttentionPlan, layer: Int, tokens n: Int, at start: Int, rows: Range<Int>, kept: Int) {
        let qDim = a.heads * a.headDim
        if rows.count == 1, sparsity.mode == .predicted, let predictor = sparsity.headPredictors[layer] {
            let i = rows.lowerBound
            let scores = SparsityPlan.rowScores(predictor, row: i, fallback: selection.scores.pointer, input: scoresInput,
                                                early: earlyScores, pool: pool)
            let heads = selection.top(kept, of: scores, units: a.heads, layer: layer, heads: true)
            work.attended.row(i, width: qDim).update(repeating: 0, count: qDim)
            let span = a.keyPositions(query: start + i, last: start + n - 1).count
            if heads.count * span * a.headDim < Self.serialAttentionWork {
                for h in heads { attendHead(a, layer: layer, row: i, head: h, tokens: n, at: start, thread: 0) }
            } else {
                pool.parallelFor(heads.count) { range, thread in
                    for j in range { self.attendHead(a, layer: layer, row: i, head: heads[j], tokens: n, at: start, thread: thread) }
                }
            }
            return
        }
        attend(a, layer: layer, tokens: n, at: start, rows: rows)
        for i in rows {
            let out = work.attended.row(i, width: qDim)
            if sparsity.mode == .predicted, let predictor = sparsity.headPredictors[layer] {
                SparsityPlan.scores(predictor, row: i, into: selection.scores.pointer, input: scoresInput, pool: pool)
            } else {
                // Oracle: each head's output norm.
                for h in 0..<a.heads {
                    var sum: Float = 0
                    for j in 0..<a.headDim { let v = out[h * a.headDim + j]; sum += v * v }
                    selection.scores.pointer[h] = sum
                }
            }
            zeroUnselected(selection.top(kept, units: a.heads), units: a.heads, width: a.headDim, row: out)
        }
    }

    /// Zeroes the `width`-wide slices of `row` of the units not in `selected` (ascending).
    private func zeroUnselected(_ selected: UnsafeBufferPointer<Int>, units: Int, width: Int, row: UnsafeMutablePointer<Float>) {
        // The gaps between selected units, each zeroed at once: a call per unit made single neurons (a ReLU bundle
        // with a kept source down) cost about 10 µs per layer at 1024 neurons.
        @inline(__always)
        func zero(_ range: Range<Int>) {
            if range.count < 32 {
                for i in range { row[i] = 0 }
            } else {
                (row + range.lowerBound).update(repeating: 0, count: range.count)
            }
        }
        var next = 0
        for u in selected {
            zero(next..<(u * width))
            next = (u + 1) * width
        }
        zero(next..<(units * width))
    }

    /// Attention of one (row, head) pair.
    @inline(__always)
    private func attendHead(_ a: AttentionPlan, layer: Int, row i: Int, head h: Int, tokens n: Int, at start: Int, thread: Int) {
        let qDim = a.heads * a.headDim
        let span = a.keyPositions(query: start + i, last: start + n - 1)
        Attention.attendOne(work.queries.row(i, width: qDim) + h * a.headDim, keys: cache.keys(layer).from(position: span.lowerBound),
                            values: cache.values(layer).from(position: span.lowerBound), kvHead: h / (a.heads / a.kvHeads),
                            span: span.count, headDimension: a.headDim, scale: a.scale, softcap: a.softcap, sink: a.sink(h),
                            scores: work.scores.row(thread, width: work.context), into: work.attended.row(i, width: qDim) + h * a.headDim)
    }

    /// Multiply-adds (heads × tokens × span × head size) below which attention runs on the calling thread: a
    /// region costs about 0.3 µs. At 1 << 16, docs-opt-relu (4 heads of 64) attended every decoded token of its
    /// 256-token context serially, about a tenth of decode time with the second thread idle; at 1 << 13 its decode
    /// was 5% faster dense and 8% faster at its schedule (medians of six alternating runs), SmolLM2's unchanged.
    static let serialAttentionWork = 1 << 13

    /// The feed-forward layer of `rows` of `input`, into the same rows of `projected`.
    private func feedForward(_ f: FeedForwardPlan, layer: Int, input: FloatBuffer, at start: Int, rows: Range<Int>) {
        guard !rows.isEmpty else { return }
        let d = hiddenSize
        let width = f.width
        let m = rows.count
        let density = sparsity.densities[layer]
        work.input.bind(input.row(rows.lowerBound, width: d), tokens: m, columns: d)
        let output = work.projected.row(rows.lowerBound, width: d)
        if let experts = f.experts, let runner = mixtureOfExperts {
            runner.run(experts, activation: f.activation, input: input.row(rows.lowerBound, width: d), tokens: m, into: output, pool: pool)
            return
        }
        let function = Self.kernelFunction(f.activation)
        if let blockSize = f.blockSize, density.sparseFFN, sparseStep {
            let kept = density.ffnBlocksKept
            if m == 1, sparsity.mode == .predicted, let predictor = sparsity.ffnPredictors[layer] {
                // Decode: gate/up rows, activation and down rows of the predicted blocks only.
                let blocks: UnsafeBufferPointer<Int>
                if ffnSelectedEarly == layer {
                    blocks = UnsafeBufferPointer(start: selection.selected, count: kept)
                    ffnSelectedEarly = -1
                } else {
                    let scores = SparsityPlan.rowScores(predictor, row: rows.lowerBound, fallback: selection.scores.pointer,
                                                        input: scoresInput, early: earlyScores, pool: pool)
                    blocks = selection.top(kept, of: scores, units: f.blocks, layer: layer, heads: false)
                }
                if let source = f.sourceDown {
                    // The selected gate/up rows, then the source's down over the activations in source order
                    // (zeros elsewhere): the sparse run holds no down of its own, so it never holds more memory than
                    // the dense run, and its down product is exactly the source's.
                    MatMul.multiply(feedForwardProducts[layer], work.input, blocks: blocks,
                                    blockRows: f.gateUp == nil ? blockSize : 2 * blockSize, pool: pool)
                    if blockSize == 1 && !f.gated {
                        Activations.applyListed(function, work.up.pointer, bias: f.upBias?.pointer, at: blocks)
                    } else {
                        for b in blocks { activate(f, function, rows: 1, columns: (b * blockSize)..<((b + 1) * blockSize)) }
                    }
                    if activationObserver != nil { zeroUnselected(blocks, units: f.blocks, width: blockSize, row: work.up.pointer) }
                    sourceDownProduct(f, source, selected: blocks, blockSize: blockSize, into: output)
                } else {
                    SparseFeedForward.multiply(sparseFeedForwards[layer]!, work.input, blocks: blocks,
                                               gateOutput: f.gated ? work.gate.pointer : nil, activations: work.up.pointer,
                                               into: output, scratch: sparseScratch.pointer, scratchCount: sparseScratch.count, pool: pool)
                    if activationObserver != nil { zeroUnselected(blocks, units: f.blocks, width: blockSize, row: work.up.pointer) }
                }
                observeFeedForward(layer: layer, start: start + rows.lowerBound, tokens: 1, width: width)
                addBias(f.downBias, to: work.projected, rows: rows, width: d)
                return
            }
            // Oracle selection or a sparse batch: every row's activations, then each row keeps its own top blocks
            // (zeros, which the transposed product skips).
            MatMul.multiply(feedForwardProducts[layer], work.input, pool: pool)
            activate(f, function, rows: m, columns: 0..<width)
            for i in 0..<m {
                let row = work.up.row(i, width: width)
                if sparsity.mode == .predicted, let predictor = sparsity.ffnPredictors[layer] {
                    SparsityPlan.scores(predictor, row: rows.lowerBound + i, into: selection.scores.pointer, input: scoresInput, pool: pool)
                } else {
                    for b in 0..<f.blocks {
                        var mass: Float = 0
                        for j in (b * blockSize)..<((b + 1) * blockSize) { mass += abs(row[j]) }
                        selection.scores.pointer[b] = mass
                    }
                }
                zeroUnselected(selection.top(kept, units: f.blocks), units: f.blocks, width: blockSize, row: row)
            }
            observeFeedForward(layer: layer, start: start + rows.lowerBound, tokens: m, width: width)
            if let source = f.sourceDown {
                sourceDownProduct(f, source, tokens: m, into: output)
            } else {
                transposedDown(f, layer: layer, tokens: m, blockSize: blockSize, into: output)
            }
            addBias(f.downBias, to: work.projected, rows: rows, width: d)
            return
        }
        MatMul.multiply(feedForwardProducts[layer], work.input, pool: pool)
        activate(f, function, rows: m, columns: 0..<width)
        if let filter = unitFilter {
            for i in 0..<m { filter(.feedForwardActivation, layer, work.up.slice(i * width, width)) }
        }
        observeFeedForward(layer: layer, start: start + rows.lowerBound, tokens: m, width: width)
        if let source = f.sourceDown {
            sourceDownProduct(f, source, tokens: m, into: output)
        } else if let blockSize = f.blockSize {
            transposedDown(f, layer: layer, tokens: m, blockSize: blockSize, into: output)
        } else {
            work.input.bind(work.up.pointer, tokens: m, columns: width)
            MatMul.multiply(f.down!, work.input, into: output, pool: pool)
        }
        addBias(f.downBias, to: work.projected, rows: rows, width: d)
    }

    /// Bias, then the activation (times the gate for gated layers), on columns `columns` of rows `0..<rows` of
    /// `up` (and `gate`). With a fused gate/up matrix, `gate` holds both products block by block (`columns` whole
    /// blocks) and the activations go to `up`.
    private func activate(_ f: FeedForwardPlan, _ function: Activations.Function, rows m: Int, columns: Range<Int>) {
        let width = f.width, count = columns.count
        if f.gateUp != nil, let blockSize = f.blockSize {
            for i in 0..<m {
                for b in (columns.lowerBound / blockSize)..<(columns.upperBound / blockSize) {
                    SparseFeedForward.activateFusedBlock(b, blockRows: blockSize, function, products: work.gate.pointer + i * 2 * width,
                                                         gateBias: f.gateBias?.pointer, upBias: f.upBias?.pointer,
                                                         into: work.up.pointer + i * width)
                }
            }
            return
        }
        for i in 0..<m {
            let offset = i * width + columns.lowerBound
            if let bias = f.gateBias { Activations.add(bias.pointer + columns.lowerBound, into: work.gate.pointer + offset, count: count) }
            if let bias = f.upBias { Activations.add(bias.pointer + columns.lowerBound, into: work.up.pointer + offset, count: count) }
            if f.gated {
                Activations.gatedProduct(function, gate: work.gate.pointer + offset, up: work.up.pointer + offset,
                                         into: work.up.pointer + offset, count: count)
            } else {
                Activations.apply(function, work.up.pointer + offset, count: count)
            }
        }
    }

    /// `output` rows `0..<tokens` = the source's own down product (`FeedForwardPlan.sourceDown`) of the activations
    /// in `up`, scattered back to source order: exactly the source's result for the same activations.
    private func sourceDownProduct(_ f: FeedForwardPlan, _ source: WeightMatrix, tokens m: Int, into output: UnsafeMutablePointer<Float>) {
        let width = f.width
        for i in 0..<m {
            let stored = work.up.row(i, width: width), original = sourceOrderActivations.row(i, width: width)
            for n in 0..<width { original[f.sourceOrder[n]] = stored[n] }
        }
        multiplySourceDown(source, tokens: m, width: width, into: output)
    }

    /// `output` rows `0..<tokens` = `source` times the activations in `sourceOrderActivations`.
    private func multiplySourceDown(_ source: WeightMatrix, tokens m: Int, width: Int, into output: UnsafeMutablePointer<Float>) {
        work.input.bind(sourceOrderActivations.pointer, tokens: m, columns: width)
        MatMul.multiply(source, work.input, into: output, pool: pool)
    }

    /// `output` = the source's own down product of one token's activations in `up` that are non-zero only in the
    /// `selected` blocks: those alone are scattered to source order, over zeros (the rest of `up` is neither zeroed
    /// nor read). Activating, zeroing and scattering every neuron one by one had cost a q8_0 docs-opt-relu bundle
    /// about 5 µs per layer of 512 selected neurons, more than the product of their up rows.
    private func sourceDownProduct(_ f: FeedForwardPlan, _ source: WeightMatrix, selected: UnsafeBufferPointer<Int>, blockSize: Int,
                                   into output: UnsafeMutablePointer<Float>) {
        let original = sourceOrderActivations.pointer, stored = work.up.pointer
        original.update(repeating: 0, count: f.width)
        f.sourceOrder.withUnsafeBufferPointer { order in
            for b in selected {
                for n in (b * blockSize)..<((b + 1) * blockSize) { original[order[n]] = stored[n] }
            }
        }
        multiplySourceDown(source, tokens: 1, width: f.width, into: output)
    }

    /// `output` rows `0..<tokens` = the activations in `up` times block `layer`'s transposed down (rows of zero
    /// activations skipped).
    private func transposedDown(_ f: FeedForwardPlan, layer: Int, tokens: Int, blockSize: Int, into output: UnsafeMutablePointer<Float>) {
        guard let down = transposedDowns[layer] else {
            preconditionFailure("block \(layer) keeps a source down: its transposed down is not bound")
        }
        if tokens == 1 && (f.activation == .relu || sparseStep) {
            // ReLU zeros (and a sparse step's unselected units): only the rows of non-zero activations are read.
            TransposedMatMul.multiplyNonzero(down, work.up.pointer, into: output, rowList: nonzeroRows.buffer,
                                             scratch: downScratch.pointer, scratchCount: downScratch.count, pool: pool)
            return
        }
        TransposedMatMul.multiply(down, work.up.pointer, inputStride: f.width, tokens: tokens, blocks: nil,
                                  blockRows: blockSize, into: output, outputStride: hiddenSize, scratch: downScratch.pointer,
                                  scratchCount: downScratch.count, pool: pool)
    }

    private func observeFeedForward(layer: Int, start: Int, tokens m: Int, width: Int) {
        guard let observer = activationObserver else { return }
        observer(ActivationRecord(site: .feedForwardActivation, layer: layer, firstPosition: start, tokens: m,
                                  width: width, values: UnsafeBufferPointer(work.up.slice(0, m * width))))
    }

    static func kernelFunction(_ activation: Activation) -> Activations.Function {
        switch activation {
        case .silu: return .silu
        case .relu: return .relu
        case .gelu: return .geluErf
        case .geluTanh: return .geluTanh
        case .clampedSwiGLU: preconditionFailure("swiglu_oai runs in experts only (ExecutionPlan refuses it elsewhere)")
        }
    }

    private func normalize(_ norm: NormPlan, _ x: FloatBuffer, into y: FloatBuffer, rows: Range<Int>) {
        guard !rows.isEmpty else { return }
        normalize(norm, x.row(rows.lowerBound, width: hiddenSize), into: y.row(rows.lowerBound, width: hiddenSize), rows: rows.count)
    }

    private func normalize(_ norm: NormPlan, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows n: Int) {
        switch norm.kind {
        case .rms:
            Norms.rmsNorm(x, weight: norm.weight.pointer, count: hiddenSize, epsilon: norm.epsilon, rows: n, into: y)
        case .layer:
            Norms.layerNorm(x, weight: norm.weight.pointer, bias: norm.bias?.pointer, count: hiddenSize, epsilon: norm.epsilon, rows: n, into: y)
        }
    }

    /// RMSNorm in place over `rows` consecutive head vectors of `width` values.
    private func normalizeHeads(_ norm: NormPlan, _ x: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        Norms.rmsNorm(x, weight: norm.weight.pointer, count: width, epsilon: norm.epsilon, rows: rows, into: x)
    }

    private func addBias(_ bias: FloatBuffer?, to y: FloatBuffer, rows: Range<Int>, width: Int) {
        guard let bias else { return }
        for i in rows { Activations.add(bias.pointer, into: y.row(i, width: width), count: width) }
    }

    /// y += x (times `scale` when there is one) over `rows`.
    private func addRows(_ x: FloatBuffer, scaledBy scale: Float?, into y: FloatBuffer, rows: Range<Int>) {
        guard !rows.isEmpty else { return }
        let d = hiddenSize
        let (source, destination, count) = (x.row(rows.lowerBound, width: d), y.row(rows.lowerBound, width: d), rows.count * d)
        if let scale {
            Activations.add(UnsafePointer(source), scaledBy: scale, into: destination, count: count)
        } else {
            Activations.add(source, into: destination, count: count)
        }
    }

    // MARK: - Outputs

    /// Final norm of batch rows `rows`, then the LM head in groups, calling `body` per row.
    private func emitOutputs(rows: Range<Int>, batchOffset: Int, _ body: (Int, PositionOutput) throws -> Void) throws {
        let d = hiddenSize
        // Final hidden states of the requested rows, packed from row 0 of `normed`.
        timed(.lmHead) {
            for (k, i) in rows.enumerated() {
                let src = work.residual.row(i, width: d), dst = work.normed.row(k, width: d)
                if let norm = plan.finalNorm {
                    normalize(norm, src, into: dst, rows: 1)
                } else {
                    dst.update(from: src, count: d)
                }
            }
        }
        guard let head = plan.lmHead else {
            for (k, i) in rows.enumerated() {
                try body(batchOffset + i, PositionOutput(hidden: UnsafeBufferPointer(work.normed.slice(k * d, d)),
                                                         logits: UnsafeBufferPointer(start: nil, count: 0)))
            }
            return
        }
        let vocab = head.outputs
        let group = work.logitRows(for: rows.count)
        var k = 0
        while k < rows.count {
            let m = min(group, rows.count - k)
            work.input.bind(work.normed.row(k, width: d), tokens: m, columns: d)
            timed(.lmHead) {
                MatMul.multiply(head.weight, work.input, into: work.logits.pointer, pool: pool)
                addBias(head.bias, to: work.logits, rows: 0..<m, width: vocab)
                if let scale = plan.logitScale { Activations.scale(work.logits.pointer, by: scale, count: m * vocab) }
                if let cap = plan.logitSoftcap { Activations.softcap(work.logits.pointer, cap: cap, count: m * vocab) }
            }
            for j in 0..<m {
                try body(batchOffset + rows.lowerBound + k + j,
                         PositionOutput(hidden: UnsafeBufferPointer(work.normed.slice((k + j) * d, d)),
                                        logits: UnsafeBufferPointer(work.logits.slice(j * vocab, vocab))))
            }
            k += m
        }
    }
}

/// The activation buffers of a compiled model, sized for `batch` tokens.
final class Workspace {
    let batch: Int
    let context: Int
    /// Token ids of the batch being evaluated.
    var tokens: [Int]
    let residual: FloatBuffer
    let normed: FloatBuffer
    let queries: FloatBuffer
    let keys: FloatBuffer
    let values: FloatBuffer
    let attended: FloatBuffer
    let projected: FloatBuffer
    let up: FloatBuffer
    let gate: FloatBuffer
    let scores: FloatBuffer
    let scratchRow: FloatBuffer
    let input: MatMulInput
    private let vocabulary: Int
    private let maxLogitRows: Int
    /// Logits of up to `logitCapacity` rows; grown on the first request for more (never per token).
    private(set) var logits: FloatBuffer
    private var logitCapacity = 1

    init(plan: ExecutionPlan, batch: Int, context: Int, threads: Int, quantizedActivations: Bool) {
        let hp = plan.hyperparameters
        let d = hp.hiddenSize
        var qDim = 0, kvDim = 0, ff = 0
        for b in plan.blocks {
            qDim = max(qDim, b.attention.q.outputs)
            kvDim = max(kvDim, b.attention.k.outputs)
            ff = max(ff, b.feedForward.width)
        }
        self.batch = batch
        self.context = context
        tokens = [Int](repeating: 0, count: batch)
        residual = FloatBuffer(count: batch * d)
        normed = FloatBuffer(count: batch * d)
        queries = FloatBuffer(count: batch * qDim)
        keys = FloatBuffer(count: batch * kvDim)
        values = FloatBuffer(count: batch * kvDim)
        attended = FloatBuffer(count: batch * qDim)
        projected = FloatBuffer(count: batch * d)
        up = FloatBuffer(count: batch * ff)
        // A layer with a fused gate/up matrix writes both products here, block by block (2·ff per row).
        let gateRows = plan.blocks.contains { $0.feedForward.gateUp != nil } ? 2 : 1
        gate = FloatBuffer(count: plan.blocks.contains { $0.feedForward.gated } ? gateRows * batch * ff : 0)
        scores = FloatBuffer(count: threads * context)
        scratchRow = FloatBuffer(count: d)
        input = MatMulInput(maxTokens: batch, maxColumns: plan.widestInput, threads: threads,
                            alwaysQuantizeActivations: quantizedActivations)
        vocabulary = plan.lmHead?.outputs ?? 0
        maxLogitRows = min(batch, 64)
        logits = FloatBuffer(count: vocabulary)
    }

    /// Rows of logits computed at once for a request of `rows` rows, growing the buffer if needed.
    func logitRows(for rows: Int) -> Int {
        let wanted = min(max(rows, 1), maxLogitRows)
        if wanted > logitCapacity {
            logits = FloatBuffer(count: wanted * vocabulary)
            logitCapacity = wanted
        }
        return logitCapacity
    }
}
