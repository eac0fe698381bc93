import Foundation
import SieveCore
import SieveTokenizers

/// What to generate from.
public enum Prompt: Sendable, Equatable {
    /// Plain text, tokenized with the model's special tokens (BOS when the tokenizer adds one) and with the
    /// text of control tokens parsed as those tokens, as llama.cpp's tools do.
    case text(String)
    /// Chat messages, rendered with the model's chat template and a generation prompt.
    case chat([ChatMessage])
    /// Token ids, used as they are.
    case tokens([Int])
}

/// How much to generate and when to stop.
public struct GenerationParameters: Sendable, Equatable {
    /// Most tokens to generate (at least 1).
    public var maxTokens: Int
    /// How each token is chosen.
    public var sampling: SamplingParameters
    /// Stop (without emitting it) when the text contains one of these.
    public var stopStrings: [String]
    /// Stop at the tokenizer's end-of-generation tokens (EOS, EOT).
    public var stopAtEndOfGeneration: Bool

    /// Parameters with the given values; by default up to 128 tokens, stopping at end-of-generation tokens.
    public init(maxTokens: Int = 128, sampling: SamplingParameters = SamplingParameters(), stopStrings: [String] = [],
                stopAtEndOfGeneration: Bool = true) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stopStrings = stopStrings
        self.stopAtEndOfGeneration = stopAtEndOfGeneration
    }

    /// Checks every value's range.
    public func validate() throws {
        guard maxTokens >= 1 else {
            throw SieveRuntimeError.invalidOption(name: "token count", value: "\(maxTokens)", reason: "must be at least 1 (-n 1 or more)")
        }
        if stopStrings.contains(where: \.isEmpty) {
            throw SieveRuntimeError.invalidOption(name: "stop string", value: "\"\"", reason: "must not be empty")
        }
        try sampling.validate()
    }
}

/// Why generation ended.
public enum StopReason: String, Sendable, Codable {
    /// An end-of-generation token was sampled.
    case endOfGeneration = "eog"
    /// A stop string appeared in the text.
    case stopString = "stop"
    /// `maxTokens` tokens were generated.
    case maxTokens = "limit"
}

/// The outcome of a generation, with its timings.
public struct GenerationResult: Sendable, Equatable {
    /// The prompt's token ids.
    public var promptTokens: [Int]
    /// Generated token ids (an end-of-generation token that stopped generation is included).
    public var tokens: [Int]
    /// Generated text (up to a stop string, which is left out).
    public var text: String
    /// Why generation ended.
    public var stopReason: StopReason
    /// Prompt tokens actually evaluated (fewer than the prompt when a cached prefix was reused).
    public var evaluatedPromptTokens: Int
    /// Seconds spent evaluating the prompt (up to the first token's logits).
    public var promptSeconds: Double
    /// Seconds spent generating after the prompt.
    public var decodeSeconds: Double

    /// Prompt evaluation speed.
    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(evaluatedPromptTokens) / promptSeconds : 0 }
    /// Generation speed: tokens after the first (each needs one decode step) per second.
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(max(tokens.count - 1, 0)) / decodeSeconds : 0 }
}

/// A piece of generated output: the token just chosen and the text it completed (possibly empty, when the token
/// holds part of a UTF-8 character or of a possible stop string). The last piece carries the result.
public struct GeneratedPiece: Sendable {
    /// The token chosen, or nil for the final piece that flushes held-back text.
    public var token: Int?
    /// Text now complete.
    public var text: String
    /// Set on the last piece.
    public var result: GenerationResult?
}

/// A model with its tokenizer: generates text from prompts. The KV cache persists between generations, so a
/// prompt that starts with the previous conversation reuses its cached prefix.
///
/// One generation runs at a time (calls are serialised); the async API runs the synchronous core on a
/// background thread.
public final class Session: @unchecked Sendable {
    /// The compiled model.
    public let model: Model
    /// The model's tokenizer.
    public let tokenizer: Tokenizer
    private let lock = NSLock()
    /// Tokens whose keys and values are in the cache, in order.
    private var cachedTokens: [Int] = []

    /// A session over a compiled model and its tokenizer.
    public init(model: Model, tokenizer: Tokenizer) {
        self.model = model
        self.tokenizer = tokenizer
    }

    /// Compiles `graph` and builds the tokenizer it describes.
    public convenience init(graph: ModelGraph, options: RuntimeOptions = RuntimeOptions()) throws {
        guard graph.tokenizer != nil else { throw SieveRuntimeError.missingTokenizer }
        let tokenizer = try Tokenizer(graph: graph, source: "model")
        self.init(model: try Model(graph: graph, options: options), tokenizer: tokenizer)
    }

    /// The token ids of a prompt.
    public func tokens(for prompt: Prompt) throws -> [Int] {
        switch prompt {
        case let .text(text):
            return tokenizer.encode(text, addSpecial: true, parseSpecial: true)
        case let .chat(messages):
            let rendered = try tokenizer.applyChatTemplate(messages, addGenerationPrompt: true)
            return tokenizer.encode(rendered, addSpecial: false, parseSpecial: true)
        case let .tokens(ids):
            return ids
        }
    }

    /// Forgets the cached conversation.
    public func reset() {
        lock.lock(); defer { lock.unlock() }
        model.reset()
        cachedTokens.removeAll()
    }

