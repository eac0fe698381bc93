import Foundation

/// Where decoded tokens' time went, by step of the forward pass, summed over the tokens decoded while
/// `Model.profilesDecode` was on (one-token evaluations only; prompts are not counted).
///
/// Each step is wall time on the calling thread, which takes part in and waits for every parallel region, so the
/// steps of a token add up to its forward pass; sampling and detokenising come after and are not included. Each
/// measurement reads the clock twice: about 14 reads of some 20 ns per block.
public struct DecodeProfile: Sendable, Equatable {
    /// A step of a decoded token's forward pass.
    public enum Step: String, CaseIterable, Sendable {
        /// Token (and position) embedding rows.
        case embedding
        /// Layer norms and residual additions.
        case norms = "norms and residual adds"
        /// The lookahead predictors' products in a region of their own (`lookaheadOverlap` off).
        case predictors
        /// The Q/K/V products (with the predictors' first products, when overlapped), biases, rotary embedding and
        /// the cache writes.
        case qkv = "q/k/v projections"
        /// Scaled dot-product attention over the cache (the selected heads of sparse layers).
        case attention
        /// The output projection (with the FFN predictor's scores and selection beside it, when overlapped).
        case outputProjection = "output projection"
        /// The feed-forward layer: predictor scores and selection when not done earlier, gate/up, activation, down.
        case feedForward = "feed-forward"
        /// The final norm and the LM head.
        case lmHead = "lm head"

        /// Position in `allCases` (a switch: `allCases` builds an array on each use).
        var index: Int {
            switch self {
            case .embedding: 0
            case .norms: 1
            case .predictors: 2
            case .qkv: 3
            case .attention: 4
            case .outputProjection: 5
            case .feedForward: 6
            case .lmHead: 7
            }
        }
    }

    /// Tokens profiled.
    public internal(set) var tokens = 0
    /// Nanoseconds per step (indexed by `Step.allCases` order), summed over the tokens.
    public internal(set) var nanoseconds = [UInt64](repeating: 0, count: Step.allCases.count)

    /// A profile of no tokens.
    public init() {}

    /// Mean microseconds per token of `step`.
    public func microsecondsPerToken(_ step: Step) -> Double {
        tokens == 0 ? 0 : Double(nanoseconds[step.index]) / 1e3 / Double(tokens)
    }

    /// Mean microseconds per token of all steps.
    public var totalMicrosecondsPerToken: Double { Step.allCases.reduce(0) { $0 + microsecondsPerToken($1) } }

    /// One row per step: µs per token and share of the total.
    public var table: String {
        let total = totalMicrosecondsPerToken
        var lines = ["| step (\(tokens) decoded tokens) | µs/token | share |", "| --- | ---: | ---: |"]
        for step in Step.allCases {
            let us = microsecondsPerToken(step)
            lines.append(String(format: "| %@ | %.2f | %.1f%% |", step.rawValue as NSString, us, total > 0 ? 100 * us / total : 0))
        }
        lines.append(String(format: "| total | %.2f | 100.0%% |", total))
        return lines.joined(separator: "\n")
    }

    mutating func add(_ step: Step, nanoseconds elapsed: UInt64) {
        nanoseconds[step.index] &+= elapsed
    }
}
