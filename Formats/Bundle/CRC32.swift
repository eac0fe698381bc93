import CSieveChecksum

/// CRC-32 as zlib computes it (ISO-HDLC: reflected polynomial `0xEDB88320`, initial value and final XOR
/// `0xFFFFFFFF`), so Python's `zlib.crc32` checks the same bytes.
///
/// Where the CPU multiplies without carries (x86-64 PCLMULQDQ), whole 64-byte runs are folded 16 bytes at a time
/// (`sieve_crc32_fold`, CSieveChecksum): 13–14 GB/s on this machine's Zen 4, against 2 GB/s for the slicing-by-8
/// tables that take the rest, and every byte on other CPUs. `reference` is the plain bitwise form.
public struct CRC32: Sendable {
    private var state: UInt32 = 0xFFFF_FFFF

    /// The reflected polynomial.
    static let polynomial: UInt32 = 0xEDB8_8320
    /// Bytes from which `update` folds (when `folds`).
    static let foldMinimum = 256
    /// Whether this CPU runs the folding.
    static let folds = sieve_crc32_fold_available() != 0

    /// Starts an empty checksum.
    public init() {}

    /// The CRC-32 of `bytes`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }

    /// The CRC-32 of an array of bytes.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// Plain reference: one bit at a time.
    static func reference(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = (c & 1) != 0 ? polynomial ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }

    /// The checksum of the bytes seen so far.
    public var value: UInt32 { ~state }

    /// Feeds more bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var p = bytes.baseAddress, !bytes.isEmpty else { return }
        var c = state
        var n = bytes.count
        if CRC32.folds && n >= CRC32.foldMinimum {
            let folded = n & ~63
            var block: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &block) { out in
                sieve_crc32_fold(c, p, folded, out.baseAddress!)
                c = CRC32.tableUpdate(0, UnsafeRawPointer(out.baseAddress!), 16)
            }
            p += folded
            n -= folded
        }
        state = CRC32.tableUpdate(c, p, n)
    }

    /// The register `c` after `n` bytes at `p`, by the tables.
    private static func tableUpdate(_ register: UInt32, _ start: UnsafeRawPointer, _ count: Int) -> UInt32 {
        let t = tables
        var c = register, p = start, n = count
        while n >= 8 {
            c = eightBytes(p, c, t)
            p += 8
            n -= 8
        }
        while n > 0 {
            c = t[Int((c ^ UInt32(p.load(as: UInt8.self))) & 0xFF)] ^ (c >> 8)
            p += 1
            n -= 1
        }
        return c
    }

    /// The register `c` after the eight bytes at `p`.
    @inline(__always)
    private static func eightBytes(_ p: UnsafeRawPointer, _ c: UInt32, _ t: UnsafePointer<UInt32>) -> UInt32 {
        let lo = p.loadUnaligned(as: UInt32.self).littleEndian ^ c
        let hi = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
        return t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
            ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
            ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
            ^ t[256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
    }

    /// Table k maps a byte to its contribution k bytes ahead (table 0 is the classic byte-wise table). Allocated
    /// once and never freed, so that `update` reads it through a plain pointer.
    private static let tables: UnsafePointer<UInt32> = {
        let t = UnsafeMutablePointer<UInt32>.allocate(capacity: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? polynomial ^ (c >> 1) : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let previous = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (previous >> 8) ^ t[Int(previous & 0xFF)]
            }
        }
        return UnsafePointer(t)
    }()
}
