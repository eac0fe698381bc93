import Foundation
import SieveCore
import SieveRuntime
import SieveTokenizers
import Testing

/// Perplexity of the tiny models on GPL-3 (ctx 128) against transformers' and llama.cpp's values in `ref.json`.
@Suite("Perplexity")
struct PerplexityTests {
    @Test("GPL-3 is the text the references were measured on")
    func textChecksum() throws {
        let ref = try Fixtures.json("tiny-llama/ref.json")
        let expected = try #require(ref["perplexity"]?["text_sha256"]?.stringValue)
        let data = try Data(contentsOf: Fixtures.own.appendingPathComponent("GPL-3"))
        #expect(data.withUnsafeBytes { SHA256.hex($0) } == expected)
    }

    static let models = ["tiny-llama", "tiny-llama-bpe", "tiny-qwen2", "tiny-gpt2", "tiny-opt"]

    /// Every scored token's NLL reaches `scored`, in order, and the paired bound `--max-ppl-increase` judges
    /// candidates by is the mean difference plus two standard errors.
    @Test func scoredTokensAndPairedBound() throws {
        let graph = try Fixtures.graph("tiny-llama/hf")
        let tokenizer = try Tokenizer(graph: graph, source: "tiny-llama")
        let tokens = tokenizer.encode(try Fixtures.gpl3(), addSpecial: true)
        let model = try Model(graph: graph, options: RuntimeOptions(contextLength: 64, threads: 2))
        var nll: [Double] = []
        let result = try Perplexity.measure(model: model, tokens: tokens, contextLength: 64, bos: tokenizer.bosID, maxChunks: 3,
                                            scored: { nll.append($0) })
        #expect(nll.count == result.scoredTokens && nll.count == 3 * 31)
        #expect(abs(nll.reduce(0, +) / Double(nll.count) - result.meanNLL) < 1e-12)
        #expect(DensityTuner.pairedIncreaseBound(nll, over: nll) == 0)
        // A constant shift has no spread: the bound is the shift itself.
        let shifted: [Double] = nll.map { $0 + 0.01 }
        let shiftBound: Double = DensityTuner.pairedIncreaseBound(shifted, over: nll)
        #expect(abs(shiftBound - 100 * (exp(0.01) - 1)) < 1e-6)
        // Differences of ±0.1 average zero but the bound adds two standard errors.
        let noisy: [Double] = nll.indices.map { i in nll[i] + (i % 2 == 0 ? 0.1 : -0.1) }
        let n = Double(nll.count)
        // The mean difference is 0.1/n (odd count); the spread ≈ 0.1; two standard errors ≈ 0.2/√n.
        let twoErrors: Double = 0.2 / n.squareRoot()
        let bound: Double = DensityTuner.pairedIncreaseBound(noisy, over: nll)
        let low: Double = 100 * (exp(twoErrors * 0.99) - 1)
        let high: Double = 100 * (exp(twoErrors * 1.01 + 0.1 / n) - 1)
        #expect(bound > low && bound < high, "bound \(bound) outside \(low) … \(high)")
    }

    @Test("perplexity on GPL-3 at ctx 128 equals transformers' to 5 significant digits", .enabled(if: Fixtures.modelScaleTests, "release build (or SIEVE_MODEL_TESTS=1)"),
          arguments: models)
    func transformersPerplexity(_ name: String) throws {
        let ref = try Fixtures.json("\(name)/ref.json")
        let expected = try #require(ref["perplexity"]?["transformers_f32"])
        let graph = try Fixtures.graph("\(name)/hf")
        let tokenizer = try Tokenizer(graph: graph, source: name)
        let tokens = tokenizer.encode(try Fixtures.gpl3(), addSpecial: true)
        #expect(tokens.count == expected["n_tokens"]?.intValue)
        let model = try Model(graph: graph, options: RuntimeOptions(contextLength: 128))
        let bos = tokenizer.definition.addBOS ? tokenizer.bosID : nil
        let result = try Perplexity.measure(model: model, tokens: tokens, contextLength: 128, bos: bos)
        let value = try #require(expected["ppl"]?.doubleValue)
        print("\(name): PPL \(result.value) ± \(result.standardError) over \(result.chunks) chunks; transformers \(value)")
        #expect(result.chunks == expected["n_chunks"]?.intValue)
        #expect(abs(result.value - value) / value <= Tolerance.perplexityRelative)
    }
}

