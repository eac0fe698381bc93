import Foundation
import SieveCore

/// The speed/quality trade-off of a sparse bundle: decode speed and perplexity at several densities, for predicted
/// and oracle selection, against the dense run measured in the same process.
///
/// Decode repetitions are interleaved across the configurations (run 1 of every configuration, then run 2, …) so
/// that a slow spell of a noisy machine hits them alike. A speed-up is the median, over the repetitions, of the
/// configuration's speed over the dense speed of the same repetition: paired ratios, which a machine whose speed
/// drifts between repetitions moves far less than a ratio of medians. (In one docs-opt-relu run whose repetitions
/// went from 3000 to 5000 tokens/s half-way, the schedule's paired speed-up was 1.11× and its ratio of medians 1.09×;
/// FFN density 0.5's were 0.90× and 1.16×.)
public enum SparsityBenchmark {
    /// One measured configuration.
    public struct Configuration: Sendable, Equatable {
        /// Fraction of FFN blocks computed per token (every block).
        public var ffnDensity: Double
        /// Fraction of heads computed per token (every block).
        public var headDensity: Double
        /// How units are chosen (`.dense` for the baseline).
        public var selection: SparsityMode
        /// Per-block densities instead of `ffnDensity` and `headDensity`; nil arrays mean the bundle's own schedule.
        public var schedule: Schedule?

        /// A configuration; `schedule` replaces the two densities.
        public init(ffnDensity: Double, headDensity: Double, selection: SparsityMode, schedule: Schedule? = nil) {
            self.ffnDensity = ffnDensity; self.headDensity = headDensity; self.selection = selection; self.schedule = schedule
        }
    }

    /// Per-block FFN and head densities (nil: the bundle's).
    public struct Schedule: Sendable, Equatable {
        /// FFN density of each block (nil: the bundle's).
        public var ffn: [Double]?
        /// Head density of each block (nil: the bundle's).
        public var heads: [Double]?

        /// A schedule; nil arrays take the bundle's own.
        public init(ffn: [Double]? = nil, heads: [Double]? = nil) {
            self.ffn = ffn; self.heads = heads
        }
    }

    /// The measurements of one configuration.
    public struct Row: Sendable, Equatable {
        /// What was measured.
        public var configuration: Configuration
        /// Decode tokens per second of each repetition.
        public var decodeRuns: [Double]
        /// Median decode tokens per second.
        public var decodeTokensPerSecond: Double { Benchmark.median(decodeRuns) }
        /// Median over the repetitions of this row's decode speed over the dense row's in the same repetition.
        public var speedup: Double
        /// Perplexity on the probe text (nil when not measured).
        public var perplexity: PerplexityResult?
        /// Relative perplexity increase over the dense row, in percent.
        public var perplexityIncrease: Double?
        /// Mean over blocks of the bundle's recorded FFN predictor recall at this density (nil if not recorded).
        public var recall: Double?
        /// Mean FFN density actually used (after rounding to whole blocks).
        public var meanFFNDensity: Double
        /// Mean head density actually used.
        public var meanHeadDensity: Double
        /// Bytes of weights a decoded token reads in this configuration (`Model.decodeWeightBytes`, with the
        /// down rows skipped for zero activations counted on the benchmark's tokens).
        public var weightBytesPerToken: Double
        /// The dense row's weight bytes per token over this row's: the speed-up if time followed the bytes read.
        public var idealSpeedup: Double
        /// The measured speed-up over the ideal one (1 when the run is as much faster as it reads less).
        public var kernelEfficiency: Double { speedup / idealSpeedup }
    }

    /// What to measure.
    public struct Options: Sendable {
        /// Tokens decoded per repetition (from an empty cache, like llama-bench's `tg`).
        public var generateTokens: Int = 128
        /// Measured repetitions (after one warm-up).
        public var repetitions: Int = 5
        /// Kernel threads.
        public var threads: Int?
        /// KV cache element type of every configuration.
        public var kvCacheType: KVCacheType = .f32
        /// Tokens of the perplexity text (nil: no perplexity).
        public var perplexityTokens: [Int]?
        /// Chunk length of the perplexity measurement.
        public var perplexityContext: Int = Perplexity.defaultChunkLength
        /// Chunks scored at most.
        public var perplexityChunks: Int?
        /// BOS prepended to each chunk, if the tokenizer adds one.
        public var bos: Int?

        /// Defaults: see each property.
        public init() {}
    }

