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
        try Self.checkDestination(destination, overwrite: overwrite)
        let dir = destination.deletingLastPathComponent()
        let name = ".\(destination.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        temporary = dir.appendingPathComponent(name)
        fd = TemporaryFileRegistry.shared.create(temporary.path)
        guard fd >= 0 else {
            throw SieveCoreError.writeFailed(path: destination.path, reason: fd == -2 ? "interrupted" : String(cString: strerror(errno)))
        }
    }

    /// Throws unless `destination` can be written: its folder must exist and be writable, and an existing file
    /// there needs `overwrite` (an existing folder is left to writers that write into folders). Commands that work
    /// for a while before writing call this first, so that a wrong output path fails at once rather than after
    /// the work.
    public static func checkDestination(_ destination: URL, overwrite: Bool) throws {
        let folder = destination.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SieveCoreError.writeFailed(path: destination.path, reason: "the folder \(folder) does not exist (create it first)")
        }
        guard access(folder, W_OK) == 0 else {
            throw SieveCoreError.writeFailed(path: destination.path, reason: "the folder \(folder) is not writable")
        }
        var existingIsDirectory: ObjCBool = false
        if !overwrite && FileManager.default.fileExists(atPath: destination.path, isDirectory: &existingIsDirectory),
           !existingIsDirectory.boolValue {
            throw SieveCoreError.outputExists(path: destination.path)
        }
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
        finished = true
        if let reason = TemporaryFileRegistry.shared.commit(temporary.path, to: destination.path) {
            throw SieveCoreError.writeFailed(path: destination.path, reason: "rename: \(reason)")
        }
    }

    /// Abandons the write and removes the temporary file.
    public func discard() {
        guard !finished else { return }
        if fd >= 0 { close(fd); fd = -1 }
        TemporaryFileRegistry.shared.discard(temporary.path)
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
///
/// Creating, renaming and removing a temporary file happen under one lock that the signal handler takes and never
/// releases (it ends the process with `_exit`), so after an interrupt no temporary file can appear or survive: either
/// the rename happened (the destination is complete, fsync'ed before) or the temporary file is removed.
public final class TemporaryFileRegistry: @unchecked Sendable {
    /// The process-wide registry.
    public static let shared = TemporaryFileRegistry()
    private let lock = NSLock()
    private var paths: Set<String> = []
    private var interrupted = false
    private var interruptHandler: (@Sendable (Int32) -> Bool)?

    /// Creates `path` exclusively and registers it; -1 (errno set) on failure, -2 after an interrupt.
    func create(_ path: String) -> Int32 {
        lock.lock(); defer { lock.unlock() }
        if interrupted { return -2 }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        if fd >= 0 { paths.insert(path) }
        return fd
    }

    /// Renames a registered temporary file onto `destination`; the failure reason (and the file removed) or nil.
    func commit(_ path: String, to destination: String) -> String? {
        lock.lock(); defer { lock.unlock() }
        paths.remove(path)
        if rename(path, destination) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(path)
            return reason
        }
        return nil
    }

    /// Removes a registered temporary file.
    func discard(_ path: String) {
        lock.lock(); defer { lock.unlock() }
        unlink(path)
        paths.remove(path)
    }

    /// Removes every registered temporary file.
    public func removeAll() {
        lock.lock(); defer { lock.unlock() }
        for p in paths { unlink(p) }
        paths.removeAll()
    }

    /// Lets a command handle interrupts itself (`sieve run` stops generating and prints what it has): `handler` is
    /// called with the signal and returns true when it handled it; false (or no handler) removes the temporary
    /// files and exits.
    public func setInterruptHandler(_ handler: (@Sendable (Int32) -> Bool)?) {
        lock.lock(); interruptHandler = handler; lock.unlock()
    }

    /// Handles SIGINT/SIGTERM: the registered handler first; else removes the temporary files and ends the process
    /// with status 128 + signal, holding the lock so no new temporary file can be created meanwhile.
    func interrupt(_ sig: Int32) {
        lock.lock()
        let handler = interruptHandler
        lock.unlock()
        if let handler, handler(sig) { return }
        lock.lock()
        interrupted = true
        for p in paths { unlink(p) }
        let note = paths.isEmpty ? "sieve: interrupted\n" : "sieve: interrupted; removed the partial output\n"
        _ = note.withCString { Glibc.write(STDERR_FILENO, $0, strlen($0)) }
        _exit(128 + sig)
    }

    /// Installs SIGINT/SIGTERM handlers that remove temporary files and exit with 128 + signal.
    public static func installSignalHandlers() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { TemporaryFileRegistry.shared.interrupt(sig) }
            source.resume()
            retainedSources.append(source)
        }
    }
    nonisolated(unsafe) private static var retainedSources: [DispatchSourceSignal] = []
}
