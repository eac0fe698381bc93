import Foundation
import Testing
@testable import SieveCore

/// The reference decoders of ggml's grid types on hand-built blocks whose values are worked out by hand from the
/// layouts in `GridCodecs.swift` and a few entries of ggml's grids (quoted where used). Every scale is a power of
/// two times a small integer, so the expected values are exact.
@Suite struct GridCodecsTests {
    /// A zeroed block of `dtype` with `edit` applied.
    static func block(_ dtype: DType, _ edit: (inout [UInt8]) -> Void) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: dtype.blockBytes)
        edit(&b)
        return b
    }

    static func put16(_ b: inout [UInt8], _ offset: Int, _ v: UInt16) {
        b[offset] = UInt8(v & 0xFF)
        b[offset + 1] = UInt8(v >> 8)
    }

    static func put32(_ b: inout [UInt8], _ offset: Int, _ v: UInt32) {
        for k in 0..<4 { b[offset + k] = UInt8(truncatingIfNeeded: v >> UInt32(8 * k)) }
    }

    static func putHalf(_ b: inout [UInt8], _ offset: Int, _ v: Float) { put16(&b, offset, HalfPrecision.floatToF16(v)) }

    static func decoded(_ b: [UInt8], _ dtype: DType) throws -> [Float] {
        var out = [Float](repeating: .nan, count: dtype.blockSize)
        try b.withUnsafeBytes { raw in
            try out.withUnsafeMutableBufferPointer { try QuantizedCodecs.dequantize(raw, dtype: dtype, into: $0, tensor: "t") }
        }
        return out
    }

    static func scale(_ b: [UInt8], _ dtype: DType, _ i: Int) -> Int {
        b.withUnsafeBytes { QuantizedCodecs.gridScale($0.baseAddress!, dtype: dtype, i) }
    }

    /// `count` copies of `v`.
    static func repeated(_ v: Float, _ count: Int) -> [Float] { [Float](repeating: v, count: count) }

    @Test func signIndicesCarryTheirParityInBit7() {
        #expect(QuantizedCodecs.gridSigns(0) == 0x00)
        #expect(QuantizedCodecs.gridSigns(1) == 0x81)
        #expect(QuantizedCodecs.gridSigns(3) == 0x03)
        #expect(QuantizedCodecs.gridSigns(0x7E) == 0x7E)
        #expect(QuantizedCodecs.gridSigns(0x7F) == 0xFF)
        // Every sign byte has an even number of negatives, and the 128 are distinct.
        let all = (0..<128).map(QuantizedCodecs.gridSigns)
        #expect(all.allSatisfy { $0.nonzeroBitCount % 2 == 0 } && Set(all).count == 128)
    }

    /// iq2xxs_grid[0] is eight 8s, iq2xxs_grid[1] is {43, 8, 8, 8, 8, 8, 8, 8}.
    @Test func iq2XXS() throws {
        let b = Self.block(.iq2_xxs) { b in
            Self.putHalf(&b, 0, 2)
            b[2 + 1] = 1                              // group 1 of sub-block 0: grid entry 1
            Self.put32(&b, 6, 1 << 7 | 3 << 28)       // group 1's sign index 1 (elements 0 and 7 negative), s = 3
        }
        #expect(Self.scale(b, .iq2_xxs, 0) == 3 && Self.scale(b, .iq2_xxs, 1) == 3 && Self.scale(b, .iq2_xxs, 2) == 0)
        // d·(0.5 + 3)/4 = 1.75; sub-blocks with s = 0: d·0.5/4 = 0.25.
        let expected = Self.repeated(14, 8) + [-75.25] + Self.repeated(14, 6) + [-14] + Self.repeated(14, 16) + Self.repeated(2, 224)
        #expect(try Self.decoded(b, .iq2_xxs) == expected)
    }

    /// iq2xs_grid[2] is {25, 25, 8, …}, iq2xs_grid[300] is {8, 25, 25, 8, 8, 25, 8, 25}.
    @Test func iq2XS() throws {
        let b = Self.block(.iq2_xs) { b in
            Self.putHalf(&b, 0, 1)
            Self.put16(&b, 2, 2)                      // group 0: entry 2, no signs
            Self.put16(&b, 4, 300 | 3 << 9)           // group 1: entry 300, sign index 3 (elements 0, 1)
            b[66] = 0x52                              // s = 2 for elements 0…15, 5 for 16…31
        }
        #expect(Self.scale(b, .iq2_xs, 0) == 2 && Self.scale(b, .iq2_xs, 1) == 5 && Self.scale(b, .iq2_xs, 2) == 0)
        // 2.5/4 = 0.625; 5.5/4 = 1.375; 0.5/4 = 0.125.
        let group0: [Float] = [15.625, 15.625, 5, 5, 5, 5, 5, 5]
        let group1: [Float] = [-5, -15.625, 15.625, 5, 5, 15.625, 5, 15.625]
        #expect(try Self.decoded(b, .iq2_xs) == group0 + group1 + Self.repeated(11, 16) + Self.repeated(1, 224))
    }

    /// iq2s_grid[3] is {8, 43, 8, …}, iq2s_grid[700] is {8, 8, 8, 43, 43, 8, 25, 25}.
    @Test func iq2S() throws {
        let b = Self.block(.iq2_s) { b in
            Self.putHalf(&b, 0, 0.5)
            b[2] = 3                                  // group 0: entry 3
            b[3] = UInt8(700 & 0xFF)                  // group 1: entry 700 = 188 + 2·256 …
            b[66] = 2 << 2                            // … its high bits: bits 2…3 of qh[0]
            b[34] = 0x80                              // group 0: element 7 negative
            b[35] = 0x01                              // group 1: element 0 negative
            b[74] = 0x0F                              // s = 15 for elements 0…15, 0 for 16…31
        }
        #expect(Self.scale(b, .iq2_s, 0) == 15 && Self.scale(b, .iq2_s, 1) == 0)
        // 0.5·15.5/4 = 1.9375; 0.5·0.5/4 = 0.0625.
        let group0: [Float] = [15.5, 83.3125, 15.5, 15.5, 15.5, 15.5, 15.5, -15.5]
        let group1: [Float] = [-15.5, 15.5, 15.5, 83.3125, 83.3125, 15.5, 48.4375, 48.4375]
        #expect(try Self.decoded(b, .iq2_s) == group0 + group1 + Self.repeated(0.5, 240))
    }

    /// iq3xxs_grid[0] is four 4s, [5] is {62, 12, 4, 4}, [9] is {20, 36, 4, 4}.
    @Test func iq3XXS() throws {
        let b = Self.block(.iq3_xxs) { b in
            Self.putHalf(&b, 0, 1)
            b[2] = 5                                  // elements 0…3
            b[3] = 9                                  // elements 4…7
            Self.put32(&b, 66, 5 | 1 << 28)           // group 0: sign index 5 (elements 0, 2), s = 1
        }
        #expect(Self.scale(b, .iq3_xxs, 0) == 1 && Self.scale(b, .iq3_xxs, 1) == 1 && Self.scale(b, .iq3_xxs, 2) == 0)
        // (0.5 + 1)/2 = 0.75; 0.5/2 = 0.25.
        let group0: [Float] = [-46.5, 9, -3, 3, 15, 27, 3, 3]
        #expect(try Self.decoded(b, .iq3_xxs) == group0 + Self.repeated(3, 24) + Self.repeated(1, 224))
    }

    /// iq3s_grid[0] is four 1s, [4] is {15, 1, 1, 1}, [300] is {3, 5, 3, 7}.
    @Test func iq3S() throws {
        let b = Self.block(.iq3_s) { b in
            Self.putHalf(&b, 0, 0.25)
            b[2] = 4                                  // elements 0…3
            b[3] = UInt8(300 & 0xFF)                  // elements 4…7: entry 300 = 44 + 256 …
            b[66] = 0x02                              // … its high bit: bit 1 of qh[0]
            b[74] = 0x10                              // element 4 negative
            b[106] = 0x03                             // s = 3 for elements 0…31, 0 for 32…63
        }
        #expect(Self.scale(b, .iq3_s, 0) == 3 && Self.scale(b, .iq3_s, 1) == 3 && Self.scale(b, .iq3_s, 2) == 0)
        // 0.25·(1 + 6) = 1.75; 0.25·1.
        let group0: [Float] = [26.25, 1.75, 1.75, 1.75, -5.25, 8.75, 5.25, 12.25]
        #expect(try Self.decoded(b, .iq3_s) == group0 + Self.repeated(1.75, 24) + Self.repeated(0.25, 224))
    }

    /// iq1s_grid[0] is eight −1s, [1] is {1, −1, …}, [1500] is {0, −1, −1, 0, −1, 0, −1, 1}.
    @Test func iq1S() throws {
        let b = Self.block(.iq1_s) { b in
            Self.putHalf(&b, 0, 0.5)
            b[2] = UInt8(1500 & 0xFF)                 // group 0: entry 1500 = 220 + 5·256
            b[3] = 1                                  // group 1: entry 1
            Self.put16(&b, 34, 5 | 2 << 12 | 0x8000)  // group 0's high bits 5, s = 2, δ = −0.125
        }
        #expect(Self.scale(b, .iq1_s, 0) == 2 && Self.scale(b, .iq1_s, 1) == 2 && Self.scale(b, .iq1_s, 2) == 0)
        // 0.5·(2·2 + 1) = 2.5 times (g − 0.125); then 0.5·(−1 + 0.125).
        let group0: [Float] = [-0.3125, -2.8125, -2.8125, -0.3125, -2.8125, -0.3125, -2.8125, 2.1875]
        let group1: [Float] = [2.1875] + Self.repeated(-2.8125, 7)
        #expect(try Self.decoded(b, .iq1_s) == group0 + group1 + Self.repeated(-2.8125, 16) + Self.repeated(-0.4375, 224))
    }

    /// iq1_m shares iq1_s's grid; iq1s_grid[2047] is eight 1s.
    @Test func iq1M() throws {
        let b = Self.block(.iq1_m) { b in
            b[0] = UInt8(1500 & 0xFF)                 // group 0: entry 1500 …
            b[1] = 0xFF                               // group 1: entry 2047 …
            b[32] = 0x0D | 0x7 << 4                   // … high bits 5 with δ < 0, and 7 with δ > 0
            Self.put16(&b, 48, 1 | 6 << 3)            // s = 1 for elements 0…15, 6 for 16…31
            // d = 0.5 = f16 0x3800: its nibbles 0, 0, 8, 3 are the top nibbles of the four scale words.
            Self.put16(&b, 52, 0x8000)
            Self.put16(&b, 54, 0x3000)
        }
        #expect(b.withUnsafeBytes { QuantizedCodecs.iq1MBlockScale($0.baseAddress!) } == 0.5)
        #expect(Self.scale(b, .iq1_m, 0) == 1 && Self.scale(b, .iq1_m, 1) == 6 && Self.scale(b, .iq1_m, 2) == 0)
        // 0.5·3 = 1.5 times (g ∓ 0.125); 0.5·13 = 6.5 times (−1 + 0.125); then 0.5·(−0.875).
        let group0: [Float] = [-0.1875, -1.6875, -1.6875, -0.1875, -1.6875, -0.1875, -1.6875, 1.3125]
        let expected = group0 + Self.repeated(1.6875, 8) + Self.repeated(-5.6875, 16) + Self.repeated(-0.4375, 224)
        #expect(try Self.decoded(b, .iq1_m) == expected)
    }

    /// Grid tensors decode through the tensor API and convert to other types; nothing quantizes to a grid type.
    @Test(arguments: [DType.iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .iq1_m])
    func decodeOnly(_ dtype: DType) throws {
        #expect(dtype.isGridQuantized && dtype.isQuantized && dtype.blockSize == 256)
        #expect(!DType.iq4_xs.isGridQuantized && !DType.q2_K.isGridQuantized)
        let block = Self.block(dtype) { b in
            if dtype == .iq1_m { Self.put16(&b, 54, 0x3000) } else { Self.putHalf(&b, 0, 1) }
        }
        let t = try Tensor(name: "w", dtype: dtype, shape: [1, 256], storage: .owned(TensorBuffer(values: block)))
        let values = try t.floats(), reference = try Self.decoded(block, dtype)
        #expect(values == reference && values.allSatisfy { $0 != 0 && $0.isFinite })
        let f16 = try t.converted(to: .f16)
        let f16Values = try f16.floats()
        #expect(f16.dtype == .f16 && f16Values == values)
        #expect(try t.converted(to: .q8_0).dtype == .q8_0)

        let expected = SieveCoreError.gridQuantization(source: "w", dtype: dtype.name)
        #expect(throws: expected) { try Tensor(name: "w", shape: [1, 256], floats: values).converted(to: dtype) }
        var out = [UInt8](repeating: 0, count: dtype.blockBytes)
        #expect(throws: expected) {
            try values.withUnsafeBufferPointer { v in try out.withUnsafeMutableBytes { try QuantizedCodecs.quantize(v, as: dtype, into: $0, tensor: "w") } }
        }
        let message = expected.localizedDescription
        #expect(message.contains("w: ") && message.contains(dtype.name) && message.contains("iq4_xs") && message.contains("q2_K"))
    }
}
