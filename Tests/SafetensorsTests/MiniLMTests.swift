import Foundation
import SafetensorsFormat
import SieveCore
import Testing

/// The real all-MiniLM-L6-v2 checkpoint (F32 + one I64 tensor), fetched by `make models`.
@Suite("all-MiniLM-L6-v2 (real checkpoint)",
       .enabled(if: Fixtures.miniLMPresent, "all-MiniLM-L6-v2 is not in the model cache (SIEVE_MODELS or ~/.cache/sieve/models): run `make models`"))
struct MiniLMTests {
    let plugin = SafetensorsPlugin()

    @Test("every tensor's bytes have the sha256 the Python library gives")
    func tensorsMatchPython() throws {
        let expected = try #require(try Fixtures.json("minilm_expected.json")["files"]?["model.safetensors"])
        let tensors = try #require(expected["tensors"]?.objectMembers)
        let file = try plugin.readTensors(Fixtures.miniLMFolder)
        #expect(file.tensors.count == tensors.count)
        for (name, want) in tensors {
            let t = try #require(file.tensors[name], "\(name) missing")
            #expect(t.dtype.name.uppercased() == want["dtype"]?.stringValue, "\(name): dtype")
            #expect(t.shape.dims == want["shape"]?.arrayItems?.compactMap(\.intValue), "\(name): shape")
            #expect(t.sha256 == want["sha256"]?.stringValue, "\(name): bytes differ from Python's")
        }
        #expect(try #require(file.tensors["embeddings.position_ids"]).dtype == .i64)
    }

    @Test("reads as a BERT encoder with the right hyperparameters")
    func readsAsBERT() throws {
        let graph = try plugin.read(Fixtures.miniLMFolder)
        #expect(graph.architecture == .bert)
        let hp = graph.hyperparameters
        #expect(hp.layerCount == 6)
        #expect(hp.hiddenSize == 384)
        #expect(hp.headCount == 12)
        #expect(hp.vocabSize == 30522)
        #expect(hp.intermediateSize == 1536)
        #expect(hp.contextLength == 512)
        #expect(hp.tokenTypeCount == 2)
        #expect(hp.activation == .gelu)
        // 104 file tensors minus position_ids, pooler kept.
        #expect(graph.tensors.count == 103)
        #expect(graph.tensors.contains("pooler.dense.weight"))
        #expect(graph.tokenizer?.kind == .wordPiece)
        #expect(graph.blocks.allSatisfy { $0.normPlacement == .post && !$0.attention.causal })
    }
}
