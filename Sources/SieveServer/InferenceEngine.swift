import Foundation
import SieveCore
import SieveKernels
import SieveRuntime
import SieveTokenizers

/// Request limits the server enforces (each violation is answered with an OpenAI-style error object).
public struct ServerLimits: Sendable, Equatable {
    /// Largest request body in bytes (413 above).
    public var maxBodyBytes: Int
    /// Longest prompt in tokens (400 above); nil means the context length minus one.
    public var maxPromptTokens: Int?
    /// Largest `max_tokens` a request may ask for (400 above); also the default when a request gives none
    /// (capped by the room left in the context).
    public var maxTokens: Int
    /// Most requests waiting for a slot (429 above).
    public var maxQueue: Int

    /// Limits with every value given (defaults: 1 MiB bodies, prompts up to the context, 2048 generated tokens,
    /// 64 waiting requests).
    public init(maxBodyBytes: Int = 1 << 20, maxPromptTokens: Int? = nil, maxTokens: Int = 2048, maxQueue: Int = 64) {
        self.maxBodyBytes = maxBodyBytes
        self.maxPromptTokens = maxPromptTokens
        self.maxTokens = maxTokens
        self.maxQueue = maxQueue
    }
}

/// The sparsity a model runs with, reported with every response (the `sieve` extension field).
public struct SparsityReport: Sendable, Equatable {
    /// Whether any block computes a subset of its units (a sparse bundle below density 1, not in dense mode).
    public var sparse: Bool
    /// `predicted`, `oracle` or `dense` (always `dense` when nothing is skipped).
    public var mode: String
    /// Mean fraction of FFN blocks computed per decoded token, over blocks (1 when dense).
    public var ffnDensity: Double
    /// Mean fraction of attention heads computed per decoded token, over blocks (1 when dense).
    public var headDensity: Double
    /// Whether prompts are evaluated sparsely too (otherwise prefill is dense and only decode is sparse).
    public var sparsePrefill: Bool

    /// The densities `model` resolved from its options and its bundle's per-block schedule.
    public init(model: Model) {
        sparse = model.isSparse
        mode = sparse ? model.options.sparsity.rawValue : SparsityMode.dense.rawValue
        ffnDensity = sparse ? model.meanFFNDensity : 1
        headDensity = sparse ? model.meanHeadDensity : 1
        sparsePrefill = sparse && model.options.sparsePrefill
    }
}

/// Timings and sparsity of one finished request (the `sieve` extension field of a response).
public struct RequestReport: Sendable {
    /// The model's sparsity settings.
    public var sparsity: SparsityReport
    /// The generation's result (token counts and timings).
    public var result: GenerationResult
    /// Seconds spent waiting for a slot.
    public var queueSeconds: Double
    /// The slot that served the request.
    public var slot: Int

    /// The extension object: densities used, speeds and timings.
    public var json: JSONValue {
        .object([
            ("sparse", .bool(sparsity.sparse)),
            ("sparsity_mode", .string(sparsity.mode)),
            ("ffn_density", .double(sparsity.ffnDensity)),
            ("head_density", .double(sparsity.headDensity)),
            ("sparse_prefill", .bool(sparsity.sparsePrefill)),
            ("prompt_tokens_per_second", .double(result.promptTokensPerSecond)),
            ("decode_tokens_per_second", .double(result.decodeTokensPerSecond)),
            ("prompt_seconds", .double(result.promptSeconds)),
            ("decode_seconds", .double(result.decodeSeconds)),
            ("cached_prompt_tokens", .int(Int64(result.promptTokens.count - result.evaluatedPromptTokens))),
            ("queue_seconds", .double(queueSeconds)),
            ("slot", .int(Int64(slot))),
        ])
    }
}

/// A request checked against the model and the limits: the prompt's tokens and how to generate.
public struct PreparedRequest: Sendable {
    /// The client's request.
    public var request: CompletionRequest
    /// Prompt token ids.
    public var promptTokens: [Int]
    /// Generation settings.
    public var parameters: GenerationParameters
}

/// One event of a running generation.
public enum GenerationEvent: Sendable {
    /// Text now complete (never empty).
    case text(String)
    /// Generation ended; carries the result and report.
    case finished(RequestReport)
}

/// Counters reported by `GET /health`.
public struct EngineCounters: Sendable, Equatable {
    /// Requests that finished generating.
    public var completed = 0
    /// Generations stopped early (client gone, server shutting down).
    public var cancelled = 0
    /// Generations that failed with an error.
    public var failed = 0
    /// Tokens generated in all.
    public var generatedTokens = 0
}

