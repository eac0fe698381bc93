import Foundation

/// How a model rescales its rotary position frequencies to reach a longer context than it was first trained for.
///
/// Pair `i` of a head's `d` rotated dimensions turns by `position · θ^(−2i/d)` without scaling; each case divides
/// that frequency by its own divisor. The frequencies themselves are computed once, by `inverseFrequencies`.
public enum RoPEScaling: Sendable, Equatable, Codable {
    /// Every frequency divided by `factor` (Hugging Face `rope_type: "linear"`, llama.cpp `rope.scaling.type =
    /// linear`): position interpolation.
    case linear(factor: Double)
    /// Llama 3.1's rule (Hugging Face `rope_type: "llama3"`): high frequencies kept, low ones divided by the
    /// factor, the band between interpolated.
    case llama3(Llama3RoPEScaling)
    /// One divisor per rotated pair, as a GGUF's `rope_freqs.weight` holds them (llama.cpp's frequency factors,
    /// which its converter computes from the `llama3` parameters).
    case frequencyFactors([Float])
    /// Phi-3's LongRoPE (Hugging Face `rope_type: "longrope"`, formerly `"su"`): one divisor per rotated pair, the
    /// short or the long set by the context, and the cosines and sines multiplied by an attention factor.
    case longRoPE(LongRoPEScaling)
    /// YaRN (Hugging Face `rope_type: "yarn"`, llama.cpp `rope.scaling.type = yarn`): the low frequencies divided by
    /// the factor, the high ones kept, a linear ramp between, and the cosines and sines multiplied by an attention
    /// factor.
    case yarn(YaRNRoPEScaling)

    /// Supported Hugging Face `rope_type` names, for error messages.
    public static let supportedTypeNames = ["default", "linear", "llama3", "longrope", "yarn"]

    /// The scaling a table of `context` positions uses: LongRoPE becomes the divisors of its short or long set (as
    /// llama.cpp chooses by context size); the others are unchanged.
    public func resolved(context: Int) -> RoPEScaling {
        guard case let .longRoPE(p) = self else { return self }
        return .frequencyFactors(p.factors(context: context))
    }

    /// What the cosines and sines of the rotated dimensions are multiplied by: LongRoPE's and YaRN's attention
    /// factor, else 1.
    public var attentionFactor: Double {
        switch self {
        case let .longRoPE(p): return p.attentionFactor
        case let .yarn(p): return p.attentionFactor
        case .linear, .llama3, .frequencyFactors: return 1
        }
    }

    /// The inverse frequencies of the `dimensions / 2` rotated pairs: `base^(−2i/dimensions)` in Float, as
    /// Hugging Face computes `inv_freq`, then divided as `scaling` says (for `llama3`, by `frequencyFactors`).
    public static func inverseFrequencies(base: Float, dimensions: Int, scaling: RoPEScaling?) -> [Float] {
        let plain = (0..<(dimensions / 2)).map { i in 1 / Foundation.pow(base, Float(2 * i) / Float(dimensions)) }
        switch scaling {
        case nil:
            return plain
        case let .linear(factor):
            return plain.map { $0 / Float(factor) }
        case let .longRoPE(p):
            // Without a context, the short factors (what Hugging Face starts with).
            return zip(plain, p.shortFactors).map { $0 / $1 }
        case let .yarn(p):
            return p.inverseFrequencies(base: base, dimensions: dimensions)
        case .frequencyFactors, .llama3:
            // Llama 3.1's rule through the divisors llama.cpp's converter stores: the same frequencies as Hugging
            // Face's `(1 − s)·f/factor + s·f`, within rounding.
            let factors = scaling?.frequencyFactors(base: base, dimensions: dimensions) ?? []
            return zip(plain, factors).map { $0 / $1 }
        }
    }

