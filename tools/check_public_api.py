#!/usr/bin/env python3
"""Checks Sieve's public API: every public declaration has a doc comment, and no public type is named *Manager,
*Helper or *Util(s).

    python3 tools/check_public_api.py [ROOT]

Scans the library modules (Sources/* except the CLI, Formats/*). A declaration needs a `///` (or `/** */`) comment
directly above it (attributes such as `@discardableResult` may sit in between). Checked: `public`/`open` types,
functions, initialisers, properties, subscripts and typealiases; the cases of public enums and the requirements of
public protocols (public without the keyword). Members that only witness a standard protocol (`errorDescription`,
`description`, `==`, `hash(into:)`, `init(from:)`, `encode(to:)`, literal initialisers …) are exempt: the protocol
documents them.

A missing comment on a public type or member, and a forbidden name, are errors. Exit status 1 on any error. Run by `make test` through Tests/SieveTests/PublicAPITests.swift.
"""
import os
import re
import sys

TYPE_KEYWORDS = {"struct", "class", "enum", "protocol", "actor", "typealias"}
DECL_KEYWORDS = TYPE_KEYWORDS | {"func", "var", "let", "init", "subscript", "case", "associatedtype"}
MODIFIERS = {"public", "open", "static", "final", "class", "override", "mutating", "nonmutating", "private(set)",
             "fileprivate(set)", "internal(set)", "convenience", "required", "indirect", "lazy", "nonisolated",
             "dynamic", "weak", "unowned", "optional", "package", "consuming", "borrowing", "isolated"}
WITNESSES = re.compile(r"\b(var errorDescription|var failureReason|var recoverySuggestion|var description|"
                       r"var debugDescription|var hashValue|func hash\(into|static func ==|static func <|"
                       r"static func \+|static func -|static func \*|init\(from decoder|func encode\(to encoder|"
                       r"init\(arrayLiteral|init\(stringLiteral|init\(integerLiteral|init\(floatLiteral|"
                       r"init\(booleanLiteral|init\(dictionaryLiteral|init\(unicodeScalarLiteral|"
                       r"init\(extendedGraphemeClusterLiteral|func makeIterator\(|func next\(\)|"
                       r"var startIndex|var endIndex|func index\(after|subscript\(position|"
                       r"init\?\(rawValue|var rawValue|func makeAsyncIterator\(|var errorUserInfo|"
                       r"static var errorDomain|var errorCode|var localizedDescription)")
FORBIDDEN = re.compile(r"(Manager|Helper|Helpers|Util|Utils|Utility|Utilities)$")


def strip_code(line, state):
    """Removes string literal contents and // comments; `state` tracks multi-line strings and block comments."""
    out = []
    i = 0
    n = len(line)
    while i < n:
        if state["block"]:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out)
            state["block"] = False
            i = end + 2
            continue
        if state["multiline"]:
            end = line.find('"""', i)
            if end < 0:
                return "".join(out)
            state["multiline"] = False
            out.append('""')
            i = end + 3
            continue
        c = line[i]
        if line.startswith("//", i):
            break
        if line.startswith("/*", i):
            state["block"] = True
            i += 2
            continue
        if line.startswith('"""', i):
            state["multiline"] = True
            i += 3
            continue
        if c == '"':
            j = i + 1
            depth = 0
            while j < n:
                if line[j] == "\\" and j + 1 < n and line[j + 1] == "(":
                    depth += 1
                    j += 2
                    continue
                if depth and line[j] == ")":
                    depth -= 1
                elif line[j] == "\\":
                    j += 1
                elif line[j] == '"' and depth == 0:
                    break
                j += 1
            out.append('""')
            i = j + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def declaration(code):
    """(keyword, name, is_public) of a declaration line, or None."""
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*(?:\((?:set)\))?|@[A-Za-z_]+(?:\([^)]*\))?|\S", code)
    i = 0
    public = False
    while i < len(words) and (words[i].startswith("@") or words[i] in MODIFIERS):
        if words[i] == "class" and not (i + 1 < len(words) and (words[i + 1] in MODIFIERS or words[i + 1] in
                                                              {"func", "var", "let", "subscript"})):
            break  # `class` declares a class unless it modifies a member (`class func`, `class var`)
        if words[i] in ("public", "open"):
            public = True
        i += 1
    if i >= len(words) or words[i] not in DECL_KEYWORDS | {"extension"}:
        return None
    keyword = words[i]
    name = words[i + 1] if i + 1 < len(words) else ""
    return keyword, name, public


def has_doc(lines, index):
    j = index - 1
    # A run of `case` lines (one list of enum cases continued over lines) shares the comment of its first line.
    if lines[index].strip().startswith("case "):
        while j >= 0 and lines[j].strip().startswith("case ") and "," in re.sub(r"\([^()]*\)", "", lines[j]):
            j -= 1
    while j >= 0 and lines[j].strip().startswith("@"):
        j -= 1
    if j < 0:
        return False
    previous = lines[j].strip()
    return previous.startswith("///") or (previous.endswith("*/") and any(
        lines[k].strip().startswith("/**") for k in range(max(0, j - 40), j + 1)))


def scan(path, rel):
    """Yields the findings of one file as messages."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    state = {"block": False, "multiline": False}
    depth = 0
    scopes = []  # (depth inside the scope, kind: 'public-enum' | 'public-protocol' | 'other')
    for index, raw in enumerate(lines):
        code = strip_code(raw, state).strip()
        opening = code.count("{")
        closing = code.count("}")
        if code.startswith("}"):
            # Closing braces at the start end scopes before anything else on the line.
            lead = len(code) - len(code.lstrip("}"))
            depth -= lead
            closing -= lead
            while scopes and scopes[-1][0] > depth:
                scopes.pop()
            code = code.lstrip("}").strip()
        decl = declaration(code) if code else None
        enclosing = scopes[-1][1] if scopes and scopes[-1][0] == depth else None
        if decl:
            keyword, name, public = decl
            implied = (enclosing == "public-enum" and keyword == "case") or (
                enclosing == "public-protocol" and keyword in {"func", "var", "init", "subscript", "associatedtype", "static"})
            where = f"{rel}:{index + 1}"
            if keyword != "extension" and (public or implied):
                if keyword in TYPE_KEYWORDS and public and FORBIDDEN.search(name):
                    yield f"{where}: public type {name} has a vague name (Manager/Helper/Util); name what it is"
                if not has_doc(lines, index) and not WITNESSES.search(code) and not (
                        keyword == "case" and enclosing != "public-enum"):
                    yield f"{where}: public {keyword} {name} has no doc comment"
            if opening > closing and keyword in TYPE_KEYWORDS | {"extension"}:
                kind = "other"
                if public and keyword == "enum":
                    kind = "public-enum"
                elif public and keyword == "protocol":
                    kind = "public-protocol"
                elif keyword == "extension":
                    kind = "extension"
                scopes.append((depth + 1, kind))
        depth += opening - closing
        while scopes and scopes[-1][0] > depth:
            scopes.pop()


def main(argv):
    root = argv[0] if argv else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    folders = [os.path.join("Sources", d) for d in sorted(os.listdir(os.path.join(root, "Sources")))
               if d != "sieve"] + [os.path.join("Formats", d) for d in sorted(os.listdir(os.path.join(root, "Formats")))]
    errors = []
    for folder in folders:
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for name in sorted(files):
                if not name.endswith(".swift"):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), root)
                errors += scan(os.path.join(dirpath, name), rel)
    for message in errors:
        print("error: " + message)
    print(f"public API check: {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
