import SieveCore
import Testing
@testable import SieveKernels

/// The benchmark runs and reports sensible units; it never asserts a speed.
@Suite struct BenchmarkTests {
    @Test func benchmarkProducesARowPerMeasurableCase() {
        let kernels = DecodeKernels.allCases.filter(\.isAvailable)
        let rows = KernelBenchmark.run(threads: [1], types: [.q4_1, .q4_K, .f16], shapes: [(rows: 64, columns: 256), (rows: 32, columns: 96)],
                                       prefillTokens: 16, kernels: kernels, repetitions: 1, hotCache: true, verbose: false)
        // q4_K cannot use 96 columns; every other combination gives a decode and a prefill row. q4_1 and q4_K give a
        // decode row per available kernel choice, q4_K a prefill row per choice too (its multi-token C kernels, or its
        // f32 path with `swift`), f16 a decode row per choice where its C kernels run, and with each C kernel choice
        // (VNNI, AVX2) q4_1 (64 and 32 rows) and q4_K (64 rows) a decode and a prefill row in the 16-row layout;
        // q4_1's row-layout prefill, the f32 path, only with `swift`.
        let vnni = kernels.contains(.vnni)
        let grouped = kernels.filter { $0 != .swift }.count
        let halfDecodes = CRowKernels.halfAvailable ? kernels.count : 1
        #expect(rows.count == 2 * (kernels.count + 1) + 2 * kernels.count + 2 * (halfDecodes + 1) + 6 * grouped)
        #expect(rows.filter { $0.kernels == .vnni }.count == (vnni ? (CRowKernels.halfAvailable ? 12 : 10) : 0))
        #expect(rows.filter(\.interleaved).count == 6 * grouped)
        #expect(rows.filter(\.interleaved).allSatisfy { [.q4_1, .q4_K].contains($0.dtype) && $0.kernels != .swift && $0.layout == "16-row" })
        #expect(rows.filter { $0.interleaved && $0.tokens == 16 }.count == 3 * grouped)
        #expect(rows.allSatisfy { $0.microseconds > 0 && $0.gigaflops > 0 && $0.gigabytesPerSecond > 0 })
        let table = KernelBenchmark.table(rows)
        #expect(table.split(separator: "\n").count == rows.count + 2)
        // The calling thread busy-waits its own chunk, so a region never takes less than the work: the overhead is
        // never negative (its size is not asserted).
        let overhead = KernelBenchmark.forkJoinMicroseconds(pool: ThreadPool(threads: 2), workMicroseconds: 1, regions: 50)
        #expect(overhead.isFinite && overhead >= 0)
    }
}
