import Foundation
import Testing
@testable import SieveCore

/// Bit-for-bit equality of two float arrays.
func bitEqual(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}

func dequantized(_ bytes: [UInt8], _ dtype: DType) throws -> [Float] {
    let n = bytes.count / dtype.blockBytes * dtype.blockSize
    var out = [Float](repeating: .nan, count: n)
    try bytes.withUnsafeBytes { raw in
        try out.withUnsafeMutableBufferPointer { try QuantizedCodecs.dequantize(raw, dtype: dtype, into: $0, tensor: "test") }
    }
    return out
}

func quantized(_ values: [Float], _ dtype: DType) throws -> [UInt8] {
    var out = [UInt8](repeating: 0xAA, count: try #require(dtype.byteCount(elements: values.count)))
    try values.withUnsafeBufferPointer { v in
        try out.withUnsafeMutableBytes { try QuantizedCodecs.quantize(v, as: dtype, into: $0, tensor: "test") }
    }
    return out
}

@Suite struct QuantizedCodecsTests {
    /// The types Sieve quantizes to.
    static let quantTypes: [DType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq4_nl, .iq4_xs, .mxfp4]
    /// The grid types, which Sieve decodes only (no round trips).
    static let gridTypes: [DType] = [.iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .iq1_m]

    /// ggml's `static_assert`s on the block structs (ggml-common.h), mirrored.
    @Test func blockSizesMatchGGML() {
        let expected: [DType: (Int, Int)] = [
            .q8_0: (32, 34), .q4_0: (32, 18), .q4_1: (32, 20), .q5_0: (32, 22), .q5_1: (32, 24),
            .q2_K: (256, 84), .q3_K: (256, 110), .q4_K: (256, 144), .q5_K: (256, 176), .q6_K: (256, 210), .q8_K: (256, 292),
            .iq4_nl: (32, 18), .iq4_xs: (256, 136), .mxfp4: (32, 17),
            .iq2_xxs: (256, 66), .iq2_xs: (256, 74), .iq2_s: (256, 82), .iq3_xxs: (256, 98), .iq3_s: (256, 110),
            .iq1_s: (256, 50), .iq1_m: (256, 56),
        ]
        #expect(Set(DType.allCases.filter(\.isQuantized)) == Set(Self.quantTypes + Self.gridTypes))
        #expect(DType.allCases.filter(\.isGridQuantized) == Self.gridTypes)
        for t in Self.quantTypes + Self.gridTypes {
            #expect(t.blockSize == expected[t]!.0 && t.blockBytes == expected[t]!.1, "\(t.name)")
        }
        // Cross-check against the sizes recorded from gguf-py.
        if let json = try? Fixture.json("quant_vectors.json") {
            for (name, entry) in json["types"]?.objectMembers ?? [] {
                let t = DType(name: name)!
                #expect(entry["block_size"]?.intValue == t.blockSize && entry["type_size"]?.intValue == t.blockBytes, "\(name)")
            }
        }
    }

    /// Random blocks dequantize bit-for-bit as gguf-py's `dequantize` does (for the grid types: random grid
    /// indices, sign indices or bytes and scales, so every part of the grids and every sign pattern is reachable).
    @Test(arguments: ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "iq4_nl", "iq4_xs",
                      "iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq1_s", "iq1_m", "mxfp4"])
    func dequantizeMatchesGGUFPy(_ name: String) throws {
        let entry = try #require(try Fixture.json("quant_vectors.json")["types"]?[name])
        let dtype = try #require(DType(name: name))
        let blocks = Fixture.bytes(hex: try #require(entry["random_blocks"]?["bytes"]?.stringValue))
        let expected = Fixture.floats(hex: try #require(entry["random_blocks"]?["values"]?.stringValue))
        let got = try dequantized(blocks, dtype)
        #expect(got.count == expected.count)
        let mismatches = zip(got, expected).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
        #expect(mismatches.isEmpty, "\(name): \(mismatches.count) values differ, first \(mismatches.prefix(3).map { "#\($0.offset) \($0.element)" })")
    }

    /// The reference quantizers produce the same bytes as gguf-py's (which mirrors ggml's `quantize_row_*_ref`).
    @Test(arguments: ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "mxfp4"])
    func quantizeMatchesGGUFPy(_ name: String) throws {
        let entry = try #require(try Fixture.json("quant_vectors.json")["types"]?[name]?["quantized"])
        let dtype = try #require(DType(name: name))
        let inputs = Fixture.floats(hex: try #require(entry["inputs"]?.stringValue))
        let expectedBytes = Fixture.bytes(hex: try #require(entry["bytes"]?.stringValue))
        let expectedValues = Fixture.floats(hex: try #require(entry["values"]?.stringValue))
        let got = try quantized(inputs, dtype)
        let differing = (0..<got.count).filter { got[$0] != expectedBytes[$0] }
        #expect(differing.isEmpty, "\(name): bytes differ at \(differing.prefix(8)) (block \(differing.first.map { $0 / dtype.blockBytes } ?? -1))")
        #expect(bitEqual(try dequantized(got, dtype), expectedValues))
    }

    /// Round-to-nearest error bounds per block: the distance from each value to its dequantized value is at most
    /// half a quantization step (a whole step where ggml clamps the extreme code), plus the fp16 rounding of scales.
    @Test(arguments: [DType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1])
    func roundTripErrorBounds(_ dtype: DType) throws {
        var rng = SplitMix64(seed: 7)
        let n = 32 * 64
        let x = (0..<n).map { i in Float(rng.normal()) * (i < n / 2 ? 0.02 : 3) }
        let y = try dequantized(try quantized(x, dtype), dtype)
        for b in 0..<(n / 32) {
            let block = Array(x[(32 * b)..<(32 * b + 32)])
            let amax = block.map(abs).max()!, lo = block.min()!, hi = block.max()!
            let fp16Slack = Float(1.0 / 1024)
            let bound: Float
            switch dtype {
            case .q8_0: bound = amax / 127 * 0.5 + amax * fp16Slack
            case .q4_0: bound = amax / 8 * 1.0 + amax * fp16Slack
            case .q5_0: bound = amax / 16 * 1.0 + amax * fp16Slack
            case .q4_1: bound = (hi - lo) / 15 * 0.5 + (abs(lo) + hi - lo) * fp16Slack
            default: bound = (hi - lo) / 31 * 0.5 + (abs(lo) + hi - lo) * fp16Slack
            }
            for i in 0..<32 {
                let err = abs(y[32 * b + i] - block[i])
                #expect(err <= bound, "\(dtype.name) block \(b) element \(i): error \(err) > \(bound)")
            }
        }
    }

    /// K-quants (and q8_0, q4_0 and the iq4 types for scale): relative RMS error of a Gaussian row stays within what each bit width allows.
    @Test(arguments: [(DType.q2_K, Float(0.45)), (.q3_K, 0.25), (.q4_K, Float(0.12)), (.q5_K, 0.06), (.q6_K, 0.03), (.q8_K, 0.01), (.q8_0, 0.006), (.q4_0, 0.15),
                      (.iq4_nl, 0.1), (.iq4_xs, 0.1), (.mxfp4, 0.2)])
    func kQuantRelativeRMSError(_ dtype: DType, _ limit: Float) throws {
        var rng = SplitMix64(seed: 11)
        let n = 256 * 32
        let x = (0..<n).map { _ in Float(rng.normal()) * 0.05 }
        let y = try dequantized(try quantized(x, dtype), dtype)
        var se: Float = 0, ss: Float = 0
        for i in 0..<n { se += (x[i] - y[i]) * (x[i] - y[i]); ss += x[i] * x[i] }
        let rel = (se / ss).squareRoot()
        #expect(rel < limit, "\(dtype.name): relative rms error \(rel)")
    }

    @Test(arguments: QuantizedCodecsTests.quantTypes)
    func zeroAndConstantBlocks(_ dtype: DType) throws {
        let zeros = [Float](repeating: 0, count: dtype.blockSize)
        #expect(try dequantized(try quantized(zeros, dtype), dtype) == zeros)
        let constant = [Float](repeating: -0.75, count: dtype.blockSize)
        let back = try dequantized(try quantized(constant, dtype), dtype)
        #expect(back.allSatisfy { abs($0 + 0.75) < 0.01 }, "\(dtype.name): \(back.prefix(4))")
    }

    /// A hand-built q8_K block (float scale, no fp16) and a q4_0 block with known codes.
    @Test func handBuiltBlocks() throws {
        var q8k = [UInt8](repeating: 0, count: 292)
        withUnsafeBytes(of: Float(0.5).bitPattern.littleEndian) { for i in 0..<4 { q8k[i] = $0[i] } }
        for j in 0..<256 { q8k[4 + j] = UInt8(bitPattern: Int8(j - 128)) }
        #expect(try dequantized(q8k, .q8_K) == (0..<256).map { Float($0 - 128) * 0.5 })

        var q40 = [UInt8](repeating: 0, count: 18)
        q40[0] = 0x00; q40[1] = 0x40 // fp16 2.0
        for j in 0..<16 { q40[2 + j] = UInt8(j) | UInt8(15 - j) << 4 }
        let q40Low: [Float] = (0..<16).map { j in Float(j - 8) * 2 }
        let q40High: [Float] = (0..<16).map { j in Float(7 - j) * 2 }
        #expect(try dequantized(q40, .q4_0) == q40Low + q40High)

        // MXFP4: the E8M0 byte 130 scales the doubled E2M1 book by 2^2; bytes 0 and 1 give ggml's subnormal scales
        // 2^-128 and 2^-127.
        let book: [Float] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]
        var mx = [UInt8](repeating: 0, count: 3 * 17)
        mx[0] = 130
        for j in 0..<16 { mx[1 + j] = UInt8(j) | UInt8(15 - j) << 4 }
        mx[17] = 0; mx[18] = 0x07
        mx[34] = 1; mx[35] = 0x0F
        let values = try dequantized(mx, .mxfp4)
        let low: [Float] = (0..<16).map { book[$0] * 4 }, high: [Float] = (0..<16).map { book[15 - $0] * 4 }
        #expect(Array(values[0..<32]) == low + high)
        #expect(values[32] == 12 * Float(sign: .plus, exponent: -128, significand: 1) && values[64] == -12 * Float(sign: .plus, exponent: -127, significand: 1))
        #expect(values[33..<64].allSatisfy { $0 == 0 } && values[65..<96].allSatisfy { $0 == 0 })
    }

    @Test func q8_KBlockSums() throws {
        var rng = SplitMix64(seed: 3)
        let x = (0..<256).map { _ in Float(rng.normal()) }
        let b = try quantized(x, .q8_K)
        for g in 0..<16 {
            let sum = (0..<16).reduce(0) { $0 + Int(Int8(bitPattern: b[4 + 16 * g + $1])) }
            let stored = Int(Int16(bitPattern: UInt16(b[260 + 2 * g]) | UInt16(b[261 + 2 * g]) << 8))
            #expect(sum == stored)
        }
    }

    @Test func rejectsBadInput() throws {
        var out = [UInt8](repeating: 0, count: 34)
        let nan = [Float](repeating: .nan, count: 32)
        #expect(throws: SieveCoreError.self) {
            try nan.withUnsafeBufferPointer { v in try out.withUnsafeMutableBytes { try QuantizedCodecs.quantize(v, as: .q8_0, into: $0, tensor: "w") } }
        }
        let short = [Float](repeating: 1, count: 31)
        #expect(throws: SieveCoreError.self) {
            try short.withUnsafeBufferPointer { v in try out.withUnsafeMutableBytes { try QuantizedCodecs.quantize(v, as: .q8_0, into: $0, tensor: "w") } }
        }
        var floats = [Float](repeating: 0, count: 32)
        let tooFew = [UInt8](repeating: 0, count: 33)
        #expect(throws: SieveCoreError.self) {
            try tooFew.withUnsafeBytes { raw in try floats.withUnsafeMutableBufferPointer { try QuantizedCodecs.dequantize(raw, dtype: .q8_0, into: $0, tensor: "w") } }
        }
        // Through the tensor API: converting to a quantized type and back.
        let t = Tensor(name: "w", shape: [2, 64], floats: (0..<128).map { Float($0) / 64 - 1 })
        let q = try t.converted(to: .q8_0)
        #expect(q.byteCount == 4 * 34)
        let back = try q.floats()
        #expect(zip(back, try t.floats()).allSatisfy { abs($0 - $1) < 0.01 })
    }
}
