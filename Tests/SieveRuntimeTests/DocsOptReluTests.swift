import Foundation
import SieveCore
import SieveRuntime
import SieveTokenizers
import Testing

/// The trained ReLU OPT model (f16 safetensors, context 256): logits, greedy text and the sparsity of its FFN
/// activations, against transformers' references in its folder.
@Suite("docs-opt-relu")
struct DocsOptReluTests {
    static let name = "docs-opt-relu"

    @Test("logits and hidden_last within atol 1e-4 of transformers (f16 weights, f32 compute)")
    func logits() throws {
        let refs = try Fixtures.references("\(Self.name)/ref.safetensors")
        let model = try Fixtures.model("\(Self.name)/hf")
        let out = try model.allOutputs(try Fixtures.inputIDs(refs))
        let dLogits = maxAbsDifference(out.logits, try Fixtures.floats(refs, "logits"))
        let dHidden = maxAbsDifference(out.hidden, try Fixtures.floats(refs, "hidden_last"))
        print("docs-opt-relu: max |Δlogit| \(dLogits), max |Δhidden_last| \(dHidden)")
        #expect(dLogits <= Tolerance.float32Logits)
        #expect(dHidden <= Tolerance.float32Activations)
    }

    @Test("greedy 32-token continuation equals transformers', as text too")
    func greedy() throws {
        let ref = try Fixtures.json("\(Self.name)/ref.json")
        let expected = try #require(ref["greedy_continuation"]?["ids"]?.arrayItems).compactMap(\.intValue)
        let text = try #require(ref["text"]?.stringValue)
        let session = try Session(graph: try Fixtures.graph("\(Self.name)/hf"))
        #expect(try session.tokens(for: .text(text)) == (try #require(ref["input_ids"]?.arrayItems)).compactMap(\.intValue))
        let result = try session.complete(prompt: .text(text), parameters: GenerationParameters(
            maxTokens: expected.count, sampling: .greedy, stopAtEndOfGeneration: false))
        #expect(result.tokens == expected)
        #expect(result.text == ref["greedy_continuation"]?["text"]?.stringValue)
    }

    @Test("FFN activations: the zero pattern of transformers', and ~95% exact zeros in the middle layers")
    func sparsity() throws {
        let refs = try Fixtures.references("\(Self.name)/ref.safetensors")
        let model = try Fixtures.model("\(Self.name)/hf")
        var zeros: [Int: (zero: Int, total: Int)] = [:]
        var activations: [Int: [Float]] = [:]
        model.activationObserver = { record in
            guard record.site == .feedForwardActivation else { return }
            activations[record.layer] = Array(record.values)
            zeros[record.layer] = (record.values.filter { $0 == 0 }.count, record.values.count)
        }
        _ = try model.allOutputs(try Fixtures.inputIDs(refs))
        var fractions: [Double] = []
        for layer in 0..<model.hyperparameters.layerCount {
            let expected = try Fixtures.floats(refs, "ffn_act.\(layer)")
            let ours = try #require(activations[layer])
            #expect(maxAbsDifference(ours, expected) <= Tolerance.float32Activations)
            // The same neurons are exactly zero, except where transformers' value is within rounding of zero.
            var flipped = 0
            for (a, b) in zip(ours, expected) where (a == 0) != (b == 0) && max(abs(a), abs(b)) > 1e-5 { flipped += 1 }
            #expect(flipped == 0, "layer \(layer): \(flipped) activations zero in one and clearly non-zero in the other")
            let z = try #require(zeros[layer])
            fractions.append(Double(z.zero) / Double(z.total))
        }
        print("docs-opt-relu exact-zero fraction per layer (30 reference tokens): \(fractions.map { String(format: "%.3f", $0) })")
        for layer in 1...4 { #expect(fractions[layer] >= 0.9, "layer \(layer)") }
    }

    @Test("exact-zero fractions on 16 chunks of dev.txt match the recorded ones",
          .enabled(if: Fixtures.devText != nil && Fixtures.modelScaleTests, "needs ../shared/data/dev.txt and a release build"))
    func devSparsity() throws {
        let ref = try Fixtures.json("\(Self.name)/ref.json")
        let expected = try #require(ref["dev"]?["exact_zero_fraction_per_layer"]?.arrayItems).compactMap(\.doubleValue)
        let graph = try Fixtures.graph("\(Self.name)/hf")
        let tokenizer = try Tokenizer(graph: graph, source: Self.name)
        let tokens = tokenizer.encode(try #require(Fixtures.devText), addSpecial: false)
        let model = try Model(graph: graph)
        var counts = [(zero: Int, total: Int)](repeating: (0, 0), count: model.hyperparameters.layerCount)
        model.activationObserver = { record in
            guard record.site == .feedForwardActivation else { return }
            counts[record.layer].zero += record.values.filter { $0 == 0 }.count
            counts[record.layer].total += record.values.count
        }
        for c in 0..<16 {
            var chunk = Array(tokens[(c * 256)..<((c + 1) * 256)])
            chunk[0] = 2
            model.reset()
            try model.evaluate(chunk, outputs: .none) { _, _ in }
        }
        let fractions = counts.map { Double($0.zero) / Double($0.total) }
        print("docs-opt-relu exact-zero fraction per layer (16 dev chunks): \(fractions.map { String(format: "%.4f", $0) })")
        for (f, e) in zip(fractions, expected) { #expect(abs(f - e) <= 0.002) }
    }

    @Test("perplexity of dev.txt at c256 equals the recorded dense_c256 (315 chunks)",
          .enabled(if: Fixtures.devText != nil && Fixtures.modelScaleTests, "needs ../shared/data/dev.txt and a release build"))
    func devPerplexity() throws {
        let ref = try Fixtures.json("\(Self.name)/ref.json")
        let expected = try #require(ref["dev"]?["dense_c256"])
        let graph = try Fixtures.graph("\(Self.name)/hf")
        let tokenizer = try Tokenizer(graph: graph, source: Self.name)
        let tokens = tokenizer.encode(try #require(Fixtures.devText), addSpecial: false)
        let model = try Model(graph: graph)
        let result = try Perplexity.measure(model: model, tokens: tokens, contextLength: 256, bos: 2)
        let value = try #require(expected["ppl"]?.doubleValue)
        print("docs-opt-relu dev c256: PPL \(result.value) ± \(result.standardError), \(result.chunks) chunks; reference \(value)")
        #expect(result.chunks == expected["chunks"]?.intValue)
        #expect(result.scoredTokens == expected["scored_tokens"]?.intValue)
        #expect(abs(result.value - value) / value <= Tolerance.perplexityRelative)
    }
}
