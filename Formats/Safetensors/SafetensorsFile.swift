import Foundation
import SieveCore

/// One safetensors file, memory-mapped, with its header parsed and validated as strictly as the reference
/// implementation does (and duplicate names rejected, which its JSON parser lets through).
///
/// Layout: an 8-byte little-endian header length `n`, `n` bytes of UTF-8 JSON (an object of
/// `name: {dtype, shape, data_offsets: [begin, end]}` plus an optional `__metadata__` string map), then the
/// data section, every byte of which belongs to exactly one tensor.
struct SafetensorsFile {
    /// The header size limit of the reference implementation. Checked before the header is touched.
    static let maxHeaderSize = 100_000_000

    /// One tensor entry of the header, with offsets relative to the data section.
    struct Entry {
        var name: String
        var dtype: DType
        var shape: Shape
        var begin: Int
        var end: Int
    }

    let url: URL
    let file: MappedFile
    /// File offset of the data section (8 + header length).
    let dataOffset: Int
    /// Entries in data order (ascending offsets).
    let entries: [Entry]
    /// `__metadata__`, in header order.
    let metadata: [(String, String)]

    /// Maps and validates `url`.
    init(url: URL) throws {
        let file = try MappedFile(url: url)
        let path = url.path
        let size = file.count
        guard size >= 8 else { throw SafetensorsError.fileTooSmall(path: path, size: size) }
        var reader = ByteReader(bytes: file.bytes, source: path)
        let headerLength = try reader.readU64()
        guard headerLength <= UInt64(Self.maxHeaderSize) else {
            throw SafetensorsError.headerTooLarge(path: path, length: headerLength, limit: Self.maxHeaderSize)
        }
        guard Int(headerLength) <= size - 8 else {
            throw SafetensorsError.headerPastEnd(path: path, length: headerLength, fileSize: size)
        }
        let header = try reader.readBytes(Int(headerLength))
        guard String(validating: header, as: UTF8.self) != nil else {
            throw SafetensorsError.headerNotUTF8(path: path)
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(header, source: path)
        } catch let SieveCoreError.invalidJSON(_, reason) {
            throw SafetensorsError.headerNotJSON(path: path, reason: reason)
        }
        guard let members = json.objectMembers else { throw SafetensorsError.headerNotObject(path: path) }
        try Self.rejectDuplicateKeys(header, distinctCount: members.count, path: path)

        let dataSize = size - 8 - Int(headerLength)
        var metadata: [(String, String)] = []
        var entries: [Entry] = []
        entries.reserveCapacity(members.count)
        for (name, value) in members {
            if name == "__metadata__" {
                metadata = try Self.parseMetadata(value, path: path)
            } else {
                entries.append(try Self.parseEntry(name: name, value, path: path))
            }
        }
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        try Self.checkLayout(entries, dataSize: dataSize, path: path)

        self.url = url
        self.file = file
        self.dataOffset = 8 + Int(headerLength)
        self.entries = entries
        self.metadata = metadata
    }

    /// The tensors as zero-copy views of the mapping, in data order.
    func tensors() throws -> [Tensor] {
        try entries.map { e in
            try Tensor(name: e.name, dtype: e.dtype, shape: e.shape,
                       storage: .mapped(file, offset: dataOffset + e.begin, count: e.end - e.begin), source: url.path)
        }
    }

    // MARK: Validation

    private static func parseMetadata(_ value: JSONValue, path: String) throws -> [(String, String)] {
        if value.isNull { return [] }
        guard let members = value.objectMembers else {
            throw SafetensorsError.invalidMetadata(path: path, reason: "is not an object")
        }
        return try members.map { key, item in
            guard let text = item.stringValue else {
                throw SafetensorsError.invalidMetadata(path: path, reason: "value of '\(key)' is not a string")
            }
            return (key, text)
        }
    }

