import Foundation
import SieveCore
import SieveRuntime
import SieveTokenizers
import Testing

/// Generation through `Session` on the tiny models: limits, stops, streaming, cache reuse and bad input.
@Suite("Session")
struct SessionTests {
    static func session(_ name: String = "tiny-llama", options: RuntimeOptions = RuntimeOptions()) throws -> Session {
        try Session(graph: try Fixtures.graph("\(name)/hf"), options: options)
    }

    static let greedy16 = GenerationParameters(maxTokens: 16, sampling: .greedy, stopAtEndOfGeneration: false)

    @Test("text prompts are tokenized like the reference (BOS added by SentencePiece models)")
    func promptTokens() throws {
        let ref = try Fixtures.json("tiny-llama/ref.json")
        let session = try Self.session()
        let text = try #require(ref["text"]?.stringValue)
        #expect(try session.tokens(for: .text(text)) == (try #require(ref["input_ids"]?.arrayItems)).compactMap(\.intValue))
    }

    @Test("a second prompt sharing the first one's prefix reuses the cache and gives the same tokens")
    func cacheReuse() throws {
        let ref = try Fixtures.json("tiny-llama/ref.json")
        let ids = try #require(ref["input_ids"]?.arrayItems).compactMap(\.intValue)
        let expected = try #require(ref["greedy_continuation"]?["ids"]?.arrayItems).compactMap(\.intValue)
        let session = try Self.session()
        let first = try session.complete(prompt: .tokens(Array(ids[0..<12])), parameters: Self.greedy16)
        #expect(first.evaluatedPromptTokens == 12)
        let second = try session.complete(prompt: .tokens(ids), parameters: Self.greedy16)
        #expect(second.evaluatedPromptTokens == 12)
        #expect(second.tokens == expected)
        // The same prompt again: only its last token is evaluated.
        let third = try session.complete(prompt: .tokens(ids), parameters: Self.greedy16)
        #expect(third.evaluatedPromptTokens == 1)
        #expect(third.tokens == expected)
    }

