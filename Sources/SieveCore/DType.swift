/// Element types of the IR: plain numeric types and llama.cpp-style block-quantized types.
///
/// Block-quantized types store `blockSize` elements in `blockBytes` bytes; plain types have a block size of 1.
/// Tensors of quantized types stay quantized in the IR; converting them to float is explicit.
public enum DType: String, CaseIterable, Sendable, Hashable, Codable {
    /// Plain numeric types (floats, integers, booleans).
    case f64, f32, f16, bf16, i64, i32, i16, i8, u8, bool
    /// llama.cpp block-quantized types.
    case q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K, q8_K
    /// llama.cpp's 4-bit non-linear types (codes index a fixed book of 16 values).
    case iq4_nl, iq4_xs
    /// OCP microscaling FP4 (gpt-oss's experts): 32 E2M1 values sharing one power-of-two (E8M0) scale.
    case mxfp4
    /// llama.cpp's grid types (groups of 4 or 8 elements index a fixed grid of values; decode only: Sieve reads
    /// and runs them but does not quantize to them, which needs an importance matrix).
    case iq2_xxs, iq2_xs, iq2_s, iq3_xxs, iq3_s, iq1_s, iq1_m

    /// The name used in manifests and on the command line (`f32`, `q4_K`, …).
    public var name: String { rawValue }

    /// Whether values are stored in quantized blocks.
    public var isQuantized: Bool { blockSize > 1 }

    /// Whether the type is one of ggml's grid types, which Sieve decodes but does not quantize to.
    public var isGridQuantized: Bool {
        switch self {
        case .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .iq1_m: return true
        default: return false
        }
    }

    /// Whether the type is a floating-point type (plain, not quantized).
    public var isFloat: Bool { self == .f64 || self == .f32 || self == .f16 || self == .bf16 }

    /// Elements per block (1 for plain types).
    public var blockSize: Int {
        switch self {
        case .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .iq4_nl, .mxfp4: return 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq4_xs: return 256
        case .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .iq1_m: return 256
        default: return 1
        }
    }

    /// Bytes per block (the element size for plain types).
    public var blockBytes: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        case .q8_0: return 34
        case .q4_0: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q5_1: return 24
        case .q2_K: return 84
        case .q3_K: return 110
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        case .q8_K: return 292
        case .iq4_nl: return 18
        case .iq4_xs: return 136
        case .mxfp4: return 17
        case .iq2_xxs: return 66
        case .iq2_xs: return 74
        case .iq2_s: return 82
        case .iq3_xxs: return 98
        case .iq3_s: return 110
        case .iq1_s: return 50
        case .iq1_m: return 56
        }
    }

    /// Looks a dtype up by its IR name, case-insensitively for the plain types (`F32`, `f32`).
    public init?(name: String) {
        if let exact = DType(rawValue: name) { self = exact; return }
        let lower = name.lowercased()
        if let match = DType.allCases.first(where: { $0.rawValue.lowercased() == lower }) { self = match; return }
        return nil
    }

    /// Byte count of `elements` elements, or nil when `elements` is not a whole number of blocks or overflows.
    public func byteCount(elements: Int) -> Int? {
        guard elements >= 0, elements % blockSize == 0 else { return nil }
        let (bytes, overflow) = (elements / blockSize).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }
}
