import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
@testable import SieveRuntime
import Testing

/// gpt-oss (`GptOssForCausalLM`, llama.cpp's `gpt-oss`) on `Tests/Fixtures/models/tiny-gpt-oss`: attention with
/// biases and one sink per head, the even layers sliding over 8 positions, YaRN ×4 (untruncated in config.json, as
/// llama.cpp truncates it in the GGUF), and 8 experts of width 64 per layer, 4 per token, with biases and the clamped
/// SwiGLU, stored in MXFP4 (see the folder's README).
@Suite("gpt-oss")
struct GptOSSTests {
    static let model = "tiny-gpt-oss"
    /// Every product with 8-bit activations (q8_0 blocks), as llama.cpp multiplies MXFP4 and q8_0 weights.
    static let quantizedOptions = RuntimeOptions(quantizedActivations: true)
    /// The fixture's weights are scaled so that every gpt-oss feature matters (clamps binding, sinks taking weight),
    /// which amplifies float32 rounding over its four layers: its hidden states (rms 1, at most 3.6) came within 9.6e-5
    /// of the float64 pass (logits within 6.3e-5), where the other fixtures' come within about 1e-5.
    static let hiddenTolerance: Float = 2e-4

    @Test("the folder and llama.cpp's GGUF read as gpt-oss: sinks, biases, alternating windows, MXFP4 experts with biases",
          arguments: ["hf", "model.gguf"])
    func structure(_ file: String) throws {
        let graph = try Fixtures.graph(Self.model + "/" + file)
        let hp = graph.hyperparameters
        #expect(graph.architecture == .gptOSS && hp.activation == .clampedSwiGLU && !hp.tiedEmbeddings)
        #expect(hp.mixtureOfExperts == MixtureOfExperts(expertCount: 8, expertsPerToken: 4, expertWidth: 64, normalizesWeights: true))
        #expect(hp.slidingWindow == SlidingWindowAttention(window: 8, slidingLayers: [true, false, true, false], ropeTheta: 150_000))
        guard case let .yarn(yarn) = hp.ropeScaling else { Issue.record("no YaRN: \(String(describing: hp.ropeScaling))"); return }
        #expect(yarn.factor == 4 && yarn.originalContextLength == 64 && yarn.truncatesCorrectionRange == (file != "hf"))
        for (i, block) in graph.blocks.enumerated() {
            let a = block.attention, f = block.feedForward
            #expect(a.window == (i % 2 == 0 ? 8 : nil) && a.rope?.scaling == hp.ropeScaling)
            #expect(a.q.bias != nil && a.k.bias != nil && a.v.bias != nil && a.o.bias != nil)
            #expect(try graph.tensor(try #require(a.sinks)).shape.dims == [4])
            let router = try #require(f.experts).projection
            #expect(try graph.tensor(try #require(router.bias)).shape.dims == [8])
            for (ref, dims) in [(try #require(f.gate), [8, 64, 64]), (f.up, [8, 64, 64]), (f.down, [8, 64, 64])] {
                let weight = try graph.tensor(ref.weight)
                #expect(weight.dtype == .mxfp4 && weight.shape.dims == dims)
                #expect(try graph.tensor(try #require(ref.bias)).shape.dims == [8, 64])
            }
        }
    }

    /// The checkpoint with its experts as float tensors in transformers' layout (`gate_up_proj` `[experts, hidden,
    /// 2·width]`, gate and up interleaved by column; `down_proj` `[experts, width, hidden]`), decoded from the MXFP4
    /// blocks here with transformers' own rule (E2M1 value × 2^(scale − 127), element 2j in byte j's low nibble): what a
    /// dequantized (bf16) gpt-oss checkpoint holds.
    static func floatExpertsFolder(in scratch: URL) throws -> URL {
        let source = try Fixtures.url(model + "/hf")
        let store = try SafetensorsPlugin().readTensors(source.appendingPathComponent("model.safetensors")).tensors
        let e2m1: [Float] = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6]
        var out = TensorStore()
        for t in store.all where !t.name.hasSuffix("_blocks") && !t.name.hasSuffix("_scales") { out.insert(t) }
        for layer in 0..<4 {
            for part in ["gate_up_proj", "down_proj"] {
                let base = "model.layers.\(layer).mlp.experts.\(part)"
                let blocks = try #require(store[base + "_blocks"]), scales = try #require(store[base + "_scales"])
                let (experts, rows, perRow) = (blocks.shape.dims[0], blocks.shape.dims[1], blocks.shape.dims[2])
                let columns = perRow * 32
                let codes = Array(blocks.bytes), exponents = Array(scales.bytes)
                // [experts, rows, columns] decoded, then stored transposed as [experts, columns, rows].
                var values = [Float](repeating: 0, count: experts * rows * columns)
                for e in 0..<experts {
                    for r in 0..<rows {
                        for c in 0..<columns {
                            let block = (e * rows + r) * perRow + c / 32, k = c % 32
                            let nibble = Int(codes[block * 16 + k / 2] >> UInt8(4 * (k % 2))) & 0x0F
                            values[(e * columns + c) * rows + r] = e2m1[nibble] * Float(sign: .plus, exponent: Int(exponents[block]) - 127, significand: 1)
                        }
                    }
                }
                out.insert(Tensor(name: base, shape: [experts, columns, rows], floats: values))
            }
        }
        return try folder(out, named: "float-experts", in: scratch)
    }

