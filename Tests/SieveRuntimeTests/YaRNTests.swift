import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
import SieveRuntime
import Testing

/// YaRN RoPE scaling (`rope_type: "yarn"`, llama.cpp's `rope.scaling.type` yarn) against a Double reference of
/// transformers' `_compute_yarn_parameters`, and on `tiny-qwen3` against libllama and a float64 pass
/// (`config-yarn.json`, `yarn.gguf`; see that folder's README).
@Suite("YaRN")
struct YaRNTests {
    /// transformers' inverse frequencies in Double: the ramp between the correction dims (floor and ceil when
    /// truncating), interpolation (÷ factor) above it, extrapolation below.
    static func referenceFrequencies(_ p: YaRNRoPEScaling, base: Double, dimensions d: Int) -> [Double] {
        func correction(_ rotations: Double) -> Double {
            Double(d) * log(Double(p.originalContextLength) / (rotations * 2 * Double.pi)) / (2 * log(base))
        }
        var low = correction(p.betaFast), high = correction(p.betaSlow)
        if p.truncatesCorrectionRange { low = floor(low); high = ceil(high) }
        low = max(low, 0); high = min(high, Double(d - 1))
        if low == high { high += 0.001 }
        return (0..<(d / 2)).map { i in
            let extrapolated = 1 / pow(base, Double(2 * i) / Double(d))
            let ramp = min(max((Double(i) - low) / (high - low), 0), 1)
            return extrapolated / p.factor * ramp + extrapolated * (1 - ramp)
        }
    }

    @Test("inverse frequencies and attention factor as transformers computes them",
          arguments: [(YaRNRoPEScaling(factor: 4, originalContextLength: 64), 1e6, 16),
                      (YaRNRoPEScaling(factor: 4, originalContextLength: 32768), 1e6, 128),
                      (YaRNRoPEScaling(factor: 32, originalContextLength: 4096, betaFast: 16, betaSlow: 2, truncatesCorrectionRange: false), 150_000, 64)])
    func frequencies(_ p: YaRNRoPEScaling, _ base: Double, _ dimensions: Int) {
        let mine = RoPEScaling.inverseFrequencies(base: Float(base), dimensions: dimensions, scaling: .yarn(p))
        let reference = Self.referenceFrequencies(p, base: base, dimensions: dimensions)
        #expect(mine.count == dimensions / 2)
        for (i, (a, b)) in zip(mine, reference).enumerated() {
            #expect(abs(Double(a) - b) <= 1e-6 * b, "pair \(i): \(a) against \(b)")
        }
        // Pair 0 always keeps its frequency; the last one is divided by the factor when the ramp ends before it.
        #expect(mine[0] == 1)
        #expect(RoPEScaling.yarn(p).attentionFactor == 0.1 * log(p.factor) + 1)
        #expect(RoPEScaling.yarn(p).frequencyFactors(base: Float(base), dimensions: dimensions) == nil)
    }

