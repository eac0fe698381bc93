import Foundation
import SieveCore
import Testing
@testable import SieveTokenizers

/// llama.cpp's own tokenizer test vectors (`models/ggml-vocab-*.gguf.inp/.out`): every input must give exactly
/// the recorded ids (no BOS/EOS, special tokens not parsed), including empty, whitespace-only and non-Latin ones.
@Suite("llama.cpp vocabulary conformance")
struct VocabConformanceTests {
    /// The vocabularies of the acceptance list, then extra ones sharing the SmolLM / GPT-2 / Falcon pre-tokenizers.
    static let names = ["gpt-2", "llama-bpe", "qwen2", "llama-spm", "phi-3", "bert-bge", "starcoder", "refact", "mpt", "falcon"]

    @Test("every .inp input tokenizes to its .out ids", arguments: names)
    func vectors(name: String) throws {
        guard let url = TestData.vocab(name) else {
            print("skipped: ggml-vocab-\(name).gguf not found; run make models")
            return
        }
        let tokenizer = try Tokenizer(TestData.ggufDescription(url))
        var failures: [String] = []
        let vectors = try TestData.vectors(url)
        #expect(vectors.count >= 46, "\(name): only \(vectors.count) test vectors")
        for (input, expected) in vectors {
            let ids = tokenizer.encode(input, addSpecial: false)
            if ids != expected { failures.append("\(input.debugDescription): got \(ids), expected \(expected)") }
        }
        #expect(failures.isEmpty, "\(name): \(failures.count) mismatches:\n\(failures.joined(separator: "\n"))")
    }

    @Test("decode(encode(x)) == x for the byte-level and SentencePiece vocabularies", arguments: ["gpt-2", "llama-bpe", "qwen2", "llama-spm", "phi-3", "starcoder"])
    func roundTrip(name: String) throws {
        guard let url = TestData.vocab(name) else {
            print("skipped: ggml-vocab-\(name).gguf not found; run make models")
            return
        }
        let tokenizer = try Tokenizer(TestData.ggufDescription(url))
        var texts = try TestData.vectors(url).map(\.input)
        if let gpl = TestData.license("GPL-3") { texts.append(gpl) }
        for text in texts {
            #expect(tokenizer.decode(tokenizer.encode(text)) == text, "\(name): \(text.prefix(60).debugDescription)")
        }
    }

    @Test("WordPiece adds [CLS] … [SEP] with special tokens")
    func wordPieceSpecials() throws {
        guard let url = TestData.vocab("bert-bge") else { print("skipped: ggml-vocab-bert-bge.gguf not found; run make models"); return }
        let tokenizer = try Tokenizer(TestData.ggufDescription(url))
        let ids = tokenizer.encode("Hello World!")
        #expect(ids == [101, 7592, 2088, 999, 102])
        #expect(tokenizer.decode(ids) == "hello world !")
    }
}
