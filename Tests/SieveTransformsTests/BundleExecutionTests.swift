import BundleFormat
import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
import SieveKernels
@testable import SieveRuntime
import SieveTransforms
import Testing

/// Issue 6, acceptance 1: a packed bundle, written to disk and read back, run densely, computes what the source
/// model computes.
@Suite struct BundleExecutionTests {
    /// Logits of a packed f32 bundle against its f32 source: only the order of additions changes.
    static let packedLogitTolerance: Float = 1e-4

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models")

    /// `graph` written to a bundle file and read back. The file is removed at once: its mapping stays valid.
    static func throughFile(_ graph: ModelGraph) throws -> ModelGraph {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-bundle-exec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.sieve")
        _ = try BundleWriter.write(graph, to: url)
        return try BundlePlugin().read(url)
    }

    func logits(_ graph: ModelGraph, _ tokens: [Int], interleaved: Bool = true) throws -> [[Float]] {
        let model = try Model(graph: graph, options: RuntimeOptions(contextLength: 64, threads: 2, interleavedWeights: interleaved))
        var rows: [[Float]] = []
        try model.evaluate(tokens, outputs: .all) { _, out in rows.append(Array(out.logits)) }
        return rows
    }

    /// Every tiny fixture model (llama, llama with a BPE tokenizer, sharded llama, OPT, GPT-2, Qwen2, Qwen3, SmolLM3, Phi-3, Gemma 2,
    /// Gemma 3, Granite) and the f16 docs-opt-relu.
    @Test(arguments: ["tiny-llama", "tiny-llama-bpe", "tiny-llama-sharded", "tiny-opt", "tiny-gpt2", "tiny-qwen2", "tiny-qwen3",
                      "tiny-smollm3", "tiny-phi3", "tiny-gemma2", "tiny-gemma3", "tiny-granite", "docs-opt-relu"])
    func packedBundleRunsDenselyLikeTheSource(_ name: String) throws {
        let source = try SafetensorsPlugin().read(Self.fixtures.appendingPathComponent("\(name)/hf"))
        let (packed, tokens) = try SparseExecutionTests.packed(name)
        let reread = try Self.throughFile(packed)
        if case .dense = reread.blocks[0].feedForward.layout { Issue.record("the bundle lost its blocked layout") }

        let expected = try logits(source, tokens)
        let actual = try logits(reread, tokens)
        var worst: Float = 0
        for (e, a) in zip(expected, actual) {
            for (x, y) in zip(e, a) { worst = max(worst, abs(x - y)) }
        }
        #expect(worst <= Self.packedLogitTolerance, "max |Δlogit| \(worst)")
    }

    /// A mixture of experts (tiny-qwen3moe, f32 and q8_0; tiny-qwen2moe, with its gated shared expert) goes through a
    /// bundle unchanged (`sieve convert` to `.sieve`): the same routing settings and router, and bit for bit the
    /// source's logits; `sieve pack` refuses it, saying why.
    @Test(arguments: ["tiny-qwen3moe/f32.gguf", "tiny-qwen3moe/q8_0.gguf", "tiny-qwen2moe/f32.gguf"])
    func mixtureOfExpertsThroughABundle(_ file: String) throws {
        let source = try GGUFPlugin().read(Self.fixtures.appendingPathComponent(file))
        let reread = try Self.throughFile(source)
        #expect(reread.hyperparameters.mixtureOfExperts == source.hyperparameters.mixtureOfExperts)
        #expect(reread.blocks.map(\.feedForward.experts) == source.blocks.map(\.feedForward.experts))
        let tokens = [1, 17, 300, 42, 42, 7, 511, 128, 3, 64]
        #expect(try logits(reread, tokens) == logits(source, tokens))
        let error = try #require(throws: SieveTransformsError.self) { try PackOptions().validate(graph: source) }
        #expect("\(error)".contains("mixture-of-experts"))
    }

