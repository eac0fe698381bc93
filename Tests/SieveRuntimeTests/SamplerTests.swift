import Foundation
import SieveRuntime
import Testing

/// The sampler on hand-made logits: each filter, determinism by seed, validation.
@Suite("Sampler")
struct SamplerTests {
    /// Logits with known softmax probabilities `p` (log p).
    static func logits(_ probabilities: [Double]) -> [Float] { probabilities.map { Float(log($0)) } }

    func draws(_ parameters: SamplingParameters, _ logits: [Float], count: Int = 4000) throws -> [Int: Int] {
        let sampler = try Sampler(parameters: parameters, vocabularySize: logits.count)
        var histogram: [Int: Int] = [:]
        logits.withUnsafeBufferPointer { row in
            for _ in 0..<count { histogram[sampler.sample(row), default: 0] += 1 }
        }
        return histogram
    }

    @Test("greedy picks the argmax (first on ties)")
    func greedy() throws {
        let sampler = try Sampler(parameters: .greedy, vocabularySize: 5)
        #expect([1, 5, 3, 5, 0].map(Float.init).withUnsafeBufferPointer { sampler.sample($0) } == 1)
    }

    @Test("the same seed gives the same tokens; another seed other tokens")
    func seeded() throws {
        let logits = Self.logits([0.2, 0.2, 0.2, 0.2, 0.2])
        func run(_ seed: UInt64) throws -> [Int] {
            let sampler = try Sampler(parameters: SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: 0, seed: seed), vocabularySize: 5)
            return logits.withUnsafeBufferPointer { row in (0..<32).map { _ in sampler.sample(row) } }
        }
        #expect(try run(7) == run(7))
        #expect(try run(7) != run(8))
    }

    @Test("temperature 1 without filters follows the softmax")
    func distribution() throws {
        let p = [0.5, 0.3, 0.15, 0.05]
        let h = try draws(SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: 0, seed: 1), Self.logits(p), count: 20000)
        for (i, pi) in p.enumerated() {
            #expect(abs(Double(h[i, default: 0]) / 20000 - pi) < 0.015, "token \(i)")
        }
    }

    @Test("top-k keeps the k most likely tokens")
    func topK() throws {
        let h = try draws(SamplingParameters(temperature: 1, topK: 2, topP: 1, minP: 0, seed: 2), Self.logits([0.1, 0.4, 0.2, 0.3]))
        #expect(Set(h.keys) == [1, 3])
    }

    @Test("top-p keeps the smallest head reaching p, without top-k too")
    func topP() throws {
        // Sorted: 0.4 (1), 0.3 (3), 0.2 (2), 0.1 (0): 0.4 + 0.3 ≥ 0.65.
        let h = try draws(SamplingParameters(temperature: 1, topK: 0, topP: 0.65, minP: 0, seed: 3), Self.logits([0.1, 0.4, 0.2, 0.3]))
        #expect(Set(h.keys) == [1, 3])
        // A large vocabulary, where the head is grown past its first guess of 256 candidates.
        var probabilities = [Double](repeating: 1.0 / 2000, count: 2000)
        probabilities[7] = 0.5
        let total = probabilities.reduce(0, +)
        let wide = try draws(SamplingParameters(temperature: 1, topK: 0, topP: 0.9, minP: 0, seed: 4),
                             Self.logits(probabilities.map { $0 / total }), count: 3000)
        #expect(wide.count > 256)
    }

    @Test("min-p drops tokens below p × the best one")
    func minP() throws {
        let h = try draws(SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: 0.6, seed: 5), Self.logits([0.1, 0.4, 0.2, 0.3]))
        #expect(Set(h.keys) == [1, 3])
    }

    @Test("a low temperature sharpens, a high one flattens")
    func temperature() throws {
        let logits = Self.logits([0.6, 0.4])
        let cold = try draws(SamplingParameters(temperature: 0.1, topK: 0, topP: 1, minP: 0, seed: 6), logits)
        let hot = try draws(SamplingParameters(temperature: 10, topK: 0, topP: 1, minP: 0, seed: 6), logits)
        #expect(cold[0, default: 0] > 3900)
        #expect(abs(hot[0, default: 0] - 2000) < 250)
    }

    @Test("the repetition penalty discourages recent tokens")
    func repetitionPenalty() throws {
        let sampler = try Sampler(parameters: SamplingParameters(temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 2,
                                                                 repetitionWindow: 2), vocabularySize: 3)
        let logits: [Float] = [3, 2, -1]
        #expect(logits.withUnsafeBufferPointer { sampler.sample($0) } == 0)
        sampler.accept(0)
        #expect(logits.withUnsafeBufferPointer { sampler.sample($0) } == 1)   // 3 / 2 < 2
        sampler.accept(1)
        sampler.accept(2)   // the window of 2 forgets token 0
        #expect(logits.withUnsafeBufferPointer { sampler.sample($0) } == 0)
    }

    @Test("out-of-range parameters are errors naming the option",
          arguments: [SamplingParameters(temperature: -0.5), SamplingParameters(topK: -1), SamplingParameters(topP: 0),
                      SamplingParameters(topP: 1.5), SamplingParameters(minP: 2), SamplingParameters(repetitionPenalty: 0),
                      SamplingParameters(temperature: .nan)])
    func validation(_ parameters: SamplingParameters) {
        #expect(throws: SieveRuntimeError.self) { try Sampler(parameters: parameters, vocabularySize: 10) }
    }
}
