import Foundation
import SieveCore
import Testing
@testable import SieveTokenizers

/// Tokenizers built from `tokenizer.json` reproduce transformers' reference ids, and agree with the tokenizer
/// built from the GGUF of the same model.
@Suite("tokenizer.json and GGUF of the tiny models")
struct HuggingFaceTokenizerTests {
    static let models = ["tiny-llama", "tiny-llama-bpe", "tiny-qwen2", "tiny-gpt2", "tiny-opt", "docs-opt-relu"]

    /// `ref.json`'s text and input ids.
    static func reference(_ model: String) throws -> (text: String, ids: [Int]) {
        let url = try #require(TestData.model("\(model)/ref.json"))
        let ref = try JSONValue.parse(contentsOf: url)
        let text = try #require(ref["text"]?.stringValue)
        let ids = try #require(ref["input_ids"]?.arrayItems).compactMap { $0.intValue }
        return (text, ids)
    }

    @Test("tokenizer.json gives transformers' input_ids", arguments: models)
    func referenceIDs(model: String) throws {
        let folder = try #require(TestData.model("\(model)/hf"))
        let tokenizer = try Tokenizer(TestData.huggingFaceDescription(folder))
        let (text, ids) = try Self.reference(model)
        #expect(tokenizer.encode(text) == ids)
        #expect(tokenizer.decode(ids) == text)
    }

    @Test("what tokenizer.json maps to", arguments: [
        ("tiny-llama", TokenizerKind.sentencePiece, "default", true),
        ("tiny-llama-bpe", .bytePairEncoding, "gpt-2", false),
        ("tiny-qwen2", .bytePairEncoding, "qwen2", false),
        ("tiny-opt", .bytePairEncoding, "gpt-2", true),
    ])
    func mapping(model: String, kind: TokenizerKind, pre: String, addBOS: Bool) throws {
        let d = try TestData.huggingFaceDescription(try #require(TestData.model("\(model)/hf")))
        #expect(d.kind == kind)
        #expect(d.preTokenizer == pre)
        #expect(d.addBOS == addBOS)
    }

    /// GGUF files of the same models (the f32 conversions are rebuilt by `scripts/rebuild-gguf-fixtures.py`).
    static let ggufs = [("tiny-llama", "tiny-llama/q4_0.gguf"), ("tiny-llama-bpe", "tiny-llama-bpe/q8_0.gguf"),
                        ("tiny-qwen2", "tiny-qwen2/f32.gguf"), ("tiny-gpt2", "tiny-gpt2/f32.gguf")]

    @Test("the GGUF gives the same reference ids", arguments: ggufs)
    func ggufReferenceIDs(model: String, file: String) throws {
        guard let url = TestData.model(file) else {
            print("skipped: \(file) not found (run `make models` or scripts/rebuild-gguf-fixtures.py)")
            return
        }
        let tokenizer = try Tokenizer(TestData.ggufDescription(url))
        let (text, ids) = try Self.reference(model)
        #expect(tokenizer.encode(text) == ids)
    }

    /// GPL-3 token counts recorded in the fixtures' README (llama-perplexity and transformers agree on them).
    @Test("GPL-3 token counts", arguments: [("tiny-llama-bpe", 15_638), ("tiny-qwen2", 15_656), ("tiny-gpt2", 15_638), ("tiny-opt", 15_697)])
    func gplCounts(model: String, count: Int) throws {
        guard let gpl = TestData.license("GPL-3") else { print("skipped: /usr/share/common-licenses/GPL-3 absent"); return }
        let tokenizer = try Tokenizer(TestData.huggingFaceDescription(try #require(TestData.model("\(model)/hf"))))
        let ids = tokenizer.encode(gpl)
        #expect(ids.count == count)
        #expect(tokenizer.decode(ids) == gpl)
    }

    @Test("tokenizer.json and GGUF agree on whole texts", arguments: ggufs)
    func jsonEqualsGGUF(model: String, file: String) throws {
        guard let url = TestData.model(file) else {
            print("skipped: \(file) not found (only in the shared fixture set)")
            return
        }
        let json = try Tokenizer(TestData.huggingFaceDescription(try #require(TestData.model("\(model)/hf"))))
        let gguf = try Tokenizer(TestData.ggufDescription(url))
        var texts = [try Self.reference(model).text, "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～",
                     "  multiple   spaces\tand\n\n\n tabs  "]
        for name in ["GPL-3", "Apache-2.0", "MPL-2.0"] { if let t = TestData.license(name) { texts.append(t) } }
        for text in texts {
            let ids = gguf.encode(text)
            #expect(json.encode(text) == ids, "\(model): \(text.prefix(40).debugDescription)")
            #expect(gguf.decode(ids) == text)
        }
        if model == "tiny-llama", let gpl = TestData.license("GPL-3") {
            #expect(gguf.encode(gpl).count == 17_711) // with BOS, as llama-perplexity counts it
        }
    }

    @Test("WordPiece from tokenizer.json (all-MiniLM-L6-v2) matches llama.cpp's bert-bge vectors")
    func wordPieceJSON() throws {
        let folder = TestData.modelCache.appendingPathComponent("all-MiniLM-L6-v2")
        guard FileManager.default.fileExists(atPath: folder.appendingPathComponent("tokenizer.json").path),
              let vocab = TestData.vocab("bert-bge") else {
            print("skipped: all-MiniLM-L6-v2 or ggml-vocab-bert-bge.gguf missing; run make models and make models")
            return
        }
        let d = try TestData.huggingFaceDescription(folder)
        #expect(d.kind == .wordPiece && d.lowercase && d.continuingSubwordPrefix == "##")
        let tokenizer = try Tokenizer(d)
        for (input, expected) in try TestData.vectors(vocab) {
            #expect(tokenizer.encode(input, addSpecial: false) == expected, "\(input.debugDescription)")
        }
        let ids = tokenizer.encode("Hello, World!")
        #expect(ids.first == 101 && ids.last == 102)
        #expect(tokenizer.decode(ids) == "hello , world !")
    }

    @Test("unsupported tokenizer.json parts are errors that name them")
    func unsupported() throws {
        func description(_ text: String) throws -> TokenizerDescription {
            try TokenizerDescription(huggingFaceJSON: JSONValue.parse(text, source: "test.json"), config: nil, source: "test.json")
        }
        #expect(throws: SieveCoreError.self) { try description(#"{"model": {"type": "Unigram", "vocab": []}}"#) }
        let split = #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated"}}"#
        do {
            _ = try description(split)
            Issue.record("an unknown Split regex was accepted")
        } catch let error as SieveCoreError {
            #expect(error.localizedDescription.contains(#"\w+"#))
        }
        let d = TokenizerDescription(kind: .bytePairEncoding, tokens: ["a", "b"], merges: ["a b"], preTokenizer: "viking")
        #expect(throws: TokenizerError.unsupportedPreTokenizer(name: "viking", supported: PreTokenizer.supportedNames)) { try Tokenizer(d) }
    }
}
