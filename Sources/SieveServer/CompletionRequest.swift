import SieveCore
import SieveRuntime
import SieveTokenizers

/// Which endpoint a request came to.
public enum CompletionEndpoint: Sendable, Equatable {
    /// `POST /v1/chat/completions`: messages rendered with the chat template.
    case chat
    /// `POST /v1/completions`: a raw text prompt.
    case text
}

/// What a completion request asks to generate from.
public enum CompletionInput: Sendable, Equatable {
    /// Chat messages (rendered with the model's chat template and a generation prompt).
    case messages([ChatMessage])
    /// A text prompt (tokenized with the model's special tokens, as `sieve run` does).
    case prompt(String)
    /// Token ids given by the client.
    case tokens([Int])
}

/// A parsed and checked OpenAI chat or text completion request. Unknown fields are ignored (as OpenAI-compatible
/// servers do); known fields with a wrong type or range are rejected with an error naming the field.
public struct CompletionRequest: Sendable, Equatable {
    /// The endpoint the request came to.
    public var endpoint: CompletionEndpoint
    /// The `model` field, if given.
    public var model: String?
    /// The input.
    public var input: CompletionInput
    /// `max_tokens` (or `max_completion_tokens`), if given.
    public var maxTokens: Int?
    /// Sampling settings (OpenAI defaults: temperature 1, top_p 1, no top-k or min-p).
    public var sampling: SamplingParameters
    /// `stop`: up to four stop strings.
    public var stop: [String]
    /// `stream`: answer with server-sent events.
    public var stream: Bool
    /// `stream_options.include_usage`: send a last chunk with token counts.
    public var includeUsage: Bool
    /// Sieve extension `ignore_eos`: keep generating past end-of-generation tokens.
    public var ignoreEOS: Bool

    /// Most stop strings OpenAI accepts.
    public static let maxStopStrings = 4

    /// Parses a request body. Throws an `APIError` (400) naming the field at fault.
    public static func parse(_ body: JSONValue, endpoint: CompletionEndpoint) throws -> CompletionRequest {
        guard let members = body.objectMembers else {
            throw APIError.invalid("The request body must be a JSON object, e.g. {\"model\": …, \"messages\": […]}.")
        }
        func field(_ name: String) -> JSONValue? {
            guard let v = members.first(where: { $0.0 == name })?.1, !v.isNull else { return nil }
            return v
        }
        func number(_ name: String) throws -> Double? {
            guard let v = field(name) else { return nil }
            guard let d = v.doubleValue, d.isFinite else { throw APIError.invalid("'\(name)' must be a number.", param: name) }
            return d
        }
        func integer(_ name: String) throws -> Int? {
            guard let v = field(name) else { return nil }
            guard let i = v.intValue else { throw APIError.invalid("'\(name)' must be an integer.", param: name) }
            return i
        }
        func bool(_ name: String) throws -> Bool? {
            guard let v = field(name) else { return nil }
            guard let b = v.boolValue else { throw APIError.invalid("'\(name)' must be true or false.", param: name) }
            return b
        }

        var model: String?
        if let m = field("model") {
            guard let s = m.stringValue else { throw APIError.invalid("'model' must be a string.", param: "model") }
            model = s
        }

        let input: CompletionInput
        switch endpoint {
        case .chat:
            guard let raw = field("messages") else {
                throw APIError.invalid("'messages' is required: a list of {\"role\", \"content\"} objects.", param: "messages")
            }
            input = .messages(try parseMessages(raw))
        case .text:
            guard let raw = field("prompt") else {
                throw APIError.invalid("'prompt' is required: a string (or a list of one string, or a list of token ids).", param: "prompt")
            }
            input = try parsePrompt(raw)
        }

        if let n = try integer("n"), n != 1 {
            throw APIError.invalid("'n' must be 1: this server generates one choice per request.", param: "n")
        }
        var maxTokens = try integer("max_completion_tokens")
        if let m = try integer("max_tokens") { maxTokens = m }
        if let m = maxTokens, m < 1 {
            throw APIError.invalid("'max_tokens' must be at least 1 (got \(m)).", param: "max_tokens")
        }

        var sampling = SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: 0)
        if let t = try number("temperature") {
            guard t >= 0 && t <= 2 else { throw APIError.invalid("'temperature' must be between 0 and 2 (got \(t)).", param: "temperature") }
            sampling.temperature = Float(t)
        }
        if let p = try number("top_p") {
            guard p > 0 && p <= 1 else { throw APIError.invalid("'top_p' must be in (0, 1] (got \(p)).", param: "top_p") }
            sampling.topP = Float(p)
        }
        if let k = try integer("top_k") {
            guard k >= 0 else { throw APIError.invalid("'top_k' must be 0 (off) or positive (got \(k)).", param: "top_k") }
            sampling.topK = k
        }
        if let p = try number("min_p") {
            guard p >= 0 && p <= 1 else { throw APIError.invalid("'min_p' must be in [0, 1] (got \(p)).", param: "min_p") }
            sampling.minP = Float(p)
        }
        if let r = try number("repetition_penalty") ?? number("repeat_penalty") {
            guard r > 0 else { throw APIError.invalid("'repetition_penalty' must be positive (got \(r)).", param: "repetition_penalty") }
            sampling.repetitionPenalty = Float(r)
        }
        if let s = field("seed") {
            guard case let .int(v) = s else { throw APIError.invalid("'seed' must be an integer.", param: "seed") }
            sampling.seed = UInt64(bitPattern: v)
        }

