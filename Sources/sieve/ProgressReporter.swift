import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Progress on stderr: a redrawn bar on a terminal, a plain line per step otherwise.
final class ProgressReporter: @unchecked Sendable {
    private let label: String
    private let isTTY = isatty(STDERR_FILENO) != 0
    private let lock = NSLock()
    private var drewBar = false

    init(label: String) { self.label = label }

    func update(done: Int, total: Int, item: String) {
        lock.lock(); defer { lock.unlock() }
        if isTTY {
            let width = 30
            let filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            let line = "\r\(label) [\(bar)] \(done)/\(total) \(item.prefix(40))"
            FileHandle.standardError.write((line.padding(toLength: max(line.count, 100), withPad: " ", startingAt: 0)).data(using: .utf8)!)
            drewBar = true
        } else {
            FileHandle.standardError.write("\(label): \(done)/\(total) \(item)\n".data(using: .utf8)!)
        }
    }

    func finish() {
        lock.lock(); defer { lock.unlock() }
        if drewBar { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }
}
