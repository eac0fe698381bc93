import Foundation
import SieveCore
import SieveKernels
import SieveRuntime

/// How predictors are made.
public enum PredictorKind: String, Sendable, CaseIterable {
    /// Trained on calibration records (`PredictorTrainer`).
    case trained
    /// Training-free, from the weights (`SVDPredictor`).
    case svd
}

/// Options of `Packer.pack` (the `sieve pack` flags).
public struct PackOptions: Sendable, Equatable {
    /// Neurons per FFN block `B` (`--block-size`); must divide the FFN width. nil: `automaticBlockSize(for:)`.
    public var blockSize: Int?
    /// Predictor rank `r` (`--rank`). 64 by measurement: on SmolLM2 (blocks of 32) ranks 32, 64 and 128 give the
    /// same mean FFN recall within 0.001 at densities 0.5–0.1; on docs-opt-relu (single neurons, lookahead 0) its
    /// schedule costs +1.38% perplexity at rank 64 and +1.19% at rank 128 (dev.txt c256), while rank 128's
    /// predictors (a 1024×128 product per block against fc1's 1024×256) took the whole sparse gain: 1.03× dense
    /// in one run, against 1.04–1.12× in four runs at rank 64.
    public var rank: Int = 64
    /// Blocks between the predictor's input and its block (`--lookahead`, 0 or 1): block `l`'s predictors read
    /// the input of block `max(0, l − lookahead)`. 0 by measurement: the predictors of block `l` still run inside
    /// block `l`'s Q/K/V and output-projection regions (the input of block `l` exists before its attention), so
    /// reading it costs no extra parallel region for FFN predictors, and it predicts better — docs-opt-relu's
    /// schedule costs +1.38% perplexity with lookahead 0 against +2.02% with 1 (rank 64); SmolLM2 is unchanged
    /// (its schedule and FFN density 0.5 within 1.5% of each other's perplexity).
    public var lookahead: Int = 0
    /// Where the first block's FFN predictor reads the residual stream (`--first-ffn-predictor-input`; the FFN input
    /// needs records that hold it, as a calibration run's do, else the block input is read). The first
    /// block's input is the token's embedding (and position) alone, so a predictor reading it cannot see the
    /// context that decides much of its FFN; its FFN input (attention's output added) can, at the cost of running
    /// the predictor's two products and selection between attention and the FFN (where a block-input predictor
    /// runs them beside attention). `.feedForwardInput` by measurement on docs-opt-relu (rank 64, lookahead 0):
    /// block 0's recall rose from 0.950 to 0.985 at FFN density 0.5 and from 0.846 to 0.940 at 0.3, the schedule
    /// took block 0 from 0.75 to 0.6 (mean FFN density 0.192 to 0.167) and dev.txt perplexity went from +1.38% to
    /// +1.27%, at the same decode speed (1.10/1.11/1.11× against 1.11/1.14/1.11× dense, alternating runs). For
    /// non-gated FFNs the pack also fits every block's FFN predictor to the pre-activations (`PreActivationPredictor`)
    /// and keeps whichever has the higher mean validation recall: on docs-opt-relu the fit (block 0: 0.991 at 0.5,
    /// 0.954 at 0.3) took block 0 to 0.5 (mean density 0.150, dev.txt +1.13%).
    public var firstFFNPredictorInput: PredictorInput = .feedForwardInput
    /// Trained or training-free predictors (`--predictor`).
    public var predictor: PredictorKind = .trained
    /// Element type of the blocked FFN weights (`--dtype`).
    public var weightType: FFNWeightType = .keep
    /// Element type of the predictor matrices (`--predictor-dtype`: f16, f32, q8_0 or q4_0; biases are f32). nil:
    /// `automaticPredictorType(rank:hidden:)`.
    public var predictorType: DType?
    /// Training: epochs, mini-batch, Adam step size, loss and seed (defaults measured on docs-opt-relu: the listwise
    /// loss at temperature 1 beats 0.5, 0.25 and BCE(0.2) at densities 0.5–0.2, and a step of 1e-2 reaches in 10 epochs what
    /// 3e-3 reaches in 30).
    public var epochs: Int = 10
    /// Tokens per training mini-batch; the training tokens must fill at least one.
    public var batchSize: Int = 256
    /// Adam step size of predictor training.
    public var learningRate: Double = 1e-2
    /// The loss predictors are trained with.
    public var loss: PredictorLoss = .listwise(temperature: 1)
    /// Base seed of predictor training and SVD predictors, offset per block (`--seed`).
    public var seed: UInt64 = 0x5EED
    /// Tokens recorded by a calibration run (`--calibration-tokens`) and the sequence length they are run in
    /// (`--calibration-ctx`; used by the runner closure, recorded in provenance).
    public var calibrationTokens: Int = 16384
    /// Tokens per calibration sequence (`--calibration-ctx`, at least 2).
    public var calibrationContext: Int = 256
    /// Fraction of the calibration tokens (the last ones) held out for validation.
    public var validationFraction: Double = 0.1
    /// Most tokens the neuron clustering looks at.
    public var reorderTokens: Int = 4096
    /// Densities whose recall is always measured (the bundle's recall table).
    public var ffnDensities: [Double] = [0.5, 0.3, 0.2, 0.1]
    /// Head densities whose recall is always measured (head training picks its best epoch at them).
    public var headDensities: [Double] = [0.75, 0.5]
    /// How default densities are chosen; nil head schedule = `DensitySchedule.headDefault(heads:)`.
    public var ffnSchedule: DensitySchedule = .ffnDefault
    /// How default head densities are chosen (nil: `DensitySchedule.headDefault(heads:)`).
    public var headSchedule: DensitySchedule?
    /// Worker threads (nil: one per core).
    public var threads: Int?
    /// Where a calibration run's records are written (nil: the system temporary directory).
    public var workDirectory: URL?
    /// Keep the calibration records after packing (their directory is in `PackReport.calibrationDirectory`).
    public var keepCalibration: Bool = false
    /// Budget of the schedule check (`--max-ppl-increase`, percent; nil: no check). When `pack` is given a probe,
    /// the default schedule is kept only if the upper bound of its probe perplexity increase over dense is within
    /// this, and otherwise replaced by `DensityTuner.choose`'s for the same budget. Measured on held-out calibration
    /// text (4096 tokens): docs-opt-relu's schedule +1.6%, bound +2.3% (dev.txt +1.1%), kept; SmolLM2's +3.5%, bound
    /// +5.1% (+9.8%, bound +12.6%, dev.txt +13.5% before the mass target went to 0.88), replaced by dense: no FFN
    /// target is within budget, and head sparsity reads no fewer bytes (the tuner used to keep 8 of 9 heads in 11
    /// blocks: dev.txt +0.8%, 0.98× dense).
    public var maxPerplexityIncrease: Double? = 4

