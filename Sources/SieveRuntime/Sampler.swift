import Foundation
import SieveKernels

/// How the next token is chosen from the logits.
///
/// The filters apply in llama.cpp's order: repetition penalty, top-k, top-p, min-p, then temperature and a
/// draw. A temperature of 0 means greedy (the argmax after the repetition penalty). 0 disables top-k, 1
/// disables top-p, 0 disables min-p.
public struct SamplingParameters: Sendable, Equatable {
    /// Softmax temperature; 0 picks the most likely token.
    public var temperature: Float
    /// Keep only the `topK` most likely tokens (0: all).
    public var topK: Int
    /// Keep the smallest set of most likely tokens whose probability reaches `topP` (1: all).
    public var topP: Float
    /// Drop tokens less likely than `minP` times the most likely one (0: none).
    public var minP: Float
    /// Divide positive logits (multiply negative ones) of recently seen tokens by this (1: off).
    public var repetitionPenalty: Float
    /// How many recent tokens (prompt included) the repetition penalty looks at.
    public var repetitionWindow: Int
    /// Seed of the random generator; nil draws one from the system.
    public var seed: UInt64?

    /// Parameters with the given values; the defaults sample at temperature 0.8, repetition penalty off.
    public init(temperature: Float = 0.8, topK: Int = 40, topP: Float = 0.95, minP: Float = 0.05,
                repetitionPenalty: Float = 1.0, repetitionWindow: Int = 64, seed: UInt64? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.repetitionWindow = repetitionWindow
        self.seed = seed
    }

    /// Always the most likely token.
    public static let greedy = SamplingParameters(temperature: 0, topK: 0, topP: 1, minP: 0)

    /// Whether the choice is deterministic (greedy).
    public var isGreedy: Bool { temperature == 0 }

    /// Checks every value's range.
    public func validate() throws {
        func fail(_ name: String, _ value: CustomStringConvertible, _ reason: String) -> SieveRuntimeError {
            .invalidOption(name: name, value: "\(value)", reason: reason)
        }
        guard temperature.isFinite, temperature >= 0 else { throw fail("temperature", temperature, "must be 0 (greedy) or positive") }
        guard topK >= 0 else { throw fail("top-k", topK, "must be 0 (off) or positive") }
        guard topP.isFinite, topP > 0, topP <= 1 else { throw fail("top-p", topP, "must be in (0, 1]; 1 turns it off") }
        guard minP.isFinite, minP >= 0, minP <= 1 else { throw fail("min-p", minP, "must be in [0, 1]; 0 turns it off") }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else { throw fail("repetition penalty", repetitionPenalty, "must be positive; 1 turns it off") }
        guard repetitionWindow >= 0 else { throw fail("repetition window", repetitionWindow, "must be 0 or positive") }
    }
}

/// A small, fast, seedable random generator (xoshiro256**, seeded through SplitMix64), so that a seed gives
/// the same samples on every platform.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// Creates the generator from a 64-bit seed.
    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
    }

    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// A uniform Double in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }
}

/// Chooses tokens from logits according to `SamplingParameters`. It keeps its work buffers between calls, so
/// sampling allocates nothing per token. Not thread-safe: one per generation.
public final class Sampler {
    /// The settings in use.
    public let parameters: SamplingParameters
    private let vocabularySize: Int
    private var generator: SeededGenerator
    /// Logits after the repetition penalty.
    private var work: [Float]
    /// Candidate token ids, most likely first once sorted.
    private var candidates: [Int32]
    /// Recent tokens, a ring of `repetitionWindow` entries.
    private var recent: [Int32]
    private var recentCount = 0
    private var recentNext = 0
    /// Per-token stamp used to penalise each recent token once.
    private var seenStamp: [UInt32]
    private var stamp: UInt32 = 0

    /// Creates a sampler for a vocabulary of `vocabularySize` tokens; throws when a parameter is out of range.
    public init(parameters: SamplingParameters, vocabularySize: Int) throws {
        try parameters.validate()
        self.parameters = parameters
        self.vocabularySize = vocabularySize
        generator = SeededGenerator(seed: parameters.seed ?? UInt64.random(in: .min ... .max))
        work = [Float](repeating: 0, count: vocabularySize)
        candidates = [Int32](repeating: 0, count: vocabularySize)
        recent = [Int32](repeating: 0, count: max(parameters.repetitionWindow, 1))
        seenStamp = [UInt32](repeating: 0, count: vocabularySize)
    }

    /// Records a token (of the prompt or generated) for the repetition penalty.
    public func accept(_ token: Int) {
        guard parameters.repetitionWindow > 0, token >= 0, token < vocabularySize else { return }
        recent[recentNext] = Int32(token)
        recentNext = (recentNext + 1) % recent.count
        recentCount = min(recentCount + 1, recent.count)
    }

    /// Picks the next token from one row of logits (`vocabularySize` values).
    public func sample(_ logits: UnsafeBufferPointer<Float>) -> Int {
        precondition(logits.count >= vocabularySize, "logits row shorter than the vocabulary")
        let p = parameters
        let n = vocabularySize
        return work.withUnsafeMutableBufferPointer { work -> Int in
            _ = work.initialize(from: UnsafeBufferPointer(rebasing: logits[0..<n]))
            if p.repetitionPenalty != 1 { applyPenalty(work) }
            if p.isGreedy { return Self.argmax(UnsafeBufferPointer(work)) }
            return candidates.withUnsafeMutableBufferPointer { candidates in
                drawFiltered(work, candidates)
            }
        }
    }

