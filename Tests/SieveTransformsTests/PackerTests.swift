import Foundation
import GGUFFormat
import SieveCore
import SieveRuntime
import SieveTransforms
import Testing

@Suite struct PackerTests {
    /// Without --block-size: single neurons for ungated ReLU FFNs, blocks of 32 for the rest.
    @Test func automaticBlockSizeFollowsTheActivation() throws {
        #expect(PackOptions.automaticBlockSize(for: try Fixtures.graph("tiny-opt/hf")) == 1)
        #expect(PackOptions.automaticBlockSize(for: try Fixtures.graph("docs-opt-relu/hf")) == 1)
        #expect(PackOptions.automaticBlockSize(for: try Fixtures.graph("tiny-llama/hf")) == 32)
        #expect(PackOptions.automaticBlockSize(for: try Fixtures.graph("tiny-gpt2/hf")) == 32)
        var options = PackOptions()
        options.blockSize = 8
        #expect(options.blockSize(for: try Fixtures.graph("tiny-opt/hf")) == 8)
    }

    /// The whole pipeline on planted records: every block blocked, both predictors attached with recall tables,
    /// densities chosen, provenance listed, and the packed graph's FFNs compute what the dense ones did.
    @Test func packsPlantedRecords() throws {
        let model = try PlantedModel.make(seed: 31)
        let records = try model.records(tokens: 2000, seed: 32)
        var options = PackOptions()
        options.blockSize = 8
        options.rank = 16
        options.epochs = 6
        options.learningRate = 1e-2
        options.batchSize = 128
        options.threads = 2
        options.lookahead = 1  // the planted activations are a map of the previous block's input
        var stages: [PackStage] = []
        let result = try Packer.pack(graph: model.graph, calibration: .records(records), options: options) { p in
            if stages.last != p.stage { stages.append(p.stage) }
            #expect(p.fraction >= 0 && p.fraction <= 1)
        }
        #expect(stages == [.reorder, .predictors, .schedule])
        #expect(result.passes.map(\.name) == ["calibrate", "reorder", "block", "predictors", "schedule"])
        #expect(result.report.validationTokens == 200 && result.report.trainingTokens == 1800)
        let g = result.graph
        for (l, block) in g.blocks.enumerated() {
            guard case .blocked(8, _) = block.feedForward.layout else { Issue.record("block \(l) not blocked"); continue }
            let ffn = try #require(block.ffnPredictor), heads = try #require(block.headPredictor)
            #expect(ffn.units == 16 && heads.units == 4)
            #expect(ffn.sourceBlock == max(0, l - 1) && ffn.input == (l == 0 ? .feedForwardInput : .blockInput))
            #expect(try g.tensor(ffn.down).shape == [16, 32] && g.tensor(ffn.down).dtype == .f16)
            #expect(try g.tensor(ffn.up).shape == [16, 16])
            #expect(ffn.recall.contains { $0.density == 0.2 } && heads.recall.contains { $0.density == 0.75 })
            #expect(block.ffnDensity == result.report.blocks[l].ffnDensity)
            var rng = TestRandom(seed: UInt64(l))
            let x = rng.gaussians(32, scale: 1)
            let dense = try FFNReference.output(model.graph, block: l, x), packed = try FFNReference.output(g, block: l, x)
            #expect(zip(dense, packed).map { abs($0 - $1) }.max()! <= Tolerance.blockedFFN)
        }
        print(result.report.table(ffnDensities: options.ffnDensities, headDensities: options.headDensities))
        #expect(result.report.meanFFNRecall(at: 0.5)! > 0.9)
        // The report serialises.
        #expect(result.report.json["blocks"]?.arrayItems?.count == 3)
    }