    /// The defaults.
    public init() {}

    /// The block size when none is given: single neurons (1) when every FFN is an ungated ReLU, whose activations
    /// are mostly exactly zero (docs-opt-relu: mean recall at density 0.2 is 0.952 with single neurons and 0.888
    /// with blocks of 32, and the bundle's schedule costs +2.0% perplexity against +3.1%); 32 otherwise, where
    /// neuron selection is not yet better with trained predictors (SmolLM2 at 0.5: +63% perplexity with single
    /// neurons) and blocks keep the sparse kernels on long contiguous rows.
    public static func automaticBlockSize(for graph: ModelGraph) -> Int {
        let relu = !graph.blocks.isEmpty && graph.blocks.allSatisfy { $0.feedForward.gate == nil && $0.feedForward.activation == .relu }
        return relu ? 1 : 32
    }

    /// q4_0 when the rank and the hidden size are multiples of 32 (its rows are whole blocks), else f16. q8_0 halves
    /// the bytes a token reads for its predictors against f16 at the same recall (docs-opt-relu: within 0.001), and
    /// q4_0 halves them again: mean recall within 0.004 of q8_0 on docs-opt-relu and SmolLM2, docs-opt-relu's
    /// schedule 8.47 against 8.71 MB per token at the same dev.txt perplexity (+1.13%), its speed-up over dense
    /// 1.11–1.17× (median 1.125) against 1.09–1.19× (1.105) in eight alternating runs on a Zen 4 machine.
    public static func automaticPredictorType(rank: Int, hidden: Int) -> DType {
        rank % DType.q4_0.blockSize == 0 && hidden % DType.q4_0.blockSize == 0 ? .q4_0 : .f16
    }

    /// `predictorType`, or the automatic one for `graph`.
    public func predictorType(for graph: ModelGraph) -> DType {
        predictorType ?? Self.automaticPredictorType(rank: rank, hidden: graph.hyperparameters.hiddenSize)
    }

    /// The type `predictor` is stored in: `predictorType(for:)`, except that a block-quantized type only applies to
    /// matrices whose rows are whole blocks (an SVD head predictor's rank is the head count): others are f16.
    func storageType(of predictor: LowRankPredictor, graph: ModelGraph) -> DType {
        let type = predictorType(for: graph)
        guard type.blockSize > 1 else { return type }
        return predictor.rank % type.blockSize == 0 && predictor.hidden % type.blockSize == 0 ? type : .f16
    }

    /// `blockSize`, or the automatic one for `graph`.
    public func blockSize(for graph: ModelGraph) -> Int { blockSize ?? Self.automaticBlockSize(for: graph) }

