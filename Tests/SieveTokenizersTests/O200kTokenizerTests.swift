import Foundation
import SieveCore
import SieveTestSupport
import Testing
@testable import SieveTokenizers

/// o200k's pre-tokenizer (GPT-4o, Phi-4-mini, Llama 4) both ways: a GGUF with `tokenizer.ggml.pre = gpt-4o` splits
/// and tokenizes exactly as libllama does (llama.cpp's look-ahead stand-in for the regex), a tokenizer.json with
/// o200k's `Split` exactly as Hugging Face `tokenizers` does (the regex itself). `Fixtures/o200k/cases.json`
/// holds both tools' pieces and ids of each text (scripts/make-o200k-tokenizer-fixture.py; see the README there).
@Suite("o200k / gpt-4o pre-tokenizer")
struct O200kTokenizerTests {
    struct Case {
        let note: String
        let text: String
        let llamaPieces: [String]
        let tokenizersPieces: [String]
        let llamaIDs: [String: [Int]]
        let tokenizersIDs: [String: [Int]]
    }

    static let folder = TestData.fixtures.appendingPathComponent("o200k")

    static func fixture() throws -> (json: JSONValue, cases: [Case]) {
        let json = try JSONValue.parse(contentsOf: folder.appendingPathComponent("cases.json"))
        func strings(_ v: JSONValue?) throws -> [String] { try #require(v?.arrayItems).map { try #require($0.stringValue) } }
        func ids(_ v: JSONValue?) throws -> [String: [Int]] {
            var out: [String: [Int]] = [:]
            for (name, list) in try #require(v?.objectMembers) { out[name] = try #require(list.arrayItems).map { try #require($0.intValue) } }
            return out
        }
        let cases = try #require(json["cases"]?.arrayItems).map { c in
            Case(note: try #require(c["note"]?.stringValue), text: try #require(c["text"]?.stringValue),
                 llamaPieces: try strings(c["llama_cpp"]?["pieces"]), tokenizersPieces: try strings(c["tokenizers"]?["pieces"]),
                 llamaIDs: try ids(c["llama_cpp"]?["ids"]), tokenizersIDs: try ids(c["tokenizers"]?["ids"]))
        }
        return (json, cases)
    }

    /// `value` with the member at `path` (object keys, or array indices as decimal strings) replaced by `new`.
    static func replacing(_ value: JSONValue, _ path: ArraySlice<String>, with new: JSONValue) -> JSONValue {
        guard let key = path.first else { return new }
        switch value {
        case let .object(members):
            return .object(members.map { $0.0 == key ? ($0.0, replacing($0.1, path.dropFirst(), with: new)) : $0 })
        case let .array(items):
            return .array(items.enumerated().map { String($0.offset) == key ? replacing($0.element, path.dropFirst(), with: new) : $0.element })
        default:
            return value
        }
    }

    static func description(_ json: JSONValue) throws -> TokenizerDescription {
        try TokenizerDescription(huggingFaceJSON: json, config: nil, source: "tokenizer.json")
    }

    /// Every text's ids (no special tokens) against `expected`; the mismatches.
    static func mismatches(_ tokenizer: Tokenizer, _ cases: [Case], _ expected: (Case) -> [Int]?) throws -> [String] {
        var failures: [String] = []
        for c in cases {
            let want = try #require(expected(c), "\(c.text.debugDescription) has no expected ids")
            let got = tokenizer.encode(c.text, addSpecial: false)
            if got != want { failures.append("\(c.note): \(c.text.debugDescription): got \(got), expected \(want)") }
        }
        return failures
    }

    // MARK: Pieces

    @Test("gpt-4o splits as libllama's unicode_regex_split, o200k as tokenizers' Split")
    func pieces() throws {
        let (_, cases) = try Self.fixture()
        #expect(cases.count >= 100)
        let llama = try #require(PreTokenizer(name: "gpt-4o")), exact = try #require(PreTokenizer(name: "o200k"))
        var failures: [String] = []
        for c in cases {
            let a = PreTokenizerTests.pieces(c.text, llama), b = PreTokenizerTests.pieces(c.text, exact)
            if a != c.llamaPieces { failures.append("gpt-4o: \(c.text.debugDescription): \(a), libllama \(c.llamaPieces)") }
            if b != c.tokenizersPieces { failures.append("o200k: \(c.text.debugDescription): \(b), tokenizers \(c.tokenizersPieces)") }
        }
        #expect(failures.isEmpty, "\(failures.count) mismatches:\n\(failures.joined(separator: "\n"))")
    }

