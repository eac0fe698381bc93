import Foundation
import SieveCore
import SieveTransforms

/// A seeded generator for test data (SplitMix64) with uniform and Gaussian samples.
struct TestRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    mutating func gaussian() -> Float {
        let u1 = uniform() + 0x1p-53, u2 = uniform()
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    mutating func gaussians(_ n: Int, scale: Float) -> [Float] { (0..<n).map { _ in gaussian() * scale } }

    mutating func shuffled(_ n: Int) -> [Int] {
        var a = Array(0..<n)
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            a.swapAt(i, j)
        }
        return a
    }
}

/// A random llama-style model whose FFN neurons come in planted co-firing groups, and a simulation of its
/// residual stream that produces calibration records with a known structure.
///
/// In every block, neuron `n` belongs to group `group[n]` (groups of `groupSize` neurons scattered over the neuron
/// order); all neurons of a group share a gate direction (plus `noise`), so they fire together and their block mass
/// is a function of one linear projection of the FFN input. Between blocks the residual stream moves by a fixed
/// linear "attention" map plus the FFN output (consecutive block inputs have cosine ≈ 0.95, as in real models), so
/// a lookahead predictor must learn that map (which the training-free SVD predictor, reading the weights only,
/// cannot).
struct PlantedModel {
    let graph: ModelGraph
    /// Per block: the planted group of every original neuron.
    let groups: [[Int]]
    /// Per block: the `[hidden, hidden]` mixing applied before the FFN (`x_mid = x + mix·x`).
    let mixing: [[Float]]
    /// Per block: `[heads, hidden]` directions that switch each head on (`norm · sigmoid(2·b_h·x̂)`).
    let headSwitches: [[Float]]

    static func make(seed: UInt64, hidden: Int = 32, ffn: Int = 128, layers: Int = 3, heads: Int = 4, groupSize: Int = 8,
                     noise: Float = 0.1) throws -> PlantedModel {
        var rng = TestRandom(seed: seed)
        let headDim = hidden / heads
        let hp = Hyperparameters(vocabSize: 32, hiddenSize: hidden, intermediateSize: ffn, layerCount: layers, headCount: heads,
                                 kvHeadCount: heads, headDim: headDim, contextLength: 64, normEpsilon: 1e-5, activation: .silu,
                                 ropeTheta: 10000)
        var tensors = TensorStore()
        func add(_ name: String, _ shape: [Int], _ values: [Float]) { tensors.insert(Tensor(name: name, shape: Shape(shape), floats: values)) }
        add(IRName.tokenEmbedding + ".weight", [32, hidden], rng.gaussians(32 * hidden, scale: 1))
        add(IRName.finalNorm + ".weight", [hidden], [Float](repeating: 1, count: hidden))
        add(IRName.lmHead + ".weight", [32, hidden], rng.gaussians(32 * hidden, scale: 0.1))
        var groups: [[Int]] = [], mixing: [[Float]] = [], switches: [[Float]] = []
        for l in 0..<layers {
            add(IRName.attentionNorm(l) + ".weight", [hidden], [Float](repeating: 1, count: hidden))
            for part in ["q", "k", "v", "o"] {
                add(IRName.attention(l, part) + ".weight", [hidden, hidden], rng.gaussians(hidden * hidden, scale: 1 / Float(hidden).squareRoot()))
            }
            add(IRName.feedForwardNorm(l) + ".weight", [hidden], (0..<hidden).map { _ in 1 + 0.1 * rng.gaussian() })
            let groupCount = ffn / groupSize
            let order = rng.shuffled(ffn)
            let group = (0..<ffn).map { order[$0] / groupSize }
            let directions = (0..<groupCount).map { _ in rng.gaussians(hidden, scale: 2 / Float(hidden).squareRoot()) }
            var gate = [Float](), up = [Float]()
            for n in 0..<ffn {
                let dir = directions[group[n]]
                gate += (0..<hidden).map { dir[$0] + noise * 2 / Float(hidden).squareRoot() * rng.gaussian() }
                up += rng.gaussians(hidden, scale: 1 / Float(hidden).squareRoot())
            }
            add(IRName.feedForward(l, "gate") + ".weight", [ffn, hidden], gate)
            add(IRName.feedForward(l, "up") + ".weight", [ffn, hidden], up)
            add(IRName.feedForward(l, "down") + ".weight", [hidden, ffn], rng.gaussians(hidden * ffn, scale: 0.15 / Float(ffn).squareRoot()))
            groups.append(group)
            mixing.append(rng.gaussians(hidden * hidden, scale: 0.3 / Float(hidden).squareRoot()))
            switches.append(rng.gaussians(heads * hidden, scale: 1 / Float(hidden).squareRoot()))
        }
        let graph = try GraphBuilder.build(architecture: .llama, hyperparameters: hp, tensors: tensors, tokenizer: nil, metadata: [:],
                                           source: "planted")
        return PlantedModel(graph: graph, groups: groups, mixing: mixing, headSwitches: switches)
    }

