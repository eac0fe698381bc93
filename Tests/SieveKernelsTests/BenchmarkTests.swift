import SieveCore
import Testing
@testable import SieveKernels

/// The benchmark runs and reports sensible units; it never asserts a speed.
@Suite struct BenchmarkTests {
    @Test func benchmarkProducesARowPerMeasurableCase() {
        let kernels = DecodeKernels.allCases.filter(\.isAvailable)
        let rows = KernelBenchmark.run(threads: [1], types: [.q4_1, .q4_K, .f16], shapes: [(rows: 64, columns: 256), (rows: 32, columns: 96)],
                                       prefillTokens: 16, kernels: kernels, repetitions: 1, hotCache: true, verbose: false)
        // q4_K cannot use 96 columns; every other combination gives a decode and a prefill row, and q4_1 a decode
        // row per available kernel choice.
        #expect(rows.count == 2 * (kernels.count + 1) + 2 * (1 + 1 + 1))
        #expect(rows.filter { $0.kernels == .vnni }.count == (kernels.contains(.vnni) ? 2 : 0))
        #expect(rows.allSatisfy { $0.microseconds > 0 && $0.gigaflops > 0 && $0.gigabytesPerSecond > 0 })
        let table = KernelBenchmark.table(rows)
        #expect(table.split(separator: "\n").count == rows.count + 2)
        #expect(KernelBenchmark.forkJoinMicroseconds(pool: ThreadPool(threads: 2), workMicroseconds: 1, regions: 50).isFinite)
    }
}
