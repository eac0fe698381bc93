import ArgumentParser
import Foundation
import SieveCore
import SieveRuntime
import SieveTokenizers

/// `sieve run MODEL -p PROMPT`: generates text, streaming it to stdout.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a prompt, streamed to stdout; speeds are printed to stderr at the end.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .shortAndLong, help: "The prompt (with --chat: the user message).")
    var prompt: String?

    @Option(name: [.customShort("f"), .customLong("file")], help: "Read the prompt from this UTF-8 text file instead of -p.")
    var promptFile: String?

    @Option(name: .customShort("n"), help: "Most tokens to generate.")
    var tokens: Int = 128

    @Option(help: "Temperature; 0 is greedy.")
    var temp: Float = 0.8

    @Option(help: "Top-k (0: off).")
    var topK: Int = 40

    @Option(help: "Top-p in (0, 1] (1: off).")
    var topP: Float = 0.95

    @Option(help: "Min-p in [0, 1] (0: off).")
    var minP: Float = 0.05

    @Option(help: "Repetition penalty (1: off).")
    var repeatPenalty: Float = 1.0

    @Option(help: "Random seed (default: random).")
    var seed: UInt64?

    @Option(help: "Stop when the output contains this text (repeatable).")
    var stop: [String] = []

    @Option(help: "System message for --chat.")
    var system: String?

    @Flag(help: "Render the prompt with the model's chat template as a user message.")
    var chat = false

    @Option(help: "A Jinja chat template file to render the prompt with instead of the model's own (implies --chat).")
    var chatTemplate: String?

    @Flag(help: "Keep generating past end-of-generation tokens.")
    var ignoreEOS = false

    @Flag(help: "Print one JSON object {tokens, text, prompt_tokens_per_s, decode_tokens_per_s} instead of streaming.")
    var json = false

    func validate() throws {
        if (prompt == nil) == (promptFile == nil) { throw ValidationError("give the prompt with -p TEXT or -f FILE (one of them)") }
        if system != nil && !chat && chatTemplate == nil { throw ValidationError("--system is the system message of --chat: add --chat") }
        if tokens < 1 { throw ValidationError("-n must be at least 1") }
        if !(temp >= 0) { throw ValidationError("--temp must be 0 (greedy) or positive") }
        if !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
        if !(minP >= 0 && minP <= 1) { throw ValidationError("--min-p must be in [0, 1]") }
        if topK < 0 { throw ValidationError("--top-k must be 0 (off) or positive") }
        if !(repeatPenalty > 0) { throw ValidationError("--repeat-penalty must be positive") }
    }

    func run() throws {
        // The text files first: a bad path fails before the model loads.
        let prompt = try prompt ?? readTextFile(promptFile!, option: "-f")
        let template = try chatTemplate.map { try readTextFile($0, option: "--chat-template") }
        var graph = try modelOptions.loadGraph()
        if let template {
            guard graph.tokenizer != nil else {
                throw CLIError(message: "\(modelOptions.model) has no tokenizer, so --chat-template cannot render a prompt; use a model with one")
            }
            graph.tokenizer?.chatTemplate = template
        }
        let session = try modelOptions.loadSession(graph: graph)
        let sampling = SamplingParameters(temperature: temp, topK: topK, topP: topP, minP: minP,
                                          repetitionPenalty: repeatPenalty, seed: seed)
        let parameters = GenerationParameters(maxTokens: tokens, sampling: sampling, stopStrings: stop,
                                              stopAtEndOfGeneration: !ignoreEOS)
        var messages: [ChatMessage] = []
        if let system { messages.append(ChatMessage(role: "system", content: system)) }
        messages.append(ChatMessage(role: "user", content: prompt))
        let input: Prompt = chat || chatTemplate != nil ? .chat(messages) : .text(prompt)

        let interrupted = InterruptFlag()
        let out = FileHandle.standardOutput
        let result = try reportingErrors {
            try session.complete(prompt: input, parameters: parameters) { piece in
                if !json, !piece.text.isEmpty { out.write(piece.text.data(using: .utf8)!) }
                return !interrupted.isSet
            }
        }
        if json {
            let object: JSONValue = .object([
                ("tokens", .array(result.tokens.map { .int(Int64($0)) })),
                ("text", .string(result.text)),
                ("prompt_tokens", .int(Int64(result.promptTokens.count))),
                ("stop_reason", .string(result.stopReason.rawValue)),
                ("prompt_tokens_per_s", .double(result.promptTokensPerSecond)),
                ("decode_tokens_per_s", .double(result.decodeTokensPerSecond)),
            ])
            print(object.serialized(pretty: false))
        } else {
            // Through the same unbuffered handle as the text, so the line ends before the speeds reach stderr.
            out.write(Data("\n".utf8))
        }
        printError(String(format: "prompt: %d tokens, %.1f tokens/s | decode: %d tokens, %.1f tokens/s | stop: %@%@",
                          result.evaluatedPromptTokens, result.promptTokensPerSecond, result.tokens.count,
                          result.decodeTokensPerSecond, result.stopReason.rawValue, interrupted.isSet ? " (interrupted)" : ""))
        let model = session.model
        if model.isSparse {
            printError(String(format: "sparsity: %@ selection, mean FFN density %.3f, mean head density %.3f (decode sparse, prefill %@)",
                              model.options.sparsity.rawValue, model.meanFFNDensity, model.meanHeadDensity,
                              model.options.sparsePrefill ? "sparse" : "dense"))
        }
        if interrupted.isSet { throw ExitCode(130) }
    }
}

/// Set by the first SIGINT while generating, so `run` stops after the current token, prints what it generated
/// and its timings, and exits with status 130. A second SIGINT (or SIGTERM) ends the process at once.
final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false

    init() {
        TemporaryFileRegistry.shared.setInterruptHandler { [weak self] sig in
            guard sig == SIGINT, let self else { return false }
            self.lock.lock(); defer { self.lock.unlock() }
            if self.set { return false }
            self.set = true
            return true
        }
    }

    deinit { TemporaryFileRegistry.shared.setInterruptHandler(nil) }

    var isSet: Bool {
        lock.lock(); defer { lock.unlock() }
        return set
    }
}
