import Foundation
import SieveCore
import Testing
@testable import SieveTokenizers

/// The default model's tokenizer (GGUF metadata of SmolLM2-135M-Instruct) against llama.cpp's recorded ids.
@Suite("SmolLM2 tokenizer")
struct SmolLM2TokenizerTests {
    static func prompts() throws -> [JSONValue] {
        try #require(JSONValue.parse(contentsOf: TestData.smollm2Reference)["tokenize"]?["prompts"]?.arrayItems)
    }

    @Test("reference prompts, including the chat prompt built with the model's own template")
    func referencePrompts() throws {
        guard let url = TestData.smollm2 else { print("skipped: SmolLM2 GGUF not in the model cache; run make models"); return }
        let tokenizer = try Tokenizer(TestData.ggufDescription(url))
        #expect(tokenizer.definition.preTokenizer == "smollm")
        #expect(tokenizer.eotID == 2)
        #expect(tokenizer.endOfGenerationIDs == [0, 2])
        for prompt in try Self.prompts() {
            var text = try #require(prompt["text"]?.stringValue)
            let ids = try #require(prompt["ids"]?.arrayItems).compactMap { $0.intValue }
            if let messages = prompt["messages"]?.arrayItems {
                let chat = messages.map { ChatMessage(role: $0["role"]!.stringValue!, content: $0["content"]!.stringValue!) }
                let rendered = try tokenizer.applyChatTemplate(chat, addGenerationPrompt: true)
                #expect(rendered == text)
                text = rendered
            }
            #expect(tokenizer.encode(text, addSpecial: true, parseSpecial: true) == ids, "\(prompt["name"]?.stringValue ?? "")")
            #expect(tokenizer.decode(ids, renderSpecial: true) == text)
        }
    }

    @Test("without parseSpecial, special-token text is ordinary text")
    func specialTextIsText() throws {
        guard let url = TestData.smollm2 else { print("skipped: SmolLM2 GGUF not in the model cache; run make models"); return }
        let tokenizer = try Tokenizer(TestData.ggufDescription(url))
        let plain = tokenizer.encode("<|im_start|>user", addSpecial: false)
        #expect(!plain.contains(1))
        #expect(tokenizer.encode("<|im_start|>user", addSpecial: false, parseSpecial: true).first == 1)
        #expect(tokenizer.decode(plain) == "<|im_start|>user")
    }
}
