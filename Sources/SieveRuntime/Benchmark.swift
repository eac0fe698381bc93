import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Prompt-processing and generation speed, measured the way llama-bench does (`pp512` / `tg128`): a batch of
/// `promptTokens` tokens evaluated from an empty cache, and `generateTokens` tokens decoded one at a time from an
/// empty cache (each with its logits). Token ids are pseudo-random (the values do not change the speed).
public enum Benchmark {
    /// What to measure.
    public struct Options: Sendable, Equatable {
        /// Tokens of the prefill test (0 skips it).
        public var promptTokens: Int
        /// Tokens of the generation test (0 skips it).
        public var generateTokens: Int
        /// Measured runs of each test (after one unmeasured warm-up run).
        public var repetitions: Int

        /// Options with the given values; the defaults measure `pp512` and `tg128` over 5 runs each.
        public init(promptTokens: Int = 512, generateTokens: Int = 128, repetitions: Int = 5) {
            self.promptTokens = promptTokens
            self.generateTokens = generateTokens
            self.repetitions = repetitions
        }
    }

    /// Speeds of one test over its runs.
    public struct Measurement: Sendable, Equatable, Codable {
        /// `pp512`, `tg128`, …
        public var name: String
        /// Tokens evaluated per run.
        public var tokens: Int
        /// Tokens per second of each run, in run order.
        public var runs: [Double]
        /// Median tokens per second.
        public var median: Double { Benchmark.median(runs) }
        /// Slowest run, tokens per second.
        public var minimum: Double { runs.min() ?? 0 }
        /// Fastest run, tokens per second.
        public var maximum: Double { runs.max() ?? 0 }
        /// Sample standard deviation.
        public var standardDeviation: Double {
            guard runs.count > 1 else { return 0 }
            let mean = runs.reduce(0, +) / Double(runs.count)
            return (runs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(runs.count - 1)).squareRoot()
        }
    }

    /// The measurements of one model.
    public struct Result: Sendable, Equatable {
        /// The prompt-processing test (nil when skipped).
        public var prefill: Measurement?
        /// The generation test (nil when skipped).
        public var decode: Measurement?
        /// Kernel threads used.
        public var threads: Int
        /// Peak resident memory of the process so far, in bytes.
        public var peakResidentBytes: Int
        /// Bytes of the KV cache.
        public var kvCacheBytes: Int

        /// A llama-bench-like table.
        public var table: String {
            var lines = ["| test   |  t/s (median) |          min |          max |   threads |",
                         "| ------ | ------------: | -----------: | -----------: | --------: |"]
            for m in [prefill, decode].compactMap({ $0 }) {
                lines.append(String(format: "| %-6@ | %13.2f | %12.2f | %12.2f | %9d |", m.name as NSString, m.median, m.minimum, m.maximum, threads))
            }
            lines.append(String(format: "peak memory %.1f MB (KV cache %.1f MB)", Double(peakResidentBytes) / 1e6, Double(kvCacheBytes) / 1e6))
            return lines.joined(separator: "\n")
        }
    }

    /// Runs the tests on `model` (its cache is reset). `progress` is called after each run with the test name and
    /// that run's tokens per second.
    public static func run(model: Model, options: Options = Options(), progress: ((String, Double) -> Void)? = nil) throws -> Result {
        guard model.hasLanguageModelHead else {
            throw SieveRuntimeError.wrongModelKind(operation: "bench", architecture: model.architecture.rawValue)
        }
        guard options.promptTokens >= 0, options.generateTokens >= 0, options.promptTokens + options.generateTokens > 0 else {
            throw SieveRuntimeError.invalidOption(name: "bench token counts", value: "-p \(options.promptTokens) -n \(options.generateTokens)", reason: "must be 0 or positive, and not both 0")
        }
        guard options.repetitions >= 1 else {
            throw SieveRuntimeError.invalidOption(name: "repetitions", value: "\(options.repetitions)", reason: "must be at least 1")
        }
        for (flag, count) in [("-p", options.promptTokens), ("-n", options.generateTokens)] where count > model.contextLength {
            throw SieveRuntimeError.invalidOption(name: "bench \(flag)", value: "\(count)", reason: "exceeds the context of \(model.contextLength); pass --ctx \(count) or more")
        }
        var generator = SeededGenerator(seed: 1234)
        let vocabulary = model.vocabularySize
        let prompt = (0..<options.promptTokens).map { _ in Int(generator.next() % UInt64(vocabulary)) }
        let generation = (0..<options.generateTokens).map { _ in Int(generator.next() % UInt64(vocabulary)) }

        func measure(_ name: String, tokens: Int, _ body: () throws -> Void) throws -> Measurement {
            var runs: [Double] = []
            for r in 0...options.repetitions {
                model.reset()
                let start = DispatchTime.now().uptimeNanoseconds
                try body()
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if r > 0 {
                    let speed = Double(tokens) / seconds
                    runs.append(speed)
                    progress?(name, speed)
                }
            }
            model.reset()
            return Measurement(name: name, tokens: tokens, runs: runs)
        }

        var result = Result(prefill: nil, decode: nil, threads: model.threadCount, peakResidentBytes: 0, kvCacheBytes: model.kvCacheBytes)
        if options.promptTokens > 0 {
            result.prefill = try measure("pp\(options.promptTokens)", tokens: options.promptTokens) {
                try model.evaluate(prompt, outputs: .last) { _, _ in }
            }
        }
        if options.generateTokens > 0 {
            result.decode = try measure("tg\(options.generateTokens)", tokens: options.generateTokens) {
                for t in generation { try model.decode(t) { _ in } }
            }
        }
        result.peakResidentBytes = peakResidentBytes()
        return result
    }

    /// Peak resident set size of this process, in bytes.
    public static func peakResidentBytes() -> Int {
        var usage = rusage()
        #if canImport(Darwin)
        guard getrusage(RUSAGE_SELF, &usage) == 0 else { return 0 }
        return Int(usage.ru_maxrss)
        #else
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        return Int(usage.ru_maxrss) * 1024
        #endif
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
