import SieveTransforms
import Testing

@Suite struct ScheduleTests {
    static func table(_ captured: [(Double, Double)]) -> [RecallEntry] {
        captured.map { RecallEntry(density: $0.0, recall: $0.1, captured: $0.1, oracle: 1) }
    }

    /// The smallest candidate whose captured mass reaches the target; the first block held to its stricter target,
    /// the last one step denser; dense when nothing qualifies.
    @Test func picksWhatTheTableImplies() {
        let schedule = DensitySchedule(candidates: [0.1, 0.2, 0.3, 0.5], massTarget: 0.85, edgeSteps: 1)
        #expect(abs(schedule.firstBlockMassTarget - 0.985) < 1e-12)
        let t = Self.table([(0.5, 0.97), (0.3, 0.9), (0.2, 0.84), (0.1, 0.6)])
        #expect(schedule.choose(table: t, block: 2, blockCount: 6) == 0.3)
        #expect(schedule.choose(table: t, block: 0, blockCount: 6) == nil)
        #expect(schedule.choose(table: Self.table([(0.5, 0.99), (0.3, 0.98), (0.2, 0.9), (0.1, 0.6)]), block: 0, blockCount: 6) == 0.5)
        #expect(schedule.choose(table: t, block: 5, blockCount: 6) == 0.5)
        let dense = Self.table([(0.5, 0.8), (0.3, 0.7), (0.2, 0.6), (0.1, 0.5)])
        #expect(schedule.choose(table: dense, block: 2, blockCount: 6) == nil)
        let edgeAtTop = Self.table([(0.5, 0.9), (0.3, 0.8), (0.2, 0.7), (0.1, 0.6)])
        #expect(schedule.choose(table: edgeAtTop, block: 0, blockCount: 6) == nil)
        #expect(schedule.choose(table: edgeAtTop, block: 1, blockCount: 6) == 0.5)
        // A sparse block gets the lowest candidate.
        let sparse = Self.table([(0.5, 1), (0.3, 1), (0.2, 0.99), (0.1, 0.95)])
        #expect(schedule.choose(table: sparse, block: 3, blockCount: 6) == 0.1)
    }

    @Test func headCandidatesKeepAtLeastHalf() {
        #expect(DensitySchedule.headDefault(heads: 4).candidates == [0.5, 0.75])
        #expect(DensitySchedule.headDefault(heads: 9).candidates.count == 4)
        #expect(DensitySchedule.headDefault(heads: 1).candidates.isEmpty)
    }

    /// Recall is the predicted top-k mass over the oracle's top-k mass.
    @Test func recallDefinition() {
        let masses = FloatMatrix(rows: 2, columns: 4, values: [4, 3, 2, 1, 0, 0, 5, 5])
        let scores = FloatMatrix(rows: 2, columns: 4, values: [0, 1, 2, 3, 9, 8, 7, 6])
        let table = RecallMeasurement.measure(scores: scores, masses: masses, densities: [0.5, 1])
        // Token 0: predicted {3, 2} → 3 of oracle 7; token 1: predicted {0, 1} → 0 of 10.
        #expect(abs(table[0].recall - (3.0 / 7.0) / 2) < 1e-6)
        #expect(abs(table[0].oracle - (0.7 + 1) / 2) < 1e-6)
        #expect(abs(table[0].captured - 0.3 / 2) < 1e-6)
        #expect(table[1].recall == 1)
    }
}
