/// One token's activations quantized to 8 bits in blocks of 32, for the 32-element weight types, with ggml's
/// rounding (`quantize_row_q8_0` / `quantize_row_q8_1`): codes `round(x · 127/max|x|)`, and the block scale
/// stored as f16 — so `d` here is the f16-rounded `max|x|/127` — and, for q8_1, the sum `f16(d₃₂ · Σq)` computed
/// from the unrounded scale. Laid out as separate arrays so the kernels load them as vectors.
struct Q8Activation {
    /// Codes, one per column.
    var qs: UnsafeMutablePointer<Int8>
    /// Scale of each block, rounded to f16 as ggml stores it: value ≈ `d · q`.
    var d: UnsafeMutablePointer<Float>
    /// q8_1's block sum `f16(max|x|/127 · Σq)` (unrounded scale, rounded product), which ggml multiplies with the
    /// min of q4_1 blocks.
    var s: UnsafeMutablePointer<Float>
    /// `d · Σq` with the f16 scale (exact in f32), for the code offsets of q4_0 and q5_0: ggml subtracts the
    /// offset from the codes before the integer dot product, which equals subtracting `offset · d · Σq`.
    var offsetSum: UnsafeMutablePointer<Float>
    /// Sum of each block's codes (the kernels that offset their weights to unsigned bytes take it back with it).
    var codeSum: UnsafeMutablePointer<Int32>
    /// Number of blocks (columns / 32).
    var blocks: Int

    /// Quantizes `x[0..<32·blocks]` (round to nearest even, codes scaled by `127 / max|x|`).
    func quantize(_ x: UnsafePointer<Float>) {
        for b in 0..<blocks {
            let v0 = x.load16(32 * b), v1 = x.load16(32 * b + 16)
            let amax = horizontalMax(lanewiseMax(absolute(v0), absolute(v1)))
            let scale = amax / 127
            let inverse: Float = amax > 0 ? 127 / amax : 0
            let q0 = roundToInt32(v0 * inverse), q1 = roundToInt32(v1 * inverse)
            let out = UnsafeMutableRawPointer(qs + 32 * b)
            out.storeVector(narrowToInt8(q0))
            out.storeVector(narrowToInt8(q1), at: 16)
            let codes = horizontalSum(q0 &+ q1)
            let sum = Float(codes)
            let rounded = Q8Activation.roundToHalf(scale)
            d[b] = rounded
            s[b] = Q8Activation.roundToHalf(scale * sum)
            offsetSum[b] = rounded * sum
            codeSum[b] = codes
        }
    }

    /// `x` rounded to the nearest f16 (ties to even), as a Float.
    @inline(__always)
    static func roundToHalf(_ x: Float) -> Float { Float(Float16(x)) }
}

/// One token's activations quantized to 8 bits in super-blocks of 256 with sums of each 16 codes, for the
/// K-quant weight types (ggml's q8_K).
struct Q8KActivation {
    /// Codes, one per column.
    var qs: UnsafeMutablePointer<Int8>
    /// Scale of each super-block.
    var d: UnsafeMutablePointer<Float>
    /// Sum of each 16 consecutive codes (16 per super-block).
    var bsums: UnsafeMutablePointer<Int16>
    /// Number of super-blocks (columns / 256).
    var blocks: Int

    /// Quantizes `x[0..<256·blocks]` (round to nearest even, scale `max|x| / 127` per super-block).
    func quantize(_ x: UnsafePointer<Float>) {
        for b in 0..<blocks {
            let xb = x + 256 * b
            var m = SIMD16<Float>()
            for i in 0..<16 { m = lanewiseMax(m, absolute(xb.load16(16 * i))) }
            let amax = horizontalMax(m)
            let inverse: Float = amax > 0 ? 127 / amax : 0
            d[b] = amax / 127
            for i in 0..<16 {
                let q = roundToInt32(xb.load16(16 * i) * inverse)
                UnsafeMutableRawPointer(qs + 256 * b + 16 * i).storeVector(narrowToInt8(q))
                bsums[16 * b + i] = Int16(truncatingIfNeeded: horizontalSum(q))
            }
        }
    }
}
