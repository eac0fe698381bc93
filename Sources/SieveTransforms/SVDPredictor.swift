import SieveCore

/// Training-free predictors, built from the model's weights (`--predictor svd`), for comparison with trained ones.
///
/// FFN blocks: each neuron's pre-activation is approximated linearly from the predictor's input — the gate row
/// (gated FFNs) or up row (ReLU/GELU FFNs) with the FFN norm folded in: for RMSNorm `ŵ = c·(w ⊙ γ)`, for LayerNorm
/// `ŵ = c·(w ⊙ γ − mean(w ⊙ γ))` with the bias `w·β + b`, where `c` is the mean `1/rms` of the predictor's input
/// over calibration tokens (the one number taken from data). A block's score is the sum of its neurons'
/// approximate pre-activations. The `[ff, hidden]` matrix of the `ŵ` is factored by a randomized SVD at the
/// requested rank: `down = diag(σ)·Vᵀ`, `up = P·U` with `P` summing the neurons of each block.
///
/// Heads: a head's output norm has no linear proxy, so the head predictor is static — zero weights and a bias
/// equal to each head's mean output norm over calibration tokens (the same heads for every token).
public enum SVDPredictor {
    /// The FFN-block predictor of block `block` with neurons in blocks of `blockSize` under `permutation`.
    public static func feedForward(graph: ModelGraph, block: Int, permutation: [Int32], blockSize: Int, rank: Int,
                                   meanInverseRMS: Float, seed: UInt64, products: MatrixProducts) throws -> LowRankPredictor {
        let b = graph.blocks[block]
        let ffn = b.feedForward
        let source = ffn.gate ?? ffn.up
        let w = try FloatMatrix(tensor: try graph.tensor(source.weight))
        let ff = w.rows, d = w.columns
        guard permutation.count == ff, ff % blockSize == 0 else {
            throw SieveTransformsError.unsupportedGraph(block: block, reason: "a permutation of \(permutation.count) neurons in blocks of \(blockSize) for an FFN of \(ff)")
        }
        let gamma = try graph.tensor(b.feedForwardNorm.weight).floats()
        let beta = try b.feedForwardNorm.bias.map { try graph.tensor($0).floats() }
        let rowBias = try source.bias.map { try graph.tensor($0).floats() }
        var neuronBias = [Float](repeating: 0, count: ff)
        for n in 0..<ff {
            let row = w.row(n)
            var offset: Float = rowBias?[n] ?? 0
            if let beta { for j in 0..<d { offset += row[j] * beta[j] } }
            neuronBias[n] = offset
            for j in 0..<d { row[j] *= gamma[j] }
            if b.feedForwardNorm.kind == .layer {
                var mean: Float = 0
                for j in 0..<d { mean += row[j] }
                mean /= Float(d)
                for j in 0..<d { row[j] -= mean }
            }
            for j in 0..<d { row[j] *= meanInverseRMS }
        }
        let svd = LowRankApproximation.randomizedSVD(w, rank: rank, seed: seed, products: products)
        let r = svd.rank
        let down = FloatMatrix(rows: r, columns: d)
        for k in 0..<r {
            let src = svd.rightT.row(k), dst = down.row(k)
            for j in 0..<d { dst[j] = src[j] * svd.values[k] }
        }
        let units = ff / blockSize
        let up = FloatMatrix(rows: units, columns: r)
        var bias = [Float](repeating: 0, count: units)
        for u in 0..<units {
            let dst = up.row(u)
            for s in (u * blockSize)..<((u + 1) * blockSize) {
                let n = Int(permutation[s])
                for k in 0..<r { dst[k] += svd.leftT[k, n] }
                bias[u] += neuronBias[n]
            }
        }
        return LowRankPredictor(down: down, up: up, bias: bias)
    }

    /// The static head predictor: rank 1, zero weights, bias = each head's mean output norm in `headNorms`
    /// (`[tokens, heads]`, the rows in `rows`).
    public static func heads(headNorms: FloatMatrix, rows: Range<Int>, hidden: Int) -> LowRankPredictor {
        let heads = headNorms.columns
        var mean = [Double](repeating: 0, count: heads)
        for t in rows {
            let row = headNorms.row(t)
            for h in 0..<heads { mean[h] += Double(row[h]) }
        }
        return LowRankPredictor(down: FloatMatrix(rows: 1, columns: hidden), up: FloatMatrix(rows: heads, columns: 1),
                                bias: mean.map { Float($0 / Double(max(1, rows.count))) })
    }

    /// Mean of `1/rms(x)` over rows `rows` of `inputs` (the scale a norm applies to the predictor's input).
    public static func meanInverseRMS(_ inputs: FloatMatrix, rows: Range<Int>) -> Float {
        var total = 0.0
        for t in rows {
            let x = inputs.row(t)
            var s = 0.0
            for v in x { s += Double(v) * Double(v) }
            let rms = (s / Double(max(1, x.count))).squareRoot()
            total += rms > 0 ? 1 / rms : 0
        }
        return Float(total / Double(max(1, rows.count)))
    }
}