/// The models behind the server: `slots` copies of one compiled model (each with its own KV cache, so a slot
/// keeps its conversation's prefix cached) sharing one thread pool, a fair queue of requests waiting for a slot,
/// and a fair compute gate that interleaves the running generations token by token.
public final class InferenceEngine: @unchecked Sendable {
    /// The model id clients name in requests (`GET /v1/models`).
    public let modelName: String
    /// Positions each slot's KV cache holds.
    public let contextLength: Int
    /// Sparsity settings reported with every response.
    public let sparsity: SparsityReport
    /// The limits enforced.
    public let limits: ServerLimits
    /// The architecture name.
    public let architecture: String
    /// When the engine was created (the `created` field of `/v1/models`).
    public let created: Int

    private let tokenizer: Tokenizer
    private let sessions: [Session]
    let gate = ComputeGate()
    let scheduler: SlotScheduler
    private let lock = NSLock()
    private var running: [ObjectIdentifier: StopFlag] = [:]
    private var counters = EngineCounters()

    /// Compiles `slots` copies of `graph` sharing one thread pool of `options.threads` threads.
    /// - Parameters:
    ///   - chatTemplate: a Jinja chat template that replaces the model's own (nil keeps it).
    public init(graph: ModelGraph, options: RuntimeOptions, modelName: String, slots: Int, limits: ServerLimits,
                chatTemplate: String? = nil) throws {
        guard slots >= 1 && slots <= 64 else {
            throw SieveRuntimeError.invalidOption(name: "slot count", value: "\(slots)", reason: "must be between 1 and 64 (--max-concurrent)")
        }
        var graph = graph
        guard graph.tokenizer != nil else { throw SieveRuntimeError.missingTokenizer }
        if let chatTemplate { graph.tokenizer?.chatTemplate = chatTemplate }
        let threads = options.threads ?? ThreadPool.defaultThreadCount
        guard threads >= 1 && threads <= 1024 else {
            throw SieveRuntimeError.invalidOption(name: "thread count", value: "\(threads)", reason: "must be between 1 and 1024")
        }
        let pool = ThreadPool(threads: threads)
        tokenizer = try Tokenizer(graph: graph, source: modelName)
        var sessions: [Session] = []
        for _ in 0..<slots {
            let model = try Model(graph: graph, options: options, pool: pool)
            sessions.append(Session(model: model, tokenizer: tokenizer))
        }
        guard sessions[0].model.hasLanguageModelHead else {
            throw SieveRuntimeError.wrongModelKind(operation: "serving completions", architecture: sessions[0].model.architecture.rawValue)
        }
        self.sessions = sessions
        self.modelName = modelName
        contextLength = sessions[0].model.contextLength
        architecture = graph.architecture.rawValue
        sparsity = SparsityReport(model: sessions[0].model)
        var limits = limits
        if let p = limits.maxPromptTokens { limits.maxPromptTokens = min(p, contextLength - 1) }
        self.limits = limits
        scheduler = SlotScheduler(slots: slots, maxQueue: limits.maxQueue)
        created = Int(Date().timeIntervalSince1970)
    }

    /// Number of slots (requests generating at once).
    public var slotCount: Int { sessions.count }

    /// Counters so far.
    public var counterValues: EngineCounters { lock.withLock { counters } }

    /// Slots busy and requests waiting.
    public var load: (busy: Int, queued: Int) { scheduler.load }

