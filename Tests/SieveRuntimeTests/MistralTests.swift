import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
import SieveRuntime
import Testing

/// Mistral checkpoints (`MistralForCausalLM`, Llama's layout with a sliding window on every layer) and Qwen2 with
/// `use_sliding_window`, on tiny-llama's and tiny-qwen2's weights with edited configs. The window itself is checked
/// against libllama and float64 passes by the Gemma suites; here, that the configs select it: with a window wider
/// than the 24 reference tokens the logits are transformers' Llama logits, with a window of 4 the first four
/// positions still are and the later ones are not.
@Suite("Mistral and sliding Qwen2")
struct MistralTests {
    static func mistral(window: Any, in scratch: URL) throws -> ModelGraph {
        try SafetensorsPlugin().read(try Fixtures.folder(
            "tiny-llama/hf", editing: ["model_type": "mistral", "architectures": ["MistralForCausalLM"], "sliding_window": window], in: scratch))
    }

    /// Logits per position of `graph` on tiny-llama's reference ids, and those of transformers.
    static func logits(_ graph: ModelGraph) throws -> (mine: [[Float]], reference: [[Float]]) {
        let refs = try Fixtures.references("tiny-llama/ref.safetensors")
        let vocab = graph.hyperparameters.vocabSize
        let rows = { (flat: [Float]) in stride(from: 0, to: flat.count, by: vocab).map { Array(flat[$0..<($0 + vocab)]) } }
        return (rows(try Model(graph: graph).allOutputs(try Fixtures.inputIDs(refs)).logits), rows(try Fixtures.floats(refs, "logits")))
    }

    @Test("a Mistral config reads as Llama; without a window, or with one wider than the text, it gives transformers' logits")
    func mistralWithoutEffectiveWindow() throws {
        let scratch = try Fixtures.scratchFolder("mistral")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let none = try Self.mistral(window: NSNull(), in: scratch)
        #expect(none.architecture == .llama && none.hyperparameters.slidingWindow == nil)
        let wide = try Self.mistral(window: 32, in: scratch)
        #expect(wide.hyperparameters.slidingWindow == SlidingWindowAttention(window: 32, slidingLayers: [true, true], ropeTheta: 10000))
        #expect(wide.blocks.allSatisfy { $0.attention.window == 32 && $0.attention.rope == none.blocks[0].attention.rope })
        for graph in [none, wide] {
            let (mine, reference) = try Self.logits(graph)
            #expect(maxAbsDifference(mine.flatMap { $0 }, reference.flatMap { $0 }) <= Tolerance.float32Logits)
        }
    }

    @Test("a window of 4 keeps the first four positions' logits and changes the later ones; decoding equals the batch")
    func mistralWindow() throws {
        let scratch = try Fixtures.scratchFolder("mistral")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let graph = try Self.mistral(window: 4, in: scratch)
        let (mine, reference) = try Self.logits(graph)
        for p in 0..<4 { #expect(maxAbsDifference(mine[p], reference[p]) <= Tolerance.float32Logits, "position \(p)") }
        for p in 5..<mine.count { #expect(maxAbsDifference(mine[p], reference[p]) > 1e-3, "position \(p) sees only 4 positions") }
        let model = try Model(graph: graph)
        var decoded: [Float] = []
        for id in try Fixtures.inputIDs(try Fixtures.references("tiny-llama/ref.safetensors")) {
            try model.decode(id) { decoded.append(contentsOf: $0) }
        }
        #expect(maxAbsDifference(decoded, mine.flatMap { $0 }) <= Tolerance.float32Logits)

        // Both formats keep the window: the folder as Mistral's config, the GGUF in keys llama.cpp's llama ignores.
        let folder = scratch.appendingPathComponent("out")
        try SafetensorsPlugin().write(graph, to: folder, options: WriteOptions())
        let config = try JSONValue.parse(contentsOf: folder.appendingPathComponent("config.json"))
        #expect(config["model_type"]?.stringValue == "mistral" && config["sliding_window"]?.intValue == 4)
        let gguf = scratch.appendingPathComponent("out.gguf")
        try GGUFPlugin().write(graph, to: gguf, options: WriteOptions())
        #expect(try GGUFFile(url: gguf)["general.architecture"]?.stringValue == "llama")
        for back in [try SafetensorsPlugin().read(folder), try GGUFPlugin().read(gguf)] {
            #expect(back.hyperparameters.slidingWindow == graph.hyperparameters.slidingWindow)
            #expect(maxAbsDifference(try Self.logits(back).mine.flatMap { $0 }, mine.flatMap { $0 }) <= Tolerance.float32Logits)
        }
    }

    @Test("Qwen2 slides only with use_sliding_window, from max_window_layers on or as layer_types lists")
    func qwen2SlidingLayers() throws {
        let scratch = try Fixtures.scratchFolder("qwen2-swa")
        defer { try? FileManager.default.removeItem(at: scratch) }
        func read(_ edit: [String: Any], removing: [String] = []) throws -> SlidingWindowAttention? {
            try SafetensorsPlugin().read(try Fixtures.folder("tiny-qwen2/hf", editing: edit, removing: removing, in: scratch))
                .hyperparameters.slidingWindow
        }
        #expect(try read(["use_sliding_window": false, "sliding_window": 4]) == nil)
        // transformers 4.57 writes layer_types (here all full_attention), which then decides.
        #expect(try read(["use_sliding_window": true, "sliding_window": 4]) == nil)
        let layers = try Fixtures.graph("tiny-qwen2/hf").hyperparameters.layerCount
        let theta = try #require(try Fixtures.graph("tiny-qwen2/hf").hyperparameters.ropeTheta)
        #expect(try read(["use_sliding_window": true, "sliding_window": 4, "max_window_layers": 1], removing: ["layer_types"])
            == SlidingWindowAttention(window: 4, slidingLayers: (0..<layers).map { $0 >= 1 }, ropeTheta: theta))
        let listed = (0..<layers).map { $0 % 2 == 0 }
        #expect(try read(["use_sliding_window": true, "sliding_window": 4, "layer_types": listed.map { $0 ? "sliding_attention" : "full_attention" }])
            == SlidingWindowAttention(window: 4, slidingLayers: listed, ropeTheta: theta))
    }
}
