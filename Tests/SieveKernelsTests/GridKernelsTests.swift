import CSieveGrids
import SieveCore
import Testing
@testable import SieveKernels

/// The grid i-quant types (iq2_xxs, iq2_xs, iq2_s, iq3_xxs, iq3_s, iq1_s, iq1_m): the Swift decoder (`GridQuant`)
/// against the reference codecs and against blocks built by hand from the format's rules, and what the C kernels
/// promise beyond the products `MatMulTests` checks for every supported type.
@Suite struct GridKernelsTests {
    static let types: [DType] = [.iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .iq1_m]

    /// The decoder's integers times its factor are the reference codecs' values bit for bit (both are exact).
    @Test(arguments: types)
    func decodedRowsEqualTheReferenceExactly(dtype: DType) throws {
        let w = try Fixtures.matrix(dtype, rows: 5, columns: 768, seed: 31)
        var fast = [Float](repeating: .nan, count: 768), reference = fast
        for r in 0..<w.rows {
            fast.withUnsafeMutableBufferPointer { w.decodeRow(r, into: $0.baseAddress!) }
            reference.withUnsafeMutableBufferPointer { w.decodeRowReference(r, into: $0.baseAddress!) }
            #expect(fast == reference, "\(dtype.name) row \(r): \(zip(fast, reference).filter { $0 != $1 }.count) values differ")
        }
    }

    /// A super-block decoded by `GridQuant.decode`, as floats.
    static func decoded(_ dtype: DType, _ block: [UInt8]) -> [Float] {
        var out = [Float](repeating: .nan, count: 256)
        block.withUnsafeBytes { b in
            out.withUnsafeMutableBufferPointer { GridQuant.decodeRow(b.baseAddress!, dtype: dtype, blocks: 1, into: $0.baseAddress!) }
        }
        return out
    }

    /// Byte `j` of grid entry `entry`.
    static func byte(_ entry: UInt64, _ j: Int) -> Float { Float(UInt8(truncatingIfNeeded: entry >> (8 * j))) }

    /// iq2_xxs's sign indices leave out the eighth sign, the parity of the other seven: index 1 negates elements 0 and
    /// 7 of its group, index 3 only 0 and 1; s = 3 scales by d·(2·3 + 1)/8.
    @Test func iq2XXSSignsTakeTheParityOfTheirIndex() {
        var block = [UInt8](repeating: 0, count: 66)
        block[0] = 0x00; block[1] = 0x3C  // d = 1
        block[2] = 5  // group 0: grid entry 5; groups 1…3: entry 0
        let word: UInt32 = 1 | 3 << 7 | 3 << 28
        for k in 0..<4 { block[6 + k] = UInt8(truncatingIfNeeded: word >> (8 * k)) }
        let v = Self.decoded(.iq2_xxs, block)
        let grid = sieve_iq2xxs_grid_entries()!
        for j in 0..<8 {
            let sign0: Float = j == 0 || j == 7 ? -1 : 1, sign1: Float = j < 2 ? -1 : 1
            #expect(v[j] == sign0 * Self.byte(grid[5], j) * 7 / 8, "element \(j)")
            #expect(v[8 + j] == sign1 * Self.byte(grid[0], j) * 7 / 8, "element \(8 + j)")
        }
        // The other sub-blocks: s = 0, no signs.
        #expect(v[32] == Self.byte(grid[0], 0) / 8)
    }

    /// iq1_s: index bits 8…10 of each group from its sub-block's word, s in bits 12…14 and δ = −1/8 when bit 15 is
    /// set: x = d·(2s + 1)·(g + δ).
    @Test func iq1SShiftsEverySubBlockByDelta() {
        var block = [UInt8](repeating: 0, count: 50)
        block[0] = 0x00; block[1] = 0x3C  // d = 1
        block[2] = 7  // group 0's low index byte
        let h: UInt16 = 2 | 5 << 3 | 2 << 12 | 0x8000  // group 0: index 0x207, group 1: index 0x500; s = 2; δ < 0
        block[34] = UInt8(h & 0xFF); block[35] = UInt8(h >> 8)
        let v = Self.decoded(.iq1_s, block)
        let grid = sieve_iq1s_grid_entries()!
        for j in 0..<8 {
            let g0 = Float(Int8(truncatingIfNeeded: grid[0x207] >> (8 * j))), g1 = Float(Int8(truncatingIfNeeded: grid[0x500] >> (8 * j)))
            #expect(v[j] == 5 * (g0 - 0.125), "element \(j)")
            #expect(v[8 + j] == 5 * (g1 - 0.125), "element \(8 + j)")
        }
        let g = Float(Int8(truncatingIfNeeded: grid[0]))
        #expect(v[32] == g + 0.125, "the next sub-block: s = 0, δ > 0")
    }