    /// Measures every configuration of `configurations` on `graph` (which should include a `.dense` one: the
    /// speed-up and perplexity increase are relative to it, or to the first configuration otherwise).
    /// `progress` receives a line of text per finished step.
    public static func run(graph: ModelGraph, configurations: [Configuration], options: Options,
                           progress: ((String) -> Void)? = nil) throws -> [Row] {
        guard !configurations.isEmpty else { return [] }
        let context = max(options.generateTokens, options.perplexityTokens == nil ? 1 : options.perplexityContext)
        var models: [Model] = []
        for c in configurations {
            let perUnit = c.selection != .dense && c.schedule == nil
            var runtime = RuntimeOptions(contextLength: context, threads: options.threads, sparsity: c.selection,
                                         ffnDensity: perUnit ? c.ffnDensity : nil, headDensity: perUnit ? c.headDensity : nil,
                                         sparsePrefill: true)
            runtime.kvCacheType = options.kvCacheType
            runtime.ffnSchedule = c.schedule?.ffn
            runtime.headSchedule = c.schedule?.heads
            models.append(try Model(graph: graph, options: runtime, pool: models.first?.pool))
        }
        var generator = SeededGenerator(seed: 4321)
        let vocabulary = models[0].vocabularySize
        let tokens = (0..<options.generateTokens).map { _ in Int(generator.next() % UInt64(vocabulary)) }
        var runs = [[Double]](repeating: [], count: models.count)
        for r in 0...max(1, options.repetitions) {
            for (i, model) in models.enumerated() {
                model.reset()
                let start = DispatchTime.now().uptimeNanoseconds
                for t in tokens { try model.decode(t) { _ in } }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if r > 0 { runs[i].append(Double(tokens.count) / seconds) }
            }
            if r > 0 { progress?("decode repetition \(r)/\(options.repetitions) done") }
        }
        let baseline = configurations.firstIndex { $0.selection == .dense } ?? 0
        var perplexities = [PerplexityResult?](repeating: nil, count: models.count)
        if let text = options.perplexityTokens {
            for (i, model) in models.enumerated() {
                model.reset()
                perplexities[i] = try Perplexity.measure(model: model, tokens: text, contextLength: options.perplexityContext,
                                                         bos: options.bos, maxChunks: options.perplexityChunks)
                let c = configurations[i]
                progress?(String(format: "perplexity %@ ffn %.2f heads %.2f: %.4f", c.selection.rawValue, c.ffnDensity, c.headDensity,
                                 perplexities[i]!.value))
                model.reset()
            }
        }
        // Weights read per token, with the down rows each configuration actually reads on the same tokens.
        let bytes = try models.map { model in
            model.reset()
            return model.decodeWeightBytes(downRowsRead: try model.meanDownRowsRead(decoding: tokens))
        }
        return configurations.indices.map { i in
            let c = configurations[i]
            let increase = perplexities[i].flatMap { p in perplexities[baseline].map { 100 * (p.value / $0.value - 1) } }
            return Row(configuration: c, decodeRuns: runs[i], speedup: Benchmark.median(zip(runs[i], runs[baseline]).map { $0 / $1 }),
                       perplexity: perplexities[i], perplexityIncrease: increase,
                       recall: c.selection == .predicted && c.schedule == nil ? meanRecall(graph, density: c.ffnDensity) : nil,
                       meanFFNDensity: models[i].meanFFNDensity, meanHeadDensity: models[i].meanHeadDensity,
                       weightBytesPerToken: bytes[i], idealSpeedup: bytes[baseline] / bytes[i])
        }
    }

    /// Mean over blocks of the FFN predictors' recorded recall at `density` (nil unless every predictor has it).
    public static func meanRecall(_ graph: ModelGraph, density: Double) -> Double? {
        var values: [Double] = []
        for b in graph.blocks {
            guard let p = b.ffnPredictor else { continue }
            guard let entry = p.recall.first(where: { abs($0.density - density) < 1e-9 }) else { return nil }
            values.append(entry.recall)
        }
        return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }

    /// A plain-text table of `rows`.
    public static func table(_ rows: [Row]) -> String {
        var lines = ["| selection | ffn density | head density | decode t/s (median) | speed-up | MB/token | ideal | efficiency |        ppl |  Δppl % | recall |",
                     "| --------- | ----------: | -----------: | ------------------: | -------: | -------: | ----: | ---------: | ---------: | ------: | -----: |"]
        for r in rows {
            let c = r.configuration
            let ppl = r.perplexity.map { String(format: "%10.4f", $0.value) } ?? String(repeating: " ", count: 9) + "–"
            let inc = r.perplexityIncrease.map { String(format: "%+7.2f", $0) } ?? "      –"
            let recall = r.recall.map { String(format: "%6.3f", $0) } ?? "     –"
            let label = c.schedule == nil ? c.selection.rawValue : c.selection == .oracle ? "sched-orc" : "schedule"
            lines.append(String(format: "| %-9@ | %11.3f | %12.3f | %19.2f | %7.2f× | %8.2f | %4.2f× | %10.2f | %@ | %@ | %@ |",
                                label as NSString, r.meanFFNDensity, r.meanHeadDensity, r.decodeTokensPerSecond, r.speedup,
                                r.weightBytesPerToken / 1e6, r.idealSpeedup, r.kernelEfficiency, ppl, inc, recall))
        }
        return lines.joined(separator: "\n")
    }
}
