import Foundation
import SieveCore

/// SplitMix64: a small seeded generator so test models are the same on every run.
struct SeededRNG: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func floats(_ count: Int, scale: Float = 0.5) -> [Float] {
        (0..<count).map { _ in Float.random(in: -scale...scale, using: &self) }
    }
}

/// Tiny llama-like graphs built in the tests: dense, or blocked with predictors.
enum TinyModels {
    static let hidden = 32
    static let ff = 64
    static let layers = 2
    static let heads = 4
    static let kvHeads = 2
    static let headDim = 8
    static let vocab = 48
    static let ffnBlockSize = 16

    static var hyperparameters: Hyperparameters {
        Hyperparameters(vocabSize: vocab, hiddenSize: hidden, intermediateSize: ff, layerCount: layers, headCount: heads,
                        kvHeadCount: kvHeads, headDim: headDim, contextLength: 128, normEpsilon: 1e-5, activation: .silu,
                        ropeTheta: 10000, tiedEmbeddings: false)
    }

    /// A tokenizer exercising every field: unicode and control characters, a -inf score, merges, a template.
    static var tokenizer: TokenizerDescription {
        var tokens = (0..<vocab).map { "tok\($0)" }
        tokens[1] = "<|im_start|>"
        tokens[2] = "Ġcafé ☕️ \u{0} \"quoted\" \\ \n"
        tokens[3] = "<0x0A>"
        var scores = (0..<vocab).map { -Float($0) * 0.1 }
        scores[5] = -.infinity
        return TokenizerDescription(
            kind: .bytePairEncoding, tokens: tokens, scores: scores, tokenTypes: (0..<vocab).map { $0 == 1 ? 3 : 1 },
            merges: ["t o", "to k", "Ġ c"], preTokenizer: "smollm", bosID: 1, eosID: 4, eotID: 4, unknownID: nil,
            paddingID: 0, addBOS: true, addSpacePrefix: false,
            chatTemplate: "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}",
            ignoreMerges: true, continuingSubwordPrefix: "##", stripAccents: false, clsID: 1)
    }

    /// A dense tiny llama with seeded random f32 weights.
    static func dense(seed: UInt64 = 1, ropeScaling: RoPEScaling? = nil) throws -> ModelGraph {
        var rng = SeededRNG(seed: seed)
        var tensors: [Tensor] = []
        func add(_ name: String, _ shape: [Int]) {
            tensors.append(Tensor(name: name, shape: Shape(shape), floats: rng.floats(shape.reduce(1, *))))
        }
        add(IRName.tokenEmbedding + ".weight", [vocab, hidden])
        for i in 0..<layers {
            add(IRName.attentionNorm(i) + ".weight", [hidden])
            add(IRName.attention(i, "q") + ".weight", [heads * headDim, hidden])
            add(IRName.attention(i, "k") + ".weight", [kvHeads * headDim, hidden])
            add(IRName.attention(i, "v") + ".weight", [kvHeads * headDim, hidden])
            add(IRName.attention(i, "o") + ".weight", [hidden, heads * headDim])
            add(IRName.feedForwardNorm(i) + ".weight", [hidden])
            add(IRName.feedForward(i, "gate") + ".weight", [ff, hidden])
            add(IRName.feedForward(i, "up") + ".weight", [ff, hidden])
            add(IRName.feedForward(i, "down") + ".weight", [hidden, ff])
        }
        add(IRName.finalNorm + ".weight", [hidden])
        add(IRName.lmHead + ".weight", [vocab, hidden])
        var hp = hyperparameters
        hp.ropeScaling = ropeScaling
        return try GraphBuilder.build(architecture: .llama, hyperparameters: hp, tensors: TensorStore(tensors),
                                      tokenizer: tokenizer, metadata: ["general.name": "tiny", "general.license": "apache-2.0"],
                                      source: "test")
    }

    /// The dense model with each FFN's neurons permuted into blocks of 16 (down stored transposed), an FFN and
    /// a head predictor per block (lookahead: source block i − 1) and default densities.
    static func blocked(seed: UInt64 = 2) throws -> ModelGraph {
        var graph = try dense(seed: seed)
        var rng = SeededRNG(seed: seed &+ 100)
        for i in 0..<layers {
            let permutation = Array(0..<ff).shuffled(using: &rng)
            let f = graph.blocks[i].feedForward
            let gate = try graph.tensor(f.gate!.weight).floats()
            let up = try graph.tensor(f.up.weight).floats()
            let down = try graph.tensor(f.down.weight).floats()
            func permuteRows(_ m: [Float]) -> [Float] { permutation.flatMap { m[($0 * hidden)..<(($0 + 1) * hidden)] } }
            let downT = permutation.flatMap { n in (0..<hidden).map { down[$0 * ff + n] } }
            graph.tensors.insert(Tensor(name: f.gate!.weight, shape: [ff, hidden], floats: permuteRows(gate)))
            graph.tensors.insert(Tensor(name: f.up.weight, shape: [ff, hidden], floats: permuteRows(up)))
            graph.tensors.insert(Tensor(name: f.down.weight, shape: [ff, hidden], floats: downT))
            let permutationName = IRName.feedForward(i, "permutation")
            graph.tensors.insert(try Tensor(name: permutationName, dtype: .i32, shape: [ff],
                                            storage: .owned(TensorBuffer(values: permutation.map { Int32($0) }))))
            graph.blocks[i].feedForward.layout = .blocked(blockSize: ffnBlockSize, permutation: permutationName)

            let rank = 8
            let prefix = "blocks.\(i).predictor"
            graph.tensors.insert(Tensor(name: prefix + ".ffn.down", shape: [rank, hidden], floats: rng.floats(rank * hidden)))
            graph.tensors.insert(Tensor(name: prefix + ".ffn.up", shape: [ff / ffnBlockSize, rank], floats: rng.floats(ff / ffnBlockSize * rank)))
            graph.tensors.insert(Tensor(name: prefix + ".ffn.bias", shape: [ff / ffnBlockSize], floats: rng.floats(ff / ffnBlockSize)))
            graph.tensors.insert(Tensor(name: prefix + ".heads.down", shape: [rank, hidden], floats: rng.floats(rank * hidden)))
            graph.tensors.insert(Tensor(name: prefix + ".heads.up", shape: [heads, rank], floats: rng.floats(heads * rank)))
            // The first block's FFN predictor reads its FFN input, as `sieve pack` makes it.
            graph.blocks[i].ffnPredictor = PredictorNode(
                target: .ffnBlocks, sourceBlock: max(0, i - 1), input: i == 0 ? .feedForwardInput : .blockInput, down: prefix + ".ffn.down", up: prefix + ".ffn.up",
                bias: prefix + ".ffn.bias", units: ff / ffnBlockSize,
                recall: [DensityRecall(density: 0.5, recall: 0.97), DensityRecall(density: 0.3, recall: 0.91)])
            graph.blocks[i].headPredictor = PredictorNode(
                target: .heads, sourceBlock: max(0, i - 1), down: prefix + ".heads.down", up: prefix + ".heads.up",
                bias: nil, units: heads, recall: [DensityRecall(density: 0.75, recall: 0.96)])
            graph.blocks[i].ffnDensity = i == 0 ? 0.5 : 0.3
            graph.blocks[i].headDensity = 0.75
        }
        graph.metadata["sieve.note"] = "blocked"
        return graph
    }
}