    /// Granite's multipliers (embeddings, residual adds, logits, attention scale) go through a bundle unchanged: bit
    /// for bit the source's logits.
    @Test func graniteThroughABundle() throws {
        let source = try GGUFPlugin().read(Self.fixtures.appendingPathComponent("tiny-granite/f32.gguf"))
        let reread = try Self.throughFile(source)
        #expect(reread.hyperparameters == source.hyperparameters)
        #expect(reread.blocks.map(\.residualScale) == source.blocks.map(\.residualScale) && reread.lmHead?.divisor == source.lmHead?.divisor)
        let tokens = [1, 17, 300, 42, 42, 7, 511, 128, 3, 64]
        #expect(try logits(reread, tokens) == logits(source, tokens))
    }

    /// gpt-oss (attention sinks and biases, MXFP4 experts with biases, the clamped SwiGLU, YaRN, alternating windows)
    /// goes through a bundle unchanged: bit for bit the source's logits; `sieve pack` refuses it.
    @Test func gptOSSThroughABundle() throws {
        let source = try GGUFPlugin().read(Self.fixtures.appendingPathComponent("tiny-gpt-oss/model.gguf"))
        let reread = try Self.throughFile(source)
        #expect(reread.hyperparameters == source.hyperparameters)
        #expect(reread.blocks.map(\.attention) == source.blocks.map(\.attention) && reread.blocks.map(\.feedForward) == source.blocks.map(\.feedForward))
        #expect(reread.blocks.allSatisfy { $0.attention.sinks != nil && $0.feedForward.up.bias != nil })
        let tokens = [1, 17, 300, 42, 42, 7, 511, 128, 3, 64]
        #expect(try logits(reread, tokens) == logits(source, tokens))
        #expect(throws: SieveTransformsError.self) { try PackOptions().validate(graph: source) }
    }

    /// GraniteMoeShared (Granite's multipliers, stacked experts and a shared expert) goes through a bundle unchanged:
    /// bit for bit the source's logits; `sieve pack` refuses it.
    @Test func graniteMoEThroughABundle() throws {
        let source = try GGUFPlugin().read(Self.fixtures.appendingPathComponent("tiny-granitemoe/shared.gguf"))
        let reread = try Self.throughFile(source)
        #expect(reread.hyperparameters == source.hyperparameters && reread.hyperparameters.mixtureOfExperts?.sharedExpertWidth == 48)
        #expect(reread.blocks.map(\.feedForward) == source.blocks.map(\.feedForward))
        #expect(reread.blocks.allSatisfy { $0.feedForward.experts?.shared != nil })
        let tokens = [1, 17, 300, 42, 42, 7, 511, 128, 3, 64]
        #expect(try logits(reread, tokens) == logits(source, tokens))
        #expect(throws: SieveTransformsError.self) { try PackOptions().validate(graph: source) }
    }

