import SieveCore
import SieveKernels

/// A predictor fitted, without training, to the pre-activations of a non-gated FFN, from the residual stream the
/// predictor reads: the FFN's own input (the first block's FFN predictor: `PredictorInput.feedForwardInput`) or a
/// block's input.
///
/// A ReLU neuron's magnitude is its pre-activation `z = up·norm(f) + b` (`f` the FFN input) when positive and zero
/// otherwise, so the neurons with the largest `z` are the ones with the largest mass. `z` is almost linear in `f`
/// (the norm's per-token scale is the only non-linearity), and a target that is linear, negative values included,
/// is what least squares fits best: a reduced-rank least-squares fit of `z` ranks the neurons far better than one
/// of the ReLU magnitudes, and than the listwise-trained predictor. Numpy study on docs-opt-relu (rank 64, 30 600
/// calibration tokens, recall at density 0.1): block 5 from its block input 0.918 (ReLU magnitudes fitted: 0.786;
/// trained: 0.883), block 3 0.997 (0.887; trained 0.987); block 0 from its FFN input 0.950 at 0.1 and 0.955 at 0.3
/// (0.921 at 0.3 for the magnitudes). The fit is ridge regression on standardised inputs,
/// `B = (XᵀX + λI)⁻¹ Xᵀ Z`, then the rank-`r` projection of the fitted values onto their leading right singular
/// vectors `V_r` (reduced-rank regression): `scores = V_r·V_rᵀ·Bᵀ·x̂ + z̄`.
///
/// `Z` is never formed: with `h` the normed FFN input and `W_u` a unit's summed `up` rows, `Z = H·W_uᵀ + b_u`, so
/// `XᵀZ = (XᵀH)·W_uᵀ` needs only `[hidden, hidden]` cross products of the calibration tokens.
public enum PreActivationPredictor {
    /// Ridge added to the diagonal of the standardised inputs' correlation matrix.
    static let ridge = 1e-4

    /// Whether block `block`'s FFN has pre-activations that rank its units (non-gated: ReLU, GELU).
    public static func applies(to graph: ModelGraph, block: Int) -> Bool {
        !graph.blocks[block].feedForward.kind.isGated
    }

    /// The rank-`rank` predictor of block `block`'s FFN units (neurons in blocks of `blockSize` under
    /// `permutation`, stored position → source neuron) reading `inputs` (`[tokens, hidden]`), fitted on rows
    /// `trainRows` to the pre-activations that the same rows of `feedForwardInputs`, the block's recorded FFN inputs
    /// (before the FFN norm of a pre-norm block), give. For a predictor of the FFN input both are the same matrix.
    public static func fit(graph: ModelGraph, block: Int, permutation: [Int32], blockSize: Int, inputs: FloatMatrix,
                           feedForwardInputs: FloatMatrix, trainRows: Range<Int>, rank: Int, seed: UInt64,
                           products: MatrixProducts) throws -> LowRankPredictor {
        let b = graph.blocks[block]
        guard applies(to: graph, block: block) else {
            throw SieveTransformsError.unsupportedGraph(block: block, reason: "a gated FFN has no pre-activation that ranks its neurons")
        }
        let w = try FloatMatrix(tensor: try graph.tensor(b.feedForward.up.weight))
        let ff = w.rows, d = w.columns
        guard permutation.count == ff, ff % blockSize == 0, inputs.columns == d, feedForwardInputs.columns == d,
              !trainRows.isEmpty, trainRows.upperBound <= min(inputs.rows, feedForwardInputs.rows) else {
            throw SieveTransformsError.unsupportedGraph(block: block, reason: "a permutation of \(permutation.count) neurons in blocks of \(blockSize), inputs of \(inputs.columns) and FFN inputs of \(feedForwardInputs.columns) values, training rows \(trainRows), for an FFN of \(ff)×\(d)")
        }
        let upBias = try b.feedForward.up.bias.map { try graph.tensor($0).floats() }
        let units = ff / blockSize
        let n = trainRows.count

        // Unit rows `W_u` (sums of their neurons' up rows, in stored order) and biases.
        let unitRows = FloatMatrix(rows: units, columns: d)
        var unitBias = [Double](repeating: 0, count: units)
        for u in 0..<units {
            let dst = unitRows.row(u)
            for s in (u * blockSize)..<((u + 1) * blockSize) {
                let neuron = Int(permutation[s])
                let src = w.row(neuron)
                for j in 0..<d { dst[j] += src[j] }
                unitBias[u] += Double(upBias?[neuron] ?? 0)
            }
        }

        // Standardised inputs X̂ (the trainer's standardisation) and normed FFN inputs H, both transposed
        // ([hidden, tokens]) for the cross products.
        let (mean, inverseStd) = PredictorTrainer.standardisation(of: inputs, rows: trainRows)
        let xT = PredictorTrainer.standardised(inputs, rows: trainRows, mean: mean, inverseStd: inverseStd).transposed()
        let normed = Packer.rows(feedForwardInputs, trainRows)
        if b.normPlacement == .pre {
            // The runtime's own norm kernels (a post-norm block's FFN input is already normed).
            let norm = b.feedForwardNorm
            let gamma = try graph.tensor(norm.weight).floats(), beta = try norm.bias.map { try graph.tensor($0).floats() }
            gamma.withUnsafeBufferPointer { g in
                switch norm.kind {
                case .layer:
                    (beta ?? []).withUnsafeBufferPointer { bb in
                        Norms.layerNorm(normed.base, weight: g.baseAddress, bias: beta == nil ? nil : bb.baseAddress, count: d,
                                        epsilon: Float(norm.epsilon), rows: n, into: normed.base)
                    }
                case .rms:
                    Norms.rmsNorm(normed.base, weight: g.baseAddress, count: d, epsilon: Float(norm.epsilon), rows: n, into: normed.base)
                }
            }
        }
        let hT = normed.transposed()
        var hMean = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { hMean[j] += Double(normed[i, j]) } }
        for j in 0..<d { hMean[j] /= Double(n) }
        let gram = FloatMatrix(rows: d, columns: d), cross = FloatMatrix(rows: d, columns: d)
        products.multiplyTransposed(xT, xT, into: gram)     // X̂ᵀX̂
        products.multiplyTransposed(xT, hT, into: cross)    // X̂ᵀH (= X̂ᵀ(H − H̄): X̂'s columns have zero mean)

