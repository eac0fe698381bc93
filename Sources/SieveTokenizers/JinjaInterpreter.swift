import Foundation

/// Runs parsed template nodes against variables, with Python's semantics for the values.
struct JinjaInterpreter {
    private var scopes: [[String: JinjaValue]]
    private var output = ""
    private let budget = Budget()

    /// Limits that keep a hostile template from hanging Sieve or exhausting memory: the work done (statements,
    /// loop iterations, evaluations, and the size of every list and string produced), the size of the output
    /// and of any string or list value, and the nesting depth of values.
    enum Limits {
        static let work = 400_000
        static let output = 4 << 20
        static let string = 1 << 20
        static let items = 1 << 20
        static let valueDepth = 32
    }

    /// Work done so far (a class so that evaluation, which does not mutate the interpreter, can count).
    final class Budget {
        var used = 0
        func charge(_ units: Int, line: Int) throws {
            used += units
            if used > Limits.work {
                throw ChatTemplateError.render(message: "rendering needs more than \(Limits.work) steps; the template loops too long", line: line)
            }
        }
    }

    /// `{% break %}` and `{% continue %}` unwind to the enclosing loop as these.
    private enum LoopControl: Error {
        case breakLoop
        case continueLoop
    }

    init(globals: [String: JinjaValue]) {
        scopes = [globals]
    }

    /// Renders `nodes`.
    mutating func run(_ nodes: [JinjaNode]) throws -> String {
        output = ""
        do {
            try execute(nodes)
        } catch LoopControl.breakLoop {
            throw ChatTemplateError.syntax(message: "{% break %} outside a loop", line: 0)
        } catch LoopControl.continueLoop {
            throw ChatTemplateError.syntax(message: "{% continue %} outside a loop", line: 0)
        }
        return output
    }

    private mutating func append(_ text: String, line: Int) throws {
        output += text
        guard output.utf8.count <= Limits.output else {
            throw ChatTemplateError.render(message: "the rendered text exceeds \(Limits.output) bytes", line: line)
        }
    }

    private mutating func execute(_ nodes: [JinjaNode]) throws {
        for node in nodes {
            try budget.charge(1, line: 0)
            switch node {
            case let .text(s): try append(s, line: 0)
            case let .output(e, line): try append(Self.string(evaluate(e, line: line), line: line), line: line)
            case let .ifBlock(branches, otherwise, line):
                var taken = false
                for (condition, body) in branches {
                    guard try Self.truthy(evaluate(condition, line: line)) else { continue }
                    try execute(body)
                    taken = true
                    break
                }
                if !taken { try execute(otherwise) }
            case let .forBlock(targets, iterable, filter, body, otherwise, line):
                try runLoop(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise, line: line)
            case let .set(name, attribute, value, line):
                let v = try evaluate(value, line: line)
                if let attribute {
                    guard case let .namespace(ns)? = lookup(name) else {
                        throw ChatTemplateError.render(message: "cannot set '\(name).\(attribute)': '\(name)' is not a namespace()", line: line)
                    }
                    if let i = ns.attributes.firstIndex(where: { $0.0 == attribute }) { ns.attributes[i].1 = v }
                    else { ns.attributes.append((attribute, v)) }
                } else {
                    scopes[scopes.count - 1][name] = v
                }
            case let .setTuple(names, value, line):
                let items = try Self.iterate(evaluate(value, line: line), line: line)
                guard items.count == names.count else {
                    throw ChatTemplateError.render(message: "cannot unpack \(items.count) values into \(names.count) names", line: line)
                }
                for (n, v) in zip(names, items) { scopes[scopes.count - 1][n] = v }
            case .breakLoop: throw LoopControl.breakLoop
            case .continueLoop: throw LoopControl.continueLoop
            }
        }
    }