    /// The first block's FFN predictor is trained and measured on that block's FFN inputs. Planted records whose
    /// first block inputs are replaced by noise leave only the FFN inputs to predict from: reading them, block 0's
    /// recall at FFN density 0.5 is high; reading the block inputs (`.blockInput`, or records without FFN inputs) it
    /// is not.
    @Test func firstFFNPredictorLearnsFromTheFFNInputs() throws {
        let model = try PlantedModel.make(seed: 31)
        let planted = try model.records(tokens: 2000, seed: 32)
        var rng = TestRandom(seed: 33)
        let blocks = model.graph.blocks.indices, hidden = planted.shape.hidden
        let noise = FloatMatrix(rows: 2000, columns: hidden, values: rng.gaussians(2000 * hidden, scale: 1))
        let inputs = try blocks.map { $0 == 0 ? noise : try planted.blockInputs($0) }
        let magnitudes = try blocks.map { try planted.ffnMagnitudes($0) }, norms = try blocks.map { try planted.headNorms($0) }
        let withFFNInputs = try InMemoryCalibration(blockInputs: inputs, ffnMagnitudes: magnitudes, headNorms: norms, headDim: 8,
                                                    feedForwardInputs: [try #require(try planted.feedForwardInputs(0))])
        let withoutFFNInputs = try InMemoryCalibration(blockInputs: inputs, ffnMagnitudes: magnitudes, headNorms: norms, headDim: 8)
        var options = PackOptions()
        options.blockSize = 8
        options.rank = 16
        options.epochs = 6
        options.batchSize = 128
        options.threads = 2
        func firstBlock(_ records: CalibrationRecords, _ input: PredictorInput) throws -> (PredictorNode, Double) {
            options.firstFFNPredictorInput = input
            let result = try Packer.pack(graph: model.graph, calibration: .records(records), options: options)
            let recall = try #require(result.report.blocks[0].ffnRecall.first { $0.density == 0.5 }).recall
            #expect(result.report.blocks[0].ffnInput == result.graph.blocks[0].ffnPredictor?.input)
            return (try #require(result.graph.blocks[0].ffnPredictor), recall)
        }
        let (ffnReader, ffnRecall) = try firstBlock(withFFNInputs, .feedForwardInput)
        let (blockReader, blockRecall) = try firstBlock(withFFNInputs, .blockInput)
        let (fallback, fallbackRecall) = try firstBlock(withoutFFNInputs, .feedForwardInput)
        #expect(ffnReader.input == .feedForwardInput && ffnReader.sourceBlock == 0)
        #expect(blockReader.input == .blockInput && fallback.input == .blockInput)
        #expect(ffnRecall > 0.9, "recall \(ffnRecall) from the FFN inputs")
        #expect(ffnRecall > blockRecall + 0.1 && ffnRecall > fallbackRecall + 0.1,
                "recall \(ffnRecall) from the FFN inputs against \(blockRecall) and \(fallbackRecall) from noise")
    }

    /// A ReLU model's FFN predictors (the first block's reading its FFN input, the others their block input) are
    /// fitted to the pre-activations as well as trained; the pack keeps the one with the higher mean validation
    /// recall and says so. On tiny-opt (random weights, 400 tokens) the fit wins in the first block, and the kept
    /// predictor's recall table is the fit's; every block's calibration records its FFN inputs.
    @Test func reluModelPredictorsAreFittedToThePreActivations() throws {
        let graph = try Fixtures.graph("tiny-opt/hf")
        let text = String(try CalibrationText.defaultText().prefix(20_000))
        let sequences = try CalibrationText.sequences(text: text, graph: graph, context: 64, maxTokens: 400)
        var options = PackOptions()
        options.calibrationTokens = 400
        options.blockSize = 4
        options.rank = 32
        options.epochs = 3
        options.batchSize = 64
        options.threads = 2
        options.maxPerplexityIncrease = nil
        let result = try Packer.pack(graph: graph, calibration: .sequences(sequences), options: options)
        let first = result.report.blocks[0]
        guard case let .preActivations(recall, trainedRecall) = first.ffnFit else {
            Issue.record("block 0 kept \(first.ffnFit)")
            return
        }
        #expect(recall > trainedRecall, "fit \(recall), trained \(trainedRecall)")
        let kept = options.ffnDensities.compactMap { d in first.ffnRecall.first { abs($0.density - d) < 1e-9 }?.recall }
        #expect(kept.count == options.ffnDensities.count && abs(kept.reduce(0, +) / Double(kept.count) - recall) < 1e-12)
        #expect(result.graph.blocks[0].ffnPredictor?.input == .feedForwardInput)
        #expect(result.report.blocks.allSatisfy { $0.ffnFit != .trained }, "\(result.report.blocks.map(\.ffnFit))")
        #expect(CalibrationShape(graph: graph).feedForwardInputBlocks == graph.blocks.count)
        #expect(CalibrationShape(graph: try Fixtures.graph("tiny-llama/hf")).feedForwardInputBlocks == 1)
        let table = result.report.table(ffnDensities: options.ffnDensities, headDensities: options.headDensities)
        #expect(table.contains(String(format: "block 0: FFN predictor fitted to the pre-activations (mean recall %.3f; trained %.3f)", recall, trainedRecall)))
        #expect(result.report.json["blocks"]?.arrayItems?.first?["ffn_fit"]?["kept"]?.stringValue == "pre_activations")
        let fitted = result.passes.first { $0.name == "predictors" }?.options["pre_activation_fit_blocks"]?.arrayItems?.compactMap(\.intValue)
        #expect(fitted == result.report.blocks.filter(\.ffnFit.isPreActivations).map(\.block))
        #expect(fitted?.first == 0)
    }

    /// A quick pack of tiny-llama: 300 calibration tokens, training-free rank-32 predictors, records kept.
    static func smallSVDOptions() -> PackOptions {
        var options = PackOptions()
        options.calibrationTokens = 300
        options.predictor = .svd
        options.rank = 32
        options.threads = 2
        options.keepCalibration = true
        return options
    }

    /// Calibration through the dense runtime (tiny-llama, f32): the recorder sees every block, and the SVD
    /// predictor path runs end to end.
    @Test func packsThroughTheRuntime() throws {
        let graph = try Fixtures.graph("tiny-llama/hf")
        let text = try CalibrationText.defaultText()
        let sequences = try CalibrationText.sequences(text: String(text.prefix(20_000)), graph: graph, context: 64, maxTokens: 300)
        let options = Self.smallSVDOptions()
        let result = try Packer.pack(graph: graph, calibration: .sequences(sequences), options: options)
        let directory = try #require(result.report.calibrationDirectory)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try CalibrationStore(opening: directory)
        #expect(store.shape.tokens == 300 && store.shape.blocks == 2 && store.shape.ffnWidth == 512)
        // The recorded FFN activations of block 0 are those of the dense model: re-derive one row by reference math.
        #expect(result.graph.blocks.allSatisfy { $0.ffnPredictor?.recall.isEmpty == false })
        // `row` is a view of the matrix's buffer: keep the matrix alive while reading it.
        let inputs = try store.blockInputs(0)
        let x = Array(inputs.row(5))
        #expect(x.contains { $0 != 0 })
        // Packing again from the kept records gives the same graph tensors (deterministic).
        let again = try Packer.pack(graph: graph, calibration: .records(store), options: options)
        for name in result.graph.tensors.names {
            #expect(try result.graph.tensor(name).floats() == again.graph.tensor(name).floats(), "\(name)")
        }
        #expect(throws: SieveTransformsError.self) {
            var bad = options
            bad.blockSize = 48
            _ = try Packer.pack(graph: graph, calibration: .records(store), options: bad)
        }
    }

    /// The schedule check on held-out text: no budget, no check; a generous budget keeps the recall schedule; a zero
    /// budget replaces it with the tuner's choice. The graph, the report, its JSON and the provenance agree, and
    /// the check's dense probe perplexity is the source model's on the same tokens.
    @Test func checksTheScheduleOnHeldOutText() throws {
        let graph = try Fixtures.graph("tiny-llama/hf")
        let text = String(try CalibrationText.defaultText().prefix(40_000))
        let (sequences, probe) = try CalibrationText.split(text: text, graph: graph, context: 64, maxTokens: 300, probeTokens: 1024)
        let heldOut = try #require(probe)
        var options = Self.smallSVDOptions()
        // Every block but the first as sparse as the candidates allow, so that the schedule costs something.
        options.ffnSchedule = DensitySchedule(candidates: [0.25, 0.5], massTarget: 0)
        options.maxPerplexityIncrease = nil
        let unchecked = try Packer.pack(graph: graph, calibration: .sequences(sequences), options: options, probe: heldOut)
        let directory = try #require(unchecked.report.calibrationDirectory)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try CalibrationStore(opening: directory)
        #expect(unchecked.report.scheduleCheck == nil && !unchecked.passes.contains { $0.name == "check" })
        let schedule = unchecked.graph.blocks.map(\.ffnDensity)
        #expect(schedule.contains { $0 != nil })

        options.maxPerplexityIncrease = 1000
        let kept = try Packer.pack(graph: graph, calibration: .records(store), options: options, probe: heldOut)
        let keptCheck = try #require(kept.report.scheduleCheck)
        #expect(keptCheck.replacement == nil && keptCheck.maxIncrease == 1000)
        #expect(keptCheck.scheduleBound > keptCheck.scheduleIncrease && keptCheck.scheduleIncrease > 0)
        #expect(kept.graph.blocks.map(\.ffnDensity) == schedule)
        #expect(kept.passes.last?.name == "check" && kept.passes.last?.options["replacement"]?.isNull == true)
        #expect(kept.report.scheduleCheckSummary?.contains("within the +1000% budget: kept") == true)

        let dense = try Model(graph: graph, options: RuntimeOptions(contextLength: heldOut.context))
        var scored = 0
        let sourcePerplexity = try Perplexity.measure(model: dense, tokens: heldOut.tokens, contextLength: heldOut.context,
                                                      bos: heldOut.bos, scored: { _ in scored += 1 }).value
        #expect(abs(keptCheck.densePerplexity / sourcePerplexity - 1) < 1e-4)
        #expect(keptCheck.scoredTokens == scored && scored > 0)

        options.maxPerplexityIncrease = 0
        let replaced = try Packer.pack(graph: graph, calibration: .records(store), options: options, probe: heldOut)
        let check = try #require(replaced.report.scheduleCheck)
        let choice = try #require(check.replacement)
        #expect(check.schedulePerplexity == keptCheck.schedulePerplexity && check.densePerplexity == keptCheck.densePerplexity)
        #expect(replaced.graph.blocks.map(\.ffnDensity) == choice.ffnSchedule.map { $0 < 1 ? $0 : nil })
        #expect(replaced.graph.blocks.map(\.headDensity) == choice.headSchedule.map { $0 < 1 ? $0 : nil })
        #expect(replaced.report.blocks.map(\.ffnDensity) == replaced.graph.blocks.map(\.ffnDensity))
        #expect(replaced.graph.blocks.map(\.ffnDensity) != schedule)
        let json = try #require(replaced.report.json["schedule_check"]?["replacement"]?["ffn"]?.arrayItems)
        #expect(json.count == graph.blocks.count)
        #expect(replaced.report.scheduleCheckSummary?.contains("over the +0% budget: replaced") == true)

        // A schedule within budget that does not read 3% fewer bytes than dense is replaced too: head sparsity reads Q, K, V
        // and O whole and adds its predictors, so the tuner keeps heads dense and only FFN sparsity can remain.
        var headsOnly = kept.graph
        for l in headsOnly.blocks.indices {
            headsOnly.blocks[l].ffnDensity = nil
            headsOnly.blocks[l].headDensity = 0.5
        }
        let headCheck = try DensityTuner.check(graph: headsOnly, maxIncrease: 1000, probe: heldOut, threads: 2)
        #expect(!headCheck.scheduleSavesBytes && headCheck.scheduleBytesPerToken > headCheck.denseBytesPerToken)
        #expect(headCheck.scheduleBound <= 1000)
        let headChoice = try #require(headCheck.replacement)
        #expect(headChoice.headSchedule.allSatisfy { $0 == 1 } && headChoice.headTarget == nil)
        #expect(headCheck.probes.contains { $0.hasPrefix("heads: even mass target") && $0.hasSuffix("kept dense") }, "\(headCheck.probes)")
        #expect(headChoice.ffnSchedule.contains { $0 < 1 } && headChoice.bytesPerToken < headChoice.denseBytesPerToken)
        #expect(keptCheck.scheduleSavesBytes && keptCheck.scheduleBytesPerToken < keptCheck.denseBytesPerToken)
        // Saving bytes is not enough: at least `minimumByteSaving` of them (a 1% saving cannot be told from drift).
        var barely = keptCheck
        barely.scheduleBytesPerToken = 0.99 * barely.denseBytesPerToken
        #expect(!barely.scheduleSavesBytes)
        barely.scheduleBytesPerToken = (1 - DensityTuner.minimumByteSaving) * barely.denseBytesPerToken
        #expect(barely.scheduleSavesBytes)
        #expect(kept.report.json["schedule_check"]?["schedule_bytes_per_token"]?.doubleValue == keptCheck.scheduleBytesPerToken)
    }
}

/// Packs real models on real calibration text and prints their recall tables for several option sets, with pack
/// time and peak memory. Slow; runs only with `SIEVE_PACK_REPORT=1`, in a release build
/// (`swift test -c release -Xswiftc -enable-testing --filter RealModelPackReport`); `SIEVE_PACK_TOKENS` sets the
/// calibration tokens (default 16384). SmolLM2 is read from `$SIEVE_MODELS` (`make models`).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["SIEVE_PACK_REPORT"] != nil), .serialized)
struct RealModelPackReport {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Peak resident memory of this process (Linux reports kilobytes, macOS bytes).
    static func peakRSSMegabytes() -> Double {
        var usage = rusage()
        #if canImport(Glibc)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        #if canImport(Glibc)
        return Double(usage.ru_maxrss) / 1024
        #else
        return Double(usage.ru_maxrss) / 1_048_576
        #endif
    }

