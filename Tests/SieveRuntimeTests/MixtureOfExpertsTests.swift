import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
@testable import SieveRuntime
import Testing

/// A mixture-of-experts fixture and what distinguishes its family: `tiny-qwen3moe` (Qwen3-MoE: Qwen3's attention,
/// llama.cpp's qwen3moe) and `tiny-mixtral` (Mixtral: Llama's attention, llama.cpp's llama with experts). Both have 8
/// experts of width 32 per layer, 2 per token, weights normalised to sum 1, hidden 64.
struct MixtureOfExpertsFixture: Sendable, CustomStringConvertible {
    let model: String
    let architecture: Architecture
    let ggufArchitecture: String
    /// config.json's `model_type`, class and expert-count key.
    let modelType: String, className: String, expertCountKey: String
    /// The GGUF keys the converter writes that Sieve must write with the same values.
    let integerKeys: [String]
    /// Two per-expert tensors of the checkpoint.
    let expertTensors: [String]
    let headNorms: Bool

    var description: String { model }

    static let qwen3moe = MixtureOfExpertsFixture(
        model: "tiny-qwen3moe", architecture: .qwen3moe, ggufArchitecture: "qwen3moe",
        modelType: "qwen3_moe", className: "Qwen3MoeForCausalLM", expertCountKey: "num_experts",
        integerKeys: ["expert_feed_forward_length"],
        expertTensors: ["model.layers.1.mlp.experts.5.down_proj.weight", "model.layers.3.mlp.experts.0.gate_proj.weight"],
        headNorms: true)
    static let mixtral = MixtureOfExpertsFixture(
        model: "tiny-mixtral", architecture: .llama, ggufArchitecture: "llama",
        modelType: "mixtral", className: "MixtralForCausalLM", expertCountKey: "num_local_experts",
        integerKeys: ["vocab_size", "rope.dimension_count"],
        expertTensors: ["model.layers.1.block_sparse_moe.experts.5.w2.weight", "model.layers.3.block_sparse_moe.experts.0.w1.weight"],
        headNorms: false)
    static let all = [qwen3moe, mixtral]
}

/// Both mixture-of-experts families against libllama and an independent float64 forward pass, and converted both
/// ways (see each fixture folder's README).
@Suite("Mixtures of experts")
struct MixtureOfExpertsTests {
    static let sources = MixtureOfExpertsFixture.all.flatMap { f in [(f, "hf"), (f, "f32.gguf")] }

    static func expectReferenceOutputs(_ graph: ModelGraph, _ what: String, _ fixture: MixtureOfExpertsFixture) throws {
        try Fixtures.expectReferenceOutputs(graph, what, model: fixture.model, llamaCpp: Tolerance.float32Logits)
    }

    @Test("the folder and llama.cpp's GGUF read with a router and 8 stacked experts per layer", arguments: sources)
    func structure(_ fixture: MixtureOfExpertsFixture, _ file: String) throws {
        let graph = try Fixtures.graph(fixture.model + "/" + file)
        #expect(graph.architecture == fixture.architecture)
        let moe = try #require(graph.hyperparameters.mixtureOfExperts)
        #expect(moe == MixtureOfExperts(expertCount: 8, expertsPerToken: 2, expertWidth: 32, normalizesWeights: true))
        for block in graph.blocks {
            let f = block.feedForward
            #expect(f.experts?.routing == moe)
            #expect(try graph.tensor(try #require(f.experts).projection.weight).shape.dims == [8, 64])
            #expect(try graph.tensor(try #require(f.gate).weight).shape.dims == [8, 32, 64])
            #expect(try graph.tensor(f.up.weight).shape.dims == [8, 32, 64])
            #expect(try graph.tensor(f.down.weight).shape.dims == [8, 64, 32])
            #expect((block.attention.queryNorm != nil) == fixture.headNorms && (block.attention.keyNorm != nil) == fixture.headNorms)
        }
    }

