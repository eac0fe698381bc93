import Foundation
import SieveCore
import Testing
@testable import SieveKernels

/// `InterleavedQ8Matrix` (the re-laid predictor scores kernel) against the plain reference with the same 8-bit
/// activations, and against the row-by-row decode product it replaces.
@Suite(.enabled(if: InterleavedQ8Matrix.isAvailable, "needs the AVX-512 VNNI or AVX2 decode kernels"))
struct InterleavedQ8MatrixTests {
    /// The integer sums are exact in both; only the order of the float sums differs.
    static let tolerance: Float = 1e-5

    /// The kernels with an interleaved form this CPU runs (AVX2, and VNNI where available).
    static let kernels = [DecodeKernels.vnni, .avx2].filter(\.isAvailable)

    /// The product on the calling thread; the same product shared by a pool's threads must equal it exactly.
    static func interleaved(_ w: WeightMatrix, _ x: [Float], kernels: DecodeKernels) throws -> [Float] {
        let m = try #require(InterleavedQ8Matrix(w, kernels: kernels))
        #expect(m.rows == w.rows && m.columns == w.columns && m.kernels == kernels)
        let pool = ThreadPool(threads: 3)
        let results = [nil, pool].map { pool in
            // One guard element past the end: the last partial group must not store there.
            var y = [Float](repeating: .nan, count: w.rows + 1)
            x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { m.multiply(xb.baseAddress!, into: $0.baseAddress!, pool: pool) } }
            #expect(y[w.rows].isNaN, "wrote past row \(w.rows)")
            return Array(y.prefix(w.rows))
        }
        #expect(results[0] == results[1], "\(kernels): the pool's threads computed other values")
        return results[0]
    }

    /// Row counts of one partial group, whole groups and a partial last group (4 heads, 1024 and 1000 neurons);
    /// one to four blocks per row.
    @Test(arguments: [(4, 64), (16, 32), (1024, 64), (1000, 128), (37, 96)])
    func matchesTheQuantizedActivationReference(rows: Int, columns: Int) throws {
        let w = try Fixtures.matrix(.q8_0, rows: rows, columns: columns, seed: UInt64(rows * 7 + columns))
        var rng = SplitMix64(seed: UInt64(columns))
        let x = rng.floats(columns, scale: 3)
        let reference = MatMulTests.reference(w, x, tokens: 1, quantizedActivations: true)
        let rowByRow = MatMulTests.fast(w, x, tokens: 1)
        let scale = MatMulTests.magnitudes(Fixtures.decoded(w), x, rows: rows, columns: columns, tokens: 1).products
        for kernels in Self.kernels {
            let fast = try Self.interleaved(w, x, kernels: kernels)
            #expect(worstRatio(fast, reference, scale: scale, tolerance: Self.tolerance) <= 1, "\(kernels)")
            #expect(worstRatio(fast, rowByRow, scale: scale, tolerance: Self.tolerance) <= 1, "\(kernels)")
        }
    }

    /// Zero activations give zero scores (the start value takes the offset back exactly), and codes at the extremes
    /// (±127 against activation codes ±127) give the full sums.
    @Test func offsetCorrectionIsExact() throws {
        let columns = 64, rows = 20
        var values = [Float](repeating: 0, count: rows * columns)
        for r in 0..<rows { for c in 0..<columns { values[r * columns + c] = (r + c) % 2 == 0 ? 1 : -1 } }
        let buffer = TensorBuffer(count: DType.q8_0.byteCount(elements: rows * columns)!)
        try values.withUnsafeBufferPointer { try DTypeCodec.encode($0, as: .q8_0, into: buffer.bytes, tensor: "w") }
        let w = try WeightMatrix(bytes: UnsafeRawBufferPointer(buffer.bytes), dtype: .q8_0, rows: rows, columns: columns, owner: buffer)
        for kernels in Self.kernels {
            #expect(try Self.interleaved(w, [Float](repeating: 0, count: columns), kernels: kernels) == [Float](repeating: 0, count: rows))
            let x = (0..<columns).map { c -> Float in c % 2 == 0 ? 2 : -2 }
            let y = try Self.interleaved(w, x, kernels: kernels)
            for r in 0..<rows {
                // Row r's signs agree with x's when r is even: every product is +2, else −2 (up to the f16 scales).
                #expect(abs(y[r] - (r % 2 == 0 ? 128 : -128)) < 0.05, "\(kernels) row \(r): \(y[r])")
            }
        }
    }

    /// Only q8_0 matrices are re-laid, and only for C kernels.
    @Test func otherTypesAreNotInterleaved() throws {
        for dtype in [DType.f16, .q4_0, .q4_1] {
            #expect(InterleavedQ8Matrix(try Fixtures.matrix(dtype, rows: 16, columns: 64, seed: 1)) == nil)
        }
        #expect(InterleavedQ8Matrix(try Fixtures.matrix(.q8_0, rows: 16, columns: 64, seed: 1), kernels: .swift) == nil)
    }

    #if os(Linux)
    /// A matrix mapped from a file gives back the pages its copy read (the copy is what products read), and the
    /// copy's products are still right.
    @Test func mappedSourcePagesAreReleased() throws {
        let source = try Fixtures.matrix(.q8_0, rows: 1024, columns: 64, seed: 3)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-interleaved-\(UUID().uuidString).bin")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(bytes: source.base, count: source.rows * source.rowBytes).write(to: url)
        let file = try MappedFile(url: url)
        let w = try WeightMatrix(bytes: file.bytes, dtype: .q8_0, rows: 1024, columns: 64, owner: file)
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var touched: UInt8 = 0
        for i in stride(from: 0, to: file.count, by: page) { touched &+= file.bytes[i] }
        #expect(try #require(file.residentBytes) >= file.count / page * page, "reading every page maps it (\(touched))")
        let m = try #require(InterleavedQ8Matrix(w, kernels: Self.kernels[0]))
        // Only the last, partial page is not released.
        let resident = try #require(file.residentBytes)
        #expect(resident <= page, "\(resident) of \(file.count) bytes still resident")
        var rng = SplitMix64(seed: 4)
        let x = rng.floats(64, scale: 3)
        var y = [Float](repeating: .nan, count: 1024)
        x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { m.multiply(xb.baseAddress!, into: $0.baseAddress!) } }
        let reference = MatMulTests.reference(source, x, tokens: 1, quantizedActivations: true)
        let scale = MatMulTests.magnitudes(Fixtures.decoded(source), x, rows: 1024, columns: 64, tokens: 1).products
        #expect(worstRatio(y, reference, scale: scale, tolerance: Self.tolerance) <= 1)
    }
    #endif
}
