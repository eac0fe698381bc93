import CJSONC
import Foundation

/// A JSON value parsed and serialised by json-c. Objects keep their key order. Not `indirect`: arrays and objects
/// already hold their items out of line, and a boxed case would cost an allocation per scalar (a tokenizer's
/// hundred thousand strings).
public enum JSONValue: Equatable, Sendable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// An integer that fits in 64 bits.
    case int(Int64)
    /// Any other number.
    case double(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object, its members in file order.
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// Maximum nesting depth accepted by the parser.
    public static let maxDepth = 64

    /// Parses JSON text (UTF-8 validated, depth bounded) with json-c. `source` names the origin in errors.
    public static func parse(_ bytes: UnsafeRawBufferPointer, source: String) throws -> JSONValue {
        guard bytes.count < Int(Int32.max) else {
            throw SieveCoreError.limitExceeded(source: source, what: "JSON text size", value: bytes.count, limit: Int(Int32.max) - 1)
        }
        guard let tokener = json_tokener_new_ex(Int32(maxDepth)) else {
            throw SieveCoreError.invalidJSON(source: source, reason: "cannot create parser")
        }
        defer { json_tokener_free(tokener) }
        json_tokener_set_flags(tokener, Int32(JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8))
        let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self)
        let empty: [CChar] = [0]
        let object: OpaquePointer? = empty.withUnsafeBufferPointer { e in
            json_tokener_parse_ex(tokener, base ?? e.baseAddress, Int32(bytes.count))
        }
        let err = json_tokener_get_error(tokener)
        if err == json_tokener_continue || (object == nil && err == json_tokener_success) {
            throw SieveCoreError.invalidJSON(source: source, reason: "unexpected end of text")
        }
        guard err == json_tokener_success else {
            let message = String(cString: json_tokener_error_desc(err))
            throw SieveCoreError.invalidJSON(source: source, reason: "\(message) near byte \(json_tokener_get_parse_end(tokener))")
        }
        defer { json_object_put(object) }
        let consumed = json_tokener_get_parse_end(tokener)
        if consumed < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[consumed...])
            if rest.contains(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }) {
                throw SieveCoreError.invalidJSON(source: source, reason: "trailing data after the JSON value at byte \(consumed)")
            }
        }
        return convert(object)
    }

    /// Parses JSON text given as a String.
    public static func parse(_ text: String, source: String) throws -> JSONValue {
        var copy = text
        return try copy.withUTF8 { try parse(UnsafeRawBufferPointer($0), source: source) }
    }

    /// Reads and parses a JSON file, refusing files larger than `maxBytes`.
    public static func parse(contentsOf url: URL, maxBytes: Int = 512 << 20) throws -> JSONValue {
        let file = try MappedFile(url: url)
        guard file.count <= maxBytes else {
            throw SieveCoreError.limitExceeded(source: url.path, what: "JSON file size", value: file.count, limit: maxBytes)
        }
        return try parse(file.bytes, source: url.path)
    }

    private static func convert(_ object: OpaquePointer?) -> JSONValue {
        guard let object else { return .null }
        switch json_object_get_type(object) {
        case json_type_null: return .null
        case json_type_boolean: return .bool(json_object_get_boolean(object) != 0)
        case json_type_int: return .int(json_object_get_int64(object))
        case json_type_double: return .double(json_object_get_double(object))
        case json_type_string:
            let length = Int(json_object_get_string_len(object))
            let chars = json_object_get_string(object)!
            return .string(String(decoding: UnsafeRawBufferPointer(start: chars, count: length), as: UTF8.self))
        case json_type_array:
            let n = json_object_array_length(object)
            var items: [JSONValue] = []
            items.reserveCapacity(n)
            for i in 0..<n { items.append(convert(json_object_array_get_idx(object, i))) }
            return .array(items)
        case json_type_object:
            var members: [(String, JSONValue)] = []
            members.reserveCapacity(Int(json_object_object_length(object)))
            var it = json_object_iter_begin(object)
            var end = json_object_iter_end(object)
            while json_object_iter_equal(&it, &end) == 0 {
                let name = String(cString: json_object_iter_peek_name(&it))
                members.append((name, convert(json_object_iter_peek_value(&it))))
                json_object_iter_next(&it)
            }
            return .object(members)
        default: return .null
        }
    }

    // MARK: Serialisation

    /// Serialises this value with json-c: compact (`pretty: false`) or indented with two spaces.
    public func serialized(pretty: Bool = false) -> String {
        let object = makeJSONC()
        defer { json_object_put(object) }
        var flags = JSON_C_TO_STRING_NOSLASHESCAPE
        flags |= pretty ? (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED) : JSON_C_TO_STRING_PLAIN
        return String(cString: json_object_to_json_string_ext(object, Int32(flags)))
    }

    private func makeJSONC() -> OpaquePointer? {
        switch self {
        case .null: return nil
        case let .bool(b): return json_object_new_boolean(b ? 1 : 0)
        case let .int(i): return json_object_new_int64(i)
        case let .double(d):
            // The shortest text that reads back to the same Double (Swift's own rendering), not %.17g.
            return d.isFinite ? json_object_new_double_s(d, "\(d)") : json_object_new_double(d)
        case let .string(s):
            var copy = s
            return copy.withUTF8 { u in
                guard let base = u.baseAddress, u.count > 0 else { return json_object_new_string("") }
                return base.withMemoryRebound(to: CChar.self, capacity: u.count) { json_object_new_string_len($0, Int32(u.count)) }
            }
        case let .array(items):
            let array = json_object_new_array_ext(Int32(items.count))
            for item in items { json_object_array_add(array, item.makeJSONC()) }
            return array
        case let .object(members):
            let object = json_object_new_object()
            for (key, value) in members { json_object_object_add(object, key, value.makeJSONC()) }
            return object
        }
    }

    // MARK: Access

    /// The member named `key` of an object, or nil.
    public subscript(key: String) -> JSONValue? {
        if case let .object(members) = self { return members.first(where: { $0.0 == key })?.1 }
        return nil
    }

    /// The members of an object, or nil.
    public var objectMembers: [(String, JSONValue)]? {
        if case let .object(m) = self { return m }
        return nil
    }
    /// The items of an array, or nil.
    public var arrayItems: [JSONValue]? {
        if case let .array(a) = self { return a }
        return nil
    }
    /// A string value, or nil.
    public var stringValue: String? {
        if case let .string(s) = self { return s }
        return nil
    }
    /// An integer value (also from a double with no fraction), or nil.
    public var intValue: Int? {
        switch self {
        case let .int(i): return Int(exactly: i)
        case let .double(d): return d.rounded() == d && abs(d) < 9e15 ? Int(d) : nil
        default: return nil
        }
    }
    /// A numeric value as Double, or nil.
    public var doubleValue: Double? {
        switch self {
        case let .int(i): return Double(i)
        case let .double(d): return d
        default: return nil
        }
    }
    /// A boolean value, or nil.
    public var boolValue: Bool? {
        if case let .bool(b) = self { return b }
        return nil
    }
    /// Whether this is JSON null.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}
