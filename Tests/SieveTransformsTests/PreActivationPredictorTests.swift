import Foundation
import SieveCore
import SieveTransforms
import Testing

/// `PreActivationPredictor` on tiny-opt's first block (ReLU FFN after a LayerNorm, written by transformers).
@Suite struct PreActivationPredictorTests {
    /// Largest error of a full-rank fit's scores, relative to the largest pre-activation (ridge and f32 products).
    static let exactFitTolerance: Float = 2e-3

    /// Neurons per unit, and the seeded permutation (stored position → source neuron) the units are built under.
    static let blockSize = 2

    /// `tokens` inputs of `d` values with zero mean and unit variance each, on which a LayerNorm is affine.
    static func standardisedInputs(tokens: Int, d: Int, seed: UInt64) -> FloatMatrix {
        var rng = TestRandom(seed: seed)
        let m = FloatMatrix(rows: tokens, columns: d)
        for t in 0..<tokens {
            var x = rng.gaussians(d, scale: 1)
            let mean = x.reduce(0, +) / Float(d)
            x = x.map { $0 - mean }
            let std = (x.reduce(0) { $0 + $1 * $1 } / Float(d)).squareRoot()
            for j in 0..<d { m[t, j] = x[j] / std }
        }
        return m
    }

    /// Reference unit pre-activations `Σ_{n ∈ unit} up[n]·LN(x) + b[n]` of the rows of `inputs`, in Double.
    static func preActivations(_ graph: ModelGraph, _ inputs: FloatMatrix, permutation: [Int], blockSize: Int) throws -> [[Double]] {
        let block = graph.blocks[0]
        let up = try graph.tensor(block.feedForward.up.weight).floats(), bias = try graph.tensor(block.feedForward.up.bias!).floats()
        let gamma = try graph.tensor(block.feedForwardNorm.weight).floats(), beta = try graph.tensor(block.feedForwardNorm.bias!).floats()
        let d = inputs.columns, units = permutation.count / blockSize
        return (0..<inputs.rows).map { t in
            let x = (0..<d).map { Double(inputs[t, $0]) }
            let mean = x.reduce(0, +) / Double(d)
            let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(d)
            let h = (0..<d).map { ($0, (x[$0] - mean) / (variance + block.feedForwardNorm.epsilon).squareRoot()) }
                .map { $0.1 * Double(gamma[$0.0]) + Double(beta[$0.0]) }
            return (0..<units).map { u in
                var z = 0.0
                for s in (u * blockSize)..<((u + 1) * blockSize) {
                    let n = permutation[s]
                    z += Double(bias[n])
                    for j in 0..<d { z += Double(up[n * d + j]) * h[j] }
                }
                return z
            }
        }
    }

    /// At full rank the fit reproduces the units' pre-activations on held-out tokens (the norm is affine on their
    /// FFN inputs, so the exact answer is linear in them, and in any invertible affine map of them): checks the
    /// unit sums under the permutation, the folded standardisation and the bias, reading the FFN inputs themselves
    /// (the first block's predictor) or another stream that determines them (a block input).
    @Test(arguments: [false, true]) func fullRankFitIsExactWhereTheNormIsAffine(readsAnotherStream: Bool) throws {
        let graph = try Fixtures.graph("tiny-opt/hf")
        let d = graph.hyperparameters.hiddenSize, ff = graph.hyperparameters.intermediateSize
        var rng = TestRandom(seed: 41)
        let permutation = rng.shuffled(ff)
        let ffnInputs = Self.standardisedInputs(tokens: 700, d: d, seed: 42)
        var inputs = ffnInputs
        if readsAnotherStream {
            // x = M·f + c with M = diag(s)·(I + 0.2·G/√d) (singular values of the second factor within 0.6–1.4),
            // scales s from 0.5 to 4: well conditioned, so the ridge does not bias the fit.
            let m = FloatMatrix(rows: d, columns: d, values: rng.gaussians(d * d, scale: 0.2 / Float(d).squareRoot()))
            for i in 0..<d {
                m[i, i] += 1
                let scale = 0.5 + 3.5 * Float(rng.uniform())
                for j in 0..<d { m[i, j] *= scale }
            }
            inputs = FloatMatrix(rows: ffnInputs.rows, columns: d)
            MatrixProducts(threads: 2).multiplyTransposed(ffnInputs, m, into: inputs)
            let shift = rng.gaussians(d, scale: 3)
            for t in 0..<inputs.rows { for j in 0..<d { inputs[t, j] += shift[j] } }
        }
        let predictor = try PreActivationPredictor.fit(
            graph: graph, block: 0, permutation: permutation.map(Int32.init), blockSize: Self.blockSize, inputs: inputs,
            feedForwardInputs: ffnInputs, trainRows: 0..<600, rank: d, seed: 1, products: MatrixProducts(threads: 2))
        #expect(predictor.units == ff / Self.blockSize && predictor.rank == d)
        func heldOut(_ m: FloatMatrix) -> FloatMatrix {
            let out = FloatMatrix(rows: 100, columns: d)
            for t in 0..<100 { for j in 0..<d { out[t, j] = m[600 + t, j] } }
            return out
        }
        let scores = predictor.scores(heldOut(inputs), products: MatrixProducts(threads: 2))
        let expected = try Self.preActivations(graph, heldOut(ffnInputs), permutation: permutation, blockSize: Self.blockSize)
        let scale = expected.flatMap { $0 }.map { abs($0) }.max()!
        var worst = 0.0
        for t in 0..<100 { for u in 0..<predictor.units { worst = max(worst, abs(Double(scores[t, u]) - expected[t][u])) } }
        #expect(worst <= Double(Self.exactFitTolerance) * scale, "largest error \(worst) against pre-activations up to \(scale)")
    }

