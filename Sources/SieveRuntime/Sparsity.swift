import SieveCore
import SieveKernels

/// The units one block computes per token, resolved from the options and the bundle's per-block schedule.
public struct BlockDensity: Sendable, Equatable {
    /// FFN neuron blocks of the layer (1 for a dense layer).
    public let ffnBlocks: Int
    /// FFN blocks computed per token.
    public let ffnBlocksKept: Int
    /// Attention heads of the layer.
    public let heads: Int
    /// Heads computed per token.
    public let headsKept: Int

    /// Fraction of FFN blocks computed.
    public var ffn: Double { Double(ffnBlocksKept) / Double(ffnBlocks) }
    /// Fraction of heads computed.
    public var head: Double { Double(headsKept) / Double(heads) }
    /// Whether the FFN layer computes a subset of its blocks.
    public var sparseFFN: Bool { ffnBlocksKept < ffnBlocks }
    /// Whether attention computes a subset of its heads.
    public var sparseHeads: Bool { headsKept < heads }
}

/// What sparse execution needs besides the dense plan: per block the resolved densities, which predictors run, in
/// which block's region their first product is computed (lookahead, or before the FFN for predictors of the FFN
/// input), and the buffers of their outputs.
struct SparsityPlan {
    /// A predictor in use: block `layer`'s `target` predictor, whose `down · x` goes to `hidden`. A class, so that
    /// reading it per layer and token retains one reference rather than each of its own.
    final class ActivePredictor {
        let layer: Int
        let target: PredictorTarget
        let plan: PredictorPlan
        /// `[batch, rank]`: `down · x` of each row of the residual stream the predictor reads.
        let hidden: FloatBuffer
        /// `up` re-laid for the short-row kernel, when this CPU runs it (AVX-512 VNNI or AVX2): a row's scores then
        /// take one pass on the calling thread (1024×64: 0.7 µs with VNNI, 1.5 µs with AVX2 on a Zen 2 core, against
        /// 3.3–3.6 µs row by row), and no region.
        let interleavedUp: InterleavedQ8Matrix?
        /// Whether a row's scores take one short pass on the calling thread, so that they and the selection can run
        /// beside the output projection: `up` re-laid for the short-row kernel (`interleavedUp`, q8_0), or a q4_0
        /// `up` in the 16-row layout of the q4 group kernels (half the bytes of q8_0; see `ExecutionPlan`).
        let scoresOnCallingThread: Bool
        /// Decoding one token, the scores are ready before they are needed when `up · hidden` runs in the source
        /// block's output-projection region: for FFN predictors and head predictors that look ahead, unless they run
        /// on the calling thread (`scoresOnCallingThread`).
        let scoresEarly: Bool
        /// `up · hidden` of the decoded token when `scoresEarly` (bias not yet added).
        let scores: FloatBuffer
        /// `hidden`'s first row, as the early `up` product reads it.
        let scoresInput: MatMulInput

        init(layer: Int, target: PredictorTarget, plan: PredictorPlan, hidden: FloatBuffer, interleavedUp: InterleavedQ8Matrix?,
             scoresOnCallingThread: Bool, scoresEarly: Bool, scores: FloatBuffer, scoresInput: MatMulInput) {
            self.layer = layer
            self.target = target
            self.plan = plan
            self.hidden = hidden
            self.interleavedUp = interleavedUp
            self.scoresOnCallingThread = scoresOnCallingThread
            self.scoresEarly = scoresEarly
            self.scores = scores
            self.scoresInput = scoresInput
        }
    }

    let mode: SparsityMode
    let densities: [BlockDensity]
    /// Per block: the predictors whose source is that block's input (computed in its Q/K/V region).
    let readers: [[ActivePredictor]]
    /// Per block: its FFN predictor when it reads the block's FFN input (computed between attention and the FFN).
    let feedForwardInputReaders: [ActivePredictor?]
    /// Per block: its FFN predictor and head predictor, when in use.
    let ffnPredictors: [ActivePredictor?]
    let headPredictors: [ActivePredictor?]

