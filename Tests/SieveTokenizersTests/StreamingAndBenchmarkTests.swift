import Foundation
import Testing
@testable import SieveTokenizers

@Suite("streaming decode and benchmark")
struct StreamingAndBenchmarkTests {
    @Test("streaming never emits a broken UTF-8 character and adds up to decode()", arguments: ["gpt-2", "llama-spm", "qwen2"])
    func streaming(name: String) throws {
        guard let url = TestData.vocab(name) else { print("skipped: ggml-vocab-\(name).gguf not found; run make models"); return }
        let tokenizer = try Tokenizer(TestData.ggufDescription(url))
        for text in ["🚀 (normal) 😶‍🌫️ ✅ 🦙🦙 3 33", "Cửa Việt កាន់តែពិសេសអាច我想在apple工作1314151天～", "нещо на Български"] {
            let ids = tokenizer.encode(text)
            var stream = tokenizer.makeStreamingDetokenizer(sequenceStart: true)
            var joined = ""
            for id in ids {
                let chunk = stream.append(id)
                #expect(!chunk.unicodeScalars.contains("\u{FFFD}"), "\(name): broken character after token \(id)")
                joined += chunk
            }
            joined += stream.finish()
            #expect(joined == text)
            #expect(joined == tokenizer.decode(ids))
        }
    }

    @Test("held-back bytes: only an incomplete trailing character waits")
    func completePrefix() {
        #expect(StreamingDetokenizer.completePrefix([0x61, 0xF0, 0x9F]) == 1)
        #expect(StreamingDetokenizer.completePrefix([0x61, 0xF0, 0x9F, 0x9A, 0x80]) == 5)
        #expect(StreamingDetokenizer.completePrefix([0xE2, 0x82]) == 0)
        #expect(StreamingDetokenizer.completePrefix([0x80, 0x80, 0x80, 0x80, 0x80]) == 5)
    }

    @Test("the benchmark runs and round-trips its sample text")
    func benchmark() throws {
        guard let url = TestData.vocab("gpt-2") else { print("skipped: ggml-vocab-gpt-2.gguf not found; run make models"); return }
        let text = TokenizerBenchmark.sampleText(bytes: 20_000)
        let result = try TokenizerBenchmark.run(name: "gpt-2", description: TestData.ggufDescription(url), text: text, repetitions: 1)
        #expect(result.tokens > 0 && result.roundTrips)
        #expect(TokenizerBenchmark.table([result]).contains("gpt-2"))
    }
}
