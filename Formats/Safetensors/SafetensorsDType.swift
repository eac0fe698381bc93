import SieveCore

/// The safetensors spelling of the IR's plain dtypes, and the order the reference writer lays tensors out in.
enum SafetensorsDType {
    /// The IR dtype for a safetensors dtype name, or nil when the IR cannot hold it (F8_*, U16, C64, …).
    static func dtype(named name: String) -> DType? {
        switch name {
        case "F64": return .f64
        case "F32": return .f32
        case "F16": return .f16
        case "BF16": return .bf16
        case "I64": return .i64
        case "I32": return .i32
        case "I16": return .i16
        case "I8": return .i8
        case "U8": return .u8
        case "BOOL": return .bool
        default: return nil
        }
    }

    /// The safetensors name of a plain IR dtype, or nil for block-quantized types.
    static func name(of dtype: DType) -> String? {
        switch dtype {
        case .f64: return "F64"
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .i64: return "I64"
        case .i32: return "I32"
        case .i16: return "I16"
        case .i8: return "I8"
        case .u8: return "U8"
        case .bool: return "BOOL"
        default: return nil
        }
    }

    /// The position of `dtype` in the reference implementation's `Dtype` enum (Rust crate `safetensors`).
    /// Its writer orders tensors by this rank, highest first, then by name, so wide types come first and every
    /// tensor is aligned to its element size. Only the ranks' relative order matters.
    static func layoutRank(_ dtype: DType) -> Int {
        switch dtype {
        case .bool: return 0
        case .u8: return 1
        case .i8: return 2
        case .i16: return 3
        case .f16: return 4
        case .bf16: return 5
        case .i32: return 6
        case .f32: return 7
        case .f64: return 8
        case .i64: return 9
        default: return -1
        }
    }

    /// The dtype name PyTorch uses in `config.json`'s `torch_dtype` for a float dtype.
    static func torchName(of dtype: DType) -> String {
        switch dtype {
        case .f16: return "float16"
        case .bf16: return "bfloat16"
        case .f64: return "float64"
        default: return "float32"
        }
    }
}
