import ArgumentParser
import Foundation
import SieveCore
import SieveRuntime
import SieveTokenizers
import SieveTransforms

/// The perplexity probe of `--max-ppl-increase`: four chunks of the run's context, at most
/// `PerplexityProbe.maxContext` tokens each.
enum DensityProbe {
    static func context(for runtime: RuntimeOptions, graph: ModelGraph) -> Int {
        min(PerplexityProbe.maxContext, graph.hyperparameters.contextLength, max(64, runtime.contextLength ?? PerplexityProbe.maxContext))
    }
    static let chunks = 4
}

/// `--kv-type`, shared by the commands that run a model and by `bench`.
struct KVCacheOption: ParsableArguments {
    @Option(help: "KV cache element type: f32 or f16 (llama-bench's -ctk/-ctv; f32 by default).")
    var kvType: String = "f32"

    func validate() throws {
        if KVCacheType(rawValue: kvType) == nil { throw ValidationError("--kv-type must be f32 or f16") }
    }

    /// The validated type.
    var type: KVCacheType { KVCacheType(rawValue: kvType) ?? .f32 }
}

/// Options shared by the commands that load and run a model.
struct ModelOptions: ParsableArguments {
    @Argument(help: "The model: a .gguf, .sieve or .safetensors file, or a Hugging Face folder.")
    var model: String

    @Option(name: [.customShort("t"), .long], help: "Worker threads (default: one per core).")
    var threads: Int?

    @Option(name: [.customShort("c"), .customLong("ctx")], help: "Context length: positions the KV cache holds (default: min(trained context, 4096)).")
    var contextLength: Int?

    @OptionGroup var kvCache: KVCacheOption

    @OptionGroup var sparsity: SparsityOptions

    func validate() throws {
        if let threads, threads < 1 || threads > 1024 { throw ValidationError("--threads must be between 1 and 1024") }
        if let c = contextLength, c < 1 { throw ValidationError("--ctx must be positive") }
    }

    var runtimeOptions: RuntimeOptions {
        sparsity.apply(to: RuntimeOptions(contextLength: contextLength, threads: threads, kvCacheType: kvCache.type))
    }

    /// Reads the model file into the IR.
    func loadGraph() throws -> ModelGraph {
        try reportingErrors {
            let url = URL(fileURLWithPath: model)
            return try FormatSetup.registry.plugin(for: url).read(url)
        }
    }

    /// Reads and compiles the model with its tokenizer.
    func loadSession() throws -> Session { try loadSession(graph: try loadGraph()) }

    /// Compiles `graph` (read by `loadGraph()`) with its tokenizer.
    func loadSession(graph: ModelGraph) throws -> Session {
        let options = try sparsity.apply(to: runtimeOptions, graph: graph)
        return try reportingErrors { try Session(graph: graph, options: options) }
    }
}

/// How a sparse bundle runs: densities, selection, sparse prefill.
struct SparsityOptions: ParsableArguments {
    @Option(help: "Sparse bundles: fraction of FFN blocks computed per token in every block, in (0, 1] (default: the bundle's per-block schedule).")
    var ffnDensity: Double?

    @Option(help: "Sparse bundles: fraction of attention heads computed per token in every block, in (0, 1] (default: the bundle's schedule).")
    var headDensity: Double?

    @Option(help: ArgumentHelp("Sparse bundles: FFN density of each block, comma-separated (one per block; replaces the bundle's schedule).", valueName: "d0,d1,…"))
    var ffnSchedule: String?

    @Option(help: ArgumentHelp("Sparse bundles: head density of each block, comma-separated (one per block; replaces the bundle's schedule).", valueName: "d0,d1,…"))
    var headSchedule: String?

    @Flag(help: "Sparse bundles: compute everything, then keep the true top units at the density (the best a predictor could do).")
    var oracle = false

    @Flag(help: "Sparse bundles: compute every unit (the dense baseline).")
    var dense = false

    @Flag(help: "Sparse bundles: evaluate prompts sparsely too (default: dense prefill, sparse decode).")
    var sparsePrefill = false

    @Flag(help: "Sparse bundles: give the predictors' products parallel regions of their own instead of running them inside the Q/K/V and output-projection regions (to measure what the lookahead overlap saves).")
    var noLookaheadOverlap = false

    @Flag(help: "Keep q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl, iq4_xs, q4_K and q5_K weights in their row layout instead of copying them at load into the 16-row layout of the AVX-512 VNNI or AVX2 group kernels (to measure what that layout gains; prefill of the types with blocks of 32 then decodes them to f32).")
    var noInterleave = false

    @Option(help: "Sparse bundles: choose the lowest densities whose perplexity on a short probe (the end of the shipped calibration text, or of --probe-file) stays within this many percent of dense, and say what was chosen.")
    var maxPplIncrease: Double?

    @Option(help: "With --max-ppl-increase: a UTF-8 text file whose end is the probe (text like yours makes a better choice than the shipped Python documentation).")
    var probeFile: String?

