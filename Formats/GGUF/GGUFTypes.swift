import SieveCore

/// ggml tensor types as numbered in GGUF files, with their block geometry (ggml's `type_traits`).
///
/// Every type ggml defines is listed so that files can be validated and inspected; `dtype` says which ones
/// Sieve decodes.
public enum GGMLType: UInt32, CaseIterable, Sendable {
    /// ggml's type numbers (gaps are types ggml removed).
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30, tq1_0 = 34, tq2_0 = 35
    case mxfp4 = 39

    /// ggml's name (`F32`, `Q4_K`, `IQ2_XXS`, …).
    public var name: String { "\(self)".uppercased() }

    /// Elements per block (1 for plain types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl, .mxfp4: return 32
        default: return 256
        }
    }

    /// Bytes per block.
    public var typeSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .f64, .i64: return 8
        case .i8: return 1
        case .q4_0: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q5_1: return 24
        case .q8_0: return 34
        case .q8_1: return 40
        case .q2_K: return 84
        case .q3_K: return 110
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        case .q8_K: return 292
        case .iq2_xxs: return 66
        case .iq2_xs: return 74
        case .iq3_xxs: return 98
        case .iq1_s: return 50
        case .iq4_nl: return 18
        case .iq3_s: return 110
        case .iq2_s: return 82
        case .iq4_xs: return 136
        case .iq1_m: return 56
        case .tq1_0: return 54
        case .tq2_0: return 66
        case .mxfp4: return 17
        }
    }

    /// The IR dtype, or nil when Sieve cannot decode this type.
    public var dtype: DType? {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .f64: return .f64
        case .i8: return .i8
        case .i16: return .i16
        case .i32: return .i32
        case .i64: return .i64
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        case .q5_0: return .q5_0
        case .q5_1: return .q5_1
        case .q2_K: return .q2_K
        case .q3_K: return .q3_K
        case .q4_K: return .q4_K
        case .q5_K: return .q5_K
        case .q6_K: return .q6_K
        case .q8_K: return .q8_K
        case .iq4_nl: return .iq4_nl
        case .mxfp4: return .mxfp4
        case .iq4_xs: return .iq4_xs
        case .iq2_xxs: return .iq2_xxs
        case .iq2_xs: return .iq2_xs
        case .iq2_s: return .iq2_s
        case .iq3_xxs: return .iq3_xxs
        case .iq3_s: return .iq3_s
        case .iq1_s: return .iq1_s
        case .iq1_m: return .iq1_m
        default: return nil
        }
    }

    /// The ggml type of an IR dtype, or nil for dtypes GGUF cannot store (`u8`, `bool`).
    public init?(_ dtype: DType) {
        guard let match = GGMLType.allCases.first(where: { $0.dtype == dtype }) else { return nil }
        self = match
    }
}

/// GGUF metadata value type codes.
public enum GGUFValueType: UInt32, CaseIterable, Sendable {
    /// GGUF's value type numbers.
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7, string = 8
    case array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes of one value for fixed-size types; nil for strings and arrays.
    public var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }

    /// The smallest number of bytes one value of this type occupies in a file (a string is at least its
    /// 8-byte length, an array its 4-byte type and 8-byte count).
    public var minimumSize: Int { fixedSize ?? (self == .string ? 8 : 12) }
}

/// A typed GGUF metadata value.
public enum GGUFValue: Equatable, Sendable {
    /// One case per GGUF value type.
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array(GGUFArray)

    /// The value's type code.
    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    /// A readable type name (`u32`, `array[string]`, …) for messages.
    public var typeDescription: String {
        if case let .array(a) = self { return "array[\(a.elementType)]" }
        return "\(type)"
    }

    /// Any integer value as `Int` (nil for non-integers and for u64 values above `Int.max`).
    public var intValue: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return v <= UInt64(Int.max) ? Int(v) : nil
        case let .int64(v): return Int(v)
        default: return nil
        }
    }

    /// A float value as `Double`. A float32 becomes the double nearest its shortest decimal form, so that the
    /// f32 `1e-5` stored by llama.cpp reads back as `1e-5` rather than `9.99999974737875e-06`.
    public var doubleValue: Double? {
        switch self {
        case let .float32(v): return Double("\(v)") ?? Double(v)
        case let .float64(v): return v
        default: return intValue.map(Double.init)
        }
    }

    /// The value of a bool.
    public var boolValue: Bool? {
        if case let .bool(v) = self { return v }
        return nil
    }

    /// The value of a string.
    public var stringValue: String? {
        if case let .string(v) = self { return v }
        return nil
    }

    /// The elements of an array value.
    public var arrayValue: GGUFArray? {
        if case let .array(v) = self { return v }
        return nil
    }

    /// The value as short text; arrays longer than `limit` elements are summarised by their length and first
    /// elements.
    public func rendered(limit: Int = 16) -> String {
        switch self {
        case let .uint8(v): return "\(v)"
        case let .int8(v): return "\(v)"
        case let .uint16(v): return "\(v)"
        case let .int16(v): return "\(v)"
        case let .uint32(v): return "\(v)"
        case let .int32(v): return "\(v)"
        case let .uint64(v): return "\(v)"
        case let .int64(v): return "\(v)"
        case let .float32(v): return "\(v)"
        case let .float64(v): return "\(v)"
        case let .bool(v): return "\(v)"
        case let .string(v): return v
        case let .array(a): return a.rendered(limit: limit)
        }
    }
}

