import SieveCore
import Testing
@testable import SieveKernels

/// `UnitSelection.top` against a plain reference: a full sort by score, lowest index first among equal scores.
@Suite struct UnitSelectionTests {
    /// The reference: indices of the `k` largest scores (ties to the lowest index), ascending.
    static func reference(_ scores: [Float], _ k: Int) -> [Int] {
        Array(scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }.prefix(k)).sorted()
    }

    /// The implementations of the passes over the keys this CPU runs: the Swift reference, and the C AVX2 passes
    /// where available. Every selection below runs with each, and they must agree exactly.
    static let passes: [UnitSelection.Passes] = DecodeKernels.avx2.isAvailable ? [.swift, .avx2] : [.swift]

    /// `top` with every implementation of the passes (which must agree); it must not write past `selected[k − 1]`.
    static func top(_ scores: [Float], _ k: Int) -> [Int] {
        let results = passes.map { passes in
            var work = [Float](repeating: 0, count: scores.count), selected = [Int](repeating: -1, count: scores.count)
            scores.withUnsafeBufferPointer {
                UnitSelection.top(k, of: $0.baseAddress!, count: scores.count, work: &work, into: &selected, passes: passes)
            }
            #expect(selected[k...].allSatisfy { $0 == -1 }, "n \(scores.count) k \(k) \(passes): wrote past k")
            return Array(selected.prefix(k))
        }
        #expect(Set(results).count == 1, "n \(scores.count) k \(k): the implementations of the passes disagree")
        return results[0]
    }

    /// The hinted `top` with every implementation of the passes (which must agree, on the selection and the new
    /// hint); it must not write past `selected[k − 1]`.
    static func hintedTop(_ scores: [Float], _ k: Int, hint: inout UInt32) -> [Int] {
        let start = hint
        let results = passes.map { passes in
            var work = [Float](repeating: 0, count: scores.count), selected = [Int](repeating: -1, count: scores.count)
            var h = start
            scores.withUnsafeBufferPointer {
                UnitSelection.top(k, of: $0.baseAddress!, count: scores.count, work: &work, into: &selected, hint: &h, passes: passes)
            }
            #expect(selected[k...].allSatisfy { $0 == -1 }, "n \(scores.count) k \(k) \(passes): wrote past k")
            return (Array(selected.prefix(k)), h)
        }
        #expect(results.allSatisfy { $0.0 == results[0].0 && $0.1 == results[0].1 },
                "n \(scores.count) k \(k) hint \(start): the implementations of the passes disagree")
        hint = results[0].1
        return results[0].0
    }

    /// Scores of one of several shapes: spread of both signs, Gaussian-like, negative only, a few values with many
    /// ties (±0 and ±infinity among them), all equal, and tiny magnitudes.
    static func scores(_ n: Int, shape: Int, rng: inout SplitMix64) -> [Float] {
        let few: [Float] = [-.infinity, -3, -0.0, 0, 1e-30, 2, .infinity]
        let constant = rng.nextSignedUnit()
        return (0..<n).map { _ in
            switch shape {
            case 0: rng.nextSignedUnit() * 20
            case 1: (rng.nextSignedUnit() + rng.nextSignedUnit() + rng.nextSignedUnit()) * 2
            case 2: -abs(rng.nextSignedUnit()) - 1
            case 3: few[Int(rng.next() % UInt64(few.count))]
            case 4: constant
            default: rng.nextSignedUnit() * 1e-38
            }
        }
    }

    /// With any hint the hinted `top` picks exactly what `top` picks, and leaves the `k`-th largest key in `hint`.
    @Test func hintedSelectionMatchesForEveryHint() {
        var rng = SplitMix64(seed: 23)
        for n in [1, 2, 15, 16, 17, 100, 1024, 1037] {
            for shape in 0..<6 {
                let scores = Self.scores(n, shape: shape, rng: &rng)
                let sortedKeys = scores.map(UnitSelection.orderedKey).sorted(by: >)
                for k in Set([1, 2, n / 20, n / 4, n / 2, n - 1, n, 1 + Int(rng.next() % UInt64(n))]) where k >= 1 && k <= n {
                    let kth = sortedKeys[k - 1]
                    let near = sortedKeys[min(n - 1, k - 1 + Int(rng.next() % 8))]
                    let hints: [UInt32] = [0, .max, UInt32(truncatingIfNeeded: rng.next()), kth, kth &+ 1, kth &- 1, near,
                                           sortedKeys[0], sortedKeys[n - 1], kth &- (1 << 20), kth &+ (1 << 24)]
                    let expected = Self.top(scores, k)
                    for start in hints {
                        var hint = start
                        #expect(Self.hintedTop(scores, k, hint: &hint) == expected, "n \(n) shape \(shape) k \(k) hint \(start)")
                        #expect(hint == kth, "n \(n) shape \(shape) k \(k) hint \(start)")
                    }
                }
            }
        }
    }

    /// Decoding-like use: each call's scores resemble the previous call's, and the hint carries over.
    @Test func hintedSelectionFollowsAStream() {
        var rng = SplitMix64(seed: 31)
        let n = 1024
        for k in [1, 51, 197, 512, 1023] {
            var hint: UInt32 = 0
            for step in 0..<40 {
                let scores = Self.scores(n, shape: step % 10 == 9 ? 0 : 1, rng: &rng)
                #expect(Self.hintedTop(scores, k, hint: &hint) == Self.top(scores, k), "k \(k) step \(step)")
                #expect(hint == scores.map(UnitSelection.orderedKey).sorted(by: >)[k - 1], "k \(k) step \(step)")
            }
        }
    }

    /// Nothing is selected for k = 0, and the hint is kept.
    @Test func hintedSelectionOfNothingKeepsTheHint() {
        var hint: UInt32 = 12345
        #expect(Self.hintedTop([3, 1, 2], 0, hint: &hint) == [])
        #expect(hint == 12345)
    }

    /// Equal scores at the boundary: the lowest indices win, and exactly k come back.
    @Test func selectionBreaksTiesByIndex() {
        let scores: [Float] = [1, 3, 2, 3, 3, 0, 3]
        for (k, expected) in [(1, [1]), (2, [1, 3]), (4, [1, 3, 4, 6]), (5, [1, 2, 3, 4, 6]), (7, Array(0..<7))] {
            #expect(Self.top(scores, k) == expected, "k \(k)")
        }
    }

    /// Random scores of both signs, sizes around the 16-lane vectors and a real FFN width (1024 neurons).
    @Test func selectionKeepsTheLargestScoresInIndexOrder() {
        var rng = SplitMix64(seed: 11)
        for n in [1, 5, 9, 16, 17, 48, 64, 65, 300, 1024, 1037] {
            let scores = (0..<n).map { _ in rng.nextSignedUnit() * 20 }
            for k in Set([1, 2, n / 5, n / 3, n / 2, n - 1, n]) where k >= 1 && k <= n {
                #expect(Self.top(scores, k) == Self.reference(scores, k), "n \(n) k \(k)")
            }
        }
    }

    /// Many equal scores (a few distinct values), extreme magnitudes and infinities.
    @Test func selectionHandlesTiesAndExtremes() {
        var rng = SplitMix64(seed: 5)
        let values: [Float] = [-.infinity, -1e30, -2, -1e-30, 0, 1e-30, 0.5, 3, 1e30, .infinity]
        for n in [10, 33, 512] {
            let scores = (0..<n).map { _ in values[Int(rng.next() % UInt64(values.count))] }
            for k in 1...min(n, 40) {
                #expect(Self.top(scores, k) == Self.reference(scores, k), "n \(n) k \(k)")
            }
        }
    }

    @Test func keysOrderLikeTheFloats() {
        let sorted: [Float] = [-.infinity, -3e38, -1, -.leastNonzeroMagnitude, 0, .leastNonzeroMagnitude, 1, 3e38, .infinity]
        let keys = sorted.map(UnitSelection.orderedKey)
        #expect(keys == keys.sorted())
        #expect(Set(keys).count == keys.count)
    }

    @Test func keptCountsRoundHalfAwayFromZero() {
        #expect(UnitSelection.count(density: 0.5, units: 9) == 5)
        #expect(UnitSelection.count(density: 0.2, units: 48) == 10)
        #expect(UnitSelection.count(density: 0.01, units: 9) == 1)
        #expect(UnitSelection.count(density: 1, units: 48) == 48)
    }
}