    /// The index of the largest value (the first one on ties).
    public static func argmax(_ values: UnsafeBufferPointer<Float>) -> Int {
        guard let base = values.baseAddress, values.count > 0 else { return 0 }
        return Activations.argmax(base, count: values.count)
    }

    private func applyPenalty(_ work: UnsafeMutableBufferPointer<Float>) {
        stamp &+= 1
        if stamp == 0 {
            for i in seenStamp.indices { seenStamp[i] = 0 }
            stamp = 1
        }
        let penalty = parameters.repetitionPenalty
        for j in 0..<recentCount {
            let t = Int(recent[j])
            if seenStamp[t] == stamp { continue }
            seenStamp[t] = stamp
            work[t] = work[t] > 0 ? work[t] / penalty : work[t] * penalty
        }
    }

    /// Applies top-k, top-p and min-p, then draws from the temperature-scaled softmax of what is left.
    private func drawFiltered(_ logits: UnsafeMutableBufferPointer<Float>, _ candidates: UnsafeMutableBufferPointer<Int32>) -> Int {
        let p = parameters
        let n = vocabularySize
        var maxLogit = -Float.infinity
        for i in 0..<n { maxLogit = max(maxLogit, logits[i]) }
        var count = n
        var sorted = false
        let limitedByTopK = p.topK > 0 && p.topK < n
        if limitedByTopK {
            count = Self.selectTop(p.topK, logits, candidates)
            sorted = true
        }
        if p.topP < 1 {
            // Probabilities renormalised over the current candidates (llama.cpp's order: top-k first).
            var total = 0.0
            if sorted {
                for j in 0..<count { total += Double(expf(logits[Int(candidates[j])] - maxLogit)) }
            } else {
                for i in 0..<n { total += Double(expf(logits[i] - maxLogit)) }
            }
            let target = Double(p.topP) * total
            // Without top-k, sort only as many candidates as needed: grow the sorted head until it holds
            // the target mass.
            var head = sorted ? count : min(n, 256)
            while true {
                if !sorted || head < count { count = Self.selectTop(head, logits, candidates); sorted = true }
                var cumulative = 0.0
                var cut = -1
                for j in 0..<count {
                    cumulative += Double(expf(logits[Int(candidates[j])] - maxLogit))
                    if cumulative >= target { cut = j + 1; break }
                }
                if cut > 0 { count = cut; break }
                if limitedByTopK || count == n { break }
                head = min(n, head * 4)
                count = n
                sorted = false
            }
        }
        if !sorted {
            for i in 0..<n { candidates[i] = Int32(i) }
        }
        if p.minP > 0 {
            let threshold = maxLogit + logf(p.minP)
            var kept = 0
            for j in 0..<count where logits[Int(candidates[j])] >= threshold {
                candidates[kept] = candidates[j]
                kept += 1
            }
            count = max(kept, 1)
        }
        // Temperature and the draw.
        let inverseTemperature = 1 / p.temperature
        var total = 0.0
        for j in 0..<count {
            let t = Int(candidates[j])
            let w = expf((logits[t] - maxLogit) * inverseTemperature)
            logits[t] = w
            total += Double(w)
        }
        var u = generator.nextUnit() * total
        for j in 0..<count {
            u -= Double(logits[Int(candidates[j])])
            if u < 0 { return Int(candidates[j]) }
        }
        return Int(candidates[count - 1])
    }

    /// Writes the `k` largest logits' ids into `candidates[0..<k]`, largest first; returns k.
    private static func selectTop(_ k: Int, _ logits: UnsafeMutableBufferPointer<Float>, _ candidates: UnsafeMutableBufferPointer<Int32>) -> Int {
        let n = logits.count
        if k >= n {
            for i in 0..<n { candidates[i] = Int32(i) }
            sortDescending(candidates, count: n, logits)
            return n
        }
        // A min-heap of the best k so far in candidates[0..<k].
        func less(_ a: Int32, _ b: Int32) -> Bool {
            let la = logits[Int(a)], lb = logits[Int(b)]
            return la < lb || (la == lb && a > b)
        }
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < k && less(candidates[l], candidates[m]) { m = l }
                if r < k && less(candidates[r], candidates[m]) { m = r }
                if m == i { return }
                candidates.swapAt(i, m)
                i = m
            }
        }
        for i in 0..<k { candidates[i] = Int32(i) }
        for i in stride(from: k / 2 - 1, through: 0, by: -1) { siftDown(i) }
        for i in k..<n where less(candidates[0], Int32(i)) {
            candidates[0] = Int32(i)
            siftDown(0)
        }
        sortDescending(candidates, count: k, logits)
        return k
    }

    private static func sortDescending(_ candidates: UnsafeMutableBufferPointer<Int32>, count: Int, _ logits: UnsafeMutableBufferPointer<Float>) {
        var head = UnsafeMutableBufferPointer(rebasing: candidates[0..<count])
        head.sort { a, b in
            let la = logits[Int(a)], lb = logits[Int(b)]
            return la > lb || (la == lb && a < b)
        }
    }
}
