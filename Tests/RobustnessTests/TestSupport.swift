import Foundation
import SieveFuzzTargets
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `sieve` binary as a child process, with its output in files, its exit status, and its peak
/// resident memory (from `wait4`'s rusage, so it is the child's own, not the test's).
struct Child {
    /// The repository's `Tests/Fixtures` folder.
    static let fixtures = FuzzTargets.fixtures
    /// The built `sieve` beside the test bundle.
    static var sieve: String {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sieve"),
            Bundle.main.bundleURL.appendingPathComponent("sieve"),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("sieve"),
        ]
        return (candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]).path
    }

    let pid: pid_t
    let stdoutPath: String
    let stderrPath: String

    struct Result {
        /// Exit status, or nil when killed by a signal.
        var status: Int32?
        /// The signal that ended the process, if any.
        var signal: Int32?
        var stdout: String
        var stderr: String
        /// Peak resident memory in bytes (the child's own only when started `measuringMemory`).
        var maxRSS: Int
    }

    /// Where `measuringMemory` runs write the child's peak RSS (KiB).
    let rssPath: String?

    /// A child's own peak RSS cannot be read from this process's `wait4`: a child made by `posix_spawn` (vfork)
    /// inherits the test process's high-water mark. So a small Python process starts `sieve` with a real fork
    /// and reports `RUSAGE_CHILDREN.ru_maxrss` (at least Python's own ~10 MB, never the test's).
    static let rssWrapper = """
        import os, resource, subprocess, sys
        r = subprocess.run(sys.argv[2:])
        open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
        sys.exit(r.returncode if r.returncode >= 0 else 128 - r.returncode)
        """

    /// Starts `sieve arguments…` with stdout and stderr going to files in `scratch`.
    init(_ arguments: [String], scratch: URL, measuringMemory: Bool = false) throws {
        let tag = UUID().uuidString.prefix(8)
        stdoutPath = scratch.appendingPathComponent("stdout-\(tag)").path
        stderrPath = scratch.appendingPathComponent("stderr-\(tag)").path
        rssPath = measuringMemory ? scratch.appendingPathComponent("rss-\(tag)").path : nil
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let command = rssPath.map { ["/usr/bin/env", "python3", "-c", Self.rssWrapper, $0, Self.sieve] } ?? [Self.sieve]
        let argv = (command + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, command[0], &actions, nil, argv, environ)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EINVAL) }
        self.pid = pid
    }

    /// Sends `signal` to the child.
    func send(_ signal: Int32) { kill(pid, signal) }

    /// Waits for the child to end.
    func wait() -> Result {
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let signaled = (status & 0x7F) != 0 && (status & 0x7F) != 0x7F
        let out = (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        unlink(stdoutPath)
        unlink(stderrPath)
        var maxRSS = usage.ru_maxrss * 1024
        if let rssPath {
            maxRSS = (Int((try? String(contentsOfFile: rssPath, encoding: .utf8)) ?? "") ?? Int.max / 1024) * 1024
            unlink(rssPath)
        }
        return Result(status: signaled ? nil : (status >> 8) & 0xFF, signal: signaled ? status & 0x7F : nil,
                      stdout: out, stderr: err, maxRSS: maxRSS)
    }

    /// Runs `sieve arguments…` to the end (with `measuringMemory`, `maxRSS` is the child's own peak).
    static func run(_ arguments: [String], scratch: URL, measuringMemory: Bool = false) throws -> Result {
        try Child(arguments, scratch: scratch, measuringMemory: measuringMemory).wait()
    }
}

/// A temporary folder removed when the test ends.
final class Scratch {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-robustness-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// SplitMix64, for reproducible random choices in tests.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Little-endian byte building for hand-made hostile files.
struct Bytes {
    var data: [UInt8] = []
    mutating func u8(_ v: UInt8) { data.append(v) }
    mutating func u32(_ v: UInt32) { for k in 0..<4 { data.append(UInt8((v >> UInt32(8 * k)) & 0xFF)) } }
    mutating func u64(_ v: UInt64) { for k in 0..<8 { data.append(UInt8((v >> UInt64(8 * k)) & 0xFF)) } }
    mutating func ggufString(_ s: String) { u64(UInt64(s.utf8.count)); data += Array(s.utf8) }
    mutating func pad(to size: Int) { if data.count < size { data += [UInt8](repeating: 0, count: size - data.count) } }
}
