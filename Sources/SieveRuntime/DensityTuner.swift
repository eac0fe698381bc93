import Foundation
import SieveCore
import SieveKernels

/// Chooses the lowest densities whose perplexity stays within a budget (`--max-ppl-increase P`).
///
/// Candidate schedules come from the bundle's recall tables: at mass target τ each block gets the smallest
/// recorded density whose predicted units hold at least τ of the activation mass (`DensityRecall.captured`), so
/// blocks whose activations are less sparse (e.g. the first block of a ReLU model) stay denser. A short perplexity
/// probe measures the dense model and then candidate targets, by bisection over an ordered list (perplexity grows
/// as τ falls); a candidate passes when its paired per-token increase over dense plus two standard errors stays
/// within `probeMargin` of the budget. The FFN target is chosen first, then heads with it fixed.
///
/// A schedule must also be worth running: a token must read at least `minimumByteSaving` fewer weight bytes with it
/// than without (`Model.decodeWeightBytes`), or its speed-up cannot exceed 1 by more than runs drift and it only
/// costs perplexity. Head sparsity reads Q, K, V and O whole and adds its predictors, so it never passes on its own:
/// on SmolLM2 the checked schedule of 8 of 9 heads in 11 blocks cost +0.8% perplexity and decoded at 0.98× dense.
/// With q4_0 predictors SmolLM2's recall schedule (FFN 0.75/0.75/0.6 in its last three blocks, 8 of 9 heads in two)
/// passed the held-out check (+2.59%, bound +3.98%) but read 0.9% fewer bytes (ideal 1.01×) for +3.9% on dev.txt.
public enum DensityTuner {
    /// The chosen schedules and what the probe measured.
    public struct Choice: Sendable, Equatable {
        /// Per block FFN density.
        public var ffnSchedule: [Double]
        /// Per block head density.
        public var headSchedule: [Double]
        /// Mass targets chosen (nil: dense).
        public var ffnTarget: Double?
        /// The heads' mass target (nil: dense).
        public var headTarget: Double?
        /// Probe perplexity of the dense model and of the choice.
        public var densePerplexity: Double
        /// Probe perplexity of the chosen schedules.
        public var perplexity: Double
        /// Every probe run: (description, perplexity).
        public var probes: [String]
        /// Weight bytes a decoded token reads with the dense model and with the chosen schedules.
        public var denseBytesPerToken: Double
        /// Weight bytes a decoded token reads with the chosen schedules.
        public var bytesPerToken: Double
        /// Relative increase over dense, in percent.
        public var increase: Double { 100 * (perplexity / densePerplexity - 1) }
        /// Mean densities of the schedules.
        public var meanFFNDensity: Double { ffnSchedule.reduce(0, +) / Double(max(1, ffnSchedule.count)) }
        /// Mean of the head schedule.
        public var meanHeadDensity: Double { headSchedule.reduce(0, +) / Double(max(1, headSchedule.count)) }
    }

    /// Fraction of the perplexity budget a candidate may use on the probe.
    public static let probeMargin = 0.5

    /// Least fraction of the dense run's weight bytes per token that a sparse schedule must save to be chosen or kept.
    public static let minimumByteSaving = 0.03

    /// Whether `bytes` per token save at least `minimumByteSaving` of `reference`.
    static func savesEnough(_ bytes: Double, against reference: Double) -> Bool {
        bytes <= (1 - minimumByteSaving) * reference
    }

    /// Mass targets tried, from dense-ish to sparse.
    public static let targets: [Double] = [0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.9, 0.88, 0.85, 0.82, 0.8, 0.75, 0.7, 0.6, 0.5]

    /// Per block density at mass target `target` for `target`'s predictors (1 where nothing qualifies).
    public static func schedule(_ graph: ModelGraph, kind: PredictorTarget, target: Double) -> [Double] {
        graph.blocks.map { b in
            let p = kind == .ffnBlocks ? b.ffnPredictor : b.headPredictor
            let ok = (p?.recall ?? []).filter { ($0.captured ?? 0) >= target && $0.density < 1 }
            return ok.map(\.density).min() ?? 1
        }
    }

