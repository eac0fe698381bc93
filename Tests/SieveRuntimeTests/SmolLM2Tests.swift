import Foundation
import GGUFFormat
import SieveCore
import SieveRuntime
import SieveTokenizers
import Testing

/// The real default model, SmolLM2-135M-Instruct Q4_1 (fetched by `make models`), against llama.cpp's and
/// transformers' numbers in `Tests/Fixtures/smollm2/reference.json`. Release builds only (model scale).
@Suite("SmolLM2-135M-Instruct Q4_1", .enabled(if: Fixtures.smollm2 != nil && Fixtures.modelScaleTests, "needs `make models` and a release build"))
struct SmolLM2Tests {
    static func reference() throws -> JSONValue {
        try JSONValue.parse(contentsOf: Fixtures.repoRoot.appendingPathComponent("Tests/Fixtures/smollm2/reference.json"))
    }

    /// The Q4_1 model; with `floatPrefill` its weights stay in the row layout, whose prefill decodes them to f32 and
    /// multiplies float activations (the 16-row layout's prefill multiplies 8-bit activations, as decode does).
    static func session(context: Int = 512, floatPrefill: Bool = false) throws -> Session {
        let graph = try GGUFPlugin().read(try #require(Fixtures.smollm2))
        return try Session(graph: graph, options: RuntimeOptions(contextLength: context, interleavedWeights: !floatPrefill))
    }

    /// Feeds `prompt` as llama.cpp generated it (the prompt in one batch, then one token at a time along its greedy
    /// path) and calls `score` with each step and that step's logits.
    static func alongLlamaPath(_ model: Model, prompt: JSONValue, _ score: (Int, UnsafeBufferPointer<Float>) -> Void) throws {
        let promptIDs = try #require(prompt["prompt_ids"]?.arrayItems).compactMap(\.intValue)
        let newIDs = try #require(prompt["new_ids"]?.arrayItems).compactMap(\.intValue)
        model.reset()
        try model.evaluate(promptIDs, outputs: .last) { _, output in score(0, output.logits) }
        for step in 1..<newIDs.count {
            try model.decode(newIDs[step - 1]) { score(step, $0) }
        }
    }

    /// log Σ exp(logits), in Double.
    static func logSumExp(_ logits: UnsafeBufferPointer<Float>) -> Double {
        let m = Double(logits.max()!)
        return log(logits.reduce(0) { $0 + exp(Double($1) - m) }) + m
    }

    /// Per prompt of `reference.json`: argmax agreement with llama.cpp and the medians over the steps of the mean
    /// and of the max |Δ log-prob| over llama.cpp's top 10, fed llama.cpp's greedy token path (teacher forcing).
    static func teacherForced(_ session: Session) throws -> [(name: String, agree: Int, steps: Int, meanMedian: Double, maxMedian: Double, max: Double)] {
        let prompts = try #require(try Self.reference()["generate"]?["prompts"]?.arrayItems)
        var results: [(name: String, agree: Int, steps: Int, meanMedian: Double, maxMedian: Double, max: Double)] = []
        for prompt in prompts {
            let name = prompt["name"]?.stringValue ?? "?"
            let promptIDs = try #require(prompt["prompt_ids"]?.arrayItems).compactMap(\.intValue)
            let newIDs = try #require(prompt["new_ids"]?.arrayItems).compactMap(\.intValue)
            let top10 = try #require(prompt["llama_top10_logprobs"]?.arrayItems)
            if let text = prompt["prompt_text"]?.stringValue {
                #expect(try session.tokens(for: .text(text)) == promptIDs, "\(name): tokenization")
            }
            var agree = 0
            var stepDiffs: [Double] = []
            var stepMeans: [Double] = []
            try Self.alongLlamaPath(session.model, prompt: prompt) { step, logits in
                if Sampler.argmax(logits) == newIDs[step] { agree += 1 }
                let logSum = Self.logSumExp(logits)
                var worst = 0.0
                var total = 0.0
                let pairs = top10[step].arrayItems ?? []
                for pair in pairs {
                    guard let items = pair.arrayItems, let id = items[0].intValue, let lp = items[1].doubleValue else { continue }
                    worst = max(worst, abs((Double(logits[id]) - logSum) - lp))
                    total += abs((Double(logits[id]) - logSum) - lp)
                }
                stepDiffs.append(worst)
                stepMeans.append(total / Double(max(pairs.count, 1)))
            }
            results.append((name, agree, newIDs.count, stepMeans.sorted()[stepMeans.count / 2], stepDiffs.sorted()[stepDiffs.count / 2],
                            stepDiffs.max() ?? 0))
        }
        return results
    }

    /// llama.cpp's log-probabilities come from its own rounding: 8-bit activations (f16 block scales, which Sieve
    /// reproduces), an f16 KV cache and f16 flash-attention accumulation. Measured medians over the steps of the
    /// mean |Δ log-prob| over llama.cpp's top 10 (capital / fibonacci / chat): transformers float32 0.080 /
    /// 0.118 / 0.097; Sieve's default path 0.081 / 0.116 / 0.100; with an f16 cache, 8-bit prefill, an emulation
    /// of ggml's f16 flash attention or a float LM head, anywhere in 0.067–0.121, no variant consistently closer.
    /// `eightBitNoiseFloor` shows why: the 8-bit pipeline is chaotic, so two 8-bit implementations that are not
    /// bit-identical end up about as far apart as each is from float32. llama.cpp itself shows it: built at the
    /// reference's commit (0c1e57098, vendored in the llama-cpp-python 0.3.36 sdist), it reproduces these numbers
    /// to 5e-6 with its default flash attention, but with `-fa off` (same weights, same 8-bit activations, a
    /// different attention kernel) it lands 0.066 / 0.111 / 0.086 away. Getting within 0.05 of llama.cpp would
    /// take ggml's exact float operation order everywhere. The bound checks that Sieve is as close to llama.cpp
    /// as an exact float32 implementation is.
    @Test("teacher-forced on llama.cpp's greedy path: argmax agrees at ≥ 30/32 steps, top-10 log-probs as close as transformers'")
    func teacherForcing() throws {
        for r in try Self.teacherForced(try Self.session()) {
            print("SmolLM2 \(r.name): argmax agrees at \(r.agree)/\(r.steps) steps; top-10 |Δ log-prob| per step: median of mean \(r.meanMedian), median of max \(r.maxMedian), max \(r.max)")
            #expect(r.agree >= 30, "\(r.name)")
            #expect(r.meanMedian <= 0.15, "\(r.name)")
        }
    }

    /// Log-probabilities of llama.cpp's top-10 ids at each step of its greedy path, teacher-forced, with a float
    /// prefill (row-layout weights; see `session`).
    static func topTenLogProbabilities(_ graph: ModelGraph, prompt: JSONValue) throws -> [[Double]] {
        let session = try Session(graph: graph, options: RuntimeOptions(contextLength: 512, interleavedWeights: false))
        let ids = try #require(prompt["llama_top10_logprobs"]?.arrayItems).map { ($0.arrayItems ?? []).compactMap { $0.arrayItems?[0].intValue } }
        var result: [[Double]] = []
        try Self.alongLlamaPath(session.model, prompt: prompt) { step, logits in
            let logSum = Self.logSumExp(logits)
            result.append(ids[step].map { Double(logits[$0]) - logSum })
        }
        return result
    }

    /// The noise floor of 8-bit activations, measured: the same model with one RMSNorm's epsilon changed by one part
    /// in 10⁴ (1e-9 absolute; it moves that norm's outputs by a few float ulps at most) gives top-10 log-probs that
    /// differ from the unchanged model's by a median of 0.048 / 0.101 / 0.083 nat over the decode steps
    /// (capital / fibonacci / chat; the float prefill, step 0, does not move). That is as far as llama.cpp is
    /// (0.081 / 0.116 / 0.100): a flipped 8-bit code changes the next layer's inputs, flips more codes, and
    /// after 30 layers the rounding noise of two runs is independent. So no 8-bit implementation that is not
    /// bit-identical to ggml's kernels can land within 0.05 of llama.cpp's log-probabilities at the median step.
    @Test("the 8-bit decode path's rounding noise: a few-ulp change moves top-10 log-probs as far as llama.cpp is")
    func eightBitNoiseFloor() throws {
        let graph = try GGUFPlugin().read(try #require(Fixtures.smollm2))
        var nudged = graph
        nudged.blocks[0].attentionNorm.epsilon *= 1.0001
        let prompts = try #require(try Self.reference()["generate"]?["prompts"]?.arrayItems)
        for prompt in prompts {
            let name = prompt["name"]?.stringValue ?? "?"
            let base = try Self.topTenLogProbabilities(graph, prompt: prompt)
            let moved = try Self.topTenLogProbabilities(nudged, prompt: prompt)
            let llama = try #require(prompt["llama_top10_logprobs"]?.arrayItems).map { ($0.arrayItems ?? []).compactMap { $0.arrayItems?[1].doubleValue } }
            func medianDistance(_ a: [[Double]], _ b: [[Double]], steps: Range<Int>) -> Double {
                let means = steps.map { s in zip(a[s], b[s]).map { abs($0 - $1) }.reduce(0, +) / Double(a[s].count) }
                return means.sorted()[means.count / 2]
            }
            let decodeSteps = 1..<base.count
            let noise = medianDistance(base, moved, steps: decodeSteps)
            let toLlama = medianDistance(base, llama, steps: decodeSteps)
            print("SmolLM2 \(name): decode steps' median top-10 |Δ log-prob|: nudged epsilon \(noise), llama.cpp \(toLlama)")
            // The prefill runs on float activations: the nudge is below its resolution.
            #expect(zip(base[0], moved[0]).allSatisfy { abs($0 - $1) < 1e-4 }, "\(name): step 0")
            // Measured 0.048–0.101: comparable to the distance to llama.cpp and to the 0.05 target itself.
            #expect(noise >= 0.03, "\(name): nudged run moved by \(noise) only")
            #expect(noise >= 0.4 * toLlama, "\(name): nudged \(noise) against llama.cpp \(toLlama)")
        }
    }

    @Test("the float path (dequantized weights, float activations) matches transformers float32: top-10 logits within 2e-3")
    func transformersLogits() throws {
        let session = try Self.session(floatPrefill: true)
        let reference = try #require(try Self.reference()["transformers_top10_logits"])
        let ids = try #require(reference["token_ids"]?.arrayItems).compactMap(\.intValue)
        let positions = try #require(reference["positions"]?.arrayItems)
        let model = session.model
        model.reset()
        var worst = 0.0
        var worstLogSum = 0.0
        // One batch of 13 tokens: the matrix-matrix path.
        try model.evaluate(ids, outputs: .all) { index, output in
            let position = positions[index]
            for pair in position["top10"]?.arrayItems ?? [] {
                guard let items = pair.arrayItems, let id = items[0].intValue, let logit = items[1].doubleValue else { continue }
                worst = max(worst, abs(Double(output.logits[id]) - logit))
            }
            let logSum = Self.logSumExp(output.logits)
            worstLogSum = max(worstLogSum, abs(logSum - (position["logsumexp"]?.doubleValue ?? .nan)))
        }
        print("SmolLM2 vs transformers f32: top-10 max |Δlogit| \(worst), max |Δlogsumexp| \(worstLogSum)")
        // The reference logits are printed with 4 decimals (±5e-5) on values of about 25.
        #expect(worst <= 2e-3)
        #expect(worstLogSum <= 2e-3)
    }

    @Test("dev.txt perplexity at c512, first 16 chunks, within 1% of llama.cpp's",
          .enabled(if: Fixtures.devText != nil, "needs ../shared/data/dev.txt"))
    func perplexity() throws {
        let session = try Self.session()
        let expected = try #require(try Self.reference()["perplexity"]?["llama_cpp"]?["dev_c512_chunks16"]?["ppl"]?.doubleValue)
        let tokens = session.tokenizer.encode(try #require(Fixtures.devText), addSpecial: true)
        let result = try Perplexity.measure(model: session.model, tokens: tokens, contextLength: 512, bos: nil, maxChunks: 16)
        print("SmolLM2 dev c512 ×16: PPL \(result.value) ± \(result.standardError); llama.cpp \(expected), transformers f32 8.8931")
        #expect(abs(result.value - expected) / expected <= 0.01)
    }

    @Test("greedy generation through the session streams text and stops at the limit")
    func generation() async throws {
        let session = try Self.session()
        var text = ""
        var last: GenerationResult?
        for try await piece in session.generate(prompt: .text("The capital of France is"),
                                                parameters: GenerationParameters(maxTokens: 8, sampling: .greedy)) {
            text += piece.text
            if let r = piece.result { last = r }
        }
        let result = try #require(last)
        #expect(result.tokens.count == 8)
        #expect(text == result.text)
        #expect(text.hasPrefix(" Paris"))
    }
}
