import SieveCore
@testable import SieveKernels

/// Builds weight matrices of every supported type from seeded random floats.
enum Fixtures {
    /// Random `[rows, columns]` weights encoded as `dtype` (quantized types through the reference quantizers).
    static func matrix(_ dtype: DType, rows: Int, columns: Int, seed: UInt64, scale: Float = 1) throws -> WeightMatrix {
        var rng = SplitMix64(seed: seed)
        let values = rng.floats(rows * columns, scale: scale)
        let buffer = TensorBuffer(count: dtype.byteCount(elements: rows * columns)!)
        try values.withUnsafeBufferPointer { try DTypeCodec.encode($0, as: dtype, into: buffer.bytes, tensor: "w") }
        return try WeightMatrix(bytes: UnsafeRawBufferPointer(buffer.bytes), dtype: dtype, rows: rows, columns: columns, name: "w", owner: buffer)
    }

    /// The matrix decoded to floats with the reference decoders, row-major.
    static func decoded(_ w: WeightMatrix) -> [Float] {
        var out = [Float](repeating: 0, count: w.rows * w.columns)
        out.withUnsafeMutableBufferPointer { buf in
            for r in 0..<w.rows { w.decodeRowReference(r, into: buf.baseAddress! + r * w.columns) }
        }
        return out
    }
}

/// Largest violation of `|a − b| ≤ tolerance · scale[i]`, as a ratio (≤ 1 passes).
func worstRatio(_ a: [Float], _ b: [Float], scale: [Float], tolerance: Float) -> Float {
    precondition(a.count == b.count && a.count == scale.count)
    var worst: Float = 0
    for i in a.indices {
        let allowed = tolerance * max(scale[i], 1e-30)
        worst = max(worst, abs(a[i] - b[i]) / allowed)
    }
    return worst
}