    /// Checks a request against the model and the limits and tokenizes its prompt. Throws `APIError`.
    public func prepare(_ request: CompletionRequest) throws -> PreparedRequest {
        if let name = request.model, name != modelName {
            throw APIError(status: 404, message: "The model '\(name)' does not exist: this server serves '\(modelName)' (see GET /v1/models).",
                           param: "model", code: "model_not_found")
        }
        let tokens: [Int]
        switch request.input {
        case let .messages(messages):
            guard tokenizer.definition.chatTemplate != nil else {
                throw APIError.invalid("The model '\(modelName)' has no chat template: use /v1/completions with a text prompt, or start the server with --chat-template FILE.",
                                       param: "messages", code: "no_chat_template")
            }
            do {
                let rendered = try tokenizer.applyChatTemplate(messages, addGenerationPrompt: true)
                tokens = tokenizer.encode(rendered, addSpecial: false, parseSpecial: true)
            } catch {
                let reason = (error as? LocalizedError)?.errorDescription ?? "\(error)"
                throw APIError.invalid("The chat template cannot render these messages: \(reason)", param: "messages")
            }
        case let .prompt(text):
            tokens = tokenizer.encode(text, addSpecial: true, parseSpecial: true)
        case let .tokens(ids):
            if let bad = ids.first(where: { $0 < 0 || $0 >= sessions[0].model.vocabularySize }) {
                throw APIError.invalid("Token id \(bad) is outside the vocabulary (0..<\(sessions[0].model.vocabularySize)).", param: "prompt")
            }
            tokens = ids
        }
        guard !tokens.isEmpty else {
            throw APIError.invalid("The prompt is empty (no tokens): give some text.", param: request.endpoint == .chat ? "messages" : "prompt")
        }
        let maxPrompt = limits.maxPromptTokens ?? (contextLength - 1)
        guard tokens.count <= maxPrompt else {
            throw APIError.invalid("The prompt has \(tokens.count) tokens; this server accepts at most \(maxPrompt) (context \(contextLength) tokens). Shorten the prompt.",
                                   param: request.endpoint == .chat ? "messages" : "prompt", code: "context_length_exceeded")
        }
        let room = contextLength - tokens.count
        let maxTokens: Int
        if let asked = request.maxTokens {
            guard asked <= limits.maxTokens else {
                throw APIError.invalid("'max_tokens' is \(asked); this server generates at most \(limits.maxTokens) tokens per request.",
                                       param: "max_tokens")
            }
            guard asked <= room else {
                throw APIError.invalid("This model's context is \(contextLength) tokens: the prompt has \(tokens.count) tokens, so 'max_tokens' can be at most \(room) (got \(asked)).",
                                       param: "max_tokens", code: "context_length_exceeded")
            }
            maxTokens = asked
        } else {
            maxTokens = min(limits.maxTokens, room)
        }
        let parameters = GenerationParameters(maxTokens: maxTokens, sampling: request.sampling, stopStrings: request.stop,
                                              stopAtEndOfGeneration: !request.ignoreEOS)
        do {
            try parameters.validate()
        } catch {
            throw APIError.invalid((error as? LocalizedError)?.errorDescription ?? "\(error)")
        }
        return PreparedRequest(request: request, promptTokens: tokens, parameters: parameters)
    }

    /// Waits for a slot (fair queue), then generates on a background thread, streaming events. Cancelling the
    /// consuming task (or `stop`) stops generation at the next token; the slot is freed when the thread ends.
    public func generate(_ prepared: PreparedRequest, stop: StopFlag = StopFlag()) async throws -> AsyncThrowingStream<GenerationEvent, Error> {
        let queued = DispatchTime.now().uptimeNanoseconds
        let slot = try await scheduler.acquire()
        let queueSeconds = Double(DispatchTime.now().uptimeNanoseconds - queued) / 1e9
        let session = sessions[slot]
        let key = ObjectIdentifier(stop)
        lock.withLock { running[key] = stop }
        let sparsity = self.sparsity
        return AsyncThrowingStream { continuation in
            continuation.onTermination = { termination in
                // The consumer stopped listening (cancelled, or the stream was dropped) before the end.
                if case .cancelled = termination { stop.set() }
            }
            let thread = Thread { [self] in
                var outcome: Result<GenerationResult, Error>
                gate.acquire()
                do {
                    let result = try session.complete(prompt: .tokens(prepared.promptTokens), parameters: prepared.parameters) { piece in
                        if !piece.text.isEmpty { continuation.yield(.text(piece.text)) }
                        if stop.isSet { return false }
                        gate.yieldTurn()
                        return !stop.isSet
                    }
                    outcome = .success(result)
                } catch {
                    outcome = .failure(error)
                }
                gate.release()
                lock.lock()
                running[key] = nil
                switch outcome {
                case let .success(result):
                    if stop.isSet { counters.cancelled += 1 } else { counters.completed += 1 }
                    counters.generatedTokens += result.tokens.count
                case .failure:
                    counters.failed += 1
                }
                lock.unlock()
                scheduler.release(slot)
                switch outcome {
                case let .success(result):
                    continuation.yield(.finished(RequestReport(sparsity: sparsity, result: result, queueSeconds: queueSeconds, slot: slot)))
                    continuation.finish()
                case let .failure(error):
                    continuation.finish(throwing: error)
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// Generations running now.
    public var runningCount: Int { lock.withLock { running.count } }

    /// Refuses new requests (503) and fails the waiting ones; running generations go on.
    public func drain() { scheduler.drain() }

    /// Whether the engine refuses new requests.
    public var isDraining: Bool { scheduler.isDraining }

    /// Asks every running generation to stop at its next token.
    public func cancelAll() {
        let flags = lock.withLock { Array(running.values) }
        for flag in flags { flag.set() }
    }

    /// Waits until no generation runs or `seconds` pass; returns whether none runs.
    public func waitUntilIdle(seconds: Double) async -> Bool {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, seconds) * 1e9)
        while runningCount > 0 {
            if DispatchTime.now().uptimeNanoseconds >= deadline { return false }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        return true
    }
}
