import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
import SieveRuntime
import SieveTokenizers
import Testing

/// Gemma 3 against libllama and an independent float64 forward pass: `tiny-gemma3` has six layers, five of them
/// attending through a window of 8 positions (RoPE base 10000) and the sixth globally (base 1e6, linear scaling ×8),
/// norm weights stored as offsets from 1, norms after attention and the FFN, embeddings scaled by √64, GELU-tanh
/// GeGLU, heads of 48 on a width of 64, 32 reference tokens (see that folder's README).
@Suite("Gemma 3")
struct Gemma3Tests {
    static let sources = ["tiny-gemma3/hf", "tiny-gemma3/f32.gguf"]

    /// libllama's GELU reads a table of f16 inputs (ggml's `GGML_GELU_FP16`), so its logits differ from an exact
    /// GELU-tanh by about this much on tiny-gemma3 (the float64 pass, which Sieve matches to 1e-5, is exact).
    static let llamaCppLogits: Float = 2e-3

    /// Expects `graph`'s outputs on the reference ids within float32 tolerance of the float64 pass and within
    /// `llamaCppLogits` of libllama's; `variant` is "" or "softcap.".
    static func expectReferenceOutputs(_ graph: ModelGraph, _ what: String, variant: String = "") throws {
        try Fixtures.expectReferenceOutputs(graph, what, model: "tiny-gemma3", variant: variant, llamaCpp: llamaCppLogits)
    }

    @Test("the folder and llama.cpp's GGUF read as Gemma 3: sliding layers, their RoPE, output norms, scaled embeddings",
          arguments: sources)
    func structure(_ source: String) throws {
        let graph = try Fixtures.graph(source)
        let hp = graph.hyperparameters
        #expect(graph.architecture == .gemma3)
        #expect(hp.activation == .geluTanh && hp.tiedEmbeddings && hp.headDim == 48 && hp.hiddenSize == 64)
        #expect(hp.slidingWindow == SlidingWindowAttention(window: 8, slidingLayers: [true, true, true, true, true, false], ropeTheta: 10000))
        #expect(hp.attentionScale == nil)
        #expect(graph.embedding.scale == 8)
        for (i, block) in graph.blocks.enumerated() {
            let a = block.attention
            #expect(a.window == (i < 5 ? 8 : nil))
            #expect(a.rope?.theta == (i < 5 ? 10000 : 1_000_000))
            #expect(a.rope?.scaling == (i < 5 ? nil : .linear(factor: 8)), "block \(i): only the global layer is scaled")
            #expect(block.feedForward.kind == .geglu)
            #expect(a.queryNorm != nil && a.keyNorm != nil && block.attentionOutputNorm != nil && block.feedForwardOutputNorm != nil)
        }
        #expect(graph.lmHead?.softcap == nil)
    }

    @Test("norm weights are the multiplier: 1 + the folder's stored offset, as in llama.cpp's GGUF")
    func normOffsets() throws {
        let folder = try Fixtures.graph("tiny-gemma3/hf")
        let gguf = try Fixtures.graph("tiny-gemma3/f32.gguf")
        let raw = try SafetensorsPlugin().readTensors(try Fixtures.url("tiny-gemma3/hf/model.safetensors")).tensors
        let b = folder.blocks[2]
        for (ir, hf) in [(b.attentionNorm.weight, "model.layers.2.input_layernorm.weight"),
                         (b.attention.queryNorm!.weight, "model.layers.2.self_attn.q_norm.weight"),
                         (b.feedForwardOutputNorm!.weight, "model.layers.2.post_feedforward_layernorm.weight"),
                         (folder.finalNorm!.weight, "model.norm.weight")] {
            let multiplier = try #require(folder.tensors[ir]).floats()
            let offset = try #require(raw[hf]).floats()
            #expect(multiplier == offset.map { $0 + 1 }, "\(ir)")
            #expect(multiplier == (try #require(gguf.tensors[ir]).floats()), "\(ir) equals the converter's")
        }
    }

    @Test("Gemma's tokenizer (no dummy prefix) gives libllama's and tokenizers' ids, from the folder and the GGUF",
          arguments: sources)
    func tokenizer(_ source: String) throws {
        let text = "Gemma 3 sees 8 back.\nCafé  naïve 42"
        let tokenizer = try Tokenizer(graph: try Fixtures.graph(source), source: source)
        let ids = tokenizer.encode(text)
        #expect(ids == (try Fixtures.inputIDs(try Fixtures.references("tiny-gemma3/ref.safetensors"))))
        #expect(tokenizer.decode(Array(ids.dropFirst())) == text)
    }

