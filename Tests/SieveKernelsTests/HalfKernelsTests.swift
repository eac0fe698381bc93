import CSieveKernels
import Foundation
import SieveCore
import Testing
@testable import SieveKernels

/// The C f16 kernels (`CRowKernels.halfRows`, `TransposedMatMul`'s f16 rows), which convert half of the values with
/// integer instructions against activations scaled by 2^112: every finite half must come out exact, and the sums
/// must be those of the plain conversion, bit for bit.
@Suite struct HalfKernelsTests {
    /// A `[rows, columns]` f16 matrix holding `halves` row-major.
    static func matrix(_ halves: [UInt16], rows: Int, columns: Int) throws -> WeightMatrix {
        let buffer = TensorBuffer(count: 2 * halves.count)
        halves.withUnsafeBytes { buffer.bytes.copyMemory(from: $0) }
        return try WeightMatrix(bytes: UnsafeRawBufferPointer(buffer.bytes), dtype: .f16, rows: rows, columns: columns, name: "w", owner: buffer)
    }

    /// Random f16 weights, with exact zeros, subnormals and the largest finite magnitudes mixed in.
    static func halves(_ count: Int, seed: UInt64) -> [UInt16] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { i in
            switch i % 11 {
            case 3: return 0
            case 5: return UInt16(truncatingIfNeeded: rng.next()) & 0x83FF  // subnormal (or zero), either sign
            case 7: return UInt16(truncatingIfNeeded: rng.next()) & 0x8000 | 0x7BFF  // ±65504
            default: return HalfPrecision.floatToF16(rng.nextSignedUnit())
            }
        }
    }

    static func product(_ w: WeightMatrix, _ x: [Float], kernels: DecodeKernels = .preferred, mixed: Bool = true) -> [Float] {
        let input = MatMulInput(maxTokens: 1, maxColumns: w.columns, threads: 2, kernels: kernels)
        input.mixedHalfConversion = mixed
        let pool = ThreadPool(threads: 2)
        var y = [Float](repeating: .nan, count: w.rows)
        x.withUnsafeBufferPointer { xb in
            input.bind(xb.baseAddress!, tokens: 1, columns: w.columns)
            y.withUnsafeMutableBufferPointer { MatMul.multiply(w, input, into: $0.baseAddress!, pool: pool) }
        }
        return y
    }

    @Test func everyFiniteHalfIsMultipliedExactly() throws {
        // Row r holds the r-th finite half 16 times; a unit activation picks a column converted by `vcvtph2ps`
        // (the first eight of sixteen) or by integer instructions (the second eight).
        let finite = (0..<65536).map(UInt16.init).filter { ($0 >> 10) & 31 != 31 }
        let w = try Self.matrix(finite.flatMap { repeatElement($0, count: 16) }, rows: finite.count, columns: 16)
        for column in [3, 11] {
            for scale: Float in [1, 0x1p-9, 3] {
                var x = [Float](repeating: 0, count: 16)
                x[column] = scale
                let y = Self.product(w, x)
                var wrong = 0
                for (r, h) in finite.enumerated() where y[r] != HalfPrecision.f16ToFloat(h) * scale { wrong += 1 }
                #expect(wrong == 0, "column \(column), activation \(scale): \(wrong) of \(finite.count) halves wrong")
            }
        }
    }

    @Test(arguments: [7, 16, 100, 256])
    func scaledAndPlainActivationsGiveTheSameSums(columns: Int) throws {
        guard CRowKernels.halfAvailable else { return }
        let rows = 37
        let w = try Self.matrix(Self.halves(rows * columns, seed: 5), rows: rows, columns: columns)
        var rng = SplitMix64(seed: 6)
        var x = rng.floats(columns, scale: 3)
        x[columns / 2] = 0x1p-140  // a subnormal activation
        var scaled = x.map { $0 * 0x1p112 }
        var plain = [Float](repeating: .nan, count: rows), fast = plain
        x.withUnsafeBufferPointer { xb in
            scaled.withUnsafeMutableBufferPointer { sb in
                #expect(sieve_half_scale_activations(xb.baseAddress!, columns, sb.baseAddress!) == 1)
                plain.withUnsafeMutableBufferPointer { CRowKernels.halfRows(w.layout, DecodeRows(0..<rows), xb.baseAddress!, nil, $0.baseAddress!) }
                fast.withUnsafeMutableBufferPointer {
                    CRowKernels.halfRows(w.layout, DecodeRows(0..<rows), xb.baseAddress!, UnsafePointer(sb.baseAddress!), $0.baseAddress!)
                }
            }
        }
        #expect(fast == plain)
        // Listed rows (a sparse layer's selection, prefetched by the kernel) give each row's sum unchanged.
        let listed = [36, 0, 5, 6, 7, 20, 33]
        var byList = [Float](repeating: .nan, count: rows)
        x.withUnsafeBufferPointer { xb in
            scaled.withUnsafeBufferPointer { sb in
                listed.withUnsafeBufferPointer { lb in
                    byList.withUnsafeMutableBufferPointer {
                        CRowKernels.halfRows(w.layout, DecodeRows(list: lb.baseAddress!, positions: 0..<listed.count), xb.baseAddress!,
                                             sb.baseAddress!, $0.baseAddress!)
                    }
                }
            }
        }
        for r in 0..<rows { #expect(listed.contains(r) ? byList[r] == fast[r] : byList[r].isNaN, "row \(r)") }
        // Through `MatMul` on the C kernels (whatever `SIEVE_KERNELS` prefers), with and without the integer
        // conversion (`mixedHalfConversion`), and in Swift.
        #expect(Self.product(w, x, kernels: .avx2) == fast)
        #expect(Self.product(w, x, kernels: .avx2, mixed: false) == fast)
        #expect(worstRatio(Self.product(w, x, kernels: .swift), fast, scale: MatMulTests.magnitudes(Fixtures.decoded(w), x, rows: rows,
                           columns: columns, tokens: 1).products, tolerance: 2 * Tolerances.floatSum) <= 1)
        let (products, _) = MatMulTests.magnitudes(Fixtures.decoded(w), x, rows: rows, columns: columns, tokens: 1)
        let reference = MatMulTests.reference(w, x, tokens: 1)
        #expect(worstRatio(fast, reference, scale: products, tolerance: Tolerances.floatSum) <= 1)
    }

    @Test func largeActivationsTakeThePlainConversion() throws {
        // |x| ≥ 2^16 would overflow once scaled by 2^112: the product must still be right.
        let columns = 64, rows = 9
        let w = try Self.matrix(Self.halves(rows * columns, seed: 8).map { $0 & 0xBBFF }, rows: rows, columns: columns)
        var rng = SplitMix64(seed: 9)
        var x = rng.floats(columns)
        x[40] = 70_000
        var unused = [Float](repeating: 0, count: columns)
        #expect(sieve_half_scale_activations(x, columns, &unused) == 0)
        #expect(sieve_half_scale_activations([1, .infinity], 2, &unused) == 0)
        let y = Self.product(w, x)
        let (products, _) = MatMulTests.magnitudes(Fixtures.decoded(w), x, rows: rows, columns: columns, tokens: 1)
        #expect(worstRatio(y, MatMulTests.reference(w, x, tokens: 1), scale: products, tolerance: Tolerances.floatSum) <= 1)
    }

    /// The C down rows against the Swift loop: the same sums in the same order, so equal, for every kind of row
    /// selection, zero activations skipped, column slices of any width, and activations of 2^16 and more.
    @Test(arguments: [100, 256])
    func accumulateEqualsTheSwiftLoop(columns: Int) throws {
        guard TransposedMatMul.halfInC else { return }
        let rows = 64
        let w = try Self.matrix(Self.halves(rows * columns, seed: 10), rows: rows, columns: columns)
        var rng = SplitMix64(seed: 11)
        var x = (0..<rows).map { n in n % 3 == 1 ? 0 : rng.nextSignedUnit() * 4 }
        x[17] = -90_000
        let selections: [(blocks: [Int]?, blockRows: Int)] = [(nil, 1), ([2, 5, 6, 9, 17, 30, 31, 40, 63], 1), ([1, 3], 16), ([7], 4), ([], 1)]
        for (blocks, blockRows) in selections {
            for slice in [0..<columns, 32..<columns, 0..<(columns - 3)] {
                var scratch = [Float](repeating: 0, count: columns)
                func run(halfC: Bool, mixed: Bool = false) -> [Float] {
                    var y = [Float](repeating: .nan, count: columns)
                    func add(_ selection: RowBlocks) {
                        x.withUnsafeBufferPointer { xb in
                            y.withUnsafeMutableBufferPointer { yb in
                                scratch.withUnsafeMutableBufferPointer { sb in
                                    TransposedMatMul.accumulateOne(w.layout, xb.baseAddress!, rows: selection, columns: slice,
                                                                   into: yb.baseAddress!, scratch: sb.baseAddress!, halfC: halfC,
                                                                   mixedHalf: mixed)
                                }
                            }
                        }
                    }
                    if let blocks {
                        blocks.withUnsafeBufferPointer { add(RowBlocks(blocks: $0, blockRows: blockRows, rows: rows)) }
                    } else {
                        add(RowBlocks(blocks: nil, blockRows: blockRows, rows: rows))
                    }
                    return y
                }
                let swift = run(halfC: false)
                for mixed in [false, true] {
                    let c = run(halfC: true, mixed: mixed)
                    #expect(c[slice] == swift[slice], "columns \(slice.filter { c[$0] != swift[$0] }) differ: blocks \(String(describing: blocks)) of \(blockRows), columns \(slice), mixed \(mixed)")
                    #expect(c[..<slice.lowerBound].allSatisfy(\.isNaN) && c[slice.upperBound...].allSatisfy(\.isNaN), "wrote outside \(slice)")
                }
            }
        }
    }

    /// The per-CPU choice of conversion is the faster of two real timings.
    @Test func conversionChoiceIsMeasured() {
        guard CRowKernels.halfAvailable else {
            #expect(!CRowKernels.mixedHalfConversionPays)
            return
        }
        // A 256-value row takes a few nanoseconds from L1 (a busy machine may stretch that, not to microseconds).
        let perRow = KernelBenchmark.halfConversionNanosecondsPerRow()
        #expect(perRow != nil)
        for t in [perRow?.plain ?? 0, perRow?.mixed ?? 0] { #expect(t > 0.5 && t < 10_000, "\(t) ns per row") }
        #expect(MatMulInput(maxTokens: 1, maxColumns: 32, threads: 1).mixedHalfConversion == CRowKernels.mixedHalfConversionPays)
    }

    @Test func cacheSizesParse() {
        #expect(CPUCaches.parseSize("16384K") == 16 << 20)
        #expect(CPUCaches.parseSize("16M") == 16 << 20)
        #expect(CPUCaches.parseSize("524288") == 524_288)
        #expect(CPUCaches.parseSize("1G") == 1 << 30)
        for bad in ["", "K", "-5K", "12Q", "0", "abc"] { #expect(CPUCaches.parseSize(bad) == nil, "\(bad)") }
        if FileManager.default.fileExists(atPath: "/sys/devices/system/cpu/cpu0/cache/index0/size") {
            #expect((CPUCaches.lastLevelBytes ?? 0) >= 1 << 16, "no last-level cache size from sysfs")
        }
    }
}