    @Test("the fixture tells the two apart: each class where they differ is there")
    func differences() throws {
        let (_, cases) = try Self.fixture()
        let differing = cases.filter { $0.llamaPieces != $0.tokenizersPieces }
        #expect(differing.count >= 15)
        for note in ["non-ASCII case", "title case", "combining marks", "contractions, long s"] {
            #expect(differing.contains { $0.note.hasPrefix(note) }, "no text of '\(note)' splits differently")
        }
        // Where they must agree: ASCII, modifier and other letters (either case in both), digits, whitespace.
        for note in ["ASCII case", "contractions", "modifier letters", "other letters", "digits", "whitespace", "slashes and newlines"] {
            #expect(!differing.contains { $0.note == note }, "'\(note)' should split alike")
        }
        // The trained vocabulary turns every difference of pieces into a difference of ids.
        for c in cases {
            #expect((c.llamaIDs["trained"] != c.tokenizersIDs["trained"]) == (c.llamaPieces != c.tokenizersPieces), "\(c.text.debugDescription)")
        }
    }

    @Test("llama.cpp's names and Sieve's o200k map to the scanners")
    func names() throws {
        for name in ["gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"] {
            let pre = try #require(PreTokenizer(name: name), "\(name)")
            #expect(pre.stages == [.o200k(exact: false)] && !pre.impliesIgnoreMerges, "\(name)")
        }
        let exact = try #require(PreTokenizer(name: "o200k"))
        #expect(exact.stages == [.o200k(exact: true)] && !exact.impliesIgnoreMerges)
        #expect(TokenizerDescription.llamaCppPreTokenizer("o200k") == "gpt-4o")
        #expect(TokenizerDescription.llamaCppPreTokenizer("llama-bpe") == "llama-bpe")
    }

    @Test("the reader knows o200k's regex and llama.cpp's, character for character")
    func regexes() throws {
        let (json, _) = try Self.fixture()
        let o200k = try #require(json["regexes"]?["o200k"]?.stringValue)
        let llama = try #require(json["regexes"]?["llama_cpp_gpt4o"]?.stringValue)
        #expect(TokenizerDescription.knownSplitRegexes.first { $0.regex == o200k }?.preTokenizer == "o200k")
        #expect(TokenizerDescription.knownSplitRegexes.first { $0.regex == llama }?.preTokenizer == "gpt-4o")
        let file = try JSONValue.parse(contentsOf: Self.folder.appendingPathComponent("tokenizer.json"))
        #expect(file["pre_tokenizer"]?["pretokenizers"]?.arrayItems?.first?["pattern"]?["Regex"]?.stringValue == o200k)
    }

    // MARK: The trained vocabulary (committed)

