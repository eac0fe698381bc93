import Foundation

/// Runs a command for the tests (the `sieve` binary, `swift`, or python3 for the cross-checks against the official
/// Python libraries) and collects what it printed.
public enum ChildProcess {
    /// What a finished command returned.
    public struct Result: Sendable {
        /// The exit status.
        public var status: Int32
        /// Standard output, as UTF-8.
        public var stdout: String
        /// Standard error, as UTF-8.
        public var stderr: String
    }

    /// Runs `executable` with `arguments` (in `directory`, with `environment`, when given) and waits for it.
    public static func run(_ executable: URL, _ arguments: [String], in directory: URL? = nil,
                           environment: [String: String]? = nil) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Standard error drains on another thread, so that neither pipe can fill up and block the child.
        let errors = DataBox()
        let done = DispatchSemaphore(value: 0)
        Thread {
            errors.data = err.fileHandleForReading.readDataToEndOfFile()
            done.signal()
        }.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        done.wait()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errors.data, as: UTF8.self))
    }

    /// Runs `python3 arguments…` (found on the PATH).
    public static func python(_ arguments: [String]) throws -> Result {
        try run(URL(fileURLWithPath: "/usr/bin/env"), ["python3"] + arguments)
    }

    /// Whether python3 imports every module of `modules` (`"numpy, gguf"`).
    public static func pythonImports(_ modules: String) -> Bool {
        (try? python(["-c", "import \(modules)"]).status) == 0
    }
}

/// Bytes filled in by one thread and read by another after a semaphore.
private final class DataBox: @unchecked Sendable {
    var data = Data()
}