        // A = (G + λI)⁻¹ C with G, C per token; Cholesky G + λI = L·Lᵀ in f64.
        var g = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in 0..<d { g[i * d + j] = Double(gram[i, j]) / Double(n) } }
        for i in 0..<d { g[i * d + i] += ridge }
        let l = try cholesky(g, d, block: block)
        let a = FloatMatrix(rows: d, columns: d)
        var column = [Double](repeating: 0, count: d)
        for c in 0..<d {
            for i in 0..<d { column[i] = Double(cross[i, c]) / Double(n) }
            solve(l, d, &column)
            for i in 0..<d { a[i, c] = Float(column[i]) }
        }

        // Bᵀ = W_u·Aᵀ ([units, hidden]); M = Lᵀ·B = (Bᵀ·L)ᵀ, whose right singular vectors are the fitted values'.
        let bT = FloatMatrix(rows: units, columns: d)
        products.multiplyTransposed(unitRows, a, into: bT)
        let lT = FloatMatrix(rows: d, columns: d)
        for i in 0..<d { for j in 0...i { lT[j, i] = Float(l[i * d + j]) } }
        let mT = FloatMatrix(rows: units, columns: d)
        products.multiplyTransposed(bT, lT, into: mT)       // Bᵀ·L
        let svd = LowRankApproximation.randomizedSVD(mT.transposed(), rank: rank, seed: seed, products: products)
        let r = svd.rank
        let vT = svd.rightT                                 // [r, units]

        // On standardised inputs: down = V_rᵀ·Bᵀ, up = V_r, bias = z̄ (the units' mean pre-activation); then folded
        // into a predictor of the raw stream, as the trainer folds its own.
        let down = FloatMatrix(rows: r, columns: d)
        products.multiplyTransposed(vT, bT.transposed(), into: down)   // V_rᵀ·Bᵀ
        var bias = [Float](repeating: 0, count: units)
        for u in 0..<units {
            var z = unitBias[u]
            let row = unitRows.row(u)
            for j in 0..<d { z += Double(row[j]) * hMean[j] }
            bias[u] = Float(z)
        }
        return PredictorTrainer.fold(LowRankPredictor(down: down, up: vT.transposed(), bias: bias), mean: mean, inverseStd: inverseStd)
    }

    /// The lower Cholesky factor of the symmetric positive definite `[n, n]` matrix `m` (row-major).
    private static func cholesky(_ m: [Double], _ n: Int, block: Int) throws -> [Double] {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = m[i * n + j]
                for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                if i == j {
                    guard s > 0 else {
                        throw SieveTransformsError.calibration(reason: "block \(block)'s FFN inputs are degenerate (correlation matrix not positive definite); record more calibration tokens")
                    }
                    l[i * n + i] = s.squareRoot()
                } else {
                    l[i * n + j] = s / l[j * n + j]
                }
            }
        }
        return l
    }

    /// Solves `L·Lᵀ·y = v` in place.
    private static func solve(_ l: [Double], _ n: Int, _ v: inout [Double]) {
        for i in 0..<n {
            var s = v[i]
            for k in 0..<i { s -= l[i * n + k] * v[k] }
            v[i] = s / l[i * n + i]
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            var s = v[i]
            for k in (i + 1)..<n { s -= l[k * n + i] * v[k] }
            v[i] = s / l[i * n + i]
        }
    }
}