    /// Checks the options against `graph`.
    public func validate(graph: ModelGraph) throws {
        guard graph.lmHead != nil else {
            throw SieveTransformsError.unsupportedGraph(block: nil, reason: "a \(graph.architecture.rawValue) model is an encoder: packing calibrates and checks a causal language model's next-token predictions; pack a decoder (Llama, Qwen2, GPT-2, OPT, …)")
        }
        guard !graph.isPacked else {
            throw SieveTransformsError.unsupportedGraph(block: nil, reason: "the model is already a packed sparse bundle; pack the model it was packed from (sieve inspect shows provenance.source)")
        }
        if let moe = graph.hyperparameters.mixtureOfExperts {
            throw SieveTransformsError.unsupportedGraph(block: nil, reason: "a mixture-of-experts model (\(moe.expertsPerToken) of \(moe.expertCount) experts per token) is already sparse by design, and `sieve pack` has no predictors for its experts; run the model as it is (`sieve run`, `sieve bench`), or convert it with `sieve convert`")
        }
        let blockSize = blockSize(for: graph)
        func fail(_ name: String, _ value: Any, _ reason: String) -> SieveTransformsError {
            .invalidOption(name: name, value: "\(value)", reason: reason)
        }
        let ff = graph.hyperparameters.intermediateSize
        guard blockSize >= 1, ff % blockSize == 0 else { throw fail("--block-size", blockSize, "must divide the FFN width \(ff) (try 16, 32 or 64)") }
        guard rank >= 1 else { throw fail("--rank", rank, "must be positive") }
        guard lookahead == 0 || lookahead == 1 else { throw fail("--lookahead", lookahead, "must be 0 or 1") }
        let predictorType = predictorType(for: graph)
        guard LowRankPredictor.storageTypes.contains(predictorType) else { throw fail("--predictor-dtype", predictorType.name, "must be f16, f32, q8_0 or q4_0") }
        if predictorType.blockSize > 1, rank % predictorType.blockSize != 0 || graph.hyperparameters.hiddenSize % predictorType.blockSize != 0 {
            throw fail("--predictor-dtype", predictorType.name, "needs the rank (\(rank)) and the hidden size (\(graph.hyperparameters.hiddenSize)) to be multiples of \(predictorType.blockSize); use --predictor-dtype f16")
        }
        guard epochs >= 1, batchSize >= 1, learningRate > 0 else { throw fail("training", "\(epochs) epochs, batch \(batchSize), lr \(learningRate)", "must all be positive") }
        guard calibrationTokens >= 1, calibrationContext >= 2 else { throw fail("--calibration-tokens", calibrationTokens, "needs a positive token count and a context of at least 2") }
        if let p = maxPerplexityIncrease, !(p >= 0 && p.isFinite) { throw fail("--max-ppl-increase", p, "must be 0 or more (percent)") }
        guard validationFraction > 0, validationFraction < 0.5 else { throw fail("validation fraction", validationFraction, "must be in (0, 0.5)") }
        for d in ffnDensities + headDensities + ffnSchedule.candidates + (headSchedule?.candidates ?? []) where !(d > 0 && d <= 1) {
            throw fail("density", d, "must be in (0, 1]")
        }
        for (i, b) in graph.blocks.enumerated() {
            guard case .dense = b.feedForward.layout else {
                throw SieveTransformsError.unsupportedGraph(block: i, reason: "the feed-forward layer is already blocked; pack the dense source model")
            }
            _ = try BlockedLayout.partTypes(graph: graph, block: i, weightType: weightType)
        }
    }

    /// Every option as JSON (for provenance).
    public var json: JSONValue {
        .object([
            ("block_size", blockSize.map { .int(Int64($0)) } ?? .string("auto")), ("rank", .int(Int64(rank))), ("lookahead", .int(Int64(lookahead))),
            ("first_ffn_predictor_input", .string(firstFFNPredictorInput.rawValue)),
            ("predictor", .string(predictor.rawValue)), ("dtype", .string(weightType.description)),
            ("predictor_dtype", .string(predictorType?.name ?? "auto")), ("epochs", .int(Int64(epochs))),
            ("batch_size", .int(Int64(batchSize))), ("learning_rate", .double(learningRate)), ("loss", loss.json),
            ("seed", .int(Int64(bitPattern: seed))), ("calibration_tokens", .int(Int64(calibrationTokens))),
            ("calibration_ctx", .int(Int64(calibrationContext))), ("validation_fraction", .double(validationFraction)),
            ("reorder_tokens", .int(Int64(reorderTokens))),
            ("max_ppl_increase", maxPerplexityIncrease.map { .double($0) } ?? .null),
        ])
    }
}

/// Where calibration records come from.
public enum PackCalibration {
    /// Records already made (a reopened `CalibrationStore`, synthetic data).
    case records(CalibrationRecords)
    /// Token sequences (e.g. `CalibrationText.sequences`) that the packer runs through the dense model, recording
    /// every block's activations into a `CalibrationStore` in its work directory (at most `calibrationTokens`).
    case sequences([[Int]])
}

/// The stages of a pack, in order.
public enum PackStage: String, Sendable, CaseIterable {
    /// Record calibration data, reorder FFN neurons into blocks, build predictors, choose densities, check them on
    /// held-out text (only with a probe).
    case calibrate, reorder, predictors, schedule, check
}

/// A progress report: the stage, how far it is, and an estimate of the time it still needs.
public struct PackProgress: Sendable {
    /// The stage reported on.
    public var stage: PackStage
    /// Done fraction of the stage, `0…1`.
    public var fraction: Double
    /// Seconds since the stage began.
    public var elapsed: Double
    /// Estimated seconds left in the stage (nil until a fraction is known).
    public var remaining: Double?
    /// What is being worked on (e.g. "block 3 of 30").
    public var detail: String
}

/// One pass applied, with its options (the bundle manifest's `provenance.passes`).
public struct PackPass: Sendable, Equatable {
    /// The pass (`calibrate`, `reorder`, `block`, `predictors`, `schedule` or `check`).
    public var name: String
    /// The pass's options.
    public var options: JSONValue
}

/// What the packer measured for one block.
public struct BlockPackReport: Sendable, Equatable {
    /// Index of the block.
    public var block: Int
    /// The block whose input the predictors read.
    public var sourceBlock: Int
    /// Where the FFN predictor reads `sourceBlock`'s residual stream (the head predictor reads its input).
    public var ffnInput: PredictorInput
    /// Mean share of a token's FFN mass in its top blocks at the reorder reference density (validation-free, on
    /// the clustering subsample): with the chosen permutation, with neurons in original order, with a random one.
    public var reorderCaptured: Double
    /// The same share with neurons in their original order (blocks of consecutive neurons).
    public var identityCaptured: Double
    /// The same share with a random (seeded) grouping.
    public var randomCaptured: Double
    /// Recall tables on the validation tokens (densities in decreasing order).
    public var ffnRecall: [RecallEntry]
    /// Head predictor recall on the validation tokens (densities in decreasing order).
    public var headRecall: [RecallEntry]
    /// Chosen default densities (nil = dense).
    public var ffnDensity: Double?
    /// Chosen default head density (nil = dense).
    public var headDensity: Double?
    /// Training logs (trained predictors only).
    public var ffnTraining: TrainingLog?
    /// Head predictor training log (trained predictors only).
    public var headTraining: TrainingLog?
    /// How the kept FFN predictor was made.
    public var ffnFit: FeedForwardPredictorFit = .trained
}

