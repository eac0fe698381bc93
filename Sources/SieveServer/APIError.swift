import SieveCore

/// An error answered to a client as an OpenAI-style error object:
/// `{"error": {"message": …, "type": …, "param": …, "code": …}}` with an HTTP status.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// HTTP status code (400, 404, 413, 429, 500, 503 …).
    public var status: Int
    /// What went wrong and how to fix it.
    public var message: String
    /// OpenAI's error class: `invalid_request_error`, `server_error`, ….
    public var type: String
    /// The request field at fault, if any.
    public var param: String?
    /// A machine-readable code (`model_not_found`, `context_length_exceeded`, …), if any.
    public var code: String?

    /// An error with every field given.
    public init(status: Int, message: String, type: String = "invalid_request_error", param: String? = nil,
                code: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    /// 400: the request is malformed or a value is out of range.
    public static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, message: message, param: param, code: code)
    }

    /// The JSON body of the response.
    public var json: JSONValue {
        .object([("error", .object([
            ("message", .string(message)),
            ("type", .string(type)),
            ("param", param.map(JSONValue.string) ?? .null),
            ("code", code.map(JSONValue.string) ?? .null),
        ]))])
    }

    public var description: String { "HTTP \(status) \(type): \(message)" }
}
