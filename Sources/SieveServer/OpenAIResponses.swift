import SieveCore
import SieveRuntime

/// Builds OpenAI response objects (chat completions, text completions, their stream chunks, usage, models).
struct OpenAIResponses {
    /// `chatcmpl-…` or `cmpl-…`.
    let id: String
    /// Unix seconds.
    let created: Int
    /// The model id.
    let model: String
    /// Which endpoint's shapes to use.
    let endpoint: CompletionEndpoint

    /// OpenAI's finish reason for a stop reason.
    static func finishReason(_ reason: StopReason) -> String {
        switch reason {
        case .endOfGeneration, .stopString: return "stop"
        case .maxTokens: return "length"
        }
    }

    /// The `usage` object.
    static func usage(_ result: GenerationResult) -> JSONValue {
        let prompt = result.promptTokens.count, completion = result.tokens.count
        return .object([
            ("prompt_tokens", .int(Int64(prompt))),
            ("completion_tokens", .int(Int64(completion))),
            ("total_tokens", .int(Int64(prompt + completion))),
            ("prompt_tokens_details", .object([("cached_tokens", .int(Int64(prompt - result.evaluatedPromptTokens)))])),
        ])
    }

    private func header(object: String) -> [(String, JSONValue)] {
        [("id", .string(id)), ("object", .string(object)), ("created", .int(Int64(created))), ("model", .string(model)),
         ("system_fingerprint", .string("sieve"))]
    }

    /// A complete (non-streamed) response.
    func complete(text: String, report: RequestReport) -> JSONValue {
        let finish = JSONValue.string(Self.finishReason(report.result.stopReason))
        let choice: JSONValue
        switch endpoint {
        case .chat:
            choice = .object([
                ("index", .int(0)),
                ("message", .object([("role", .string("assistant")), ("content", .string(text))])),
                ("logprobs", .null),
                ("finish_reason", finish),
            ])
        case .text:
            choice = .object([("index", .int(0)), ("text", .string(text)), ("logprobs", .null), ("finish_reason", finish)])
        }
        return .object(header(object: endpoint == .chat ? "chat.completion" : "text_completion") + [
            ("choices", .array([choice])),
            ("usage", Self.usage(report.result)),
            ("sieve", report.json),
        ])
    }

    /// A stream chunk carrying `text` (and, on the first chat chunk, the role).
    func chunk(text: String, role: Bool = false) -> JSONValue {
        chunk(choice: choiceBody(text: text, role: role) + [("logprobs", .null), ("finish_reason", .null)], extra: [])
    }

    /// The last content chunk: empty delta, the finish reason and the Sieve extension.
    func finalChunk(report: RequestReport) -> JSONValue {
        chunk(choice: choiceBody(text: nil, role: false) + [
            ("logprobs", .null), ("finish_reason", .string(Self.finishReason(report.result.stopReason))),
        ], extra: [("sieve", report.json)])
    }

    /// The usage chunk sent after the last one when `stream_options.include_usage` is set.
    func usageChunk(report: RequestReport) -> JSONValue {
        .object(header(object: endpoint == .chat ? "chat.completion.chunk" : "text_completion") + [
            ("choices", .array([])), ("usage", Self.usage(report.result)),
        ])
    }

    private func choiceBody(text: String?, role: Bool) -> [(String, JSONValue)] {
        switch endpoint {
        case .chat:
            var delta: [(String, JSONValue)] = []
            if role { delta.append(("role", .string("assistant"))) }
            if let text { delta.append(("content", .string(text))) }
            return [("index", .int(0)), ("delta", .object(delta))]
        case .text:
            return [("index", .int(0)), ("text", .string(text ?? ""))]
        }
    }

    private func chunk(choice: [(String, JSONValue)], extra: [(String, JSONValue)]) -> JSONValue {
        .object(header(object: endpoint == .chat ? "chat.completion.chunk" : "text_completion") + [
            ("choices", .array([.object(choice)])),
        ] + extra)
    }
}
