import Foundation

/// The reference codec of ggml's MXFP4 (the OCP microscaling format gpt-oss's experts ship in):
///
/// | type | elements | bytes | layout |
/// |---|---|---|---|
/// | mxfp4 | 32 | 17 | `u8 e; u8 qs[16]` — nibbles as q4_0 (element j low, j + 16 high); `x = book[q]·2^(e − 128)` |
///
/// The book holds E2M1's values doubled (0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives, times 2), so that the
/// E8M0 scale 2^(e − 127) is halved. The quantizer is ggml's `quantize_row_mxfp4_ref`: `e = ⌊log₂ max|x|⌋ − 2 + 127`,
/// each code the nearest book value (the first on ties).
extension QuantizedCodecs {
    /// MXFP4's code book (ggml's `kvalues_mxfp4`: E2M1 doubled), code order.
    public static let mxfp4Book: [Int8] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]

    /// The factor of a block's book values: 2^(e − 128), E8M0's 2^(e − 127) halved (subnormal for e < 2, as ggml).
    @inline(__always) public static func mxfp4Scale(_ e: UInt8) -> Float {
        Float(sign: .plus, exponent: Int(e) - 128, significand: 1)
    }

    static func dequantizeMXFP4(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = mxfp4Scale(byte(b, 0))
        for j in 0..<16 {
            let q = byte(b, 1 + j)
            y[j] = d * Float(mxfp4Book[Int(q & 0x0F)])
            y[j + 16] = d * Float(mxfp4Book[Int(q >> 4)])
        }
    }

    static func quantizeMXFP4(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        var largest: Float = 0
        for j in 0..<32 where abs(x[j]) > largest { largest = abs(x[j]) }
        let exponent = largest > 0 ? floor(log2(largest)) - 2 + 127 : 0
        let e = UInt8(Swift.max(0, Swift.min(255, exponent)))
        let d = mxfp4Scale(e)
        b.storeBytes(of: e, toByteOffset: 0, as: UInt8.self)
        func nearest(_ v: Float) -> UInt8 {
            var best = 0, error = abs(Float(mxfp4Book[0]) * d - v)
            for i in 1..<16 {
                let e = abs(Float(mxfp4Book[i]) * d - v)
                if e < error { best = i; error = e }
            }
            return UInt8(best)
        }
        for j in 0..<16 {
            b.storeBytes(of: nearest(x[j]) | nearest(x[j + 16]) << 4, toByteOffset: 1 + j, as: UInt8.self)
        }
    }
}
