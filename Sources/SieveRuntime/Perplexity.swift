import Foundation
import SieveKernels
import SieveTokenizers

/// A perplexity measurement: `value` ± `standardError`, the way llama-perplexity reports it.
public struct PerplexityResult: Sendable, Equatable, Codable {
    /// exp(mean negative log-likelihood of the scored tokens).
    public var value: Double
    /// Standard error of the mean NLL times the perplexity (llama.cpp's "±").
    public var standardError: Double
    /// Chunks evaluated.
    public var chunks: Int
    /// Tokens per chunk.
    public var contextLength: Int
    /// Tokens scored in total.
    public var scoredTokens: Int
    /// Mean negative log-likelihood (nats per token).
    public var meanNLL: Double
}

/// llama-perplexity's method: the token stream is cut into chunks of `contextLength` tokens; each chunk is
/// evaluated from an empty cache, its first token replaced by BOS when the model's tokenizer adds one; the
/// positions `contextLength/2 … contextLength−2` each predict the next token, and the mean negative
/// log-likelihood of those predictions over all chunks gives the perplexity.
public enum Perplexity {
    /// llama-perplexity's chunk length, the default where the model was trained for at least that many positions.
    public static let defaultChunkLength = 512

    /// The chunk length used when none is given: `defaultChunkLength`, or `contextLength` if shorter.
    public static func defaultChunkLength(contextLength: Int) -> Int { min(defaultChunkLength, contextLength) }

    /// Measures the perplexity of `tokens` (already tokenized as the caller wants, e.g. with a leading BOS).
    ///
    /// - Parameters:
    ///   - contextLength: tokens per chunk (at least 4, at most the model's KV cache).
    ///   - bos: the token put at the start of every chunk, or nil to leave the chunks as they are.
    ///   - maxChunks: evaluate at most this many chunks (nil: all).
    ///   - progress: called after each chunk with (chunks done, chunk count, running perplexity).
    ///   - scored: called with each scored token's negative log-likelihood, in order (for paired comparisons).
    public static func measure(model: Model, tokens: [Int], contextLength: Int, bos: Int?, maxChunks: Int? = nil,
                               progress: ((Int, Int, Double) -> Void)? = nil,
                               scored: ((Double) -> Void)? = nil) throws -> PerplexityResult {
        guard model.hasLanguageModelHead else {
            throw SieveRuntimeError.wrongModelKind(operation: "perplexity", architecture: model.architecture.rawValue)
        }
        guard contextLength >= 4 else {
            throw SieveRuntimeError.invalidOption(name: "perplexity context", value: "\(contextLength)", reason: "must be at least 4")
        }
        guard contextLength <= model.contextLength else {
            throw SieveRuntimeError.invalidOption(name: "perplexity context", value: "\(contextLength)", reason: "the KV cache holds \(model.contextLength) positions; load the model with --ctx \(contextLength) or more")
        }
        if let maxChunks, maxChunks < 1 {
            throw SieveRuntimeError.invalidOption(name: "chunk count", value: "\(maxChunks)", reason: "must be positive")
        }
        var chunkCount = tokens.count / contextLength
        guard chunkCount > 0 else { throw SieveRuntimeError.textTooShort(tokens: tokens.count, needed: contextLength) }
        if let maxChunks { chunkCount = min(chunkCount, maxChunks) }

        let first = contextLength / 2
        var sum = 0.0
        var sumSquares = 0.0
        var count = 0
        var chunk = [Int](repeating: 0, count: contextLength)
        var probabilities = [Float](repeating: 0, count: model.vocabularySize)
        for c in 0..<chunkCount {
            let start = c * contextLength
            for i in 0..<contextLength { chunk[i] = tokens[start + i] }
            if let bos { chunk[0] = bos }
            model.reset()
            // Rows first ..< contextLength-1 predict tokens first+1 ..< contextLength.
            try model.evaluate(chunk, outputs: .range(first..<(contextLength - 1))) { row, output in
                let nll = probabilities.withUnsafeMutableBufferPointer {
                    negativeLogLikelihood(output.logits, of: chunk[row + 1], scratch: $0)
                }
                scored?(nll)
                sum += nll
                sumSquares += nll * nll
                count += 1
            }
            progress?(c + 1, chunkCount, exp(sum / Double(count)))
        }
        let mean = sum / Double(count)
        let ppl = exp(mean)
        let variance = sumSquares / Double(count) - mean * mean
        let stderr = variance > 0 && count > 1 ? (variance / Double(count - 1)).squareRoot() * ppl : 0
        return PerplexityResult(value: ppl, standardError: stderr, chunks: chunkCount, contextLength: contextLength,
                                scoredTokens: count, meanNLL: mean)
    }

    /// −log softmax(logits)[target]. With m the largest logit and Σ = Σⱼ exp(logitⱼ − m), this is
    /// `m − logit[target] + log Σ`; the softmax of the row gives Σ as 1 / (probability of the largest logit), which
    /// stays exact even when the target's probability underflows.
    static func negativeLogLikelihood(_ logits: UnsafeBufferPointer<Float>, of target: Int, scratch: UnsafeMutableBufferPointer<Float>) -> Double {
        let n = logits.count
        guard let source = logits.baseAddress, let work = scratch.baseAddress, n > 0, scratch.count >= n else { return .nan }
        let best = Activations.argmax(source, count: n)
        work.update(from: source, count: n)
        Activations.softmax(work, count: n)
        return Double(logits[best] - logits[target]) - log(Double(work[best]))
    }
}

/// Held-out text to measure perplexity on: `tokens` scored in chunks of `context`, each chunk after `bos` when given.
public struct PerplexityProbe: Sendable, Equatable {
    /// The probe's text tokens.
    public var tokens: [Int]
    /// Tokens per chunk.
    public var context: Int
    /// The token each chunk starts with, if the model adds one.
    public var bos: Int?

    /// A probe of `tokens` in chunks of `context` after `bos`.
    public init(tokens: [Int], context: Int, bos: Int?) {
        self.tokens = tokens
        self.context = context
        self.bos = bos
    }

    /// The last whole chunks of `tokens`, at most `maxTokens` of them in chunks of `context`, each after the BOS
    /// `tokenizer` adds; nil when fewer than two chunks are there.
    public init?(endOf tokens: ArraySlice<Int>, context: Int, maxTokens: Int, tokenizer: Tokenizer) {
        let chunks = min(maxTokens, tokens.count) / context
        guard context > 0, chunks >= 2 else { return nil }
        self.init(tokens: Array(tokens.suffix(chunks * context)), context: context,
                  bos: tokenizer.definition.addBOS ? tokenizer.bosID : nil)
    }

    /// The same from the end of `text`, of which only the last `charactersPerToken × maxTokens` characters are
    /// tokenized (without special tokens).
    public init?(endOf text: String, context: Int, maxTokens: Int, tokenizer: Tokenizer) {
        let tail = String(text.suffix(Self.charactersPerToken * maxTokens))
        self.init(endOf: ArraySlice(tokenizer.encode(tail, addSpecial: false)), context: context, maxTokens: maxTokens, tokenizer: tokenizer)
    }

    /// Tokens a pack's probe holds: 4096, half of them scored (on docs-opt-relu two standard errors of the paired
    /// increase are about 1.3 points with 1016 scored tokens).
    public static let defaultTokens = 4096
    /// Longest chunk: head sparsity costs more at long contexts, so a short-context probe underestimates it.
    public static let maxContext = 512
    /// Characters of text tokenized per probe token: about twice what BPE tokenizers use on prose.
    public static let charactersPerToken = 8
}
