import Foundation

/// A parsed expression of a chat template.
indirect enum JinjaExpr: Sendable {
    case literal(JinjaValue)
    case name(String)
    case list([JinjaExpr])
    case dict([(JinjaExpr, JinjaExpr)])
    case attribute(JinjaExpr, String)
    case index(JinjaExpr, JinjaExpr)
    case slice(JinjaExpr, JinjaExpr?, JinjaExpr?, JinjaExpr?)
    case call(JinjaExpr, [JinjaExpr], [(String, JinjaExpr)])
    case filter(JinjaExpr, String, [JinjaExpr], [(String, JinjaExpr)])
    case test(JinjaExpr, String, [JinjaExpr], negated: Bool)
    case not(JinjaExpr)
    case negate(JinjaExpr)
    case binary(String, JinjaExpr, JinjaExpr)
    case and(JinjaExpr, JinjaExpr)
    case or(JinjaExpr, JinjaExpr)
    case conditional(then: JinjaExpr, condition: JinjaExpr, otherwise: JinjaExpr?)
}

/// A parsed statement of a chat template; `line` is where it starts, for error messages.
indirect enum JinjaNode: Sendable {
    case text(String)
    case output(JinjaExpr, line: Int)
    case ifBlock([(JinjaExpr, [JinjaNode])], otherwise: [JinjaNode], line: Int)
    case forBlock(targets: [String], iterable: JinjaExpr, filter: JinjaExpr?, body: [JinjaNode], otherwise: [JinjaNode], line: Int)
    case set(name: String, attribute: String?, value: JinjaExpr, line: Int)
    case setTuple(names: [String], value: JinjaExpr, line: Int)
    case breakLoop(line: Int)
    case continueLoop(line: Int)
}

/// Turns template text into nodes: splits it into text and tags (applying `trim_blocks`, `lstrip_blocks` and
/// `-` whitespace control), then parses the statements and expressions.
struct JinjaParser {
    private enum Segment {
        case text(String)
        case output(String, line: Int)
        case statement(String, line: Int)
    }

    private var segments: [Segment] = []
    private var position = 0
    private var blockDepth = 0
    /// The deepest nesting of blocks (`if`, `for`, `generation`) accepted.
    static let maxBlockDepth = 64

    init(_ source: String) throws {
        segments = try Self.segment(source)
    }

    // MARK: Segmenting

    private static func segment(_ source: String) throws -> [Segment] {
        let chars = Array(source.unicodeScalars)
        var out: [Segment] = []
        var text = String.UnicodeScalarView()
        var line = 1
        var i = 0
        /// Whether the previous tag asked for the whitespace after it to go (`-%}`), or was a block (trim_blocks).
        var trimNext: (all: Bool, newline: Bool) = (false, false)
        var anyTag = false
        /// Ends the text before a tag: `-` before the tag strips all trailing whitespace; `lstrip` (a block tag
        /// at the start of a line) strips the spaces and tabs before it; then the previous tag's trimming.
        func flushText(strippingTrailing all: Bool, lstrip: Bool) {
            var s = String(text)
            text = String.UnicodeScalarView()
            if all {
                while let last = s.last, last.isWhitespace { s.removeLast() }
            } else if lstrip {
                var k = s.endIndex
                while k > s.startIndex, s[s.index(before: k)] == " " || s[s.index(before: k)] == "\t" { k = s.index(before: k) }
                let atLineStart = k == s.startIndex ? !anyTag : s[s.index(before: k)].isNewline
                if atLineStart { s = String(s[..<k]) }
            }
            if trimNext.all {
                s = String(s.drop(while: { $0.isWhitespace }))
            } else if trimNext.newline {
                if s.first == "\n" || s.first == "\r\n" { s.removeFirst() }
            }
            if !s.isEmpty { out.append(.text(s)) }
        }
        while i < chars.count {
            let c = chars[i]
            if c == "{", i + 1 < chars.count, chars[i + 1] == "{" || chars[i + 1] == "%" || chars[i + 1] == "#" {
                let kind = chars[i + 1]
                let close: Unicode.Scalar = kind == "{" ? "}" : kind == "%" ? "%" : "#"
                var j = i + 2
                var stripBefore = false
                var keepBefore = false
                if j < chars.count && chars[j] == "-" { stripBefore = true; j += 1 }
                else if j < chars.count && chars[j] == "+" { keepBefore = true; j += 1 }
                let tagLine = line
                // Find the closing delimiter (outside string literals for expressions and statements).
                var k = j
                var quote: Unicode.Scalar?
                while k + 1 < chars.count {
                    let ch = chars[k]
                    if kind != "#" {
                        if let q = quote {
                            if ch == "\\" { k += 2; continue }
                            if ch == q { quote = nil }
                        } else if ch == "'" || ch == "\"" { quote = ch }
                    }
                    if quote == nil && ch == close && chars[k + 1] == "}" { break }
                    k += 1
                }
                guard k + 1 < chars.count else {
                    throw ChatTemplateError.syntax(message: "unclosed '{\(kind)' tag", line: tagLine)
                }
                var contentEnd = k
                var stripAfter = false
                if contentEnd > j && chars[contentEnd - 1] == "-" { stripAfter = true; contentEnd -= 1 }
                else if contentEnd > j && chars[contentEnd - 1] == "+" { contentEnd -= 1 }
                let content = String(String.UnicodeScalarView(chars[j..<max(j, contentEnd)]))
                let isBlock = kind != "{"
                flushText(strippingTrailing: stripBefore, lstrip: isBlock && !keepBefore)
                for s in chars[i...(k + 1)] where s == "\n" { line += 1 }
                if kind == "{" { out.append(.output(content, line: tagLine)) }
                else if kind == "%" { out.append(.statement(content, line: tagLine)) }
                trimNext = (stripAfter, isBlock)
                anyTag = true
                i = k + 2
                continue
            }
            if c == "\n" { line += 1 }
            text.append(c)
            i += 1
        }
        flushText(strippingTrailing: false, lstrip: false)
        return out
    }

