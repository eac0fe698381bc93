import Foundation
import SieveCore
import SieveKernels
import SieveRuntime
import Testing

/// GGUF files against the references: float GGUFs against transformers (they hold the same float32 weights),
/// quantized GGUFs against llama.cpp's own logits for the same file.
@Suite("GGUF logits")
struct GGUFLogitsTests {
    /// Float32 GGUFs (in the shared fixture set beside the repository; skipped when absent).
    static let float32Files = ["tiny-llama/f32.gguf", "tiny-llama-bpe/f32.gguf", "tiny-qwen2/f32.gguf", "tiny-gpt2/f32.gguf"]
        .filter(Fixtures.has)

    @Test("f32 GGUF logits and hidden_last within atol 1e-4 of transformers", arguments: float32Files)
    func float32(_ file: String) throws {
        let name = String(file.split(separator: "/")[0])
        let refs = try Fixtures.references("\(name)/ref.safetensors")
        let model = try Fixtures.model(file)
        let out = try model.allOutputs(try Fixtures.inputIDs(refs))
        let dLogits = maxAbsDifference(out.logits, try Fixtures.floats(refs, "logits"))
        let dHidden = maxAbsDifference(out.hidden, try Fixtures.floats(refs, "hidden_last"))
        print("\(file): max |Δlogit| \(dLogits) vs transformers, max |Δhidden_last| \(dHidden)")
        #expect(dLogits <= Tolerance.float32Logits)
        #expect(dHidden <= Tolerance.float32Activations)
    }

    @Test("f32 GGUF greedy 16-token continuation equals transformers'", arguments: float32Files)
    func float32Greedy(_ file: String) throws {
        let ref = try Fixtures.json("\(file.split(separator: "/")[0])/ref.json")
        let ids = try #require(ref["input_ids"]?.arrayItems).compactMap(\.intValue)
        let expected = try #require(ref["greedy_continuation"]?["ids"]?.arrayItems).compactMap(\.intValue)
        let session = try Session(graph: try Fixtures.graph(file))
        let result = try session.complete(prompt: .tokens(ids), parameters: GenerationParameters(
            maxTokens: expected.count, sampling: .greedy, stopAtEndOfGeneration: false))
        #expect(result.tokens == expected)
    }

    /// Quantized (and half-precision) GGUFs with llama.cpp logits.
    static let quantizedFiles = ["tiny-llama/f16.gguf", "tiny-llama/bf16.gguf", "tiny-llama/q8_0.gguf", "tiny-llama/q6_k.gguf",
                                 "tiny-llama/q5_0.gguf", "tiny-llama/q4_1.gguf", "tiny-llama/q4_k_m.gguf", "tiny-llama/q4_0.gguf",
                                 "tiny-llama-bpe/q8_0.gguf"].filter(Fixtures.has)

    @Test("quantized GGUF logits near llama.cpp's, through prefill and decode", arguments: quantizedFiles)
    func quantized(_ file: String) throws {
        let parts = file.split(separator: "/")
        let name = String(parts[0])
        let stem = String(parts[1].dropLast(5))
        let refs = try Fixtures.references("\(name)/ref.safetensors")
        let llama = try Fixtures.references("\(name)/ref-llama-cpp.safetensors")
        let expected = try Fixtures.floats(llama, "logits.\(stem)")
        let ids = try Fixtures.inputIDs(refs)
        let model = try Fixtures.model(file)
        let vocab = model.vocabularySize

        // All 24 tokens in one batch: the matrix-matrix path (dequantized weights, float activations).
        let prefill = try model.allOutputs(ids).logits
        // One token at a time: the matrix-vector path (8-bit activations for quantized weights, as llama.cpp).
        model.reset()
        var decoded: [Float] = []
        for t in ids { try model.decode(t) { decoded.append(contentsOf: $0) } }
        let dPrefill = maxAbsDifference(prefill, expected)
        let dDecode = maxAbsDifference(decoded, expected)
        func argmaxes(_ logits: [Float]) -> [Int] {
            (0..<ids.count).map { t in logits[(t * vocab)..<((t + 1) * vocab)].withUnsafeBufferPointer { Sampler.argmax($0) } }
        }
        let reference = argmaxes(expected)
        let agreePrefill = zip(argmaxes(prefill), reference).filter { $0 == $1 }.count
        let agreeDecode = zip(argmaxes(decoded), reference).filter { $0 == $1 }.count
        print("\(file): max |Δlogit| vs llama.cpp: prefill \(dPrefill), decode \(dDecode); argmax agrees \(agreePrefill)/24, \(agreeDecode)/24")
        #expect(dPrefill <= Tolerance.quantizedVersusLlamaCpp)
        #expect(dDecode <= Tolerance.quantizedVersusLlamaCpp)
        #expect(agreePrefill >= 20 && agreeDecode >= 20)
    }