extension PerplexityTests {
    /// llama-perplexity's entry for `file` (`model/file.gguf`): from the model's `ref.json`, or for the quantizations
    /// made for Sieve (q5_1, q5_K_M, q3_K_M, q2_K, iq4_xs, iq2_xxs, iq3_xxs), from `ref-llama-quantize.json`.
    static func llamaPerplexity(_ file: String) throws -> JSONValue {
        let parts = file.split(separator: "/").map(String.init)
        if let entry = try Fixtures.json("\(parts[0])/ref.json")["perplexity"]?["llama_cpp"]?[parts[1]] { return entry }
        return try #require(try Fixtures.json("\(parts[0])/ref-llama-quantize.json")["perplexity"]?["llama_cpp"]?[parts[1]])
    }

    static let ggufFiles = ["tiny-llama/f32.gguf", "tiny-llama/f16.gguf", "tiny-llama/bf16.gguf", "tiny-llama/q8_0.gguf",
                            "tiny-llama/q6_k.gguf", "tiny-llama/q5_0.gguf", "tiny-llama/q4_1.gguf", "tiny-llama/q4_k_m.gguf",
                            "tiny-llama/q4_0.gguf", "tiny-llama-bpe/f32.gguf", "tiny-llama-bpe/q8_0.gguf", "tiny-qwen2/f32.gguf",
                            "tiny-gpt2/f32.gguf", "tiny-llama/q5_1.gguf", "tiny-llama/q5_k_m.gguf", "tiny-llama/q3_k_m.gguf",
                            "tiny-llama/q2_k.gguf", "tiny-llama/iq4_xs.gguf", "tiny-llama/iq2_xxs.gguf",
                            "tiny-llama/iq3_xxs.gguf"].filter(Fixtures.has)

    @Test("GGUF perplexity on GPL-3 at ctx 128 within 0.5% of llama-perplexity's", .enabled(if: Fixtures.modelScaleTests, "release build (or SIEVE_MODEL_TESTS=1)"),
          arguments: ggufFiles)
    func ggufPerplexity(_ file: String) throws {
        let expected = try Self.llamaPerplexity(file)
        let graph = try Fixtures.graph(file)
        let tokenizer = try Tokenizer(graph: graph, source: file)
        let tokens = tokenizer.encode(try Fixtures.gpl3(), addSpecial: true)
        let model = try Model(graph: graph, options: RuntimeOptions(contextLength: 128))
        let result = try Perplexity.measure(model: model, tokens: tokens, contextLength: 128, bos: tokenizer.definition.addBOS ? tokenizer.bosID : nil)
        let value = try #require(expected["ppl"]?.doubleValue)
        print("\(file): PPL \(result.value) ± \(result.standardError); llama.cpp \(value) ± \(expected["stderr"]?.doubleValue ?? 0)")
        #expect(result.chunks == expected["n_chunks"]?.intValue)
        #expect(abs(result.value - value) / value <= 0.005)
    }

