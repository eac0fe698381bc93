import Foundation
import SieveCore

/// One tensor's entry in a GGUF file's tensor-info table.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The tensor name as stored (llama.cpp naming: `blk.0.attn_q.weight`).
    public var name: String
    /// The ggml element type.
    public var type: GGMLType
    /// ggml's `ne`: dimensions with the contiguous one first (the reverse of the IR's `Shape`).
    public var dimensions: [Int]
    /// Offset of the data from the start of the data section.
    public var offset: Int
    /// Size of the data in bytes.
    public var byteCount: Int

    /// The IR shape: `dimensions` reversed, outermost first.
    public var shape: Shape { Shape(dimensions.reversed()) }

    /// Number of elements.
    public var elementCount: Int { dimensions.reduce(1, *) }
}

/// A parsed, validated GGUF file (v2 or v3), memory-mapped: metadata as typed values, the tensor-info table, and
/// zero-copy access to tensor data.
///
/// Validation follows ggml's `gguf.cpp`: magic and version; every count and length is checked against the bytes
/// that remain before anything is allocated; array nesting is bounded; keys and tensor names are unique; names
/// are at most 63 bytes; tensors have 1…4 positive dimensions whose product does not overflow, a known type,
/// rows that are whole blocks, and aligned, in-bounds, non-overlapping data.
public final class GGUFFile: @unchecked Sendable {
    /// The GGUF magic, `GGUF` read as a little-endian u32.
    public static let magic: [UInt8] = Array("GGUF".utf8)
    /// The default data alignment when `general.alignment` is absent.
    public static let defaultAlignment = 32
    /// ggml's `GGML_MAX_NAME` minus the terminating NUL.
    public static let maxTensorNameBytes = 63
    /// ggml's `GGML_MAX_DIMS`.
    public static let maxDimensions = 4
    /// The deepest array nesting accepted in metadata.
    public static let maxArrayNesting = 8

    /// The mapped file.
    public let file: MappedFile
    /// The GGUF version (2 or 3).
    public let version: UInt32
    /// Metadata key/value pairs in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    /// Tensor infos in file order.
    public let tensorInfos: [GGUFTensorInfo]
    /// Data alignment (`general.alignment` or 32).
    public let alignment: Int
    /// Absolute offset of the data section.
    public let dataOffset: Int

    private let keyIndex: [String: Int]
    private let tensorIndex: [String: Int]

    /// The file's path, as used in error messages.
    public var path: String { file.path }

    /// Maps and parses the GGUF file at `url`.
    public convenience init(url: URL) throws {
        try self.init(file: MappedFile(url: url))
    }

    /// Parses an already mapped file.
    public init(file: MappedFile) throws {
        self.file = file
        var c = GGUFCursor(bytes: file.bytes, path: file.path)
        let magicBytes = try c.bytes(4, "the magic")
        guard Array(magicBytes) == GGUFFile.magic else {
            throw GGUFError.badMagic(path: file.path, found: Array(magicBytes))
        }
        version = try c.u32("the version")
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(path: file.path, version: version) }

        let tensorCountOffset = c.offset
        let tensorCount = try c.u64("the tensor count")
        let keyCountOffset = c.offset
        let keyCount = try c.u64("the metadata key count")
        // Each key/value takes at least 13 bytes (key length, value type, a 1-byte value); each tensor info at
        // least 24 (name length, dimension count, type, offset).
        let kvLimit = UInt64(c.remaining / 13)
        guard keyCount <= kvLimit else {
            throw GGUFError.countTooLarge(path: file.path, offset: keyCountOffset, what: "the metadata key count", count: keyCount, limit: kvLimit)
        }
        let tensorLimit = UInt64(c.remaining / 24)
        guard tensorCount <= tensorLimit else {
            throw GGUFError.countTooLarge(path: file.path, offset: tensorCountOffset, what: "the tensor count", count: tensorCount, limit: tensorLimit)
        }

