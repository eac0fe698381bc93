import Foundation
import SieveTestSupport

/// Paths of the repository and helpers to run processes.
enum Repository {
    /// The repository's root folder.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// `Tests/Fixtures/models`.
    static let models = root.appendingPathComponent("Tests/Fixtures/models")
    /// The tiny Llama fixture (random weights, SentencePiece vocabulary of 512).
    static let tinyLlama = models.appendingPathComponent("tiny-llama")

    /// The `sieve` CLI built next to the test bundle.
    static var cli: URL {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sieve"),
            Bundle.main.bundleURL.appendingPathComponent("sieve"),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("sieve"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    /// A fresh folder under the system temporary directory.
    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-api-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// A finished process's exit status and output.
typealias ProcessOutput = ChildProcess.Result

/// Runs `executable` with `arguments` (in `directory` when given) and captures its output.
func runProcess(_ executable: URL, _ arguments: [String], in directory: URL? = nil,
                environment: [String: String]? = nil) throws -> ProcessOutput {
    try ChildProcess.run(executable, arguments, in: directory, environment: environment)
}

/// Parses a JSON object printed by a program (the test's own reader: Foundation's JSONSerialization).
func parseJSONObject(_ text: String) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        throw CocoaError(.coderReadCorrupt)
    }
    return object
}
