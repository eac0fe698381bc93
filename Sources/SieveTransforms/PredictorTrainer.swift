import Foundation
import SieveCore
import SieveKernels

/// The training target of a predictor.
public enum PredictorLoss: Sendable, Equatable, CustomStringConvertible {
    /// Deja Vu's loss: binary cross-entropy with logits; unit `u` is labelled 1 when it is among the oracle's top
    /// `labelDensity` fraction of units by mass for the token.
    case bce(labelDensity: Double)
    /// A listwise ranking loss: cross-entropy between `softmax(scores)` and the token's mass distribution
    /// sharpened by `temperature` (`p_u ∝ mass_u^(1/temperature)`), so every unit's share counts and one predictor
    /// serves every density.
    case listwise(temperature: Double)

    public var description: String {
        switch self {
        case let .bce(d): return "bce(label_density: \(d))"
        case let .listwise(t): return "listwise(temperature: \(t))"
        }
    }

    /// The loss as JSON (for provenance).
    public var json: JSONValue {
        switch self {
        case let .bce(d): return .object([("kind", .string("bce")), ("label_density", .double(d))])
        case let .listwise(t): return .object([("kind", .string("listwise")), ("temperature", .double(t))])
        }
    }
}

/// Options of predictor training.
public struct PredictorTrainingOptions: Sendable, Equatable {
    /// Inner dimension `r` (capped at the hidden size).
    public var rank: Int
    /// Passes over the training tokens.
    public var epochs: Int
    /// Tokens per mini-batch.
    public var batchSize: Int
    /// Adam step size.
    public var learningRate: Double
    /// The loss.
    public var loss: PredictorLoss
    /// Seed of the initialisation and the shuffling.
    public var seed: UInt64
    /// Densities at which validation recall is averaged to pick the best epoch.
    public var selectionDensities: [Double]

    /// Options with the given values.
    public init(rank: Int = 64, epochs: Int = 10, batchSize: Int = 256, learningRate: Double = 1e-2,
                loss: PredictorLoss = .listwise(temperature: 1), seed: UInt64 = 0x5EED,
                selectionDensities: [Double] = [0.5, 0.3, 0.2, 0.1]) {
        self.rank = rank
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.loss = loss
        self.seed = seed
        self.selectionDensities = selectionDensities
    }
}

/// What training did, epoch by epoch.
public struct TrainingLog: Sendable, Equatable {
    /// Mean training loss of each epoch.
    public var trainLoss: [Double]
    /// Mean validation recall over `selectionDensities` after each epoch.
    public var validationRecall: [Double]
    /// The epoch whose weights were kept (0-based).
    public var bestEpoch: Int
}

