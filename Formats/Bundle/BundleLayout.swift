import SieveCore

/// The binary parts of a bundle (SPEC.md §2–§4): header, section table, footer, and the constants they use.
enum BundleLayout {
    /// `\x89SIEVE\r\n`, at the start of the file and at its very end.
    static let magic: [UInt8] = [0x89, 0x53, 0x49, 0x45, 0x56, 0x45, 0x0D, 0x0A]
    /// The format version this code reads and writes.
    static let formatVersion = 1
    static let headerSize = 64
    static let footerSize = 32
    static let sectionEntrySize = 48
    static let frameEntrySize = 16
    /// Sections, the section table and (within sections) tensors start on multiples of this.
    static let alignment = 64
    /// The largest `frame_size` the format allows.
    static let maxFrameSize = 1 << 30

    /// `value` rounded up to a multiple of `alignment`.
    static func aligned(_ value: Int) -> Int { (value + alignment - 1) / alignment * alignment }

    /// The 64-byte header for a manifest of `manifestSize` bytes with CRC-32 `manifestCRC`.
    static func header(manifestSize: Int, manifestCRC: UInt32) -> [UInt8] {
        var w = LittleEndianWriter()
        w.append(magic)
        w.append(UInt32(formatVersion))
        w.append(UInt32(0))
        w.append(UInt64(headerSize))
        w.append(UInt64(manifestSize))
        w.append(manifestCRC)
        w.appendZeros(headerSize - w.bytes.count)
        return w.bytes
    }

    /// The section table: one 48-byte entry per section, then every section's 16-byte frame entries.
    static func table(_ sections: [BundleSection]) -> [UInt8] {
        var w = LittleEndianWriter()
        var firstFrame = 0
        for s in sections {
            w.append(UInt64(s.offset))
            w.append(UInt64(s.storedSize))
            w.append(UInt64(s.size))
            w.append(UInt32(s.frameSize))
            w.append(UInt32(firstFrame))
            w.append(UInt32(s.frames.count))
            w.append(s.compression.rawValue)
            w.appendZeros(11)
            firstFrame += s.frames.count
        }
        for s in sections {
            for f in s.frames {
                w.append(UInt64(f.storedOffset - s.offset))
                w.append(UInt32(f.storedSize))
                w.append(f.crc32)
            }
        }
        return w.bytes
    }

    /// The 32-byte footer.
    static func footer(tableOffset: Int, sectionCount: Int, frameCount: Int, tableCRC: UInt32) -> [UInt8] {
        var w = LittleEndianWriter()
        w.append(UInt64(tableOffset))
        w.append(UInt32(sectionCount))
        w.append(UInt32(frameCount))
        w.append(tableCRC)
        w.append(UInt32(0))
        w.append(magic)
        return w.bytes
    }
}

/// How a section's frames are stored.
public enum BundleCompression: UInt8, Sendable {
    /// Raw bytes: the section can be mapped and its tensors sliced zero-copy.
    case none = 0
    /// Each frame is one independent zstd frame with content size and checksum.
    case zstd = 1

    /// The name used in summaries (`none`, `zstd`).
    public var name: String { self == .none ? "none" : "zstd" }
}

/// One frame of a section: where its stored bytes are, their CRC-32, and which decompressed bytes it holds.
public struct BundleFrame: Sendable, Equatable {
    /// Absolute file offset of the stored bytes.
    public let storedOffset: Int
    /// Number of stored bytes.
    public let storedSize: Int
    /// CRC-32 of the stored bytes.
    public let crc32: UInt32
    /// The range of the section's decompressed bytes this frame holds.
    public let range: Range<Int>
}

/// A section as the section table describes it (validated when the bundle is opened).
public struct BundleSection: Sendable, Equatable {
    /// The section's name in the manifest (`embedding`, `blocks.3`, `blocks.3.ffn`, …).
    public let name: String
    /// What the section holds.
    public let kind: BundleSectionKind
    /// Position in the manifest's section list (and the section table).
    public let index: Int
    /// Absolute file offset of the stored bytes (a multiple of 64).
    public let offset: Int
    /// Bytes stored in the file.
    public let storedSize: Int
    /// Decompressed size.
    public let size: Int
    /// Decompressed bytes per frame (the last frame may be shorter).
    public let frameSize: Int
    /// How the section's frames are stored.
    public let compression: BundleCompression
    /// The frames, in order.
    public let frames: [BundleFrame]

    /// The indices of the frames holding any byte of `range` (decompressed offsets).
    public func frames(covering range: Range<Int>) -> Range<Int> {
        guard !range.isEmpty, frameSize > 0 else { return 0..<0 }
        return (range.lowerBound / frameSize)..<((range.upperBound - 1) / frameSize + 1)
    }
}

/// What a section holds (SPEC.md §5.4). Readers use it only for display.
public enum BundleSectionKind: String, Sendable, CaseIterable {
    /// Token / position / token-type embeddings and their norm.
    case embedding
    /// A block's norms and attention.
    case block
    /// A block's feed-forward weights (the blocked bundle first), biases and permutation.
    case ffn
    /// All predictor weights.
    case predictors
    /// The final norm and the LM head.
    case head
    /// Tensors no graph node refers to.
    case extra
}

/// Appends little-endian integers to a byte array.
struct LittleEndianWriter {
    private(set) var bytes: [UInt8] = []

    mutating func append(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }
    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
    mutating func appendZeros(_ count: Int) { bytes.append(contentsOf: repeatElement(0, count: count)) }
}

/// The fields of a zstd frame header (RFC 8878 §3.1.1.1) a reader checks before decoding.
struct ZstdFrameHeader {
    /// `Frame_Content_Size`, nil when the header does not declare it.
    var contentSize: Int?
    var hasChecksum: Bool
    var dictionaryID: UInt32

    /// Parses the header at the start of `bytes`; nil when it is not a zstd frame header.
    init?(_ bytes: UnsafeRawBufferPointer) {
        var r = ByteReader(bytes: bytes, source: "zstd frame")
        guard let magic = try? r.readU32(), magic == 0xFD2F_B528, let descriptor = try? r.readU8() else { return nil }
        let fcsFlag = Int(descriptor >> 6)
        let singleSegment = (descriptor >> 5) & 1 == 1
        guard (descriptor >> 3) & 1 == 0 else { return nil }
        hasChecksum = (descriptor >> 2) & 1 == 1
        if !singleSegment { guard (try? r.skip(1)) != nil else { return nil } }
        switch descriptor & 3 {
        case 0: dictionaryID = 0
        case 1: guard let v = try? r.readU8() else { return nil }; dictionaryID = UInt32(v)
        case 2: guard let v = try? r.readU16() else { return nil }; dictionaryID = UInt32(v)
        default: guard let v = try? r.readU32() else { return nil }; dictionaryID = v
        }
        switch (fcsFlag, singleSegment) {
        case (0, false): contentSize = nil
        case (0, true): guard let v = try? r.readU8() else { return nil }; contentSize = Int(v)
        case (1, _): guard let v = try? r.readU16() else { return nil }; contentSize = Int(v) + 256
        case (2, _): guard let v = try? r.readU32() else { return nil }; contentSize = Int(v)
        default:
            guard let v = try? r.readU64(), v <= UInt64(Int.max) else { return nil }
            contentSize = Int(v)
        }
    }
}