    static func report(_ name: String, graph: ModelGraph, variants: [(String, (inout PackOptions) -> Void)]) throws {
        let calib = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/data/calib.txt")
        let text = try (try? String(contentsOf: calib, encoding: .utf8)) ?? CalibrationText.defaultText()
        let tokens = Int(ProcessInfo.processInfo.environment["SIEVE_PACK_TOKENS"] ?? "") ?? 16384
        let sequences = try CalibrationText.sequences(text: text, graph: graph, context: 256, maxTokens: tokens)
        var base = PackOptions()
        base.calibrationTokens = tokens
        base.threads = 2
        base.keepCalibration = true
        let start = Date()
        var stageTimes: [PackStage: Double] = [:]
        let first = try Packer.pack(graph: graph, calibration: .sequences(sequences), options: base) { stageTimes[$0.stage] = $0.elapsed }
        let stages = PackStage.allCases.map { "\($0.rawValue) \(String(format: "%.1f", stageTimes[$0] ?? 0)) s" }.joined(separator: ", ")
        print("\n\(name), \(first.report.calibrationTokens) tokens, defaults (trained r\(base.rank) B\(base.blockSize(for: graph)) lookahead \(base.lookahead)): \(String(format: "%.1f", Date().timeIntervalSince(start))) s (\(stages)), peak RSS \(String(format: "%.0f", peakRSSMegabytes())) MB")
        print(first.report.table(ffnDensities: [0.5, 0.3, 0.2, 0.1], headDensities: [0.75, 0.5]))
        let directory = try #require(first.report.calibrationDirectory)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try CalibrationStore(opening: directory)
        for (variant, change) in variants {
            var o = base
            o.keepCalibration = false
            change(&o)
            let t0 = Date()
            let r = try Packer.pack(graph: graph, calibration: .records(store), options: o)
            print("\n\(name) \(variant) (\(String(format: "%.1f", Date().timeIntervalSince(t0))) s without calibration)")
            print(r.report.table(ffnDensities: [0.5, 0.3, 0.2, 0.1], headDensities: [0.75, 0.5]))
        }
    }

