import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
import SieveRuntime
import Testing

/// Gemma 2 against libllama and an independent float64 forward pass: `tiny-gemma2` has four layers, the even ones
/// attending through a window of 8 positions, attention scores soft-capped at 0.5 and logits at 1.5, norm weights
/// stored as offsets from 1, norms after attention and the FFN, embeddings scaled by √64, GELU-tanh GeGLU, heads of
/// 48 on a width of 64, and Gemma 3's 32 reference tokens (see that folder's README).
@Suite("Gemma 2")
struct Gemma2Tests {
    static let sources = ["tiny-gemma2/hf", "tiny-gemma2/f32.gguf"]

    /// libllama's GELU reads a table of f16 inputs, as for Gemma 3 (measured 6.6e-4 on tiny-gemma2).
    static let llamaCppLogits: Float = 2e-3

    static func expectReferenceOutputs(_ graph: ModelGraph, _ what: String) throws {
        try Fixtures.expectReferenceOutputs(graph, what, model: "tiny-gemma2", llamaCpp: llamaCppLogits)
    }

    @Test("the folder and llama.cpp's GGUF read as Gemma 2: every other layer sliding, soft caps, no head norms",
          arguments: sources)
    func structure(_ source: String) throws {
        let graph = try Fixtures.graph(source)
        let hp = graph.hyperparameters
        #expect(graph.architecture == .gemma2)
        #expect(hp.activation == .geluTanh && hp.tiedEmbeddings && hp.headDim == 48 && hp.hiddenSize == 64)
        #expect(hp.slidingWindow == SlidingWindowAttention(window: 8, slidingLayers: [true, false, true, false], ropeTheta: 10000))
        #expect(hp.attentionScale == nil && hp.attentionLogitSoftcap == 0.5 && hp.finalLogitSoftcap == 1.5)
        #expect(graph.embedding.scale == 8)
        for (i, block) in graph.blocks.enumerated() {
            let a = block.attention
            #expect(a.window == (i % 2 == 0 ? 8 : nil))
            #expect(a.rope?.theta == 10000 && a.rope?.scaling == nil)
            #expect(a.softcap == 0.5)
            #expect(a.queryNorm == nil && a.keyNorm == nil)
            #expect(block.feedForward.kind == .geglu && block.attentionOutputNorm != nil && block.feedForwardOutputNorm != nil)
        }
        #expect(graph.lmHead?.softcap == 1.5)
    }

    @Test("logits within 1e-4 of the float64 pass (and of libllama up to its f16 GELU table)", arguments: sources)
    func logits(_ source: String) throws {
        try Self.expectReferenceOutputs(try Fixtures.graph(source), source)
    }

    @Test("one token at a time through the KV cache gives the batch's logits, the window sliding over the cache")
    func decodeEqualsBatch() throws {
        try Fixtures.expectDecodeEqualsBatch(model: "tiny-gemma2/f32.gguf", references: "tiny-gemma2/ref.safetensors")
    }

    @Test("configs without layer_types (transformers before 4.53) slide the even layers; null caps are none")
    func olderAndUncappedConfigs() throws {
        let scratch = try Fixtures.scratchFolder("gemma2")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let older = try SafetensorsPlugin().read(try Fixtures.folder("tiny-gemma2/hf", editing: [:], removing: ["layer_types"], in: scratch))
        #expect(older.hyperparameters.slidingWindow?.slidingLayers == [true, false, true, false])
        try Self.expectReferenceOutputs(older, "config without layer_types")
        let uncapped = try SafetensorsPlugin().read(try Fixtures.folder(
            "tiny-gemma2/hf", editing: ["attn_logit_softcapping": NSNull(), "final_logit_softcapping": NSNull()], in: scratch))
        #expect(uncapped.hyperparameters.attentionLogitSoftcap == nil && uncapped.lmHead?.softcap == nil)
        #expect(uncapped.blocks.allSatisfy { $0.attention.softcap == nil })
        // transformers' defaults where the keys are missing: 50 and 30.
        let defaults = try SafetensorsPlugin().read(try Fixtures.folder(
            "tiny-gemma2/hf", editing: [:], removing: ["attn_logit_softcapping", "final_logit_softcapping"], in: scratch))
        #expect(defaults.hyperparameters.attentionLogitSoftcap == 50 && defaults.hyperparameters.finalLogitSoftcap == 30)
        // llama.cpp's gemma2 always caps: a model without caps cannot be written as its GGUF, and no file is left.
        let out = scratch.appendingPathComponent("uncapped.gguf")
        #expect(throws: GGUFError.self) { try GGUFPlugin().write(uncapped, to: out, options: WriteOptions()) }
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test("conversion both ways: to GGUF the converter's tensors and keys, to a folder transformers reads")
    func conversions() throws {
        let scratch = try Fixtures.scratchFolder("gemma2")
        defer { try? FileManager.default.removeItem(at: scratch) }

        let (written, _) = try Fixtures.expectConverterGGUF(
            "tiny-gemma2", architecture: "gemma2", bitExact: true,
            integerKeys: ["gemma2.attention.sliding_window", "gemma2.attention.key_length", "gemma2.attention.head_count_kv",
                          "gemma2.embedding_length", "gemma2.block_count", "gemma2.context_length"],
            numberKeys: ["gemma2.attn_logit_softcapping", "gemma2.final_logit_softcapping", "gemma2.attention.layer_norm_rms_epsilon"],
            in: scratch)
        let gguf = URL(fileURLWithPath: written.path)
        // llama.cpp's defaults hold (pattern 2, the sliding layers on the model's base): no keys override them.
        #expect(written["gemma2.attention.sliding_window_pattern"] == nil && written["gemma2.rope.freq_base_swa"] == nil)
        try Self.expectReferenceOutputs(try GGUFPlugin().read(gguf), "hf → GGUF")

        let folder = scratch.appendingPathComponent("hf")
        try SafetensorsPlugin().write(try Fixtures.graph("tiny-gemma2/f32.gguf"), to: folder, options: WriteOptions())
        let config = try JSONValue.parse(contentsOf: folder.appendingPathComponent("config.json"))
        #expect(config["model_type"]?.stringValue == "gemma2")
        #expect(config["architectures"]?.arrayItems?.first?.stringValue == "Gemma2ForCausalLM")
        #expect(config["attn_logit_softcapping"]?.doubleValue == 0.5 && config["final_logit_softcapping"]?.doubleValue == 1.5)
        #expect(config["sliding_window"]?.intValue == 8 && config["rope_local_base_freq"] == nil)
        #expect(config["layer_types"]?.arrayItems?.map { $0.stringValue ?? "" }
            == ["sliding_attention", "full_attention", "sliding_attention", "full_attention"])
        try Self.expectReferenceOutputs(try SafetensorsPlugin().read(folder), "GGUF → hf")
    }
}