    /// Generates from `prompt`, calling `onPiece` for every token (return false to stop early). The synchronous
    /// core of `generate(prompt:parameters:)`, used by the CLI.
    @discardableResult
    public func complete(prompt: Prompt, parameters: GenerationParameters = GenerationParameters(),
                         onPiece: (GeneratedPiece) throws -> Bool = { _ in true }) throws -> GenerationResult {
        try parameters.validate()
        let promptTokens = try tokens(for: prompt)
        guard !promptTokens.isEmpty else {
            throw SieveRuntimeError.invalidOption(name: "prompt", value: "\"\"", reason: "it has no tokens; give some text")
        }
        guard model.hasLanguageModelHead else {
            throw SieveRuntimeError.wrongModelKind(operation: "generation", architecture: model.architecture.rawValue)
        }
        guard promptTokens.count + parameters.maxTokens <= model.contextLength else {
            throw SieveRuntimeError.contextOverflow(promptTokens: promptTokens.count, generateTokens: parameters.maxTokens,
                                                    context: model.contextLength,
                                                    trainedContext: model.hyperparameters.contextLength)
        }
        lock.lock(); defer { lock.unlock() }

        let sampler = try Sampler(parameters: parameters.sampling, vocabularySize: model.vocabularySize)
        for t in promptTokens.suffix(parameters.sampling.repetitionWindow) { sampler.accept(t) }

        // Reuse the cached prefix; at least the last prompt token is evaluated to get its logits.
        var reuse = 0
        while reuse < min(cachedTokens.count, promptTokens.count - 1) && cachedTokens[reuse] == promptTokens[reuse] { reuse += 1 }
        model.truncate(to: reuse)
        cachedTokens.removeSubrange(reuse...)

        let promptStart = DispatchTime.now().uptimeNanoseconds
        var next = 0
        do {
            try model.evaluate(promptTokens[reuse...], outputs: .last) { _, output in next = sampler.sample(output.logits) }
        } catch {
            model.truncate(to: reuse)
            throw error
        }
        cachedTokens.append(contentsOf: promptTokens[reuse...])
        let decodeStart = DispatchTime.now().uptimeNanoseconds

        var detokenizer = tokenizer.makeStreamingDetokenizer(sequenceStart: false)
        var stops = StopStringMatcher(parameters.stopStrings)
        var generated: [Int] = []
        var text = ""
        var reason = StopReason.maxTokens
        var stoppedByCaller = false
        while true {
            let token = next
            generated.append(token)
            sampler.accept(token)
            if parameters.stopAtEndOfGeneration && tokenizer.isEndOfGeneration(token) {
                reason = .endOfGeneration
                break
            }
            let (ready, hitStop) = stops.feed(detokenizer.append(token))
            text += ready
            if hitStop { reason = .stopString }
            if !(try onPiece(GeneratedPiece(token: token, text: ready, result: nil))) { stoppedByCaller = true }
            if hitStop || stoppedByCaller || generated.count == parameters.maxTokens { break }
            next = try model.decode(token) { sampler.sample($0) }
            cachedTokens.append(token)
        }
        let end = DispatchTime.now().uptimeNanoseconds
        let tail = reason == .stopString ? "" : stops.flush(detokenizer.finish())
        text += tail
        let result = GenerationResult(
            promptTokens: promptTokens, tokens: generated, text: text, stopReason: reason,
            evaluatedPromptTokens: promptTokens.count - reuse,
            promptSeconds: Double(decodeStart - promptStart) / 1e9, decodeSeconds: Double(end - decodeStart) / 1e9)
        _ = try onPiece(GeneratedPiece(token: nil, text: tail, result: result))
        return result
    }

    /// Generates from `prompt` as an asynchronous stream of pieces (library API). Cancelling the consuming task
    /// stops generation at the next token. With `lock`, the generating thread holds it from start to end (a caller
    /// that serializes its own operations on the session).
    public func generate(prompt: Prompt, parameters: GenerationParameters = GenerationParameters(),
                         holding lock: NSLock? = nil) -> AsyncThrowingStream<GeneratedPiece, Error> {
        AsyncThrowingStream { continuation in
            let cancelled = CancellationFlag()
            continuation.onTermination = { _ in cancelled.set() }
            let thread = Thread { [self] in
                lock?.lock()
                defer { lock?.unlock() }
                do {
                    try complete(prompt: prompt, parameters: parameters) { piece in
                        continuation.yield(piece)
                        return !cancelled.isSet
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }
}

/// A flag set from one thread and read from another.
private final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

/// Finds stop strings in streamed text, holding back any tail that could be the start of one.
struct StopStringMatcher {
    private let stops: [[UInt8]]
    private var held: [UInt8] = []

    init(_ stops: [String]) { self.stops = stops.map { Array($0.utf8) } }

    /// Adds text; returns the text that can be emitted and whether a stop string was found (the text before it is
    /// emitted, the rest dropped).
    mutating func feed(_ text: String) -> (String, Bool) {
        if stops.isEmpty { return (text, false) }
        held.append(contentsOf: text.utf8)
        var earliest: Int?
        for stop in stops {
            if let at = Self.find(stop, in: held), earliest.map({ at < $0 }) ?? true { earliest = at }
        }
        if let at = earliest {
            let out = String(decoding: held[..<at], as: UTF8.self)
            held.removeAll()
            return (out, true)
        }
        // Keep the longest tail that is a proper prefix of some stop string.
        var keep = 0
        for stop in stops {
            for length in stride(from: min(stop.count - 1, held.count), to: keep, by: -1)
            where held[(held.count - length)...].elementsEqual(stop[..<length]) {
                keep = length
                break
            }
        }
        let out = String(decoding: held[..<(held.count - keep)], as: UTF8.self)
        held.removeFirst(held.count - keep)
        return (out, false)
    }

    /// Returns everything held back plus `text` (generation ended), up to a stop string if one completes.
    mutating func flush(_ text: String) -> String {
        let (out, hitStop) = feed(text)
        defer { held.removeAll() }
        return hitStop ? out : out + String(decoding: held, as: UTF8.self)
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }
}
