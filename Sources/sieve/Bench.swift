import ArgumentParser
import Foundation
import SieveCore
import SieveKernels
import SieveRuntime
import SieveTokenizers

/// `sieve bench MODEL`: llama-bench-like prefill and decode speeds (or kernel / tokenizer micro-benchmarks).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure prefill and decode speed (median of repetitions), like llama-bench; or kernels / tokenizer.")

    @Argument(help: "The model (not needed with --kernels).")
    var model: String?

    @Option(name: .customShort("p"), help: "Prompt tokens of the prefill test (0 skips it).")
    var promptTokens: Int = 128

    @Option(name: .customShort("n"), help: "Tokens of the decode test (0 skips it).")
    var generateTokens: Int = 128

    @Option(name: .customShort("r"), help: "Measured repetitions (after one warm-up).")
    var repetitions: Int = 5

    @Option(name: [.customShort("t"), .long], help: "Worker threads (default: one per core).")
    var threads: Int?

    @OptionGroup var kvCache: KVCacheOption

    @Flag(help: "Print {prefill_tokens_per_s, decode_tokens_per_s, peak_rss_bytes, runs} as JSON.")
    var json = false

    @Flag(help: "Also time each step of the decoded tokens' forward pass (Q/K/V, attention, output projection, feed-forward, LM head, …) and print µs per token and share; adds two clock reads per step.")
    var profile = false

    @Flag(help: "Benchmark the matrix-vector/matrix-matrix kernels of every weight type instead of a model.")
    var kernels = false

    @Option(help: "With --kernels: only these weight types, e.g. iq2_xxs,q4_K (default: every type the kernels multiply).")
    var types: String?

    @Flag(help: "Benchmark the model's tokenizer (load time, encode/decode speed on 1 MB of text).")
    var tokenizer = false

    @OptionGroup var sparsity: SparsityOptions

    @Option(help: "Sparse bundles: FFN densities to compare in one run, e.g. 1,0.5,0.3,0.2 (one table row each, predicted selection, plus oracle rows with --ppl-file). Each row uses the same head density unless --head-density is given.")
    var densities: String?

    @Option(help: "With --densities: also measure perplexity on this text file (llama-perplexity's method).")
    var pplFile: String?

    @Option(help: "With --ppl-file: tokens per perplexity chunk (default: 512, or the model's trained context if shorter).")
    var pplCtx: Int?

    @Option(help: "With --ppl-file: score at most this many chunks (default: the whole file).")
    var pplChunks: Int?

    @Option(help: "With --densities and --ppl-file: write the trade-off chart (speed-up against perplexity increase) to this SVG file.")
    var plot: String?

    func validate() throws {
        if !kernels && model == nil { throw ValidationError("give a model, or --kernels") }
        if promptTokens < 0 || generateTokens < 0 || promptTokens + generateTokens == 0 {
            throw ValidationError("-p and -n must be 0 or positive, and not both 0")
        }
        if repetitions < 1 { throw ValidationError("-r must be at least 1") }
        if let threads, threads < 1 || threads > 1024 { throw ValidationError("--threads must be between 1 and 1024") }
        if let densities {
            guard let values = Self.parseDensities(densities) else {
                throw ValidationError("--densities takes comma-separated values in (0, 1], e.g. 1,0.5,0.3,0.2")
            }
            if values.isEmpty { throw ValidationError("--densities is empty") }
        }
        if (pplFile != nil || plot != nil) && densities == nil { throw ValidationError("--ppl-file and --plot go with --densities") }
        if profile && (densities != nil || kernels || tokenizer) {
            throw ValidationError("--profile times one model's decode test; it does not go with --densities, --kernels or --tokenizer")
        }
        if types != nil {
            if !kernels { throw ValidationError("--types goes with --kernels") }
            _ = try kernelTypes()
        }
        if profile && generateTokens == 0 { throw ValidationError("--profile needs decoded tokens (-n above 0)") }
        if plot != nil && pplFile == nil { throw ValidationError("--plot needs --ppl-file (the chart plots perplexity increase)") }
        if let pplCtx, pplCtx < 8 { throw ValidationError("--ppl-ctx must be at least 8") }
        if let pplChunks, pplChunks < 1 { throw ValidationError("--ppl-chunks must be at least 1") }
    }

    static func parseDensities(_ text: String) -> [Double]? {
        var values: [Double] = []
        for part in text.split(separator: ",") {
            guard let v = Double(part.trimmingCharacters(in: .whitespaces)), v > 0, v <= 1 else { return nil }
            values.append(v)
        }
        return values
    }

    /// The types of `--types`, or every type the kernels multiply.
    func kernelTypes() throws -> [DType] {
        guard let types else { return WeightMatrix.supportedTypes }
        return try types.split(separator: ",").map { name in
            guard let dtype = DType(name: String(name)), WeightMatrix.supportedTypes.contains(dtype) else {
                let known = WeightMatrix.supportedTypes.map(\.name).joined(separator: ", ")
                throw ValidationError("--types: no kernels for '\(name)'; the types are \(known)")
            }
            return dtype
        }
    }

    func run() throws {
        if kernels {
            let counts = threads.map { [$0] } ?? Array(Set([1, ProcessInfo.processInfo.activeProcessorCount])).sorted()
            _ = KernelBenchmark.run(threads: counts, types: try kernelTypes(), repetitions: repetitions)
            for t in counts where t > 1 {
                let overhead = KernelBenchmark.forkJoinMicroseconds(pool: ThreadPool(threads: t))
                print(String(format: "fork/join: %.2f µs per parallel region with %d threads (median of 5000 regions)", overhead, t))
            }
            if let half = KernelBenchmark.halfConversionNanosecondsPerRow() {
                let chosen = MatMulInput.mixedHalfConversionPays ? "mixed" : "plain"
                print(String(format: "f16 conversion: plain %.1f ns, mixed %.1f ns per 256-value row from L1; ", half.plain, half.mixed)
                      + "decode uses \(chosen)")
            }
            return
        }
        let url = URL(fileURLWithPath: model!)
        let graph = try reportingErrors { try FormatSetup.registry.plugin(for: url).read(url) }
        if tokenizer {
            guard let description = graph.tokenizer else { throw CLIError(message: "\(url.path) has no tokenizer") }
            let text = TokenizerBenchmark.sampleText(bytes: 1 << 20)
            let result = try reportingErrors { try TokenizerBenchmark.run(name: url.lastPathComponent, description: description, text: text) }
            print(TokenizerBenchmark.table([result]))
            return
        }
        let trained = graph.hyperparameters.contextLength
        for (flag, count) in [("-n", generateTokens), ("-p", densities == nil ? promptTokens : 0)] where count > trained {
            throw CLIError(message: "\(url.path): \(flag) \(count) exceeds the model's trained context of \(trained) positions; use \(flag) \(trained) or less")
        }
        if let densities, let values = Self.parseDensities(densities) {
            try runDensities(graph: graph, url: url, densities: values)
            return
        }
        let context = max(promptTokens, generateTokens, 1)
        let model = try reportingErrors {
            try Model(graph: graph, options: try sparsity.apply(to: RuntimeOptions(contextLength: context, threads: threads, kvCacheType: kvCache.type), graph: graph))
        }
        model.profilesDecode = profile
        let options = Benchmark.Options(promptTokens: promptTokens, generateTokens: generateTokens, repetitions: repetitions)
        let result = try reportingErrors {
            try Benchmark.run(model: model, options: options) { name, speed in
                if !json { printError(String(format: "  %@: %.2f tokens/s", name, speed)) }
            }
        }
        if json {
            func runs(_ m: Benchmark.Measurement?) -> JSONValue { .array((m?.runs ?? []).map { .double($0) }) }
            print(JSONValue.object([
                ("model", .string(url.path)), ("threads", .int(Int64(result.threads))),
                ("prefill_tokens", .int(Int64(promptTokens))), ("decode_tokens", .int(Int64(generateTokens))),
                ("prefill_tokens_per_s", result.prefill.map { .double($0.median) } ?? .null),
                ("decode_tokens_per_s", result.decode.map { .double($0.median) } ?? .null),
                ("peak_rss_bytes", .int(Int64(result.peakResidentBytes))),
                ("kv_cache_bytes", .int(Int64(result.kvCacheBytes))),
                ("runs", .object([("prefill", runs(result.prefill)), ("decode", runs(result.decode))])),
                ("decode_profile_us_per_token", profile
                    ? .object(DecodeProfile.Step.allCases.map { ($0.rawValue, .double(model.decodeProfile.microsecondsPerToken($0))) })
                    : .null),
            ]).serialized())
        } else {
            print("model: \(url.path) (\(graph.architecture.rawValue), \(formatCount(graph.parameterCount)) parameters)")
            if model.isSparse {
                print(String(format: "sparsity: %@ selection, mean FFN density %.3f, mean head density %.3f", model.options.sparsity.rawValue,
                             model.meanFFNDensity, model.meanHeadDensity))
            }
            print(result.table)
            if profile { print(model.decodeProfile.table) }
        }
    }

    /// `--densities`: one row per density (predicted selection; oracle too with --ppl-file) and a dense baseline,
    /// measured in one run.
    func runDensities(graph: ModelGraph, url: URL, densities: [Double]) throws {
        var configurations = [SparsityBenchmark.Configuration(ffnDensity: 1, headDensity: 1, selection: .dense)]
        // Per-block densities: --ffn-schedule/--head-schedule, or the bundle's own schedule when it has one.
        let (ffnSchedule, headSchedule) = try sparsity.schedules(for: graph)
        if ffnSchedule != nil || headSchedule != nil || graph.blocks.contains(where: { $0.ffnDensity != nil || $0.headDensity != nil }) {
            configurations.append(.init(ffnDensity: 1, headDensity: 1, selection: .predicted,
                                        schedule: .init(ffn: ffnSchedule, heads: headSchedule)))
            if pplFile != nil {
                configurations.append(.init(ffnDensity: 1, headDensity: 1, selection: .oracle,
                                            schedule: .init(ffn: ffnSchedule, heads: headSchedule)))
            }
        }
        for d in densities where d < 1 {
            let head = sparsity.headDensity ?? d
            configurations.append(.init(ffnDensity: d, headDensity: head, selection: .predicted))
            if pplFile != nil { configurations.append(.init(ffnDensity: d, headDensity: head, selection: .oracle)) }
        }
        var options = SparsityBenchmark.Options()
        options.generateTokens = max(1, generateTokens)
        options.repetitions = repetitions
        options.threads = threads
        options.kvCacheType = kvCache.type
        options.perplexityContext = pplCtx ?? Perplexity.defaultChunkLength(contextLength: graph.hyperparameters.contextLength)
        options.perplexityChunks = pplChunks
        if let pplFile {
            guard graph.tokenizer != nil else { throw CLIError(message: "\(url.path) has no tokenizer; --ppl-file needs one") }
            let tokenizer = try reportingErrors { try Tokenizer(graph: graph, source: url.path) }
            let text = try readTextFile(pplFile, option: "--ppl-file")
            options.perplexityTokens = tokenizer.encode(text, addSpecial: true, parseSpecial: false)
            options.bos = tokenizer.definition.addBOS ? tokenizer.bosID : nil
        }
        let rows = try reportingErrors {
            try SparsityBenchmark.run(graph: graph, configurations: configurations, options: options) { line in
                if !json { printError(line) }
            }
        }
        if let plot {
            let svg = TradeOffChart.svg(rows, title: "\(url.lastPathComponent): decode speed-up vs perplexity increase")
            try reportingErrors {
                try AtomicFileWriter.write(to: URL(fileURLWithPath: plot), overwrite: true) { try $0.write(Array(svg.utf8)) }
            }
        }
        if json {
            print(JSONValue.object([
                ("model", .string(url.path)), ("threads", .int(Int64(threads ?? ThreadPool.defaultThreadCount))),
                ("decode_tokens", .int(Int64(options.generateTokens))),
                ("peak_rss_bytes", .int(Int64(Benchmark.peakResidentBytes()))),
                ("rows", .array(rows.map { r in
                    .object([("ffn_density", .double(r.meanFFNDensity)), ("head_density", .double(r.meanHeadDensity)),
                             ("selection", .string(r.configuration.selection.rawValue)),
                             ("schedule", .bool(r.configuration.schedule != nil)),
                             ("decode_tokens_per_s", .double(r.decodeTokensPerSecond)), ("speedup", .double(r.speedup)),
                             ("weight_bytes_per_token", .double(r.weightBytesPerToken)),
                             ("ideal_speedup", .double(r.idealSpeedup)), ("kernel_efficiency", .double(r.kernelEfficiency)),
                             ("ppl", r.perplexity.map { .double($0.value) } ?? .null),
                             ("ppl_increase_percent", r.perplexityIncrease.map { .double($0) } ?? .null),
                             ("recall", r.recall.map { .double($0) } ?? .null),
                             ("decode_runs", .array(r.decodeRuns.map { .double($0) }))])
                })),
            ]).serialized())
        } else {
            print("model: \(url.path) (\(graph.architecture.rawValue), \(formatCount(graph.parameterCount)) parameters), decode tg\(options.generateTokens), \(repetitions) repetitions")
            print(SparsityBenchmark.table(rows))
            print(String(format: "peak memory %.1f MB", Double(Benchmark.peakResidentBytes()) / 1e6))
            if let plot { print("chart: \(plot)") }
        }
    }
}