    /// The same with llama.cpp's q5_1, q5_K_M, q3_K_M, q2_K, iq4_xs, iq2_xxs and iq3_xxs quantizations (the last two
    /// with every grid type: iq2_xxs, iq2_xs, iq2_s, iq1_s, iq1_m; iq3_xxs, iq3_s), which have llama-perplexity values (`ref-llama-quantize.json`,
    /// checked in `PerplexityTests`) but no llama.cpp logits.
    static let allQuantizedFiles = quantizedFiles + ["tiny-llama/q5_1.gguf", "tiny-llama/q5_k_m.gguf", "tiny-llama/q3_k_m.gguf",
                                                       "tiny-llama/q2_k.gguf", "tiny-llama/iq4_xs.gguf", "tiny-llama/iq2_xxs.gguf",
                                                       "tiny-llama/iq3_xxs.gguf"].filter(Fixtures.has)

    @Test("with 8-bit activations at every batch size, a batch gives the one-token-at-a-time logits", arguments: allQuantizedFiles)
    func quantizedActivationBatches(_ file: String) throws {
        let ids = try Fixtures.inputIDs(try Fixtures.references("\(file.split(separator: "/")[0])/ref.safetensors"))
        let model = try Fixtures.model(file, options: RuntimeOptions(quantizedActivations: true))
        let batch = try model.allOutputs(ids).logits
        model.reset()
        var decoded: [Float] = []
        for t in ids { try model.decode(t) { decoded.append(contentsOf: $0) } }
        let d = maxAbsDifference(batch, decoded)
        print("\(file): 8-bit activations, batch vs one at a time: max |Δlogit| \(d)")
        #expect(d <= Tolerance.float32Logits)
    }

    /// The weight types whose prefill products use 8-bit activations on x86-64 (`CRowKernels.multiTokenTypes`, and
    /// the interleaved matrices a `Model` makes of the types with blocks of 32: `InterleavedQ4.multipliesTokens`).
    static let eightBitPrefill: Set<DType> = DecodeKernels.preferred == .swift ? [] : [.q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs, .q4_0, .q4_1, .q5_0, .q5_1, .iq4_nl, .q8_0,
                                                                                             .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .iq1_m]

    @Test("the prefill path equals the same weights dequantized to f32 (atol 1e-4)", arguments: allQuantizedFiles)
    func dequantizedEquivalence(_ file: String) throws {
        let graph = try Fixtures.graph(file)
        var dequantized = graph
        // K-quant, grid i-quant and interleaved q4 prefill products multiply 8-bit activations (as decode does; `MatMulTests` and
        // `InterleavedQ4Tests` check them), so
        // those tensors stay as they are on both sides.
        for t in graph.tensors.all where t.dtype != .f32 && !Self.eightBitPrefill.contains(t.dtype) {
            dequantized.tensors.insert(try t.converted(to: .f32))
        }
        let ids = try Fixtures.inputIDs(try Fixtures.references("\(file.split(separator: "/")[0])/ref.safetensors"))
        let quantized = try Model(graph: graph).allOutputs(ids).logits
        let float = try Model(graph: dequantized).allOutputs(ids).logits
        let d = maxAbsDifference(quantized, float)
        print("\(file): prefill vs dequantized f32 weights: max |Δlogit| \(d)")
        #expect(d <= Tolerance.float32Logits)
    }
}