    @Test("logits within 1e-4 of the float64 pass (and of libllama up to its f16 GELU table)", arguments: sources)
    func logits(_ source: String) throws {
        try Self.expectReferenceOutputs(try Fixtures.graph(source), source)
    }

    @Test("final logit soft cap, from the GGUF key and from config.json")
    func softcap() throws {
        let scratch = try Fixtures.scratchFolder("gemma3")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let gguf = try Fixtures.graph("tiny-gemma3/softcap.gguf")
        #expect(gguf.hyperparameters.finalLogitSoftcap == 1.5 && gguf.lmHead?.softcap == 1.5)
        try Self.expectReferenceOutputs(gguf, "softcap.gguf", variant: "softcap.")
        let folder = try SafetensorsPlugin().read(try Fixtures.folder("tiny-gemma3/hf", config: "tiny-gemma3/hf/config-softcap.json", in: scratch))
        #expect(folder.lmHead?.softcap == 1.5)
        try Self.expectReferenceOutputs(folder, "config-softcap.json", variant: "softcap.")
    }

    @Test("one token at a time through the KV cache gives the batch's logits, the window sliding over the cache")
    func decodeEqualsBatch() throws {
        let ids = try Fixtures.inputIDs(try Fixtures.references("tiny-gemma3/ref.safetensors"))
        #expect(ids.count > 8 * 3, "the reference must be several windows long")
        try Fixtures.expectDecodeEqualsBatch(model: "tiny-gemma3/f32.gguf", references: "tiny-gemma3/ref.safetensors")
    }