/// How an FFN predictor was made: trained, or (a non-gated FFN's predictor, when its FFN inputs were recorded) fitted
/// to the pre-activations by `PreActivationPredictor` when that fit had the higher mean validation recall.
public enum FeedForwardPredictorFit: Sendable, Equatable {
    /// Trained (or built from the weights with `--predictor svd`); no pre-activation fit was tried.
    case trained
    /// Fitted to the pre-activations: mean validation recall over the pack's FFN densities, and the trained one's.
    case preActivations(recall: Double, trainedRecall: Double)
    /// Trained, which beat the pre-activation fit: both mean validation recalls.
    case trainedOverPreActivations(recall: Double, fittedRecall: Double)

    /// Whether the kept predictor is the pre-activation fit.
    public var isPreActivations: Bool {
        if case .preActivations = self { return true }
        return false
    }

    /// The fit as JSON: `{"kept": "trained"|"pre_activations", "recall", "other_recall"}` (only `kept` when no fit
    /// was tried).
    public var json: JSONValue {
        switch self {
        case .trained: return .object([("kept", .string("trained"))])
        case let .preActivations(recall, trained):
            return .object([("kept", .string("pre_activations")), ("recall", .double(recall)), ("other_recall", .double(trained))])
        case let .trainedOverPreActivations(recall, fitted):
            return .object([("kept", .string("trained")), ("recall", .double(recall)), ("other_recall", .double(fitted))])
        }
    }
}

/// Everything a pack measured.
public struct PackReport: Sendable, Equatable {
    /// Calibration tokens recorded (training plus validation).
    public var calibrationTokens: Int
    /// Tokens the predictors were built from (the first ones).
    public var trainingTokens: Int
    /// Held-out tokens recall was measured on (the last ones).
    public var validationTokens: Int
    /// The records' directory when they were kept (`PackOptions.keepCalibration`).
    public var calibrationDirectory: URL?
    /// What was measured for each block, in block order.
    public var blocks: [BlockPackReport]
    /// The schedule check on held-out text (nil when there was none); `blocks`' densities are the final ones.
    public var scheduleCheck: DensityTuner.Check?

    /// What the schedule check measured and decided, in a few lines (nil without a check).
    public var scheduleCheckSummary: String? {
        guard let c = scheduleCheck else { return nil }
        var lines = [String(format: "schedule check (%d held-out tokens): dense PPL %.4f, default schedule %.4f (%+.2f%%, bound %+.2f%%); %.2f MB/token against %.2f dense",
                            c.scoredTokens, c.densePerplexity, c.schedulePerplexity, c.scheduleIncrease, c.scheduleBound,
                            c.scheduleBytesPerToken / 1e6, c.denseBytesPerToken / 1e6)]
        if let r = c.replacement {
            let reason = c.scheduleBound > c.maxIncrease ? String(format: "over the +%g%% budget", c.maxIncrease)
                : String(format: "not %g%% fewer bytes than dense", 100 * DensityTuner.minimumByteSaving)
            lines.append("  \(reason): " + String(format: "replaced by mean FFN density %.3f, mean head density %.3f (PPL %.4f, %+.2f%%; %.2f MB/token)",
                                r.meanFFNDensity, r.meanHeadDensity, r.perplexity, r.increase, r.bytesPerToken / 1e6))
        } else {
            lines.append(String(format: "  within the +%g%% budget: kept", c.maxIncrease))
        }
        return lines.joined(separator: "\n")
    }

    /// Mean over blocks of the FFN recall at `density` (nil when not measured).
    public func meanFFNRecall(at density: Double) -> Double? { mean(\.ffnRecall, density) }
    /// Mean over blocks of the head recall at `density`.
    public func meanHeadRecall(at density: Double) -> Double? { mean(\.headRecall, density) }

    private func mean(_ table: KeyPath<BlockPackReport, [RecallEntry]>, _ density: Double) -> Double? {
        let values = blocks.compactMap { $0[keyPath: table].first(where: { abs($0.density - density) < 1e-9 })?.recall }
        return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }

    /// A plain-text table: per block, the predictors' source, recall at each measured density, the chosen densities
    /// and the reorder gain.
    public func table(ffnDensities: [Double], headDensities: [Double]) -> String {
        func pct(_ d: Double) -> String { String(format: "%.2f", d) }
        var header = "block src"
        for d in ffnDensities { header += "  ffn@\(pct(d))" }
        for d in headDensities { header += " head@\(pct(d))" }
        header += "  ffn_d head_d  top-blk mass (perm/orig/rand)"
        var lines = [header]
        for b in blocks {
            var line = String(format: "%5d ", b.block) + PredictorInput.sourceColumn(b.sourceBlock, ffnPredictorReads: b.ffnInput)
            for d in ffnDensities { line += String(format: "  %8.3f", b.ffnRecall.first(where: { abs($0.density - d) < 1e-9 })?.recall ?? .nan) }
            for d in headDensities { line += String(format: "  %8.3f", b.headRecall.first(where: { abs($0.density - d) < 1e-9 })?.recall ?? .nan) }
            let ffnD = b.ffnDensity.map(pct) ?? "dense", headD = b.headDensity.map(pct) ?? "dense"
            line += "  " + String(repeating: " ", count: max(0, 5 - ffnD.count)) + ffnD
            line += " " + String(repeating: " ", count: max(0, 6 - headD.count)) + headD
            line += String(format: "  %.3f/%.3f/%.3f", b.reorderCaptured, b.identityCaptured, b.randomCaptured)
            lines.append(line)
        }
        var mean = "mean     "
        for d in ffnDensities { mean += String(format: "  %8.3f", meanFFNRecall(at: d) ?? .nan) }
        for d in headDensities { mean += String(format: "  %8.3f", meanHeadRecall(at: d) ?? .nan) }
        lines.append(mean)
        if blocks.contains(where: { $0.ffnInput == .feedForwardInput }) {
            lines.append("src: the block whose input the predictors read; f: the FFN predictor reads its block's FFN input")
        }
        for b in blocks {
            switch b.ffnFit {
            case .trained: break
            case let .preActivations(recall, trained):
                lines.append(String(format: "block %d: FFN predictor fitted to the pre-activations (mean recall %.3f; trained %.3f)", b.block, recall, trained))
            case let .trainedOverPreActivations(recall, fitted):
                lines.append(String(format: "block %d: FFN predictor trained (mean recall %.3f; fitted to the pre-activations %.3f)", b.block, recall, fitted))
            }
        }
        return lines.joined(separator: "\n")
    }

    /// A schedule check as JSON (`"replacement"` null when the schedule was kept).
    public static func json(_ c: DensityTuner.Check) -> JSONValue {
        .object([
            ("max_ppl_increase", .double(c.maxIncrease)), ("tokens", .int(Int64(c.scoredTokens))),
            ("dense_ppl", .double(c.densePerplexity)), ("schedule_ppl", .double(c.schedulePerplexity)),
            ("schedule_bound", .double(c.scheduleBound)),
            ("dense_bytes_per_token", .double(c.denseBytesPerToken)), ("schedule_bytes_per_token", .double(c.scheduleBytesPerToken)),
            ("replacement", c.replacement.map { r in
                .object([("ffn", .array(r.ffnSchedule.map { .double($0) })), ("heads", .array(r.headSchedule.map { .double($0) })),
                         ("ppl", .double(r.perplexity)), ("bytes_per_token", .double(r.bytesPerToken))])
            } ?? .null),
        ])
    }

    /// The report as JSON.
    public var json: JSONValue {
        func entries(_ t: [RecallEntry]) -> JSONValue {
            .array(t.map { .object([("density", .double($0.density)), ("recall", .double($0.recall)),
                                     ("captured", .double($0.captured)), ("oracle", .double($0.oracle))]) })
        }
        func log(_ l: TrainingLog?) -> JSONValue {
            guard let l else { return .null }
            return .object([("train_loss", .array(l.trainLoss.map { .double($0) })),
                            ("validation_recall", .array(l.validationRecall.map { .double($0) })),
                            ("best_epoch", .int(Int64(l.bestEpoch)))])
        }
        return .object([
            ("calibration_tokens", .int(Int64(calibrationTokens))), ("training_tokens", .int(Int64(trainingTokens))),
            ("validation_tokens", .int(Int64(validationTokens))),
            ("schedule_check", scheduleCheck.map(Self.json) ?? .null),
            ("blocks", .array(blocks.map { b in
                .object([
                    ("block", .int(Int64(b.block))), ("source_block", .int(Int64(b.sourceBlock))),
                    ("ffn_predictor_reads", .string(b.ffnInput.rawValue)),
                    ("reorder", .object([("captured", .double(b.reorderCaptured)), ("identity", .double(b.identityCaptured)),
                                         ("random", .double(b.randomCaptured))])),
                    ("ffn_recall", entries(b.ffnRecall)), ("head_recall", entries(b.headRecall)),
                    ("ffn_density", b.ffnDensity.map { .double($0) } ?? .null),
                    ("head_density", b.headDensity.map { .double($0) } ?? .null),
                    ("ffn_training", log(b.ffnTraining)), ("head_training", log(b.headTraining)),
                    ("ffn_fit", b.ffnFit.json),
                ])
            })),
        ])
    }
}

/// The result of a pack: the sparse graph, the passes for the bundle's provenance, and the measurements.
public struct PackResult: Sendable {
    /// The sparse graph: blocked FFN weights, predictors and per-block densities attached.
    public var graph: ModelGraph
    /// The passes applied, in order.
    public var passes: [PackPass]
    /// What the pack measured.
    public var report: PackReport
}