    // MARK: Statements

    /// Parses the whole template.
    mutating func parseTemplate() throws -> [JinjaNode] {
        let (nodes, end) = try parseBody(until: [])
        if let end { throw ChatTemplateError.syntax(message: "unexpected {% \(end.keyword) %}", line: end.line) }
        return nodes
    }

    /// Parses nodes until one of the `until` keywords (returned with its tag's remaining text) or the end.
    private mutating func parseBody(until: Set<String>) throws -> ([JinjaNode], (keyword: String, rest: String, line: Int)?) {
        blockDepth += 1
        defer { blockDepth -= 1 }
        guard blockDepth <= Self.maxBlockDepth + 1 else {
            throw ChatTemplateError.unsupported(construct: "blocks nested more than \(Self.maxBlockDepth) deep", line: 0)
        }
        var nodes: [JinjaNode] = []
        while position < segments.count {
            let segment = segments[position]
            position += 1
            switch segment {
            case let .text(s): nodes.append(.text(s))
            case let .output(source, line):
                var lexer = try JinjaExpressionParser(source, line: line)
                nodes.append(.output(try lexer.parseWhole(), line: line))
            case let .statement(source, line):
                let trimmed = source.trimmingCharacters(in: .whitespacesAndNewlines)
                let keyword = String(trimmed.prefix(while: { $0.isLetter || $0 == "_" }))
                let rest = String(trimmed.dropFirst(keyword.count))
                if until.contains(keyword) { return (nodes, (keyword, rest, line)) }
                switch keyword {
                case "if": nodes.append(try parseIf(rest, line: line))
                case "for": nodes.append(try parseFor(rest, line: line))
                case "set": nodes.append(try parseSet(rest, line: line))
                case "break": nodes.append(.breakLoop(line: line))
                case "continue": nodes.append(.continueLoop(line: line))
                case "generation":
                    let (body, end) = try parseBody(until: ["endgeneration"])
                    guard end != nil else { throw ChatTemplateError.syntax(message: "{% generation %} without {% endgeneration %}", line: line) }
                    nodes += body
                case "elif", "else", "endif", "endfor", "endset", "endgeneration":
                    throw ChatTemplateError.syntax(message: "unexpected {% \(keyword) %}", line: line)
                case "":
                    throw ChatTemplateError.syntax(message: "empty or malformed {% %} tag", line: line)
                default:
                    throw ChatTemplateError.unsupported(construct: "{% \(keyword) %}", line: line)
                }
            }
        }
        return (nodes, nil)
    }