    @Test("conversion both ways: to GGUF the converter's tensors and keys, to a folder transformers reads")
    func conversions() throws {
        let scratch = try Fixtures.scratchFolder("gemma3")
        defer { try? FileManager.default.removeItem(at: scratch) }

        // The norms' 1 is added in float32, as the converter adds it: every tensor is the converter's, bit for bit.
        let (written, _) = try Fixtures.expectConverterGGUF(
            "tiny-gemma3", architecture: "gemma3", bitExact: true,
            integerKeys: ["gemma3.attention.sliding_window", "gemma3.attention.key_length", "gemma3.attention.head_count_kv",
                          "gemma3.embedding_length", "gemma3.block_count"],
            numberKeys: ["gemma3.rope.freq_base", "gemma3.rope.scaling.factor", "gemma3.attention.layer_norm_rms_epsilon"], in: scratch)
        let gguf = URL(fileURLWithPath: written.path)
        // llama.cpp's defaults hold (pattern 6, base 10000): the keys that would override them are not written.
        #expect(written["gemma3.attention.sliding_window_pattern"] == nil && written["gemma3.rope.freq_base_swa"] == nil)
        try Self.expectReferenceOutputs(try GGUFPlugin().read(gguf), "hf → GGUF")

        let folder = scratch.appendingPathComponent("hf")
        try SafetensorsPlugin().write(try Fixtures.graph("tiny-gemma3/f32.gguf"), to: folder, options: WriteOptions())
        let config = try JSONValue.parse(contentsOf: folder.appendingPathComponent("config.json"))
        #expect(config["model_type"]?.stringValue == "gemma3_text")
        #expect(config["architectures"]?.arrayItems?.first?.stringValue == "Gemma3ForCausalLM")
        #expect(config["sliding_window"]?.intValue == 8 && config["query_pre_attn_scalar"]?.doubleValue == 48)
        #expect(config["layer_types"]?.arrayItems?.map { $0.stringValue ?? "" }
            == Array(repeating: "sliding_attention", count: 5) + ["full_attention"])
        #expect(config["rope_scaling"]?["factor"]?.doubleValue == 8)
        // The folder stores the norms' offsets again, within the rounding of (1 + w) - 1.
        let written2 = try SafetensorsPlugin().readTensors(folder.appendingPathComponent("model.safetensors")).tensors
        let original = try SafetensorsPlugin().readTensors(try Fixtures.url("tiny-gemma3/hf/model.safetensors")).tensors
        let name = "model.layers.5.post_attention_layernorm.weight"
        #expect(maxAbsDifference(try #require(written2[name]).floats(), try #require(original[name]).floats()) <= 1e-7)
        try Self.expectReferenceOutputs(try SafetensorsPlugin().read(folder), "GGUF → hf")
    }

    @Test("a multimodal checkpoint (Gemma3ForConditionalGeneration) runs its language model; the vision tower is not read",
          arguments: ["language_model.model.", "model.language_model."])
    func multimodalCheckpoint(_ prefix: String) throws {
        let scratch = try Fixtures.scratchFolder("gemma3")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let fm = FileManager.default
        let source = try Fixtures.url("tiny-gemma3/hf")
        let folder = scratch.appendingPathComponent("multimodal")
        try fm.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in try fm.contentsOfDirectory(atPath: source.path) where name.hasPrefix("tokenizer") || name.hasPrefix("special") {
            try fm.createSymbolicLink(at: folder.appendingPathComponent(name), withDestinationURL: source.appendingPathComponent(name))
        }
        // The language model's config as text_config, beside a vision config, as transformers writes Gemma3Config.
        var text = try #require(try JSONSerialization.jsonObject(with: try Data(contentsOf: source.appendingPathComponent("config.json"))) as? [String: Any])
        text["architectures"] = nil
        let config: [String: Any] = ["architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "text_config": text,
                                     "vision_config": ["model_type": "siglip_vision_model", "hidden_size": 8], "mm_tokens_per_image": 4,
                                     "image_token_index": 511]
        try JSONSerialization.data(withJSONObject: config).write(to: folder.appendingPathComponent("config.json"))
        // The text model's tensors under the multimodal prefix, with a vision tower and projector beside them.
        var tensors = TensorStore()
        for var tensor in try SafetensorsPlugin().readTensors(source.appendingPathComponent("model.safetensors")).tensors.all {
            tensor.name = prefix + tensor.name.dropFirst("model.".count)
            tensors.insert(tensor)
        }
        let outer = prefix.hasPrefix("model.") ? "model." : ""
        tensors.insert(Tensor(name: outer + "vision_tower.vision_model.embeddings.patch_embedding.weight", shape: [8, 3, 2, 2],
                              floats: (0..<96).map { Float($0) / 96 }))
        tensors.insert(Tensor(name: outer + "multi_modal_projector.mm_input_projection_weight", shape: [8, 64], floats: [Float](repeating: 0.5, count: 512)))
        try SafetensorsPlugin().writeTensors(tensors, metadata: [("format", "pt")], to: folder.appendingPathComponent("model.safetensors"),
                                             options: WriteOptions())
        let graph = try SafetensorsPlugin().read(folder)
        #expect(graph.architecture == .gemma3 && graph.tensors.all.allSatisfy { !$0.name.contains("vision") && !$0.name.contains("multi_modal") })
        try Self.expectReferenceOutputs(graph, "multimodal checkpoint (\(prefix))")
        // Written back, it is the text model alone.
        let out = scratch.appendingPathComponent("text")
        try SafetensorsPlugin().write(graph, to: out, options: WriteOptions())
        #expect(try JSONValue.parse(contentsOf: out.appendingPathComponent("config.json"))["model_type"]?.stringValue == "gemma3_text")
    }

    @Test("a window or pattern llama.cpp would not assume is written as keys, and read back")
    func nonDefaultLayoutRoundTrips() throws {
        let scratch = try Fixtures.scratchFolder("gemma3")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var graph = try Fixtures.graph("tiny-gemma3/hf")
        let layout = [false, true, true, false, true, false]
        graph.hyperparameters.slidingWindow = SlidingWindowAttention(window: 5, slidingLayers: layout, ropeTheta: 20000)
        let gguf = scratch.appendingPathComponent("layout.gguf")
        try GGUFPlugin().write(graph, to: gguf, options: WriteOptions())
        let file = try GGUFFile(url: gguf)
        #expect(file["gemma3.rope.freq_base_swa"]?.doubleValue == 20000)
        let back = try GGUFPlugin().read(gguf)
        #expect(back.hyperparameters.slidingWindow == graph.hyperparameters.slidingWindow)
        #expect(back.blocks.map { $0.attention.window } == layout.map { $0 ? 5 : nil })
        #expect(back.blocks.map { $0.attention.rope?.theta } == layout.map { $0 ? 20000 : 1_000_000 })
    }

    @Test("a query_pre_attn_scalar llama.cpp cannot express is refused when writing GGUF, before any file is written")
    func attentionScaleLlamaCppCannotExpress() throws {
        let scratch = try Fixtures.scratchFolder("gemma3")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var graph = try Fixtures.graph("tiny-gemma3/hf")
        graph.hyperparameters.attentionScale = 1 / 64.0.squareRoot()
        let out = scratch.appendingPathComponent("scale.gguf")
        #expect(throws: GGUFError.self) { try GGUFPlugin().write(graph, to: out, options: WriteOptions()) }
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }
}
