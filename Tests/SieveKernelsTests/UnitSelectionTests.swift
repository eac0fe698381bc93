import SieveCore
import Testing
@testable import SieveKernels

/// `UnitSelection.top` against a plain reference: a full sort by score, lowest index first among equal scores.
@Suite struct UnitSelectionTests {
    /// The reference: indices of the `k` largest scores (ties to the lowest index), ascending.
    static func reference(_ scores: [Float], _ k: Int) -> [Int] {
        Array(scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }.prefix(k)).sorted()
    }

    static func top(_ scores: [Float], _ k: Int) -> [Int] {
        var work = [Float](repeating: 0, count: scores.count), selected = [Int](repeating: -1, count: scores.count)
        scores.withUnsafeBufferPointer { UnitSelection.top(k, of: $0.baseAddress!, count: scores.count, work: &work, into: &selected) }
        #expect(selected[k...].allSatisfy { $0 == -1 }, "n \(scores.count) k \(k): wrote past k")
        return Array(selected.prefix(k))
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
