import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file. The mapping lives as long as this object (and every tensor slicing
/// it). Empty files map to an empty buffer.
public final class MappedFile: @unchecked Sendable {
    /// The file's path, used in error messages.
    public let path: String
    /// The mapped bytes.
    public let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?

    /// Maps `url` read-only.
    public init(url: URL) throws {
        path = url.path
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw SieveCoreError.cannotOpen(path: url.path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw SieveCoreError.cannotOpen(path: url.path, reason: String(cString: strerror(errno)))
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw SieveCoreError.cannotOpen(path: url.path, reason: "is a directory")
        }
        let size = Int(info.st_size)
        if size == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw SieveCoreError.cannotOpen(path: url.path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = p
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    /// The file size in bytes.
    public var count: Int { bytes.count }

    /// A bounds-checked sub-range of the mapping.
    public func slice(offset: Int, count: Int) throws -> UnsafeRawBufferPointer {
        guard offset >= 0, count >= 0, offset <= bytes.count, count <= bytes.count - offset else {
            throw SieveCoreError.truncated(source: path, offset: offset, needed: count, available: max(0, bytes.count - max(0, offset)))
        }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }

    /// Tells the kernel that the whole pages inside `range` (a part of this mapping) will not be read soon: it drops
    /// them from the process's memory, and a later read maps them from the file again (no effect on the contents).
    /// For weights the runtime has copied into another layout.
    public func releasePages(of range: UnsafeRawBufferPointer) {
        guard let start = range.baseAddress, let mapped = bytes.baseAddress,
              start >= mapped, start + range.count <= mapped + bytes.count else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (Int(bitPattern: start) + page - 1) / page * page
        let end = (Int(bitPattern: start) + range.count) / page * page
        guard first < end, let p = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(p, end - first, Int32(MADV_DONTNEED))
    }

    #if os(Linux)
    /// Bytes of this mapping resident in the process's memory (`Rss` of its entry in `/proc/self/smaps`), or nil when
    /// that cannot be read; 0 for an empty file. For checking that released pages left.
    public var residentBytes: Int? {
        guard let base else { return 0 }
        let address = UInt(bitPattern: base)
        // procfs files report size 0: read until the end rather than by size.
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/smaps"),
              let data = try? handle.readToEnd() else { return nil }
        try? handle.close()
        var inMapping = false
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
                let bounds = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
                inMapping = bounds.count == 2 && bounds[0] <= address && address < bounds[1]
            } else if inMapping, fields.first == "Rss:", fields.count >= 2, let kB = Int(fields[1]) {
                return kB * 1024
            }
        }
        return nil
    }
    #endif

    deinit {
        if let base { munmap(base, bytes.count) }
    }
}
