import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
import SieveRuntime
import Testing

/// Phi-3 against libllama and an independent float64 forward pass: `tiny-phi3` stores Q, K and V in one `qkv_proj`
/// (4 query heads, 2 key/value heads of 16) and the gate and up projections in one `gate_up_proj`; its LongRoPE
/// variant (`config-longrope.json`, `longrope.gguf`) rotates 12 of each head's 16 values with short and long factors,
/// an original context of 256 in 1024, so an attention factor of √(1 + ln 4 / ln 256) (see that folder's README).
@Suite("Phi-3")
struct Phi3Tests {
    static let sources = ["tiny-phi3/hf", "tiny-phi3/f32.gguf"]

    /// An f32 model with SiLU: libllama agrees with the float64 pass as closely as Sieve does.
    static let llamaCppLogits = Tolerance.float32Logits

    static func expectReferenceOutputs(_ graph: ModelGraph, _ what: String, variant: String = "",
                                       options: RuntimeOptions = RuntimeOptions()) throws {
        try Fixtures.expectReferenceOutputs(graph, what, model: "tiny-phi3", variant: variant, llamaCpp: llamaCppLogits, options: options)
    }

    /// The LongRoPE variant, from its config.json or its GGUF.
    static func longRoPE(_ source: String, in scratch: URL) throws -> ModelGraph {
        source == "hf"
            ? try SafetensorsPlugin().read(try Fixtures.folder("tiny-phi3/hf", config: "tiny-phi3/hf/config-longrope.json", in: scratch))
            : try Fixtures.graph("tiny-phi3/longrope.gguf")
    }

    /// LongRoPE's attention factor for a context 4 times the original of 256.
    static let attentionFactor = (1 + Foundation.log(4.0) / Foundation.log(256.0)).squareRoot()

    @Test("the folder and llama.cpp's GGUF read as Phi-3: fused Q/K/V and gate/up split, every layer sliding", arguments: sources)
    func structure(_ source: String) throws {
        let graph = try Fixtures.graph(source)
        let hp = graph.hyperparameters
        #expect(graph.architecture == .phi3)
        #expect(hp.headCount == 4 && hp.kvHeadCount == 2 && hp.headDim == 16 && hp.intermediateSize == 96 && hp.layerCount == 3)
        #expect(hp.activation == .silu && !hp.tiedEmbeddings && hp.ropeDimensions == nil && hp.ropeScaling == nil)
        #expect(hp.slidingWindow == SlidingWindowAttention(window: 2047, slidingLayers: [true, true, true], ropeTheta: 10000))
        for (i, block) in graph.blocks.enumerated() {
            #expect(block.feedForward.kind == .swiglu && block.attentionNorm.kind == .rms)
            #expect(graph.tensors[IRName.attention(i, "q") + ".weight"]?.shape == Shape([64, 64]))
            #expect(graph.tensors[IRName.attention(i, "k") + ".weight"]?.shape == Shape([32, 64]))
            #expect(graph.tensors[IRName.feedForward(i, "gate") + ".weight"]?.shape == Shape([96, 64]))
            #expect(block.attention.rope?.style == .halfSplit && block.attention.window == 2047)
        }
    }

    @Test("logits within 1e-4 of the float64 pass and of libllama", arguments: sources)
    func logits(_ source: String) throws {
        try Self.expectReferenceOutputs(try Fixtures.graph(source), source)
    }

    @Test("one token at a time through the KV cache gives the batch's logits")
    func decodeEqualsBatch() throws {
        try Fixtures.expectDecodeEqualsBatch(model: "tiny-phi3/f32.gguf", references: "tiny-phi3/ref.safetensors")
    }

    @Test("LongRoPE with partial rotary: the long factors when the context exceeds the original, else the short",
          arguments: ["hf", "gguf"])
    func longRoPE(_ source: String) throws {
        let scratch = try Fixtures.scratchFolder("phi3")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let graph = try Self.longRoPE(source, in: scratch)
        let hp = graph.hyperparameters
        #expect(hp.ropeDimensions == 12 && hp.contextLength == 1024)
        guard case let .longRoPE(p) = hp.ropeScaling else {
            Issue.record("\(source): no LongRoPE but \(String(describing: hp.ropeScaling))"); return
        }
        #expect(p.originalContextLength == 256 && p.shortFactors.count == 6 && p.longFactors.count == 6 && p.shortFactors != p.longFactors)
        #expect(abs(p.attentionFactor - Self.attentionFactor) <= 1e-6)
        // The default context (1024, the trained one) is longer than the original 256 (libllama ran at 512 for these
        // references), a context of 256 is not (libllama ran at 256).
        try Self.expectReferenceOutputs(graph, "\(source), context 1024", variant: "longrope_long.")
        try Self.expectReferenceOutputs(graph, "\(source), context 256", variant: "longrope_short.", options: RuntimeOptions(contextLength: 256))
    }