    private mutating func parseIf(_ condition: String, line: Int) throws -> JinjaNode {
        var branches: [(JinjaExpr, [JinjaNode])] = []
        var conditionParser = try JinjaExpressionParser(condition, line: line)
        var currentCondition = try conditionParser.parseWhole()
        var otherwise: [JinjaNode] = []
        while true {
            let (body, end) = try parseBody(until: ["elif", "else", "endif"])
            guard let end else { throw ChatTemplateError.syntax(message: "{% if %} without {% endif %}", line: line) }
            branches.append((currentCondition, body))
            switch end.keyword {
            case "elif":
                var elifParser = try JinjaExpressionParser(end.rest, line: end.line)
                currentCondition = try elifParser.parseWhole()
            case "else":
                let (elseBody, close) = try parseBody(until: ["endif"])
                guard close != nil else { throw ChatTemplateError.syntax(message: "{% else %} without {% endif %}", line: end.line) }
                otherwise = elseBody
                return .ifBlock(branches, otherwise: otherwise, line: line)
            default:
                return .ifBlock(branches, otherwise: otherwise, line: line)
            }
        }
    }

    private mutating func parseFor(_ header: String, line: Int) throws -> JinjaNode {
        var parser = try JinjaExpressionParser(header, line: line)
        var targets = [try parser.expectName()]
        while parser.accept(",") { targets.append(try parser.expectName()) }
        guard parser.acceptKeyword("in") else { throw ChatTemplateError.syntax(message: "expected 'in' in {% for %}", line: line) }
        let iterable = try parser.parseExpression(allowConditional: false)
        var filter: JinjaExpr?
        if parser.acceptKeyword("if") { filter = try parser.parseExpression(allowConditional: false) }
        if parser.acceptKeyword("recursive") { throw ChatTemplateError.unsupported(construct: "recursive for loops", line: line) }
        try parser.expectEnd()
        let (body, end) = try parseBody(until: ["else", "endfor"])
        guard let end else { throw ChatTemplateError.syntax(message: "{% for %} without {% endfor %}", line: line) }
        var otherwise: [JinjaNode] = []
        if end.keyword == "else" {
            let (elseBody, close) = try parseBody(until: ["endfor"])
            guard close != nil else { throw ChatTemplateError.syntax(message: "{% else %} without {% endfor %}", line: end.line) }
            otherwise = elseBody
        }
        return .forBlock(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise, line: line)
    }

    private mutating func parseSet(_ statement: String, line: Int) throws -> JinjaNode {
        var parser = try JinjaExpressionParser(statement, line: line)
        let name = try parser.expectName()
        if parser.accept(".") {
            let attribute = try parser.expectName()
            guard parser.accept("=") else { throw ChatTemplateError.syntax(message: "expected '=' in {% set %}", line: line) }
            let value = try parser.parseWhole()
            return .set(name: name, attribute: attribute, value: value, line: line)
        }
        if parser.accept(",") {
            var names = [name, try parser.expectName()]
            while parser.accept(",") { names.append(try parser.expectName()) }
            guard parser.accept("=") else { throw ChatTemplateError.syntax(message: "expected '=' in {% set %}", line: line) }
            return .setTuple(names: names, value: try parser.parseWhole(), line: line)
        }
        guard parser.accept("=") else { throw ChatTemplateError.unsupported(construct: "block {% set %} … {% endset %}", line: line) }
        return .set(name: name, attribute: nil, value: try parser.parseWhole(), line: line)
    }
}

/// Tokenizes and parses one expression, with Jinja's operator precedence.
struct JinjaExpressionParser {
    private enum Token: Equatable {
        case name(String)
        case string(String)
        case int(Int)
        case double(Double)
        case op(String)
    }

    private var tokens: [Token] = []
    private var index = 0
    private let line: Int
    private var depth = 0
    /// The deepest expression accepted (nested parentheses, operators, chains of binary operators), so that
    /// parsing and evaluating stay well inside the stack.
    static let maxDepth = 100