    /// The decode kernels (8-bit activations, C kernels where the CPU has them) at every batch size: the arithmetic
    /// llama.cpp uses for these files.
    @Test("GGUF perplexity with 8-bit activations within 0.5% of llama-perplexity's", .enabled(if: Fixtures.modelScaleTests, "release build (or SIEVE_MODEL_TESTS=1)"),
          arguments: ["tiny-llama/q6_k.gguf", "tiny-llama/q5_0.gguf", "tiny-llama/q4_k_m.gguf", "tiny-llama/q5_1.gguf",
                      "tiny-llama/q5_k_m.gguf", "tiny-llama/q3_k_m.gguf", "tiny-llama/q2_k.gguf",
                      "tiny-llama/iq4_xs.gguf", "tiny-llama/iq2_xxs.gguf", "tiny-llama/iq3_xxs.gguf"].filter(Fixtures.has))
    func ggufPerplexityWithQuantizedActivations(_ file: String) throws {
        let value = try #require(try Self.llamaPerplexity(file)["ppl"]?.doubleValue)
        let graph = try Fixtures.graph(file)
        let tokenizer = try Tokenizer(graph: graph, source: file)
        let tokens = tokenizer.encode(try Fixtures.gpl3(), addSpecial: true)
        let model = try Model(graph: graph, options: RuntimeOptions(contextLength: 128, quantizedActivations: true))
        let result = try Perplexity.measure(model: model, tokens: tokens, contextLength: 128, bos: tokenizer.definition.addBOS ? tokenizer.bosID : nil)
        print("\(file), 8-bit activations: PPL \(result.value); llama.cpp \(value)")
        #expect(result.chunks == 138)
        #expect(abs(result.value - value) / value <= 0.005)
    }

    @Test("the method: BOS at each chunk start, positions ctx/2 … ctx−2 predict the next token", arguments: ["tiny-llama", "tiny-gpt2"])
    func method(_ name: String) throws {
        let graph = try Fixtures.graph("\(name)/hf")
        let tokenizer = try Tokenizer(graph: graph, source: name)
        let tokens = tokenizer.encode(try Fixtures.gpl3(), addSpecial: true)
        let ctx = 32
        let model = try Model(graph: graph, options: RuntimeOptions(contextLength: ctx, batchSize: 12))
        let bos = tokenizer.definition.addBOS ? tokenizer.bosID : nil
        let result = try Perplexity.measure(model: model, tokens: tokens, contextLength: ctx, bos: bos, maxChunks: 3)
        // The same quantity computed here from all logits of each chunk, in Double.
        var nll: [Double] = []
        for c in 0..<3 {
            var chunk = Array(tokens[(c * ctx)..<((c + 1) * ctx)])
            if let bos { chunk[0] = bos }
            let logits = try model.allOutputs(chunk).logits
            let vocab = model.vocabularySize
            for i in (ctx / 2)..<(ctx - 1) {
                let row = logits[(i * vocab)..<((i + 1) * vocab)].map(Double.init)
                let m = row.max()!
                let logSum = log(row.reduce(0) { $0 + exp($1 - m) }) + m
                nll.append(logSum - row[chunk[i + 1]])
            }
        }
        let mean = nll.reduce(0, +) / Double(nll.count)
        let variance = nll.reduce(0) { $0 + $1 * $1 } / Double(nll.count) - mean * mean
        #expect(result.chunks == 3)
        #expect(result.scoredTokens == 3 * (ctx / 2 - 1))
        #expect(abs(result.meanNLL - mean) <= 1e-5)
        #expect(abs(result.standardError - (variance / Double(nll.count - 1)).squareRoot() * exp(mean)) <= 1e-3 * result.standardError)
    }

    @Test("bad perplexity requests are clear errors")
    func errors() throws {
        let model = try Fixtures.model("tiny-gpt2/hf", options: RuntimeOptions(contextLength: 64))
        #expect(throws: SieveRuntimeError.textTooShort(tokens: 10, needed: 64)) {
            try Perplexity.measure(model: model, tokens: Array(0..<10), contextLength: 64, bos: nil)
        }
        #expect(throws: SieveRuntimeError.self) { try Perplexity.measure(model: model, tokens: Array(0..<300), contextLength: 128, bos: nil) }
        #expect(throws: SieveRuntimeError.self) { try Perplexity.measure(model: model, tokens: Array(0..<300), contextLength: 64, bos: nil, maxChunks: 0) }
    }
}

