import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
import SieveRuntime
import Testing

/// SmolLM3 against libllama and an independent float64 forward pass: `tiny-smollm3` is Llama's graph (GQA, tied
/// embeddings) whose fourth layer attends without RoPE, as transformers' default `no_rope_layers` and llama.cpp's fixed
/// step of 4 have it; `config-nope.json` moves the layers without RoPE elsewhere, which only config.json can say (see
/// that folder's README).
@Suite("SmolLM3")
struct SmolLM3Tests {
    static let sources = ["tiny-smollm3/hf", "tiny-smollm3/f32.gguf"]

    static func expectReferenceOutputs(_ graph: ModelGraph, _ what: String) throws {
        try Fixtures.expectReferenceOutputs(graph, what, model: "tiny-smollm3", llamaCpp: Tolerance.float32Logits)
    }

    @Test("the folder and llama.cpp's GGUF read as SmolLM3: the fourth layer without RoPE", arguments: sources)
    func structure(_ source: String) throws {
        let graph = try Fixtures.graph(source)
        #expect(graph.architecture == .smollm3)
        #expect(graph.hyperparameters.layersWithoutRoPE == [false, false, false, true])
        #expect(graph.hyperparameters.tiedEmbeddings)
        #expect(graph.blocks.map { $0.attention.rope == nil } == [false, false, false, true])
        #expect(graph.blocks.allSatisfy { $0.attention.rope.map { $0.style == .halfSplit } ?? true })
    }

    @Test("logits within 1e-4 of the float64 pass and of libllama", arguments: sources)
    func logits(_ source: String) throws {
        try Self.expectReferenceOutputs(try Fixtures.graph(source), source)
    }

    @Test("one token at a time through the KV cache gives the batch's logits")
    func decodeEqualsBatch() throws {
        try Fixtures.expectDecodeEqualsBatch(model: "tiny-smollm3/f32.gguf", references: "tiny-smollm3/ref.safetensors")
    }

    @Test("no_rope_layers other than every fourth: the float64 pass's logits; GGUF refuses them, leaving no file")
    func otherLayersWithoutRoPE() throws {
        let scratch = try Fixtures.scratchFolder("smollm3")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let graph = try SafetensorsPlugin().read(try Fixtures.folder("tiny-smollm3/hf", config: "tiny-smollm3/hf/config-nope.json", in: scratch))
        let flags = try #require(graph.hyperparameters.layersWithoutRoPE)
        #expect(flags != [false, false, false, true] && flags.contains(true))
        let refs = try Fixtures.references("tiny-smollm3/ref.safetensors")
        let out = try Model(graph: graph).allOutputs(try Fixtures.inputIDs(refs))
        let d = maxAbsDifference(out.logits, try Fixtures.floats(refs, "nope.logits"))
        print("config-nope.json: max |Δlogit| \(d) against float64")
        #expect(d <= Tolerance.float32Logits)
        #expect(maxAbsDifference(out.hidden, try Fixtures.floats(refs, "nope.hidden_last")) <= Tolerance.float32Activations)

        let out2 = scratch.appendingPathComponent("nope.gguf")
        #expect(throws: GGUFError.self) { try GGUFPlugin().write(graph, to: out2, options: WriteOptions()) }
        #expect(!FileManager.default.fileExists(atPath: out2.path))
        // Without the list, transformers' default: every fourth layer.
        let defaults = try SafetensorsPlugin().read(try Fixtures.folder("tiny-smollm3/hf", editing: [:], removing: ["no_rope_layers"], in: scratch))
        #expect(defaults.hyperparameters.layersWithoutRoPE == [false, false, false, true])
    }

    @Test("conversion both ways: to GGUF the converter's tensors and keys, to a folder transformers reads")
    func conversions() throws {
        let scratch = try Fixtures.scratchFolder("smollm3")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let (written, _) = try Fixtures.expectConverterGGUF(
            "tiny-smollm3", architecture: "smollm3", bitExact: true,
            integerKeys: ["smollm3.attention.head_count_kv", "smollm3.embedding_length", "smollm3.block_count",
                          "smollm3.context_length", "smollm3.feed_forward_length", "smollm3.rope.dimension_count", "smollm3.vocab_size"],
            numberKeys: ["smollm3.rope.freq_base", "smollm3.attention.layer_norm_rms_epsilon"], in: scratch)
        try Self.expectReferenceOutputs(try GGUFPlugin().read(URL(fileURLWithPath: written.path)), "hf → GGUF")

        let folder = scratch.appendingPathComponent("hf-out")
        try SafetensorsPlugin().write(try Fixtures.graph("tiny-smollm3/f32.gguf"), to: folder, options: WriteOptions())
        let config = try JSONValue.parse(contentsOf: folder.appendingPathComponent("config.json"))
        #expect(config["model_type"]?.stringValue == "smollm3" && config["architectures"]?.arrayItems?.first?.stringValue == "SmolLM3ForCausalLM")
        #expect(config["no_rope_layers"]?.arrayItems?.map { $0.intValue ?? -1 } == [1, 1, 1, 0])
        try Self.expectReferenceOutputs(try SafetensorsPlugin().read(folder), "GGUF → hf")
    }
}