    /// Resolves densities: `options` override the bundle's schedule; dense mode, and dense FFN layers, compute
    /// everything. Predicted selection needs a predictor for every sparse unit kind. `predictedRows`: the most batch
    /// rows one step runs the predictors for.
    init(plan: ExecutionPlan, options: RuntimeOptions, predictedRows: Int, threads: Int) throws {
        mode = options.sparsity
        for (name, schedule) in [("FFN schedule", options.ffnSchedule), ("head schedule", options.headSchedule)] {
            guard let schedule else { continue }
            guard schedule.count == plan.blocks.count, schedule.allSatisfy({ $0 > 0 && $0 <= 1 }) else {
                throw SieveRuntimeError.invalidOption(name: name, value: "\(schedule.count) densities", reason: "needs one density in (0, 1] per block (\(plan.blocks.count))")
            }
        }
        var densities: [BlockDensity] = []
        var readers = [[ActivePredictor]](repeating: [], count: plan.blocks.count)
        var feedForwardInputReaders = [ActivePredictor?](repeating: nil, count: plan.blocks.count)
        var ffnPredictors = [ActivePredictor?](repeating: nil, count: plan.blocks.count)
        var headPredictors = [ActivePredictor?](repeating: nil, count: plan.blocks.count)
        let anyBlocked = plan.blocks.contains { $0.feedForward.blockSize != nil }
        if let requested = options.ffnDensity, requested < 1, !anyBlocked, options.sparsity != .dense {
            throw SieveRuntimeError.invalidOption(name: "FFN density", value: "\(requested)", reason: "the model is dense (no blocked FFN layout); pack it into a sparse bundle first (sieve pack MODEL -o MODEL.sieve)")
        }
        for (name, schedule) in [("FFN schedule", options.ffnSchedule), ("head schedule", options.headSchedule)] {
            if let schedule, schedule.count != plan.blocks.count || !schedule.allSatisfy({ $0 > 0 && $0 <= 1 }) {
                throw SieveRuntimeError.invalidOption(name: name, value: schedule.map { "\($0)" }.joined(separator: ","), reason: "give one density in (0, 1] for each of the model's \(plan.blocks.count) blocks")
            }
        }
        for (i, b) in plan.blocks.enumerated() {
            let f = b.feedForward
            let heads = b.attention.heads
            var ffnDensity = options.ffnDensity ?? options.ffnSchedule?[i] ?? b.ffnDensity ?? 1
            var headDensity = options.headDensity ?? options.headSchedule?[i] ?? b.headDensity ?? 1
            if options.sparsity == .dense { ffnDensity = 1; headDensity = 1 }
            if f.blockSize == nil { ffnDensity = 1 }
            let density = BlockDensity(ffnBlocks: f.blocks, ffnBlocksKept: UnitSelection.count(density: ffnDensity, units: f.blocks),
                                       heads: heads, headsKept: UnitSelection.count(density: headDensity, units: heads))
            densities.append(density)
            guard options.sparsity == .predicted else { continue }
            func activate(_ p: PredictorPlan?, _ target: PredictorTarget, what: String) throws -> ActivePredictor {
                guard let p else {
                    throw SieveRuntimeError.unsupportedGraph(reason: "block \(i) computes \(what) sparsely but has no \(target.rawValue) predictor; use oracle selection (--oracle) or density 1 for it")
                }
                let interleavedUp = InterleavedQ8Matrix(p.up)
                let onCallingThread = interleavedUp != nil || p.up.isInterleaved
                // A predictor of the FFN input has nothing to compute before attention ends.
                let early = p.input == .blockInput && (target == .ffnBlocks || p.sourceBlock < i) && !onCallingThread
                let active = ActivePredictor(layer: i, target: target, plan: p, hidden: FloatBuffer(count: predictedRows * p.rank),
                                             interleavedUp: interleavedUp, scoresOnCallingThread: onCallingThread, scoresEarly: early,
                                             scores: FloatBuffer(count: early ? p.units : 0),
                                             scoresInput: MatMulInput(maxTokens: 1, maxColumns: p.rank, threads: threads,
                                                                      alwaysQuantizeActivations: options.quantizedActivations))
                switch p.input {
                case .blockInput: readers[p.sourceBlock].append(active)
                case .feedForwardInput: feedForwardInputReaders[i] = active
                }
                return active
            }
            if density.sparseFFN { ffnPredictors[i] = try activate(b.ffnPredictor, .ffnBlocks, what: "its FFN") }
            if density.sparseHeads { headPredictors[i] = try activate(b.headPredictor, .heads, what: "its attention heads") }
        }
        self.densities = densities
        self.readers = readers
        self.feedForwardInputReaders = feedForwardInputReaders
        self.ffnPredictors = ffnPredictors
        self.headPredictors = headPredictors
    }

