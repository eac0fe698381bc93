/// The Unicode classes the pre-tokenizer regexes and the WordPiece normalizer ask about, one bit each, as
/// llama.cpp's `unicode_cpt_flags` defines them: `\s` is the White_Space property, `\p{L}` the letter
/// categories, `\p{N}` the number categories, and so on from the general category. Letters also say their case
/// (`uppercase`, `lowercase`), which o200k's regex (`\p{Lu}\p{Lt}` vs `\p{Ll}`) asks about.
///
/// Everything comes from the general category and White_Space property of Swift's standard library
/// (`Unicode.Scalar.Properties`), not from a table of our own.
struct UnicodeClass: OptionSet, Sendable {
    let rawValue: UInt16

    /// White_Space property (`\s`).
    static let whitespace = UnicodeClass(rawValue: 1 << 0)
    /// Lu, Ll, Lt, Lm, Lo (`\p{L}`).
    static let letter = UnicodeClass(rawValue: 1 << 1)
    /// Nd, Nl, No (`\p{N}`).
    static let number = UnicodeClass(rawValue: 1 << 2)
    /// Pc, Pd, Ps, Pe, Pi, Pf, Po (`\p{P}`).
    static let punctuation = UnicodeClass(rawValue: 1 << 3)
    /// Sm, Sc, Sk, So (`\p{S}`).
    static let symbol = UnicodeClass(rawValue: 1 << 4)
    /// Mn, Mc, Me (`\p{M}`).
    static let mark = UnicodeClass(rawValue: 1 << 5)
    /// Cc, Cf, Co, Cs.
    static let control = UnicodeClass(rawValue: 1 << 6)
    /// Lu, Lt (with `letter`): the letters o200k's regex lets start a word but not end one (`\p{Lu}\p{Lt}`).
    static let uppercase = UnicodeClass(rawValue: 1 << 7)
    /// Ll (with `letter`): the letters o200k's regex lets end a word but not start one (`\p{Ll}`). Lm and Lo
    /// letters carry neither case bit: they go either way.
    static let lowercase = UnicodeClass(rawValue: 1 << 8)

    /// The class of a scalar value: a table lookup for the Basic Multilingual Plane, computed otherwise.
    @inline(__always)
    static func of(_ value: UInt32) -> UnicodeClass {
        if value < 0x10000 { return UnicodeClass(rawValue: bmpTable[Int(value)]) }
        return compute(value)
    }

    /// Classes of U+0000…U+FFFF, computed once.
    private static let bmpTable: [UInt16] = (0..<0x10000).map { compute(UInt32($0)).rawValue }

    private static func compute(_ value: UInt32) -> UnicodeClass {
        guard let scalar = Unicode.Scalar(value) else { return [.control] } // surrogate code points
        var c: UnicodeClass = []
        let p = scalar.properties
        if p.isWhitespace { c.insert(.whitespace) }
        switch p.generalCategory {
        case .uppercaseLetter, .titlecaseLetter: c.formUnion([.letter, .uppercase])
        case .lowercaseLetter: c.formUnion([.letter, .lowercase])
        case .modifierLetter, .otherLetter: c.insert(.letter)
        case .decimalNumber, .letterNumber, .otherNumber: c.insert(.number)
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation: c.insert(.punctuation)
        case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol: c.insert(.symbol)
        case .nonspacingMark, .spacingMark, .enclosingMark: c.insert(.mark)
        case .control, .format, .privateUse, .surrogate: c.insert(.control)
        case .spaceSeparator, .lineSeparator, .paragraphSeparator, .unassigned: break
        @unknown default: break
        }
        return c
    }
}

/// Decodes valid UTF-8 into scalar values with the byte offset of each (plus the end offset).
struct ScalarBuffer {
    /// Scalar values.
    var values: [UInt32] = []
    /// Byte offset of each scalar in the UTF-8 text; `offsets[values.count]` is the text's length.
    var offsets: [Int32] = []

    /// Decodes `bytes`, which must be valid UTF-8 (a Swift string's storage is).
    mutating func decode(_ bytes: UnsafeBufferPointer<UInt8>) {
        values.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        values.reserveCapacity(bytes.count)
        offsets.reserveCapacity(bytes.count + 1)
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = UInt32(bytes[i])
            offsets.append(Int32(i))
            if b0 < 0x80 {
                values.append(b0); i += 1
            } else if b0 < 0xE0, i + 1 < n {
                values.append((b0 & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F)); i += 2
            } else if b0 < 0xF0, i + 2 < n {
                values.append((b0 & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F)); i += 3
            } else if i + 3 < n {
                values.append((b0 & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12 | UInt32(bytes[i + 2] & 0x3F) << 6
                              | UInt32(bytes[i + 3] & 0x3F)); i += 4
            } else {
                values.append(0xFFFD); i += 1
            }
        }
        offsets.append(Int32(n))
    }
}

/// Appends the UTF-8 encoding of a scalar value.
@inline(__always)
func appendUTF8(_ value: UInt32, to out: inout [UInt8]) {
    switch value {
    case 0..<0x80: out.append(UInt8(value))
    case 0x80..<0x800:
        out.append(UInt8(0xC0 | (value >> 6))); out.append(UInt8(0x80 | (value & 0x3F)))
    case 0x800..<0x10000:
        out.append(UInt8(0xE0 | (value >> 12))); out.append(UInt8(0x80 | ((value >> 6) & 0x3F)))
        out.append(UInt8(0x80 | (value & 0x3F)))
    default:
        out.append(UInt8(0xF0 | (value >> 18))); out.append(UInt8(0x80 | ((value >> 12) & 0x3F)))
        out.append(UInt8(0x80 | ((value >> 6) & 0x3F))); out.append(UInt8(0x80 | (value & 0x3F)))
    }
}