/// Trains a `LowRankPredictor` on calibration records with Adam (β₁ 0.9, β₂ 0.999, ε 1e-8) on mini-batches.
///
/// Inputs are standardised per feature (mean and standard deviation of the training rows) and the
/// standardisation is folded into `down` and `bias` at the end, so the predictor reads the raw residual stream.
/// After every epoch the validation recall (averaged over `selectionDensities`) is measured and the best epoch's
/// weights are kept. Everything is deterministic for a given seed.
///
/// The matrix products run on the SieveKernels f32 kernels through `MatrixProducts`; all buffers are allocated
/// before the first epoch.
public enum PredictorTrainer {
    /// Trains on rows `trainRows` of `inputs` (`[tokens, hidden]`) against `targets` (`[tokens, units]`, unit masses)
    /// and validates on `validationRows`.
    public static func train(inputs: FloatMatrix, targets: FloatMatrix, trainRows: Range<Int>, validationRows: Range<Int>,
                             options: PredictorTrainingOptions, products: MatrixProducts,
                             progress: ((Double) -> Void)? = nil) throws -> (predictor: LowRankPredictor, log: TrainingLog) {
        precondition(inputs.rows == targets.rows, "inputs and targets have \(inputs.rows) and \(targets.rows) rows")
        let d = inputs.columns, units = targets.columns
        let r = min(options.rank, d)
        let nb = options.batchSize
        guard r >= 1, options.epochs >= 1, nb >= 1, options.learningRate > 0 else {
            throw SieveTransformsError.invalidOption(name: "predictor training", value: "rank \(options.rank), \(options.epochs) epochs, batch \(nb)", reason: "rank, epochs and batch size must be positive")
        }
        guard trainRows.count >= nb, !validationRows.isEmpty else {
            throw SieveTransformsError.calibration(reason: "\(trainRows.count) training tokens and \(validationRows.count) validation tokens; predictor training needs at least one batch (\(nb)) and one validation token — record more calibration tokens")
        }

        let (mu, inv) = standardisation(of: inputs, rows: trainRows)

        // Parameters and Adam state.
        var gaussian = GaussianSampler(seed: options.seed)
        let down = FloatMatrix(rows: r, columns: d)
        gaussian.fill(down, scale: 1 / Float(d).squareRoot())
        let up = FloatMatrix(rows: units, columns: r)
        gaussian.fill(up, scale: 0.1 / Float(r).squareRoot())
        var bias = [Float](repeating: initialBias(options.loss, units: units), count: units)
        let adamDown = AdamState(count: down.count), adamUp = AdamState(count: up.count), adamBias = AdamState(count: units)

        // Buffers.
        let xb = FloatMatrix(rows: nb, columns: d), xbT = FloatMatrix(rows: d, columns: nb)
        let h = FloatMatrix(rows: nb, columns: r), hT = FloatMatrix(rows: r, columns: nb)
        let s = FloatMatrix(rows: nb, columns: units)
        let g = FloatMatrix(rows: nb, columns: units), gT = FloatMatrix(rows: units, columns: nb)
        let upT = FloatMatrix(rows: r, columns: units)
        let dh = FloatMatrix(rows: nb, columns: r), dhT = FloatMatrix(rows: r, columns: nb)
        let gradDown = FloatMatrix(rows: r, columns: d), gradUp = FloatMatrix(rows: units, columns: r)
        var gradBias = [Float](repeating: 0, count: units)
        let scratch = LossScratch(units: units)

        let validationInputs = standardised(inputs, rows: validationRows, mean: mu, inverseStd: inv)
        let validationTargets = FloatMatrix(rows: validationRows.count, columns: units)
        for (i, t) in validationRows.enumerated() { _ = validationTargets.row(i).update(fromContentsOf: targets.row(t)) }

        var order = Array(trainRows)
        var shuffler = SplitMix64(seed: options.seed ^ 0x9E37_79B9_7F4A_7C15)
        let batches = trainRows.count / nb
        var log = TrainingLog(trainLoss: [], validationRecall: [], bestEpoch: 0)
        var best: (down: FloatMatrix, up: FloatMatrix, bias: [Float])?
        var bestRecall = -1.0
        var step = 0
        for epoch in 0..<options.epochs {
            order.shuffle(using: &shuffler)
            var epochLoss = 0.0
            for batch in 0..<batches {
                for i in 0..<nb {
                    let src = inputs.row(order[batch * nb + i])
                    let dst = xb.row(i)
                    for j in 0..<d { dst[j] = (src[j] - mu[j]) * inv[j] }
                }
                products.multiplyTransposed(xb, down, into: h)
                products.multiplyTransposed(h, up, into: s)
                for i in 0..<nb {
                    let row = s.row(i)
                    for u in 0..<units { row[u] += bias[u] }
                }
                var batchLoss = 0.0
                for i in 0..<nb {
                    batchLoss += scratch.gradient(loss: options.loss, scores: s.row(i), masses: targets.row(order[batch * nb + i]),
                                                  into: g.row(i), scale: 1 / Float(nb))
                }
                epochLoss += batchLoss / Double(nb)
                // Gradients: dUp = Gᵀ·H, dBias = Σ G, dH = G·Up, dDown = dHᵀ·Xb.
                g.transpose(into: gT)
                h.transpose(into: hT)
                products.multiplyTransposed(gT, hT, into: gradUp)
                for u in 0..<units { gradBias[u] = 0 }
                for i in 0..<nb {
                    let row = g.row(i)
                    for u in 0..<units { gradBias[u] += row[u] }
                }
                up.transpose(into: upT)
                products.multiplyTransposed(g, upT, into: dh)
                dh.transpose(into: dhT)
                xb.transpose(into: xbT)
                products.multiplyTransposed(dhT, xbT, into: gradDown)
                step += 1
                let lr = Float(options.learningRate)
                adamDown.update(down.elements, gradient: gradDown.elements, learningRate: lr, step: step)
                adamUp.update(up.elements, gradient: gradUp.elements, learningRate: lr, step: step)
                gradBias.withUnsafeMutableBufferPointer { gb in
                    bias.withUnsafeMutableBufferPointer { b in
                        adamBias.update(b.baseAddress!, gradient: gb.baseAddress!, learningRate: lr, step: step)
                    }
                }
                progress?((Double(epoch) + Double(batch + 1) / Double(batches)) / Double(options.epochs))
            }
            log.trainLoss.append(epochLoss / Double(batches))
            let current = LowRankPredictor(down: down, up: up, bias: bias)
            let table = RecallMeasurement.measure(scores: current.scores(validationInputs, products: products),
                                                  masses: validationTargets, densities: options.selectionDensities)
            let recall = table.map(\.recall).reduce(0, +) / Double(max(1, table.count))
            log.validationRecall.append(recall)
            if recall > bestRecall {
                bestRecall = recall
                best = (down.copy(), up.copy(), bias)
                log.bestEpoch = epoch
            }
        }
        let kept = best!
        return (fold(LowRankPredictor(down: kept.down, up: kept.up, bias: kept.bias), mean: mu, inverseStd: inv), log)
    }