    /// A block-quantized source packed with `--dtype keep` keeps its own `down` for dense execution: prefill and
    /// decode logits are bit for bit the source's (so greedy continuations cannot differ), through the file.
    @Test(arguments: ["q4_1.gguf", "q4_k_m.gguf", "q8_0.gguf"])
    func quantizedKeepBundleRunsDenselyExactlyLikeTheSource(_ file: String) throws {
        let source = try GGUFPlugin().read(Self.fixtures.appendingPathComponent("tiny-llama/\(file)"))
        let (packed, tokens) = try SparseExecutionTests.packed(source)
        #expect(packed.blocks.allSatisfy { $0.feedForward.sourceDown != nil }, "\(file): no source down kept")
        let reread = try Self.throughFile(packed)
        #expect(try logits(reread, tokens) == (try logits(source, tokens)), "\(file): prefill logits differ")
        let dense = RuntimeOptions(sparsity: .dense)
        #expect(try SparseExecutionTests.decodeLogits(reread, tokens, options: dense)
                == (try SparseExecutionTests.decodeLogits(source, tokens, options: dense)), "\(file): decode logits differ")
    }

    /// A keep bundle of a block-quantized source holds no transposed down: each layer's down is the source's
    /// (same type, shape and bytes, outside the FFN's blocks of gate and up rows), and every run of the bundle read
    /// from its file (dense, predicted at FFN 0.5 and 0.125, oracle, sparse prefill) matches the in-memory graph's.
    @Test func keepBundleHoldsNoTransposedDown() throws {
        let source = try GGUFPlugin().read(Self.fixtures.appendingPathComponent("tiny-llama/q8_0.gguf"))
        let (packed, tokens) = try SparseExecutionTests.packed(source)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-keep-\(UUID().uuidString).sieve")
        defer { try? FileManager.default.removeItem(at: url) }
        _ = try BundleWriter.write(packed, to: url)
        let file = try BundleFile.open(url)
        for (i, block) in packed.blocks.enumerated() {
            let f = block.feedForward
            #expect(f.sourceDown == f.down.weight)
            let down = try #require(file.manifest.tensors.first { $0.name == f.down.weight })
            let original = try source.tensor(source.blocks[i].feedForward.down.weight)
            #expect(down.shape == original.shape && down.dtype == original.dtype && down.chunks == nil)
            #expect(file.manifest.ffnBundles[i]?.parts == [try #require(f.gate).weight, f.up.weight])
        }
        let reread = try BundlePlugin().read(url)
        for (i, block) in reread.blocks.enumerated() {
            #expect(Array(try reread.tensor(block.feedForward.down.weight).bytes)
                    == Array(try source.tensor(source.blocks[i].feedForward.down.weight).bytes))
        }
        let runs = [
            RuntimeOptions(contextLength: 64, threads: 2, sparsity: .dense),
            RuntimeOptions(contextLength: 64, threads: 2, sparsity: .predicted, ffnDensity: 0.5, headDensity: 1),
            RuntimeOptions(contextLength: 64, threads: 2, sparsity: .predicted, ffnDensity: 0.125, headDensity: 1),
            RuntimeOptions(contextLength: 64, threads: 2, sparsity: .oracle, ffnDensity: 0.125, headDensity: 1),
            RuntimeOptions(contextLength: 64, threads: 2, sparsity: .predicted, ffnDensity: 0.125, headDensity: 1, sparsePrefill: true),
        ]
        for options in runs {
            #expect(try SparseExecutionTests.decodeLogits(reread, tokens, options: options)
                    == (try SparseExecutionTests.decodeLogits(packed, tokens, options: options)), "\(options.sparsity) at \(options.ffnDensity ?? 1)")
        }
    }

    /// Where the 16-row kernel runs, a q4 keep bundle read from its file fuses gate and up out of its blocks without
    /// gathering them (their deferred buffers stay unmade), models of one graph share the fused copy, and the logits
    /// are the in-memory graph's.
    @Test(.enabled(if: DecodeKernels.preferred == .vnni, "the 16-row kernel needs AVX-512 VNNI"))
    func fusedBundleNeverGathersGateAndUp() throws {
        let source = try GGUFPlugin().read(Self.fixtures.appendingPathComponent("tiny-llama/q4_1.gguf"))
        let (packed, tokens) = try SparseExecutionTests.packed(source)
        let reread = try Self.throughFile(packed)
        let parts = try reread.blocks.flatMap { block in
            try [block.feedForward.up.weight, block.feedForward.gate!.weight].map { name -> DeferredBuffer in
                guard case let .deferred(d) = try reread.tensor(name).storage else {
                    throw SieveCoreError.invalidShape(source: "test", tensor: name, reason: "not deferred")
                }
                return d
            }
        }
        let first = try Model(graph: reread, options: RuntimeOptions(contextLength: 64, threads: 2))
        let second = try Model(graph: reread, options: RuntimeOptions(contextLength: 64, threads: 1))
        #expect(parts.allSatisfy { !$0.isMade }, "gate or up rows were gathered")
        for (a, b) in zip(first.plan.blocks, second.plan.blocks) {
            #expect(a.feedForward.gateUp != nil && a.feedForward.gateUp?.base == b.feedForward.gateUp?.base)
        }
        #expect(try logits(reread, tokens) == (try logits(packed, tokens)))
        #expect(parts.allSatisfy { !$0.isMade })
    }

    /// Where the 16-row kernel runs, a q4 bundle's gated layers read gate and up from one matrix, block by block
    /// (the plan keeps no other copy of them). Its prefill multiplies 8-bit activations (the row layout's decodes the
    /// weights to f32), and its sparse decode at FFN density 0.5 sums in another order than the row layout's: both
    /// within the tolerance of a quantized run (`InterleavedWeightsTests`).
    @Test(.enabled(if: DecodeKernels.preferred == .vnni, "the 16-row kernel needs AVX-512 VNNI"))
    func quantizedBundleFusesGateAndUp() throws {
        let source = try GGUFPlugin().read(Self.fixtures.appendingPathComponent("tiny-llama/q4_1.gguf"))
        let (packed, tokens) = try SparseExecutionTests.packed(source)
        let fused = try Model(graph: packed, options: RuntimeOptions(contextLength: 64, threads: 2))
        let rowMajor = try Model(graph: packed, options: RuntimeOptions(contextLength: 64, threads: 2, interleavedWeights: false))
        for b in fused.plan.blocks {
            let f = b.feedForward
            #expect(f.gateUp?.isInterleaved == true && f.gateUp?.rows == 2 * f.width && f.up == nil && f.gate == nil && f.gated)
        }
        #expect(rowMajor.plan.blocks.allSatisfy { $0.feedForward.gateUp == nil })
        let prefillWorst = SparseExecutionTests.worst(try logits(packed, tokens), try logits(packed, tokens, interleaved: false))
        #expect(prefillWorst <= 0.2 && prefillWorst > 0, "prefill max |Δlogit| \(prefillWorst)")
        var options = RuntimeOptions(sparsity: .predicted, ffnDensity: 0.5, headDensity: 1)
        let sparse = try SparseExecutionTests.decodeLogits(packed, tokens, options: options)
        options.interleavedWeights = false
        let sparseRowMajor = try SparseExecutionTests.decodeLogits(packed, tokens, options: options)
        let worst = SparseExecutionTests.worst(sparse, sparseRowMajor)
        #expect(worst <= 0.2 && worst > 0, "max |Δlogit| \(worst)")
    }

    /// The real default model, fetched by `make models` into `$SIEVE_MODELS` (default `~/.cache/sieve/models`).
    static var smollm2: URL? {
        let models = ProcessInfo.processInfo.environment["SIEVE_MODELS"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/sieve/models").path
        let url = URL(fileURLWithPath: models).appendingPathComponent("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    static var releaseBuild: Bool {
        #if DEBUG
        return false
        #else
        return true
        #endif
    }

    /// Issue 6, acceptance 1 for SmolLM2: in the blocked layout with `--dtype keep` (a shuffled neuron order, blocks
    /// of 32; predictors play no part in dense execution), greedy decoding of `reference.json`'s prompts gives the
    /// source's 48 tokens, with bit-identical logits at every step.
    @Test(.enabled(if: smollm2 != nil && releaseBuild, "needs `make models` and a release build"))
    func smolLM2KeepDecodesExactlyLikeTheSource() throws {
        let source = try GGUFPlugin().read(try #require(Self.smollm2))
        var blocked = source
        var rng = TestRandom(seed: 6)
        let ff = source.hyperparameters.intermediateSize
        for l in source.blocks.indices {
            try BlockedLayout.apply(to: &blocked, block: l, permutation: rng.shuffled(ff).map { Int32($0) }, blockSize: 32, weightType: .keep)
        }
        let reference = try JSONValue.parse(contentsOf: Self.fixtures.deletingLastPathComponent().appendingPathComponent("smollm2/reference.json"))
        let prompts = try #require(reference["generate"]?["prompts"]?.arrayItems)
        func greedy(_ graph: ModelGraph, _ prompt: [Int]) throws -> (tokens: [Int], logits: [[Float]]) {
            let model = try Model(graph: graph, options: RuntimeOptions(contextLength: 256, threads: 2))
            var logits: [[Float]] = []
            try model.evaluate(prompt, outputs: .last) { _, out in logits.append(Array(out.logits)) }
            var tokens: [Int] = []
            for _ in 0..<48 {
                let next = logits.last!.indices.max { logits.last![$0] < logits.last![$1] }!
                tokens.append(next)
                logits.append(try model.decode(next) { Array($0) })
            }
            return (tokens, logits)
        }
        for prompt in prompts {
            let ids = try #require(prompt["prompt_ids"]?.arrayItems).compactMap(\.intValue)
            let expected = try greedy(source, ids), actual = try greedy(blocked, ids)
            #expect(actual.tokens == expected.tokens, "\(prompt["name"]?.stringValue ?? "?"): greedy tokens differ")
            #expect(actual.logits == expected.logits, "\(prompt["name"]?.stringValue ?? "?"): logits differ")
        }
    }
}