/// The `sieve pack` pipeline: calibrate → reorder FFN neurons and rewrite into the blocked layout → build
/// predictors → measure recall on held-out tokens → choose per-block densities, attaching everything to the graph.
public enum Packer {
    /// Packs a dense `graph`. With a `probe` (held-out text, e.g. `CalibrationText.split`'s) and
    /// `options.maxPerplexityIncrease`, the default schedule is checked on it (`DensityTuner.check`). `progress` is
    /// called from the calling thread at least once per block of each stage.
    public static func pack(graph: ModelGraph, calibration: PackCalibration, options: PackOptions, probe: PerplexityProbe? = nil,
                            progress: ((PackProgress) -> Void)? = nil) throws -> PackResult {
        try options.validate(graph: graph)
        var options = options
        let blockSize = options.blockSize(for: graph)
        options.blockSize = blockSize
        let pool = ThreadPool(threads: options.threads ?? ThreadPool.defaultThreadCount)
        let products = MatrixProducts(pool: pool)
        var clock = StageClock(progress: progress)

        // 1. Calibrate.
        let records: CalibrationRecords
        var store: CalibrationStore?
        var calibrationPass: [(String, JSONValue)] = [
            ("tokens", .int(Int64(options.calibrationTokens))), ("ctx", .int(Int64(options.calibrationContext))),
            ("validation_fraction", .double(options.validationFraction)),
        ]
        switch calibration {
        case let .records(r):
            records = r
            calibrationPass.append(("source", .string("records")))
        case let .sequences(sequences):
            let longest = sequences.map(\.count).max() ?? 0
            guard longest >= 2 else { throw SieveTransformsError.calibration(reason: "no calibration sequence of at least 2 tokens") }
            guard longest <= graph.hyperparameters.contextLength else {
                throw SieveTransformsError.invalidOption(name: "--calibration-ctx", value: "\(longest)", reason: "exceeds the model's context of \(graph.hyperparameters.contextLength)")
            }
            let base = options.workDirectory ?? FileManager.default.temporaryDirectory
            let directory = base.appendingPathComponent("sieve-calibration-\(UUID().uuidString)")
            let recorder = try CalibrationRecorder(directory: directory, shape: CalibrationShape(graph: graph),
                                                   options: .init(maxTokens: options.calibrationTokens))
            clock.begin(.calibrate)
            do {
                let model = try Model(graph: graph, options: RuntimeOptions(contextLength: longest, threads: pool.threadCount), pool: pool)
                model.activationObserver = recorder.observe
                for (i, sequence) in sequences.enumerated() where recorder.recordedTokens < options.calibrationTokens {
                    model.reset()
                    try model.evaluate(sequence, outputs: .none) { _, _ in }
                    clock.report(max(Double(i + 1) / Double(sequences.count), Double(recorder.recordedTokens) / Double(options.calibrationTokens)), detail: "\(recorder.recordedTokens) tokens recorded")
                }
                model.activationObserver = nil
                store = try recorder.finish()
            } catch {
                try? FileManager.default.removeItem(at: directory)
                throw error
            }
            records = store!
            calibrationPass.append(("source", .string("dense run")))
            calibrationPass.append(("sequences", .int(Int64(sequences.count))))
            calibrationPass.append(("skip_leading_positions", .int(Int64(recorder.options.skipLeadingPositions))))
        }
        defer { if let store, !options.keepCalibration { try? store.remove() } }
        let shape = records.shape
        let hp = graph.hyperparameters
        guard shape.blocks == graph.blocks.count, shape.hidden == hp.hiddenSize, shape.ffnWidth == hp.intermediateSize,
              shape.heads == hp.headCount else {
            throw SieveTransformsError.calibration(reason: "records of \(shape.blocks) blocks (hidden \(shape.hidden), ffn \(shape.ffnWidth), \(shape.heads) heads) do not match the model (\(graph.blocks.count) blocks, hidden \(hp.hiddenSize), ffn \(hp.intermediateSize), \(hp.headCount) heads)")
        }
        let validationCount = max(1, Int((Double(shape.tokens) * options.validationFraction).rounded()))
        let trainRows = 0..<(shape.tokens - validationCount)
        let validationRows = (shape.tokens - validationCount)..<shape.tokens
        guard trainRows.count >= max(options.batchSize, 2) || options.predictor == .svd else {
            throw SieveTransformsError.calibration(reason: "\(shape.tokens) calibration tokens leave \(trainRows.count) for training, fewer than one batch of \(options.batchSize); \(shape.tokens < options.calibrationTokens ? "the calibration text is too short: give a longer one (--calibration), at least \(2 * options.batchSize) tokens" : "record more tokens (--calibration-tokens)")")
        }

        var packed = graph
        let blockCount = graph.blocks.count
        let units = hp.intermediateSize / blockSize

        // 2. Reorder and rewrite, keeping each block's block masses for the predictors.
        clock.begin(.reorder)
        var masses: [FloatMatrix] = []
        var reorders: [NeuronReordering.Result] = []
        let reorderOptions = NeuronReordering.Options(blockSize: blockSize, maxTokens: options.reorderTokens)
        for l in 0..<blockCount {
            let magnitudes = try records.ffnMagnitudes(l)
            let result = try NeuronReordering.reorder(magnitudes: magnitudes, options: reorderOptions, products: products)
            masses.append(NeuronReordering.blockMasses(magnitudes: magnitudes, permutation: result.permutation, blockSize: blockSize))
            reorders.append(result)
            try BlockedLayout.apply(to: &packed, block: l, permutation: result.permutation, blockSize: blockSize,
                                    weightType: options.weightType)
            clock.report(Double(l + 1) / Double(blockCount), detail: "block \(l + 1) of \(blockCount)")
        }

        // 3. Predictors, measured on the validation tokens.
        clock.begin(.predictors)
        let ffnGrid = Array(Set(options.ffnDensities + options.ffnSchedule.candidates)).sorted(by: >)
        let headSchedule = options.headSchedule ?? .headDefault(heads: hp.headCount)
        let headGrid = Array(Set(options.headDensities + headSchedule.candidates)).sorted(by: >)
        var reports: [BlockPackReport] = []
        var trainingOptions = PredictorTrainingOptions(rank: options.rank, epochs: options.epochs, batchSize: options.batchSize,
                                                       learningRate: options.learningRate, loss: options.loss, seed: options.seed,
                                                       selectionDensities: options.ffnDensities)
        // The first block's FFN predictor reads its FFN input when asked and recorded.
        let firstFFNInputs = options.firstFFNPredictorInput == .feedForwardInput ? try records.feedForwardInputs(0) : nil
        for l in 0..<blockCount {
            let source = max(0, l - options.lookahead)
            let inputs = try records.blockInputs(source)
            let norms = try records.headNorms(l)
            let validationInputs = rows(inputs, validationRows)
            let ffnReads: PredictorInput = l == 0 && firstFFNInputs != nil ? .feedForwardInput : .blockInput
            let ffnInputs = ffnReads == .feedForwardInput ? firstFFNInputs! : inputs
            let ffnValidationInputs = ffnReads == .feedForwardInput ? rows(ffnInputs, validationRows) : validationInputs
            var ffnPredictor: LowRankPredictor, headPredictor: LowRankPredictor
            var ffnLog: TrainingLog?, headLog: TrainingLog?
            let stepBase = Double(l) / Double(blockCount)
            switch options.predictor {
            case .trained:
                trainingOptions.seed = options.seed &+ UInt64(2 * l)
                trainingOptions.selectionDensities = options.ffnDensities
                (ffnPredictor, ffnLog) = try PredictorTrainer.train(
                    inputs: ffnInputs, targets: masses[l], trainRows: trainRows, validationRows: validationRows,
                    options: trainingOptions, products: products,
                    progress: { clock.report(stepBase + $0 * 0.5 / Double(blockCount), detail: "block \(l + 1) of \(blockCount): FFN predictor") })
                trainingOptions.seed = options.seed &+ UInt64(2 * l + 1)
                trainingOptions.selectionDensities = options.headDensities
                (headPredictor, headLog) = try PredictorTrainer.train(
                    inputs: inputs, targets: norms, trainRows: trainRows, validationRows: validationRows,
                    options: trainingOptions, products: products,
                    progress: { clock.report(stepBase + (0.5 + $0 * 0.5) / Double(blockCount), detail: "block \(l + 1) of \(blockCount): head predictor") })
            case .svd:
                ffnPredictor = try SVDPredictor.feedForward(
                    graph: graph, block: l, permutation: reorders[l].permutation, blockSize: blockSize, rank: options.rank,
                    meanInverseRMS: SVDPredictor.meanInverseRMS(ffnInputs, rows: trainRows), seed: options.seed &+ UInt64(l),
                    products: products)
                headPredictor = SVDPredictor.heads(headNorms: norms, rows: trainRows, hidden: hp.hiddenSize)
            }
            // Recall is measured on the weights as stored.
            ffnPredictor = try ffnPredictor.rounded(to: options.storageType(of: ffnPredictor, graph: graph))
            headPredictor = try headPredictor.rounded(to: options.storageType(of: headPredictor, graph: graph))
            let validationMasses = rows(masses[l], validationRows)
            var ffnTable = RecallMeasurement.measure(scores: ffnPredictor.scores(ffnValidationInputs, products: products),
                                                     masses: validationMasses, densities: ffnGrid)
            var ffnFit = FeedForwardPredictorFit.trained
            if options.predictor == .trained && PreActivationPredictor.applies(to: graph, block: l),
               let blockFFNInputs = ffnReads == .feedForwardInput ? ffnInputs : try records.feedForwardInputs(l) {
                // A non-gated FFN's predictor can also be fitted to the pre-activations; keep the better one.
                var fitted = try PreActivationPredictor.fit(
                    graph: graph, block: l, permutation: reorders[l].permutation, blockSize: blockSize, inputs: ffnInputs,
                    feedForwardInputs: blockFFNInputs, trainRows: trainRows, rank: options.rank, seed: options.seed &+ UInt64(l),
                    products: products)
                fitted = try fitted.rounded(to: options.storageType(of: fitted, graph: graph))
                let fittedTable = RecallMeasurement.measure(scores: fitted.scores(ffnValidationInputs, products: products),
                                                            masses: validationMasses, densities: ffnGrid)
                let trainedRecall = Self.meanRecall(ffnTable, at: options.ffnDensities)
                let fittedRecall = Self.meanRecall(fittedTable, at: options.ffnDensities)
                if fittedRecall > trainedRecall {
                    ffnFit = .preActivations(recall: fittedRecall, trainedRecall: trainedRecall)
                    (ffnPredictor, ffnTable) = (fitted, fittedTable)
                } else {
                    ffnFit = .trainedOverPreActivations(recall: trainedRecall, fittedRecall: fittedRecall)
                }
            }
            let headTable = RecallMeasurement.measure(scores: headPredictor.scores(validationInputs, products: products),
                                                      masses: rows(norms, validationRows), densities: headGrid)
            try ffnPredictor.attach(to: &packed, block: l, target: .ffnBlocks, sourceBlock: source,
                                    input: ffnReads, recall: ffnTable.map { DensityRecall(density: $0.density, recall: $0.recall, captured: $0.captured) },
                                    dtype: options.storageType(of: ffnPredictor, graph: graph))
            try headPredictor.attach(to: &packed, block: l, target: .heads, sourceBlock: source,
                                     recall: headTable.map { DensityRecall(density: $0.density, recall: $0.recall, captured: $0.captured) },
                                     dtype: options.storageType(of: headPredictor, graph: graph))
            reports.append(BlockPackReport(
                block: l, sourceBlock: source, ffnInput: ffnReads, reorderCaptured: reorders[l].capturedMass,
                identityCaptured: reorders[l].identityCapturedMass, randomCaptured: reorders[l].randomCapturedMass,
                ffnRecall: ffnTable, headRecall: headTable, ffnDensity: nil, headDensity: nil,
                ffnTraining: ffnLog, headTraining: headLog, ffnFit: ffnFit))
            masses[l] = FloatMatrix(rows: 0, columns: units)
            clock.report(Double(l + 1) / Double(blockCount), detail: "block \(l + 1) of \(blockCount)")
        }

        // 4. Schedule.
        clock.begin(.schedule)
        for l in 0..<blockCount {
            let ffnDensity = options.ffnSchedule.choose(table: reports[l].ffnRecall, block: l, blockCount: blockCount)
            let headDensity = headSchedule.choose(table: reports[l].headRecall, block: l, blockCount: blockCount)
            reports[l].ffnDensity = ffnDensity
            reports[l].headDensity = headDensity
            packed.blocks[l].ffnDensity = ffnDensity
            packed.blocks[l].headDensity = headDensity
        }
        clock.report(1, detail: "\(blockCount) blocks")

        // 5. Check the schedule on held-out text.
        var check: DensityTuner.Check?
        if let probe, let budget = options.maxPerplexityIncrease {
            clock.begin(.check)
            var runs = 0
            check = try DensityTuner.check(graph: packed, maxIncrease: budget, probe: probe, threads: pool.threadCount) { line in
                runs += 1
                clock.report(min(0.95, Double(runs) / 12), detail: line)
            }
            if let replacement = check?.replacement {
                for l in 0..<blockCount {
                    let ffn = replacement.ffnSchedule[l], heads = replacement.headSchedule[l]
                    reports[l].ffnDensity = ffn < 1 ? ffn : nil
                    reports[l].headDensity = heads < 1 ? heads : nil
                    packed.blocks[l].ffnDensity = reports[l].ffnDensity
                    packed.blocks[l].headDensity = reports[l].headDensity
                }
            }
            clock.report(1, detail: check?.replacement == nil ? "schedule kept" : "schedule replaced")
        }

        func schedule(_ s: DensitySchedule) -> JSONValue {
            .object([("candidates", .array(s.candidates.map { .double($0) })), ("mass_target", .double(s.massTarget)),
                     ("edge_steps", .int(Int64(s.edgeSteps))), ("first_block_mass_target", .double(s.firstBlockMassTarget))])
        }
        var passes = [
            PackPass(name: "calibrate", options: .object(calibrationPass)),
            PackPass(name: "reorder", options: .object([
                ("method", .string("balanced spherical k-means on per-token-normalised activation profiles")),
                ("block_size", .int(Int64(blockSize))), ("max_tokens", .int(Int64(options.reorderTokens))),
                ("iterations", .int(Int64(reorderOptions.iterations))), ("reference_density", .double(reorderOptions.referenceDensity)),
            ])),
            PackPass(name: "block", options: .object([("block_size", .int(Int64(blockSize))),
                                                      ("dtype", .string(options.weightType.description))])),
            PackPass(name: "predictors", options: .object((options.json.objectMembers ?? []) + [
                // The blocks whose kept FFN predictor was fitted to the pre-activations rather than trained.
                ("pre_activation_fit_blocks", .array(reports.filter(\.ffnFit.isPreActivations).map { .int(Int64($0.block)) })),
            ])),
            PackPass(name: "schedule", options: .object([("ffn", schedule(options.ffnSchedule)), ("heads", schedule(headSchedule))])),
        ]
        if let check { passes.append(PackPass(name: "check", options: PackReport.json(check))) }
        let report = PackReport(calibrationTokens: shape.tokens, trainingTokens: trainRows.count, validationTokens: validationRows.count,
                                calibrationDirectory: options.keepCalibration ? store?.directory : nil, blocks: reports,
                                scheduleCheck: check)
        return PackResult(graph: packed, passes: passes, report: report)
    }