    /// The predictor reading raw inputs that scores like `p` reading standardised ones:
    /// `down' = down·diag(1/σ)`, `bias' = bias − up·(down·(μ/σ))`.
    static func fold(_ p: LowRankPredictor, mean: [Float], inverseStd: [Float]) -> LowRankPredictor {
        let down = p.down.copy()
        var shift = [Double](repeating: 0, count: p.rank)
        for k in 0..<p.rank {
            let row = down.row(k)
            var acc = 0.0
            for j in 0..<p.hidden {
                row[j] *= inverseStd[j]
                acc += Double(row[j]) * Double(mean[j])
            }
            shift[k] = acc
        }
        var bias = p.bias
        for u in 0..<p.units {
            let row = p.up.row(u)
            var acc = 0.0
            for k in 0..<p.rank { acc += Double(row[k]) * shift[k] }
            bias[u] -= Float(acc)
        }
        return LowRankPredictor(down: down, up: p.up.copy(), bias: bias)
    }

    /// Per-feature mean and inverse standard deviation of rows `rows` of `inputs` (a standard deviation is at least
    /// 1e-6 of the largest one, so constant features do not blow up).
    static func standardisation(of inputs: FloatMatrix, rows: Range<Int>) -> (mean: [Float], inverseStd: [Float]) {
        let d = inputs.columns
        var mean = [Double](repeating: 0, count: d), meanSquare = [Double](repeating: 0, count: d)
        for t in rows {
            let x = inputs.row(t)
            for j in 0..<d { let v = Double(x[j]); mean[j] += v; meanSquare[j] += v * v }
        }
        let n = Double(rows.count)
        var std = (0..<d).map { j -> Double in (max(0, meanSquare[j] / n - (mean[j] / n) * (mean[j] / n))).squareRoot() }
        for j in 0..<d { mean[j] /= n }
        let floor = max(1e-12, (std.max() ?? 1) * 1e-6)
        std = std.map { max($0, floor) }
        return (mean.map { Float($0) }, std.map { Float(1 / $0) })
    }

