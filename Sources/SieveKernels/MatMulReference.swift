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

    /// Reference with the activations first rounded the way the decode kernels quantize them (8-bit blocks of 32
    /// for q8_0/q4_0/q4_1/q5_0, super-blocks of 256 for q4_K/q6_K; float types unchanged), so that it differs from
    /// the fast kernels only by float rounding (`Tolerances.quantizedSameActivations`).
    public static func multiplyReferenceQuantizedActivations(_ w: WeightMatrix, x: UnsafePointer<Float>, tokens: Int,
                                                             into y: UnsafeMutablePointer<Float>, outputStride: Int? = nil) {
        let block: Int
        switch w.dtype {
        case .q8_0, .q4_0, .q4_1, .q5_0: block = 32
        case .q4_K, .q6_K: block = 256
        default: block = 0
        }
        var rounded = [Float](UnsafeBufferPointer(start: x, count: tokens * w.columns))
        if block > 0 {
            for start in stride(from: 0, to: rounded.count, by: block) {
                let amax = rounded[start..<(start + block)].reduce(Float(0)) { max($0, abs($1)) }
                let inverse: Float = amax > 0 ? 127 / amax : 0
                let scale = amax / 127
                for i in start..<(start + block) { rounded[i] = (rounded[i] * inverse).rounded(.toNearestOrEven) * scale }
            }
        }
        rounded.withUnsafeBufferPointer { multiplyReference(w, x: $0.baseAddress!, tokens: tokens, into: y, outputStride: outputStride) }
    }
}
