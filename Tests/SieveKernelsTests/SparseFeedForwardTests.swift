import SieveCore
import Testing
@testable import SieveKernels

/// The one-region sparse feed-forward kernel against `SparseFeedForward.reference` (the plain references
/// composed): the selected neurons' activations, the output, untouched unselected entries, and independence from
/// the thread count.
@Suite struct SparseFeedForwardTests {
    static let hidden = 256
    /// Enough neurons for selections of one chunk (a few neurons), two (a third), four (about half) and six (all).
    static let neurons = 1088

    /// Weight types of (gate, up, down) as bundles hold them: OPT-like f16 without a gate, SwiGLU in q4_1 with a
    /// q8_0 down, K-quants with a float down, a Q2_K/Q3_K file's and an IQ4_XS file's layers, and grid i-quants (an
    /// IQ2/IQ3 gate and up with an IQ1_M down, an IQ1_S and IQ2_S pair with an IQ3_XXS down).
    static let cases: [(gate: DType?, up: DType, down: DType, function: Activations.Function)] = [
        (nil, .f16, .f16, .relu), (nil, .f32, .f32, .geluErf), (.q4_1, .q4_1, .q8_0, .silu), (.q8_0, .q4_0, .q4_0, .silu),
        (.q4_K, .q4_K, .f16, .silu), (nil, .q5_0, .q4_1, .relu), (.q3_K, .q2_K, .q6_K, .silu), (.iq4_xs, .iq4_xs, .iq4_nl, .silu),
        (.iq2_xxs, .iq3_s, .iq1_m, .silu), (.iq1_s, .iq2_s, .iq3_xxs, .silu), (nil, .iq2_xs, .iq2_xs, .relu),
    ]

    struct Result {
        var activations: [Float]
        var gate: [Float]
        var y: [Float]
    }

    static func run(_ layer: SparseFeedForward.Layer, x: [Float], blocks: [Int], threads: Int) -> Result {
        let pool = ThreadPool(threads: threads)
        let input = MatMulInput(maxTokens: 1, maxColumns: hidden, threads: threads)
        var result = Result(activations: [Float](repeating: .nan, count: neurons), gate: [Float](repeating: .nan, count: neurons),
                            y: [Float](repeating: .nan, count: hidden))
        let scratchCount = SparseFeedForward.scratchFloats(outputs: hidden, threads: threads)
        var scratch = [Float](repeating: .nan, count: scratchCount)
        x.withUnsafeBufferPointer { xb in
            input.bind(xb.baseAddress!, tokens: 1, columns: hidden)
            blocks.withUnsafeBufferPointer { bb in
                SparseFeedForward.multiply(layer, input, blocks: bb, gateOutput: &result.gate, activations: &result.activations,
                                           into: &result.y, scratch: &scratch, scratchCount: scratchCount, pool: pool)
            }
        }
        return result
    }

