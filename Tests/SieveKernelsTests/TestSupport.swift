import SieveCore
@testable import SieveKernels

/// Builds weight matrices of every supported type from seeded random floats (or, for the grid types, which nothing
/// quantizes to, random blocks).
enum Fixtures {
    /// Random `[rows, columns]` weights encoded as `dtype` (quantized types through the reference quantizers; the grid
    /// types as random blocks, `gridMatrix`).
    static func matrix(_ dtype: DType, rows: Int, columns: Int, seed: UInt64, scale: Float = 1) throws -> WeightMatrix {
        if dtype.isGridQuantized { return try gridMatrix(dtype, rows: rows, columns: columns, seed: seed, scale: scale) }
        var rng = SplitMix64(seed: seed)
        let values = rng.floats(rows * columns, scale: scale)
        let buffer = TensorBuffer(count: dtype.byteCount(elements: rows * columns)!)
        try values.withUnsafeBufferPointer { try DTypeCodec.encode($0, as: dtype, into: buffer.bytes, tensor: "w") }
        return try WeightMatrix(bytes: UnsafeRawBufferPointer(buffer.bytes), dtype: dtype, rows: rows, columns: columns, name: "w", owner: buffer)
    }

    /// A random `[rows, columns]` matrix of a grid type: random bytes (every index, sign and scale is valid) with each
    /// super-block's f16 scale set to `scale`·(0.01…0.1), so that values stay of order `scale` (at most 0.1·31·62/4
    /// times it, iq3_xxs's largest).
    static func gridMatrix(_ dtype: DType, rows: Int, columns: Int, seed: UInt64, scale: Float = 1) throws -> WeightMatrix {
        var rng = SplitMix64(seed: seed)
        let buffer = TensorBuffer(count: dtype.byteCount(elements: rows * columns)!)
        let p = buffer.bytes.baseAddress!
        for i in 0..<buffer.bytes.count { p.storeBytes(of: UInt8(truncatingIfNeeded: rng.next()), toByteOffset: i, as: UInt8.self) }
        for b in 0..<(buffer.bytes.count / dtype.blockBytes) {
            let d = scale * (0.055 + 0.045 * rng.nextSignedUnit())
            GridQuant.setScale(HalfPrecision.floatToF16(d), block: p + b * dtype.blockBytes, dtype: dtype)
        }
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