    private mutating func runLoop(targets: [String], iterable: JinjaExpr, filter: JinjaExpr?, body: [JinjaNode],
                                  otherwise: [JinjaNode], line: Int) throws {
        let source = try evaluate(iterable, line: line)
        var items = try Self.iterate(source, line: line)
        func bind(_ item: JinjaValue) throws -> [String: JinjaValue] {
            if targets.count == 1 { return [targets[0]: item] }
            let parts = try Self.iterate(item, line: line)
            guard parts.count == targets.count else {
                throw ChatTemplateError.render(message: "cannot unpack \(parts.count) values into \(targets.count) loop variables", line: line)
            }
            return Dictionary(uniqueKeysWithValues: zip(targets, parts))
        }
        if let filter {
            var kept: [JinjaValue] = []
            for item in items {
                scopes.append(try bind(item))
                defer { scopes.removeLast() }
                if try Self.truthy(evaluate(filter, line: line)) { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            try execute(otherwise)
            return
        }
        for (i, item) in items.enumerated() {
            try budget.charge(1, line: line)
            var scope = try bind(item)
            scope["loop"] = .object([
                ("index", .int(i + 1)), ("index0", .int(i)), ("first", .bool(i == 0)), ("last", .bool(i == items.count - 1)),
                ("length", .int(items.count)), ("revindex", .int(items.count - i)), ("revindex0", .int(items.count - i - 1)),
                ("previtem", i > 0 ? items[i - 1] : .undefined), ("nextitem", i + 1 < items.count ? items[i + 1] : .undefined),
            ])
            scopes.append(scope)
            defer { scopes.removeLast() }
            do {
                try execute(body)
            } catch LoopControl.breakLoop {
                break
            } catch LoopControl.continueLoop {
                continue
            }
        }
    }

    private func lookup(_ name: String) -> JinjaValue? {
        for scope in scopes.reversed() { if let v = scope[name] { return v } }
        return nil
    }

    // MARK: Expressions

    /// Evaluates `e`, charging the work and checking the size of what it produced.
    private func evaluate(_ e: JinjaExpr, line: Int) throws -> JinjaValue {
        let value = try evaluateUnchecked(e, line: line)
        switch value {
        case let .string(s):
            guard s.utf8.count <= Limits.string else {
                throw ChatTemplateError.render(message: "a string value exceeds \(Limits.string) bytes", line: line)
            }
            try budget.charge(1 + s.utf8.count >> 5, line: line)
        case let .array(a):
            guard a.count <= Limits.items else {
                throw ChatTemplateError.render(message: "a list exceeds \(Limits.items) items", line: line)
            }
            try budget.charge(1 + a.count, line: line)
        case let .object(o): try budget.charge(1 + o.count, line: line)
        default: try budget.charge(1, line: line)
        }
        return value
    }

    private func evaluateUnchecked(_ e: JinjaExpr, line: Int) throws -> JinjaValue {
        switch e {
        case let .literal(v): return v
        case let .name(n): return lookup(n) ?? .undefined
        case let .list(items): return .array(try items.map { try Self.shallow(evaluate($0, line: line), line: line) })
        case let .dict(pairs):
            return .object(try pairs.map { pair in
                guard case let .string(k) = try evaluate(pair.0, line: line) else {
                    throw ChatTemplateError.unsupported(construct: "a dictionary key that is not a string", line: line)
                }
                return (k, try Self.shallow(evaluate(pair.1, line: line), line: line))
            })
        case let .attribute(target, name): return Self.member(try evaluate(target, line: line), name)
        case let .index(target, index): return try Self.subscriptValue(evaluate(target, line: line), evaluate(index, line: line), line: line)
        case let .slice(target, start, stop, step):
            func optionalInt(_ x: JinjaExpr?) throws -> Int? {
                guard let x else { return nil }
                switch try evaluate(x, line: line) {
                case let .int(i): return i
                case .none: return nil
                default: throw ChatTemplateError.render(message: "slice bounds must be integers", line: line)
                }
            }
            return try Self.slice(evaluate(target, line: line), optionalInt(start), optionalInt(stop), optionalInt(step), line: line)
        case let .call(callee, args, kwargs):
            let a = try args.map { try evaluate($0, line: line) }
            let k = try kwargs.map { ($0.0, try evaluate($0.1, line: line)) }
            if case let .attribute(target, method) = callee {
                return try JinjaBuiltins.method(method, on: evaluate(target, line: line), args: a, kwargs: k, line: line)
            }
            guard case let .name(function) = callee else {
                throw ChatTemplateError.unsupported(construct: "calling an expression that is not a function name", line: line)
            }
            return try JinjaBuiltins.function(function, args: a, kwargs: k, line: line)
        case let .filter(target, name, args, kwargs):
            let value = try evaluate(target, line: line)
            let a = try args.map { try evaluate($0, line: line) }
            let k = try kwargs.map { ($0.0, try evaluate($0.1, line: line)) }
            return try JinjaBuiltins.filter(name, value, args: a, kwargs: k, line: line)
        case let .test(target, name, args, negated):
            let value = try evaluate(target, line: line)
            let a = try args.map { try evaluate($0, line: line) }
            let result = try JinjaBuiltins.test(name, value, args: a, line: line)
            return .bool(negated ? !result : result)
        case let .not(x): return .bool(!Self.truthy(try evaluate(x, line: line)))
        case let .negate(x):
            switch try evaluate(x, line: line) {
            case let .int(i):
                guard i != .min else { throw ChatTemplateError.render(message: "integer overflow in unary '-'", line: line) }
                return .int(-i)
            case let .double(d): return .double(-d)
            default: throw ChatTemplateError.render(message: "unary '-' needs a number", line: line)
            }
        case let .and(a, b):
            let left = try evaluate(a, line: line)
            return Self.truthy(left) ? try evaluate(b, line: line) : left
        case let .or(a, b):
            let left = try evaluate(a, line: line)
            return Self.truthy(left) ? left : try evaluate(b, line: line)
        case let .conditional(then, condition, otherwise):
            if Self.truthy(try evaluate(condition, line: line)) { return try evaluate(then, line: line) }
            return try otherwise.map { try evaluate($0, line: line) } ?? .undefined
        case let .binary(op, a, b):
            return try Self.binary(op, evaluate(a, line: line), evaluate(b, line: line), line: line)
        }
    }

    // MARK: Value semantics

    /// `v` if its nesting is at most `Limits.valueDepth` deep (lists and mappings inside each other).
    static func shallow(_ v: JinjaValue, line: Int) throws -> JinjaValue {
        func exceeds(_ v: JinjaValue, _ depth: Int) -> Bool {
            switch v {
            case let .array(a): return depth >= Limits.valueDepth || a.contains { exceeds($0, depth + 1) }
            case let .object(o): return depth >= Limits.valueDepth || o.contains { exceeds($0.1, depth + 1) }
            default: return false
            }
        }
        if exceeds(v, 1) {
            throw ChatTemplateError.render(message: "a value is nested more than \(Limits.valueDepth) deep", line: line)
        }
        return v
    }

    /// Throws unless a result of `count` bytes (strings) or items (lists) is within the limits.
    static func checkSize(_ count: Int, overflow: Bool = false, items: Bool = false, line: Int) throws {
        let limit = items ? Limits.items : Limits.string
        guard !overflow, count <= limit else {
            throw ChatTemplateError.render(message: "the result would exceed \(limit) \(items ? "items" : "bytes")", line: line)
        }
    }

    /// Python truthiness.
    static func truthy(_ v: JinjaValue) -> Bool {
        switch v {
        case .undefined, .none: return false
        case let .bool(b): return b
        case let .int(i): return i != 0
        case let .double(d): return d != 0
        case let .string(s): return !s.isEmpty
        case let .array(a): return !a.isEmpty
        case let .object(o): return !o.isEmpty
        case .namespace: return true
        }
    }

    /// Python `str()` of a value, as `{{ }}` prints it.
    static func string(_ v: JinjaValue, line: Int) throws -> String {
        switch v {
        case .undefined: return ""
        case let .string(s): return s
        default: return repr(v, top: true)
        }
    }

    /// Python `repr()` (or `str()` at the top level for strings).
    static func repr(_ v: JinjaValue, top: Bool = false) -> String {
        switch v {
        case .undefined: return ""
        case .none: return "None"
        case let .bool(b): return b ? "True" : "False"
        case let .int(i): return String(i)
        case let .double(d):
            if d.rounded() == d && abs(d) < 1e16 { return String(format: "%.1f", d) }
            return String(d)
        case let .string(s):
            if top { return s }
            let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
            var out = String(quote)
            for c in s {
                switch c {
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\t": out += "\\t"
                case "\r": out += "\\r"
                case quote: out += "\\" + String(quote)
                default: out.append(c)
                }
            }
            return out + String(quote)
        case let .array(a): return "[" + a.map { repr($0) }.joined(separator: ", ") + "]"
        case let .object(o): return "{" + o.map { repr(.string($0.0)) + ": " + repr($0.1) }.joined(separator: ", ") + "}"
        case .namespace: return "<Namespace>"
        }
    }

    /// The items a `for` loop visits: list items, mapping keys, string characters; nothing for undefined.
    static func iterate(_ v: JinjaValue, line: Int) throws -> [JinjaValue] {
        switch v {
        case .undefined: return []
        case let .array(a): return a
        case let .object(o): return o.map { .string($0.0) }
        case let .string(s): return s.map { .string(String($0)) }
        default: throw ChatTemplateError.render(message: "cannot iterate over \(typeName(v))", line: line)
        }
    }

    static func typeName(_ v: JinjaValue) -> String {
        switch v {
        case .undefined: return "an undefined value"
        case .none: return "none"
        case .bool: return "a boolean"
        case .int: return "an integer"
        case .double: return "a float"
        case .string: return "a string"
        case .array: return "a list"
        case .object: return "a mapping"
        case .namespace: return "a namespace"
        }
    }

    /// `value.name`: a mapping's or namespace's member; undefined otherwise.
    static func member(_ v: JinjaValue, _ name: String) -> JinjaValue {
        switch v {
        case let .object(o): return o.first(where: { $0.0 == name })?.1 ?? .undefined
        case let .namespace(ns): return ns.attributes.first(where: { $0.0 == name })?.1 ?? .undefined
        default: return .undefined
        }
    }

    static func subscriptValue(_ v: JinjaValue, _ i: JinjaValue, line: Int) throws -> JinjaValue {
        switch (v, i) {
        case let (.array(a), .int(k)):
            let j = k < 0 ? a.count + k : k
            return j >= 0 && j < a.count ? a[j] : .undefined
        case let (.string(s), .int(k)):
            let chars = Array(s)
            let j = k < 0 ? chars.count + k : k
            return j >= 0 && j < chars.count ? .string(String(chars[j])) : .undefined
        case let (.object, .string(key)), let (.namespace, .string(key)): return member(v, key)
        case (.undefined, _): return .undefined
        default: throw ChatTemplateError.render(message: "cannot subscript \(typeName(v)) with \(typeName(i))", line: line)
        }
    }

    static func slice(_ v: JinjaValue, _ start: Int?, _ stop: Int?, _ step: Int?, line: Int) throws -> JinjaValue {
        let step = step ?? 1
        guard step != 0 else { throw ChatTemplateError.render(message: "slice step cannot be zero", line: line) }
        func indices(_ n: Int) -> [Int] {
            func clamp(_ x: Int?, _ dflt: Int, low: Int, high: Int) -> Int {
                guard var x else { return dflt }
                if x < 0 { x += n }
                return min(max(x, low), high)
            }
            if step > 0 {
                let a = clamp(start, 0, low: 0, high: n), b = clamp(stop, n, low: 0, high: n)
                return a < b ? Array(stride(from: a, to: b, by: step)) : []
            }
            let a = clamp(start, n - 1, low: -1, high: n - 1), b = clamp(stop, -1, low: -1, high: n - 1)
            return a > b ? Array(stride(from: a, to: b, by: step)) : []
        }
        switch v {
        case let .array(a): return .array(indices(a.count).map { a[$0] })
        case let .string(s):
            let chars = Array(s)
            return .string(String(indices(chars.count).map { chars[$0] }))
        default: throw ChatTemplateError.render(message: "cannot slice \(typeName(v))", line: line)
        }
    }

    static func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue, line: Int) throws -> JinjaValue {
        func checked(_ result: (partialValue: Int, overflow: Bool)) throws -> Int {
            guard !result.overflow else { throw ChatTemplateError.render(message: "integer overflow in '\(op)'", line: line) }
            return result.partialValue
        }
        func fail() -> ChatTemplateError {
            ChatTemplateError.render(message: "unsupported operand types for \(op): \(typeName(a)) and \(typeName(b))", line: line)
        }
        func number(_ v: JinjaValue) -> Double? {
            switch v {
            case let .int(i): return Double(i)
            case let .double(d): return d
            case let .bool(b): return b ? 1 : 0
            default: return nil
            }
        }
        switch op {
        case "==": return .bool(a == b)
        case "!=": return .bool(a != b)
        case "~":
            let x = try string(a, line: line), y = try string(b, line: line)
            try checkSize(x.utf8.count + y.utf8.count, line: line)
            return .string(x + y)
        case "in", "not in":
            let found: Bool
            switch b {
            case let .string(s):
                guard case let .string(needle) = a else { throw fail() }
                found = s.contains(needle)
            case let .array(items): found = items.contains(a)
            case let .object(o):
                guard case let .string(key) = a else { found = false; break }
                found = o.contains { $0.0 == key }
            case .undefined: found = false
            default: throw fail()
            }
            return .bool(op == "in" ? found : !found)
        case "<", "<=", ">", ">=":
            let order: Int
            if case let .string(x) = a, case let .string(y) = b { order = x < y ? -1 : (x == y ? 0 : 1) }
            else if let x = number(a), let y = number(b) { order = x < y ? -1 : (x == y ? 0 : 1) }
            else { throw fail() }
            switch op {
            case "<": return .bool(order < 0)
            case "<=": return .bool(order <= 0)
            case ">": return .bool(order > 0)
            default: return .bool(order >= 0)
            }
        case "+":
            switch (a, b) {
            case let (.string(x), .string(y)):
                try checkSize(x.utf8.count + y.utf8.count, line: line)
                return .string(x + y)
            case let (.array(x), .array(y)):
                try checkSize(x.count + y.count, items: true, line: line)
                return .array(x + y)
            case let (.int(x), .int(y)): return .int(try checked(x.addingReportingOverflow(y)))
            default:
                guard let x = number(a), let y = number(b) else { throw fail() }
                return .double(x + y)
            }
        case "-", "*", "/", "//", "%", "**":
            if op == "*", case let .string(s) = a, case let .int(n) = b {
                let (size, overflow) = s.utf8.count.multipliedReportingOverflow(by: max(0, n))
                try checkSize(size, overflow: overflow, line: line)
                // An empty string repeated is empty at once (String(repeating:) would still loop n times).
                return .string(s.isEmpty ? "" : String(repeating: s, count: max(0, n)))
            }
            if case let .int(x) = a, case let .int(y) = b {
                switch op {
                case "-": return .int(try checked(x.subtractingReportingOverflow(y)))
                case "*": return .int(try checked(x.multipliedReportingOverflow(by: y)))
                case "//", "%":
                    guard y != 0 else { throw ChatTemplateError.render(message: "division by zero", line: line) }
                    // Python's floor division and modulo (the remainder takes the divisor's sign).
                    let (q, overflow) = x.dividedReportingOverflow(by: y)
                    guard !overflow else { throw ChatTemplateError.render(message: "integer overflow in '\(op)'", line: line) }
                    // |r| < |y| and q - 1 cannot underflow when r != 0, so neither adjustment overflows.
                    let r = x.remainderReportingOverflow(dividingBy: y).partialValue
                    let adjust = r != 0 && (r < 0) != (y < 0)
                    return .int(op == "//" ? (adjust ? q - 1 : q) : (adjust ? r + y : r))
                case "**" where y >= 0:
                    let p = pow(Double(x), Double(y))
                    guard p.magnitude < 9.2e18 else { throw ChatTemplateError.render(message: "integer overflow in '**'", line: line) }
                    return .int(Int(p))
                default: break
                }
            }
            guard let x = number(a), let y = number(b) else { throw fail() }
            switch op {
            case "-": return .double(x - y)
            case "*": return .double(x * y)
            case "/":
                guard y != 0 else { throw ChatTemplateError.render(message: "division by zero", line: line) }
                return .double(x / y)
            case "//": return .double((x / y).rounded(.down))
            case "%": return .double(x - (x / y).rounded(.down) * y)
            default: return .double(pow(x, y))
            }
        default:
            throw ChatTemplateError.unsupported(construct: "operator '\(op)'", line: line)
        }
    }
}
