import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
import SieveRuntime
import Testing

/// What only Qwen3-MoE has (the tests both mixture-of-experts families share are `MixtureOfExpertsTests`):
/// `tiny-qwen3moe`'s `config-nonorm.json` keeps the routed weights as they are (`norm_topk_prob` false), which
/// llama.cpp's qwen3moe cannot say (see that folder's README).
@Suite("Qwen3-MoE")
struct Qwen3MoETests {
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
}
