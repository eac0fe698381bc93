import Foundation
import SieveCore

/// What a token is, from the GGUF token type codes (llama.cpp's token attributes).
enum TokenAttribute: UInt8, Sendable {
    /// Code 0 or out of range: rendered as nothing.
    case undefined
    /// Code 1: ordinary text.
    case normal
    /// Code 2: the unknown token.
    case unknown
    /// Code 3: control token (BOS, EOS, `<|im_start|>`…): split out of text only when special tokens are parsed.
    case control
    /// Code 4: user-defined token: always split out of text, rendered as its text.
    case userDefined
    /// Code 5: unused slot.
    case unused
    /// Code 6: byte-fallback token `<0xXX>`.
    case byte

    init(ggufCode: Int32) {
        switch ggufCode {
        case 1: self = .normal
        case 2: self = .unknown
        case 3: self = .control
        case 4: self = .userDefined
        case 5: self = .unused
        case 6: self = .byte
        default: self = .undefined
        }
    }
}

/// Token texts and attributes with a byte-string index: the part every tokenizer kind shares.
struct Vocabulary: Sendable {
    /// Number of tokens.
    let count: Int
    /// Token UTF-8 text → id (the first id when a text repeats).
    let textIndex: ByteStringTable
    /// Attribute of each token.
    let attributes: [TokenAttribute]
    /// Longest token text in bytes.
    let maxTokenBytes: Int

    /// Text of end-of-turn tokens, most specific first (llama.cpp's list).
    static let endOfTurnTexts = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                 "<|end_of_text|>", "<EOT>", "_<EOT>", "<end_of_utterance>"]
    /// Text of tokens that end generation (llama.cpp's list).
    static let endOfGenerationTexts: Set<String> = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                                    "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>",
                                                    "<end_of_utterance>"]

    init(_ d: TokenizerDescription) throws {
        count = d.tokens.count
        guard count > 0 else { throw TokenizerError.invalidVocabulary(reason: "the vocabulary is empty") }
        guard d.tokenTypes.isEmpty || d.tokenTypes.count == count else {
            throw TokenizerError.invalidVocabulary(reason: "\(d.tokenTypes.count) token types for \(count) tokens")
        }
        guard d.scores.isEmpty || d.scores.count == count else {
            throw TokenizerError.invalidVocabulary(reason: "\(d.scores.count) scores for \(count) tokens")
        }
        var longest = 0
        var attributes = d.tokenTypes.isEmpty ? [TokenAttribute](repeating: .normal, count: count) : d.tokenTypes.map(TokenAttribute.init(ggufCode:))
        for (id, token) in d.tokens.enumerated() {
            longest = max(longest, token.utf8.count)
            // llama.cpp treats end-of-generation-looking tokens as control tokens whatever their type.
            if let first = token.utf8.first, first == UInt8(ascii: "<") || first == UInt8(ascii: "_"),
               Self.endOfGenerationTexts.contains(token), attributes[id] != .control {
                attributes[id] = .control
            }
        }
        textIndex = ByteStringTable(indexing: d.tokens)
        self.attributes = attributes
        maxTokenBytes = longest
    }

    /// The id of the token whose text is exactly `text`, or nil.
    func id(of text: String) -> Int? {
        var t = text
        let id = t.withUTF8 { textIndex.lookup(UnsafeRawPointer($0.baseAddress ?? UnsafePointer(bitPattern: 1)!), $0.count) }
        return id >= 0 ? Int(id) : nil
    }
}

/// GPT-2's byte ↔ unicode alphabet: printable Latin-1 bytes stand for themselves, the others for U+0100 and up.
enum ByteLevelAlphabet {
    /// The scalar standing for each byte.
    static let scalarOfByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b) {
                table[b] = UInt32(b)
            } else {
                table[b] = next
                next += 1
            }
        }
        return table
    }()

    /// The byte each scalar below 0x200 stands for, or -1.
    static let byteOfScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x200)
        for (b, s) in scalarOfByte.enumerated() { table[Int(s)] = Int16(b) }
        return table
    }()

    /// Decodes a byte-level token text to the bytes it stands for; characters outside the alphabet are kept as UTF-8.
    static func decode(_ text: String, into out: inout [UInt8]) {
        var t = text
        t.withUTF8 { u in
            var i = 0
            while i < u.count {
                let b = u[i]
                let n = min(utf8Length(b), u.count - i)
                var v = UInt32(b)
                if n == 2 { v = UInt32(b & 0x1F) << 6 | UInt32(u[i + 1] & 0x3F) }
                if n <= 2, v < 0x200, byteOfScalar[Int(v)] >= 0 { out.append(UInt8(byteOfScalar[Int(v)])) }
                else { out.append(contentsOf: u[i..<(i + n)]) }
                i += n
            }
        }
    }

    /// Decodes a byte-level token text, or nil when a scalar is outside the alphabet.
    static func decodeExactly(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for s in text.unicodeScalars {
            let v = s.value
            guard v < 0x200, byteOfScalar[Int(v)] >= 0 else { return nil }
            out.append(UInt8(byteOfScalar[Int(v)]))
        }
        return out
    }
}