        var metadata: [(key: String, value: GGUFValue)] = []
        var keyIndex: [String: Int] = [:]
        metadata.reserveCapacity(Int(keyCount))
        for i in 0..<Int(keyCount) {
            let keyOffset = c.offset
            let key = try c.string("the key of metadata entry \(i)")
            let type = try c.valueType(key: key)
            let value = try c.value(type, key: key, depth: 0)
            guard keyIndex[key] == nil else { throw GGUFError.duplicateKey(path: file.path, offset: keyOffset, key: key) }
            keyIndex[key] = metadata.count
            metadata.append((key, value))
        }

        var alignment = GGUFFile.defaultAlignment
        if let i = keyIndex["general.alignment"] {
            guard case let .uint32(a) = metadata[i].value else {
                throw GGUFError.wrongValueType(path: file.path, key: "general.alignment", expected: "uint32", found: metadata[i].value.typeDescription)
            }
            guard a != 0, a & (a - 1) == 0 else { throw GGUFError.invalidAlignment(path: file.path, value: UInt64(a)) }
            alignment = Int(a)
        }

        var infos: [GGUFTensorInfo] = []
        var tensorIndex: [String: Int] = [:]
        infos.reserveCapacity(Int(tensorCount))
        for i in 0..<Int(tensorCount) {
            let infoOffset = c.offset
            let nameLength = try c.u64("the name length of tensor \(i)")
            guard nameLength <= UInt64(c.remaining) else {
                throw GGUFError.countTooLarge(path: file.path, offset: infoOffset, what: "the name length of tensor \(i)", count: nameLength, limit: UInt64(c.remaining))
            }
            let nameBytes = try c.bytes(Int(nameLength), "the name of tensor \(i)")
            guard nameLength <= UInt64(GGUFFile.maxTensorNameBytes) else {
                let shown = String(decoding: UnsafeRawBufferPointer(rebasing: nameBytes.prefix(80)), as: UTF8.self)
                throw GGUFError.tensorNameTooLong(path: file.path, offset: infoOffset, name: shown, length: Int(nameLength))
            }
            let name = String(decoding: nameBytes, as: UTF8.self)
            guard tensorIndex[name] == nil else { throw GGUFError.duplicateTensor(path: file.path, offset: infoOffset, name: name) }
            let dimCount = try c.u32("the dimension count of tensor '\(name)'")
            guard dimCount >= 1, dimCount <= UInt32(GGUFFile.maxDimensions) else {
                throw GGUFError.tooManyDimensions(path: file.path, tensor: name, count: dimCount)
            }
            var ne: [Int64] = []
            for _ in 0..<Int(dimCount) { ne.append(Int64(bitPattern: try c.u64("the dimensions of tensor '\(name)'"))) }
            let typeCode = try c.u32("the type of tensor '\(name)'")
            let offset = try c.u64("the data offset of tensor '\(name)'")

            guard ne.allSatisfy({ $0 > 0 }) else {
                throw GGUFError.invalidDimension(path: file.path, tensor: name, dimensions: ne, reason: "every dimension must be positive")
            }
            var elements: Int64 = 1
            for d in ne {
                let (p, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow else {
                    throw GGUFError.invalidDimension(path: file.path, tensor: name, dimensions: ne, reason: "the element count overflows 64 bits")
                }
                elements = p
            }
            guard let type = GGMLType(rawValue: typeCode) else {
                throw GGUFError.unknownTensorType(path: file.path, tensor: name, type: typeCode)
            }
            guard ne[0] % Int64(type.blockSize) == 0 else {
                throw GGUFError.notBlockAligned(path: file.path, tensor: name, ne0: Int(ne[0]), type: type.name, blockSize: type.blockSize)
            }
            let (byteCount, overflow) = (elements / Int64(type.blockSize)).multipliedReportingOverflow(by: Int64(type.typeSize))
            guard !overflow else {
                throw GGUFError.invalidDimension(path: file.path, tensor: name, dimensions: ne, reason: "the byte size overflows 64 bits")
            }
            guard offset % UInt64(alignment) == 0 else {
                throw GGUFError.misalignedOffset(path: file.path, tensor: name, offset: offset, alignment: alignment)
            }
            tensorIndex[name] = infos.count
            infos.append(GGUFTensorInfo(name: name, type: type, dimensions: ne.map { Int($0) },
                                        offset: offset <= UInt64(Int.max) ? Int(offset) : Int.max, byteCount: Int(byteCount)))
        }

        let headerEnd = c.offset
        let padded = headerEnd.isMultiple(of: alignment) ? headerEnd : headerEnd + alignment - headerEnd % alignment
        dataOffset = min(padded, file.count)
        if !infos.isEmpty && padded > file.count {
            throw GGUFError.truncated(path: file.path, offset: headerEnd, what: "the padding before the data section", needed: padded - headerEnd, available: file.count - headerEnd)
        }
        let dataSize = file.count - dataOffset
        for info in infos where info.offset > dataSize || info.byteCount > dataSize - info.offset {
            throw GGUFError.tensorPastEnd(path: file.path, tensor: info.name, offset: UInt64(info.offset), byteCount: info.byteCount, dataSize: dataSize)
        }
        let byOffset = infos.sorted { $0.offset < $1.offset }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where a.offset + a.byteCount > b.offset {
            throw GGUFError.overlappingTensors(path: file.path, first: a.name, second: b.name)
        }

        self.metadata = metadata
        self.keyIndex = keyIndex
        self.alignment = alignment
        self.tensorInfos = infos
        self.tensorIndex = tensorIndex
    }

