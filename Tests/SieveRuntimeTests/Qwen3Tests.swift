import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
import SieveRuntime
import Testing

/// Qwen3 against libllama and an independent float64 forward pass: `tiny-qwen3` has heads of 48 values on a width
/// of 128 (Q 192 wide), per-head query and key norms whose weights are far from 1, and tied embeddings (see that
/// folder's README).
@Suite("Qwen3")
struct Qwen3Tests {
    static let sources = ["tiny-qwen3/hf", "tiny-qwen3/f32.gguf"]

    /// Expects `graph`'s outputs on the reference ids within float32 tolerance of libllama's and of the float64 pass.
    static func expectReferenceOutputs(_ graph: ModelGraph, _ what: String) throws {
        let llama = try Fixtures.references("tiny-qwen3/ref-llama-cpp.safetensors")
        let float64 = try Fixtures.references("tiny-qwen3/ref.safetensors")
        let model = try Model(graph: graph)
        let out = try model.allOutputs(try Fixtures.inputIDs(llama))
        for (name, refs, logits, hidden) in [("llama.cpp", llama, "logits.f32", "hidden_last.f32"), ("float64", float64, "logits", "hidden_last")] {
            let dLogits = maxAbsDifference(out.logits, try Fixtures.floats(refs, logits))
            let dHidden = maxAbsDifference(out.hidden, try Fixtures.floats(refs, hidden))
            print("\(what): max |Δlogit| \(dLogits), max |Δhidden_last| \(dHidden) against \(name)")
            #expect(dLogits <= Tolerance.float32Logits, "\(what) against \(name)")
            #expect(dHidden <= Tolerance.float32Activations, "\(what) against \(name)")
        }
    }

    @Test("the Hugging Face folder and llama.cpp's GGUF read as Qwen3 with per-head norms", arguments: sources)
    func structure(_ source: String) throws {
        let graph = try Fixtures.graph(source)
        #expect(graph.architecture == .qwen3)
        #expect(graph.hyperparameters.headDim == 48 && graph.hyperparameters.hiddenSize == 128)
        #expect(graph.hyperparameters.tiedEmbeddings)
        for block in graph.blocks {
            let a = block.attention
            #expect(a.queryNorm?.kind == .rms && a.keyNorm?.kind == .rms)
            #expect(a.q.bias == nil && a.k.bias == nil && a.v.bias == nil)
            #expect(graph.tensors[a.queryNorm?.weight ?? ""]?.shape == Shape([48]))
        }
    }

    @Test("logits and final hidden states within atol 1e-4 of llama.cpp's and the float64 pass", arguments: sources)
    func logits(_ source: String) throws {
        try Self.expectReferenceOutputs(try Fixtures.graph(source), source)
    }

    @Test("one token at a time through the KV cache gives the batch's logits")
    func decodeEqualsBatch() throws {
        try Fixtures.expectDecodeEqualsBatch(model: "tiny-qwen3/f32.gguf", references: "tiny-qwen3/ref-llama-cpp.safetensors", logits: "logits.f32")
    }

    @Test("conversion both ways keeps the norms: to GGUF with llama.cpp's names and keys, to a folder transformers reads")
    func conversions() throws {
        let scratch = try Fixtures.scratchFolder("qwen3")
        defer { try? FileManager.default.removeItem(at: scratch) }

        let (written, _) = try Fixtures.expectConverterGGUF(
            "tiny-qwen3", architecture: "qwen3", bitExact: false,
            integerKeys: ["qwen3.attention.key_length", "qwen3.attention.head_count_kv", "qwen3.embedding_length"], in: scratch)
        try Self.expectReferenceOutputs(try GGUFPlugin().read(URL(fileURLWithPath: written.path)), "hf → GGUF")

        let folder = scratch.appendingPathComponent("hf")
        try SafetensorsPlugin().write(try Fixtures.graph("tiny-qwen3/f32.gguf"), to: folder, options: WriteOptions())
        let config = try JSONValue.parse(contentsOf: folder.appendingPathComponent("config.json"))
        #expect(config["model_type"]?.stringValue == "qwen3")
        #expect(config["architectures"]?.arrayItems?.first?.stringValue == "Qwen3ForCausalLM")
        #expect(config["head_dim"]?.intValue == 48)
        try Self.expectReferenceOutputs(try SafetensorsPlugin().read(folder), "GGUF → hf")
    }
}