    @Test(arguments: 0..<cases.count)
    func matchesTheReference(_ index: Int) throws {
        let c = Self.cases[index]
        var rng = SplitMix64(seed: 70 + UInt64(index))
        let up = try Fixtures.matrix(c.up, rows: Self.neurons, columns: Self.hidden, seed: 71 + UInt64(index))
        let gate = try c.gate.map { try Fixtures.matrix($0, rows: Self.neurons, columns: Self.hidden, seed: 72 + UInt64(index)) }
        let down = try Fixtures.matrix(c.down, rows: Self.neurons, columns: Self.hidden, seed: 73 + UInt64(index))
        let upBias = rng.floats(Self.neurons, scale: 0.5), gateBias = rng.floats(Self.neurons, scale: 0.5)
        let x = rng.floats(Self.hidden, scale: 1)
        let upDecoded = Fixtures.decoded(up), gateDecoded = gate.map(Fixtures.decoded)
        upBias.withUnsafeBufferPointer { ub in
            gateBias.withUnsafeBufferPointer { gb in
                for blockRows in [1, 16] {
                    let layer = SparseFeedForward.Layer(gate: gate, up: up, down: down, gateBias: gate == nil ? nil : gb.baseAddress,
                                                        upBias: ub.baseAddress, function: c.function, blockRows: blockRows)
                    let blockCount = Self.neurons / blockRows
                    // One block, a few spread out (one chunk), a third (two chunks, one for q5_0's short rows), about
                    // half of them (four chunks) and all of them (six).
                    for step in [blockCount, blockCount / max(2, 16 / blockRows), 3, 2, 1] {
                        let blocks = step == blockCount ? [1] : Array(stride(from: 0, to: blockCount, by: step))
                        let expected = SparseFeedForward.reference(layer, x: x, blocks: blocks)
                        let fast = Self.run(layer, x: x, blocks: blocks, threads: 2)
                        let selected = Set(blocks.flatMap { ($0 * blockRows)..<(($0 + 1) * blockRows) })
                        let label = "\(c.up.name) blocks of \(blockRows), \(blocks.count) blocks"
                        for n in 0..<Self.neurons {
                            guard selected.contains(n) else {
                                #expect(fast.activations[n].isNaN && fast.gate[n].isNaN, "\(label): neuron \(n) not selected but written")
                                continue
                            }
                            // |W·x| sums bound the products' rounding; the activation passes it on with a slope ≤ 1.1.
                            var upScale: Float = 0, gateScale: Float = 0
                            for j in 0..<Self.hidden {
                                upScale += abs(upDecoded[n * Self.hidden + j] * x[j])
                                gateScale += abs((gateDecoded?[n * Self.hidden + j] ?? 0) * x[j])
                            }
                            var allowed = Tolerances.quantizedSameActivations * 1.1 * upScale
                            if gate != nil {
                                let g = fast.gate[n]
                                let u = abs(fast.activations[n]) / max(abs(Activations.reference(c.function, g)), 1e-6)
                                allowed = Tolerances.quantizedSameActivations * (1.1 * gateScale * u + abs(Activations.reference(c.function, g)) * upScale)
                            }
                            #expect(abs(fast.activations[n] - expected.activations[n]) <= allowed + 1e-6,
                                    "\(label): neuron \(n) activation \(fast.activations[n]) vs \(expected.activations[n])")
                        }
                        // The output from the fast activations, so this bound only covers the down sums.
                        let decodedDown = Fixtures.decoded(down)
                        var plain = [Float](repeating: 0, count: Self.hidden), scale = [Float](repeating: 0, count: Self.hidden)
                        for n in selected.sorted() where fast.activations[n] != 0 {
                            // A q4_1 weight's two terms (d·code and the min) can cancel: the row's largest weight
                            // scales the rounding too.
                            let largest = (0..<Self.hidden).map { abs(decodedDown[n * Self.hidden + $0]) }.max() ?? 0
                            for j in 0..<Self.hidden {
                                plain[j] += fast.activations[n] * decodedDown[n * Self.hidden + j]
                                scale[j] += abs(fast.activations[n]) * (abs(decodedDown[n * Self.hidden + j]) + largest)
                            }
                        }
                        let ratio = worstRatio(fast.y, plain, scale: scale, tolerance: Tolerances.floatSum)
                        #expect(ratio <= 1, "\(label): output off by \(ratio) of the tolerance")
                        #expect(Self.run(layer, x: x, blocks: blocks, threads: 1).y == fast.y, "\(label): thread count changed the output")
                        #expect(Self.run(layer, x: x, blocks: blocks, threads: 3).y == fast.y, "\(label): thread count changed the output")
                    }
                }
            }
        }
    }

    /// Selections reading under 64 KiB of gate/up rows are one chunk; the others are cut into an even number of
    /// chunks (two per 512 neurons, at most `maxChunks`), never more chunks than blocks.
    @Test func selectionsSplitIntoEvenChunks() {
        let cases: [(blocks: Int, blockRows: Int, neuronBytes: Int, chunks: Int)] = [
            (1, 1, 512, 1), (2, 1, 512, 1), (51, 1, 512, 1), (127, 1, 512, 1), (128, 1, 512, 2), (154, 1, 512, 2),
            (512, 1, 512, 2), (513, 1, 512, 4), (1024, 1, 512, 4), (3000, 1, 512, 8), (2, 1, 1 << 16, 2),
            (1, 32, 720, 1), (2, 32, 720, 1), (3, 32, 720, 2), (16, 32, 720, 2), (17, 32, 720, 4), (48, 32, 720, 6),
            (200, 32, 720, 8),
        ]
        for c in cases {
            #expect(SparseFeedForward.chunkCount(blocks: c.blocks, blockRows: c.blockRows, neuronBytes: c.neuronBytes) == c.chunks,
                    "\(c)")
        }
    }
}