    /// Simulates `tokens` tokens: block inputs, FFN magnitudes (from the graph's real FFN weights) and head norms
    /// (norms of the graph's V projection per head, switched by `headSwitches`), and the first block's FFN inputs.
    /// Matrix products run on `MatrixProducts`.
    func records(tokens: Int, seed: UInt64) throws -> InMemoryCalibration {
        var rng = TestRandom(seed: seed)
        let hp = graph.hyperparameters
        let d = hp.hiddenSize, ff = hp.intermediateSize, heads = hp.headCount, headDim = hp.headDim
        let products = MatrixProducts(threads: 2)
        var x = FloatMatrix(rows: tokens, columns: d, values: rng.gaussians(tokens * d, scale: 1))
        var inputs: [FloatMatrix] = [], magnitudes: [FloatMatrix] = [], norms: [FloatMatrix] = []
        var firstFFNInputs: FloatMatrix?
        func normed(_ m: FloatMatrix, _ gamma: [Float]) -> FloatMatrix {
            let out = FloatMatrix(rows: m.rows, columns: m.columns)
            for t in 0..<m.rows {
                let row = Reference.rmsNorm(Array(m.row(t)), gamma: gamma)
                for c in 0..<m.columns { out[t, c] = row[c] }
            }
            return out
        }
        for (l, block) in graph.blocks.enumerated() {
            inputs.append(x)
            let v = try FloatMatrix(tensor: try graph.tensor(block.attention.v.weight))
            let values = FloatMatrix(rows: tokens, columns: d), switched = FloatMatrix(rows: tokens, columns: heads)
            let unitNormed = normed(x, [Float](repeating: 1, count: d))
            products.multiplyTransposed(unitNormed, v, into: values)
            products.multiplyTransposed(unitNormed, FloatMatrix(rows: heads, columns: d, values: headSwitches[l]), into: switched)
            let headNorm = FloatMatrix(rows: tokens, columns: heads)
            for t in 0..<tokens {
                for h in 0..<heads {
                    var s: Float = 0
                    for c in (h * headDim)..<((h + 1) * headDim) { s += values[t, c] * values[t, c] }
                    headNorm[t, h] = s.squareRoot() / (1 + exp(-2 * switched[t, h]))
                }
            }
            let mixed = FloatMatrix(rows: tokens, columns: d)
            products.multiplyTransposed(x, FloatMatrix(rows: d, columns: d, values: mixing[l]), into: mixed)
            for i in 0..<mixed.count { mixed.elements[i] += x.elements[i] }
            if l == 0 { firstFFNInputs = mixed }
            let xhat = normed(mixed, try graph.tensor(block.feedForwardNorm.weight).floats())
            let g = FloatMatrix(rows: tokens, columns: ff), u = FloatMatrix(rows: tokens, columns: ff)
            products.multiplyTransposed(xhat, try FloatMatrix(tensor: try graph.tensor(block.feedForward.gate!.weight)), into: g)
            products.multiplyTransposed(xhat, try FloatMatrix(tensor: try graph.tensor(block.feedForward.up.weight)), into: u)
            let mag = FloatMatrix(rows: tokens, columns: ff)
            for i in 0..<g.count {
                g.elements[i] = Reference.silu(g.elements[i]) * u.elements[i]
                mag.elements[i] = abs(g.elements[i])
            }
            let out = FloatMatrix(rows: tokens, columns: d)
            products.multiplyTransposed(g, try FloatMatrix(tensor: try graph.tensor(block.feedForward.down.weight)), into: out)
            for i in 0..<out.count { out.elements[i] += mixed.elements[i] }
            x = out
            magnitudes.append(mag)
            norms.append(headNorm)
        }
        return try InMemoryCalibration(blockInputs: inputs, ffnMagnitudes: magnitudes, headNorms: norms, headDim: headDim,
                                       feedForwardInputs: firstFFNInputs.map { [$0] } ?? [])
    }
}

/// Plain reference math for the tests.
enum Reference {
    static func rmsNorm(_ x: [Float], gamma: [Float], epsilon: Float = 1e-5) -> [Float] {
        var s: Float = 0
        for v in x { s += v * v }
        let inv = 1 / (s / Float(x.count) + epsilon).squareRoot()
        return (0..<x.count).map { x[$0] * inv * gamma[$0] }
    }

    static func silu(_ v: Float) -> Float { v / (1 + exp(-v)) }

    /// `W·x` for a row-major `[rows, columns]` W.
    static func matVec(_ w: [Float], rows: Int, columns: Int, _ x: [Float]) -> [Float] {
        (0..<rows).map { r in
            var s: Float = 0
            for c in 0..<columns { s += w[r * columns + c] * x[c] }
            return s
        }
    }

    /// `silu(gate·x) ⊙ (up·x)`.
    static func gatedActivation(_ x: [Float], gate: [Float], up: [Float], ff: Int) -> [Float] {
        let g = matVec(gate, rows: ff, columns: x.count, x), u = matVec(up, rows: ff, columns: x.count, x)
        return (0..<ff).map { silu(g[$0]) * u[$0] }
    }
}
