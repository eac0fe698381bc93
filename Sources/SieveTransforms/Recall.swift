import SieveCore

/// A predictor's quality at one density, measured on held-out calibration tokens.
public struct RecallEntry: Sendable, Equatable {
    /// Fraction of units kept.
    public var density: Double
    /// Mean over tokens of (mass of the predicted top-k units) / (mass of the oracle's top-k units): the number
    /// recorded in the bundle.
    public var recall: Double
    /// Mean fraction of a token's total mass held by the predicted top-k units (`recall × oracle`, per token).
    public var captured: Double
    /// Mean fraction of a token's total mass held by the oracle's top-k units.
    public var oracle: Double

    /// An entry with the given values.
    public init(density: Double, recall: Double, captured: Double, oracle: Double) {
        self.density = density; self.recall = recall; self.captured = captured; self.oracle = oracle
    }
}

/// Recall of predicted top-k selections against the oracle (the true top-k by activation mass).
public enum RecallMeasurement {
    /// The number of units computed at `density`: `round(density · units)` clamped to `1 … units` (Swift's
    /// `rounded()`, half away from zero). The runtime must use the same rule so measured recall applies.
    public static func unitsKept(density: Double, units: Int) -> Int { TopK.count(density: density, units: units) }

    /// Recall table of `scores` against `masses` (both `[tokens, units]`) at each density, in the order given.
    /// Tokens whose units all have zero mass are skipped.
    public static func measure(scores: FloatMatrix, masses: FloatMatrix, densities: [Double]) -> [RecallEntry] {
        precondition(scores.rows == masses.rows && scores.columns == masses.columns, "scores \(scores.rows)×\(scores.columns) vs masses \(masses.rows)×\(masses.columns)")
        let units = masses.columns
        let predicted = UnsafeMutablePointer<Int>.allocate(capacity: units)
        let oracle = UnsafeMutablePointer<Int>.allocate(capacity: units)
        defer { predicted.deallocate(); oracle.deallocate() }
        return densities.map { density in
            let k = unitsKept(density: density, units: units)
            var recall = 0.0, captured = 0.0, oracleShare = 0.0
            var counted = 0
            for t in 0..<masses.rows {
                let m = UnsafePointer(masses.elements + t * units)
                let s = UnsafePointer(scores.elements + t * units)
                var total: Float = 0
                for u in 0..<units { total += m[u] }
                guard total > 0 else { continue }
                for u in 0..<units { predicted[u] = u; oracle[u] = u }
                TopK.select(s, n: units, k: k, indices: predicted)
                TopK.select(m, n: units, k: k, indices: oracle)
                let best = TopK.sum(m, indices: oracle, k: k)
                let got = TopK.sum(m, indices: predicted, k: k)
                recall += best > 0 ? Double(got / best) : 1
                captured += Double(got / total)
                oracleShare += Double(best / total)
                counted += 1
            }
            let n = Double(max(1, counted))
            return RecallEntry(density: density, recall: recall / n, captured: captured / n, oracle: oracleShare / n)
        }
    }
}

/// Chooses each block's default densities from its recall table.
///
/// A density is acceptable when the predicted top-k units hold at least `massTarget` of a token's activation mass
/// on average (`RecallEntry.captured`: the predictor's recall times the share the oracle's top-k holds, so a block
/// whose activations are not sparse — e.g. the first block of a ReLU model — gets a high density even with a perfect
/// predictor). The smallest acceptable candidate is chosen; the first block must hold the stricter
/// `firstBlockMassTarget` and the last block moves `edgeSteps` candidates denser (Deja Vu keeps both denser); when
/// no candidate is acceptable the block stays dense (nil).
public struct DensitySchedule: Sendable, Equatable {
    /// Candidate densities, in any order.
    public var candidates: [Double]
    /// Mass the predicted units must hold on average.
    public var massTarget: Double
    /// Candidates to move up for the last block.
    public var edgeSteps: Int
    /// Mass the first block's predicted units must hold: its errors reach every later block (docs-opt-relu, neuron
    /// selection, a predictor of the block's input: block 0 at 0.5 instead of 0.75 raised dev.txt perplexity from
    /// +1.9% to +3.7%; a predictor of its FFN input, the pack's default, passes this target at 0.6, +1.27%, and one fitted to the
    /// pre-activations at 0.5, +1.41%).
    public var firstBlockMassTarget: Double

    /// `firstBlockMassTarget` defaults to missing a tenth of the mass the other blocks may miss.
    public init(candidates: [Double], massTarget: Double, edgeSteps: Int = 1, firstBlockMassTarget: Double? = nil) {
        self.candidates = candidates
        self.massTarget = massTarget
        self.edgeSteps = edgeSteps
        self.firstBlockMassTarget = firstBlockMassTarget ?? 1 - (1 - massTarget) / 10
    }

    /// The FFN schedule: candidates 0.05 … 0.75, target 0.88 of the activation mass. 0.88 by measurement on
    /// docs-opt-relu once its predictors were fitted to the pre-activations: at 0.85 block 4 went to 0.05 (mass
    /// 0.869 there) and the schedule cost +2.22% on dev.txt (c256), at 0.88 it stays at 0.1 (mass 0.974; +1.13%).
    public static let ffnDefault = DensitySchedule(candidates: [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75], massTarget: 0.88)

    /// The head schedule for `heads` heads: candidates `k / heads` for `k` from half the heads to all but one,
    /// target 0.95 of the head-norm mass.
    public static func headDefault(heads: Int) -> DensitySchedule {
        let low = max(1, (heads + 1) / 2)
        let candidates = low < heads ? (low..<heads).map { Double($0) / Double(heads) } : []
        return DensitySchedule(candidates: candidates, massTarget: 0.95)
    }

    /// The density for a block from its recall table (which must contain every candidate), or nil for dense.
    public func choose(table: [RecallEntry], block: Int, blockCount: Int) -> Double? {
        let sorted = candidates.sorted()
        let target = block == 0 ? firstBlockMassTarget : massTarget
        guard let index = sorted.firstIndex(where: { d in
            table.first(where: { abs($0.density - d) < 1e-9 }).map { $0.captured >= target } ?? false
        }) else { return nil }
        let chosen = index + (block > 0 && block == blockCount - 1 ? edgeSteps : 0)
        return chosen < sorted.count ? sorted[chosen] : nil
    }
}