    @Test("gpt-4o.gguf gives libllama's ids")
    func trainedGGUF() throws {
        let (_, cases) = try Self.fixture()
        let d = try TestData.ggufDescription(Self.folder.appendingPathComponent("gpt-4o.gguf"))
        #expect(d.kind == .bytePairEncoding && d.preTokenizer == "gpt-4o")
        let tokenizer = try Tokenizer(d)
        let failures = try Self.mismatches(tokenizer, cases) { $0.llamaIDs["trained"] }
        #expect(failures.isEmpty, "\(failures.count) mismatches:\n\(failures.joined(separator: "\n"))")
        for c in cases { #expect(tokenizer.decode(tokenizer.encode(c.text, addSpecial: false)) == c.text) }
    }

    @Test("tokenizer.json gives tokenizers' ids, with the Split Isolated or Removed + inverted")
    func trainedJSON() throws {
        let (_, cases) = try Self.fixture()
        let json = try JSONValue.parse(contentsOf: Self.folder.appendingPathComponent("tokenizer.json"))
        let split: ArraySlice<String> = ["pre_tokenizer", "pretokenizers", "0"]
        let removed = Self.replacing(Self.replacing(json, split + ["behavior"], with: .string("Removed")), split + ["invert"], with: .bool(true))
        for variant in [json, removed] {
            let d = try Self.description(variant)
            #expect(d.kind == .bytePairEncoding && d.preTokenizer == "o200k" && !d.addSpacePrefix && !d.ignoreMerges)
            let tokenizer = try Tokenizer(d)
            let failures = try Self.mismatches(tokenizer, cases) { $0.tokenizersIDs["trained"] }
            #expect(failures.isEmpty, "\(failures.count) mismatches:\n\(failures.joined(separator: "\n"))")
            for c in cases { #expect(tokenizer.decode(tokenizer.encode(c.text, addSpecial: false)) == c.text) }
        }
        // Other Split behaviours stay errors.
        let merged = Self.replacing(json, split + ["behavior"], with: .string("MergedWithPrevious"))
        #expect(throws: SieveCoreError.self) { try Self.description(merged) }
        let invertedIsolated = Self.replacing(json, split + ["invert"], with: .bool(true))
        #expect(throws: SieveCoreError.self) { try Self.description(invertedIsolated) }
    }

    @Test("a tokenizer.json with llama.cpp's gpt-4o regex reads as gpt-4o and gives libllama's ids")
    func llamaRegexJSON() throws {
        let (fixture, cases) = try Self.fixture()
        let llama = try #require(fixture["regexes"]?["llama_cpp_gpt4o"]?.stringValue)
        let json = Self.replacing(try JSONValue.parse(contentsOf: Self.folder.appendingPathComponent("tokenizer.json")),
                                  ["pre_tokenizer", "pretokenizers", "0", "pattern", "Regex"], with: .string(llama))
        let d = try Self.description(json)
        #expect(d.preTokenizer == "gpt-4o")
        let failures = try Self.mismatches(try Tokenizer(d), cases) { $0.llamaIDs["trained"] }
        #expect(failures.isEmpty, "\(failures.count) mismatches:\n\(failures.joined(separator: "\n"))")
    }

    // MARK: GPT-2's vocabulary (make models)

    /// ggml-vocab-gpt-2.gguf with `tokenizer.ggml.pre` changed from "gpt-2" to "gpt-4o" in place (what the fixture
    /// script gave libllama), or nil when the vocabulary is missing.
    static func gpt2AsGPT4o() throws -> (gguf: URL, directory: URL)? {
        guard let url = TestData.vocab("gpt-2") else { return nil }
        var data = try Data(contentsOf: url)
        func u64(_ n: Int) -> Data { withUnsafeBytes(of: UInt64(n).littleEndian) { Data($0) } }
        let key = u64(18) + Data("tokenizer.ggml.pre".utf8) + withUnsafeBytes(of: UInt32(8).littleEndian) { Data($0) }
        let old = key + u64(5) + Data("gpt-2".utf8)
        let range = try #require(data.range(of: old))
        #expect(data.range(of: old, in: range.upperBound..<data.endIndex) == nil)
        data.replaceSubrange(range, with: key + u64(6) + Data("gpt-4o".utf8))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-o200k-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let gguf = directory.appendingPathComponent("ggml-vocab-gpt-4o.gguf")
        try data.write(to: gguf)
        return (gguf, directory)
    }

    @Test("GPT-2's vocabulary as a gpt-4o GGUF gives libllama's ids")
    func gpt2GGUF() throws {
        guard let (gguf, directory) = try Self.gpt2AsGPT4o() else {
            print("skipped: ggml-vocab-gpt-2.gguf not found; run make models")
            return
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        let (_, cases) = try Self.fixture()
        let d = try TestData.ggufDescription(gguf)
        #expect(d.preTokenizer == "gpt-4o")
        let original = try TestData.ggufDescription(try #require(TestData.vocab("gpt-2")))
        #expect(d.tokens == original.tokens && d.merges == original.merges && d.tokenTypes == original.tokenTypes)
        let failures = try Self.mismatches(try Tokenizer(d), cases) { $0.llamaIDs["gpt2"] }
        #expect(failures.isEmpty, "\(failures.count) mismatches:\n\(failures.joined(separator: "\n"))")
    }

    @Test("GPT-2's vocabulary in the tokenizer.json gives tokenizers' ids")
    func gpt2JSON() throws {
        guard let url = TestData.vocab("gpt-2") else { print("skipped: ggml-vocab-gpt-2.gguf not found; run make models"); return }
        let (_, cases) = try Self.fixture()
        let gguf = try TestData.ggufDescription(url)
        let endOfText = try #require(gguf.tokens.firstIndex(of: "<|endoftext|>"))
        var json = try JSONValue.parse(contentsOf: Self.folder.appendingPathComponent("tokenizer.json"))
        json = Self.replacing(json, ["model", "vocab"], with: .object(gguf.tokens.enumerated().map { ($0.element, .int(Int64($0.offset))) }))
        json = Self.replacing(json, ["model", "merges"], with: .array(gguf.merges.map { .string($0) }))
        json = Self.replacing(json, ["added_tokens", "0", "id"], with: .int(Int64(endOfText)))
        let d = try Self.description(json)
        #expect(d.preTokenizer == "o200k")
        let failures = try Self.mismatches(try Tokenizer(d), cases) { $0.tokenizersIDs["gpt2"] }
        #expect(failures.isEmpty, "\(failures.count) mismatches:\n\(failures.joined(separator: "\n"))")
    }

    // MARK: Writing tokenizer.json

    /// The tokenizer.json text `huggingFaceFiles()` writes for `d`, and its description read back.
    static func written(_ d: TokenizerDescription) throws -> (text: String, back: TokenizerDescription) {
        let files = try #require(d.huggingFaceFiles())
        let text = files.tokenizer.serialized(pretty: true)
        let back = try TokenizerDescription(huggingFaceJSON: try JSONValue.parse(text, source: "tokenizer.json"),
                                            config: try JSONValue.parse(files.config.serialized(), source: "tokenizer_config.json"),
                                            source: "written")
        return (text, back)
    }

    @Test("gpt-4o GGUFs and o200k tokenizer.json files are written back and read the same")
    func writer() throws {
        let (fixture, cases) = try Self.fixture()
        let gguf = try TestData.ggufDescription(Self.folder.appendingPathComponent("gpt-4o.gguf"))
        let json = try Self.description(try JSONValue.parse(contentsOf: Self.folder.appendingPathComponent("tokenizer.json")))
        let sources: [(TokenizerDescription, String, (Case) -> [Int]?)] = [
            (gguf, "llama_cpp_gpt4o", { $0.llamaIDs["trained"] }), (json, "o200k", { $0.tokenizersIDs["trained"] })]
        for (source, regex, expected) in sources {
            #expect(source.hasHuggingFaceForm)
            let (text, back) = try Self.written(source)
            #expect(back.preTokenizer == source.preTokenizer && back.tokens == source.tokens && back.merges == source.merges)
            let split = try JSONValue.parse(text, source: "tokenizer.json")["pre_tokenizer"]?["pretokenizers"]?.arrayItems?.first
            #expect(split?["pattern"]?["Regex"]?.stringValue == fixture["regexes"]?[regex]?.stringValue)
            let failures = try Self.mismatches(try Tokenizer(back), cases, expected)
            #expect(failures.isEmpty, "\(source.preTokenizer): \(failures.count) mismatches:\n\(failures.joined(separator: "\n"))")
        }
    }

    @Test("the tokenizers library encodes as libllama with the file written for a gpt-4o GGUF, as itself for o200k",
          .enabled(if: HuggingFaceTokenizerWriterTests.pythonTokenizers, "python3 with tokenizers is required (make test installs it)"))
    func officialLibrary() throws {
        let (_, cases) = try Self.fixture()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-o200k-hf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let gguf = try TestData.ggufDescription(Self.folder.appendingPathComponent("gpt-4o.gguf"))
        let json = try Self.description(try JSONValue.parse(contentsOf: Self.folder.appendingPathComponent("tokenizer.json")))
        let sources: [(TokenizerDescription, (Case) -> [Int]?)] = [(gguf, { $0.llamaIDs["trained"] }), (json, { $0.tokenizersIDs["trained"] })]
        for (source, expected) in sources {
            let tokenizerURL = dir.appendingPathComponent("\(source.preTokenizer).json")
            try Self.written(source).text.write(to: tokenizerURL, atomically: true, encoding: .utf8)
            let encoded = try TestData.tokenizersLibraryIDs(tokenizerJSON: tokenizerURL, inputs: cases.map(\.text), in: dir)
            var failures: [String] = []
            for (c, got) in zip(cases, encoded) {
                if got != expected(c) { failures.append("\(c.text.debugDescription): tokenizers gave \(got), expected \(expected(c) ?? [])") }
            }
            #expect(failures.isEmpty, "\(source.preTokenizer): \(failures.count) mismatches:\n\(failures.joined(separator: "\n"))")
        }
    }
}