    private static func parseEntry(name: String, _ value: JSONValue, path: String) throws -> Entry {
        guard value.objectMembers != nil else {
            throw SafetensorsError.invalidEntry(path: path, tensor: name, reason: "entry is not an object")
        }
        guard let dtypeName = value["dtype"]?.stringValue else {
            throw SafetensorsError.invalidEntry(path: path, tensor: name, reason: "\"dtype\" is missing or not a string")
        }
        guard let dtype = SafetensorsDType.dtype(named: dtypeName) else {
            throw SafetensorsError.unsupportedDType(path: path, tensor: name, dtype: dtypeName)
        }
        guard let shapeItems = value["shape"]?.arrayItems else {
            throw SafetensorsError.invalidEntry(path: path, tensor: name, reason: "\"shape\" is missing or not an array")
        }
        var dims: [Int] = []
        dims.reserveCapacity(shapeItems.count)
        for (axis, item) in shapeItems.enumerated() {
            guard case let .int(raw) = item, let dim = Int(exactly: raw) else {
                throw SafetensorsError.invalidShape(path: path, tensor: name, reason: "dimension \(axis) is not an integer")
            }
            guard dim >= 0 else {
                throw SafetensorsError.invalidShape(path: path, tensor: name, reason: "dimension \(axis) is negative (\(dim))")
            }
            dims.append(dim)
        }
        let shape = Shape(dims)
        guard let elements = shape.checkedElementCount else {
            throw SafetensorsError.invalidShape(path: path, tensor: name, reason: "the element count of shape \(shape) overflows")
        }
        guard let byteCount = dtype.byteCount(elements: elements) else {
            throw SafetensorsError.invalidShape(path: path, tensor: name, reason: "the byte size of shape \(shape) as \(dtypeName) overflows")
        }
        guard let offsets = value["data_offsets"]?.arrayItems, offsets.count == 2,
              case let .int(rawBegin) = offsets[0], case let .int(rawEnd) = offsets[1],
              let begin = Int(exactly: rawBegin), let end = Int(exactly: rawEnd), begin >= 0, end >= 0
        else {
            throw SafetensorsError.invalidEntry(path: path, tensor: name, reason: "\"data_offsets\" is missing or not [begin, end] of non-negative integers")
        }
        guard begin <= end else {
            throw SafetensorsError.reversedOffsets(path: path, tensor: name, begin: begin, end: end)
        }
        guard end - begin == byteCount else {
            throw SafetensorsError.byteCountMismatch(path: path, tensor: name, expected: byteCount, actual: end - begin)
        }
        return Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    /// Entries sorted by offset must tile the data section exactly: no overlap, no gap, nothing left over.
    private static func checkLayout(_ entries: [Entry], dataSize: Int, path: String) throws {
        var cursor = 0
        var previous: String?
        for e in entries {
            if e.begin < cursor, let previous {
                throw SafetensorsError.overlappingTensors(path: path, tensor: e.name, previous: previous, begin: e.begin, previousEnd: cursor)
            }
            if e.begin > cursor {
                throw SafetensorsError.gapBeforeTensor(path: path, tensor: e.name, gapStart: cursor, gapEnd: e.begin)
            }
            if e.end > dataSize {
                throw SafetensorsError.dataPastEnd(path: path, tensor: e.name, end: e.end, dataSize: dataSize)
            }
            cursor = e.end
            previous = e.name
        }
        if cursor != dataSize {
            throw SafetensorsError.uncoveredBytes(path: path, dataEnd: cursor, dataSize: dataSize)
        }
    }

    /// json-c keeps only the last of duplicate keys, so the header's top-level keys are counted with a scan
    /// that only tracks strings and nesting; when there are more keys than json-c kept, the duplicate is found
    /// by decoding each raw key (escapes included) with json-c.
    private static func rejectDuplicateKeys(_ header: UnsafeRawBufferPointer, distinctCount: Int, path: String) throws {
        let keys = HeaderKeyScanner.topLevelKeyRanges(header)
        guard keys.count != distinctCount else { return }
        var seen = Set<String>()
        for range in keys {
            let raw = UnsafeRawBufferPointer(rebasing: header[range])
            guard let key = try JSONValue.parse(raw, source: path).stringValue else { continue }
            if !seen.insert(key).inserted { throw SafetensorsError.duplicateTensor(path: path, name: key) }
        }
    }
}

/// Finds the keys of the top-level object in JSON text already known to be valid, without parsing values:
/// it only follows string literals (with backslash escapes) and bracket nesting.
enum HeaderKeyScanner {
    /// Byte ranges, quotes included, of the top-level object's keys in order of appearance.
    static func topLevelKeyRanges(_ text: UnsafeRawBufferPointer) -> [Range<Int>] {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        var ranges: [Range<Int>] = []
        var depth = 0
        var expectKey = false
        var i = 0
        while i < text.count {
            let c = text[i]
            switch c {
            case quote:
                let start = i
                i += 1
                while i < text.count, text[i] != quote {
                    i += text[i] == backslash ? 2 : 1
                }
                if depth == 1, expectKey {
                    ranges.append(start..<min(i + 1, text.count))
                    expectKey = false
                }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth == 1, c == UInt8(ascii: "{") { expectKey = true }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: ","):
                if depth == 1 { expectKey = true }
            default:
                break
            }
            i += 1
        }
        return ranges
    }
}
