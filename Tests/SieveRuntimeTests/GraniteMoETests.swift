import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
import SieveRuntime
import Testing

/// IBM Granite MoE against libllama and an independent float64 forward pass: `tiny-granitemoe` is tiny-granite's graph
/// (its four multipliers) with a mixture of 8 experts of width 32, 2 per token, in every FFN, stored as JetMoE's
/// parallel experts (each expert's gate rows, then its up rows, in one `input_linear`); its `hf-shared/` variant
/// (GraniteMoeShared) adds a shared expert of width 48 to every layer (see that folder's README).
@Suite("Granite MoE")
struct GraniteMoETests {
    static let model = "tiny-granitemoe"
    /// Each source, and whether it has the shared expert.
    static let sources: [(String, Bool)] = [("hf", false), ("f32.gguf", false), ("hf-shared", true), ("shared.gguf", true)]

    static func expectReferenceOutputs(_ graph: ModelGraph, _ what: String, shared: Bool) throws {
        try Fixtures.expectReferenceOutputs(graph, what, model: model, variant: shared ? "shared." : "", llamaCpp: Tolerance.float32Logits)
    }

    @Test("both layouts read as Granite with its multipliers, stacked experts and (GraniteMoeShared) a shared expert", arguments: sources)
    func structure(_ source: String, _ shared: Bool) throws {
        let graph = try Fixtures.graph(Self.model + "/" + source)
        let hp = graph.hyperparameters
        #expect(graph.architecture == .granite)
        #expect(hp.mixtureOfExperts == MixtureOfExperts(expertCount: 8, expertsPerToken: 2, expertWidth: 32, normalizesWeights: true,
                                                         sharedExpertWidth: shared ? 48 : nil))
        #expect(hp.embeddingScale != nil && hp.residualScale != nil && hp.logitDivisor != nil && hp.attentionScale != nil)
        for block in graph.blocks {
            let f = block.feedForward
            let router = try #require(f.experts)
            #expect(try graph.tensor(router.projection.weight).shape.dims == [8, 64])
            #expect(try graph.tensor(try #require(f.gate).weight).shape.dims == [8, 32, 64])
            #expect(try graph.tensor(f.up.weight).shape.dims == [8, 32, 64])
            #expect(try graph.tensor(f.down.weight).shape.dims == [8, 64, 32])
            #expect((router.shared != nil) == shared)
            if let s = router.shared {
                #expect(try graph.tensor(s.gate.weight).shape.dims == [48, 64] && graph.tensor(s.up.weight).shape.dims == [48, 64])
                #expect(try graph.tensor(s.down.weight).shape.dims == [64, 48])
            }
            #expect(block.residualScale == hp.residualScale)
        }
    }

    @Test("logits within 1e-4 of the float64 pass and of libllama; decode equals the batch", arguments: sources)
    func logits(_ source: String, _ shared: Bool) throws {
        try Self.expectReferenceOutputs(try Fixtures.graph(Self.model + "/" + source), "\(Self.model)/\(source)", shared: shared)
        try Fixtures.expectDecodeEqualsBatch(model: Self.model + "/" + source, references: Self.model + "/ref.safetensors",
                                             logits: shared ? "shared.logits" : "logits")
    }

    @Test("the folder's input_linear splits into the gate and up rows the converter wrote", arguments: [("hf", "f32.gguf"), ("hf-shared", "shared.gguf")])
    func splitEqualsConverter(_ folder: String, _ gguf: String) throws {
        let (hf, converted) = (try Fixtures.graph(Self.model + "/" + folder), try Fixtures.graph(Self.model + "/" + gguf))
        for name in hf.tensors.names where name.contains("_exps") || name.contains("_shexp") {
            #expect(try hf.tensor(name).floats() == converted.tensor(name).floats(), "\(name)")
        }
    }

    @Test("conversion both ways: to GGUF the converter's tensors and granitemoe keys, to a folder transformers reads",
          arguments: [("hf", "f32.gguf", false), ("hf-shared", "shared.gguf", true)])
    func conversions(_ folder: String, _ gguf: String, _ shared: Bool) throws {
        let scratch = try Fixtures.scratchFolder("granitemoe")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let (written, _) = try Fixtures.expectConverterGGUF(
            Self.model, folder: folder, gguf: gguf, architecture: "granitemoe", bitExact: true,
            integerKeys: (["attention.head_count_kv", "embedding_length", "block_count", "context_length", "feed_forward_length",
                           "vocab_size", "rope.dimension_count", "expert_count", "expert_used_count"]
                          + (shared ? ["expert_shared_feed_forward_length"] : [])).map { "granitemoe." + $0 },
            numberKeys: ["rope.freq_base", "attention.layer_norm_rms_epsilon", "attention.scale", "embedding_scale", "residual_scale",
                         "logit_scale"].map { "granitemoe." + $0 }, in: scratch)
        try Self.expectReferenceOutputs(try GGUFPlugin().read(URL(fileURLWithPath: written.path)), "\(folder) → GGUF", shared: shared)

        let out = scratch.appendingPathComponent("hf-out")
        try SafetensorsPlugin().write(try Fixtures.graph(Self.model + "/" + gguf), to: out, options: WriteOptions())
        let config = try JSONValue.parse(contentsOf: out.appendingPathComponent("config.json"))
        let original = try JSONValue.parse(contentsOf: try Fixtures.url(Self.model + "/" + folder + "/config.json"))
        #expect(config["model_type"]?.stringValue == original["model_type"]?.stringValue)
        #expect(config["architectures"]?.arrayItems?.first?.stringValue == original["architectures"]?.arrayItems?.first?.stringValue)
        for key in ["num_local_experts", "num_experts_per_tok", "intermediate_size", "shared_intermediate_size", "num_key_value_heads"] {
            #expect(config[key]?.intValue == original[key]?.intValue, "\(key)")
        }
        // The fused tensors come back byte for byte.
        let weights = try Fixtures.references(Self.model + "/" + folder + "/model.safetensors")
        let rewritten = try SafetensorsPlugin().readTensors(out.appendingPathComponent("model.safetensors")).tensors
        #expect(Set(rewritten.names) == Set(weights.names))
        for name in weights.names {
            #expect(Array(try #require(rewritten[name]).bytes) == Array(try #require(weights[name]).bytes), "\(name)")
        }
        try Self.expectReferenceOutputs(try SafetensorsPlugin().read(out), "\(gguf) → hf", shared: shared)
    }

    @Test("GraniteMoeConfig's defaults; a shared width of 0 is no shared expert; written back with the same keys")
    func config() throws {
        let minimal = try JSONValue.parse("""
            {"model_type": "granitemoeshared", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 32, "num_hidden_layers": 2,
             "num_attention_heads": 4, "shared_intermediate_size": 0}
            """, source: "config.json")
        let (arch, hp) = try HFConfig.read(minimal, source: "config.json")
        #expect(arch == .granite && hp.mixtureOfExperts == MixtureOfExperts(expertCount: 8, expertsPerToken: 2, expertWidth: 32, normalizesWeights: true))
        #expect(hp.normEpsilon == 1e-6 && hp.kvHeadCount == 4 && !hp.tiedEmbeddings)
        let written = try HFConfig.make(architecture: arch, hyperparameters: hp, tokenizer: nil, torchDType: "float32", source: "out")
        #expect(written["model_type"]?.stringValue == "granitemoe" && written["num_local_experts"]?.intValue == 8)
        #expect(try HFConfig.read(written, source: "out") == (arch, hp))

        var shared = hp
        shared.mixtureOfExperts?.sharedExpertWidth = 48
        let sharedConfig = try HFConfig.make(architecture: arch, hyperparameters: shared, tokenizer: nil, torchDType: "float32", source: "out")
        #expect(sharedConfig["model_type"]?.stringValue == "granitemoeshared" && sharedConfig["shared_intermediate_size"]?.intValue == 48)
        #expect(try HFConfig.read(sharedConfig, source: "out") == (arch, shared))
        // Only Granite can say a shared expert.
        var mixtral = try HFConfig.read(try JSONValue.parse("""
            {"model_type": "mixtral", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 4}
            """, source: "config.json"), source: "config.json").1
        mixtral.mixtureOfExperts?.sharedExpertWidth = 48
        #expect(throws: SieveCoreError.self) {
            try HFConfig.make(architecture: .llama, hyperparameters: mixtral, tokenizer: nil, torchDType: "float32", source: "out")
        }
    }

    @Test("a fused input_linear of the wrong shape, or a shared width the tensors do not have, is refused by name")
    func brokenCheckpoints() throws {
        let scratch = try Fixtures.scratchFolder("granitemoe")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let wider = try Fixtures.folder(Self.model + "/hf", editing: ["intermediate_size": 16], in: scratch)
        let error = try #require(throws: SieveCoreError.self) { try SafetensorsPlugin().read(wider) }
        #expect("\(error)".contains("block_sparse_moe.input_linear.weight") && "\(error)".contains("16 + 16"))
        let shared = try Fixtures.folder(Self.model + "/hf-shared", editing: ["shared_intermediate_size": 40], in: scratch)
        let sharedError = try #require(throws: SieveCoreError.self) { try SafetensorsPlugin().read(shared) }
        #expect("\(sharedError)".contains("shared_mlp.input_linear.weight") && "\(sharedError)".contains("40 + 40"))
        let missing = try Fixtures.folder(Self.model + "/hf", editing: ["model_type": "granitemoeshared", "shared_intermediate_size": 48], in: scratch)
        let missingError = try #require(throws: SieveCoreError.self) { try SafetensorsPlugin().read(missing) }
        #expect("\(missingError)".contains("blocks.0.ffn.gate_shexp.weight"))
    }

    @Test("a shared expert outside Granite is refused by the GGUF writer, leaving no file")
    func sharedExpertElsewhere() throws {
        let scratch = try Fixtures.scratchFolder("granitemoe")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var graph = try Fixtures.graph(Self.model + "/shared.gguf")
        graph.architecture = .llama
        graph.hyperparameters.embeddingScale = nil
        graph.hyperparameters.residualScale = nil
        graph.hyperparameters.logitDivisor = nil
        let file = scratch.appendingPathComponent("shared.gguf")
        let error = try #require(throws: GGUFError.self) { try GGUFPlugin().write(graph, to: file, options: WriteOptions()) }
        #expect("\(error)".contains("shared expert"))
        #expect(!FileManager.default.fileExists(atPath: file.path))
    }
}
