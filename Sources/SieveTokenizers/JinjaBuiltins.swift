import Foundation

/// The functions, methods, filters and tests chat templates use.
enum JinjaBuiltins {
    typealias KW = [(String, JinjaValue)]

    private static func kwarg(_ kwargs: KW, _ name: String) -> JinjaValue? { kwargs.first(where: { $0.0 == name })?.1 }

    private static func argument(_ args: [JinjaValue], _ kwargs: KW, _ position: Int, _ name: String) -> JinjaValue? {
        position < args.count ? args[position] : kwarg(kwargs, name)
    }

    private static func stringArgument(_ args: [JinjaValue], _ kwargs: KW, _ position: Int, _ name: String, of what: String,
                                       line: Int) throws -> String? {
        guard let v = argument(args, kwargs, position, name), v != .none else { return nil }
        guard case let .string(s) = v else {
            throw ChatTemplateError.render(message: "\(what): argument '\(name)' must be a string, not \(JinjaInterpreter.typeName(v))", line: line)
        }
        return s
    }

    // MARK: Functions

    static func function(_ name: String, args: [JinjaValue], kwargs: KW, line: Int) throws -> JinjaValue {
        switch name {
        case "raise_exception":
            throw ChatTemplateError.raised(message: args.first.map { JinjaInterpreter.repr($0, top: true) } ?? "raise_exception() called")
        case "namespace":
            var attributes = kwargs
            if case let .object(o)? = args.first { attributes = o + attributes }
            return .namespace(JinjaNamespace(attributes))
        case "range":
            let ints = try args.map { v -> Int in
                guard case let .int(i) = v else { throw ChatTemplateError.render(message: "range() needs integers", line: line) }
                return i
            }
            let (start, stop, step): (Int, Int, Int)
            switch ints.count {
            case 1: (start, stop, step) = (0, ints[0], 1)
            case 2: (start, stop, step) = (ints[0], ints[1], 1)
            case 3 where ints[2] != 0: (start, stop, step) = (ints[0], ints[1], ints[2])
            default: throw ChatTemplateError.render(message: "range() takes 1 to 3 integers (a step of 0 is not allowed)", line: line)
            }
            // The length, in floating point so that extreme bounds cannot overflow.
            let length = max(0, ((Double(stop) - Double(start)) / Double(step)).rounded(.up))
            try JinjaInterpreter.checkSize(length < 1e18 ? Int(length) : Int.max, items: true, line: line)
            return .array(Array(stride(from: start, to: stop, by: step)).map { .int($0) })
        case "strftime_now":
            guard case let .string(format)? = args.first else { throw ChatTemplateError.render(message: "strftime_now() needs a format string", line: line) }
            var now = time(nil)
            var parts = tm()
            localtime_r(&now, &parts)
            var buffer = [Int8](repeating: 0, count: 256)
            let n = strftime(&buffer, buffer.count, format, &parts)
            return .string(String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))
        default:
            throw ChatTemplateError.unsupported(construct: "function \(name)()", line: line)
        }
    }

    // MARK: Methods

    static func method(_ name: String, on target: JinjaValue, args: [JinjaValue], kwargs: KW, line: Int) throws -> JinjaValue {
        switch target {
        case let .string(s):
            switch name {
            case "strip", "lstrip", "rstrip":
                let chars = try stringArgument(args, kwargs, 0, "chars", of: name, line: line)
                return .string(strip(s, chars: chars, leading: name != "rstrip", trailing: name != "lstrip"))
            case "upper": return .string(s.uppercased())
            case "lower": return .string(s.lowercased())
            case "title": return .string(s.capitalized)
            case "capitalize": return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
            case "startswith", "endswith":
                let candidates: [JinjaValue]
                if case let .array(a)? = args.first { candidates = a } else { candidates = Array(args.prefix(1)) }
                for case let .string(x) in candidates where name == "startswith" ? s.hasPrefix(x) : s.hasSuffix(x) { return .bool(true) }
                return .bool(false)
            case "replace":
                guard args.count >= 2, case let .string(a) = args[0], case let .string(b) = args[1] else {
                    throw ChatTemplateError.render(message: "replace() needs two strings", line: line)
                }
                return .string(try replaced(s, a, b, line: line))
            case "split":
                let separator = try stringArgument(args, kwargs, 0, "sep", of: name, line: line)
                if let separator {
                    guard !separator.isEmpty else { throw ChatTemplateError.render(message: "split() got an empty separator", line: line) }
                    try JinjaInterpreter.checkSize(occurrences(of: Array(separator.utf8), in: Array(s.utf8)).count + 1, items: true, line: line)
                    return .array(s.components(separatedBy: separator).map { .string($0) })
                }
                try JinjaInterpreter.checkSize(s.unicodeScalars.lazy.filter { $0.properties.isWhitespace }.count + 1, items: true, line: line)
                return .array(s.split(whereSeparator: { $0.isWhitespace }).map { .string(String($0)) })
            case "join":
                guard case let .array(items)? = args.first else { throw ChatTemplateError.render(message: "join() needs a list", line: line) }
                return .string(try joined(items, separator: s, line: line))
            default: break
            }
        case let .object(o):
            switch name {
            case "items": return .array(o.map { .array([.string($0.0), $0.1]) })
            case "keys": return .array(o.map { .string($0.0) })
            case "values": return .array(o.map { $0.1 })
            case "get":
                guard case let .string(key)? = args.first else { throw ChatTemplateError.render(message: "get() needs a key", line: line) }
                return o.first(where: { $0.0 == key })?.1 ?? (args.count > 1 ? args[1] : .none)
            default: break
            }
        default: break
        }
        throw ChatTemplateError.unsupported(construct: "method .\(name)() on \(JinjaInterpreter.typeName(target))", line: line)
    }

    private static func strip(_ s: String, chars: String?, leading: Bool, trailing: Bool) -> String {
        let drop: (Character) -> Bool = chars.map { set in { set.contains($0) } } ?? { $0.isWhitespace }
        var sub = Substring(s)
        if leading { sub = sub.drop(while: drop) }
        if trailing { while let last = sub.last, drop(last) { sub.removeLast() } }
        return String(sub)
    }

    /// Byte offsets of the non-overlapping occurrences of `needle` (not empty) in `haystack`, left to right.
    private static func occurrences(of needle: [UInt8], in haystack: [UInt8]) -> [Int] {
        guard !needle.isEmpty, needle.count <= haystack.count else { return [] }
        var found: [Int] = []
        var i = 0
        let first = needle[0], last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first, haystack[i..<(i + needle.count)].elementsEqual(needle) {
                found.append(i)
                i += needle.count
            } else {
                i += 1
            }
        }
        return found
    }

    /// Python's `str.replace(old, new)` on UTF-8 bytes (an empty `old` inserts `new` between characters), refusing
    /// results over the string limit before building them.
    private static func replaced(_ s: String, _ old: String, _ new: String, line: Int) throws -> String {
        let bytes = Array(s.utf8), o = Array(old.utf8), n = Array(new.utf8)
        if o.isEmpty {
            let characters = s.unicodeScalars.count
            let (extra, overflow) = (characters + 1).multipliedReportingOverflow(by: n.count)
            try JinjaInterpreter.checkSize(bytes.count + extra, overflow: overflow, line: line)
            return new + s.unicodeScalars.map { String($0) + new }.joined()
        }
        let at = occurrences(of: o, in: bytes)
        let (grow, overflow) = at.count.multipliedReportingOverflow(by: n.count - o.count)
        try JinjaInterpreter.checkSize(bytes.count + grow, overflow: overflow, line: line)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + max(0, grow))
        var start = 0
        for i in at {
            out += bytes[start..<i]
            out += n
            start = i + o.count
        }
        out += bytes[start...]
        return String(decoding: out, as: UTF8.self)
    }

    /// Items as text joined by `separator`, refusing results over the string limit.
    private static func joined(_ items: [JinjaValue], separator: String, line: Int) throws -> String {
        let parts = try items.map { try JinjaInterpreter.string($0, line: line) }
        var size = separator.utf8.count * max(0, parts.count - 1)
        for p in parts { size += p.utf8.count }
        try JinjaInterpreter.checkSize(size, line: line)
        return parts.joined(separator: separator)
    }

    // MARK: Filters

    static func filter(_ name: String, _ v: JinjaValue, args: [JinjaValue], kwargs: KW, line: Int) throws -> JinjaValue {
        func list() throws -> [JinjaValue] { try JinjaInterpreter.iterate(v, line: line) }
        switch name {
        case "trim": return try method("strip", on: .string(JinjaInterpreter.string(v, line: line)), args: args, kwargs: kwargs, line: line)
        case "upper", "lower", "title", "capitalize":
            return try method(name, on: .string(JinjaInterpreter.string(v, line: line)), args: [], kwargs: [], line: line)
        case "length", "count":
            switch v {
            case let .string(s): return .int(s.count)
            case let .array(a): return .int(a.count)
            case let .object(o): return .int(o.count)
            case .undefined: return .int(0)
            default: throw ChatTemplateError.render(message: "\(JinjaInterpreter.typeName(v)) has no length", line: line)
            }
        case "string": return .string(try JinjaInterpreter.string(v, line: line))
        case "safe": return v
        case "int":
            switch v {
            case let .int(i): return .int(i)
            case let .double(d): return .int(d.isFinite && d.magnitude < 9.2e18 ? Int(d) : 0)
            case let .string(s): return .int(Int(s.trimmingCharacters(in: .whitespaces)) ?? 0)
            case let .bool(b): return .int(b ? 1 : 0)
            default: return .int(0)
            }
        case "float":
            switch v {
            case let .int(i): return .double(Double(i))
            case let .double(d): return .double(d)
            case let .string(s): return .double(Double(s.trimmingCharacters(in: .whitespaces)) ?? 0)
            default: return .double(0)
            }
        case "abs":
            switch v {
            case let .int(i):
                guard i != .min else { throw ChatTemplateError.render(message: "integer overflow in abs", line: line) }
                return .int(abs(i))
            case let .double(d): return .double(abs(d))
            default: throw ChatTemplateError.render(message: "abs needs a number", line: line)
            }
        case "default", "d":
            let fallback = argument(args, kwargs, 0, "default_value") ?? .string("")
            let boolean = JinjaInterpreter.truthy(argument(args, kwargs, 1, "boolean") ?? .bool(false))
            if v == .undefined || (boolean && !JinjaInterpreter.truthy(v)) { return fallback }
            return v
        case "first": return try list().first ?? .undefined
        case "last": return try list().last ?? .undefined
        case "list": return .array(try list())
        case "reverse":
            if case let .string(s) = v { return .string(String(s.reversed())) }
            return .array(try list().reversed())
        case "join":
            let separator = try stringArgument(args, kwargs, 0, "d", of: "join", line: line) ?? ""
            var items = try list()
            if let attribute = try stringArgument(args, kwargs, 1, "attribute", of: "join", line: line) {
                items = items.map { JinjaInterpreter.member($0, attribute) }
            }
            return .string(try joined(items, separator: separator, line: line))
        case "replace":
            return try method("replace", on: .string(JinjaInterpreter.string(v, line: line)), args: args, kwargs: kwargs, line: line)
        case "items":
            guard case .object = v else { throw ChatTemplateError.render(message: "items needs a mapping", line: line) }
            return try method("items", on: v, args: [], kwargs: [], line: line)
        case "tojson":
            var indent: Int?
            if case let .int(i)? = argument(args, kwargs, 0, "indent") {
                guard (0...64).contains(i) else { throw ChatTemplateError.render(message: "tojson indent must be between 0 and 64", line: line) }
                indent = i
            }
            var out = ""
            try json(v, indent: indent, level: 0, into: &out, line: line)
            return .string(out)
        case "selectattr", "rejectattr":
            guard case let .string(attribute)? = args.first else { throw ChatTemplateError.render(message: "\(name) needs an attribute name", line: line) }
            let keep = name == "selectattr"
            return .array(try list().filter { item in
                let member = JinjaInterpreter.member(item, attribute)
                let passes: Bool
                if args.count >= 2, case let .string(testName) = args[1] {
                    passes = try test(testName, member, args: Array(args.dropFirst(2)), line: line)
                } else {
                    passes = JinjaInterpreter.truthy(member)
                }
                return passes == keep
            })
        case "select", "reject":
            let keep = name == "select"
            return .array(try list().filter { item in
                let passes: Bool
                if case let .string(testName)? = args.first { passes = try test(testName, item, args: Array(args.dropFirst()), line: line) }
                else { passes = JinjaInterpreter.truthy(item) }
                return passes == keep
            })
        case "map":
            if let attribute = try stringArgument([], kwargs, 0, "attribute", of: "map", line: line) {
                let fallback = kwarg(kwargs, "default")
                return .array(try list().map { item in
                    let m = JinjaInterpreter.member(item, attribute)
                    return m == .undefined ? (fallback ?? .undefined) : m
                })
            }
            guard case let .string(filterName)? = args.first else { throw ChatTemplateError.render(message: "map needs a filter name or attribute=", line: line) }
            return .array(try list().map { try filter(filterName, $0, args: Array(args.dropFirst()), kwargs: [], line: line) })
        case "unique":
            var seen: [JinjaValue] = []
            for item in try list() where !seen.contains(item) { seen.append(item) }
            return .array(seen)
        default:
            throw ChatTemplateError.unsupported(construct: "filter '\(name)'", line: line)
        }
    }

    /// JSON as Python's `json.dumps(value, ensure_ascii=False, indent=indent)` writes it.
    private static func json(_ v: JinjaValue, indent: Int?, level: Int, into out: inout String, line: Int) throws {
        func newline(_ depth: Int) { if let indent { out += "\n" + String(repeating: " ", count: indent * depth) } }
        switch v {
        case .none, .undefined: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .int(i): out += String(i)
        case let .double(d): out += JinjaInterpreter.repr(.double(d))
        case let .string(s):
            out += "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "\u{08}": out += "\\b"
                case "\u{0C}": out += "\\f"
                default:
                    if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
                }
            }
            out += "\""
        case let .array(items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += indent == nil ? ", " : "," }
                newline(level + 1)
                try json(item, indent: indent, level: level + 1, into: &out, line: line)
            }
            newline(level)
            out += "]"
        case let .object(members):
            if members.isEmpty { out += "{}"; return }
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += indent == nil ? ", " : "," }
                newline(level + 1)
                try json(.string(key), indent: indent, level: level + 1, into: &out, line: line)
                out += ": "
                try json(value, indent: indent, level: level + 1, into: &out, line: line)
            }
            newline(level)
            out += "}"
        case .namespace: throw ChatTemplateError.render(message: "a namespace() cannot be written as JSON", line: line)
        }
    }

    // MARK: Tests

    static func test(_ name: String, _ v: JinjaValue, args: [JinjaValue], line: Int) throws -> Bool {
        switch name {
        case "defined": return v != .undefined
        case "undefined": return v == .undefined
        case "none": return v == .none
        case "string": if case .string = v { return true } else { return false }
        case "number": switch v { case .int, .double: return true; default: return false }
        case "integer": if case .int = v { return true } else { return false }
        case "float": if case .double = v { return true } else { return false }
        case "boolean": if case .bool = v { return true } else { return false }
        case "true": return v == .bool(true)
        case "false": return v == .bool(false)
        case "mapping": switch v { case .object, .namespace: return true; default: return false }
        case "sequence", "iterable": switch v { case .array, .string, .object: return true; default: return false }
        case "odd", "even":
            guard case let .int(i) = v else { throw ChatTemplateError.render(message: "'\(name)' needs an integer", line: line) }
            return (i % 2 != 0) == (name == "odd")
        case "divisibleby":
            guard case let .int(i) = v, case let .int(d)? = args.first, d != 0 else {
                throw ChatTemplateError.render(message: "'divisibleby' needs integers", line: line)
            }
            return i.remainderReportingOverflow(dividingBy: d).partialValue == 0
        case "equalto", "eq", "==", "sameas": return args.first.map { v == $0 } ?? false
        case "ne", "!=": return args.first.map { v != $0 } ?? true
        case "lt", "<", "le", "<=", "gt", ">", "ge", ">=":
            guard let other = args.first else { throw ChatTemplateError.render(message: "'\(name)' needs a value", line: line) }
            let op = ["lt": "<", "le": "<=", "gt": ">", "ge": ">="][name] ?? name
            return JinjaInterpreter.truthy(try JinjaInterpreter.binary(op, v, other, line: line))
        case "in":
            guard let other = args.first else { throw ChatTemplateError.render(message: "'in' needs a container", line: line) }
            return JinjaInterpreter.truthy(try JinjaInterpreter.binary("in", v, other, line: line))
        default:
            throw ChatTemplateError.unsupported(construct: "test 'is \(name)'", line: line)
        }
    }
}