    /// Rows `rows` of `m`, each feature standardised: `(x − mean)·inverseStd`.
    static func standardised(_ m: FloatMatrix, rows: Range<Int>, mean: [Float], inverseStd: [Float]) -> FloatMatrix {
        let out = FloatMatrix(rows: rows.count, columns: m.columns)
        for (i, t) in rows.enumerated() {
            let src = m.row(t), dst = out.row(i)
            for j in 0..<m.columns { dst[j] = (src[j] - mean[j]) * inverseStd[j] }
        }
        return out
    }

    static func initialBias(_ loss: PredictorLoss, units: Int) -> Float {
        switch loss {
        case let .bce(density):
            let p = Double(TopK.count(density: density, units: units)) / Double(units)
            return p >= 1 ? 0 : Float(log(p / (1 - p)))
        case .listwise:
            return 0
        }
    }
}

/// Adam moments of one parameter tensor.
final class AdamState {
    let count: Int
    let m: UnsafeMutablePointer<Float>
    let v: UnsafeMutablePointer<Float>
    static let beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8

    init(count: Int) {
        self.count = count
        m = .allocate(capacity: max(1, count)); m.initialize(repeating: 0, count: max(1, count))
        v = .allocate(capacity: max(1, count)); v.initialize(repeating: 0, count: max(1, count))
    }

    deinit { m.deallocate(); v.deallocate() }

    /// One Adam step (`step` counts from 1) on `count` parameters.
    func update(_ p: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, learningRate: Float, step: Int) {
        let b1 = Self.beta1, b2 = Self.beta2
        let c1 = 1 - Float(pow(Double(b1), Double(step))), c2 = 1 - Float(pow(Double(b2), Double(step)))
        let rate = learningRate * c2.squareRoot() / c1
        for i in 0..<count {
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
            p[i] -= rate * m[i] / (v[i].squareRoot() + Self.epsilon)
        }
    }
}

/// Per-token loss and gradient, with preallocated scratch.
final class LossScratch {
    let units: Int
    let indices: UnsafeMutablePointer<Int>
    let target: UnsafeMutablePointer<Float>

    init(units: Int) {
        self.units = units
        indices = .allocate(capacity: units)
        target = .allocate(capacity: units)
    }

    deinit { indices.deallocate(); target.deallocate() }

    /// Writes `scale · ∂loss/∂scores` into `gradient` and returns the token's loss.
    func gradient(loss: PredictorLoss, scores s: UnsafeMutableBufferPointer<Float>, masses m: UnsafeMutableBufferPointer<Float>,
                  into gradient: UnsafeMutableBufferPointer<Float>, scale: Float) -> Double {
        var value = 0.0
        switch loss {
        case let .bce(density):
            let k = TopK.count(density: density, units: units)
            for u in 0..<units { indices[u] = u; target[u] = 0 }
            TopK.select(UnsafePointer(m.baseAddress!), n: units, k: k, indices: indices)
            for i in 0..<k { target[indices[i]] = 1 }
            for u in 0..<units {
                let x = s[u], y = target[u]
                let sigmoid = 1 / (1 + exp(-x))
                gradient[u] = (sigmoid - y) * scale
                // softplus(x) − y·x, computed stably.
                value += Double(max(x, 0) - x * y + log1p(exp(-abs(x))))
            }
        case let .listwise(temperature):
            let power = Float(1 / temperature)
            var peak: Float = 0
            for u in 0..<units { peak = max(peak, m[u]) }
            guard peak > 0 else {
                for u in 0..<units { gradient[u] = 0 }
                return 0
            }
            var targetSum: Float = 0
            for u in 0..<units { target[u] = pow(m[u] / peak, power); targetSum += target[u] }
            var maxScore = -Float.infinity
            for u in 0..<units { maxScore = max(maxScore, s[u]) }
            var expSum: Float = 0
            for u in 0..<units { expSum += exp(s[u] - maxScore) }
            let logZ = maxScore + log(expSum)
            for u in 0..<units {
                let p = target[u] / targetSum
                let q = exp(s[u] - logZ)
                gradient[u] = (q - p) * scale
                if p > 0 { value -= Double(p * (s[u] - logZ)) }
            }
        }
        return value
    }
}
