import BundleFormat
import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
import SieveKernels
@testable import SieveRuntime
import SieveTransforms
import Testing

/// Issue 7, acceptance 1: sparse execution of packed tiny fixtures — at density 1 it is the dense path, and with
/// oracle selection at density d it is the dense model with every non-top-k unit zeroed.
@Suite struct SparseExecutionTests {
    /// Sparse execution at density 1 against the dense path: the same kernels, so only float reordering.
    static let fullDensityTolerance: Float = 1e-5
    /// Oracle selection against the dense model with the other units zeroed by a plain reference: the decode
    /// path computes only the selected rows (same values), so only float reordering differs.
    static let oracleTolerance: Float = 1e-4

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models")

    /// The fixture's HF folder packed with a small calibration budget (svd predictors: quick and deterministic).
    static func packed(_ name: String) throws -> (graph: ModelGraph, tokens: [Int]) {
        try packed(try SafetensorsPlugin().read(fixtures.appendingPathComponent("\(name)/hf")))
    }

    /// `source` packed with a small calibration budget (svd predictors, the default `--dtype keep`), and 20
    /// calibration tokens to evaluate.
    static func packed(_ source: ModelGraph, firstFFNPredictorInput: PredictorInput = .feedForwardInput) throws -> (graph: ModelGraph, tokens: [Int]) {
        var options = PackOptions()
        options.firstFFNPredictorInput = firstFFNPredictorInput
        options.predictor = .svd
        options.rank = 16
        options.calibrationTokens = 256
        options.calibrationContext = 64
        options.threads = 2
        let text = try CalibrationText.defaultText()
        let sequences = try CalibrationText.sequences(text: text, graph: source, context: 64, maxTokens: 256)
        let result = try Packer.pack(graph: source, calibration: .sequences(sequences), options: options)
        return (result.graph, Array(sequences[0].prefix(20)))
    }

    /// Logits of every position, prefilled one token at a time (each token a decode step).
    static func decodeLogits(_ graph: ModelGraph, _ tokens: [Int], options: RuntimeOptions,
                             filter: ((ActivationSite, Int, UnsafeMutableBufferPointer<Float>) -> Void)? = nil) throws -> [[Float]] {
        var options = options
        options.contextLength = 64
        options.threads = 2
        let model = try Model(graph: graph, options: options)
        model.unitFilter = filter
        return try tokens.map { t in try model.decode(t) { Array($0) } }
    }

    static func worst(_ a: [[Float]], _ b: [[Float]]) -> Float {
        var worst: Float = 0
        for (x, y) in zip(a, b) { for (p, q) in zip(x, y) { worst = max(worst, abs(p - q)) } }
        return worst
    }

    /// Zeroes all but the `kept` units of `width` values with the largest mass (sum of |x| for FFN blocks, sum of
    /// squares for heads), by sorting.
    static func keepTop(_ values: UnsafeMutableBufferPointer<Float>, width: Int, kept: Int, squares: Bool) {
        let units = values.count / width
        let mass = (0..<units).map { u in (0..<width).reduce(Float(0)) { $0 + (squares ? values[u * width + $1] * values[u * width + $1] : abs(values[u * width + $1])) } }
        let keep = Set((0..<units).sorted { mass[$0] > mass[$1] }.prefix(kept))
        for u in 0..<units where !keep.contains(u) {
            for j in 0..<width { values[u * width + j] = 0 }
        }
    }

    @Test(arguments: ["tiny-llama", "tiny-opt", "tiny-gemma3"])
    func fullDensityEqualsDense(_ name: String) throws {
        let (graph, tokens) = try Self.packed(name)
        let dense = try Self.decodeLogits(graph, tokens, options: RuntimeOptions(sparsity: .dense))
        for mode in [SparsityMode.predicted, .oracle] {
            let full = try Self.decodeLogits(graph, tokens, options: RuntimeOptions(sparsity: mode, ffnDensity: 1, headDensity: 1))
            #expect(Self.worst(full, dense) <= Self.fullDensityTolerance, "\(name) \(mode)")
        }
    }