    func validate() throws {
        if oracle && dense { throw ValidationError("--oracle and --dense exclude each other") }
        if probeFile != nil && maxPplIncrease == nil { throw ValidationError("--probe-file is the probe of --max-ppl-increase; give both") }
        if let p = maxPplIncrease {
            if !(p >= 0 && p <= 1000) { throw ValidationError("--max-ppl-increase takes a percentage between 0 and 1000, got \(p)") }
            if ffnDensity != nil || headDensity != nil || ffnSchedule != nil || headSchedule != nil || oracle || dense {
                throw ValidationError("--max-ppl-increase chooses the densities itself: drop --ffn-density, --head-density, --ffn-schedule, --head-schedule, --oracle and --dense")
            }
        }
        for (name, value) in [("--ffn-density", ffnDensity), ("--head-density", headDensity)] {
            if let v = value, !(v > 0 && v <= 1) { throw ValidationError("\(name) must be in (0, 1], got \(v)") }
        }
        if ffnDensity != nil && ffnSchedule != nil { throw ValidationError("--ffn-density and --ffn-schedule exclude each other") }
        if headDensity != nil && headSchedule != nil { throw ValidationError("--head-density and --head-schedule exclude each other") }
        _ = try Self.parseSchedule(ffnSchedule, name: "--ffn-schedule")
        _ = try Self.parseSchedule(headSchedule, name: "--head-schedule")
    }

    /// Densities of a comma-separated schedule, each in (0, 1].
    static func parseSchedule(_ text: String?, name: String) throws -> [Double]? {
        guard let text else { return nil }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        return try parts.map { part in
            guard let v = Double(part), v > 0, v <= 1 else {
                throw ValidationError("\(name): '\(part)' is not a density in (0, 1]; give one density per block, e.g. 0.5,0.1,0.1")
            }
            return v
        }
    }

    /// `--ffn-schedule` and `--head-schedule` for `graph`: parsed, with one density per block.
    func schedules(for graph: ModelGraph) throws -> (ffn: [Double]?, heads: [Double]?) {
        let ffn = try Self.parseSchedule(ffnSchedule, name: "--ffn-schedule")
        let heads = try Self.parseSchedule(headSchedule, name: "--head-schedule")
        for (name, schedule) in [("--ffn-schedule", ffn), ("--head-schedule", heads)] {
            if let schedule, schedule.count != graph.blocks.count {
                throw CLIError(message: "\(name) lists \(schedule.count) densities but the model has \(graph.blocks.count) blocks; give one per block")
            }
        }
        return (ffn, heads)
    }

    /// `options` with these settings, and with `--max-ppl-increase` the densities chosen for `graph` by a
    /// perplexity probe (reported on standard error).
    func apply(to options: RuntimeOptions, graph: ModelGraph) throws -> RuntimeOptions {
        var options = apply(to: options)
        (options.ffnSchedule, options.headSchedule) = try schedules(for: graph)
        guard let budget = maxPplIncrease else { return options }
        guard graph.tokenizer != nil else { throw CLIError(message: "--max-ppl-increase needs the model's tokenizer for its probe text") }
        let context = DensityProbe.context(for: options, graph: graph)
        let probe = try reportingErrors { () throws -> PerplexityProbe in
            let tokenizer = try Tokenizer(graph: graph, source: "model")
            let text: String
            if let probeFile {
                text = try readTextFile(probeFile, option: "--probe-file")
            } else {
                text = try CalibrationText.defaultText()
            }
            // The end of the text: the packer calibrates on the shipped text's beginning.
            guard let probe = PerplexityProbe(endOf: text, context: context, maxTokens: DensityProbe.chunks * context, tokenizer: tokenizer) else {
                throw SieveCoreError.cannotOpen(path: probeFile ?? "the shipped calibration text", reason: "fewer than \(2 * context) tokens; the probe needs two chunks of \(context): give a longer text")
            }
            return probe
        }
        let source = probeFile.map { "the end of \($0)" } ?? "held-out calibration text"
        printError("choosing densities within +\(budget)% of dense probe perplexity (\(probe.tokens.count) tokens of \(source))")
        let choice = try reportingErrors {
            try DensityTuner.choose(graph: graph, maxIncrease: budget, probe: probe, threads: options.threads) { printError("  " + $0) }
        }
        printError(String(format: "chose mean FFN density %.3f (mass target %@), mean head density %.3f (mass target %@): probe PPL %.4f vs dense %.4f (%+.2f%%), %.2f MB/token vs %.2f",
                          choice.meanFFNDensity, choice.ffnTarget.map { String(format: "%.2f", $0) } ?? "dense",
                          choice.meanHeadDensity, choice.headTarget.map { String(format: "%.2f", $0) } ?? "dense",
                          choice.perplexity, choice.densePerplexity, choice.increase,
                          choice.bytesPerToken / 1e6, choice.denseBytesPerToken / 1e6))
        printError("  FFN densities per block: " + choice.ffnSchedule.map { String(format: "%.2f", $0) }.joined(separator: " "))
        printError("  head densities per block: " + choice.headSchedule.map { String(format: "%.2f", $0) }.joined(separator: " "))
        options.ffnSchedule = choice.ffnSchedule
        options.headSchedule = choice.headSchedule
        return options
    }

    /// `options` with these settings.
    func apply(to options: RuntimeOptions) -> RuntimeOptions {
        var options = options
        options.sparsity = dense ? .dense : oracle ? .oracle : .predicted
        options.ffnDensity = ffnDensity
        options.headDensity = headDensity
        options.ffnSchedule = (try? Self.parseSchedule(ffnSchedule, name: "--ffn-schedule")) ?? nil
        options.headSchedule = (try? Self.parseSchedule(headSchedule, name: "--head-schedule")) ?? nil
        options.sparsePrefill = sparsePrefill
        options.lookaheadOverlap = !noLookaheadOverlap
        options.interleavedWeights = !noInterleave
        return options
    }
}

/// Writes text to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write((text + "\n").data(using: .utf8)!)
}
