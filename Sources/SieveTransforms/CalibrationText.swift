import Foundation
import SieveCore
import SieveRuntime
import SieveTokenizers

/// The calibration text shipped with Sieve and the cutting of a token stream into calibration sequences.
public enum CalibrationText {
    /// The default calibration text (`Resources/calibration.txt`: ~320 KB of the Python 3.11 documentation, PSF
    /// License v2; see `Resources/README.md`).
    public static func defaultText() throws -> String {
        guard let url = Bundle.module.url(forResource: "calibration", withExtension: "txt", subdirectory: "Resources") else {
            throw SieveTransformsError.calibration(reason: "the bundled calibration text is missing from the SieveTransforms resources; reinstall Sieve or pass --calibration FILE")
        }
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// Cuts `tokens` into sequences of at most `context` tokens, each starting with `bos` when given (then
    /// `context − 1` text tokens per sequence), until the sequences hold `maxTokens` tokens past their first position
    /// — the tokens a `CalibrationRecorder` with its default `skipLeadingPositions` of 1 records — or the text ends.
    /// A final sequence shorter than 2 tokens is dropped.
    public static func sequences(tokens: [Int], context: Int, maxTokens: Int, bos: Int?) -> [[Int]] {
        precondition(context >= 2, "a calibration context needs at least 2 tokens")
        let perSequence = bos == nil ? context : context - 1
        var out: [[Int]] = []
        var start = 0
        var total = 0
        while start < tokens.count && total < maxTokens {
            let take = min(perSequence, tokens.count - start, maxTokens - total + (bos == nil ? 1 : 0))
            var seq = bos.map { [$0] } ?? []
            seq.append(contentsOf: tokens[start..<(start + take)])
            if seq.count < 2 { break }
            out.append(seq)
            total += seq.count - 1
            start += take
        }
        return out
    }

    /// Calibration sequences as `sequences(text:graph:context:maxTokens:)` cuts them, and a perplexity probe from
    /// the end of `text` that none of them holds: about `probeTokens` tokens in chunks of at most
    /// `PerplexityProbe.maxContext` (nil when the text leaves fewer than two chunks after the calibration tokens).
    public static func split(text: String, graph: ModelGraph, context: Int, maxTokens: Int,
                             probeTokens: Int = PerplexityProbe.defaultTokens) throws -> (sequences: [[Int]], probe: PerplexityProbe?) {
        let tokenizer = try Tokenizer(graph: graph, source: "model")
        let modelContext = graph.hyperparameters.contextLength
        let calibrationContext = min(context, modelContext)
        let bos = tokenizer.bosID
        let probeContext = min(PerplexityProbe.maxContext, modelContext)
        let probeCount = max(2, probeTokens / probeContext) * probeContext
        // Bytes to tokenize: 8 per token is about twice what BPE tokenizers use on prose.
        let prefixBytes = maxTokens * 8
        if text.utf8.count > prefixBytes + 4 * PerplexityProbe.charactersPerToken * probeCount {
            // A long text: its beginning and its end are tokenized apart and cannot overlap.
            let prefix = String(decoding: Array(text.utf8.prefix(prefixBytes)), as: UTF8.self)
            let sequences = Self.sequences(tokens: tokenizer.encode(prefix, addSpecial: false), context: calibrationContext,
                                           maxTokens: maxTokens, bos: bos)
            return (sequences, PerplexityProbe(endOf: text, context: probeContext, maxTokens: probeCount, tokenizer: tokenizer))
        }
        let tokens = tokenizer.encode(text, addSpecial: false)
        let sequences = Self.sequences(tokens: tokens, context: calibrationContext, maxTokens: maxTokens, bos: bos)
        let used = sequences.reduce(0) { $0 + $1.count - (bos == nil ? 0 : 1) }
        let rest = tokens[min(used, tokens.count)...]
        return (sequences, PerplexityProbe(endOf: rest, context: probeContext, maxTokens: probeCount, tokenizer: tokenizer))
    }

    /// Tokenizes `text` with `graph`'s tokenizer (no special tokens) and cuts it into sequences of `context`
    /// tokens, each starting with the model's BOS token when it has one (llama.cpp's perplexity convention), holding
    /// `maxTokens` recordable tokens at most.
    public static func sequences(text: String, graph: ModelGraph, context: Int, maxTokens: Int) throws -> [[Int]] {
        let tokenizer = try Tokenizer(graph: graph, source: "model")
        // Tokenize only a prefix: 8 bytes per token is about twice what BPE tokenizers use on prose.
        let needed = maxTokens * 8
        let prefix = text.utf8.count > needed ? String(decoding: Array(text.utf8.prefix(needed)), as: UTF8.self) : text
        let tokens = tokenizer.encode(prefix, addSpecial: false)
        return sequences(tokens: tokens, context: min(context, graph.hyperparameters.contextLength), maxTokens: maxTokens,
                         bos: tokenizer.bosID)
    }
}