    @Test(arguments: ["tiny-llama", "tiny-opt", "tiny-phi3", "tiny-gemma2", "tiny-gemma3"])
    func oracleEqualsDenseWithUnitsZeroed(_ name: String) throws {
        let (graph, tokens) = try Self.packed(name)
        guard case let .blocked(blockSize, _) = graph.blocks[0].feedForward.layout else {
            Issue.record("not blocked"); return
        }
        let heads = graph.blocks[0].attention.heads, headDim = graph.blocks[0].attention.headDim
        for (ffn, head) in [(0.5, 1.0), (0.25, 0.5), (1.0, 0.5)] {
            let oracle = try Self.decodeLogits(graph, tokens, options: RuntimeOptions(sparsity: .oracle, ffnDensity: ffn, headDensity: head))
            let reference = try Self.decodeLogits(graph, tokens, options: RuntimeOptions(sparsity: .dense)) { site, _, values in
                switch site {
                case .feedForwardActivation:
                    let blocks = values.count / blockSize
                    Self.keepTop(values, width: blockSize, kept: min(blocks, max(1, Int((ffn * Double(blocks)).rounded()))), squares: false)
                case .attentionOutput:
                    Self.keepTop(values, width: headDim, kept: min(heads, max(1, Int((head * Double(heads)).rounded()))), squares: true)
                case .blockInput, .feedForwardInput: break
                }
            }
            let dense = try Self.decodeLogits(graph, tokens, options: RuntimeOptions(sparsity: .dense))
            #expect(Self.worst(oracle, reference) <= Self.oracleTolerance, "\(name) ffn \(ffn) heads \(head)")
            // And sparsity really changed something.
            #expect(Self.worst(oracle, dense) > 1e-3, "\(name) ffn \(ffn) heads \(head)")
        }
    }

    @Test func predictedSelectionDecodesLikeMaskedBatches() throws {
        // The predicted decode path (only selected rows computed) against sparse prefill of the same tokens
        // (every row computed, then masked): same selections, so the same logits up to the products' rounding.
        let (graph, tokens) = try Self.packed("tiny-llama")
        var options = RuntimeOptions(contextLength: 64, threads: 2, ffnDensity: 0.5, headDensity: 0.5)
        let decoded = try Self.decodeLogits(graph, tokens, options: options)
        options.sparsePrefill = true
        let model = try Model(graph: graph, options: options)
        var batched: [[Float]] = []
        try model.evaluate(tokens, outputs: .all) { _, out in batched.append(Array(out.logits)) }
        #expect(Self.worst(decoded, batched) <= 1e-3)
        #expect(model.isSparse)
        #expect(abs(model.meanFFNDensity - 0.5) < 0.01)
    }

    /// A q4_1 source packed with `--dtype keep`: the decode path at FFN 0.5 and 0.1 (selected gate/up rows, then
    /// the kept 4-bit source down over the scattered activations) against sparse prefill of the same tokens (every
    /// row computed, then masked). Decode
    /// multiplies 8-bit activations and prefill float ones: the bound is twice that gap measured densely. The
    /// predictors read block inputs here: the first block's FFN input already differs between the two by that gap,
    /// enough to swap two nearly tied blocks of its selection (a logit gap of 1.09 at 0.5).
    @Test(arguments: [0.5, 0.1])
    func quantizedKeepDecodesLikeMaskedBatches(_ density: Double) throws {
        let (graph, tokens) = try Self.packed(try GGUFPlugin().read(Self.fixtures.appendingPathComponent("tiny-llama/q4_1.gguf")),
                                              firstFFNPredictorInput: .blockInput)
        var options = RuntimeOptions(contextLength: 64, threads: 2, ffnDensity: density, headDensity: 1)
        let decoded = try Self.decodeLogits(graph, tokens, options: options)
        options.sparsePrefill = true
        let model = try Model(graph: graph, options: options)
        var batched: [[Float]] = []
        try model.evaluate(tokens, outputs: .all) { _, out in batched.append(Array(out.logits)) }
        let dense = try Self.decodeLogits(graph, tokens, options: RuntimeOptions(sparsity: .dense))
        var denseBatched: [[Float]] = []
        try Model(graph: graph, options: RuntimeOptions(contextLength: 64, threads: 2, sparsity: .dense))
            .evaluate(tokens, outputs: .all) { _, out in denseBatched.append(Array(out.logits)) }
        let gap = Self.worst(dense, denseBatched)
        #expect(Self.worst(decoded, batched) <= 2 * gap, "density \(density): 8-bit against float activations differ by \(gap) densely")
        #expect(Self.worst(decoded, dense) > 4 * gap, "density \(density): sparsity changed nothing")
    }

