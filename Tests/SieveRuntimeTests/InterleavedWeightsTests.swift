import SieveCore
import SieveKernels
@testable import SieveRuntime
import Testing

/// Models whose q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl, iq4_xs, q4_K or q5_K weights are copied into the 16-row layout
/// (`RuntimeOptions.interleavedWeights`) compute what the row-major weights compute (llama.cpp's IQ4_XS file holds
/// iq4_xs Q, K, O, gate and up weights and iq4_nl V and down weights; its Q4_K_M and Q5_K_M files q4_K and q5_K
/// weights in block 0, q6_K V and down weights in block 1).
@Suite("interleaved q4 weights")
struct InterleavedWeightsTests {
    static let files = ["tiny-llama/q4_1.gguf", "tiny-llama/q4_0.gguf", "tiny-llama/q5_0.gguf", "tiny-llama/q5_1.gguf", "tiny-llama/q8_0.gguf",
                        "tiny-llama/iq4_xs.gguf", "tiny-llama/q4_k_m.gguf", "tiny-llama/q5_k_m.gguf"].filter(Fixtures.has)

    /// The decode products sum in another order (`Tolerances.quantizedSameActivations` per product, checked in
    /// `InterleavedQ4Tests`), and a last-bit change can move an 8-bit activation code by one step, which the tiny
    /// random model amplifies: its q4_1 decode logits move by up to 0.06 between the Swift and the VNNI row
    /// kernels too. So the bound is llama.cpp's (`Tolerance.quantizedVersusLlamaCpp`), with the argmaxes.
    static let logitTolerance = Tolerance.quantizedVersusLlamaCpp

    @Test("q4 matrices are interleaved once per graph; decode and prefill logits match the row-major weights'",
          .enabled(if: DecodeKernels.preferred == .vnni, "the 16-row kernel needs AVX-512 VNNI"), arguments: files)
    func matchesRowMajorWeights(_ file: String) throws {
        let graph = try Fixtures.graph(file)
        let interleaved = try Model(graph: graph, options: RuntimeOptions(threads: 2))
        let rowMajor = try Model(graph: graph, options: RuntimeOptions(threads: 2, interleavedWeights: false))
        let block = interleaved.plan.blocks[0]
        // Q and K are buffers the graph owns (the GGUF reader put their rows back in transformers' order), V and
        // the rest slices of the mapped file: all are interleaved.
        #expect(block.attention.q.weight.isInterleaved && block.attention.v.weight.isInterleaved && block.attention.o.weight.isInterleaved)
        #expect(block.feedForward.up?.isInterleaved == true && block.feedForward.down?.isInterleaved == true)
        #expect(!rowMajor.plan.blocks[0].attention.v.weight.isInterleaved)
        let again = try Model(graph: graph, options: RuntimeOptions(threads: 1))
        #expect(again.plan.blocks[0].attention.q.weight.base == block.attention.q.weight.base)
        #expect(again.plan.blocks[0].attention.v.weight.base == block.attention.v.weight.base)

        let ids = try Fixtures.inputIDs(try Fixtures.references("tiny-llama/ref.safetensors"))
        // Prefill multiplies the interleaved weights with 8-bit activations, in the products decode runs
        // (`InterleavedQ4Tests`), and the row-major ones decoded to f32 with float activations.
        let prefill = try interleaved.allOutputs(ids).logits, rowMajorPrefill = try rowMajor.allOutputs(ids).logits
        interleaved.reset()
        rowMajor.reset()
        var a: [Float] = [], b: [Float] = []
        for t in ids {
            try interleaved.decode(t) { a.append(contentsOf: $0) }
            try rowMajor.decode(t) { b.append(contentsOf: $0) }
        }
        let worst = maxAbsDifference(a, b)
        print("\(file): max |Δlogit| interleaved vs row-major decode \(worst)")
        #expect(worst <= Self.logitTolerance)
        let prefillWorst = maxAbsDifference(prefill, rowMajorPrefill), prefillToDecode = maxAbsDifference(prefill, a)
        print("\(file): max |Δlogit| interleaved vs row-major prefill \(prefillWorst), interleaved prefill vs decode \(prefillToDecode)")
        #expect(prefillWorst <= Self.logitTolerance && prefillToDecode <= Self.logitTolerance)
        let vocab = interleaved.vocabularySize
        let agree = (0..<ids.count).filter { t in
            let ra = (t * vocab)..<((t + 1) * vocab)
            return a[ra].withUnsafeBufferPointer { Sampler.argmax($0) } == b[ra].withUnsafeBufferPointer { Sampler.argmax($0) }
        }.count
        #expect(agree >= ids.count - 1, "argmax agrees at \(agree) of \(ids.count) positions")
        #expect(a != b, "the decode products ran the 16-row kernel")
    }
}
