import Foundation
import SieveCore
import Testing
@testable import SieveTokenizers

/// The hand-written pre-tokenizer scanners split exactly as the regexes they stand for (Python's `regex` module
/// applying llama.cpp's regex lists; `Fixtures/make_pretokenizer_splits.py` wrote the expected pieces).
@Suite("pre-tokenizer scanners")
struct PreTokenizerTests {
    static func pieces(_ text: String, _ pre: PreTokenizer) -> [String] {
        var scalars = ScalarBuffer()
        var copy = text
        copy.withUTF8 { scalars.decode($0) }
        let classes = scalars.values.map { UnicodeClass.of($0).rawValue }
        var ends: [Int32] = [], scratch: [Int32] = []
        scalars.values.withUnsafeBufferPointer { v in
            classes.withUnsafeBufferPointer { c in pre.split(v, c, into: &ends, scratch: &scratch) }
        }
        let values = scalars.values
        var start = 0
        return ends.map { end in
            defer { start = Int(end) }
            return String(String.UnicodeScalarView(values[start..<Int(end)].map { Unicode.Scalar($0)! }))
        }
    }

    @Test("pieces equal the regex splits", arguments: ["gpt-2", "llama-bpe", "qwen2", "smollm", "falcon", "default"])
    func splits(family: String) throws {
        let json = try JSONValue.parse(contentsOf: TestData.fixtures.appendingPathComponent("pretokenizer_splits.json"))
        let cases = try #require(json["families"]?[family]?.arrayItems)
        let pre = try #require(PreTokenizer(name: family))
        #expect(cases.count > 50)
        for c in cases {
            let text = try #require(c["text"]?.stringValue)
            let expected = try #require(c["pieces"]?.arrayItems).compactMap { $0.stringValue }
            #expect(Self.pieces(text, pre) == expected, "\(family): \(text.debugDescription)")
        }
    }

    @Test("llama.cpp names map to the right scanners and merge rules")
    func names() throws {
        #expect(PreTokenizer(name: "llama3")?.stages == [.llama3(maxDigits: 3)])
        #expect(PreTokenizer(name: "llama-bpe")?.impliesIgnoreMerges == true)
        #expect(PreTokenizer(name: "dbrx")?.impliesIgnoreMerges == false)
        #expect(PreTokenizer(name: "starcoder")?.stages == [.eachNumber, .gpt2])
        #expect(PreTokenizer(name: "no-such-pre") == nil)
    }
}