    /// At rank r the fit is the reduced-rank regression: on its training inputs its squared error is no larger than
    /// that of the rank-r truncated SVD of the exact linear map (another rank-r linear predictor), and much smaller
    /// than keeping only the bias.
    @Test func reducedRankFitBeatsTruncatingTheExactMap() throws {
        let graph = try Fixtures.graph("tiny-opt/hf")
        let d = graph.hyperparameters.hiddenSize, ff = graph.hyperparameters.intermediateSize
        let identity = Array(0..<ff)
        let inputs = Self.standardisedInputs(tokens: 600, d: d, seed: 43)
        let products = MatrixProducts(threads: 2)
        let rank = 64
        let fitted = try PreActivationPredictor.fit(graph: graph, block: 0, permutation: identity.map(Int32.init), blockSize: 1,
                                                    inputs: inputs, feedForwardInputs: inputs, trainRows: 0..<600, rank: rank, seed: 1, products: products)
        let exact = try PreActivationPredictor.fit(graph: graph, block: 0, permutation: identity.map(Int32.init), blockSize: 1,
                                                   inputs: inputs, feedForwardInputs: inputs, trainRows: 0..<600, rank: d, seed: 1, products: products)
        // The exact map as one matrix [units, d] (up·down) and its rank-r truncation.
        let map = FloatMatrix(rows: ff, columns: d)
        products.multiplyTransposed(exact.up, exact.down.transposed(), into: map)
        let svd = LowRankApproximation.randomizedSVD(map, rank: rank, powerIterations: 4, seed: 2, products: products)
        let down = FloatMatrix(rows: rank, columns: d)
        for k in 0..<rank { for j in 0..<d { down[k, j] = svd.rightT[k, j] * svd.values[k] } }
        let truncated = LowRankPredictor(down: down, up: svd.leftT.transposed(), bias: exact.bias)
        let target = exact.scores(inputs, products: products)
        func squaredError(_ p: LowRankPredictor?) -> Double {
            var total = 0.0
            let s = p?.scores(inputs, products: products)
            for t in 0..<inputs.rows {
                for u in 0..<ff {
                    let e = Double(s?[t, u] ?? exact.bias[u]) - Double(target[t, u])
                    total += e * e
                }
            }
            return total
        }
        let fittedError = squaredError(fitted), truncatedError = squaredError(truncated), biasOnly = squaredError(nil)
        print("rank \(rank): fit \(fittedError), truncated map \(truncatedError), bias alone \(biasOnly)")
        #expect(fittedError <= truncatedError * 1.001, "fit \(fittedError), truncated map \(truncatedError)")
        #expect(fittedError < 0.7 * biasOnly, "fit \(fittedError), bias alone \(biasOnly)")
    }

    /// A gated FFN has no pre-activation that ranks its neurons: the fit is refused, naming the block.
    @Test func gatedFeedForwardIsRefused() throws {
        let graph = try Fixtures.graph("tiny-llama/hf")
        #expect(!PreActivationPredictor.applies(to: graph, block: 0))
        let d = graph.hyperparameters.hiddenSize, ff = graph.hyperparameters.intermediateSize
        #expect(throws: SieveTransformsError.self) {
            let inputs = Self.standardisedInputs(tokens: 10, d: d, seed: 1)
            try PreActivationPredictor.fit(graph: graph, block: 0, permutation: (0..<ff).map(Int32.init), blockSize: 1,
                                           inputs: inputs, feedForwardInputs: inputs, trainRows: 0..<10, rank: 4, seed: 1,
                                           products: MatrixProducts(threads: 2))
        }
    }
}
