import CZstd

/// Thin wrapper over libzstd: one-shot frames and a streaming decoder, with a declared output cap so a
/// corrupt or hostile frame cannot make Sieve allocate without bound.
public enum Zstd {
    /// Compresses `input` into a single zstd frame (with content size and checksum) at `level` (1…19).
    public static func compress(_ input: UnsafeRawBufferPointer, level: Int32 = 3) throws -> [UInt8] {
        guard let cctx = ZSTD_createCCtx() else { throw SieveCoreError.compression(source: "zstd", reason: "cannot create context") }
        defer { ZSTD_freeCCtx(cctx) }
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)
        let bound = ZSTD_compressBound(input.count)
        var out = [UInt8](repeating: 0, count: bound)
        let written = out.withUnsafeMutableBytes { dst in
            ZSTD_compress2(cctx, dst.baseAddress, bound, input.baseAddress, input.count)
        }
        if ZSTD_isError(written) != 0 {
            throw SieveCoreError.compression(source: "zstd", reason: String(cString: ZSTD_getErrorName(written)))
        }
        out.removeSubrange(written...)
        return out
    }

    /// Compresses an array of bytes.
    public static func compress(_ input: [UInt8], level: Int32 = 3) throws -> [UInt8] {
        try input.withUnsafeBytes { try compress($0, level: level) }
    }

    /// Decompresses one or more concatenated frames into exactly `expectedSize` bytes written to `output`.
    /// Throws if the data is corrupt, its checksum fails, or it decodes to any other size.
    public static func decompress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, source: String) throws {
        guard let dctx = ZSTD_createDCtx() else { throw SieveCoreError.compression(source: source, reason: "cannot create context") }
        defer { ZSTD_freeDCtx(dctx) }
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var outBuffer = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
        while true {
            let r = ZSTD_decompressStream(dctx, &outBuffer, &inBuffer)
            if ZSTD_isError(r) != 0 {
                throw SieveCoreError.compression(source: source, reason: String(cString: ZSTD_getErrorName(r)))
            }
            if r == 0 && inBuffer.pos == inBuffer.size { break }
            if outBuffer.pos == outBuffer.size {
                // Output full: any further decoded byte means the data is larger than declared.
                var probe: UInt8 = 0
                let extra = withUnsafeMutableBytes(of: &probe) { p -> Int in
                    var spill = ZSTD_outBuffer(dst: p.baseAddress, size: 1, pos: 0)
                    let r2 = ZSTD_decompressStream(dctx, &spill, &inBuffer)
                    return ZSTD_isError(r2) != 0 ? -1 : spill.pos
                }
                if extra != 0 {
                    throw SieveCoreError.compression(source: source, reason: "data decodes to more than the declared \(output.count) bytes")
                }
                if inBuffer.pos == inBuffer.size { break }
            }
            if inBuffer.pos == inBuffer.size && r != 0 {
                throw SieveCoreError.compression(source: source, reason: "frame is truncated")
            }
        }
        guard outBuffer.pos == output.count else {
            throw SieveCoreError.compression(source: source, reason: "data decodes to \(outBuffer.pos) bytes, declared \(output.count)")
        }
    }

    /// Decompresses to a new array of `expectedSize` bytes, refusing sizes above `limit`.
    public static func decompress(_ input: UnsafeRawBufferPointer, expectedSize: Int, limit: Int = 1 << 32, source: String) throws -> [UInt8] {
        guard expectedSize >= 0, expectedSize <= limit else {
            throw SieveCoreError.limitExceeded(source: source, what: "declared decompressed size", value: expectedSize, limit: limit)
        }
        var out = [UInt8](repeating: 0, count: expectedSize)
        try out.withUnsafeMutableBytes { try decompress(input, into: $0, source: source) }
        return out
    }
}