    @Test("the text of the pieces is the decoded continuation")
    func pieces() throws {
        let session = try Self.session("tiny-llama-bpe")
        let ref = try Fixtures.json("tiny-llama-bpe/ref.json")
        var streamed = ""
        var tokens: [Int] = []
        let result = try session.complete(prompt: .text(try #require(ref["text"]?.stringValue)), parameters: Self.greedy16) { piece in
            streamed += piece.text
            if let t = piece.token { tokens.append(t) }
            return true
        }
        #expect(streamed == result.text)
        #expect(tokens == result.tokens)
        #expect(result.text == session.tokenizer.decode(result.tokens))
        #expect(result.text == ref["greedy_continuation"]?["text"]?.stringValue)
    }

    @Test("a stop string ends generation; the text stops before it")
    func stopString() throws {
        let session = try Self.session("tiny-llama-bpe")
        let ref = try Fixtures.json("tiny-llama-bpe/ref.json")
        let prompt = Prompt.text(try #require(ref["text"]?.stringValue))
        let full = try session.complete(prompt: prompt, parameters: Self.greedy16).text
        // Stop at a piece of the text that starts after the first few characters.
        let start = full.index(full.startIndex, offsetBy: 4)
        let stop = String(full[start..<full.index(start, offsetBy: 3)])
        var parameters = Self.greedy16
        parameters.stopStrings = ["never appears ✗", stop]
        var streamed = ""
        let result = try session.complete(prompt: prompt, parameters: parameters) { streamed += $0.text; return true }
        #expect(result.stopReason == .stopString)
        #expect(result.text == String(full[..<full.range(of: stop)!.lowerBound]))
        #expect(streamed == result.text)
    }

    @Test("an end-of-generation token stops generation and is not rendered")
    func endOfGeneration() throws {
        let graph = try Fixtures.graph("tiny-llama/hf")
        let model = try Model(graph: graph)
        let prompt = Prompt.tokens([1, 45, 96])
        let first = try Session(model: model, tokenizer: try Tokenizer(graph: graph, source: "tiny-llama"))
            .complete(prompt: prompt, parameters: Self.greedy16).tokens[0]
        // The same model with a tokenizer that calls that first token EOS.
        var description = try #require(graph.tokenizer)
        description.eosID = first
        let session = Session(model: model, tokenizer: try Tokenizer(description))
        let result = try session.complete(prompt: prompt, parameters: GenerationParameters(maxTokens: 8, sampling: .greedy))
        #expect(result.tokens == [first])
        #expect(result.stopReason == .endOfGeneration)
        #expect(result.text == "")
    }

    @Test("the caller can stop early")
    func callerStops() throws {
        let session = try Self.session()
        var count = 0
        let result = try session.complete(prompt: .tokens([1, 45, 96]), parameters: Self.greedy16) { piece in
            count += piece.token == nil ? 0 : 1
            return count < 3
        }
        #expect(result.tokens.count == 3)
    }

    @Test("the async stream yields the same pieces and ends with the result")
    func asyncStream() async throws {
        let session = try Self.session()
        let ref = try Fixtures.json("tiny-llama/ref.json")
        let ids = try #require(ref["input_ids"]?.arrayItems).compactMap(\.intValue)
        var tokens: [Int] = []
        var final: GenerationResult?
        for try await piece in session.generate(prompt: .tokens(ids), parameters: Self.greedy16) {
            if let t = piece.token { tokens.append(t) }
            if let r = piece.result { final = r }
        }
        #expect(tokens == (try #require(ref["greedy_continuation"]?["ids"]?.arrayItems)).compactMap(\.intValue))
        #expect(final?.tokens == tokens)
    }

    @Test("sampling with a seed is reproducible")
    func seededSampling() throws {
        let session = try Self.session()
        let parameters = GenerationParameters(maxTokens: 12, sampling: SamplingParameters(temperature: 0.9, seed: 42), stopAtEndOfGeneration: false)
        let a = try session.complete(prompt: .tokens([1, 450]), parameters: parameters)
        let b = try session.complete(prompt: .tokens([1, 450]), parameters: parameters)
        #expect(a.tokens == b.tokens)
    }

    @Test("bad input is a clear error and leaves nothing half-done")
    func badInput() throws {
        let session = try Self.session(options: RuntimeOptions(contextLength: 32))
        let trained = session.model.hyperparameters.contextLength
        #expect(trained >= 38)
        #expect(throws: SieveRuntimeError.contextOverflow(promptTokens: 30, generateTokens: 8, context: 32, trainedContext: trained)) {
            try session.complete(prompt: .tokens(Array(repeating: 5, count: 30)), parameters: GenerationParameters(maxTokens: 8))
        }
        let message = SieveRuntimeError.contextOverflow(promptTokens: 30, generateTokens: 8, context: 32, trainedContext: trained).localizedDescription
        #expect(message.contains("prompt of 30 tokens + 8 to generate exceeds the context of 32; pass --ctx 38 or more"))
        // Past the trained context, a larger --ctx cannot help: the message says so.
        let past = SieveRuntimeError.contextOverflow(promptTokens: 250, generateTokens: 10, context: 256, trainedContext: 256).localizedDescription
        #expect(past == "prompt of 250 tokens + 10 to generate exceeds the model's trained context of 256 positions; shorten the prompt or lower -n.")
        #expect(throws: SieveRuntimeError.self) { try session.complete(prompt: .tokens([1]), parameters: GenerationParameters(maxTokens: 0)) }
        #expect(throws: SieveRuntimeError.self) {
            try session.complete(prompt: .tokens([1]), parameters: GenerationParameters(sampling: SamplingParameters(temperature: -1)))
        }
        #expect(throws: SieveRuntimeError.self) {
            try session.complete(prompt: .tokens([1]), parameters: GenerationParameters(sampling: SamplingParameters(topP: 1.5)))
        }
        #expect(throws: SieveRuntimeError.tokenOutOfRange(token: 600, vocabularySize: 512)) {
            try session.complete(prompt: .tokens([1, 600]), parameters: GenerationParameters(maxTokens: 2))
        }
        #expect(throws: SieveRuntimeError.self) { try session.complete(prompt: .tokens([]), parameters: GenerationParameters(maxTokens: 2)) }
        // After the errors the session still generates correctly.
        let ref = try Fixtures.json("tiny-llama/ref.json")
        let ids = try #require(ref["input_ids"]?.arrayItems).compactMap(\.intValue)
        let ok = try session.complete(prompt: .tokens(Array(ids.prefix(16))), parameters: GenerationParameters(maxTokens: 4, sampling: .greedy))
        #expect(ok.tokens.count <= 4)
    }

    @Test("a bad token id in a long prompt leaves the cache untouched")
    func badTokenKeepsCache() throws {
        let model = try Fixtures.model("tiny-llama/hf", options: RuntimeOptions(batchSize: 4))
        try model.evaluate([1, 2, 3], outputs: .none) { _, _ in }
        #expect(throws: SieveRuntimeError.tokenOutOfRange(token: -1, vocabularySize: 512)) {
            try model.evaluate([5, 6, 7, 8, 9, 10, -1], outputs: .none) { _, _ in }
        }
        #expect(model.position == 3)
    }

    @Test("a context larger than the model's or a bad thread count is rejected")
    func badOptions() throws {
        let graph = try Fixtures.graph("tiny-llama/hf")
        #expect(throws: SieveRuntimeError.self) { try Model(graph: graph, options: RuntimeOptions(contextLength: 100_000)) }
        #expect(throws: SieveRuntimeError.self) { try Model(graph: graph, options: RuntimeOptions(contextLength: 0)) }
        #expect(throws: SieveRuntimeError.self) { try Model(graph: graph, options: RuntimeOptions(threads: 0)) }
        #expect(try Model(graph: graph).contextLength == 256)
    }

    @Test("a graph with a missing tensor fails to compile, naming the tensor")
    func missingTensor() throws {
        var graph = try Fixtures.graph("tiny-llama/hf")
        graph.tensors.remove("blocks.1.ffn.down.weight")
        #expect(throws: SieveCoreError.missingTensor(source: "model", name: "blocks.1.ffn.down.weight")) { try Model(graph: graph) }
    }

    @Test("an f16 KV cache stays close to the f32 one")
    func halfCache() throws {
        let refs = try Fixtures.references("tiny-llama/ref.safetensors")
        let ids = try Fixtures.inputIDs(refs)
        let model = try Fixtures.model("tiny-llama/hf", options: RuntimeOptions(kvCacheType: .f16))
        let d = maxAbsDifference(try model.allOutputs(ids).logits, try Fixtures.floats(refs, "logits"))
        print("tiny-llama f16 KV cache: max |Δlogit| \(d)")
        // llama.cpp's default f16 cache is 3e-3 … 9e-3 away on these models.
        #expect(d <= 1e-2)
    }

    @Test("prefill in small batches equals one batch")
    func batching() throws {
        let refs = try Fixtures.references("tiny-qwen2/ref.safetensors")
        let ids = try Fixtures.inputIDs(refs)
        let model = try Fixtures.model("tiny-qwen2/hf", options: RuntimeOptions(batchSize: 5))
        let d = maxAbsDifference(try model.allOutputs(ids).logits, try Fixtures.floats(refs, "logits"))
        #expect(d <= Tolerance.float32Logits)
    }
}
