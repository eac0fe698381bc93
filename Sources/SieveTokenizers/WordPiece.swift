import Foundation
import SieveCore

/// WordPiece (BERT), as llama.cpp's `llm_tokenizer_wpm` does it: normalize (accents, case), split at whitespace
/// and around punctuation and CJK ideographs, then cut each word greedily into the longest vocabulary pieces;
/// a word that cannot be cut becomes `[UNK]`.
///
/// Pieces are looked up in GGUF's phantom-space form (`▁` + word start, continuation pieces bare); a Hugging
/// Face vocabulary (`##` continuation prefix) is converted to it when the tokenizer is built.
struct WordPiece: Sendable {
    /// Phantom-space piece text → id.
    let pieces: ByteStringTable
    /// Longest piece in bytes.
    let maxPieceBytes: Int
    let unknownID: Int32
    let lowercase: Bool
    let stripAccents: Bool

    init(_ d: TokenizerDescription, vocabulary: Vocabulary) throws {
        guard let unk = d.unknownID ?? vocabulary.id(of: "[UNK]") else {
            throw TokenizerError.missingSpecialToken(role: "unknown ([UNK])", reason: "WordPiece needs it for words it cannot cut")
        }
        unknownID = Int32(unk)
        lowercase = d.lowercase
        stripAccents = d.stripAccents ?? d.lowercase
        if let prefix = d.continuingSubwordPrefix {
            var table = ByteStringTable(capacity: d.tokens.count)
            var longest = 0
            for (id, token) in d.tokens.enumerated() {
                let text: String
                if token.hasPrefix(prefix) { text = String(token.dropFirst(prefix.count)) }
                else if token.count >= 2 && token.hasPrefix("[") && token.hasSuffix("]") { text = token }
                else { text = "\u{2581}" + token }
                guard !text.isEmpty else { continue }
                let bytes = Array(text.utf8)
                table.insert(bytes, value: Int32(id))
                longest = max(longest, bytes.count)
            }
            pieces = table
            maxPieceBytes = longest
        } else {
            pieces = vocabulary.textIndex
            maxPieceBytes = vocabulary.maxTokenBytes
        }
    }

    /// Tokenizes `text`; appends the ids to `out`.
    func encode(_ text: String, into out: inout [Int32]) {
        var words: [[UInt8]] = []
        var word: [UInt8] = [0xE2, 0x96, 0x81] // every word starts with the phantom space
        var decompositions: [UInt32: UInt32] = [:]
        func finishWord() {
            if word.count > 3 { words.append(word) }
            word.removeSubrange(3...)
        }
        for scalar in text.unicodeScalars {
            var cpt = scalar.value
            if stripAccents && cpt >= 0x80 {
                if let d = decompositions[cpt] { cpt = d } else {
                    let first = String(Character(scalar)).decomposedStringWithCanonicalMapping.unicodeScalars.first?.value ?? cpt
                    decompositions[cpt] = first
                    cpt = first
                }
            }
            let cls = UnicodeClass.of(cpt)
            if cls.contains(.whitespace) { finishWord(); continue }
            if cpt == 0 || cpt == 0xFFFD || cls.contains(.control) { continue }
            if stripAccents && cls.contains(.mark) { continue }
            let output = lowercase ? Self.lowercased(cpt) : cpt
            if cls.contains(.punctuation) || (cpt < 0x7F && cls.contains(.symbol)) || Self.isCJK(cpt) {
                finishWord()
                appendUTF8(output, to: &word)
                finishWord()
            } else {
                appendUTF8(output, to: &word)
            }
        }
        finishWord()
        for w in words { cut(w, into: &out) }
    }

    /// Greedy longest-match-first over the bytes of `▁word`.
    private func cut(_ word: [UInt8], into out: inout [Int32]) {
        let mark = out.count
        word.withUnsafeBytes { w in
            let n = w.count
            var i = 0
            while i < n {
                var j = min(n, i + maxPieceBytes)
                var found: Int32 = -1
                while j > i {
                    found = pieces.lookup(w.baseAddress! + i, j - i)
                    if found >= 0 { break }
                    j -= 1
                }
                if found < 0 {
                    out.removeSubrange(mark...)
                    break
                }
                out.append(found)
                i = j
            }
        }
        if out.count == mark { out.append(unknownID) }
    }

    /// Lowercase of a scalar: its first scalar of the full lowercase mapping.
    private static func lowercased(_ cpt: UInt32) -> UInt32 {
        if cpt < 0x80 { return cpt >= 0x41 && cpt <= 0x5A ? cpt + 0x20 : cpt }
        guard let s = Unicode.Scalar(cpt) else { return cpt }
        return s.properties.lowercaseMapping.unicodeScalars.first?.value ?? cpt
    }

    /// CJK ideographs, the ranges BERT isolates (including Hugging Face's 0x2B920 lower bound).
    private static func isCJK(_ c: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(c) || (0x3400...0x4DBF).contains(c) || (0x20000...0x2A6DF).contains(c)
            || (0x2A700...0x2B73F).contains(c) || (0x2B740...0x2B81F).contains(c) || (0x2B920...0x2CEAF).contains(c)
            || (0xF900...0xFAFF).contains(c) || (0x2F800...0x2FA1F).contains(c)
    }
}