    /// iq1_m: d is the f16 of the scale words' top nibbles (lowest first), s per 16 elements in bits 3j…3j + 2, and
    /// each group of 8 has its own nibble of index bits and δ's sign.
    @Test func iq1MReadsItsScaleFromTheTopNibbles() {
        var block = [UInt8](repeating: 0, count: 56)
        // d = 0.5 (0x3800): nibbles 0, 0, 8, 3.
        let words: [UInt16] = [1 | 2 << 3, 0, 0x8000, 0x3000]  // s = 1 for elements 0…15, 2 for 16…31
        for k in 0..<4 { block[48 + 2 * k] = UInt8(words[k] & 0xFF); block[49 + 2 * k] = UInt8(words[k] >> 8) }
        block[32] = 0x3 | 0x8 << 4  // group 0: index bits 3 << 8, δ > 0; group 1: index 0, δ < 0
        let v = Self.decoded(.iq1_m, block)
        let grid = sieve_iq1s_grid_entries()!
        for j in 0..<8 {
            let g0 = Float(Int8(truncatingIfNeeded: grid[0x300] >> (8 * j))), g1 = Float(Int8(truncatingIfNeeded: grid[0] >> (8 * j)))
            #expect(v[j] == 0.5 * 3 * (g0 + 0.125), "element \(j)")
            #expect(v[8 + j] == 0.5 * 3 * (g1 - 0.125), "element \(8 + j)")
            #expect(v[16 + j] == 0.5 * 5 * (g1 + 0.125), "element \(16 + j)")
        }
    }

    /// The VNNI and AVX2 kernels make the same integer sums and float operations: their products are equal bit for bit,
    /// one token and several alike.
    @Test(arguments: types)
    func vnniAndAVX2ProductsAreEqual(dtype: DType) throws {
        let kernels = DecodeKernels.allCases.filter { $0 != .swift && $0.isAvailable }
        guard kernels.count == 2 else { return }
        let w = try Fixtures.matrix(dtype, rows: 4 * 5 + 1, columns: 512, seed: 32)
        for tokens in [1, 11] {
            var rng = SplitMix64(seed: 33)
            let x = rng.floats(tokens * 512, scale: 3)
            #expect(MatMulTests.fast(w, x, tokens: tokens, kernels: .vnni) == MatMulTests.fast(w, x, tokens: tokens, kernels: .avx2),
                    "\(dtype.name) tokens \(tokens)")
        }
    }

    /// Products of many tokens take the multi-token C kernels (8-bit activations) where they run, the f32 path with
    /// `swift`; the 16-row layout is not made for the grid types.
    @Test(arguments: types)
    func prefillUsesTheMultiTokenKernelsAndNoInterleaving(dtype: DType) throws {
        #expect(CRowKernels.multipliesTokens(dtype, .avx2) && !CRowKernels.multipliesTokens(dtype, .swift))
        #expect(CRowKernels.decodesInC(dtype))
        #expect(!WeightMatrix.canInterleave(dtype, rows: 64))
        #expect(try !Fixtures.matrix(dtype, rows: 32, columns: 256, seed: 1).canInterleave)
    }

    /// The benchmark's random matrices are valid: every value finite, scales where each type keeps them.
    @Test(arguments: types)
    func benchmarkMatricesDecodeToFiniteValues(dtype: DType) {
        var rng = SplitMix64(seed: 34)
        let w = KernelBenchmark.randomMatrix(dtype, rows: 4, columns: 512, rng: &rng)
        var row = [Float](repeating: .nan, count: 512)
        for r in 0..<4 {
            row.withUnsafeMutableBufferPointer { w.decodeRowReference(r, into: $0.baseAddress!) }
            #expect(row.allSatisfy { $0.isFinite && abs($0) <= 0.01 * 31 * 62 }, "\(dtype.name) row \(r)")
            #expect(row.contains { $0 != 0 }, "\(dtype.name) row \(r)")
        }
    }
}
