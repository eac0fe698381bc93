import Foundation
import SieveCore
import SieveRuntime
import SieveTokenizers

/// A causal language model loaded from a file (`.gguf`, `.sieve` bundle, `.safetensors` or a Hugging Face folder)
/// with its tokenizer: generates text and measures perplexity.
///
/// ```swift
/// let model = try await LanguageModel.load(contentsOf: url, options: .init(threads: 4, ffnDensity: 0.3))
/// for try await piece in model.generate("Once upon a time", .init(maxTokens: 32)) {
///     print(piece.text, terminator: "")
/// }
/// ```
///
/// The KV cache persists between generations, so a prompt that extends the previous one reuses its cached prefix.
/// Operations run one at a time (later calls wait), each on a background thread.
public final class LanguageModel: @unchecked Sendable {
    /// The file the model was loaded from.
    public let url: URL
    /// The runtime session (compiled model, tokenizer and KV cache) behind this model.
    public let session: Session
    /// Serialises generation and perplexity, which share the KV cache.
    private let operationLock = NSLock()

    /// The compiled model.
    public var model: Model { session.model }
    /// The model's tokenizer.
    public var tokenizer: Tokenizer { session.tokenizer }
    /// The architecture the file declares (`llama`, `qwen2`, …).
    public var architecture: String { session.model.architecture.rawValue }
    /// Positions the KV cache holds (prompt plus generated tokens).
    public var contextLength: Int { session.model.contextLength }

    /// Wraps a session made with the lower-level API (`Session(graph:options:)`); `url` names its source.
    public init(session: Session, url: URL) {
        self.session = session
        self.url = url
    }

    /// Reads the model at `url` with the built-in formats and compiles it with `options` (threads, context length,
    /// and for `.sieve` bundles the sparsity mode and FFN and head densities), on a background thread.
    ///
    /// Throws `SieveError.fileNotFound`, `.missingTokenizer` or `.notALanguageModel`, or the format's or runtime's
    /// own error when the file is malformed or an option is out of range.
    public static func load(contentsOf url: URL, options: RuntimeOptions = RuntimeOptions()) async throws -> LanguageModel {
        try await runOnWorkerThread { try LanguageModel(loading: url, options: options) }
    }

    /// The synchronous core of `load(contentsOf:options:)`.
    private convenience init(loading url: URL, options: RuntimeOptions) throws {
        let graph = try BuiltInFormats.read(url)
        guard graph.tokenizer != nil else { throw SieveError.missingTokenizer(path: url.path) }
        let session = try Session(graph: graph, options: options)
        guard session.model.hasLanguageModelHead else {
            throw SieveError.notALanguageModel(path: url.path, architecture: session.model.architecture.rawValue)
        }
        self.init(session: session, url: url)
    }

    /// Generates a continuation of `prompt` (plain text, tokenized with the model's special tokens) as a stream of
    /// pieces; the last piece carries the `GenerationResult`. Cancelling the consuming task stops generation at
    /// the next token.
    public func generate(_ prompt: String, _ parameters: GenerationParameters = GenerationParameters())
        -> AsyncThrowingStream<GeneratedPiece, Error> {
        generate(.text(prompt), parameters)
    }

    /// Generates from a prompt given as text, chat messages (rendered with the model's chat template) or token ids.
    public func generate(_ prompt: Prompt, _ parameters: GenerationParameters = GenerationParameters())
        -> AsyncThrowingStream<GeneratedPiece, Error> {
        session.generate(prompt: prompt, parameters: parameters, holding: operationLock)
    }

    /// Generates from `prompt` and returns the whole result (token ids, text, stop reason and speeds).
    public func complete(_ prompt: Prompt, _ parameters: GenerationParameters = GenerationParameters()) async throws
        -> GenerationResult {
        try await runOnWorkerThread { [self] in
            operationLock.lock()
            defer { operationLock.unlock() }
            return try session.complete(prompt: prompt, parameters: parameters)
        }
    }

    /// Measures the perplexity of `text` the way llama-perplexity does: the tokens are cut into chunks of
    /// `chunkLength` (default: min(512, the context length)) and the second half of each chunk is scored.
    /// `maxChunks` limits the chunks evaluated. Clears the KV cache (the next generation starts afresh).
    public func perplexity(_ text: String, chunkLength: Int? = nil, maxChunks: Int? = nil) async throws -> PerplexityResult {
        try await runOnWorkerThread { [self] in
            operationLock.lock()
            defer { operationLock.unlock() }
            defer { session.reset() }
            let tokens = tokenizer.encode(text, addSpecial: true, parseSpecial: false)
            let bos = tokenizer.definition.addBOS ? tokenizer.bosID : nil
            return try Perplexity.measure(model: model, tokens: tokens, contextLength: chunkLength ?? Perplexity.defaultChunkLength(contextLength: contextLength),
                                          bos: bos, maxChunks: maxChunks)
        }
    }

    /// Forgets the cached conversation.
    public func reset() {
        operationLock.lock()
        defer { operationLock.unlock() }
        session.reset()
    }
}

