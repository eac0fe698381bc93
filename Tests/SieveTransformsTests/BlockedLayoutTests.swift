import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore
import SieveRuntime
import SieveTransforms
import Testing

/// Test fixtures: the repository's shared `Tests/Fixtures/models`, found through `#filePath`.
enum Fixtures {
    static let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models")

    static func graph(_ relative: String) throws -> ModelGraph {
        let url = models.appendingPathComponent(relative)
        if url.pathExtension == "gguf" { return try GGUFPlugin().read(url) }
        return try SafetensorsPlugin().read(url)
    }
}

/// FFN forward passes computed directly from the IR's tensors (dense and blocked layouts).
enum FFNReference {
    static func activate(_ v: Float, _ a: Activation) -> Float {
        switch a {
        case .silu: return Reference.silu(v)
        case .relu: return max(0, v)
        case .gelu: return 0.5 * v * (1 + erf(v / Float(2).squareRoot()))
        case .geluTanh: return 0.5 * v * (1 + tanh(0.7978845608 * (v + 0.044715 * v * v * v)))
        case .clampedSwiGLU: Issue.record("swiglu_oai is not f(gate)·up; blocked layouts never hold experts"); return .nan
        }
    }

    /// The FFN output for the normed input `x` of block `block`, whatever its layout.
    static func output(_ graph: ModelGraph, block: Int, _ x: [Float]) throws -> [Float] {
        let ffn = graph.blocks[block].feedForward
        let d = x.count
        let up = try graph.tensor(ffn.up.weight).floats()
        let ff = up.count / d
        let upBias = try ffn.up.bias.map { try graph.tensor($0).floats() }
        let gate = try ffn.gate.map { try graph.tensor($0.weight).floats() }
        let down = try graph.tensor(ffn.down.weight).floats()
        var h = [Float](repeating: 0, count: ff)
        for n in 0..<ff {
            var u: Float = upBias?[n] ?? 0
            for c in 0..<d { u += up[n * d + c] * x[c] }
            if let gate {
                var g: Float = 0
                for c in 0..<d { g += gate[n * d + c] * x[c] }
                h[n] = activate(g, ffn.activation) * u
            } else {
                h[n] = activate(u, ffn.activation)
            }
        }
        var y = try ffn.down.bias.map { try graph.tensor($0).floats() } ?? [Float](repeating: 0, count: d)
        switch ffn.layout {
        case .dense:
            for r in 0..<d { for n in 0..<ff { y[r] += down[r * ff + n] * h[n] } }
        case .blocked:
            for n in 0..<ff { for r in 0..<d { y[r] += down[n * d + r] * h[n] } }
        }
        return y
    }
}

@Suite struct BlockedLayoutTests {
    /// Rewrites every block of `graph` with a random permutation and checks the FFN outputs on random inputs.
    static func checkFunctionPreserved(_ graph: ModelGraph, blockSize: Int, seed: UInt64) throws {
        var rng = TestRandom(seed: seed)
        var blocked = graph
        let ff = graph.hyperparameters.intermediateSize, d = graph.hyperparameters.hiddenSize
        for l in graph.blocks.indices {
            try BlockedLayout.apply(to: &blocked, block: l, permutation: rng.shuffled(ff).map { Int32($0) }, blockSize: blockSize,
                                    weightType: .keep)
            guard case let .blocked(b, name) = blocked.blocks[l].feedForward.layout else { Issue.record("not blocked"); return }
            #expect(b == blockSize)
            #expect(try blocked.tensor(name).dtype == .i32)
            #expect(try blocked.tensor(blocked.blocks[l].feedForward.down.weight).shape == [ff, d])
            for _ in 0..<3 {
                let x = rng.gaussians(d, scale: 1)
                let dense = try FFNReference.output(graph, block: l, x), sparse = try FFNReference.output(blocked, block: l, x)
                let err = zip(dense, sparse).map { abs($0 - $1) }.max()!
                #expect(err <= Tolerance.blockedFFN, "block \(l): max |Δ| \(err)")
            }
        }
        // Un-blocking gives back the original weights exactly (f32 sources).
        let restored = try BlockedLayout.denseEquivalent(blocked)
        for l in graph.blocks.indices {
            let f = graph.blocks[l].feedForward
            #expect(restored.blocks[l].feedForward.layout == .dense)
            for name in [f.up.weight, f.down.weight, f.gate?.weight, f.up.bias].compactMap({ $0 }) {
                #expect(try restored.tensor(name).floats() == graph.tensor(name).floats(), "\(name)")
            }
            #expect(!restored.tensors.contains(BlockedLayout.permutationName(block: l)))
        }
    }

    @Test func swigluFunctionPreserved() throws {
        try Self.checkFunctionPreserved(try PlantedModel.make(seed: 5).graph, blockSize: 32, seed: 6)
    }

    @Test func reluWithBiasesFunctionPreserved() throws {
        let graph = try Fixtures.graph("tiny-opt/hf")
        #expect(graph.blocks[0].feedForward.up.bias != nil)
        try Self.checkFunctionPreserved(graph, blockSize: 64, seed: 7)
    }