    init(_ source: String, line: Int) throws {
        self.line = line
        let s = Array(source.unicodeScalars)
        var i = 0
        let twoCharOps: Set<String> = ["==", "!=", "<=", ">=", "//", "**"]
        while i < s.count {
            let c = s[i]
            if c.properties.isWhitespace { i += 1; continue }
            if c == "_" || c.properties.isAlphabetic {
                var j = i
                while j < s.count, s[j] == "_" || s[j].properties.isAlphabetic || ("0"..."9").contains(s[j]) { j += 1 }
                tokens.append(.name(String(String.UnicodeScalarView(s[i..<j]))))
                i = j
            } else if ("0"..."9").contains(c) {
                var j = i
                var isDouble = false
                while j < s.count, ("0"..."9").contains(s[j]) || (s[j] == "." && !isDouble && j + 1 < s.count && ("0"..."9").contains(s[j + 1])) {
                    if s[j] == "." { isDouble = true }
                    j += 1
                }
                let text = String(String.UnicodeScalarView(s[i..<j]))
                tokens.append(isDouble ? .double(Double(text) ?? 0) : .int(Int(text) ?? 0))
                i = j
            } else if c == "'" || c == "\"" {
                var j = i + 1
                var value = String.UnicodeScalarView()
                while j < s.count && s[j] != c {
                    if s[j] == "\\", j + 1 < s.count {
                        j += 1
                        switch s[j] {
                        case "n": value.append("\n")
                        case "t": value.append("\t")
                        case "r": value.append("\r")
                        case "\\": value.append("\\")
                        case "'": value.append("'")
                        case "\"": value.append("\"")
                        default: value.append("\\"); value.append(s[j])
                        }
                    } else {
                        value.append(s[j])
                    }
                    j += 1
                }
                guard j < s.count else { throw ChatTemplateError.syntax(message: "unterminated string literal", line: line) }
                tokens.append(.string(String(value)))
                i = j + 1
            } else {
                let two = i + 1 < s.count ? String(String.UnicodeScalarView([c, s[i + 1]])) : ""
                if twoCharOps.contains(two) {
                    tokens.append(.op(two)); i += 2
                } else if "()[]{},.:|~+-*/%<>=".unicodeScalars.contains(c) {
                    tokens.append(.op(String(c))); i += 1
                } else {
                    throw ChatTemplateError.syntax(message: "unexpected character '\(c)'", line: line)
                }
            }
            if tokens.count > Self.maxTokens {
                throw ChatTemplateError.unsupported(construct: "a tag of more than \(Self.maxTokens) tokens", line: line)
            }
        }
    }

    /// The most tokens one tag may hold (real templates use a few dozen).
    static let maxTokens = 2000

    // MARK: Token helpers

    private var peek: Token? { index < tokens.count ? tokens[index] : nil }

    mutating func accept(_ op: String) -> Bool {
        if peek == .op(op) { index += 1; return true }
        return false
    }

    mutating func acceptKeyword(_ keyword: String) -> Bool {
        if peek == .name(keyword) { index += 1; return true }
        return false
    }

    private mutating func expect(_ op: String) throws {
        guard accept(op) else { throw ChatTemplateError.syntax(message: "expected '\(op)'", line: line) }
    }

    mutating func expectName() throws -> String {
        guard case let .name(n)? = peek else { throw ChatTemplateError.syntax(message: "expected a name", line: line) }
        index += 1
        return n
    }

    mutating func expectEnd() throws {
        guard index == tokens.count else { throw ChatTemplateError.syntax(message: "unexpected '\(describe(tokens[index]))'", line: line) }
    }

    private func describe(_ t: Token) -> String {
        switch t {
        case let .name(n): return n
        case let .string(s): return "'\(s)'"
        case let .int(i): return String(i)
        case let .double(d): return String(d)
        case let .op(o): return o
        }
    }

    /// Parses the whole token list as one expression.
    mutating func parseWhole() throws -> JinjaExpr {
        let e = try parseExpression(allowConditional: true)
        try expectEnd()
        return e
    }

    // MARK: Grammar