    /// A ReLU model converted to q8_0 and packed with `--dtype keep` (single neurons, the kept q8_0 source down):
    /// decoding at FFN 0.5 and 0.1 activates the selected neurons in place and scatters only them to source order
    /// for the source down. It must equal the dense decode with every other neuron zeroed (the neurons each
    /// token's predictors kept, observed in the sparse run): same rows, same kernels, so the same logits.
    @Test(arguments: [0.5, 0.1])
    func quantizedReLUKeepDecodesAsDenseWithTheSameNeuronsZeroed(_ density: Double) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-relu-keep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("q8_0.sieve")
        var write = BundleWriteOptions()
        write.dtype = .q8_0
        _ = try BundleWriter.write(try SafetensorsPlugin().read(Self.fixtures.appendingPathComponent("tiny-opt/hf")), to: url, options: write)
        let (graph, tokens) = try Self.packed(try BundlePlugin().read(url))
        for block in graph.blocks {
            #expect(block.feedForward.sourceDown != nil, "no source down kept")
            if case .blocked(let blockSize, _) = block.feedForward.layout { #expect(blockSize == 1) }
        }
        let layers = graph.blocks.count
        let sparse = try Model(graph: graph, options: RuntimeOptions(contextLength: 64, threads: 2, ffnDensity: density, headDensity: 1))
        var kept: [[Bool]] = []
        sparse.activationObserver = { record in
            if record.site == .feedForwardActivation { kept.append(record.values.map { $0 != 0 }) }
        }
        let predicted = try tokens.map { t in try sparse.decode(t) { Array($0) } }
        #expect(kept.count == tokens.count * layers)
        let share = Double(kept.joined().filter { $0 }.count) / Double(kept.joined().count)
        #expect(share <= density + 0.01, "density \(density): \(share) of the neurons are non-zero")

        let dense = try Model(graph: graph, options: RuntimeOptions(contextLength: 64, threads: 2, sparsity: .dense))
        var step = 0
        dense.unitFilter = { site, layer, values in
            guard site == .feedForwardActivation else { return }
            let mask = kept[step * layers + layer]
            for n in values.indices where !mask[n] { values[n] = 0 }
        }
        var reference: [[Float]] = []
        for t in tokens {
            reference.append(try dense.decode(t) { Array($0) })
            step += 1
        }
        #expect(Self.worst(predicted, reference) <= 1e-5, "density \(density)")
        let unmasked = try Self.decodeLogits(graph, tokens, options: RuntimeOptions(sparsity: .dense))
        #expect(Self.worst(predicted, unmasked) > 1e-3, "density \(density): sparsity changed nothing")
    }

