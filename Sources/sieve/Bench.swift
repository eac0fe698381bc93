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

    @Flag(help: "Print {prefill_tokens_per_s, decode_tokens_per_s, peak_rss_bytes, runs} as JSON.")
    var json = false

    @Flag(help: "Benchmark the matrix-vector/matrix-matrix kernels of every weight type instead of a model.")
    var kernels = false

    @Flag(help: "Benchmark the model's tokenizer (load time, encode/decode speed on 1 MB of text).")
    var tokenizer = false

    func validate() throws {
        if !kernels && model == nil { throw ValidationError("give a model, or --kernels") }
        if promptTokens < 0 || generateTokens < 0 || promptTokens + generateTokens == 0 {
            throw ValidationError("-p and -n must be 0 or positive, and not both 0")
        }
        if repetitions < 1 { throw ValidationError("-r must be at least 1") }
        if let threads, threads < 1 || threads > 1024 { throw ValidationError("--threads must be between 1 and 1024") }
    }

    func run() throws {
        if kernels {
            let counts = threads.map { [$0] } ?? Array(Set([1, ProcessInfo.processInfo.activeProcessorCount])).sorted()
            _ = KernelBenchmark.run(threads: counts, repetitions: repetitions)
            return
        }
        let url = URL(fileURLWithPath: model!)
        let graph = try reportingErrors { try FormatSetup.registry.plugin(for: url).read(url) }
        if tokenizer {
            guard let description = graph.tokenizer else { throw CLIError(message: "error: \(url.path) has no tokenizer") }
            let text = TokenizerBenchmark.sampleText(bytes: 1 << 20)
            let result = try reportingErrors { try TokenizerBenchmark.run(name: url.lastPathComponent, description: description, text: text) }
            print(TokenizerBenchmark.table([result]))
            return
        }
        let context = max(promptTokens, generateTokens, 1)
        let model = try reportingErrors {
            try Model(graph: graph, options: RuntimeOptions(contextLength: context, threads: threads))
        }
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
            ]).serialized())
        } else {
            print("model: \(url.path) (\(graph.architecture.rawValue), \(formatCount(graph.parameterCount)) parameters)")
            print(result.table)
        }
    }
}