    /// Upper bound, in percent, of the perplexity increase of `nll` over `reference` (the same tokens): the mean
    /// paired difference of negative log-likelihoods plus two standard errors, as a relative perplexity change.
    public static func pairedIncreaseBound(_ nll: [Double], over reference: [Double]) -> Double {
        let n = min(nll.count, reference.count)
        guard n > 1 else { return nll.count == reference.count ? 0 : .infinity }
        var sum = 0.0, sumSquares = 0.0
        for i in 0..<n {
            let d = nll[i] - reference[i]
            sum += d
            sumSquares += d * d
        }
        let mean = sum / Double(n)
        let variance = max(0, sumSquares / Double(n) - mean * mean) * Double(n) / Double(n - 1)
        return 100 * (exp(mean + 2 * (variance / Double(n)).squareRoot()) - 1)
    }

    /// What `check` measured of a graph's own default schedule, and the replacement when it was over budget.
    public struct Check: Sendable, Equatable {
        /// The budget, in percent.
        public var maxIncrease: Double
        /// Probe perplexity of the dense model.
        public var densePerplexity: Double
        /// Probe perplexity of the graph's own schedule.
        public var schedulePerplexity: Double
        /// Weight bytes a decoded token reads with the dense model.
        public var denseBytesPerToken: Double
        /// Weight bytes a decoded token reads with the graph's own schedule.
        public var scheduleBytesPerToken: Double
        /// Upper bound of the schedule's increase over dense, in percent (`pairedIncreaseBound`).
        public var scheduleBound: Double
        /// Tokens the probe scored.
        public var scoredTokens: Int
        /// `choose`'s schedules when the bound exceeded the budget; nil when the schedule was kept.
        public var replacement: Choice?
        /// Every probe run, as in `Choice.probes`.
        public var probes: [String]
        /// The schedule's relative increase over dense, in percent.
        public var scheduleIncrease: Double { 100 * (schedulePerplexity / densePerplexity - 1) }
        /// Whether a token reads at least `minimumByteSaving` fewer weight bytes with the schedule than dense.
        public var scheduleSavesBytes: Bool { savesEnough(scheduleBytesPerToken, against: denseBytesPerToken) }
    }

    /// Measures `graph`'s own default schedule (its blocks' `ffnDensity`/`headDensity`) on `probe`: kept when the
    /// upper bound of its increase over dense is within `maxIncrease` percent and, unless it is dense, a token reads
    /// at least `minimumByteSaving` fewer weight bytes with it; otherwise replaced by what `choose` picks for the
    /// same budget (which keeps a margin; dense when nothing qualifies).
    public static func check(graph: ModelGraph, maxIncrease: Double, probe: PerplexityProbe, threads: Int?,
                             progress: ((String) -> Void)? = nil) throws -> Check {
        var runner = try ProbeRunner(graph: graph, maxIncrease: maxIncrease, probe: probe, threads: threads, progress: progress)
        let ffn = graph.blocks.map { $0.ffnDensity ?? 1 }, heads = graph.blocks.map { $0.headDensity ?? 1 }
        let run = try runner.perplexity(
            ffn: ffn, heads: heads, sparsity: .predicted,
            label: String(format: "default schedule (mean FFN density %.3f, mean head density %.3f)", mean(ffn), mean(heads)))
        var check = Check(maxIncrease: maxIncrease, densePerplexity: runner.densePerplexity, schedulePerplexity: run.value,
                          denseBytesPerToken: runner.denseBytes, scheduleBytesPerToken: run.bytes,
                          scheduleBound: run.bound, scoredTokens: runner.denseNLL.count, replacement: nil, probes: [])
        let sparse = ffn.contains { $0 < 1 } || heads.contains { $0 < 1 }
        if run.bound > maxIncrease || (sparse && !check.scheduleSavesBytes) { check.replacement = try runner.choose() }
        check.probes = runner.probes
        return check
    }

