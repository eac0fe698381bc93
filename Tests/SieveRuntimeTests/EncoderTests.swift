import Foundation
import SafetensorsFormat
import SieveCore
import SieveRuntime
import SieveTokenizers
import Testing

/// The BERT encoder path (bidirectional attention, post-norm, token types, mean pooling) on all-MiniLM-L6-v2
/// (fetched by `make models`), against an independent float64 numpy forward pass
/// (`Fixtures/make_minilm_reference.py`, output in `Fixtures/minilm-reference.json`).
@Suite("BERT encoder (all-MiniLM-L6-v2)", .enabled(if: Fixtures.miniLM != nil, "needs `make models`"))
struct EncoderTests {
    @Test("last hidden state and mean-pooled embedding within atol 1e-4 of the reference")
    func embedding() throws {
        let reference = try JSONValue.parse(contentsOf: Fixtures.own.appendingPathComponent("minilm-reference.json"))
        let ids = try #require(reference["input_ids"]?.arrayItems).compactMap(\.intValue)
        let expectedPooled = try #require(reference["mean_pooled"]?.arrayItems).compactMap(\.doubleValue).map(Float.init)
        let expectedRow0 = try #require(reference["hidden_last_row0"]?.arrayItems).compactMap(\.doubleValue).map(Float.init)
        let graph = try SafetensorsPlugin().read(try #require(Fixtures.miniLM))
        let model = try Model(graph: graph)
        #expect(!model.hasLanguageModelHead && !model.isCausal)
        var row0: [Float] = []
        try model.evaluate(ids, outputs: .range(0..<1)) { _, output in
            row0 = Array(output.hidden)
            #expect(output.logits.isEmpty)
        }
        let pooled = try model.embedding(ids)
        let dRow = maxAbsDifference(row0, expectedRow0)
        let dPooled = maxAbsDifference(pooled, expectedPooled)
        print("all-MiniLM-L6-v2: max |Δhidden| row 0 \(dRow), mean-pooled \(dPooled)")
        #expect(dRow <= Tolerance.float32Activations)
        #expect(dPooled <= Tolerance.float32Activations)
        let normalized = try model.embedding(ids, normalize: true)
        #expect(abs(normalized.reduce(0) { $0 + $1 * $1 } - 1) <= 1e-5)
        // The tokenizer gives the same ids for the sentence.
        let tokenizer = try Tokenizer(graph: graph, source: "all-MiniLM-L6-v2")
        #expect(tokenizer.encode("The quick brown fox jumps over the lazy dog.") == ids)
    }

    @Test("an encoder cannot generate, and reads one sequence from an empty cache")
    func encoderErrors() throws {
        let graph = try SafetensorsPlugin().read(try #require(Fixtures.miniLM))
        let session = try Session(graph: graph)
        #expect(throws: SieveRuntimeError.wrongModelKind(operation: "generation", architecture: "bert")) {
            try session.complete(prompt: .tokens([101, 1996, 102]), parameters: GenerationParameters(maxTokens: 4))
        }
        let model = session.model
        model.reset()
        try model.evaluate([101, 1996], outputs: .none) { _, _ in }
        #expect(throws: SieveRuntimeError.self) { try model.evaluate([102], outputs: .none) { _, _ in } }
    }
}

extension Fixtures {
    /// all-MiniLM-L6-v2, fetched by `make models` into `$SIEVE_MODELS` (default `~/.cache/sieve/models`).
    static var miniLM: URL? {
        let models = ProcessInfo.processInfo.environment["SIEVE_MODELS"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/sieve/models").path
        let url = URL(fileURLWithPath: models).appendingPathComponent("all-MiniLM-L6-v2")
        return FileManager.default.fileExists(atPath: url.appendingPathComponent("model.safetensors").path) ? url : nil
    }
}