    /// Whether any block computes a subset of its units.
    var isSparse: Bool { mode != .dense && densities.contains { $0.sparseFFN || $0.sparseHeads } }

    /// The scores of `predictor` for batch row `row`: the early `up` product of a decoded token (see
    /// `ActivePredictor.scoresEarly`; `early` says whether this step ran it) plus the bias, or else
    /// `scores(_:row:into:input:pool:)` into `fallback`.
    static func rowScores(_ predictor: ActivePredictor, row: Int, fallback: UnsafeMutablePointer<Float>, input: MatMulInput,
                          early: Bool, pool: ThreadPool) -> UnsafeMutablePointer<Float> {
        guard early && predictor.scoresEarly else {
            scores(predictor, row: row, into: fallback, input: input, pool: pool)
            return fallback
        }
        let p = predictor.plan
        if let bias = p.bias { Activations.add(bias.pointer, into: predictor.scores.pointer, count: p.units) }
        return predictor.scores.pointer
    }

    /// Scores of `predictor` for batch row `row`: `up · hidden[row] + bias` into `scores[0..<units]`, with the
    /// interleaved `up` or else `up` multiplied on `pool` (`input` is bound to the row). Inside another region, pass
    /// a pool of the calling thread alone.
    static func scores(_ predictor: ActivePredictor, row: Int, into scores: UnsafeMutablePointer<Float>, input: MatMulInput,
                       pool: ThreadPool) {
        let p = predictor.plan
        if let up = predictor.interleavedUp {
            up.multiply(predictor.hidden.row(row, width: p.rank), into: scores, pool: pool)
        } else {
            input.bind(predictor.hidden.row(row, width: p.rank), tokens: 1, columns: p.rank)
            MatMul.multiply(p.up, input, into: scores, pool: pool)
        }
        if let bias = p.bias { Activations.add(bias.pointer, into: scores, count: p.units) }
    }
}

/// Buffers of the per-token unit selection (allocated once).
final class SelectionBuffers {
    /// Scores or masses of the units of one row.
    let scores: FloatBuffer
    /// Selected unit indices, ascending.
    let selected: UnsafeMutablePointer<Int>
    /// The selection keys of the scores.
    let work: FloatBuffer
    let capacity: Int
    /// Per layer, the threshold keys of the last decoded token's FFN and head selections (`UnitSelection`'s hints:
    /// consecutive tokens' thresholds are close).
    private let hints: UnsafeMutablePointer<UInt32>
    private let layers: Int

    init(maxUnits: Int, layers: Int) {
        capacity = max(1, maxUnits)
        scores = FloatBuffer(count: capacity)
        selected = .allocate(capacity: capacity)
        work = FloatBuffer(count: capacity)
        self.layers = layers
        hints = .allocate(capacity: 2 * max(1, layers))
        hints.initialize(repeating: 0, count: 2 * max(1, layers))
    }

    deinit {
        selected.deallocate()
        hints.deallocate()
    }

    /// The top `k` of a decoded token's `values[0..<units]` for layer `layer`'s FFN (or its heads), searched from the
    /// previous token's threshold for the same: same result as `top(_:of:units:)`, about a third faster.
    func top(_ k: Int, of values: UnsafePointer<Float>, units: Int, layer: Int, heads: Bool) -> UnsafeBufferPointer<Int> {
        precondition(layer >= 0 && layer < layers, "layer \(layer) outside 0..<\(layers)")
        UnitSelection.top(k, of: values, count: units, work: work.pointer, into: selected, hint: &hints[2 * layer + (heads ? 1 : 0)])
        return UnsafeBufferPointer(start: selected, count: k)
    }

    /// Selects the top `k` of `scores[0..<units]` into `selected[0..<k]` and returns them.
    func top(_ k: Int, units: Int) -> UnsafeBufferPointer<Int> { top(k, of: scores.pointer, units: units) }

    /// Selects the top `k` of `values[0..<units]` into `selected[0..<k]` and returns them.
    func top(_ k: Int, of values: UnsafePointer<Float>, units: Int) -> UnsafeBufferPointer<Int> {
        UnitSelection.top(k, of: values, count: units, work: work.pointer, into: selected)
        return UnsafeBufferPointer(start: selected, count: k)
    }
}
