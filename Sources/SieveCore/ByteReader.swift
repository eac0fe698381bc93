/// A bounds-checked little-endian reader over a byte buffer, in the manner of swift-nio's `ByteBuffer`:
/// every read checks the range first and throws `SieveCoreError.truncated` on short input.
public struct ByteReader {
    /// The bytes being read.
    public let bytes: UnsafeRawBufferPointer
    /// Where the next read starts.
    public var offset: Int
    /// Names the source in errors.
    public let source: String

    /// A reader of `bytes` starting at `offset`; `source` names the file in errors.
    public init(bytes: UnsafeRawBufferPointer, offset: Int = 0, source: String) {
        self.bytes = bytes
        self.offset = offset
        self.source = source
    }

    /// Bytes left after `offset`.
    public var remaining: Int { bytes.count - offset }

    /// Throws unless `count` more bytes are available.
    public func require(_ count: Int) throws {
        guard count >= 0, offset >= 0, offset <= bytes.count, count <= bytes.count - offset else {
            throw SieveCoreError.truncated(source: source, offset: offset, needed: count, available: max(0, bytes.count - offset))
        }
    }

    @inline(__always)
    private mutating func readInteger<T: FixedWidthInteger>(_: T.Type) throws -> T {
        try require(MemoryLayout<T>.size)
        var value: T = 0
        withUnsafeMutableBytes(of: &value) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + MemoryLayout<T>.size)]))
        }
        offset += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    /// Reads one unsigned byte.
    public mutating func readU8() throws -> UInt8 { try readInteger(UInt8.self) }
    /// Reads one signed byte.
    public mutating func readI8() throws -> Int8 { try readInteger(Int8.self) }
    /// Reads a little-endian UInt16.
    public mutating func readU16() throws -> UInt16 { try readInteger(UInt16.self) }
    /// Reads a little-endian Int16.
    public mutating func readI16() throws -> Int16 { try readInteger(Int16.self) }
    /// Reads a little-endian UInt32.
    public mutating func readU32() throws -> UInt32 { try readInteger(UInt32.self) }
    /// Reads a little-endian Int32.
    public mutating func readI32() throws -> Int32 { try readInteger(Int32.self) }
    /// Reads a little-endian UInt64.
    public mutating func readU64() throws -> UInt64 { try readInteger(UInt64.self) }
    /// Reads a little-endian Int64.
    public mutating func readI64() throws -> Int64 { try readInteger(Int64.self) }
    /// Reads a little-endian IEEE single.
    public mutating func readF32() throws -> Float { Float(bitPattern: try readU32()) }
    /// Reads a little-endian IEEE double.
    public mutating func readF64() throws -> Double { Double(bitPattern: try readU64()) }

    /// Reads `count` raw bytes as a view into the buffer (no copy).
    public mutating func readBytes(_ count: Int) throws -> UnsafeRawBufferPointer {
        try require(count)
        let view = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
        offset += count
        return view
    }

    /// Reads `count` bytes as UTF-8 text; throws if it is not valid UTF-8.
    public mutating func readUTF8(_ count: Int, what: String) throws -> String {
        let raw = try readBytes(count)
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw SieveCoreError.invalidJSON(source: source, reason: "\(what) at offset \(offset - count) is not valid UTF-8")
        }
        return text
    }

    /// Skips `count` bytes.
    public mutating func skip(_ count: Int) throws {
        try require(count)
        offset += count
    }
}