    mutating func parseExpression(allowConditional: Bool) throws -> JinjaExpr {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw tooDeep() }
        let e = try parseConditional(allowConditional: allowConditional)
        if depth == 1, e.depthExceeds(Self.maxDepth) { throw tooDeep() }
        return e
    }

    private func tooDeep() -> ChatTemplateError {
        .unsupported(construct: "an expression nested more than \(Self.maxDepth) deep", line: line)
    }

    private mutating func parseConditional(allowConditional: Bool) throws -> JinjaExpr {
        let e = try parseOr()
        if allowConditional && acceptKeyword("if") {
            let condition = try parseOr()
            var otherwise: JinjaExpr?
            if acceptKeyword("else") { otherwise = try parseExpression(allowConditional: true) }
            return .conditional(then: e, condition: condition, otherwise: otherwise)
        }
        return e
    }

    private mutating func parseOr() throws -> JinjaExpr {
        var e = try parseAnd()
        while acceptKeyword("or") { e = .or(e, try parseAnd()) }
        return e
    }

    private mutating func parseAnd() throws -> JinjaExpr {
        var e = try parseNot()
        while acceptKeyword("and") { e = .and(e, try parseNot()) }
        return e
    }

    private mutating func parseNot() throws -> JinjaExpr {
        if acceptKeyword("not") { return .not(try parseNot()) }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> JinjaExpr {
        var e = try parseAdditive()
        while true {
            if case let .op(o)? = peek, ["==", "!=", "<", "<=", ">", ">="].contains(o) {
                index += 1
                e = .binary(o, e, try parseAdditive())
            } else if acceptKeyword("in") {
                e = .binary("in", e, try parseAdditive())
            } else if peek == .name("not"), index + 1 < tokens.count, tokens[index + 1] == .name("in") {
                index += 2
                e = .binary("not in", e, try parseAdditive())
            } else {
                return e
            }
        }
    }

    private mutating func parseAdditive() throws -> JinjaExpr {
        var e = try parseConcat()
        while true {
            if accept("+") { e = .binary("+", e, try parseConcat()) }
            else if accept("-") { e = .binary("-", e, try parseConcat()) }
            else { return e }
        }
    }

    private mutating func parseConcat() throws -> JinjaExpr {
        var e = try parseMultiplicative()
        while accept("~") { e = .binary("~", e, try parseMultiplicative()) }
        return e
    }

    private mutating func parseMultiplicative() throws -> JinjaExpr {
        var e = try parsePower()
        while true {
            if case let .op(o)? = peek, ["*", "/", "//", "%"].contains(o) {
                index += 1
                e = .binary(o, e, try parsePower())
            } else {
                return e
            }
        }
    }

    private mutating func parsePower() throws -> JinjaExpr {
        let e = try parseUnary()
        if accept("**") { return .binary("**", e, try parseUnary()) }
        return e
    }

    private mutating func parseUnary() throws -> JinjaExpr {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw tooDeep() }
        if accept("-") { return .negate(try parseUnary()) }
        if accept("+") { return try parseUnary() }
        var e = try parsePostfix(try parsePrimary())
        // Filters and tests bind tighter than arithmetic.
        while true {
            if accept("|") {
                let name = try expectName()
                var args: [JinjaExpr] = [], kwargs: [(String, JinjaExpr)] = []
                if accept("(") { (args, kwargs) = try parseArguments() }
                e = .filter(e, name, args, kwargs)
            } else if acceptKeyword("is") {
                let negated = acceptKeyword("not")
                var name = try expectNameOrOperatorTest()
                if name == "none" || name == "None" { name = "none" }
                var args: [JinjaExpr] = []
                if accept("(") { args = try parseArguments().0 }
                else if let t = peek, startsPrimary(t) { args = [try parsePostfix(try parsePrimary())] }
                e = .test(e, name, args, negated: negated)
            } else {
                return e
            }
        }
    }

    private mutating func expectNameOrOperatorTest() throws -> String {
        if case let .op(o)? = peek, ["==", "!=", "<", "<=", ">", ">="].contains(o) { index += 1; return o }
        return try expectName()
    }

    private func startsPrimary(_ t: Token) -> Bool {
        switch t {
        case .string, .int, .double: return true
        case let .name(n): return !["and", "or", "not", "in", "is", "if", "else"].contains(n)
        case .op: return false
        }
    }

    private mutating func parsePrimary() throws -> JinjaExpr {
        guard let t = peek else { throw ChatTemplateError.syntax(message: "expected an expression", line: line) }
        index += 1
        switch t {
        case let .string(s):
            var value = s
            while case let .string(more)? = peek { value += more; index += 1 } // adjacent literals concatenate
            return .literal(.string(value))
        case let .int(i): return .literal(.int(i))
        case let .double(d): return .literal(.double(d))
        case let .name(n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .op("("):
            let e = try parseExpression(allowConditional: true)
            if accept(",") {
                var items = [e]
                while !accept(")") {
                    items.append(try parseExpression(allowConditional: true))
                    if !accept(",") { try expect(")"); break }
                }
                return .list(items)
            }
            try expect(")")
            return e
        case .op("["):
            var items: [JinjaExpr] = []
            while !accept("]") {
                items.append(try parseExpression(allowConditional: true))
                if !accept(",") { try expect("]"); break }
            }
            return .list(items)
        case .op("{"):
            var pairs: [(JinjaExpr, JinjaExpr)] = []
            while !accept("}") {
                let key = try parseExpression(allowConditional: true)
                try expect(":")
                pairs.append((key, try parseExpression(allowConditional: true)))
                if !accept(",") { try expect("}"); break }
            }
            return .dict(pairs)
        case let .op(o):
            throw ChatTemplateError.syntax(message: "unexpected '\(o)'", line: line)
        }
    }

    private mutating func parsePostfix(_ base: JinjaExpr) throws -> JinjaExpr {
        var e = base
        while true {
            if accept(".") {
                guard case let .name(n)? = peek else {
                    if case let .int(i)? = peek { index += 1; e = .index(e, .literal(.int(i))); continue }
                    throw ChatTemplateError.syntax(message: "expected an attribute name after '.'", line: line)
                }
                index += 1
                e = .attribute(e, n)
            } else if accept("[") {
                var parts: [JinjaExpr?] = [nil]
                var colons = 0
                while !accept("]") {
                    if accept(":") { colons += 1; parts.append(nil); continue }
                    guard parts[parts.count - 1] == nil else { throw ChatTemplateError.syntax(message: "expected ']'", line: line) }
                    parts[parts.count - 1] = try parseExpression(allowConditional: true)
                }
                if colons == 0 {
                    guard let i = parts[0] else { throw ChatTemplateError.syntax(message: "empty subscript", line: line) }
                    e = .index(e, i)
                } else {
                    guard colons <= 2 else { throw ChatTemplateError.syntax(message: "too many ':' in a slice", line: line) }
                    e = .slice(e, parts[0], parts.count > 1 ? parts[1] : nil, parts.count > 2 ? parts[2] : nil)
                }
            } else if accept("(") {
                let (args, kwargs) = try parseArguments()
                e = .call(e, args, kwargs)
            } else {
                return e
            }
        }
    }

    /// Parses call arguments after '(' up to and including ')'.
    private mutating func parseArguments() throws -> ([JinjaExpr], [(String, JinjaExpr)]) {
        var args: [JinjaExpr] = []
        var kwargs: [(String, JinjaExpr)] = []
        while !accept(")") {
            if case let .name(n)? = peek, index + 1 < tokens.count, tokens[index + 1] == .op("=") {
                index += 2
                kwargs.append((n, try parseExpression(allowConditional: true)))
            } else {
                args.append(try parseExpression(allowConditional: true))
            }
            if !accept(",") { try expect(")"); break }
        }
        return (args, kwargs)
    }
}

