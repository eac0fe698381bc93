import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file atomically: the data goes to a temporary file in the destination's folder, is fsync'ed and
/// renamed over the destination only on success. On any error (or if `discard()` is called, or the process
/// gets SIGINT/SIGTERM while writing) the temporary file is removed and the destination stays untouched.
public final class AtomicFileWriter {
    /// The final destination.
    public let destination: URL
    /// The temporary file being written.
    public let temporary: URL
    private var fd: Int32
    private var finished = false

    /// Opens a temporary file beside `destination`. Refuses to replace an existing file unless `overwrite`.
    public init(destination: URL, overwrite: Bool) throws {
        self.destination = destination
        if !overwrite && FileManager.default.fileExists(atPath: destination.path) {
            throw SieveCoreError.outputExists(path: destination.path)
        }
        let dir = destination.deletingLastPathComponent()
        let name = ".\(destination.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        temporary = dir.appendingPathComponent(name)
        fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else {
            throw SieveCoreError.writeFailed(path: destination.path, reason: String(cString: strerror(errno)))
        }
        TemporaryFileRegistry.shared.add(temporary.path)
    }

    /// Appends bytes.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                discard()
                throw SieveCoreError.writeFailed(path: destination.path, reason: reason)
            }
            done += n
        }
    }

    /// Appends the bytes of an array.
    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    /// Appends `count` zero bytes (padding).
    public func writeZeros(_ count: Int) throws {
        if count <= 0 { return }
        try write([UInt8](repeating: 0, count: count))
    }

    /// Flushes to disk and renames the temporary file onto the destination.
    public func commit() throws {
        guard !finished else { return }
        if fsync(fd) != 0 {
            let reason = String(cString: strerror(errno))
            discard()
            throw SieveCoreError.writeFailed(path: destination.path, reason: "fsync: \(reason)")
        }
        close(fd)
        fd = -1
        if rename(temporary.path, destination.path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary.path)
            TemporaryFileRegistry.shared.remove(temporary.path)
            finished = true
            throw SieveCoreError.writeFailed(path: destination.path, reason: "rename: \(reason)")
        }
        TemporaryFileRegistry.shared.remove(temporary.path)
        finished = true
    }

    /// Abandons the write and removes the temporary file.
    public func discard() {
        guard !finished else { return }
        if fd >= 0 { close(fd); fd = -1 }
        unlink(temporary.path)
        TemporaryFileRegistry.shared.remove(temporary.path)
        finished = true
    }

    /// Runs `body` with a writer and commits, discarding the temporary file if `body` throws.
    public static func write(to destination: URL, overwrite: Bool, _ body: (AtomicFileWriter) throws -> Void) throws {
        let writer = try AtomicFileWriter(destination: destination, overwrite: overwrite)
        do {
            try body(writer)
            try writer.commit()
        } catch {
            writer.discard()
            throw error
        }
    }

    deinit { discard() }
}

/// Temporary files being written, removed by the signal handler on SIGINT/SIGTERM.
public final class TemporaryFileRegistry: @unchecked Sendable {
    public static let shared = TemporaryFileRegistry()
    private let lock = NSLock()
    private var paths: Set<String> = []

    func add(_ path: String) { lock.lock(); paths.insert(path); lock.unlock() }
    func remove(_ path: String) { lock.lock(); paths.remove(path); lock.unlock() }

    /// Removes every registered temporary file (called on interruption).
    public func removeAll() {
        lock.lock(); let current = paths; paths.removeAll(); lock.unlock()
        for p in current { unlink(p) }
    }

    /// Installs SIGINT/SIGTERM handlers that remove temporary files and exit with 128 + signal.
    public static func installSignalHandlers() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                TemporaryFileRegistry.shared.removeAll()
                exit(128 + sig)
            }
            source.resume()
            retainedSources.append(source)
        }
    }
    nonisolated(unsafe) private static var retainedSources: [DispatchSourceSignal] = []
}
