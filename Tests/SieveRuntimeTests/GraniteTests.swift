import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
import SieveRuntime
import Testing

/// IBM Granite 3 (dense) against libllama and an independent float64 forward pass: `tiny-granite` is Llama's graph
/// with embeddings × `embedding_multiplier`, attention scores × `attention_multiplier`, each block's attention and FFN
/// outputs × `residual_multiplier` before the residual adds, and logits ÷ `logits_scaling` (see that folder's README).
@Suite("Granite")
struct GraniteTests {
    static let sources = ["tiny-granite/hf", "tiny-granite/f32.gguf"]

    @Test("the folder and llama.cpp's GGUF read as Granite with its four multipliers", arguments: sources)
    func structure(_ source: String) throws {
        let graph = try Fixtures.graph(source)
        let config = try JSONValue.parse(contentsOf: try Fixtures.url("tiny-granite/hf/config.json"))
        let hp = graph.hyperparameters
        #expect(graph.architecture == .granite)
        // A GGUF holds them in float32.
        for (value, key) in [(hp.embeddingScale, "embedding_multiplier"), (hp.attentionScale, "attention_multiplier"),
                             (hp.residualScale, "residual_multiplier"), (hp.logitDivisor, "logits_scaling")] {
            let (mine, theirs) = (try #require(value, "\(key)"), try #require(config[key]?.doubleValue))
            #expect(abs(mine - theirs) <= 1e-7 * theirs, "\(key): \(mine) against \(theirs)")
        }
        #expect(graph.embedding.scale == hp.embeddingScale && graph.lmHead?.divisor == hp.logitDivisor)
        #expect(graph.blocks.allSatisfy { $0.residualScale == hp.residualScale && $0.attention.scale == hp.attentionScale })
    }

    @Test("logits within 1e-4 of the float64 pass and of libllama; decode equals the batch", arguments: sources)
    func logits(_ source: String) throws {
        let graph = try Fixtures.graph(source)
        try Fixtures.expectReferenceOutputs(graph, source, model: "tiny-granite", llamaCpp: Tolerance.float32Logits)
        try Fixtures.expectDecodeEqualsBatch(model: source, references: "tiny-granite/ref.safetensors")
    }

    @Test("conversion both ways: to GGUF the converter's tensors and granite keys, to a folder transformers reads")
    func conversions() throws {
        let scratch = try Fixtures.scratchFolder("granite")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let (written, _) = try Fixtures.expectConverterGGUF(
            "tiny-granite", architecture: "granite", bitExact: true,
            integerKeys: ["attention.head_count_kv", "embedding_length", "block_count", "context_length", "feed_forward_length",
                          "vocab_size", "rope.dimension_count"].map { "granite." + $0 },
            numberKeys: ["rope.freq_base", "attention.layer_norm_rms_epsilon", "attention.scale", "embedding_scale", "residual_scale",
                         "logit_scale"].map { "granite." + $0 }, in: scratch)
        try Fixtures.expectReferenceOutputs(try GGUFPlugin().read(URL(fileURLWithPath: written.path)), "hf → GGUF", model: "tiny-granite",
                                            llamaCpp: Tolerance.float32Logits)

        let folder = scratch.appendingPathComponent("hf-out")
        try SafetensorsPlugin().write(try Fixtures.graph("tiny-granite/f32.gguf"), to: folder, options: WriteOptions())
        let config = try JSONValue.parse(contentsOf: folder.appendingPathComponent("config.json"))
        let original = try JSONValue.parse(contentsOf: try Fixtures.url("tiny-granite/hf/config.json"))
        #expect(config["model_type"]?.stringValue == "granite" && config["architectures"]?.arrayItems?.first?.stringValue == "GraniteForCausalLM")
        for key in ["embedding_multiplier", "attention_multiplier", "residual_multiplier", "logits_scaling"] {
            let (mine, theirs) = (try #require(config[key]?.doubleValue), try #require(original[key]?.doubleValue))
            #expect(abs(mine - theirs) <= 1e-7 * theirs, "\(key)")
        }
        try Fixtures.expectReferenceOutputs(try SafetensorsPlugin().read(folder), "GGUF → hf", model: "tiny-granite", llamaCpp: Tolerance.float32Logits)
    }

    @Test("multipliers only Granite can say: GGUF and config.json writers refuse them elsewhere, leaving no file")
    func multipliersElsewhere() throws {
        let scratch = try Fixtures.scratchFolder("granite")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var graph = try Fixtures.graph("tiny-llama/f32.gguf")
        graph.hyperparameters.residualScale = 0.5
        let file = scratch.appendingPathComponent("scaled.gguf")
        let error = try #require(throws: GGUFError.self) { try GGUFPlugin().write(graph, to: file, options: WriteOptions()) }
        #expect("\(error)".contains("granite"))
        #expect(!FileManager.default.fileExists(atPath: file.path))
        #expect(throws: SieveCoreError.self) {
            try HFConfig.make(architecture: .llama, hyperparameters: graph.hyperparameters, tokenizer: nil, torchDType: "float32", source: "out")
        }
    }
}