        var stop: [String] = []
        if let s = field("stop") {
            if let one = s.stringValue {
                stop = [one]
            } else if let items = s.arrayItems, items.allSatisfy({ $0.stringValue != nil }) {
                stop = items.compactMap(\.stringValue)
            } else {
                throw APIError.invalid("'stop' must be a string or a list of strings.", param: "stop")
            }
            guard stop.count <= maxStopStrings else {
                throw APIError.invalid("'stop' takes at most \(maxStopStrings) strings (got \(stop.count)).", param: "stop")
            }
            guard !stop.contains(where: \.isEmpty) else {
                throw APIError.invalid("'stop' strings must not be empty.", param: "stop")
            }
        }

        let stream = try bool("stream") ?? false
        var includeUsage = false
        if let options = field("stream_options") {
            guard options.objectMembers != nil else {
                throw APIError.invalid("'stream_options' must be an object.", param: "stream_options")
            }
            if let u = options["include_usage"], !u.isNull {
                guard let b = u.boolValue else {
                    throw APIError.invalid("'stream_options.include_usage' must be true or false.", param: "stream_options")
                }
                includeUsage = b
            }
        }
        return CompletionRequest(endpoint: endpoint, model: model, input: input, maxTokens: maxTokens, sampling: sampling,
                                 stop: stop, stream: stream, includeUsage: includeUsage,
                                 ignoreEOS: try bool("ignore_eos") ?? false)
    }

    private static func parseMessages(_ raw: JSONValue) throws -> [ChatMessage] {
        guard let items = raw.arrayItems else {
            throw APIError.invalid("'messages' must be a list of {\"role\", \"content\"} objects.", param: "messages")
        }
        guard !items.isEmpty else {
            throw APIError.invalid("'messages' must contain at least one message.", param: "messages")
        }
        return try items.enumerated().map { index, item in
            let param = "messages[\(index)]"
            guard item.objectMembers != nil else { throw APIError.invalid("'\(param)' must be an object.", param: param) }
            guard let role = item["role"]?.stringValue, !role.isEmpty else {
                throw APIError.invalid("'\(param).role' is required: a string such as \"system\", \"user\" or \"assistant\".", param: "\(param).role")
            }
            let content: String
            switch item["content"] {
            case let .string(s)?:
                content = s
            case .null?, nil:
                content = ""
            case let .array(parts)?:
                // Content parts: only text parts are understood by a text model.
                content = try parts.enumerated().map { partIndex, part -> String in
                    guard part["type"]?.stringValue == "text", let text = part["text"]?.stringValue else {
                        throw APIError.invalid("'\(param).content[\(partIndex)]' must be a {\"type\": \"text\", \"text\": …} part; this model reads text only.", param: "\(param).content")
                    }
                    return text
                }.joined()
            default:
                throw APIError.invalid("'\(param).content' must be a string or a list of text parts.", param: "\(param).content")
            }
            return ChatMessage(role: role, content: content)
        }
    }

    private static func parsePrompt(_ raw: JSONValue) throws -> CompletionInput {
        if let text = raw.stringValue { return .prompt(text) }
        if let items = raw.arrayItems {
            if items.count == 1, let text = items[0].stringValue { return .prompt(text) }
            if !items.isEmpty, items.allSatisfy({ $0.intValue != nil }) { return .tokens(items.compactMap(\.intValue)) }
            if items.count > 1, items.allSatisfy({ $0.stringValue != nil }) {
                throw APIError.invalid("'prompt' with several strings is not supported: send one request per prompt.", param: "prompt")
            }
        }
        throw APIError.invalid("'prompt' must be a string, a list of one string, or a non-empty list of token ids.", param: "prompt")
    }
}
