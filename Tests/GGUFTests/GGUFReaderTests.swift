import Foundation
import Testing
@testable import GGUFFormat
@testable import SieveCore

/// Every fixture GGUF read by Sieve equals what gguf-py reads (recorded in expected.json by make_expected.py).
@Suite struct GGUFFixtureTests {
    static let expected: JSONValue = (try? Fixture.json("expected.json")) ?? .null
    static let fileNames: [String] = expected["files"]?.objectMembers?.map(\.0) ?? []

    @Test func expectationsCoverTheRepositoryFixtures() {
        for name in ["tiny-llama/q8_0.gguf", "tiny-llama/q4_0.gguf", "tiny-llama/q4_1.gguf", "tiny-llama/q5_0.gguf",
                     "tiny-llama/q4_k_m.gguf", "tiny-llama/q6_k.gguf", "tiny-llama-bpe/q8_0.gguf"] {
            #expect(Self.fileNames.contains(name), "expected.json lacks \(name)")
            #expect(Models.has(name), "fixture \(name) is missing from Tests/Fixtures/models")
        }
    }

    /// Header, metadata (types and values), tensor infos, and every tensor's dequantized values, bit-exact.
    @Test(arguments: GGUFFixtureTests.fileNames)
    func matchesGGUFPy(_ name: String) throws {
        guard let url = Models.find(name) else { return } // float conversions: rebuilt by `make models`
        let file = try GGUFFile(url: url)
        let expected = try #require(Self.expected["files"]?[name])
        #expect(GGUFPyComparison.structureDifferences(file, expected) == [])
        #expect(GGUFPyComparison.metadataDifferences(file, expected) == [])
        #expect(try GGUFPyComparison.valueDifferences(file, expected) == [])
    }

    /// `readTensors` gives every tensor under its GGUF name with zero-copy storage, and readable metadata.
    @Test func readTensorsIsZeroCopyAndSummarisesMetadata() throws {
        let url = try #require(Models.find("tiny-llama/q4_k_m.gguf"))
        let tf = try GGUFPlugin().readTensors(url)
        #expect(tf.tensors.count == 21)
        let q = try #require(tf.tensors["blk.0.attn_q.weight"])
        #expect(q.dtype == .q4_K && q.shape == [256, 256])
        if case .mapped = q.storage {} else { Issue.record("expected a mapped (zero-copy) tensor") }
        let meta = Dictionary(tf.metadata, uniquingKeysWith: { a, _ in a })
        #expect(meta["GGUF.version"] == "3")
        #expect(meta["general.architecture"] == "llama")
        #expect(meta["llama.attention.layer_norm_rms_epsilon"] == "1e-05")
        #expect(meta["tokenizer.ggml.tokens"]?.hasPrefix("[512 × string: \"<unk>\", \"<s>\", \"</s>\"") == true)
        #expect(GGUFPlugin().claims(url))
        #expect(!GGUFPlugin().claims(Models.repoRoot.appendingPathComponent("Package.swift")))
    }
}

/// Reading GGUF models into the IR: hyperparameters, names, the Llama RoPE row order, GPT-2's fused QKV,
/// tied embeddings and tokenizers.
@Suite struct GGUFModelTests {
    static func hfToIR(_ name: String) -> String? {
        var n = name
        for (a, b) in [("model.embed_tokens", IRName.tokenEmbedding), ("model.norm", IRName.finalNorm), ("lm_head", IRName.lmHead)] where n.hasPrefix(a + ".") {
            return b + n.dropFirst(a.count)
        }
        guard n.hasPrefix("model.layers.") else { return nil }
        n.removeFirst("model.layers.".count)
        let parts = n.split(separator: ".", maxSplits: 1).map(String.init)
        guard let i = Int(parts[0]) else { return nil }
        let table = [("self_attn.q_proj", IRName.attention(i, "q")), ("self_attn.k_proj", IRName.attention(i, "k")),
                     ("self_attn.v_proj", IRName.attention(i, "v")), ("self_attn.o_proj", IRName.attention(i, "o")),
                     ("mlp.gate_proj", IRName.feedForward(i, "gate")), ("mlp.up_proj", IRName.feedForward(i, "up")),
                     ("mlp.down_proj", IRName.feedForward(i, "down")), ("input_layernorm", IRName.attentionNorm(i)),
                     ("post_attention_layernorm", IRName.feedForwardNorm(i))]
        for (hf, ir) in table where parts[1].hasPrefix(hf + ".") { return ir + parts[1].dropFirst(hf.count) }
        return nil
    }

