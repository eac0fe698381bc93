import Foundation
import SieveCore
import SieveKernels

/// A low-rank predictor `scores = up · (down · x) + bias` (Deja Vu's two-layer network without a nonlinearity):
/// `down` `[rank, hidden]`, `up` `[units, rank]`, `bias` `[units]`. It reads the raw residual stream (any input
/// standardisation used in training is folded into the weights), and the runtime computes the top-k scored units.
public struct LowRankPredictor: @unchecked Sendable {
    /// `[rank, hidden]`.
    public var down: FloatMatrix
    /// `[units, rank]`.
    public var up: FloatMatrix
    /// `[units]`.
    public var bias: [Float]

    /// A predictor from its factors; `up.columns` must equal `down.rows`, `bias` have `up.rows` values.
    public init(down: FloatMatrix, up: FloatMatrix, bias: [Float]) {
        precondition(up.columns == down.rows && bias.count == up.rows, "predictor factors \(down.rows)×\(down.columns), \(up.rows)×\(up.columns) and \(bias.count) biases disagree")
        self.down = down
        self.up = up
        self.bias = bias
    }

    /// Inner dimension `r`.
    public var rank: Int { down.rows }
    /// Width of the residual stream read.
    public var hidden: Int { down.columns }
    /// Number of scored units.
    public var units: Int { up.rows }

    /// Scores `[tokens, units]` of the rows of `inputs` (`[tokens, hidden]`).
    public func scores(_ inputs: FloatMatrix, products: MatrixProducts) -> FloatMatrix {
        let h = FloatMatrix(rows: inputs.rows, columns: rank)
        products.multiplyTransposed(inputs, down, into: h)
        let s = FloatMatrix(rows: inputs.rows, columns: units)
        products.multiplyTransposed(h, up, into: s)
        for t in 0..<s.rows {
            let row = s.row(t)
            for u in 0..<units { row[u] += bias[u] }
        }
        return s
    }

    /// Element types a predictor's matrices can be stored in.
    public static let storageTypes: [DType] = [.f32, .f16, .q8_0, .q4_0]

    /// The predictor with its matrices rounded to `dtype` (encoded and decoded), i.e. as the runtime will compute
    /// it, so that recall is measured on the stored weights.
    public func rounded(to dtype: DType) throws -> LowRankPredictor {
        guard dtype != .f32 else { return self }
        func round(_ m: FloatMatrix, _ name: String) throws -> FloatMatrix {
            let stored = try m.tensor(name: name).converted(to: dtype)
            let out = FloatMatrix(rows: m.rows, columns: m.columns)
            let values = try stored.floats()
            for i in 0..<values.count { out.elements[i] = values[i] }
            return out
        }
        return LowRankPredictor(down: try round(down, "down"), up: try round(up, "up"), bias: bias)
    }

    /// Adds the predictor's tensors to `graph` and attaches it to block `block` as its `target` predictor, reading
    /// block `sourceBlock`'s residual stream at `input`; weights are stored as `dtype` (one of `storageTypes`), the
    /// bias as f32.
    public func attach(to graph: inout ModelGraph, block: Int, target: PredictorTarget, sourceBlock: Int,
                       input: PredictorInput = .blockInput, recall: [DensityRecall], dtype: DType) throws {
        guard Self.storageTypes.contains(dtype) else {
            throw SieveTransformsError.invalidOption(name: "predictor dtype", value: dtype.name, reason: "must be one of \(Self.storageTypes.map(\.name).joined(separator: ", "))")
        }
        if dtype.blockSize > 1 && (hidden % dtype.blockSize != 0 || rank % dtype.blockSize != 0) {
            throw SieveTransformsError.invalidOption(name: "predictor dtype", value: dtype.name, reason: "needs the hidden size (\(hidden)) and the rank (\(rank)) to be multiples of \(dtype.blockSize); use f16 or another --rank")
        }
        let names = PredictorNames(block: block, target: target)
        graph.tensors.insert(try down.tensor(name: names.down).converted(to: dtype))
        graph.tensors.insert(try up.tensor(name: names.up).converted(to: dtype))
        graph.tensors.insert(Tensor(name: names.bias, shape: [units], floats: bias))
        let node = PredictorNode(target: target, sourceBlock: sourceBlock, input: input, down: names.down, up: names.up,
                                 bias: names.bias, units: units, recall: recall)
        switch target {
        case .ffnBlocks: graph.blocks[block].ffnPredictor = node
        case .heads: graph.blocks[block].headPredictor = node
        }
    }
}

/// IR names of a predictor's tensors: `blocks.<i>.predictor.<ffn|heads>.<down|up|bias>`.
public struct PredictorNames: Sendable, Equatable {
    /// `blocks.<i>.predictor.<target>.down`.
    public var down: String
    /// `blocks.<i>.predictor.<target>.up`.
    public var up: String
    /// `blocks.<i>.predictor.<target>.bias`.
    public var bias: String

    /// The names for block `block`'s `target` predictor.
    public init(block: Int, target: PredictorTarget) {
        let base = IRName.block(block) + ".predictor." + (target == .ffnBlocks ? "ffn" : "heads")
        down = base + ".down"
        up = base + ".up"
        bias = base + ".bias"
    }
}

/// Gaussian samples from a seeded generator (Box–Muller), for deterministic initialisation.
struct GaussianSampler {
    var generator: SplitMix64
    private var spare: Float?

    init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    mutating func next() -> Float {
        if let s = spare { spare = nil; return s }
        // u1 in (0, 1], u2 in [0, 1).
        let u1 = (Double(generator.next() >> 11) + 1) * 0x1p-53
        let u2 = Double(generator.next() >> 11) * 0x1p-53
        let radius = (-2 * log(u1)).squareRoot()
        spare = Float(radius * sin(2 * Double.pi * u2))
        return Float(radius * cos(2 * Double.pi * u2))
    }

    mutating func fill(_ m: FloatMatrix, scale: Float) {
        for i in 0..<m.count { m.elements[i] = next() * scale }
    }
}

