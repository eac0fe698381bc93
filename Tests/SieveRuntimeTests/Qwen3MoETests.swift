import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
@testable import SieveRuntime
import Testing

/// Qwen3-MoE against libllama and an independent float64 forward pass: `tiny-qwen3moe` is Qwen3's attention with a
/// mixture of 8 experts (2 per token, weights normalised to sum 1) in every FFN; `config-nonorm.json` keeps the
/// routed weights as they are (`norm_topk_prob` false), which llama.cpp's qwen3moe cannot say (see that folder's
/// README).
@Suite("Qwen3-MoE")
struct Qwen3MoETests {
    static let sources = ["tiny-qwen3moe/hf", "tiny-qwen3moe/f32.gguf"]

    static func expectReferenceOutputs(_ graph: ModelGraph, _ what: String) throws {
        try Fixtures.expectReferenceOutputs(graph, what, model: "tiny-qwen3moe", llamaCpp: Tolerance.float32Logits)
    }

    @Test("the folder and llama.cpp's GGUF read as Qwen3-MoE: a router and 8 stacked experts per layer", arguments: sources)
    func structure(_ source: String) throws {
        let graph = try Fixtures.graph(source)
        #expect(graph.architecture == .qwen3moe)
        let moe = try #require(graph.hyperparameters.mixtureOfExperts)
        #expect(moe == MixtureOfExperts(expertCount: 8, expertsPerToken: 2, expertWidth: 32, normalizesWeights: true))
        for block in graph.blocks {
            let f = block.feedForward
            #expect(f.experts?.routing == moe)
            #expect(try graph.tensor(try #require(f.experts).projection.weight).shape.dims == [8, 64])
            #expect(try graph.tensor(try #require(f.gate).weight).shape.dims == [8, 32, 64])
            #expect(try graph.tensor(f.up.weight).shape.dims == [8, 32, 64])
            #expect(try graph.tensor(f.down.weight).shape.dims == [8, 64, 32])
            #expect(block.attention.queryNorm != nil && block.attention.keyNorm != nil)
        }
    }

    @Test("logits within 1e-4 of the float64 pass and of libllama", arguments: sources)
    func logits(_ source: String) throws {
        try Self.expectReferenceOutputs(try Fixtures.graph(source), source)
    }

    @Test("one token at a time through the KV cache gives the batch's logits")
    func decodeEqualsBatch() throws {
        try Fixtures.expectDecodeEqualsBatch(model: "tiny-qwen3moe/f32.gguf", references: "tiny-qwen3moe/ref.safetensors")
    }

    @Test("llama-quantize's q8_0 experts: logits near libllama's for the same file, batch and decode")
    func quantized() throws {
        let llama = try Fixtures.references("tiny-qwen3moe/ref-llama-cpp.safetensors")
        let expected = try Fixtures.floats(llama, "logits.q8_0")
        let ids = try Fixtures.inputIDs(llama)
        // 8-bit activations everywhere, as llama.cpp multiplies them.
        let model = try Fixtures.model("tiny-qwen3moe/q8_0.gguf", options: RuntimeOptions(quantizedActivations: true))
        let batch = try model.allOutputs(ids).logits
        model.reset()
        var decoded: [Float] = []
        for t in ids { try model.decode(t) { decoded.append(contentsOf: $0) } }
        let (dBatch, dDecode) = (maxAbsDifference(batch, expected), maxAbsDifference(decoded, expected))
        print("tiny-qwen3moe q8_0: max |Δlogit| vs llama.cpp: batch \(dBatch), decode \(dDecode)")
        #expect(dBatch <= Tolerance.quantizedVersusLlamaCpp)
        #expect(dDecode <= Tolerance.quantizedVersusLlamaCpp)
    }

