import ArgumentParser
import Foundation
import SieveCore
import SieveRuntime

/// `sieve perplexity MODEL -f FILE`: llama-perplexity's measurement.
struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Measure perplexity on a text file the way llama-perplexity does (second half of each chunk scored).",
        discussion: "Chunks are --ctx tokens long (default: \(Perplexity.defaultChunkLength), or the model's trained context if shorter).")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .shortAndLong, help: "The text file.")
    var file: String

    @Option(help: "Evaluate at most this many chunks.")
    var chunks: Int?

    @Flag(help: "Print {\"ppl\", \"stderr\", \"chunks\", \"ctx\"} as JSON.")
    var json = false

    func validate() throws {
        if let chunks, chunks < 1 { throw ValidationError("--chunks must be at least 1") }
    }

    func run() throws {
        var options = modelOptions
        let graph = try options.loadGraph()
        let chunkLength = options.contextLength ?? Perplexity.defaultChunkLength(contextLength: graph.hyperparameters.contextLength)
        options.contextLength = chunkLength
        // Chunks are evaluated in batches: a sparse bundle must select units per token in them too.
        options.sparsity.sparsePrefill = true
        let session = try options.loadSession(graph: graph)
        let text = try readTextFile(file, option: "-f")
        let tokenizer = session.tokenizer
        let tokens = tokenizer.encode(text, addSpecial: true, parseSpecial: false)
        let bos = tokenizer.definition.addBOS ? tokenizer.bosID : nil
        let start = Date()
        let result = try reportingErrors {
            try Perplexity.measure(model: session.model, tokens: tokens, contextLength: chunkLength, bos: bos,
                                   maxChunks: chunks) { done, total, running in
                if !json { printError(String(format: "[%d/%d] running PPL %.4f", done, total, running)) }
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let model = session.model
        if model.isSparse {
            printError(String(format: "sparsity: %@ selection, mean FFN density %.3f, mean head density %.3f",
                              model.options.sparsity.rawValue, model.meanFFNDensity, model.meanHeadDensity))
        }
        if json {
            print(JSONValue.object([("ppl", .double(result.value)), ("stderr", .double(result.standardError)),
                                    ("chunks", .int(Int64(result.chunks))), ("ctx", .int(Int64(result.contextLength))),
                                    ("tokens", .int(Int64(tokens.count))), ("seconds", .double(seconds))]).serialized())
        } else {
            print(String(format: "PPL = %.4f +/- %.5f (%d chunks of %d tokens, %d tokens scored, %.1f s)",
                         result.value, result.standardError, result.chunks, result.contextLength, result.scoredTokens, seconds))
        }
    }
}