/// A homogeneous GGUF array, stored with its element type.
public indirect enum GGUFArray: Equatable, Sendable {
    /// One case per element type.
    case uint8([UInt8]), int8([Int8]), uint16([UInt16]), int16([Int16]), uint32([UInt32]), int32([Int32])
    case uint64([UInt64]), int64([Int64]), float32([Float]), float64([Double]), bool([Bool]), string([String])
    case array([GGUFArray])

    /// The element type code.
    public var elementType: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    /// Number of elements.
    public var count: Int {
        switch self {
        case let .uint8(a): return a.count
        case let .int8(a): return a.count
        case let .uint16(a): return a.count
        case let .int16(a): return a.count
        case let .uint32(a): return a.count
        case let .int32(a): return a.count
        case let .uint64(a): return a.count
        case let .int64(a): return a.count
        case let .float32(a): return a.count
        case let .float64(a): return a.count
        case let .bool(a): return a.count
        case let .string(a): return a.count
        case let .array(a): return a.count
        }
    }

    /// The elements as individual values.
    public var elements: [GGUFValue] { elements(prefix: count) }

    /// The first `n` elements as individual values.
    public func elements(prefix n: Int) -> [GGUFValue] {
        switch self {
        case let .uint8(a): return a.prefix(n).map { .uint8($0) }
        case let .int8(a): return a.prefix(n).map { .int8($0) }
        case let .uint16(a): return a.prefix(n).map { .uint16($0) }
        case let .int16(a): return a.prefix(n).map { .int16($0) }
        case let .uint32(a): return a.prefix(n).map { .uint32($0) }
        case let .int32(a): return a.prefix(n).map { .int32($0) }
        case let .uint64(a): return a.prefix(n).map { .uint64($0) }
        case let .int64(a): return a.prefix(n).map { .int64($0) }
        case let .float32(a): return a.prefix(n).map { .float32($0) }
        case let .float64(a): return a.prefix(n).map { .float64($0) }
        case let .bool(a): return a.prefix(n).map { .bool($0) }
        case let .string(a): return a.prefix(n).map { .string($0) }
        case let .array(a): return a.prefix(n).map { .array($0) }
        }
    }

    /// String elements, or nil for other element types.
    public var strings: [String]? {
        if case let .string(a) = self { return a }
        return nil
    }

    /// Float elements (f32 or f64), or nil for other element types.
    public var floats: [Float]? {
        switch self {
        case let .float32(a): return a
        case let .float64(a): return a.map { Float($0) }
        default: return nil
        }
    }

    /// Integer elements as `Int32` (any integer element type whose values fit), or nil.
    public var int32s: [Int32]? {
        switch self {
        case let .int32(a): return a
        case let .uint32(a): return a.allSatisfy({ $0 <= UInt32(Int32.max) }) ? a.map { Int32($0) } : nil
        case let .int8(a): return a.map { Int32($0) }
        case let .uint8(a): return a.map { Int32($0) }
        case let .int16(a): return a.map { Int32($0) }
        case let .uint16(a): return a.map { Int32($0) }
        case let .int64(a): return a.allSatisfy({ Int64(Int32.min)...Int64(Int32.max) ~= $0 }) ? a.map { Int32($0) } : nil
        case let .uint64(a): return a.allSatisfy({ $0 <= UInt64(Int32.max) }) ? a.map { Int32($0) } : nil
        default: return nil
        }
    }

    /// The array as short text: all elements when there are at most `limit`, else the count and the first few.
    public func rendered(limit: Int = 16) -> String {
        func item(_ v: GGUFValue) -> String {
            if case let .string(s) = v { return "\"" + s.replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
            return v.rendered(limit: limit)
        }
        if count <= limit {
            return "[" + elements.map(item).joined(separator: ", ") + "]"
        }
        let head = elements(prefix: min(limit, 8)).map(item).joined(separator: ", ")
        return "[\(count) × \(elementType): \(head), …]"
    }
}
