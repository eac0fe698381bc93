import Foundation
import SieveTestSupport
import SafetensorsFormat
import SieveCore

/// Locations of the checked-in fixtures and helpers shared by the suites.
enum Fixtures {
    /// This target's own fixtures: expected values and the Python scripts that check against the library.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The repository's shared model fixtures (`Tests/Fixtures/models`).
    static let sharedModels = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models")

    /// The model fixtures, one Hugging Face folder each.
    static let models = ["tiny-llama", "tiny-llama-bpe", "tiny-qwen2", "tiny-gpt2", "tiny-opt", "tiny-llama-sharded", "docs-opt-relu"]

    /// The fixtures with a single `model.safetensors` written by the official library.
    static let singleFileModels = models.filter { $0 != "tiny-llama-sharded" }

    /// The Hugging Face folder of a model fixture.
    static func folder(_ model: String) -> URL { sharedModels.appendingPathComponent(model).appendingPathComponent("hf") }

    /// A parsed JSON file of the fixtures folder.
    static func json(_ name: String) throws -> JSONValue {
        try JSONValue.parse(contentsOf: root.appendingPathComponent(name))
    }

    /// The folder `make models` fetches all-MiniLM-L6-v2 into.
    static var miniLMFolder: URL {
        let base = ProcessInfo.processInfo.environment["SIEVE_MODELS"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/sieve/models")
        return base.appendingPathComponent("all-MiniLM-L6-v2")
    }

    static var miniLMPresent: Bool {
        FileManager.default.fileExists(atPath: miniLMFolder.appendingPathComponent("model.safetensors").path)
    }
}

/// A fresh temporary folder, removed when the value is released.
final class TemporaryFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// A path inside the folder.
    func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Runs the Python scripts of the fixtures folder with the official `safetensors` library.
enum Python {
    /// Whether `python3` with `safetensors` and `numpy` is available.
    static let hasSafetensors = ChildProcess.pythonImports("safetensors, numpy")

    /// Runs `python3 arguments…`, returning the exit status and standard output (standard error appended).
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let result = try ChildProcess.python(arguments)
        return (result.status, result.stdout + result.stderr)
    }
}

extension Tensor {
    /// The sha256 of the stored bytes.
    var sha256: String { SHA256.hex(bytes) }

    /// Whether `other` has the same dtype, shape and bytes (memcmp, fast even in debug builds).
    func sameContents(as other: Tensor) -> Bool {
        dtype == other.dtype && shape == other.shape && byteCount == other.byteCount
            && (byteCount == 0 || memcmp(bytes.baseAddress!, other.bytes.baseAddress!, byteCount) == 0)
    }

    /// Whether the tensor is a zero-copy view of a mapped file.
    var isMapped: Bool {
        if case .mapped = storage { return true }
        return false
    }
}

/// Builds safetensors files byte by byte, for malformed-input tests.
enum RawSafetensors {
    /// `header` (its UTF-8 bytes) behind an 8-byte little-endian length, followed by `data`.
    static func file(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
        file(headerBytes: Array(header.utf8), data: data, declaredLength: declaredLength)
    }

    static func file(headerBytes: [UInt8], data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
        let length = declaredLength ?? UInt64(headerBytes.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * UInt64($0))) } + headerBytes + data
    }

    /// Writes `bytes` to `name` in `folder`.
    @discardableResult
    static func write(_ bytes: [UInt8], _ name: String, in folder: TemporaryFolder) throws -> URL {
        let url = folder.file(name)
        try Data(bytes).write(to: url)
        return url
    }
}