    @Test("logits within 1e-4 of the float64 pass and of libllama", arguments: sources)
    func logits(_ fixture: MixtureOfExpertsFixture, _ file: String) throws {
        try Self.expectReferenceOutputs(try Fixtures.graph(fixture.model + "/" + file), "\(fixture.model)/\(file)", fixture)
    }

    @Test("one token at a time through the KV cache gives the batch's logits", arguments: MixtureOfExpertsFixture.all)
    func decodeEqualsBatch(_ fixture: MixtureOfExpertsFixture) throws {
        try Fixtures.expectDecodeEqualsBatch(model: fixture.model + "/f32.gguf", references: fixture.model + "/ref.safetensors")
    }

    @Test("llama-quantize's q8_0 experts: logits near libllama's for the same file, batch and decode", arguments: MixtureOfExpertsFixture.all)
    func quantized(_ fixture: MixtureOfExpertsFixture) throws {
        let llama = try Fixtures.references(fixture.model + "/ref-llama-cpp.safetensors")
        let expected = try Fixtures.floats(llama, "logits.q8_0")
        let ids = try Fixtures.inputIDs(llama)
        // 8-bit activations everywhere, as llama.cpp multiplies them.
        let model = try Fixtures.model(fixture.model + "/q8_0.gguf", options: RuntimeOptions(quantizedActivations: true))
        let batch = try model.allOutputs(ids).logits
        model.reset()
        var decoded: [Float] = []
        for t in ids { try model.decode(t) { decoded.append(contentsOf: $0) } }
        let (dBatch, dDecode) = (maxAbsDifference(batch, expected), maxAbsDifference(decoded, expected))
        print("\(fixture.model) q8_0: max |Δlogit| vs llama.cpp: batch \(dBatch), decode \(dDecode)")
        #expect(dBatch <= Tolerance.quantizedVersusLlamaCpp)
        #expect(dDecode <= Tolerance.quantizedVersusLlamaCpp)
    }

    @Test("conversion both ways: to GGUF the converter's tensors and keys, to a folder of per-expert tensors transformers reads",
          arguments: MixtureOfExpertsFixture.all)
    func conversions(_ fixture: MixtureOfExpertsFixture) throws {
        let scratch = try Fixtures.scratchFolder(fixture.model)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let arch = fixture.ggufArchitecture
        let (written, _) = try Fixtures.expectConverterGGUF(
            fixture.model, architecture: arch, bitExact: true,
            integerKeys: (["attention.head_count_kv", "embedding_length", "block_count", "context_length", "feed_forward_length",
                           "expert_count", "expert_used_count"] + fixture.integerKeys).map { "\(arch).\($0)" },
            numberKeys: ["\(arch).rope.freq_base", "\(arch).attention.layer_norm_rms_epsilon"], in: scratch)
        try Self.expectReferenceOutputs(try GGUFPlugin().read(URL(fileURLWithPath: written.path)), "\(fixture.model) hf → GGUF", fixture)

        let folder = scratch.appendingPathComponent("hf-out")
        try SafetensorsPlugin().write(try Fixtures.graph(fixture.model + "/f32.gguf"), to: folder, options: WriteOptions())
        let config = try JSONValue.parse(contentsOf: folder.appendingPathComponent("config.json"))
        let original = try JSONValue.parse(contentsOf: try Fixtures.url(fixture.model + "/hf/config.json"))
        #expect(config["model_type"]?.stringValue == fixture.modelType && config["architectures"]?.arrayItems?.first?.stringValue == fixture.className)
        for key in [fixture.expertCountKey, "num_experts_per_tok", "intermediate_size", "moe_intermediate_size", "num_key_value_heads", "head_dim"] {
            #expect(config[key]?.intValue == original[key]?.intValue, "\(key)")
        }
        let weights = try Fixtures.references(fixture.model + "/hf/model.safetensors")
        let rewritten = try SafetensorsPlugin().readTensors(folder.appendingPathComponent("model.safetensors")).tensors
        #expect(Set(rewritten.names) == Set(weights.names))
        for name in fixture.expertTensors {
            #expect(Array(try #require(rewritten[name]).bytes) == Array(try #require(weights[name]).bytes), "\(name)")
        }
        try Self.expectReferenceOutputs(try SafetensorsPlugin().read(folder), "\(fixture.model) GGUF → hf", fixture)
    }

