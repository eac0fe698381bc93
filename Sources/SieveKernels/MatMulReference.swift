import SieveCore

extension MatMul {
    /// Plain reference: each row decoded with the scalar codecs, dotted with `x` in Double.
    /// `x` holds `tokens` rows of `w.columns` floats; `y[t·outputStride + r]`.
    public static func multiplyReference(_ w: WeightMatrix, x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>,
                                         outputStride: Int? = nil) {
        let stride = outputStride ?? w.rows
        var row = [Float](repeating: 0, count: w.columns)
        for r in 0..<w.rows {
            row.withUnsafeMutableBufferPointer { w.decodeRowReference(r, into: $0.baseAddress!) }
            for t in 0..<tokens {
                var sum = 0.0
                for c in 0..<w.columns { sum += Double(row[c]) * Double(x[t * w.columns + c]) }
                y[t * stride + r] = Float(sum)
            }
        }
    }

    /// Reference with the activations first rounded the way the decode kernels quantize them, so that it differs
    /// from the fast kernels only by float rounding (`Tolerances.quantizedSameActivations`). For q8_0/q4_0/q4_1/
    /// q5_0/q5_1/iq4_nl/mxfp4 that is ggml's q8_0/q8_1 blocks of 32: codes `round(x · 127/max|x|)` times the f16-rounded scale
    /// `max|x|/127`, and for q4_1 the block min multiplied with q8_1's sum `f16(max|x|/127 · Σq)` instead of the
    /// exact sum of the rounded activations (q5_1 likewise). For the K-quants (q2_K … q6_K), iq4_xs and the grid types
    /// (iq2_xxs, iq2_xs, iq2_s, iq3_xxs, iq3_s, iq1_s, iq1_m), super-blocks of 256 with an f32 scale (q8_K). Float
    /// types are unchanged.
    public static func multiplyReferenceQuantizedActivations(_ w: WeightMatrix, x: UnsafePointer<Float>, tokens: Int,
                                                             into y: UnsafeMutablePointer<Float>, outputStride: Int? = nil) {
        let block: Int
        switch w.dtype {
        case .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .iq4_nl, .mxfp4: block = 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs: block = 256
        case _ where w.dtype.isGridQuantized: block = 256
        default: block = 0
        }
        var rounded = [Float](UnsafeBufferPointer(start: x, count: tokens * w.columns))
        // Per block of 32: q8_1's rounded sum minus the sum of the rounded activations (what the min of a q4_1
        // block is multiplied with, beyond the rounded activations themselves).
        var sumExcess = [Double](repeating: 0, count: block == 32 ? rounded.count / 32 : 0)
        if block > 0 {
            for start in stride(from: 0, to: rounded.count, by: block) {
                let amax = rounded[start..<(start + block)].reduce(Float(0)) { max($0, abs($1)) }
                let inverse: Float = amax > 0 ? 127 / amax : 0
                let scale = amax / 127
                let stored = block == 32 ? Float(Float16(scale)) : scale
                var sum: Float = 0
                for i in start..<(start + block) {
                    let q = (rounded[i] * inverse).rounded(.toNearestOrEven)
                    sum += q
                    rounded[i] = q * stored
                }
                if block == 32 {
                    sumExcess[start / 32] = Double(Float(Float16(scale * sum))) - Double(stored) * Double(sum)
                }
            }
        }
        let stride = outputStride ?? w.rows
        let blocks = w.columns / 32
        var row = [Float](repeating: 0, count: w.columns)
        for r in 0..<w.rows {
            row.withUnsafeMutableBufferPointer { w.decodeRowReference(r, into: $0.baseAddress!) }
            for t in 0..<tokens {
                var sum = 0.0
                for c in 0..<w.columns { sum += Double(row[c]) * Double(rounded[t * w.columns + c]) }
                if w.dtype == .q4_1 || w.dtype == .q5_1 {
                    let bytes = w.dtype.blockBytes
                    for b in 0..<blocks { sum += Double(w.layout.withRow(r) { Dequantize.half($0, bytes * b + 2) }) * sumExcess[t * blocks + b] }
                }
                y[t * stride + r] = Float(sum)
            }
        }
    }
}