    @Test("conversion both ways: to GGUF the converter's tensors and keys, to a folder transformers reads")
    func conversions() throws {
        let scratch = try Fixtures.scratchFolder("phi3")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let keys = ["phi3.attention.sliding_window", "phi3.attention.head_count_kv", "phi3.embedding_length", "phi3.block_count",
                    "phi3.context_length", "phi3.feed_forward_length", "phi3.rope.dimension_count", "phi3.rope.scaling.original_context_length"]
        let (written, _) = try Fixtures.expectConverterGGUF("tiny-phi3", architecture: "phi3", bitExact: true, integerKeys: keys,
                                                            numberKeys: ["phi3.rope.freq_base", "phi3.attention.layer_norm_rms_epsilon"], in: scratch)
        try Self.expectReferenceOutputs(try GGUFPlugin().read(URL(fileURLWithPath: written.path)), "hf → GGUF")

        // LongRoPE: its factor tensors and attention factor as the converter writes them.
        let longOut = scratch.appendingPathComponent("longrope.gguf")
        try GGUFPlugin().write(try Self.longRoPE("hf", in: scratch), to: longOut, options: WriteOptions())
        let long = try GGUFFile(url: longOut), reference = try GGUFFile(url: try Fixtures.url("tiny-phi3/longrope.gguf"))
        #expect(Set(long.tensorInfos.map(\.name)) == Set(reference.tensorInfos.map(\.name)))
        for name in ["rope_factors_long.weight", "rope_factors_short.weight", "blk.0.attn_qkv.weight", "blk.2.ffn_up.weight"] {
            let mine = try long.tensor(try #require(long.tensorInfo(name))), theirs = try reference.tensor(try #require(reference.tensorInfo(name)))
            #expect(Array(mine.bytes) == Array(theirs.bytes), "\(name)")
        }
        for key in keys { #expect(long[key]?.intValue == reference[key]?.intValue, "\(key)") }
        #expect(long["phi3.rope.scaling.attn_factor"]?.doubleValue == reference["phi3.rope.scaling.attn_factor"]?.doubleValue)
        try Self.expectReferenceOutputs(try GGUFPlugin().read(longOut), "hf → GGUF, LongRoPE", variant: "longrope_long.")

        // GGUF → folder: Phi3ForCausalLM with the fused tensors, LongRoPE's config keys.
        let folder = scratch.appendingPathComponent("hf-out")
        try SafetensorsPlugin().write(try Fixtures.graph("tiny-phi3/longrope.gguf"), to: folder, options: WriteOptions())
        let config = try JSONValue.parse(contentsOf: folder.appendingPathComponent("config.json"))
        #expect(config["model_type"]?.stringValue == "phi3" && config["architectures"]?.arrayItems?.first?.stringValue == "Phi3ForCausalLM")
        #expect(config["original_max_position_embeddings"]?.intValue == 256 && config["partial_rotary_factor"]?.doubleValue == 0.75)
        #expect(config["rope_scaling"]?["type"]?.stringValue == "longrope" && config["sliding_window"]?.intValue == 2047)
        let names = try SafetensorsPlugin().readTensors(folder.appendingPathComponent("model.safetensors")).tensors.names
        #expect(names.contains("model.layers.0.self_attn.qkv_proj.weight") && names.contains("model.layers.0.mlp.gate_up_proj.weight"))
        let reread = try SafetensorsPlugin().read(folder)
        try Self.expectReferenceOutputs(reread, "GGUF → hf, LongRoPE", variant: "longrope_long.")
        try Self.expectReferenceOutputs(reread, "GGUF → hf, LongRoPE, context 256", variant: "longrope_short.", options: RuntimeOptions(contextLength: 256))
    }

    @Test("configs without a window (Phi-4-mini), with the older \"su\" LongRoPE; a factor list of the wrong length is a clear error")
    func configVariants() throws {
        let scratch = try Fixtures.scratchFolder("phi3")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let unwindowed = try SafetensorsPlugin().read(try Fixtures.folder("tiny-phi3/hf", editing: ["sliding_window": NSNull()], in: scratch))
        #expect(unwindowed.hyperparameters.slidingWindow == nil)
        // The window is wider than the reference tokens: without it, the same logits.
        try Self.expectReferenceOutputs(unwindowed, "no sliding window")
        let su = try SafetensorsPlugin().read(try Fixtures.folder("tiny-phi3/hf", editing: [
            "rope_scaling": ["type": "su", "short_factor": [1, 1, 1, 1, 1, 1, 1, 1], "long_factor": [2, 2, 2, 2, 2, 2, 2, 2]],
            "original_max_position_embeddings": 128,
        ], in: scratch))
        guard case let .longRoPE(p) = su.hyperparameters.ropeScaling else { Issue.record("'su' did not read as LongRoPE"); return }
        #expect(p.originalContextLength == 128 && abs(p.attentionFactor - (1 + Foundation.log(2.0) / Foundation.log(128.0)).squareRoot()) <= 1e-12)
        #expect(throws: SieveCoreError.self) {
            try SafetensorsPlugin().read(try Fixtures.folder("tiny-phi3/hf", editing: [
                "rope_scaling": ["type": "longrope", "short_factor": [1, 1], "long_factor": [2, 2]]], in: scratch))
        }
    }
}