    /// Mean recall of `table` over the entries at `densities` (the densities a trained predictor is selected on).
    static func meanRecall(_ table: [RecallEntry], at densities: [Double]) -> Double {
        let entries = table.filter { e in densities.contains { abs($0 - e.density) < 1e-9 } }
        return entries.isEmpty ? 0 : entries.reduce(0) { $0 + $1.recall } / Double(entries.count)
    }

    /// Rows `range` of `m` as a new matrix.
    static func rows(_ m: FloatMatrix, _ range: Range<Int>) -> FloatMatrix {
        let out = FloatMatrix(rows: range.count, columns: m.columns)
        if range.count > 0 { out.elements.update(from: m.elements + range.lowerBound * m.columns, count: range.count * m.columns) }
        return out
    }
}

/// Times the stages and turns fractions into progress reports with an ETA.
struct StageClock {
    let progress: ((PackProgress) -> Void)?
    var stage: PackStage = .calibrate
    var start = DispatchTime.now()

    init(progress: ((PackProgress) -> Void)?) { self.progress = progress }

    mutating func begin(_ s: PackStage) {
        stage = s
        start = .now()
        progress?(PackProgress(stage: s, fraction: 0, elapsed: 0, remaining: nil, detail: "starting"))
    }

    func report(_ fraction: Double, detail: String) {
        guard let progress else { return }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        let f = min(1, max(0, fraction))
        progress(PackProgress(stage: stage, fraction: f, elapsed: elapsed, remaining: f > 0 ? elapsed * (1 - f) / f : nil, detail: detail))
    }
}
