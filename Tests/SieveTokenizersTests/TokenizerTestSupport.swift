import Foundation
import GGUFFormat
import SieveCore
import SieveTestSupport
@testable import SieveTokenizers

/// Where the tokenizer tests find their data.
enum TestData {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// This target's own fixtures (chat templates and the like).
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The model cache `make models` / `make models` fill.
    static var modelCache: URL {
        URL(fileURLWithPath: ProcessInfo.processInfo.environment["SIEVE_MODELS"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/sieve/models").path)
    }

    /// The vocabulary GGUF `ggml-vocab-NAME.gguf` with its `.inp`/`.out` vectors: from the cache
    /// (`make models`), else from the shared fixture set beside the repository; nil when absent.
    static func vocab(_ name: String) -> URL? {
        let file = "ggml-vocab-\(name).gguf"
        var roots = [modelCache.appendingPathComponent("vocab")]
        if let shared = ProcessInfo.processInfo.environment["SIEVE_SHARED_FIXTURES"] {
            roots.append(URL(fileURLWithPath: shared).appendingPathComponent("tokenizers"))
        }
        roots.append(repoRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures/tokenizers"))
        return roots.map { $0.appendingPathComponent(file) }.first { url in
            ["", ".inp", ".out"].allSatisfy { FileManager.default.fileExists(atPath: url.path + $0) }
        }
    }

    /// The ids the Python `tokenizers` library gives each of `inputs` (no special tokens added) with the
    /// `tokenizer.json` at `tokenizerJSON`; the inputs go through a file in `dir`.
    static func tokenizersLibraryIDs(tokenizerJSON: URL, inputs: [String], in dir: URL) throws -> [[Int]] {
        let inputsURL = dir.appendingPathComponent("inputs-\(UUID().uuidString).json")
        try JSONValue.array(inputs.map { .string($0) }).serialized().write(to: inputsURL, atomically: true, encoding: .utf8)
        let script = """
            import json, sys
            from tokenizers import Tokenizer
            t = Tokenizer.from_file(sys.argv[1])
            print(json.dumps([t.encode(s, add_special_tokens=False).ids for s in json.load(open(sys.argv[2], encoding="utf-8"))]))
            """
        let result = try ChildProcess.python(["-c", script, tokenizerJSON.path, inputsURL.path])
        guard result.status == 0, let encoded = try JSONValue.parse(result.stdout, source: "python").arrayItems, encoded.count == inputs.count else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "tokenizers failed on \(tokenizerJSON.path): \(result.stderr)"])
        }
        return encoded.map { ($0.arrayItems ?? []).compactMap { $0.intValue.map { Int($0) } } }
    }

    /// A file of the tiny models (`Tests/Fixtures/models/…`, where `make models` rebuilds the float GGUFs; else the
    /// shared set), or nil.
    static func model(_ relative: String) -> URL? {
        [repoRoot.appendingPathComponent("Tests/Fixtures/models"),
         repoRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures/models")]
            .map { $0.appendingPathComponent(relative) }
            .first { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// The default model's GGUF in the cache, or nil.
    static var smollm2: URL? {
        let url = modelCache.appendingPathComponent("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    /// The default model's reference outputs.
    static var smollm2Reference: URL { repoRoot.appendingPathComponent("Tests/Fixtures/smollm2/reference.json") }

    /// Debian's licence texts (GPL-3 is the tiny models' perplexity text), when installed.
    static func license(_ name: String) -> String? {
        try? String(contentsOfFile: "/usr/share/common-licenses/\(name)", encoding: .utf8)
    }

    /// The tokenizer description of a GGUF file.
    static func ggufDescription(_ url: URL) throws -> TokenizerDescription {
        guard let d = try GGUFTokenizerMetadata.read(GGUFFile(url: url)) else {
            throw TokenizerError.noTokenizer(source: url.path)
        }
        return d
    }

    /// The tokenizer of a Hugging Face model folder (`tokenizer.json` + `tokenizer_config.json`).
    static func huggingFaceDescription(_ folder: URL) throws -> TokenizerDescription {
        let json = try JSONValue.parse(contentsOf: folder.appendingPathComponent("tokenizer.json"))
        let configURL = folder.appendingPathComponent("tokenizer_config.json")
        let config = FileManager.default.fileExists(atPath: configURL.path) ? try JSONValue.parse(contentsOf: configURL) : nil
        return try TokenizerDescription(huggingFaceJSON: json, config: config, source: folder.path)
    }

    /// llama.cpp's test vectors: inputs split at "\n__ggml_vocab_test__\n", expected ids line by line.
    static func vectors(_ gguf: URL) throws -> [(input: String, ids: [Int])] {
        let inp = try String(contentsOfFile: gguf.path + ".inp", encoding: .utf8)
        let out = try String(contentsOfFile: gguf.path + ".out", encoding: .utf8)
        var inputs = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
        if inputs.last == "" { inputs.removeLast() }
        var lines = out.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        precondition(inputs.count == lines.count, "\(gguf.lastPathComponent): \(inputs.count) inputs, \(lines.count) outputs")
        return zip(inputs, lines).map { input, line in (input, line.split(separator: " ").map { Int($0)! }) }
    }
}