    /// The per-pair divisors llama.cpp stores as `rope_freqs.weight`, or nil for linear scaling and YaRN (which GGUF
    /// states in metadata) and LongRoPE (two sets, in their own tensors). For `llama3`, computed in Float as `convert_hf_to_gguf.py` computes them (its loop runs
    /// over a float32 tensor), so that a converted file holds the same bytes.
    public func frequencyFactors(base: Float, dimensions: Int) -> [Float]? {
        switch self {
        case .linear, .longRoPE, .yarn: return nil
        case let .frequencyFactors(factors): return factors
        case let .llama3(p):
            let plain = RoPEScaling.inverseFrequencies(base: base, dimensions: dimensions, scaling: nil)
            let context = Float(p.originalContextLength), factor = Float(p.factor)
            let low = Float(p.lowFrequencyFactor), span = Float(p.highFrequencyFactor - p.lowFrequencyFactor)
            let lowWavelength = Double(p.originalContextLength) / p.lowFrequencyFactor
            let highWavelength = Double(p.originalContextLength) / p.highFrequencyFactor
            return plain.map { f in
                let wavelength = Float(2 * Double.pi) / f
                if Double(wavelength) < highWavelength { return 1 }
                if Double(wavelength) > lowWavelength { return factor }
                let smooth = (context / wavelength - low) / span
                return 1 / ((1 - smooth) / factor + smooth)
            }
        }
    }

    /// The `llama3` parameters that give these frequency factors (within 1e-5 relative), or nil when none do.
    ///
    /// The factors of the interpolated band lie on a line in `1 / wavelength`; at least two of them are needed to
    /// find it. The low frequency factor is taken as 1 (any other choice with the same line gives the same factors).
    public static func llama3Parameters(fromFactors factors: [Float], base: Float, dimensions: Int) -> Llama3RoPEScaling? {
        let plain = inverseFrequencies(base: base, dimensions: dimensions, scaling: nil)
        guard factors.count == plain.count, let factor = factors.max(), factor > 1 else { return nil }
        let tolerance: Float = 1e-5
        let band = zip(plain, factors).filter { $0.1 > 1 + tolerance && $0.1 < factor * (1 - tolerance) }
        guard band.count >= 2 else { return nil }
        // smooth = (1/f − 1/F) / (1 − 1/F) = a · (1 / wavelength) + b, with a = L / (high − low), b = −low / (high − low).
        let points = band.map { (x: Double($0.0) / (2 * Double.pi), y: (1 / Double($0.1) - 1 / Double(factor)) / (1 - 1 / Double(factor))) }
        let n = Double(points.count)
        let mx = points.reduce(0) { $0 + $1.x } / n, my = points.reduce(0) { $0 + $1.y } / n
        let sxx = points.reduce(0) { $0 + ($1.x - mx) * ($1.x - mx) }
        guard sxx > 0 else { return nil }
        let a = points.reduce(0) { $0 + ($1.x - mx) * ($1.y - my) } / sxx
        let b = my - a * mx
        guard a > 0, b < 0 else { return nil }
        let high = 1 - 1 / b
        let context = (-a / b).rounded()
        guard context >= 1, context <= Double(1 << 30) else { return nil }
        let candidate = Llama3RoPEScaling(factor: Double(factor), lowFrequencyFactor: 1,
                                          highFrequencyFactor: (high * 1e6).rounded() / 1e6, originalContextLength: Int(context))
        guard let recomputed = RoPEScaling.llama3(candidate).frequencyFactors(base: base, dimensions: dimensions),
              zip(recomputed, factors).allSatisfy({ abs($0 - $1) <= tolerance * $1 }) else { return nil }
        return candidate
    }