    /// Quantized sources with `keep`: up/gate rows are moved byte for byte; the down stays as it was, in source
    /// order, and the dense equivalent multiplies its decoded values.
    @Test func quantizedKeepMovesRowsExactly() throws {
        let graph = try Fixtures.graph("tiny-llama/q4_1.gguf")
        let ff = graph.hyperparameters.intermediateSize
        var rng = TestRandom(seed: 9)
        let perm = rng.shuffled(ff).map { Int32($0) }
        var blocked = graph
        try BlockedLayout.apply(to: &blocked, block: 1, permutation: perm, blockSize: 32, weightType: .keep)
        let f = graph.blocks[1].feedForward
        for name in [f.up.weight, f.gate!.weight] {
            let source = try graph.tensor(name), stored = try blocked.tensor(name)
            #expect(stored.dtype == source.dtype)
            let rowBytes = source.byteCount / ff
            for n in [0, 17, ff - 1] {
                let a = Array(stored.bytes[(n * rowBytes)..<((n + 1) * rowBytes)])
                let r = Int(perm[n])
                #expect(a == Array(source.bytes[(r * rowBytes)..<((r + 1) * rowBytes)]))
            }
        }
        // The source's down is kept as it was (no transposed copy), for exact execution.
        let kept = try #require(blocked.blocks[1].feedForward.sourceDown)
        #expect(kept == f.down.weight)
        let source = try graph.tensor(f.down.weight)
        #expect(Array(try blocked.tensor(kept).bytes) == Array(source.bytes))
        #expect(try blocked.tensor(kept).dtype == source.dtype)
        #expect(try blocked.tensor(kept).shape == source.shape)
        let restored = try BlockedLayout.denseEquivalent(blocked)
        #expect(restored.blocks[1].feedForward.sourceDown == nil)
        #expect(try restored.tensor(f.down.weight).floats() == (try source.floats()))
        #expect(throws: SieveTransformsError.self) {
            try BlockedLayout.apply(to: &blocked, block: 1, permutation: perm, blockSize: 32, weightType: .keep)
        }
    }

    /// Logit error of each `--dtype` choice on tiny-llama (q4_1 and f32 sources), run by the dense runtime on the
    /// blocked model's dense equivalent, its weights in the row layout (whose prefill multiplies float activations,
    /// so that the errors are the weights').
    @Test(arguments: ["tiny-llama/q4_1.gguf", "tiny-llama/hf"])
    func dtypeLogitError(source: String) throws {
        let graph = try Fixtures.graph(source)
        let tokens = [1, 45, 300, 12, 99, 7, 250, 3, 18, 400, 61, 2]
        func logits(_ g: ModelGraph) throws -> [[Float]] {
            let model = try Model(graph: g, options: RuntimeOptions(contextLength: 64, threads: 2, interleavedWeights: false))
            var out: [[Float]] = []
            try model.evaluate(tokens, outputs: .all) { _, o in out.append(Array(o.logits)) }
            return out
        }
        let reference = try logits(graph)
        let rms = (reference.flatMap { $0 }.reduce(0) { $0 + Double($1 * $1) } / Double(reference.count * reference[0].count)).squareRoot()
        var rng = TestRandom(seed: 13)
        let perms = graph.blocks.indices.map { _ in rng.shuffled(graph.hyperparameters.intermediateSize).map { Int32($0) } }
        print("\(source): logit rms \(String(format: "%.3f", rms))")
        let choices: [FFNWeightType] = source.hasSuffix("gguf") ? [.keep, .type(.f32), .type(.f16), .type(.q8_0), .type(.q4_1), .type(.q4_0)]
            : [.keep, .type(.f16), .type(.q8_0)]
        for weightType in choices {
            var blocked = graph
            for l in graph.blocks.indices {
                try BlockedLayout.apply(to: &blocked, block: l, permutation: perms[l], blockSize: 32, weightType: weightType)
            }
            let got = try logits(try BlockedLayout.denseEquivalent(blocked))
            var maxErr: Float = 0
            var argmaxSame = 0
            for (a, b) in zip(reference, got) {
                maxErr = max(maxErr, zip(a, b).map { abs($0 - $1) }.max()!)
                if a.firstIndex(of: a.max()!) == b.firstIndex(of: b.max()!) { argmaxSame += 1 }
            }
            let types = try BlockedLayout.partTypes(graph: graph, block: 0, weightType: weightType)
            print("  --dtype \(weightType): up \(types.up.name) down \(types.down.name): max |Δlogit| \(String(format: "%.5f", maxErr)), argmax agrees \(argmaxSame)/\(tokens.count)")
            if weightType == .keep || weightType == .type(.f32) {
                // keep and f32 are exact up to summation order (and, for q4_1, the runtime's 8-bit activations).
                #expect(Double(maxErr) <= (source.hasSuffix("gguf") ? 0.05 : 1e-4) * max(1, rms), "\(weightType)")
                #expect(argmaxSame == tokens.count)
            }
        }
    }
}