    @Test func tinyLlamaHyperparametersAndTokenizer() throws {
        let graph = try GGUFPlugin().read(try #require(Models.find("tiny-llama/q8_0.gguf")))
        #expect(graph.architecture == .llama)
        #expect(graph.hyperparameters == Hyperparameters(
            vocabSize: 512, hiddenSize: 256, intermediateSize: 512, layerCount: 2, headCount: 4, kvHeadCount: 2,
            headDim: 64, contextLength: 256, normEpsilon: 1e-5, activation: .silu, ropeTheta: 10_000, tiedEmbeddings: false))
        let tok = try #require(graph.tokenizer)
        #expect(tok.kind == .sentencePiece && tok.tokens.count == 512 && tok.scores.count == 512 && tok.tokenTypes.count == 512)
        #expect(tok.tokens[3] == "<0x00>" && tok.tokenTypes[3] == 6)
        #expect(tok.bosID == 1 && tok.eosID == 2 && tok.unknownID == 0 && tok.addBOS && !tok.addEOS && tok.addSpacePrefix)
        #expect(tok.preTokenizer == "default")
        #expect(graph.metadata["general.name"] == "tiny-llama")
        #expect(graph.tensors.count == 21)
        #expect(try graph.tensor("blocks.1.ffn.down.weight").dtype == .q8_0)
        #expect(graph.lmHead?.projection.weight == "lm_head.weight")
    }

    @Test func tiedEmbeddingsAndBPETokenizer() throws {
        let graph = try GGUFPlugin().read(try #require(Models.find("tiny-llama-bpe/q8_0.gguf")))
        #expect(graph.hyperparameters.tiedEmbeddings)
        #expect(graph.lmHead?.projection.weight == IRName.tokenEmbedding + ".weight")
        #expect(!graph.tensors.contains("lm_head.weight"))
        let tok = try #require(graph.tokenizer)
        #expect(tok.kind == .bytePairEncoding && tok.merges.count == 255 && tok.preTokenizer == "gpt-2")
        #expect(!tok.addBOS && tok.bosID == 0 && tok.eosID == 0 && !tok.addSpacePrefix && tok.scores.isEmpty)
    }

    /// Quantized tensors stay quantized; un-permuted Q/K are owned copies, everything else maps the file.
    @Test func quantizedTensorsStayQuantizedAndMapped() throws {
        let graph = try GGUFPlugin().read(try #require(Models.find("tiny-llama/q4_k_m.gguf")))
        #expect(try graph.tensor("blocks.1.attn.v.weight").dtype == .q6_K)
        #expect(try graph.tensor("blocks.0.attn.q.weight").dtype == .q4_K)
        if case .mapped = try graph.tensor("blocks.0.ffn.up.weight").storage {} else { Issue.record("ffn.up should be mapped") }
        if case .owned = try graph.tensor("blocks.0.attn.k.weight").storage {} else { Issue.record("attn.k should be an un-permuted copy") }
    }

    /// After the RoPE un-permutation, llama.cpp's conversion holds exactly the Hugging Face weights (f32), or
    /// the same weights within the quantization error (q8_0: half a step of amax/127 per 32-block, plus the fp16
    /// rounding of the block scale).
    @Test(arguments: ["tiny-llama/f32.gguf", "tiny-llama/q8_0.gguf", "tiny-llama-bpe/q8_0.gguf", "tiny-qwen2/f32.gguf", "tiny-llama-bpe/f32.gguf"])
    func matchesHuggingFaceWeights(_ name: String) throws {
        guard let url = Models.find(name) else { return }
        let model = String(name.split(separator: "/")[0])
        let hf = try MiniSafetensors.read(try #require(Models.find(model + "/hf/model.safetensors")))
        let graph = try GGUFPlugin().read(url)
        var checked = 0
        for (hfName, (shape, values)) in hf {
            let irName = try #require(Self.hfToIR(hfName), "unmapped HF tensor \(hfName)")
            let t = try graph.tensor(irName)
            #expect(t.shape.dims == shape, "\(irName)")
            let got = try t.floats()
            if t.dtype == .f32 {
                #expect(got == values, "\(irName) differs from \(hfName)")
            } else {
                for b in 0..<(values.count / 32) {
                    let block = values[(32 * b)..<(32 * b + 32)]
                    // Half a step plus the fp16 rounding of the scale (up to 127·d·2⁻¹¹).
                    let bound = block.map(abs).max()! / 127 * 0.57 + 1e-6
                    let worst = zip(got[(32 * b)..<(32 * b + 32)], block).map { abs($0 - $1) }.max()!
                    #expect(worst <= bound, "\(irName) block \(b): error \(worst) > \(bound)")
                    if worst > bound { break }
                }
            }
            checked += 1
        }
        #expect(checked == hf.count && checked >= 18)
    }

    /// GPT-2: the fused attn_qkv splits into q, k, v row slices (zero copy) equal to HF's Conv1D c_attn columns.
    @Test(.enabled(if: Models.has("tiny-gpt2/f32.gguf"), "tiny-gpt2/f32.gguf missing: run `make models`"))
    func gpt2SplitsFusedQKV() throws {
        let url = try #require(Models.find("tiny-gpt2/f32.gguf"))
        let graph = try GGUFPlugin().read(url)
        #expect(graph.architecture == .gpt2)
        let hp = graph.hyperparameters
        #expect(hp.activation == .geluTanh && hp.ropeTheta == nil && hp.tiedEmbeddings && hp.intermediateSize == 1024 && hp.normEpsilon == 1e-5)
        let hf = try MiniSafetensors.read(try #require(Models.find("tiny-gpt2/hf/model.safetensors")))
        let cAttn = try #require(hf["transformer.h.1.attn.c_attn.weight"])   // [in 256, out 768]
        let cBias = try #require(hf["transformer.h.1.attn.c_attn.bias"])
        for (p, part) in ["q", "k", "v"].enumerated() {
            let w = try graph.tensor(IRName.attention(1, part) + ".weight")
            #expect(w.shape == [256, 256])
            if case .mapped = w.storage {} else { Issue.record("\(part) should be a zero-copy slice") }
            let values = try w.floats()
            var mismatch = 0
            for o in 0..<256 { for i in 0..<256 where values[o * 256 + i] != cAttn.values[i * 768 + p * 256 + o] { mismatch += 1 } }
            #expect(mismatch == 0, "\(part): \(mismatch) values differ")
            #expect(try graph.tensor(IRName.attention(1, part) + ".bias").floats() == Array(cBias.values[(p * 256)..<(p * 256 + 256)]))
        }
        #expect(graph.embedding.positions == IRName.positionEmbedding + ".weight")
        #expect(try graph.tensor(IRName.finalNorm + ".bias").shape == [256])
    }

    /// `url`'s bytes with its metadata edited: `drop` keys left out, `set` keys replaced or added.
    static func edited(_ url: URL, drop: Set<String> = [], set: [(String, GGUFValue)] = [], dropTensors: Set<String> = []) throws -> [UInt8] {
        let file = try GGUFFile(url: url)
        var raw = RawGGUF()
        raw.alignment = file.alignment
        let replaced = Set(set.map(\.0))
        raw.entries = file.metadata.filter { !drop.contains($0.key) && !replaced.contains($0.key) }.map { RawGGUF.entry($0.key, $0.value) }
            + set.map { RawGGUF.entry($0.0, $0.1) }
        raw.tensors = file.tensorInfos.filter { !dropTensors.contains($0.name) }.map {
            RawGGUF.tensor($0.name, ne: $0.dimensions.map(Int64.init), type: $0.type.rawValue, offset: UInt64($0.offset))
        }
        return raw.bytes + Array(file.file.bytes[file.dataOffset...])
    }

    @Test("a phi3 GGUF: LongRoPE needs both factor sets; fused tensors that disagree with the heads or the FFN width are refused")
    func phi3Errors() throws {
        let url = try #require(Models.find("tiny-phi3/longrope.gguf"))
        let dir = try Models.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func read(drop: Set<String> = [], set: [(String, GGUFValue)] = [], dropTensors: Set<String> = []) throws -> ModelGraph {
            let out = dir.appendingPathComponent("edited-\(UUID().uuidString).gguf")
            try Data(try Self.edited(url, drop: drop, set: set, dropTensors: dropTensors)).write(to: out)
            return try GGUFPlugin().read(out)
        }
        // Without rope.scaling.attn_factor llama.cpp multiplies by 1.
        guard case let .longRoPE(p) = try read(drop: ["phi3.rope.scaling.attn_factor"]).hyperparameters.ropeScaling else {
            Issue.record("no LongRoPE"); return
        }
        #expect(p.attentionFactor == 1 && p.originalContextLength == 256)
        func message(_ body: () throws -> ModelGraph) -> String {
            do { _ = try body(); return "" } catch { return error.localizedDescription }
        }
        let missing = message { try read(dropTensors: ["rope_factors_short.weight"]) }
        #expect(missing.contains("rope_factors_short.weight"), "\(missing)")
        let qkv = message { try read(set: [("phi3.attention.head_count_kv", .uint32(1))]) }
        #expect(qkv.contains("blk.0.attn_qkv.weight"), "\(qkv)")
        let up = message { try read(set: [("phi3.feed_forward_length", .uint32(95))]) }
        #expect(up.contains("blk.0.ffn_up.weight"), "\(up)")
    }

    @Test("a gemma2 GGUF without llama.cpp's optional keys reads with its defaults: window 4096, caps 50 and 30")
    func gemma2Defaults() throws {
        let url = try #require(Models.find("tiny-gemma2/f32.gguf"))
        let dir = try Models.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func read(drop: Set<String> = [], set: [(String, GGUFValue)] = []) throws -> Hyperparameters {
            let out = dir.appendingPathComponent("edited-\(UUID().uuidString).gguf")
            try Data(try Self.edited(url, drop: drop, set: set)).write(to: out)
            return try GGUFPlugin().read(out).hyperparameters
        }
        let original = try read()
        #expect(original == (try GGUFPlugin().read(url)).hyperparameters, "the edited copy reads as the original")
        let defaults = try read(drop: ["gemma2.attention.sliding_window", "gemma2.attn_logit_softcapping", "gemma2.final_logit_softcapping"])
        #expect(defaults.slidingWindow == SlidingWindowAttention(window: 4096, slidingLayers: [true, false, true, false], ropeTheta: 10000))
        #expect(defaults.attentionLogitSoftcap == 50 && defaults.finalLogitSoftcap == 30)
        // A pattern and a base for the sliding layers, as llama.cpp reads them.
        let swa = try read(set: [("gemma2.attention.sliding_window_pattern", .uint32(4)), ("gemma2.rope.freq_base_swa", .float32(5000))])
        #expect(swa.slidingWindow == SlidingWindowAttention(window: 8, slidingLayers: [true, true, true, false], ropeTheta: 5000))
        for (key, value, message) in [("gemma2.attention.sliding_window", GGUFValue.uint32(0), "always slides"),
                                      ("gemma2.attn_logit_softcapping", .float32(0), "always divides"),
                                      ("gemma2.final_logit_softcapping", .float32(-1), "always divides")] {
            #expect { _ = try read(set: [(key, value)]) } throws: { error in
                "\(error)".contains(key) && "\(error)".contains(message)
            }
        }
    }
}

/// The real default model, SmolLM2-135M-Instruct Q4_1 (fetched by `make models`; the suite is skipped without
/// it): every one of its 272 tensors decodes as gguf-py decodes it, and the model facts are right.
@Suite(.enabled(if: Models.smollm2 != nil, "SmolLM2-135M-Instruct.Q4_1.gguf not fetched (make models)"))
struct SmolLM2Tests {
    static var url: URL? { Models.smollm2 }

    @Test func allTensorsMatchGGUFPy() throws {
        let file = try GGUFFile(url: try #require(Self.url))
        let expected = try #require(try Fixture.json("expected_smollm2.json")["file"])
        #expect(file.tensorInfos.count == 272)
        #expect(Set(file.tensorInfos.map(\.type)) == [.q4_1, .q8_0, .f32])
        #expect(GGUFPyComparison.structureDifferences(file, expected) == [])
        #expect(GGUFPyComparison.metadataDifferences(file, expected) == [])
        #expect(try GGUFPyComparison.valueDifferences(file, expected) == [])
    }

    @Test func modelFactsAndByteExactKeepRoundTrip() throws {
        let url = try #require(Self.url)
        let graph = try GGUFPlugin().read(url)
        let hp = graph.hyperparameters
        #expect(graph.architecture == .llama)
        #expect(hp.layerCount == 30 && hp.hiddenSize == 576 && hp.intermediateSize == 1536 && hp.headCount == 9)
        #expect(hp.kvHeadCount == 3 && hp.vocabSize == 49152 && hp.tiedEmbeddings && hp.ropeTheta == 100_000 && hp.contextLength == 8192)
        #expect(graph.parameterCount == 134_515_008)
        let tok = try #require(graph.tokenizer)
        #expect(tok.kind == .bytePairEncoding && tok.preTokenizer == "smollm" && tok.merges.count == 48900)
        #expect(tok.bosID == 1 && tok.eosID == 2 && tok.paddingID == 2 && !tok.addBOS && tok.chatTemplate?.contains("<|im_start|>") == true)

        let (out, dir) = try GGUFWriterTests.written(graph, dtype: nil)
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = try GGUFFile(url: url), copy = try GGUFFile(url: out)
        #expect(copy.tensorInfos.count == 272)
        for info in source.tensorInfos {
            let mine = try #require(copy.tensorInfo(info.name))
            #expect(mine.type == info.type && mine.dimensions == info.dimensions)
            #expect(source.bytes(of: info).elementsEqual(copy.bytes(of: mine)), "\(info.name) bytes differ after GGUF → IR → GGUF")
        }
        #expect(copy["general.file_type"] == .uint32(3))
    }
}

@Suite struct GGUFNamingTests {
    @Test func namesMapBothWays() {
        let pairs = [("token_embd.weight", "embed.tokens.weight"), ("position_embd.weight", "embed.positions.weight"),
                     ("output_norm.bias", "final_norm.bias"), ("output.weight", "lm_head.weight"),
                     ("blk.0.attn_norm.weight", "blocks.0.attn_norm.weight"), ("blk.12.attn_q.bias", "blocks.12.attn.q.bias"),
                     ("blk.3.attn_output.weight", "blocks.3.attn.o.weight"), ("blk.1.ffn_gate.weight", "blocks.1.ffn.gate.weight"),
                     ("blk.1.ffn_norm.weight", "blocks.1.ffn_norm.weight"), ("blk.29.ffn_down.weight", "blocks.29.ffn.down.weight")]
        for (gguf, ir) in pairs {
            #expect(GGUFNaming.irName(gguf: gguf) == ir)
            #expect(GGUFNaming.ggufName(ir: ir) == gguf)
        }
        for bad in ["blk.x.attn_q.weight", "blk.01.attn_q.weight", "rope_freqs.weight", "blk.0.attn_qkv.weight", "output.scale", "token_embd"] {
            #expect(GGUFNaming.irName(gguf: bad) == nil, "\(bad)")
        }
    }

    /// The RoPE row permutation moves whole rows (so quantized rows too) and the two directions are inverses.
    @Test func ropePermutationIsAnInvolutionPairOnRows() throws {
        let rows = 2 * 8, cols = 32
        let values = (0..<(rows * cols)).map { Float($0) }
        let t = try Tensor(name: "q", shape: [rows, cols], floats: values).converted(to: .q8_0)
        let interleaved = try LlamaRoPEPermutation.toInterleaved(t, heads: 2, source: "t")
        let back = try LlamaRoPEPermutation.toHalfSplit(interleaved, heads: 2, source: "t")
        #expect(Array(back.bytes) == Array(t.bytes))
        let plain = Tensor(name: "k", shape: [rows, 1], floats: (0..<rows).map(Float.init))
        // Head 0 rows in HF order 0…7 pair (i, i+4); interleaved they sit at (2i, 2i+1).
        #expect(try LlamaRoPEPermutation.toInterleaved(plain, heads: 2, source: "t").floats() == [0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15])
        #expect(throws: SieveCoreError.self) { try LlamaRoPEPermutation.toInterleaved(plain, heads: 3, source: "t") }
    }
}

/// Tokenizer metadata of llama.cpp's vocabulary-only GGUFs (the shared tokenizer fixtures, when present).
@Suite struct GGUFVocabularyTests {
    @Test(.enabled(if: Models.vocabulary("ggml-vocab-bert-bge.gguf") != nil))
    func wordPieceSpecialTokens() throws {
        let url = try #require(Models.vocabulary("ggml-vocab-bert-bge.gguf"))
        let tok = try #require(try GGUFTokenizerMetadata.read(GGUFFile(url: url)))
        #expect(tok.kind == .wordPiece && tok.tokens.count == 30522 && tok.lowercase)
        #expect(tok.clsID == 101 && tok.separatorID == 102 && tok.unknownID == 100 && tok.paddingID == 0 && tok.maskID == 103)
    }

    @Test(.enabled(if: Models.vocabulary("ggml-vocab-llama-bpe.gguf") != nil))
    func largeByteLevelVocabulary() throws {
        let url = try #require(Models.vocabulary("ggml-vocab-llama-bpe.gguf"))
        let file = try GGUFFile(url: url)
        #expect(file.tensorInfos.isEmpty)
        let tok = try #require(try GGUFTokenizerMetadata.read(file))
        #expect(tok.kind == .bytePairEncoding && tok.tokens.count == 128256 && tok.merges.count == 280147 && tok.preTokenizer == "llama-bpe")
        #expect(tok.bosID == 128000 && tok.eosID == 128001)
    }
}