    /// One line for reports: `linear, factor 4`, `llama3, factor 8, low 1, high 4, original context 8192`,
    /// `32 frequency factors, 1 to 8`.
    public var summary: String {
        func number(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x) }
        switch self {
        case let .linear(factor):
            return "linear, factor \(number(factor))"
        case let .llama3(p):
            return "llama3, factor \(number(p.factor)), low \(number(p.lowFrequencyFactor)), high \(number(p.highFrequencyFactor)), original context \(p.originalContextLength)"
        case let .frequencyFactors(factors):
            return "\(factors.count) frequency factors, \(number(Double(factors.min() ?? 0))) to \(number(Double(factors.max() ?? 0)))"
        case let .longRoPE(p):
            return "longrope, \(p.shortFactors.count) short and long factors, original context \(p.originalContextLength), attention factor \(p.attentionFactor)"
        case let .yarn(p):
            return "yarn, factor \(number(p.factor)), original context \(p.originalContextLength), beta \(number(p.betaFast))/\(number(p.betaSlow)), attention factor \(p.attentionFactor)\(p.truncatesCorrectionRange ? "" : ", untruncated")"
        }
    }

    /// Checks the parameters against a head's rotated dimensions; the reason when they are not usable.
    public func problem(dimensions: Int) -> String? {
        func usable(_ x: Double) -> Bool { x.isFinite && x > 0 }
        switch self {
        case let .linear(factor):
            return usable(factor) ? nil : "linear factor \(factor) must be a positive number"
        case let .llama3(p):
            guard usable(p.factor), usable(p.lowFrequencyFactor), usable(p.highFrequencyFactor) else {
                return "llama3 factors \(p.factor), \(p.lowFrequencyFactor), \(p.highFrequencyFactor) must be positive numbers"
            }
            guard p.highFrequencyFactor > p.lowFrequencyFactor else {
                return "llama3 high_freq_factor \(p.highFrequencyFactor) must exceed low_freq_factor \(p.lowFrequencyFactor)"
            }
            return p.originalContextLength > 0 ? nil : "llama3 original_max_position_embeddings \(p.originalContextLength) must be positive"
        case let .frequencyFactors(factors):
            guard factors.count == dimensions / 2 else {
                return "\(factors.count) frequency factors for \(dimensions / 2) rotated pairs"
            }
            return factors.allSatisfy({ $0.isFinite && $0 > 0 }) ? nil : "frequency factors must be positive numbers"
        case let .longRoPE(p):
            guard p.shortFactors.count == dimensions / 2, p.longFactors.count == dimensions / 2 else {
                return "longrope has \(p.shortFactors.count) short and \(p.longFactors.count) long factors for \(dimensions / 2) rotated pairs"
            }
            guard (p.shortFactors + p.longFactors).allSatisfy({ $0.isFinite && $0 > 0 }) else { return "longrope factors must be positive numbers" }
            guard usable(p.attentionFactor) else { return "longrope attention factor \(p.attentionFactor) must be a positive number" }
            return p.originalContextLength > 0 ? nil : "longrope original_max_position_embeddings \(p.originalContextLength) must be positive"
        case let .yarn(p):
            guard usable(p.factor), usable(p.betaFast), usable(p.betaSlow), usable(p.attentionFactor) else {
                return "yarn factor \(p.factor), beta_fast \(p.betaFast), beta_slow \(p.betaSlow) and attention factor \(p.attentionFactor) must be positive numbers"
            }
            return p.originalContextLength > 0 ? nil : "yarn original_max_position_embeddings \(p.originalContextLength) must be positive"
        }
    }
}

/// The parameters of Llama 3.1's RoPE scaling (Hugging Face `rope_scaling` with `rope_type: "llama3"`).
public struct Llama3RoPEScaling: Sendable, Equatable, Codable {
    /// Divisor of the low frequencies (`factor`).
    public var factor: Double
    /// `low_freq_factor`: wavelengths above `originalContextLength / lowFrequencyFactor` are divided by `factor`.
    public var lowFrequencyFactor: Double
    /// `high_freq_factor`: wavelengths below `originalContextLength / highFrequencyFactor` are kept.
    public var highFrequencyFactor: Double
    /// `original_max_position_embeddings`: the context of the first training.
    public var originalContextLength: Int

    /// The given parameters.
    public init(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContextLength: Int) {
        self.factor = factor
        self.lowFrequencyFactor = lowFrequencyFactor
        self.highFrequencyFactor = highFrequencyFactor
        self.originalContextLength = originalContextLength
    }
}

/// The parameters of Phi-3's LongRoPE (Hugging Face `rope_scaling` with `rope_type: "longrope"`; llama.cpp's
/// `rope_factors_short`/`rope_factors_long` tensors and `rope.scaling.attn_factor`).
public struct LongRoPEScaling: Sendable, Equatable, Codable {
    /// Divisors of the rotated pairs' frequencies within the original context (`short_factor`).
    public var shortFactors: [Float]
    /// Divisors beyond it (`long_factor`).
    public var longFactors: [Float]
    /// `original_max_position_embeddings`: contexts longer than this use the long factors.
    public var originalContextLength: Int
    /// Multiplier of the rotated dimensions' cosines and sines (so the scores of those dimensions grow by its square).
    public var attentionFactor: Double

    /// The given parameters.
    public init(shortFactors: [Float], longFactors: [Float], originalContextLength: Int, attentionFactor: Double) {
        self.shortFactors = shortFactors
        self.longFactors = longFactors
        self.originalContextLength = originalContextLength
        self.attentionFactor = attentionFactor
    }