    @Test("config.json's yarn parameters: defaults, mscale, the context as original, written back")
    func configParameters() throws {
        func read(_ scaling: String, context: Int = 40960) throws -> RoPEScaling? {
            let config = try JSONValue.parse("""
                {"model_type": "qwen3", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
                 "num_attention_heads": 4, "head_dim": 16, "max_position_embeddings": \(context), "rope_scaling": \(scaling)}
                """, source: "config.json")
            return try HFConfig.read(config, source: "config.json").1.ropeScaling
        }
        #expect(try read(#"{"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}"#)
                == .yarn(YaRNRoPEScaling(factor: 4, originalContextLength: 32768, attentionFactor: 0.1 * log(4.0) + 1)))
        // Zero betas take the defaults, a missing original context is the model's; DeepSeek's mscale pair sets the factor.
        #expect(try read(#"{"type": "yarn", "factor": 40, "beta_fast": 0, "mscale": 0.707, "mscale_all_dim": 0.707}"#, context: 163840)
                == .yarn(YaRNRoPEScaling(factor: 40, originalContextLength: 163840, attentionFactor: 1)))
        let explicit = YaRNRoPEScaling(factor: 4, originalContextLength: 64, betaFast: 16, betaSlow: 2, attentionFactor: 1.05, truncatesCorrectionRange: false)
        #expect(try read(#"{"rope_type": "yarn", "factor": 4, "original_max_position_embeddings": 64, "beta_fast": 16, "beta_slow": 2, "attention_factor": 1.05, "truncate": false}"#)
                == .yarn(explicit))
        #expect(throws: SieveCoreError.self) { try read(#"{"rope_type": "yarn", "factor": 4, "truncate": "no"}"#) }
        #expect(throws: SieveCoreError.self) { try read(#"{"rope_type": "yarn", "original_max_position_embeddings": 64}"#) }

        // Written back with only the options that differ from the defaults, and read back the same.
        var hp = try HFConfig.read(try JSONValue.parse(#"{"model_type": "qwen3", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4, "head_dim": 16}"#, source: "c"), source: "c").1
        for scaling in [YaRNRoPEScaling(factor: 4, originalContextLength: 64), explicit] {
            hp.ropeScaling = .yarn(scaling)
            let written = try HFConfig.make(architecture: .qwen3, hyperparameters: hp, tokenizer: nil, torchDType: "float32", source: "out")
            #expect(written["rope_scaling"]?["rope_type"]?.stringValue == "yarn")
            #expect((written["rope_scaling"]?["beta_fast"] == nil) == (scaling.betaFast == 32))
            #expect(try HFConfig.read(written, source: "out").1.ropeScaling == .yarn(scaling))
        }
    }

    /// tiny-qwen3's weights with `config-yarn.json` (factor 4, original context 64) or `config-yarn-params.json`.
    static func folder(_ config: String, in scratch: URL) throws -> URL {
        try Fixtures.folder("tiny-qwen3/hf", config: "tiny-qwen3/hf/\(config)", in: scratch)
    }

    @Test("tiny-qwen3 with YaRN from config.json and from llama.cpp's converter's GGUF: logits of libllama and of the float64 pass",
          arguments: ["config-yarn.json", "yarn.gguf"])
    func logits(_ source: String) throws {
        let scratch = try Fixtures.scratchFolder("yarn")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let graph = source.hasSuffix(".gguf") ? try Fixtures.graph("tiny-qwen3/" + source) : try SafetensorsPlugin().read(try Self.folder(source, in: scratch))
        #expect(graph.hyperparameters.ropeScaling == .yarn(YaRNRoPEScaling(factor: 4, originalContextLength: 64)))
        try Fixtures.expectReferenceOutputs(graph, source, model: "tiny-qwen3", variant: "yarn.", llamaCpp: Tolerance.float32Logits)

        let refs = try Fixtures.references("tiny-qwen3/ref.safetensors")
        let model = try Model(graph: graph)
        var decoded: [Float] = []
        for id in try Fixtures.inputIDs(refs) { try model.decode(id) { decoded.append(contentsOf: $0) } }
        #expect(maxAbsDifference(decoded, try Fixtures.floats(refs, "yarn.logits")) <= Tolerance.float32Logits, "decode")
    }

    @Test("every YaRN option set (betas 16 and 2, attention factor 1.05, untruncated): the float64 pass; GGUF refuses it, leaving no file")
    func explicitParameters() throws {
        let scratch = try Fixtures.scratchFolder("yarn")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let graph = try SafetensorsPlugin().read(try Self.folder("config-yarn-params.json", in: scratch))
        let refs = try Fixtures.references("tiny-qwen3/ref.safetensors")
        let out = try Model(graph: graph).allOutputs(try Fixtures.inputIDs(refs))
        let d = maxAbsDifference(out.logits, try Fixtures.floats(refs, "yarn_params.logits"))
        print("config-yarn-params.json: max |Δlogit| \(d) against float64")
        #expect(d <= Tolerance.float32Logits)
        #expect(maxAbsDifference(out.hidden, try Fixtures.floats(refs, "yarn_params.hidden_last")) <= Tolerance.float32Activations)

        let file = scratch.appendingPathComponent("params.gguf")
        let error = try #require(throws: GGUFError.self) { try GGUFPlugin().write(graph, to: file, options: WriteOptions()) }
        #expect("\(error)".contains("beta_fast 32"))
        #expect(!FileManager.default.fileExists(atPath: file.path))
    }

    @Test("conversion both ways: to GGUF the converter's YaRN keys, to config.json the rope_scaling transformers reads")
    func conversions() throws {
        let scratch = try Fixtures.scratchFolder("yarn")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("yarn.gguf")
        try GGUFPlugin().write(try SafetensorsPlugin().read(try Self.folder("config-yarn.json", in: scratch)), to: out, options: WriteOptions())
        let written = try GGUFFile(url: out), reference = try GGUFFile(url: try Fixtures.url("tiny-qwen3/yarn.gguf"))
        #expect(written["qwen3.rope.scaling.type"]?.stringValue == "yarn")
        for key in ["rope.scaling.factor", "rope.scaling.original_context_length", "rope.freq_base"] {
            #expect(written["qwen3." + key]?.doubleValue == reference["qwen3." + key]?.doubleValue, "\(key)")
        }
        #expect(written["qwen3.rope.scaling.attn_factor"] == nil)
        try Fixtures.expectReferenceOutputs(try GGUFPlugin().read(out), "hf → GGUF", model: "tiny-qwen3", variant: "yarn.", llamaCpp: Tolerance.float32Logits)

        let folder = scratch.appendingPathComponent("hf-out")
        try SafetensorsPlugin().write(try Fixtures.graph("tiny-qwen3/yarn.gguf"), to: folder, options: WriteOptions())
        let config = try JSONValue.parse(contentsOf: folder.appendingPathComponent("config.json"))
        #expect(config["rope_scaling"]?["rope_type"]?.stringValue == "yarn" && config["rope_scaling"]?["factor"]?.doubleValue == 4)
        #expect(config["rope_scaling"]?["original_max_position_embeddings"]?.intValue == 64)
        try Fixtures.expectReferenceOutputs(try SafetensorsPlugin().read(folder), "GGUF → hf", model: "tiny-qwen3", variant: "yarn.", llamaCpp: Tolerance.float32Logits)
    }

    @Test("a GGUF attention factor beyond YaRN's own (rope.scaling.attn_factor) multiplies it, as llama.cpp applies it")
    func extraAttentionFactor() throws {
        let scratch = try Fixtures.scratchFolder("yarn")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var graph = try Fixtures.graph("tiny-qwen3/yarn.gguf")
        graph.hyperparameters.ropeScaling = .yarn(YaRNRoPEScaling(factor: 4, originalContextLength: 64, attentionFactor: 1.25))
        let out = scratch.appendingPathComponent("scaled.gguf")
        try GGUFPlugin().write(graph, to: out, options: WriteOptions())
        let file = try GGUFFile(url: out)
        let extra = try #require(file["qwen3.rope.scaling.attn_factor"]?.doubleValue)
        #expect(abs(extra - 1.25 / (0.1 * log(4.0) + 1)) <= 1e-6)
        guard case let .yarn(p)? = try GGUFPlugin().read(out).hyperparameters.ropeScaling else { Issue.record("no YaRN read back"); return }
        #expect(abs(p.attentionFactor - 1.25) <= 1e-6)
    }
}