    @Test("norm_topk_prob false: the float64 pass's logits; GGUF refuses it, leaving no file")
    func unnormalisedWeights() throws {
        let scratch = try Fixtures.scratchFolder("qwen3moe")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let graph = try SafetensorsPlugin().read(try Fixtures.folder("tiny-qwen3moe/hf", config: "tiny-qwen3moe/hf/config-nonorm.json", in: scratch))
        #expect(graph.hyperparameters.mixtureOfExperts?.normalizesWeights == false)
        let refs = try Fixtures.references("tiny-qwen3moe/ref.safetensors")
        let out = try Model(graph: graph).allOutputs(try Fixtures.inputIDs(refs))
        let d = maxAbsDifference(out.logits, try Fixtures.floats(refs, "nonorm.logits"))
        print("config-nonorm.json: max |Δlogit| \(d) against float64")
        #expect(d <= Tolerance.float32Logits)
        #expect(maxAbsDifference(out.hidden, try Fixtures.floats(refs, "nonorm.hidden_last")) <= Tolerance.float32Activations)

        let file = scratch.appendingPathComponent("nonorm.gguf")
        #expect(throws: GGUFError.self) { try GGUFPlugin().write(graph, to: file, options: WriteOptions()) }
        #expect(!FileManager.default.fileExists(atPath: file.path))
    }

    @Test("conversion both ways: to GGUF the converter's tensors and keys, to a folder of per-expert tensors transformers reads")
    func conversions() throws {
        let scratch = try Fixtures.scratchFolder("qwen3moe")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let (written, _) = try Fixtures.expectConverterGGUF(
            "tiny-qwen3moe", architecture: "qwen3moe", bitExact: true,
            integerKeys: ["qwen3moe.attention.head_count_kv", "qwen3moe.embedding_length", "qwen3moe.block_count", "qwen3moe.context_length",
                          "qwen3moe.feed_forward_length", "qwen3moe.expert_count", "qwen3moe.expert_used_count",
                          "qwen3moe.expert_feed_forward_length"],
            numberKeys: ["qwen3moe.rope.freq_base", "qwen3moe.attention.layer_norm_rms_epsilon"], in: scratch)
        try Self.expectReferenceOutputs(try GGUFPlugin().read(URL(fileURLWithPath: written.path)), "hf → GGUF")

        let folder = scratch.appendingPathComponent("hf-out")
        try SafetensorsPlugin().write(try Fixtures.graph("tiny-qwen3moe/f32.gguf"), to: folder, options: WriteOptions())
        let config = try JSONValue.parse(contentsOf: folder.appendingPathComponent("config.json"))
        #expect(config["model_type"]?.stringValue == "qwen3_moe" && config["architectures"]?.arrayItems?.first?.stringValue == "Qwen3MoeForCausalLM")
        #expect(config["num_experts"]?.intValue == 8 && config["num_experts_per_tok"]?.intValue == 2)
        #expect(config["moe_intermediate_size"]?.intValue == 32 && config["norm_topk_prob"]?.boolValue == true)
        let original = try Fixtures.references("tiny-qwen3moe/hf/model.safetensors")
        let rewritten = try SafetensorsPlugin().readTensors(folder.appendingPathComponent("model.safetensors")).tensors
        #expect(Set(rewritten.names) == Set(original.names))
        for name in ["model.layers.1.mlp.experts.5.down_proj.weight", "model.layers.3.mlp.experts.0.gate_proj.weight"] {
            #expect(Array(try #require(rewritten[name]).bytes) == Array(try #require(original[name]).bytes), "\(name)")
        }
        try Self.expectReferenceOutputs(try SafetensorsPlugin().read(folder), "GGUF → hf")
    }

    @Test("a checkpoint missing one expert's tensor, or with an expert past num_experts, is refused by name")
    func missingExpert() throws {
        let scratch = try Fixtures.scratchFolder("qwen3moe")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let fewer = try Fixtures.folder("tiny-qwen3moe/hf", editing: ["num_experts": 7], in: scratch)
        let extra = try #require(throws: SieveCoreError.self) { try SafetensorsPlugin().read(fewer) }
        #expect("\(extra)".contains("of expert 7") && "\(extra)".contains("num_experts"))
        let more = try Fixtures.folder("tiny-qwen3moe/hf", editing: ["num_experts": 9], in: scratch)
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
}