    /// The attention factor transformers and llama.cpp's converter derive when none is given:
    /// √(1 + ln(scale) / ln(original)) for a scale (context / original context) above 1, else 1.
    public static func defaultAttentionFactor(scale: Double, originalContext: Int) -> Double {
        guard scale > 1, originalContext > 1 else { return 1 }
        return (1 + Foundation.log(scale) / Foundation.log(Double(originalContext))).squareRoot()
    }

    /// The divisors a context of `context` positions uses: the long ones when it exceeds the original context.
    public func factors(context: Int) -> [Float] {
        context > originalContextLength ? longFactors : shortFactors
    }
}

/// The parameters of YaRN (Hugging Face `rope_scaling` with `rope_type: "yarn"`; llama.cpp's `rope.scaling.type`
/// yarn with `rope.scaling.factor` and `rope.scaling.original_context_length`).
///
/// A rotated pair whose wavelength fits `betaFast` times into the original context keeps its frequency, one that fits
/// fewer than `betaSlow` times is divided by `factor`, and the pairs between are blended along a linear ramp.
public struct YaRNRoPEScaling: Sendable, Equatable, Codable {
    /// Divisor of the low frequencies (`factor`).
    public var factor: Double
    /// `original_max_position_embeddings`: the context of the first training.
    public var originalContextLength: Int
    /// `beta_fast`: rotations over the original context from which a pair keeps its frequency (32 by default).
    public var betaFast: Double
    /// `beta_slow`: rotations below which a pair is divided by the factor (1 by default).
    public var betaSlow: Double
    /// Multiplier of the rotated dimensions' cosines and sines (`attention_factor`; by default 0.1·ln(factor) + 1).
    public var attentionFactor: Double
    /// `truncate`: whether the ramp's ends are rounded outwards to whole pairs (as llama.cpp always does).
    public var truncatesCorrectionRange: Bool

    /// The given parameters; the attention factor defaults to `defaultAttentionFactor(factor:)`.
    public init(factor: Double, originalContextLength: Int, betaFast: Double = 32, betaSlow: Double = 1,
                attentionFactor: Double? = nil, truncatesCorrectionRange: Bool = true) {
        self.factor = factor
        self.originalContextLength = originalContextLength
        self.betaFast = betaFast
        self.betaSlow = betaSlow
        self.attentionFactor = attentionFactor ?? Self.defaultAttentionFactor(factor: factor)
        self.truncatesCorrectionRange = truncatesCorrectionRange
    }

    /// YaRN's attention factor for a scaling factor: 0.1·mscale·ln(factor) + 1 above 1, else 1 (transformers' and
    /// llama.cpp's `get_mscale`; mscale 1 unless DeepSeek's `mscale` pair says otherwise).
    public static func defaultAttentionFactor(factor: Double, mscale: Double = 1) -> Double {
        factor <= 1 ? 1 : 0.1 * mscale * Foundation.log(factor) + 1
    }

    /// The pairs where the ramp starts and ends: the pair index at which a wavelength fits `betaFast` and `betaSlow`
    /// times into the original context, rounded outwards when truncating, clamped to the rotated pairs.
    public func correctionRange(base: Double, dimensions: Int) -> (low: Double, high: Double) {
        func pair(rotations: Double) -> Double {
            Double(dimensions) * Foundation.log(Double(originalContextLength) / (rotations * 2 * Double.pi)) / (2 * Foundation.log(base))
        }
        var (low, high) = (pair(rotations: betaFast), pair(rotations: betaSlow))
        if truncatesCorrectionRange { (low, high) = (low.rounded(.down), high.rounded(.up)) }
        return (max(low, 0), min(high, Double(dimensions - 1)))
    }

    /// The inverse frequencies of the `dimensions / 2` rotated pairs, in Float as transformers computes them: each
    /// pair's interpolated (divided by the factor) and extrapolated (kept) frequencies blended by the ramp.
    public func inverseFrequencies(base: Float, dimensions: Int) -> [Float] {
        let (low, high) = correctionRange(base: Double(base), dimensions: dimensions)
        let span = Float(high == low ? high + 0.001 - low : high - low)
        return (0..<(dimensions / 2)).map { i in
            let wavelengthScale = Foundation.pow(base, Float(2 * i) / Float(dimensions))
            let extrapolated = 1 / wavelengthScale, interpolated = 1 / (Float(factor) * wavelengthScale)
            let kept = 1 - min(max((Float(i) - Float(low)) / span, 0), 1)
            return interpolated * (1 - kept) + extrapolated * kept
        }
    }
}