    @Test func docsOptRelu() throws {
        try Self.report("docs-opt-relu", graph: try Fixtures.graph("docs-opt-relu/hf"), variants: [
            ("lookahead 1", { $0.lookahead = 1 }), ("rank 32", { $0.rank = 32 }), ("rank 128", { $0.rank = 128 }),
            ("svd", { $0.predictor = .svd }), ("B16", { $0.blockSize = 16 }), ("B32", { $0.blockSize = 32 }),
            ("bce(0.2)", { $0.loss = .bce(labelDensity: 0.2) }),
        ])
    }

    @Test func smolLM2() throws {
        let models = ProcessInfo.processInfo.environment["SIEVE_MODELS"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/sieve/models").path
        let url = URL(fileURLWithPath: models).appendingPathComponent("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        guard FileManager.default.fileExists(atPath: url.path) else { return }
        try Self.report("SmolLM2-135M Q4_1", graph: try GGUFPlugin().read(url), variants: [
            ("lookahead 1", { $0.lookahead = 1 }), ("rank 128", { $0.rank = 128 }), ("rank 32", { $0.rank = 32 }),
            ("svd", { $0.predictor = .svd }), ("svd lookahead 1", { $0.predictor = .svd; $0.lookahead = 1 }),
            ("B16", { $0.blockSize = 16 }), ("B64", { $0.blockSize = 64 }),
        ])
    }
}