    /// The value of a metadata key.
    public subscript(key: String) -> GGUFValue? {
        keyIndex[key].map { metadata[$0].value }
    }

    /// The tensor info called `name`.
    public func tensorInfo(_ name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensorInfos[$0] }
    }

    /// The raw stored bytes of a tensor (ggml blocks for quantized types), zero copy.
    public func bytes(of info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[(dataOffset + info.offset)..<(dataOffset + info.offset + info.byteCount)])
    }

    /// The tensor as an IR tensor whose storage is a slice of the mapping (zero copy), optionally renamed.
    /// Throws `unsupportedTensorType` for ggml types Sieve cannot decode.
    public func tensor(_ info: GGUFTensorInfo, named name: String? = nil) throws -> Tensor {
        guard let dtype = info.type.dtype else {
            throw GGUFError.unsupportedTensorType(path: path, tensor: info.name, type: info.type.name)
        }
        return try Tensor(name: name ?? info.name, dtype: dtype, shape: info.shape,
                          storage: .mapped(file, offset: dataOffset + info.offset, count: info.byteCount), source: path)
    }

    /// Metadata rendered as text, long arrays summarised.
    public func renderedMetadata(arrayLimit: Int = 16) -> [(String, String)] {
        metadata.map { ($0.key, $0.value.rendered(limit: arrayLimit)) }
    }
}