    /// A folder in `scratch` holding `tensors` as its checkpoint beside the fixture folder's other files (linked).
    static func folder(_ tensors: TensorStore, named name: String, in scratch: URL) throws -> URL {
        let source = try Fixtures.url(model + "/hf"), folder = scratch.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: source.path) where file != "model.safetensors" {
            try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent(file), withDestinationURL: source.appendingPathComponent(file))
        }
        try SafetensorsPlugin().writeTensors(tensors, metadata: [("format", "pt")], to: folder.appendingPathComponent("model.safetensors"), options: WriteOptions())
        return folder
    }

    @Test("float experts in transformers' layout: logits within 1e-4 of the float64 pass; the MXFP4 experts decode to the same values")
    func floatExperts() throws {
        let scratch = try Fixtures.scratchFolder("gpt-oss")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let float = try SafetensorsPlugin().read(try Self.floatExpertsFolder(in: scratch))
        let refs = try Fixtures.references(Self.model + "/ref.safetensors")
        let out = try Model(graph: float).allOutputs(try Fixtures.inputIDs(refs))
        let (dLogits, dHidden) = (maxAbsDifference(out.logits, try Fixtures.floats(refs, "logits")),
                                  maxAbsDifference(out.hidden, try Fixtures.floats(refs, "hidden_last")))
        print("tiny-gpt-oss float experts: max |Δlogit| \(dLogits), max |Δhidden_last| \(dHidden) against float64")
        #expect(dLogits <= Tolerance.float32Logits && dHidden <= Self.hiddenTolerance)
        // The MXFP4 folder's experts are exactly those values.
        let mxfp4 = try Fixtures.graph(Self.model + "/hf")
        for block in 0..<4 {
            for part in ["gate", "up", "down"] {
                let name = IRName.experts(block, part) + ".weight"
                let a = try mxfp4.tensor(name).floats(), b = try float.tensor(name).floats()
                #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "\(name)")
            }
        }
    }

    @Test("the GGUF's MXFP4 experts with 8-bit activations, as llama.cpp multiplies them: within 1e-4 of libllama, batch and decode")
    func mxfp4AgainstLibllama() throws {
        let llama = try Fixtures.references(Self.model + "/ref-llama-cpp.safetensors")
        let ids = try Fixtures.inputIDs(llama), expected = try Fixtures.floats(llama, "logits")
        let model = try Fixtures.model(Self.model + "/model.gguf", options: Self.quantizedOptions)
        let batch = try model.allOutputs(ids)
        model.reset()
        var decoded: [Float] = []
        for t in ids { try model.decode(t) { decoded.append(contentsOf: $0) } }
        let (dBatch, dDecode) = (maxAbsDifference(batch.logits, expected), maxAbsDifference(decoded, expected))
        let dHidden = maxAbsDifference(batch.hidden, try Fixtures.floats(llama, "hidden_last"))
        print("tiny-gpt-oss model.gguf, 8-bit activations: max |Δlogit| against libllama: batch \(dBatch), decode \(dDecode); max |Δhidden_last| \(dHidden)")
        #expect(dBatch <= Tolerance.float32Logits && dDecode <= Tolerance.float32Logits && dHidden <= Tolerance.float32Activations)
    }

    @Test("the GGUF with its experts decoded to f32: within 1e-4 of the float64 pass with llama.cpp's truncated YaRN")
    func ggufAgainstFloat64() throws {
        var graph = try Fixtures.graph(Self.model + "/model.gguf")
        for t in graph.tensors.all where t.dtype == .mxfp4 { graph.tensors.insert(try t.converted(to: .f32)) }
        let refs = try Fixtures.references(Self.model + "/ref.safetensors")
        let out = try Model(graph: graph).allOutputs(try Fixtures.inputIDs(refs))
        let (dLogits, dHidden) = (maxAbsDifference(out.logits, try Fixtures.floats(refs, "logits_truncated")),
                                  maxAbsDifference(out.hidden, try Fixtures.floats(refs, "hidden_last_truncated")))
        print("tiny-gpt-oss model.gguf, f32 experts: max |Δlogit| \(dLogits), max |Δhidden_last| \(dHidden) against float64 (truncated YaRN)")
        #expect(dLogits <= Tolerance.float32Logits && dHidden <= Self.hiddenTolerance)
    }

    @Test("the folder's MXFP4 blocks re-pack to the converter's GGUF bytes, and its other tensors to the same values")
    func repackedLikeTheConverter() throws {
        let hf = try Fixtures.graph(Self.model + "/hf"), gguf = try Fixtures.graph(Self.model + "/model.gguf")
        #expect(Set(hf.tensors.names) == Set(gguf.tensors.names))
        for name in hf.tensors.names {
            let a = try hf.tensor(name), b = try gguf.tensor(name)
            if a.dtype == .mxfp4 {
                #expect(b.dtype == .mxfp4 && Array(a.bytes) == Array(b.bytes), "\(name)")
            } else {
                #expect(try a.floats().map(\.bitPattern) == b.floats().map(\.bitPattern), "\(name)")
            }
        }
    }

    @Test("GptOssConfig's defaults: YaRN ×32 when rope_scaling is missing, experts_per_token, alternating windows")
    func configDefaults() throws {
        let minimal = try JSONValue.parse("""
            {"model_type": "gpt_oss", "vocab_size": 512, "hidden_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4,
             "head_dim": 16, "num_key_value_heads": 2, "intermediate_size": 32, "num_local_experts": 8, "experts_per_token": 2}
            """, source: "config.json")
        let (arch, hp) = try HFConfig.read(minimal, source: "config.json")
        #expect(arch == .gptOSS && hp.activation == .clampedSwiGLU && !hp.tiedEmbeddings)
        #expect(hp.mixtureOfExperts == MixtureOfExperts(expertCount: 8, expertsPerToken: 2, expertWidth: 32, normalizesWeights: true))
        #expect(hp.ropeTheta == 150_000 && hp.normEpsilon == 1e-5 && hp.contextLength == 131_072)
        #expect(hp.slidingWindow == SlidingWindowAttention(window: 128, slidingLayers: [true, false, true], ropeTheta: 150_000))
        #expect(hp.ropeScaling == .yarn(YaRNRoPEScaling(factor: 32, originalContextLength: 4096,
                                                       attentionFactor: YaRNRoPEScaling.defaultAttentionFactor(factor: 32),
                                                       truncatesCorrectionRange: false)))
        // A null rope_scaling is none; another activation is refused by name.
        var members = try #require(minimal.objectMembers)
        let (_, unscaled) = try HFConfig.read(.object(members + [("rope_scaling", .null)]), source: "config.json")
        #expect(unscaled.ropeScaling == nil)
        members.append(("hidden_act", .string("gelu")))
        let error = try #require(throws: SieveCoreError.self) { try HFConfig.read(.object(members), source: "config.json") }
        #expect("\(error)".contains("hidden_act"))
    }

    @Test("writing gpt-oss as a folder or a GGUF is refused by name, leaving no file")
    func writersRefuse() throws {
        let scratch = try Fixtures.scratchFolder("gpt-oss-write")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let graph = try Fixtures.graph(Self.model + "/model.gguf")
        let gguf = scratch.appendingPathComponent("out.gguf"), folder = scratch.appendingPathComponent("out")
        #expect(throws: (any Error).self) { try GGUFPlugin().write(graph, to: gguf, options: WriteOptions()) }
        #expect(throws: (any Error).self) { try SafetensorsPlugin().write(graph, to: folder, options: WriteOptions()) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }

    @Test("a checkpoint missing an expert part, or with blocks of the wrong shape, is refused by name")
    func brokenCheckpoints() throws {
        let scratch = try Fixtures.scratchFolder("gpt-oss-broken")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let source = try Fixtures.url(Self.model + "/hf")
        let store = try SafetensorsPlugin().readTensors(source.appendingPathComponent("model.safetensors")).tensors
        func folder(_ name: String, _ edit: (inout TensorStore) throws -> Void) throws -> URL {
            var tensors = store
            try edit(&tensors)
            return try Self.folder(tensors, named: name, in: scratch)
        }
        let noScales = try folder("no-scales") { $0.remove("model.layers.2.mlp.experts.down_proj_scales") }
        let missing = try #require(throws: SieveCoreError.self) { try SafetensorsPlugin().read(noScales) }
        #expect("\(missing)".contains("model.layers.2.mlp.experts.down_proj_scales"))
        let wrong = try folder("wrong-shape") { tensors in
            let blocks = try #require(tensors["model.layers.1.mlp.experts.gate_up_proj_blocks"])
            tensors.insert(try Tensor(name: blocks.name, dtype: .u8, shape: [8, 64, 4, 16],
                                      storage: .owned(TensorBuffer(count: 8 * 64 * 4 * 16)), source: "test"))
        }
        let shape = try #require(throws: SieveCoreError.self) { try SafetensorsPlugin().read(wrong) }
        #expect("\(shape)".contains("gate_up_proj_blocks") && "\(shape)".contains("[8, 128, 2, 16]"))
    }
}