    /// Picks schedules for `graph` whose probe perplexity is within `maxIncrease` percent of dense.
    public static func choose(graph: ModelGraph, maxIncrease: Double, probe: PerplexityProbe, threads: Int?,
                              progress: ((String) -> Void)? = nil) throws -> Choice {
        var runner = try ProbeRunner(graph: graph, maxIncrease: maxIncrease, probe: probe, threads: threads, progress: progress)
        return try runner.choose()
    }

    private static func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(1, values.count)) }

    /// The probe runs of one `choose` or `check`: the dense run first, then candidates judged against it.
    private struct ProbeRunner {
        let graph: ModelGraph
        let maxIncrease: Double
        let probe: PerplexityProbe
        let pool: ThreadPool
        let progress: ((String) -> Void)?
        var probes: [String] = []
        var denseNLL: [Double] = []
        var densePerplexity = 0.0
        /// Weight bytes a decoded token reads densely (`Model.decodeWeightBytes`).
        var denseBytes = 0.0

        init(graph: ModelGraph, maxIncrease: Double, probe: PerplexityProbe, threads: Int?, progress: ((String) -> Void)?) throws {
            guard maxIncrease >= 0 else {
                throw SieveRuntimeError.invalidOption(name: "maximum perplexity increase", value: "\(maxIncrease)", reason: "must be 0 or more (percent)")
            }
            guard graph.blocks.contains(where: { $0.ffnPredictor?.recall.contains { $0.captured != nil } ?? false }) else {
                throw SieveRuntimeError.unsupportedGraph(reason: "the model has no FFN predictors with captured-mass tables; --max-ppl-increase needs a bundle packed by this version of sieve pack")
            }
            self.graph = graph
            self.maxIncrease = maxIncrease
            self.probe = probe
            self.pool = ThreadPool(threads: threads ?? ThreadPool.defaultThreadCount)
            self.progress = progress
            let ones = [Double](repeating: 1, count: graph.blocks.count)
            let dense = try perplexity(ffn: ones, heads: ones, sparsity: .dense, label: "dense")
            densePerplexity = dense.value
            denseBytes = dense.bytes
        }

        /// A model of the graph running these schedules on the probe.
        private func model(ffn: [Double], heads: [Double], sparsity: SparsityMode) throws -> Model {
            var options = RuntimeOptions(contextLength: probe.context, sparsity: sparsity, sparsePrefill: true)
            options.ffnSchedule = ffn
            options.headSchedule = heads
            return try Model(graph: graph, options: options, pool: pool)
        }

        /// Weight bytes a decoded token reads with these schedules (predicted selection).
        func bytes(ffn: [Double], heads: [Double]) throws -> Double {
            try model(ffn: ffn, heads: heads, sparsity: .predicted).decodeWeightBytes()
        }

        /// Probe perplexity, the increase over dense that a candidate is judged by (the paired per-token
        /// log-likelihood difference plus two standard errors: a lucky probe does not pass), and the weight bytes a
        /// decoded token reads.
        mutating func perplexity(ffn: [Double], heads: [Double], sparsity: SparsityMode, label: String) throws -> (value: Double, bound: Double, bytes: Double) {
            let model = try model(ffn: ffn, heads: heads, sparsity: sparsity)
            let bytes = model.decodeWeightBytes()
            var nll: [Double] = []
            let value = try Perplexity.measure(model: model, tokens: probe.tokens, contextLength: probe.context, bos: probe.bos, scored: { nll.append($0) }).value
            if denseNLL.isEmpty { denseNLL = nll }
            let bound = pairedIncreaseBound(nll, over: denseNLL)
            let denseValue: Double = exp(denseNLL.reduce(0, +) / Double(max(1, denseNLL.count)))
            let increase: Double = 100 * (value / denseValue - 1)
            probes.append(label + String(format: ": probe PPL %.4f (%+.2f%%, bound %+.2f%%), %.2f MB/token", value, increase, bound, bytes / 1e6))
            progress?(probes.last!)
            return (value, bound, bytes)
        }

        /// Records a decision that needed no probe.
        mutating func note(_ line: String) {
            probes.append(line)
            progress?(line)
        }

        /// The sparsest mass targets within budget, FFN first, then heads with the FFN choice fixed.
        mutating func choose() throws -> Choice {
            let ones = [Double](repeating: 1, count: graph.blocks.count)
            var choice = Choice(ffnSchedule: ones, headSchedule: ones, ffnTarget: nil, headTarget: nil,
                                densePerplexity: densePerplexity, perplexity: densePerplexity, probes: [],
                                denseBytesPerToken: denseBytes, bytesPerToken: denseBytes)
            if let best = try bisect(kind: .ffnBlocks, fixed: ones, reference: denseBytes) {
                choice.ffnSchedule = best.schedule; choice.ffnTarget = best.target
                choice.perplexity = best.value; choice.bytesPerToken = best.bytes
            }
            if graph.blocks.contains(where: { $0.headPredictor?.recall.contains { $0.captured != nil } ?? false }),
               let best = try bisect(kind: .heads, fixed: choice.ffnSchedule, reference: choice.bytesPerToken) {
                choice.headSchedule = best.schedule; choice.headTarget = best.target
                choice.perplexity = best.value; choice.bytesPerToken = best.bytes
            }
            choice.probes = probes
            return choice
        }

        /// The sparsest target within budget (bisection over `targets`, assuming monotone perplexity), if a token
        /// reads at least `minimumByteSaving` fewer weight bytes with it than `reference` (the schedules without
        /// `kind`'s sparsity). Sparser targets read no more bytes, so when the sparsest does not save enough, nothing
        /// is probed.
        private mutating func bisect(kind: PredictorTarget, fixed: [Double], reference: Double) throws
            -> (target: Double, schedule: [Double], value: Double, bytes: Double)? {
            let name = kind == .ffnBlocks ? "FFN" : "heads"
            func schedules(_ s: [Double]) -> (ffn: [Double], heads: [Double]) { kind == .ffnBlocks ? (s, fixed) : (fixed, s) }
            let sparsest = schedules(schedule(graph, kind: kind, target: targets[targets.count - 1]))
            let sparsestBytes = try bytes(ffn: sparsest.ffn, heads: sparsest.heads)
            guard DensityTuner.savesEnough(sparsestBytes, against: reference) else {
                note(name + String(format: ": even mass target %.2f reads %.2f MB/token, not %g%% fewer than %.2f without its sparsity: kept dense",
                                   targets[targets.count - 1], sparsestBytes / 1e6, 100 * DensityTuner.minimumByteSaving, reference / 1e6))
                return nil
            }
            // The probe is short and its text is not the user's: a candidate's bound must stay within
            // `probeMargin` of the budget (measured on SmolLM2: +2.8% on a 256-token probe became +7.6% on dev.txt).
            let budget = probeMargin * maxIncrease
            var lo = 0, hi = targets.count - 1
            var best: (target: Double, schedule: [Double], value: Double, bytes: Double)?
            var seen = Set<[Double]>()
            while lo <= hi {
                let mid = (lo + hi) / 2
                let s = schedule(graph, kind: kind, target: targets[mid])
                if seen.contains(s) && best?.schedule == s { lo = mid + 1; continue }
                seen.insert(s)
                let label = name + String(format: " mass target %.2f (mean density %.3f)", targets[mid], mean(s))
                let run = try perplexity(ffn: schedules(s).ffn, heads: schedules(s).heads, sparsity: .predicted, label: label)
                if run.bound <= budget {
                    best = (targets[mid], s, run.value, run.bytes)
                    lo = mid + 1
                } else {
                    hi = mid - 1
                }
            }
            if let best, !DensityTuner.savesEnough(best.bytes, against: reference) {
                note(name + String(format: " mass target %.2f reads %.2f MB/token, not %g%% fewer than %.2f without its sparsity: kept dense",
                                   best.target, best.bytes / 1e6, 100 * DensityTuner.minimumByteSaving, reference / 1e6))
                return nil
            }
            return best
        }
    }
}
