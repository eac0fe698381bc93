import SieveCore
import SieveKernels
@testable import SieveRuntime
import Testing

/// Models whose q4_1/q4_0/q8_0 weights are copied into the 16-row decode layout (`RuntimeOptions.interleavedWeights`)
/// compute what the row-major weights compute.
@Suite("interleaved weights")
struct InterleavedWeightsTests {
    static let files = ["tiny-llama/q4_1.gguf", "tiny-llama/q4_0.gguf", "tiny-llama/q8_0.gguf"].filter(Fixtures.has)

    /// The decode products sum in another order (`Tolerances.quantizedSameActivations` per product, checked in
    /// `InterleavedDecodeTests`), and a last-bit change can move an 8-bit activation code by one step, which the tiny
    /// random model amplifies: its q4_1 decode logits move by up to 0.06 between the Swift and the VNNI row
    /// kernels too. So the bound is llama.cpp's (`Tolerance.quantizedVersusLlamaCpp`), with the argmaxes.
    static let logitTolerance = Tolerance.quantizedVersusLlamaCpp

    @Test("block-quantized matrices are interleaved once per graph; decode and prefill logits match the row-major weights'",
          .enabled(if: DecodeKernels.preferred == .vnni, "the 16-row kernel needs AVX-512 VNNI"), arguments: files)
    func matchesRowMajorWeights(_ file: String) throws {
        let graph = try Fixtures.graph(file)
        let interleaved = try Model(graph: graph, options: RuntimeOptions(threads: 2))
        let rowMajor = try Model(graph: graph, options: RuntimeOptions(threads: 2, interleavedWeights: false))
        let block = interleaved.plan.blocks[0]
        // Q and K are buffers the graph owns (the GGUF reader put their rows back in transformers' order), V and
        // the rest slices of the mapped file: all are interleaved.
        #expect(block.attention.q.weight.isInterleaved && block.attention.v.weight.isInterleaved && block.attention.o.weight.isInterleaved)
        #expect(block.feedForward.up.weight.isInterleaved && block.feedForward.down.weight.isInterleaved)
        #expect(!rowMajor.plan.blocks[0].attention.v.weight.isInterleaved)
        // The LM head too, when it is one of these types (the q4 files' is q6_K).
        let head = try #require(interleaved.plan.lmHead?.weight)
        #expect(head.isInterleaved == [.q4_1, .q4_0, .q8_0].contains(head.dtype) && !interleaved.plan.tokenEmbedding.isInterleaved)
        let again = try Model(graph: graph, options: RuntimeOptions(threads: 1))
        #expect(again.plan.blocks[0].attention.q.weight.base == block.attention.q.weight.base)
        #expect(again.plan.blocks[0].attention.v.weight.base == block.attention.v.weight.base)

        let ids = try Fixtures.inputIDs(try Fixtures.references("tiny-llama/ref.safetensors"))
        #expect(try interleaved.allOutputs(ids).logits == rowMajor.allOutputs(ids).logits, "prefill decodes the same rows")
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
        let vocab = interleaved.vocabularySize
        let agree = (0..<ids.count).filter { t in
            let ra = (t * vocab)..<((t + 1) * vocab)
            return a[ra].withUnsafeBufferPointer { Sampler.argmax($0) } == b[ra].withUnsafeBufferPointer { Sampler.argmax($0) }
        }.count
        #expect(agree >= ids.count - 1, "argmax agrees at \(agree) of \(ids.count) positions")
        #expect(a != b, "the decode products ran the 16-row kernel")
    }

    /// A head tied to the token embedding (as SmolLM2's) is interleaved once: the embedding's row lookups read the
    /// same copy, and prefill logits are still exactly the row-major weights'.
    @Test(.enabled(if: DecodeKernels.preferred == .vnni && Fixtures.has("tiny-llama/q8_0.gguf"), "the 16-row kernel needs AVX-512 VNNI"))
    func tiedHeadSharesTheEmbeddingsCopy() throws {
        var graph = try Fixtures.graph("tiny-llama/q8_0.gguf")
        graph.lmHead?.projection.weight = graph.embedding.tokens
        let interleaved = try Model(graph: graph, options: RuntimeOptions(threads: 2))
        let rowMajor = try Model(graph: graph, options: RuntimeOptions(threads: 2, interleavedWeights: false))
        let head = try #require(interleaved.plan.lmHead?.weight)
        #expect(head.isInterleaved && head.base == interleaved.plan.tokenEmbedding.base)
        #expect(try #require(rowMajor.plan.lmHead?.weight).base == rowMajor.plan.tokenEmbedding.base)
        let ids = try Fixtures.inputIDs(try Fixtures.references("tiny-llama/ref.safetensors"))
        #expect(try interleaved.allOutputs(ids).logits == rowMajor.allOutputs(ids).logits)
        interleaved.reset()
        rowMajor.reset()
        var a: [Float] = [], b: [Float] = []
        for t in ids {
            try interleaved.decode(t) { a.append(contentsOf: $0) }
            try rowMajor.decode(t) { b.append(contentsOf: $0) }
        }
        #expect(maxAbsDifference(a, b) <= Self.logitTolerance)
    }
}