/// A bounds-checked little-endian cursor over the mapped bytes that throws `GGUFError`s naming the file, the
/// offset and the structure being read.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var offset = 0

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    var remaining: Int { bytes.count - offset }

    func require(_ count: Int, _ what: String) throws {
        guard count <= remaining else {
            throw GGUFError.truncated(path: path, offset: offset, what: what, needed: count, available: remaining)
        }
    }

    mutating func bytes(_ count: Int, _ what: String) throws -> UnsafeRawBufferPointer {
        try require(count, what)
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }

    mutating func integer<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> T {
        try require(MemoryLayout<T>.size, what)
        defer { offset += MemoryLayout<T>.size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    mutating func u32(_ what: String) throws -> UInt32 { try integer(UInt32.self, what) }
    mutating func u64(_ what: String) throws -> UInt64 { try integer(UInt64.self, what) }

    /// A length-prefixed string; the length is checked against the remaining bytes before reading.
    mutating func string(_ what: String) throws -> String {
        let start = offset
        let length = try u64("the length of \(what)")
        guard length <= UInt64(remaining) else {
            throw GGUFError.countTooLarge(path: path, offset: start, what: "the length of \(what)", count: length, limit: UInt64(remaining))
        }
        return String(decoding: try bytes(Int(length), what), as: UTF8.self)
    }

    mutating func valueType(key: String) throws -> GGUFValueType {
        let at = offset
        let code = try u32("the value type of '\(key)'")
        guard let type = GGUFValueType(rawValue: code) else {
            throw GGUFError.invalidValueType(path: path, offset: at, key: key, type: code)
        }
        return type
    }

    mutating func value(_ type: GGUFValueType, key: String, depth: Int) throws -> GGUFValue {
        let what = "the value of '\(key)'"
        switch type {
        case .uint8: return .uint8(try integer(UInt8.self, what))
        case .int8: return .int8(try integer(Int8.self, what))
        case .uint16: return .uint16(try integer(UInt16.self, what))
        case .int16: return .int16(try integer(Int16.self, what))
        case .uint32: return .uint32(try integer(UInt32.self, what))
        case .int32: return .int32(try integer(Int32.self, what))
        case .uint64: return .uint64(try integer(UInt64.self, what))
        case .int64: return .int64(try integer(Int64.self, what))
        case .float32: return .float32(Float(bitPattern: try integer(UInt32.self, what)))
        case .float64: return .float64(Double(bitPattern: try integer(UInt64.self, what)))
        case .bool: return .bool(try integer(UInt8.self, what) != 0)
        case .string: return .string(try string(what))
        case .array: return .array(try array(key: key, depth: depth))
        }
    }

    mutating func array(key: String, depth: Int) throws -> GGUFArray {
        let start = offset
        guard depth < GGUFFile.maxArrayNesting else {
            throw GGUFError.nestingTooDeep(path: path, offset: start, key: key, limit: GGUFFile.maxArrayNesting)
        }
        let elementType = try valueType(key: key)
        let countOffset = offset
        let count = try u64("the array length of '\(key)'")
        let limit = UInt64(remaining / elementType.minimumSize)
        guard count <= limit else {
            throw GGUFError.countTooLarge(path: path, offset: countOffset, what: "the array length of '\(key)'", count: count, limit: limit)
        }
        let n = Int(count)
        func read<T>(_ element: (inout GGUFCursor) throws -> T) throws -> [T] {
            var out: [T] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try element(&self)) }
            return out
        }
        let what = "an element of '\(key)'"
        switch elementType {
        case .uint8: return .uint8(try read { try $0.integer(UInt8.self, what) })
        case .int8: return .int8(try read { try $0.integer(Int8.self, what) })
        case .uint16: return .uint16(try read { try $0.integer(UInt16.self, what) })
        case .int16: return .int16(try read { try $0.integer(Int16.self, what) })
        case .uint32: return .uint32(try read { try $0.integer(UInt32.self, what) })
        case .int32: return .int32(try read { try $0.integer(Int32.self, what) })
        case .uint64: return .uint64(try read { try $0.integer(UInt64.self, what) })
        case .int64: return .int64(try read { try $0.integer(Int64.self, what) })
        case .float32: return .float32(try read { Float(bitPattern: try $0.integer(UInt32.self, what)) })
        case .float64: return .float64(try read { Double(bitPattern: try $0.integer(UInt64.self, what)) })
        case .bool: return .bool(try read { try $0.integer(UInt8.self, what) != 0 })
        case .string: return .string(try read { try $0.string(what) })
        case .array: return .array(try read { try $0.array(key: key, depth: depth + 1) })
        }
    }
}
