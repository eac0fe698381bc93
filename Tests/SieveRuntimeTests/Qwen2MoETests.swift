import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
import SieveRuntime
import Testing

/// Qwen2-MoE against libllama and an independent float64 forward pass: `tiny-qwen2moe` is Qwen2's attention (Q/K/V
/// biases) with a mixture of 8 experts of width 32, 2 per token, their weights not normalised, and a shared expert of
/// width 48 whose output a sigmoid gate weighs, in every FFN (see that folder's README).
@Suite("Qwen2-MoE")
struct Qwen2MoETests {
    static let model = "tiny-qwen2moe"
    static let sources = ["hf", "f32.gguf"]

    @Test("the folder and llama.cpp's GGUF read as Qwen2 with experts and a gated shared expert", arguments: sources)
    func structure(_ source: String) throws {
        let graph = try Fixtures.graph(Self.model + "/" + source)
        #expect(graph.architecture == .qwen2)
        #expect(graph.hyperparameters.mixtureOfExperts == MixtureOfExperts(expertCount: 8, expertsPerToken: 2, expertWidth: 32,
                                                                           normalizesWeights: false, sharedExpertWidth: 48))
        for block in graph.blocks {
            let f = block.feedForward
            let router = try #require(f.experts)
            let shared = try #require(router.shared)
            #expect(try graph.tensor(f.up.weight).shape.dims == [8, 32, 64] && graph.tensor(f.down.weight).shape.dims == [8, 64, 32])
            #expect(try graph.tensor(shared.gate.weight).shape.dims == [48, 64] && graph.tensor(shared.down.weight).shape.dims == [64, 48])
            #expect(try graph.tensor(try #require(shared.outputGate).weight).shape.dims == [1, 64])
            #expect(block.attention.q.bias != nil && block.attention.k.bias != nil && block.attention.v.bias != nil)
        }
    }

    @Test("logits within 1e-4 of the float64 pass and of libllama; decode equals the batch", arguments: sources)
    func logits(_ source: String) throws {
        try Fixtures.expectReferenceOutputs(try Fixtures.graph(Self.model + "/" + source), "\(Self.model)/\(source)", model: Self.model,
                                            llamaCpp: Tolerance.float32Logits)
        try Fixtures.expectDecodeEqualsBatch(model: Self.model + "/" + source, references: Self.model + "/ref.safetensors")
    }

    @Test("conversion both ways: to GGUF the converter's tensors and qwen2moe keys, to a folder transformers reads")
    func conversions() throws {
        let scratch = try Fixtures.scratchFolder("qwen2moe")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let (written, _) = try Fixtures.expectConverterGGUF(
            Self.model, architecture: "qwen2moe", bitExact: true,
            integerKeys: ["attention.head_count_kv", "embedding_length", "block_count", "context_length", "feed_forward_length",
                          "expert_count", "expert_used_count", "expert_feed_forward_length", "expert_shared_feed_forward_length"].map { "qwen2moe." + $0 },
            numberKeys: ["rope.freq_base", "attention.layer_norm_rms_epsilon"].map { "qwen2moe." + $0 }, in: scratch)
        try Fixtures.expectReferenceOutputs(try GGUFPlugin().read(URL(fileURLWithPath: written.path)), "hf → GGUF", model: Self.model,
                                            llamaCpp: Tolerance.float32Logits)

        let out = scratch.appendingPathComponent("hf-out")
        try SafetensorsPlugin().write(try Fixtures.graph(Self.model + "/f32.gguf"), to: out, options: WriteOptions())
        let config = try JSONValue.parse(contentsOf: out.appendingPathComponent("config.json"))
        let original = try JSONValue.parse(contentsOf: try Fixtures.url(Self.model + "/hf/config.json"))
        #expect(config["model_type"]?.stringValue == "qwen2_moe" && config["architectures"]?.arrayItems?.first?.stringValue == "Qwen2MoeForCausalLM")
        for key in ["num_experts", "num_experts_per_tok", "moe_intermediate_size", "shared_expert_intermediate_size", "num_key_value_heads"] {
            #expect(config[key]?.intValue == original[key]?.intValue, "\(key)")
        }
        #expect(config["norm_topk_prob"]?.boolValue == false)
        let weights = try Fixtures.references(Self.model + "/hf/model.safetensors")
        let rewritten = try SafetensorsPlugin().readTensors(out.appendingPathComponent("model.safetensors")).tensors
        #expect(Set(rewritten.names) == Set(weights.names))
        for name in weights.names where name.contains("shared_expert") || name.contains("experts.3.") {
            #expect(Array(try #require(rewritten[name]).bytes) == Array(try #require(weights[name]).bytes), "\(name)")
        }
        try Fixtures.expectReferenceOutputs(try SafetensorsPlugin().read(out), "GGUF → hf", model: Self.model, llamaCpp: Tolerance.float32Logits)
    }

    @Test("Qwen2MoeConfig's defaults; normalised weights, which llama.cpp's qwen2moe cannot run, are refused by the GGUF writer, leaving no file")
    func configAndNormalisation() throws {
        let minimal = try JSONValue.parse("""
            {"model_type": "qwen2_moe", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2}
            """, source: "config.json")
        let (arch, hp) = try HFConfig.read(minimal, source: "config.json")
        #expect(arch == .qwen2)
        #expect(hp.mixtureOfExperts == MixtureOfExperts(expertCount: 60, expertsPerToken: 4, expertWidth: 1408, normalizesWeights: false,
                                                         sharedExpertWidth: 5632))
        let written = try HFConfig.make(architecture: arch, hyperparameters: hp, tokenizer: nil, torchDType: "float32", source: "out")
        #expect(written["model_type"]?.stringValue == "qwen2_moe")
        #expect(try HFConfig.read(written, source: "out") == (arch, hp))

        let scratch = try Fixtures.scratchFolder("qwen2moe")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var graph = try Fixtures.graph(Self.model + "/f32.gguf")
        graph.hyperparameters.mixtureOfExperts?.normalizesWeights = true
        let file = scratch.appendingPathComponent("normalised.gguf")
        let error = try #require(throws: GGUFError.self) { try GGUFPlugin().write(graph, to: file, options: WriteOptions()) }
        #expect("\(error)".contains("qwen2moe never divides"))
        #expect(!FileManager.default.fileExists(atPath: file.path))
    }

    @Test("a shared expert width the checkpoint does not have is refused by name, a Qwen2-MoE without a shared expert by config.json's writer")
    func brokenCheckpoints() throws {
        let scratch = try Fixtures.scratchFolder("qwen2moe")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let wider = try Fixtures.folder(Self.model + "/hf", editing: ["shared_expert_intermediate_size": 40], in: scratch)
        let error = try #require(throws: SieveCoreError.self) { try SafetensorsPlugin().read(wider) }
        #expect("\(error)".contains("blocks.0.ffn.gate_shexp.weight"))
        var graph = try Fixtures.graph(Self.model + "/hf")
        graph.hyperparameters.mixtureOfExperts?.sharedExpertWidth = nil
        #expect(throws: SieveCoreError.self) {
            try HFConfig.make(architecture: .qwen2, hyperparameters: graph.hyperparameters, tokenizer: nil, torchDType: "float32", source: "out")
        }
    }
}