extension JinjaExpr {
    /// Whether the tree is deeper than `limit` (checked without recursion, so any tree can be measured).
    func depthExceeds(_ limit: Int) -> Bool {
        var stack: [(JinjaExpr, Int)] = [(self, 1)]
        while let (e, d) = stack.popLast() {
            if d > limit { return true }
            var children: [JinjaExpr] = []
            switch e {
            case .literal, .name: break
            case let .list(items): children = items
            case let .dict(pairs): children = pairs.flatMap { [$0.0, $0.1] }
            case let .attribute(t, _): children = [t]
            case let .index(t, i): children = [t, i]
            case let .slice(t, a, b, c): children = [t] + [a, b, c].compactMap { $0 }
            case let .call(c, args, kwargs): children = [c] + args + kwargs.map(\.1)
            case let .filter(t, _, args, kwargs): children = [t] + args + kwargs.map(\.1)
            case let .test(t, _, args, _): children = [t] + args
            case let .not(x), let .negate(x): children = [x]
            case let .binary(_, a, b), let .and(a, b), let .or(a, b): children = [a, b]
            case let .conditional(then, condition, otherwise): children = [then, condition] + [otherwise].compactMap { $0 }
            }
            for c in children { stack.append((c, d + 1)) }
        }
        return false
    }
}