    /// `Model.decodeWeightBytes` against sums of the bundle's tensor sizes: a dense run reads every matrix (the
    /// kept 4-bit source `down`, not the transposed one); a predicted run the kept blocks' gate/up rows, the source
    /// `down` (at FFN 0.5 and 0.1 alike) and the FFN predictors; an oracle run every gate/up row and the source
    /// `down`. Q/K/V/O, one embedding row and the LM head are read by all.
    @Test func decodeWeightBytesCountTheRowsEachRunReads() throws {
        let (graph, _) = try Self.packed(try GGUFPlugin().read(Self.fixtures.appendingPathComponent("tiny-llama/q4_1.gguf")))
        func size(_ name: String) throws -> Int { try graph.tensor(name).byteCount }
        let h = graph.hyperparameters
        var shared = try size(graph.embedding.tokens) / h.vocabSize + size(try #require(graph.lmHead).projection.weight)
        var dense = 0
        for b in graph.blocks {
            let a = b.attention, f = b.feedForward
            shared += try size(a.q.weight) + size(a.k.weight) + size(a.v.weight) + size(a.o.weight)
            dense += try size(f.up.weight) + size(try #require(f.gate).weight) + size(try #require(f.sourceDown))
        }
        func model(_ mode: SparsityMode, ffn: Double?) throws -> Model {
            try Model(graph: graph, options: RuntimeOptions(contextLength: 64, threads: 2, sparsity: mode, ffnDensity: ffn,
                                                            headDensity: ffn == nil ? nil : 1))
        }
        #expect(try model(.dense, ffn: nil).decodeWeightBytes() == Double(shared + dense))
        for (mode, density) in [(SparsityMode.predicted, 0.5), (.predicted, 0.1), (.oracle, 0.1)] {
            let m = try model(mode, ffn: density)
            var expected = shared
            for (layer, b) in graph.blocks.enumerated() {
                let f = b.feedForward
                guard case .blocked(let blockSize, _) = f.layout else { Issue.record("layer \(layer) is not blocked"); continue }
                let rows = m.densities[layer].ffnBlocksKept * blockSize
                #expect(rows < h.intermediateSize)
                let gateAndUp = try size(f.up.weight) + size(try #require(f.gate).weight)
                let sourceDown = try size(try #require(f.sourceDown))
                if mode == .oracle {
                    expected += gateAndUp + sourceDown
                    continue
                }
                expected += gateAndUp / h.intermediateSize * rows + sourceDown
                let p = try #require(b.ffnPredictor)
                let up = try graph.tensor(p.up)
                // On AVX-512 VNNI a q8_0 `up` is read as its interleaved copy: groups of 16 rows, 576 bytes per 32 columns.
                let upBytes = InterleavedQ8Matrix.isAvailable && up.dtype == .q8_0
                    ? (p.units + 15) / 16 * (up.shape.dims[1] / 32) * 576 : up.byteCount
                expected += try size(p.down) + upBytes
            }
            #expect(m.decodeWeightBytes() == Double(expected), "\(mode) at \(density)")
        }
    }

    /// A ReLU model (tiny-opt): a decoded token reads only the transposed down rows of non-zero activations, in
    /// dense and sparse runs; `meanDownRowsRead` counts them (fewer than the rows kept) and `decodeWeightBytes`
    /// takes them instead of the kept rows, with the cache left where it was.
    @Test func downRowsReadCountTheNonZeroActivations() throws {
        let (graph, tokens) = try Self.packed("tiny-opt")
        let h = graph.hyperparameters
        for options in [RuntimeOptions(contextLength: 64, threads: 2, sparsity: .dense),
                        RuntimeOptions(contextLength: 64, threads: 2, ffnDensity: 0.5, headDensity: 1)] {
            let model = try Model(graph: graph, options: options)
            try model.evaluate(tokens.prefix(3)) { _, _ in }
            let rows = try model.meanDownRowsRead(decoding: Array(tokens[3..<15]))
            #expect(model.position == 3, "the cache is left where it was")
            #expect(rows.count == h.layerCount)
            for (layer, r) in rows.enumerated() {
                let kept = Double(model.densities[layer].ffnBlocksKept * h.intermediateSize / model.densities[layer].ffnBlocks)
                #expect(r > 0 && r < kept, "layer \(layer): \(r) non-zero of \(kept) kept rows")
            }
            var fewer = 0.0
            for (layer, b) in graph.blocks.enumerated() {
                let f = b.feedForward
                guard case .blocked(let blockSize, _) = f.layout else { continue }
                let keptRows = Double(model.densities[layer].ffnBlocksKept * blockSize)
                fewer += (keptRows - rows[layer]) * Double(try graph.tensor(f.down.weight).byteCount / h.intermediateSize)
            }
            #expect(abs(model.decodeWeightBytes(downRowsRead: rows) - (model.decodeWeightBytes() - fewer)) <= 1e-6 * model.decodeWeightBytes())
        }
    }

    /// The packed first block's FFN predictor reads its FFN input (attention's output added): predicted decode
    /// with that block at FFN density 0.5 (the others dense) equals the dense model whose first FFN keeps the top
    /// blocks of `up · (down · x) + bias` for that x, computed here in plain floats.
    @Test func firstFFNPredictorReadsTheFFNInput() throws {
        let (graph, tokens) = try Self.packed("tiny-llama")
        let p = try #require(graph.blocks[0].ffnPredictor)
        #expect(p.input == .feedForwardInput && p.sourceBlock == 0)
        #expect(graph.blocks.dropFirst().allSatisfy { $0.ffnPredictor?.input == .blockInput })
        guard case let .blocked(blockSize, _) = graph.blocks[0].feedForward.layout else {
            Issue.record("not blocked"); return
        }
        let down = try graph.tensor(p.down).floats(), up = try graph.tensor(p.up).floats()
        let bias = try p.bias.map { try graph.tensor($0).floats() } ?? [Float](repeating: 0, count: p.units)
        let hidden = graph.hyperparameters.hiddenSize, rank = down.count / hidden, kept = p.units / 2
        var options = RuntimeOptions(headDensity: 1)
        options.ffnSchedule = [0.5] + [Double](repeating: 1, count: graph.blocks.count - 1)
        let predicted = try Self.decodeLogits(graph, tokens, options: options)

        let model = try Model(graph: graph, options: RuntimeOptions(contextLength: 64, threads: 2, sparsity: .dense))
        var ffnInput: [Float] = []
        model.activationObserver = { record in
            if record.site == .feedForwardInput && record.layer == 0 { ffnInput = Array(record.values) }
        }
        model.unitFilter = { site, layer, values in
            guard site == .feedForwardActivation, layer == 0 else { return }
            let h = (0..<rank).map { r in (0..<hidden).reduce(Float(0)) { $0 + down[r * hidden + $1] * ffnInput[$1] } }
            let scores = (0..<p.units).map { u in (0..<rank).reduce(bias[u]) { $0 + up[u * rank + $1] * h[$1] } }
            let top = Set(scores.indices.sorted { scores[$0] > scores[$1] }.prefix(kept))
            for u in 0..<p.units where !top.contains(u) {
                for j in (u * blockSize)..<((u + 1) * blockSize) { values[j] = 0 }
            }
        }
        let reference = try tokens.map { t in try model.decode(t) { Array($0) } }
        #expect(Self.worst(predicted, reference) <= Self.oracleTolerance)
        let dense = try Self.decodeLogits(graph, tokens, options: RuntimeOptions(sparsity: .dense))
        #expect(Self.worst(predicted, dense) > 1e-3, "sparsity changed nothing")
    }

    @Test func lookaheadOverlapDoesNotChangeResults() throws {
        let (graph, tokens) = try Self.packed("tiny-llama")
        let overlapped = try Self.decodeLogits(graph, tokens, options: RuntimeOptions(ffnDensity: 0.5, headDensity: 0.5))
        let separate = try Self.decodeLogits(graph, tokens, options: RuntimeOptions(ffnDensity: 0.5, headDensity: 0.5, lookaheadOverlap: false))
        #expect(overlapped == separate)
    }

    /// `--predictor-dtype q4_0`: the predictors are stored in q4_0, and where the VNNI kernel runs their matrices
    /// are read in its 16-row layout, the scores and selection beside the output projection. Decoding selects
    /// what the row-major q4_0 predictors select (the same integer sums, summed in another order) and gives the
    /// same logits; the run is sparse.
    @Test func q4_0PredictorsSelectAsTheirRowLayout() throws {
        let source = try SafetensorsPlugin().read(Self.fixtures.appendingPathComponent("tiny-opt/hf"))
        var options = PackOptions()
        options.predictor = .svd
        options.rank = 32
        options.predictorType = .q4_0
        options.calibrationTokens = 256
        options.calibrationContext = 64
        options.threads = 2
        let text = try CalibrationText.defaultText()
        let sequences = try CalibrationText.sequences(text: text, graph: source, context: 64, maxTokens: 256)
        let graph = try Packer.pack(graph: source, calibration: .sequences(sequences), options: options).graph
        let tokens = Array(sequences[0].prefix(20))
        for block in graph.blocks {
            let node = try #require(block.ffnPredictor)
            #expect(try graph.tensor(node.up).dtype == .q4_0 && graph.tensor(node.down).dtype == .q4_0)
        }
        var runtime = RuntimeOptions(ffnDensity: 0.3, headDensity: 1)
        let interleaved = try Self.decodeLogits(graph, tokens, options: runtime)
        runtime.interleavedWeights = false
        let rowMajor = try Self.decodeLogits(graph, tokens, options: runtime)
        #expect(Self.worst(interleaved, rowMajor) <= Self.oracleTolerance)
        let dense = try Self.decodeLogits(graph, tokens, options: RuntimeOptions(sparsity: .dense))
        #expect(Self.worst(interleaved, dense) > 1e-3, "sparsity changed nothing")
    }

    @Test func sparseOptionsOnADenseModelAreRejected() throws {
        let source = try SafetensorsPlugin().read(Self.fixtures.appendingPathComponent("tiny-llama/hf"))
        #expect(throws: SieveRuntimeError.self) { try Model(graph: source, options: RuntimeOptions(ffnDensity: 0.5)) }
        #expect(throws: SieveRuntimeError.self) { try Model(graph: source, options: RuntimeOptions(ffnDensity: 0)) }
    }
}
