import Foundation
import SieveCore
import SieveTestSupport
import Testing
@testable import SieveTokenizers

/// `TokenizerDescription.huggingFaceFiles()`: the `tokenizer.json` written for a GGUF vocabulary must read back
/// (Sieve) and load in the official `tokenizers` library, both encoding llama.cpp's test vectors to their ids.
@Suite("tokenizer.json written from GGUF vocabularies")
struct HuggingFaceTokenizerWriterTests {
    /// The byte-level vocabularies with a Hugging Face form (GPT-2, Llama 3 and Qwen2 pre-tokenizers).
    static let written = ["gpt-2", "llama-bpe", "qwen2"]

    /// Whether python3 can import `tokenizers` (`make test` installs it).
    static let pythonTokenizers = ChildProcess.pythonImports("tokenizers")

    /// The two files as text (what the converter writes), parsed again into a description.
    static func readBack(_ d: TokenizerDescription) throws -> (description: TokenizerDescription, tokenizerJSON: String) {
        let files = try #require(d.huggingFaceFiles())
        let text = files.tokenizer.serialized(pretty: true)
        let back = try TokenizerDescription(huggingFaceJSON: try JSONValue.parse(text, source: "tokenizer.json"),
                                            config: try JSONValue.parse(files.config.serialized(), source: "tokenizer_config.json"),
                                            source: "written")
        return (back, text)
    }

    @Test("the written files read back to the same tokenizer", arguments: written)
    func readsBack(name: String) throws {
        guard let url = TestData.vocab(name) else { print("skipped: ggml-vocab-\(name).gguf not found; run make models"); return }
        let source = try TestData.ggufDescription(url)
        let back = try Self.readBack(source).description
        #expect(back.kind == .bytePairEncoding)
        #expect(back.preTokenizer == source.preTokenizer)
        #expect(back.tokens == source.tokens)
        #expect(back.merges == source.merges)
        #expect(back.bosID == source.bosID && back.eosID == source.eosID && back.addBOS == source.addBOS && back.addEOS == source.addEOS)
        #expect(back.tokenTypes.enumerated().allSatisfy { id, t in (t == 3) == (source.tokenTypes[id] == 3) }, "control tokens")
        let tokenizer = try Tokenizer(back)
        var failures: [String] = []
        for (input, expected) in try TestData.vectors(url) {
            let ids = tokenizer.encode(input, addSpecial: false)
            if ids != expected { failures.append("\(input.debugDescription): got \(ids), expected \(expected)") }
        }
        #expect(failures.isEmpty, "\(name): \(failures.count) mismatches:\n\(failures.joined(separator: "\n"))")
    }

    @Test("the official tokenizers library encodes llama.cpp's vectors with the written file",
          .enabled(if: pythonTokenizers, "python3 with tokenizers is required (make test installs it)"), arguments: written)
    func officialLibraryAgrees(name: String) throws {
        guard let url = TestData.vocab(name) else { print("skipped: ggml-vocab-\(name).gguf not found; run make models"); return }
        let vectors = try TestData.vectors(url)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-hf-tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokenizerURL = dir.appendingPathComponent("tokenizer.json")
        try Self.readBack(try TestData.ggufDescription(url)).tokenizerJSON.write(to: tokenizerURL, atomically: true, encoding: .utf8)
        let encoded = try TestData.tokenizersLibraryIDs(tokenizerJSON: tokenizerURL, inputs: vectors.map(\.input), in: dir)
        var failures: [String] = []
        for ((input, expected), got) in zip(vectors, encoded) {
            if got != expected { failures.append("\(input.debugDescription): tokenizers gave \(got), llama.cpp \(expected)") }
        }
        #expect(failures.isEmpty, "\(name): \(failures.count) mismatches:\n\(failures.joined(separator: "\n"))")
    }

    @Test("vocabularies without an exact Hugging Face form get no file")
    func othersHaveNoFile() throws {
        for name in ["llama-spm", "bert-bge", "falcon", "starcoder"] {
            guard let url = TestData.vocab(name) else { continue }
            let d = try TestData.ggufDescription(url)
            #expect(!d.hasHuggingFaceForm && d.huggingFaceFiles() == nil, "\(name) (\(d.kind), \(d.preTokenizer))")
        }
    }

    @Test("SmolLM2's tokenizer, chat template and special tokens survive the round trip",
          .enabled(if: TestData.smollm2 != nil, "needs the SmolLM2 GGUF (make models)"))
    func smolLM2() throws {
        let source = try TestData.ggufDescription(try #require(TestData.smollm2))
        #expect(source.preTokenizer == "smollm")
        let back = try Self.readBack(source).description
        #expect(back.tokens == source.tokens && back.merges == source.merges && back.preTokenizer == "smollm")
        #expect(back.chatTemplate == source.chatTemplate && back.bosID == source.bosID && back.eosID == source.eosID)
        let original = try Tokenizer(source), written = try Tokenizer(back)
        let messages = [ChatMessage(role: "user", content: "What is 12 + 30? Answer in 3 words.")]
        let prompt = try original.applyChatTemplate(messages)
        #expect(try written.applyChatTemplate(messages) == prompt)
        let ids = original.encode(prompt, addSpecial: false, parseSpecial: true)
        #expect(written.encode(prompt, addSpecial: false, parseSpecial: true) == ids)
        guard Self.pythonTokenizers else { return }
        // The official library reads the special tokens out of the rendered prompt as llama.cpp does.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-hf-smollm2-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokenizerURL = dir.appendingPathComponent("tokenizer.json")
        try Self.readBack(source).tokenizerJSON.write(to: tokenizerURL, atomically: true, encoding: .utf8)
        let script = "import json, sys\nfrom tokenizers import Tokenizer\nprint(json.dumps(Tokenizer.from_file(sys.argv[1]).encode(sys.argv[2], add_special_tokens=False).ids))"
        let result = try ChildProcess.python(["-c", script, tokenizerURL.path, prompt])
        #expect(result.status == 0, "\(result.stderr)")
        let python = (try JSONValue.parse(result.stdout, source: "python").arrayItems ?? []).compactMap { $0.intValue.map { Int($0) } }
        #expect(python == ids)
    }
}
