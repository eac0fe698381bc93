import ArgumentParser
import BundleFormat
import Foundation
import SieveCore
import SieveTransforms

/// `sieve pack MODEL -o OUT.sieve`: calibrate, reorder FFN neurons into blocks, train lookahead predictors and write
/// the compressed sparse bundle.
struct Pack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pack a dense model into a contextually sparse .sieve bundle (calibrate, reorder, train predictors).")

    @Argument(help: "The dense source model (.gguf, .safetensors or a Hugging Face folder).")
    var model: String

    /// The library's defaults, which the flags show and start from.
    static let defaults = PackOptions()

    @Option(name: .shortAndLong, help: "The bundle to write (.sieve).")
    var output: String

    @Option(parsing: .upToNextOption, help: "Calibration text files (default: the Python documentation text shipped with Sieve).")
    var calibration: [String] = []

    @Option(help: "Tokens of calibration records.")
    var calibrationTokens: Int = Pack.defaults.calibrationTokens

    @Option(help: "Tokens per calibration sequence.")
    var calibrationCtx: Int = Pack.defaults.calibrationContext

    @Option(help: "Neurons per FFN block (1, 16, 32, 64, …; must divide the FFN width). Default: 1 (single neurons) for ReLU FFNs, 32 otherwise.")
    var blockSize: Int?

    @Option(help: "Predictor rank.")
    var rank: Int = Pack.defaults.rank

    @Option(help: "Predictor lookahead: 0 reads the block's own input, 1 the previous block's.")
    var lookahead: Int = Pack.defaults.lookahead

    @Option(help: "Where the first block's FFN predictor reads: ffn_input (after attention, with the token's context) or block_input (the token's embedding).")
    var firstFfnPredictorInput: String = Pack.defaults.firstFFNPredictorInput.rawValue

    @Option(help: "Predictor kind: trained or svd (training-free).")
    var predictor: String = Pack.defaults.predictor.rawValue

    @Option(help: "Training epochs of the predictors.")
    var epochs: Int = Pack.defaults.epochs

    @Option(help: "Blocked FFN weight type: keep (the source's types; dense runs are bit for bit the source's), f32, f16, q8_0, q4_0, q4_1.")
    var dtype: String = Pack.defaults.weightType.description

    @Option(help: "Predictor weight type: q4_0, q8_0 (twice the bytes), f16 or f32. Default: q4_0 when the rank and the hidden size are multiples of 32, else f16.")
    var predictorDtype: String?

    @Option(help: "zstd level of compressed sections (1…19).")
    var zstdLevel: Int = 3

    @Option(name: [.customShort("t"), .long], help: "Worker threads (default: one per core).")
    var threads: Int?

    @Option(help: "Seed of predictor training.")
    var seed: UInt64 = Pack.defaults.seed

    @Option(help: "Check the default schedule on held-out calibration text (the end of it): keep it if its perplexity stays within this many percent of dense, else choose densities that do.")
    var maxPplIncrease: Double = Pack.defaults.maxPerplexityIncrease ?? 4

    @Flag(help: "Keep the default schedule without checking it.")
    var noPplCheck = false

    @Flag(help: "Print the pack report as JSON.")
    var json = false

    @Flag(help: "Overwrite an existing output.")
    var force = false

    func validate() throws {
        if PredictorKind(rawValue: predictor) == nil { throw ValidationError("--predictor must be trained or svd") }
        if PredictorInput(rawValue: firstFfnPredictorInput) == nil {
            throw ValidationError("--first-ffn-predictor-input must be ffn_input or block_input")
        }
        if !(maxPplIncrease >= 0 && maxPplIncrease.isFinite) { throw ValidationError("--max-ppl-increase must be 0 or more (percent)") }
        if FFNWeightType(name: dtype) == nil { throw ValidationError("--dtype must be keep, f32, f16, q8_0, q4_0 or q4_1") }
        if let predictorDtype, !(DType(name: predictorDtype).map(LowRankPredictor.storageTypes.contains) ?? false) {
            throw ValidationError("--predictor-dtype must be q8_0, q4_0, f16 or f32")
        }
        if !(1...19).contains(zstdLevel) { throw ValidationError("--zstd-level must be between 1 and 19") }
        if lookahead != 0 && lookahead != 1 { throw ValidationError("--lookahead must be 0 or 1") }
        if calibrationTokens < 64 { throw ValidationError("--calibration-tokens must be at least 64") }
        if calibrationCtx < 2 { throw ValidationError("--calibration-ctx must be at least 2") }
        if let threads, threads < 1 || threads > 1024 { throw ValidationError("--threads must be between 1 and 1024") }
    }

    func run() throws {
        let source = URL(fileURLWithPath: model)
        let destination = URL(fileURLWithPath: output)
        try reportingErrors { try AtomicFileWriter.checkDestination(destination, overwrite: force) }
        let start = Date()
        let plugin = try reportingErrors { try FormatSetup.registry.plugin(for: source) }
        let graph = try reportingErrors { try plugin.read(source) }

        var options = PackOptions()
        options.blockSize = blockSize
        options.rank = rank
        options.lookahead = lookahead
        options.firstFFNPredictorInput = PredictorInput(rawValue: firstFfnPredictorInput)!
        options.predictor = PredictorKind(rawValue: predictor)!
        options.weightType = FFNWeightType(name: dtype)!
        options.predictorType = predictorDtype.flatMap { DType(name: $0) }
        options.epochs = epochs
        options.calibrationTokens = calibrationTokens
        options.calibrationContext = calibrationCtx
        options.threads = threads
        options.seed = seed
        options.maxPerplexityIncrease = noPplCheck ? nil : maxPplIncrease
        // The model and the options are checked before any calibration work, in an error that names the model.
        do {
            try options.validate(graph: graph)
        } catch let error as LocalizedError {
            throw CLIError(message: "\(source.path): \(error.errorDescription ?? "\(error)")")
        }

        let text = try calibration.isEmpty ? reportingErrors { try CalibrationText.defaultText() }
            : calibration.map { try readTextFile($0, option: "--calibration") }.joined(separator: "\n\n")
        let (sequences, probe) = try reportingErrors {
            try CalibrationText.split(text: text, graph: graph, context: calibrationCtx, maxTokens: calibrationTokens)
        }
        if probe == nil && !noPplCheck {
            printError("note: the calibration text leaves too little held-out text for the schedule check; the default schedule is not checked (give a longer --calibration text)")
        }
        let progress = StageProgress()
        let result = try reportingErrors {
            try Packer.pack(graph: graph, calibration: .sequences(sequences), options: options, probe: probe) { p in progress.update(p) }
        }
        progress.finish()

        let digest = try reportingErrors { try SHA256.hex(contentsOf: plugin.name == "safetensors" && isDirectory(source) ? source.appendingPathComponent("config.json") : source) }
        let provenance = BundleProvenance(
            source: BundleSource(name: source.lastPathComponent, format: plugin.name, sha256: digest),
            passes: result.passes.map { BundlePass(name: $0.name, options: $0.options) })
        let writeProgress = ProgressReporter(label: "write")
        let written = try reportingErrors {
            try BundleWriter.write(result.graph, to: destination, options: BundleWriteOptions(
                overwrite: force, zstdLevel: zstdLevel, provenance: provenance,
                progress: { done, total, name in writeProgress.update(done: done, total: total, item: name) }))
        }
        writeProgress.finish()
        let seconds = Date().timeIntervalSince(start)
        let sourceSize = fileSize(source)
        if json {
            print(JSONValue.object([
                ("output", .string(destination.path)), ("bytes", .int(Int64(written.fileSize))),
                ("source_bytes", .int(Int64(sourceSize))), ("seconds", .double(seconds)),
                ("calibration_tokens", .int(Int64(result.report.calibrationTokens))),
                ("schedule_check", result.report.scheduleCheck.map(PackReport.json) ?? .null),
                ("options", options.json),
            ]).serialized(pretty: true))
        } else {
            print(result.report.table(ffnDensities: options.ffnDensities, headDensities: options.headDensities))
            if let summary = result.report.scheduleCheckSummary { print(summary) }
            print(String(format: "wrote %@: %@ (source %@), %d sections, in %.1f s", destination.path,
                         formatBytes(written.fileSize), formatBytes(sourceSize), written.sections.count, seconds))
        }
    }

    private func isDirectory(_ url: URL) -> Bool {
        var dir: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &dir) && dir.boolValue
    }

    private func fileSize(_ url: URL) -> Int {
        guard isDirectory(url) else { return (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0 }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return names.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: url.appendingPathComponent($1).path)[.size] as? Int) ?? 0) }
    }
}

/// Stage progress with an ETA: a redrawn line on a terminal, a line per 10% otherwise.
final class StageProgress: @unchecked Sendable {
    private let isTTY = isatty(STDERR_FILENO) != 0
    private var lastStage: PackStage?
    private var lastDecile = -1

    func update(_ p: PackProgress) {
        let eta = p.remaining.map { String(format: ", ETA %.0f s", $0) } ?? ""
        let line = String(format: "%@: %3.0f%% (%.0f s%@) %@", p.stage.rawValue, p.fraction * 100, p.elapsed, eta, p.detail)
        if isTTY {
            let newStage = lastStage != nil && p.stage != lastStage
            let text = (newStage ? "\n" : "\r") + line.padding(toLength: max(line.count, 100), withPad: " ", startingAt: 0)
            FileHandle.standardError.write(text.data(using: .utf8)!)
        } else {
            let decile = Int(p.fraction * 10)
            if p.stage != lastStage || decile != lastDecile { printError(line) }
            lastDecile = decile
        }
        lastStage = p.stage
    }

    func finish() {
        if isTTY { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }
}
