import SieveCore

/// Row conversions between Float and the 16-bit float formats (f16 caches, f16/bf16 weights and embeddings).
/// The vectorized versions are bit-exact with the scalar `HalfPrecision` references.
public enum Convert {
    /// `dst[i] = Float(f16 src[i])`.
    public static func halfToFloat(_ src: UnsafePointer<UInt16>, into dst: UnsafeMutablePointer<Float>, count: Int) {
        let s = UnsafeRawPointer(src)
        var i = 0
        while i + 16 <= count {
            dst.store16(decodeHalf16(s.vector(at: 2 * i)), i)
            i += 16
        }
        while i < count {
            dst[i] = HalfPrecision.f16ToFloat(src[i])
            i += 1
        }
    }

    /// `dst[i] = Float(bf16 src[i])`.
    public static func bfloat16ToFloat(_ src: UnsafePointer<UInt16>, into dst: UnsafeMutablePointer<Float>, count: Int) {
        let s = UnsafeRawPointer(src)
        var i = 0
        while i + 16 <= count {
            dst.store16(decodeBFloat16x16(s.vector(at: 2 * i)), i)
            i += 16
        }
        while i < count {
            dst[i] = HalfPrecision.bf16ToFloat(src[i])
            i += 1
        }
    }

    /// `dst[i] = f16(src[i])`, round to nearest even.
    public static func floatToHalf(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<UInt16>, count: Int) {
        let d = UnsafeMutableRawPointer(dst)
        var i = 0
        while i + 16 <= count {
            d.storeVector(encodeHalf16(src.load16(i)), at: 2 * i)
            i += 16
        }
        while i < count {
            dst[i] = HalfPrecision.floatToF16(src[i])
            i += 1
        }
    }

    /// Scalar reference of `halfToFloat`.
    public static func halfToFloatReference(_ src: UnsafePointer<UInt16>, into dst: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { dst[i] = HalfPrecision.f16ToFloat(src[i]) }
    }

    /// Scalar reference of `bfloat16ToFloat`.
    public static func bfloat16ToFloatReference(_ src: UnsafePointer<UInt16>, into dst: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { dst[i] = HalfPrecision.bf16ToFloat(src[i]) }
    }

    /// Scalar reference of `floatToHalf`.
    public static func floatToHalfReference(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count { dst[i] = HalfPrecision.floatToF16(src[i]) }
    }
}
