import Foundation
import SieveCore

/// Namespace of the SieveKernels module: CPU kernels for transformer inference and the thread pool they run on.
///
/// The main entry points:
/// - `ThreadPool` — persistent workers with a cheap fork/join (`parallelFor`). One per model/session; it must
///   not be used from two threads at once.
/// - `WeightMatrix`, `MatMulInput`, `MatMul` — matrix-vector (decode) and matrix-matrix (prefill) products for
///   every weight type of the IR, computed directly on quantized blocks; `MatMul.multiply(_:_:pool:)` runs
///   several products of one input in a single parallel region, and the `rowRanges:`/`blocks:` variants compute
///   only selected rows (sparse FFN blocks, selected heads). The 8-bit decode products of q8_0, q4_0 and q4_1
///   run in C with AVX-512 VNNI or AVX2, whichever the CPU has (`DecodeKernels`; `SIEVE_KERNELS=swift` forces Swift).
/// - `Norms`, `RotaryEmbedding`, `Activations`, `Attention` (with `CacheView`, `AttentionScratch`), `Convert` —
///   the per-token kernels around them.
/// - `KernelBenchmark` — throughput of the products on realistic shapes and the pool's fork/join cost.
///
/// A decode step, in outline (buffers preallocated once, nothing allocated per token):
/// ```swift
/// let pool = ThreadPool(threads: 2)
/// let input = MatMulInput(maxTokens: 512, maxColumns: 1536, threads: pool.threadCount)
/// let wq = try WeightMatrix(tensor)                              // keeps the mapped file alive
/// Norms.rmsNorm(x, weight: gamma, count: 576, epsilon: 1e-5, into: xn)
/// input.bind(xn, tokens: 1, columns: 576)                        // quantized once, shared by q, k, v
/// MatMul.multiply([MatMulProduct(weights: wq, output: q), MatMulProduct(weights: wk, output: k),
///                  MatMulProduct(weights: wv, output: v)], input, pool: pool)
/// rope.apply(q, heads: 9, position: p); rope.apply(k, heads: 3, position: p)
/// keys.store(k, position: p, heads: 3, headDimension: 64); values.store(v, …)
/// Attention.causal(queries: q, queryStride: 576, keys: keys, values: values, heads: 9, kvHeads: 3,
///                  headDimension: 64, firstPosition: p, tokens: 1, scale: 0.125, output: attn,
///                  outputStride: 576, scratch: scratch, pool: pool)
/// ```
///
/// Every fast kernel has a plain scalar reference (`…Reference`, `MatMul.multiplyReference…`) it is tested
/// against with a named tolerance (`Tolerances`). Build release with `-Xswiftc -target-cpu -Xswiftc native`.
public enum SieveKernels {}

/// Errors raised by the kernels when a tensor cannot be used as requested.
public enum SieveKernelsError: Error, LocalizedError, Equatable {
    /// The weight type has no matrix kernel.
    case unsupportedWeightType(tensor: String, dtype: String, supported: [String])
    /// The tensor does not have the shape the kernel needs.
    case invalidShape(tensor: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case let .unsupportedWeightType(tensor, dtype, supported):
            return "\(tensor): no matrix kernel for weight type \(dtype); convert the tensor to one of \(supported.joined(separator: ", "))"
        case let .invalidShape(tensor, reason):
            return "\(tensor): \(reason)"
        }
    }
}

/// Named tolerances of the fast kernels against their scalar references, shared by the tests and documented here
/// so that a caller knows what accuracy to expect.
public enum Tolerances {
    /// Float kernels that only reorder a sum (dot products, norms, float weight products): relative to the sum of
    /// the magnitudes of the terms, `|fast − ref| ≤ floatSum · Σ|aᵢbᵢ|`.
    public static let floatSum: Float = 2e-6
    /// Quantized weight products against a reference computed with the same 8-bit activations, relative to
    /// `Σ|wᵢxᵢ|` (only float rounding differs).
    public static let quantizedSameActivations: Float = 4e-6
    /// Quantized weight products with 8-bit activations against the reference with float activations, relative to
    /// `Σ|wᵢ|·max|x|` of the row: quantizing activations to 8 bits per block costs at most half a step
    /// (`max|x|/254`) per element, and storing the block scale as f16 (as ggml does) up to `127·scale·2⁻¹¹ =
    /// max|x|/2048` more.
    public static let q8Activation: Float = 1.0 / 254.0 + 1.0 / 2048.0 + 1e-5
    /// Quantized weight products through the prefill path (dequantized weights, float activations) against the
    /// float reference, relative to `Σ|wᵢxᵢ|`.
    public static let dequantizedProduct: Float = 4e-6
    /// RMSNorm and LayerNorm against their Double references, relative to the magnitude of each output's terms.
    public static let norm: Float = 1e-5
    /// The vectorized `exp` against `Foundation.exp`, relative.
    public static let exp: Float = 4e-7
    /// Activations built on the vectorized `exp` (SiLU, GELU-tanh, softmax), absolute on values of order one.
    public static let activation: Float = 2e-6
    /// The vectorized GELU with `erf` against the `Foundation.erf` reference, absolute.
    public static let geluErf: Float = 2e-6
    /// The Float logit soft cap against its Double reference, relative to the cap.
    public static let softcap: Float = 5e-7
}

/// A small, fast, seeded pseudo-random generator (SplitMix64) for deterministic test and benchmark data.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator; the same seed gives the same sequence on every platform.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform Float in `[-1, 1)`.
    public mutating func nextSignedUnit() -> Float {
        Float(Int64(bitPattern: next()) >> 40) * 0x1p-23
    }

    /// `count` uniform Floats in `[-scale, scale)`.
    public mutating func floats(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in nextSignedUnit() * scale }
    }
}
