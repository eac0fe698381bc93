import Foundation

/// One message of a conversation.
public struct ChatMessage: Sendable, Equatable {
    /// `system`, `user`, `assistant`, …
    public var role: String
    /// The message text.
    public var content: String

    /// A message with the given role and text.
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// Errors parsing or rendering a chat template. Each names the construct and the template line.
public enum ChatTemplateError: Error, LocalizedError, Equatable {
    /// The template text is not valid Jinja.
    case syntax(message: String, line: Int)
    /// The template uses Jinja that Sieve's subset does not implement.
    case unsupported(construct: String, line: Int)
    /// The template called `raise_exception(message)`.
    case raised(message: String)
    /// Rendering failed (a type error, an undefined value used in arithmetic…).
    case render(message: String, line: Int)

    public var errorDescription: String? {
        switch self {
        case let .syntax(message, line):
            return "chat template, line \(line): syntax error: \(message). Fix the template or pass another one."
        case let .unsupported(construct, line):
            return "chat template, line \(line): cannot render \(construct): Sieve's Jinja subset does not support it. Pass a simpler template or format the prompt yourself."
        case let .raised(message):
            return "chat template refused the conversation: \(message)"
        case let .render(message, line):
            return "chat template, line \(line): \(message). Check the messages passed, or fix the template."
        }
    }
}

/// A value inside a chat template: what Jinja (and Python under it) works with.
public indirect enum JinjaValue: Sendable, Equatable {
    /// A name that is not defined (renders as nothing, `is defined` is false).
    case undefined
    /// Python's `None` (`none` in a template; renders as `None`).
    case none
    /// A boolean.
    case bool(Bool)
    /// An integer.
    case int(Int)
    /// A floating-point number.
    case double(Double)
    /// A string.
    case string(String)
    /// A list.
    case array([JinjaValue])
    /// A mapping; keys keep their order.
    case object([(String, JinjaValue)])
    /// A `namespace(...)`, the one mutable value Jinja has.
    case namespace(JinjaNamespace)

    public static func == (a: JinjaValue, b: JinjaValue) -> Bool {
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x == y
        case let (.int(x), .double(y)), let (.double(y), .int(x)): return Double(x) == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && x.allSatisfy { pair in y.contains { $0.0 == pair.0 && $0.1 == pair.1 } }
        case let (.namespace(x), .namespace(y)): return x === y
        default: return false
        }
    }

    /// The conversation messages as template values (`message['role']`, `message.content`).
    public static func messages(_ messages: [ChatMessage]) -> JinjaValue {
        .array(messages.map { .object([("role", .string($0.role)), ("content", .string($0.content))]) })
    }
}

/// The attributes of a `namespace()` value, shared by reference as in Jinja.
public final class JinjaNamespace: @unchecked Sendable {
    var attributes: [(String, JinjaValue)]
    init(_ attributes: [(String, JinjaValue)]) { self.attributes = attributes }
}

/// A chat template (the Jinja text of `tokenizer.chat_template`), parsed once and rendered for conversations.
///
/// Sieve implements the Jinja subset chat templates use, with Hugging Face's settings (`trim_blocks`,
/// `lstrip_blocks`): `{% if/elif/else %}`, `{% for … in … [if …] %}` with `loop.index/index0/first/last/length/
/// revindex/revindex0`, `{% break %}`/`{% continue %}`, `{% set %}` (also `ns.attr` on a `namespace()`),
/// `{% generation %}`, whitespace control (`{%-`, `-%}`), expressions with `+ - * / // % ** ~`, comparisons,
/// `and/or/not`, `in`, `is` tests, conditional expressions, slicing, literals, the filters and methods
/// templates use (`trim`, `length`, `tojson`, `default`, `join`, `selectattr`, `.strip()`, `.items()`, …) and
/// the functions `raise_exception`, `namespace`, `range`, `strftime_now`. Anything else fails with
/// `ChatTemplateError.unsupported`, naming the construct.
public struct ChatTemplate: Sendable {
    /// The template text.
    public let source: String
    let nodes: [JinjaNode]

    /// Parses `source`; throws `ChatTemplateError` for invalid or unsupported Jinja.
    public init(_ source: String) throws {
        self.source = source
        var parser = try JinjaParser(source)
        nodes = try parser.parseTemplate()
    }

    /// Renders a conversation. `variables` adds or overrides template variables (e.g. `tools`).
    public func render(messages: [ChatMessage], addGenerationPrompt: Bool, bosToken: String = "", eosToken: String = "",
                       variables: [String: JinjaValue] = [:]) throws -> String {
        var context: [String: JinjaValue] = [
            "messages": .messages(messages),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken),
            "eos_token": .string(eosToken),
        ]
        for (k, v) in variables { context[k] = v }
        return try render(context)
    }

    /// Renders with the given top-level variables.
    public func render(_ variables: [String: JinjaValue]) throws -> String {
        var interpreter = JinjaInterpreter(globals: variables)
        return try interpreter.run(nodes)
    }
}