    @Test("a checkpoint missing one expert's tensor, or with an expert past the expert count, is refused by name",
          arguments: MixtureOfExpertsFixture.all)
    func missingExpert(_ fixture: MixtureOfExpertsFixture) throws {
        let scratch = try Fixtures.scratchFolder(fixture.model)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let fewer = try Fixtures.folder(fixture.model + "/hf", editing: [fixture.expertCountKey: 7], in: scratch)
        let extra = try #require(throws: SieveCoreError.self) { try SafetensorsPlugin().read(fewer) }
        #expect("\(extra)".contains("of expert 7") && "\(extra)".contains(fixture.expertCountKey))
        let more = try Fixtures.folder(fixture.model + "/hf", editing: [fixture.expertCountKey: 9], in: scratch)
        let missing = try #require(throws: SieveCoreError.self) { try SafetensorsPlugin().read(more) }
        #expect("\(missing)".contains("expert 8 of blocks."))
    }

    @Test("routing: softmax over the experts, the largest kept (lower index first among equals), normalised or not")
    func routing() {
        let logits: [Float] = [0.5, 2, -1, 2, 1, 0]
        for normalize in [false, true] {
            var probabilities = logits
            var chosen = [Int](repeating: -1, count: 3), weights = [Float](repeating: 0, count: 3)
            MixtureOfExpertsRunner.route(&probabilities, experts: logits.count, keep: 3, normalize: normalize, chosen: &chosen, weights: &weights)
            // Reference in Double.
            let exps = logits.map { Foundation.exp(Double($0)) }, total = exps.reduce(0, +)
            let order = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            let kept = Array(order.prefix(3)), keptSum = kept.reduce(0) { $0 + exps[$1] / total }
            #expect(chosen == kept)
            for (j, e) in kept.enumerated() {
                let expected = exps[e] / total / (normalize ? keptSum : 1)
                #expect(abs(Double(weights[j]) - expected) <= 1e-6, "expert \(e)")
            }
        }
    }

    @Test("Mixtral's config.json: MixtralConfig's defaults, a window on every layer, written back as Mixtral")
    func mixtralConfig() throws {
        let minimal = try JSONValue.parse("""
            {"model_type": "mixtral", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 32, "num_hidden_layers": 2,
             "num_attention_heads": 8, "sliding_window": 16}
            """, source: "config.json")
        let (arch, hp) = try HFConfig.read(minimal, source: "config.json")
        #expect(arch == .llama)
        #expect(hp.mixtureOfExperts == MixtureOfExperts(expertCount: 8, expertsPerToken: 2, expertWidth: 32, normalizesWeights: true))
        #expect(hp.kvHeadCount == 8 && hp.ropeTheta == 1e6 && hp.normEpsilon == 1e-5 && hp.contextLength == 131_072)
        #expect(hp.slidingWindow?.window == 16 && hp.slidingWindow?.slidingLayers == [true, true])
        let written = try HFConfig.make(architecture: arch, hyperparameters: hp, tokenizer: nil, torchDType: "float32", source: "out")
        #expect(written["model_type"]?.stringValue == "mixtral" && written["sliding_window"]?.intValue == 16)
        #expect(written["num_local_experts"]?.intValue == 8 && written["num_experts_per_tok"]?.intValue == 2)
        #expect(try HFConfig.read(written, source: "out") == (arch, hp))

        var unnormalised = hp
        unnormalised.mixtureOfExperts?.normalizesWeights = false
        #expect(throws: SieveCoreError.self) {
            try HFConfig.make(architecture: arch, hyperparameters: unnormalised, tokenizer: nil, torchDType: "float32", source: "out")
        }
    }
}
