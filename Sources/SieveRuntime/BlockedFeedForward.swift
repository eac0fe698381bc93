import SieveCore

/// Dense execution of a blocked (sparse-bundle) feed-forward layer.
///
/// In the blocked layout (`FeedForwardLayout.blocked`) the `up`/`gate` rows are permuted, which needs nothing:
/// the order of intermediate neurons does not change the result as long as `down` follows it. `down` is stored
/// transposed, `[ff, hidden]`; the dense runner multiplies by `[hidden, ff]`, so it is transposed back once at
/// load time (decoded to f32, which is exact for every stored type).
enum BlockedFeedForward {
    /// The `[hidden, ff]` f32 matrix of a transposed-down tensor `[ff, hidden]`.
    static func denseDown(from transposed: Tensor) throws -> Tensor {
        guard transposed.shape.rank == 2 else {
            throw SieveCoreError.invalidShape(source: "model", tensor: transposed.name, reason: "a blocked FFN's down projection must be 2-D [ff, hidden], got \(transposed.shape)")
        }
        let ff = transposed.shape.dims[0], hidden = transposed.shape.dims[1]
        let values = try transposed.floats()
        let buffer = TensorBuffer(count: ff * hidden * MemoryLayout<Float>.stride)
        let out = buffer.bytes.bindMemory(to: Float.self)
        values.withUnsafeBufferPointer { v in
            for n in 0..<ff {
                for h in 0..<hidden { out[h * ff + n] = v[n * hidden + h] }
            }
        }
        return try Tensor(name: transposed.name, dtype: .f32, shape: Shape([hidden, ff]), storage: .owned(buffer))
    }
}
