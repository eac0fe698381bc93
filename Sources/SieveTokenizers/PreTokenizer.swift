/// The byte-level BPE pre-tokenizers: llama.cpp's regex lists (and o200k's `tokenizer.json` regex, which llama.cpp
/// only approximates), written as hand-made scanners over Unicode classes. Each stage splits every piece the
/// previous stage produced; text between two regex matches stays one piece, as in llama.cpp's `unicode_regex_split`.
struct PreTokenizer: Sendable {
    /// One regex of a pre-tokenizer's list.
    enum Stage: Sendable, Equatable {
        /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` (GPT-2).
        case gpt2
        /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
        /// (Llama 3 with max 3, Qwen2 with max 1).
        case llama3(maxDigits: Int)
        /// `\p{N}`: every number character alone.
        case eachNumber
        /// `\p{N}+`.
        case numberRuns
        /// `[\p{P}\$\+<=>\^~\|]+` (and the backtick too for Falcon).
        case punctuationRuns(backtick: Bool)
        /// `[0-9][0-9][0-9]`.
        case asciiDigitTriples
        /// o200k's regex (GPT-4o, Phi-4-mini, Llama 4): words split before a capital (`HelloWorld` → `Hello`,
        /// `World`) and keep their contraction, at most three digits a piece, punctuation runs with the newlines and
        /// slashes after them.
        ///
        /// `exact`: the regex of the models' `tokenizer.json`, as Hugging Face `tokenizers` runs it:
        /// `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|`
        /// `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|`
        /// `\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+` (case-insensitive `'s` also takes
        /// `'ſ`, U+017F, which folds to `s`).
        ///
        /// Not `exact`: llama.cpp's `gpt-4o` stand-in for it, which replaces the case classes with look-aheads,
        /// `((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+` and `((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*`, and the
        /// contractions with `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?`. Only ASCII letters have a
        /// case there (llama.cpp runs it on text where every other letter is one "letter" byte), so every non-ASCII
        /// letter goes either way, as Lm and Lo do in the exact regex; and marks (`\p{M}`) are not word characters
        /// but punctuation-like (`[^\s\p{L}\p{N}]`).
        case o200k(exact: Bool)
    }

    /// The stages in order.
    let stages: [Stage]
    /// Whether llama.cpp emits a word that is itself a token without merging (the Llama 3 family).
    let impliesIgnoreMerges: Bool

    /// The pre-tokenizer names Sieve implements, in llama.cpp's vocabulary (`tokenizer.ggml.pre`).
    static let families: [(names: [String], stages: [Stage], ignoreMerges: Bool)] = [
        (["gpt-2", "phi-2", "mpt", "olmo", "jais", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "gigachat",
          "mellum", "trillion", "granite-docling", "exaone4", "a.x-4.0", "modern-bert", "roberta-bpe",
          "jina-v1-en", "jina-v2-code"], [.gpt2], false),
        (["llama-bpe", "llama3", "llama-v3", "falcon3", "pixtral", "midm-2.0", "lfm2"], [.llama3(maxDigits: 3)], true),
        (["dbrx", "smaug-bpe"], [.llama3(maxDigits: 3)], false),
        (["qwen2", "deepseek-r1-qwen", "stablelm2", "megrez", "hunyuan", "kormo", "grok-2"], [.llama3(maxDigits: 1)], false),
        (["smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b", "mellum2"], [.eachNumber, .gpt2], false),
        (["falcon"], [.punctuationRuns(backtick: true), .gpt2, .asciiDigitTriples], false),
        (["default"], [.punctuationRuns(backtick: false), .gpt2, .numberRuns, .asciiDigitTriples], false),
        (["gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"], [.o200k(exact: false)], false),
        // Not a llama.cpp name: the tokenizer.json form of o200k (`HFTokenizerJSON`), which llama.cpp has no exact
        // implementation of.
        (["o200k"], [.o200k(exact: true)], false),
    ]

    /// All supported names.
    static var supportedNames: [String] { families.flatMap(\.names) }

    /// The pre-tokenizer named `name`, or nil when Sieve does not implement it.
    init?(name: String) {
        guard let family = Self.families.first(where: { $0.names.contains(name) }) else { return nil }
        stages = family.stages
        impliesIgnoreMerges = family.ignoreMerges
    }

    /// Splits the scalars `values` (with their classes) into pieces; appends each piece's end index to `ends`.
    func split(_ values: UnsafeBufferPointer<UInt32>, _ classes: UnsafeBufferPointer<UInt16>, into ends: inout [Int32],
               scratch: inout [Int32]) {
        ends.removeAll(keepingCapacity: true)
        ends.append(Int32(values.count))
        for stage in stages {
            swap(&ends, &scratch)
            ends.removeAll(keepingCapacity: true)
            var start = 0
            for end in scratch {
                let e = Int(end)
                var scanner = Scanner(values: values, classes: classes, start: start, end: e)
                swap(&scanner.out, &ends) // the scanner appends to the list without copying it
                scanner.run(stage)
                swap(&scanner.out, &ends)
                start = e
            }
        }
    }
}

/// Scans one piece `[start, end)` for one stage, appending the ends of the sub-pieces.
private struct Scanner {
    let values: UnsafeBufferPointer<UInt32>
    let classes: UnsafeBufferPointer<UInt16>
    let start: Int
    let end: Int
    var out: [Int32]
    private var emitted: Int

    init(values: UnsafeBufferPointer<UInt32>, classes: UnsafeBufferPointer<UInt16>, start: Int, end: Int) {
        self.values = values
        self.classes = classes
        self.start = start
        self.end = end
        out = []
        emitted = start
    }

    private static let apostrophe: UInt32 = 0x27
    private static let space: UInt32 = 0x20
    private static let cr: UInt32 = 0x0D
    private static let lf: UInt32 = 0x0A
    private static let slash: UInt32 = 0x2F
    private static let longS: UInt32 = 0x17F
    private static let wordClasses = UnicodeClass.whitespace.rawValue | UnicodeClass.letter.rawValue | UnicodeClass.number.rawValue

    /// Ends a piece at `position` (nothing when it would be empty).
    @inline(__always)
    private mutating func emit(_ position: Int) {
        if position > emitted { out.append(Int32(position)) }
        emitted = position
    }

    @inline(__always) private func isLetter(_ i: Int) -> Bool { i < end && classes[i] & UnicodeClass.letter.rawValue != 0 }
    @inline(__always) private func isNumber(_ i: Int) -> Bool { i < end && classes[i] & UnicodeClass.number.rawValue != 0 }
    @inline(__always) private func isWhitespace(_ i: Int) -> Bool { i < end && classes[i] & UnicodeClass.whitespace.rawValue != 0 }
    /// `[^\s\p{L}\p{N}]` at `i`, false past the end.
    @inline(__always) private func isOther(_ i: Int) -> Bool { i < end && classes[i] & Self.wordClasses == 0 }

    mutating func run(_ stage: PreTokenizer.Stage) {
        switch stage {
        case .gpt2: gpt2()
        case let .llama3(maxDigits): llama3(maxDigits: maxDigits)
        case .o200k(exact: true): o200k(exact: true)
        case .o200k(exact: false): o200k(exact: false)
        case .eachNumber:
            for i in start..<end where isNumber(i) {
                emit(i)
                emit(i + 1)
            }
            emit(end)
        case .numberRuns: runs { $0.isNumber($1) }
        case let .punctuationRuns(backtick): runs { $0.isPunctuationLike($1, backtick: backtick) }
        case .asciiDigitTriples:
            var i = start
            while i + 2 < end {
                if isASCIIDigit(i) && isASCIIDigit(i + 1) && isASCIIDigit(i + 2) {
                    emit(i)
                    emit(i + 3)
                    i += 3
                } else {
                    i += 1
                }
            }
            emit(end)
        }
    }

    @inline(__always) private func isASCIIDigit(_ i: Int) -> Bool { values[i] >= 0x30 && values[i] <= 0x39 }

    /// `[\p{P}\$\+<=>\^~\|]` as llama.cpp evaluates it: ASCII by its fixed list, the rest by category.
    private func isPunctuationLike(_ i: Int, backtick: Bool) -> Bool {
        let v = values[i]
        if v < 0x80 {
            switch UInt8(v) {
            case UInt8(ascii: "`"): return backtick
            case 0x21...0x2F, 0x3A...0x40, 0x5B...0x5E, 0x5F, 0x7B...0x7E: return true
            default: return false
            }
        }
        return classes[i] & UnicodeClass.whitespace.rawValue == 0 && classes[i] & UnicodeClass.punctuation.rawValue != 0
    }

    /// Maximal runs where `inside` holds are pieces, and so are the runs between them.
    private mutating func runs(_ inside: (Scanner, Int) -> Bool) {
        guard start < end else { return }
        var state = inside(self, start)
        for i in (start + 1)..<end {
            let s = inside(self, i)
            if s != state { emit(i); state = s }
        }
        emit(end)
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` at `i` (which must be before `end`), case-insensitive or not: the length of the
    /// match, or 0. `foldsLongS`: case-insensitive as Unicode case folding is, where `ſ` (U+017F) is an `s` too (the
    /// only non-ASCII character folding to one of these letters).
    @inline(__always)
    private func contraction(_ i: Int, caseInsensitive: Bool, foldsLongS: Bool = false) -> Int {
        guard values[i] == Self.apostrophe, i + 1 < end else { return 0 }
        func lower(_ v: UInt32) -> UInt32 {
            if caseInsensitive && v >= 0x41 && v <= 0x5A { return v + 0x20 }
            return foldsLongS && v == Self.longS ? 0x73 : v
        }
        let a = lower(values[i + 1])
        if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return 2 } // s t m d
        guard i + 2 < end else { return 0 }
        let b = lower(values[i + 2])
        if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return 3 } // re ve ll
        return 0
    }

    /// Whitespace handling shared by both regex families: `\s+(?!\S)` then `\s+`, with `\s*[\r\n]+` first
    /// when `newlines`. Returns the end of the match (position + 1 when nothing matches).
    @inline(__always)
    private func whitespaceMatch(_ pos: Int, newlines: Bool) -> Int {
        var n = 0
        var lastNewline = -1
        while isWhitespace(pos + n) {
            if newlines && (values[pos + n] == Self.cr || values[pos + n] == Self.lf) { lastNewline = pos + n + 1 }
            n += 1
        }
        if lastNewline >= 0 { return lastNewline }
        if n > 1 && pos + n < end { return pos + n - 1 }
        if n > 0 { return pos + n }
        return pos + 1
    }

    private mutating func gpt2() {
        var pos = start
        while pos < end {
            let c = contraction(pos, caseInsensitive: false)
            if c > 0 { pos += c; emit(pos); continue }
            let lead = values[pos] == Self.space ? 1 : 0
            let head = pos + lead
            if isLetter(head) {
                pos = head
                while isLetter(pos) { pos += 1 }
                emit(pos); continue
            }
            if isNumber(head) {
                pos = head
                while isNumber(pos) { pos += 1 }
                emit(pos); continue
            }
            if isOther(head) {
                pos = head
                while isOther(pos) { pos += 1 }
                emit(pos); continue
            }
            pos = whitespaceMatch(pos, newlines: false)
            emit(pos)
        }
    }

    private mutating func llama3(maxDigits: Int) {
        var pos = start
        while pos < end {
            let c = contraction(pos, caseInsensitive: true)
            if c > 0 { pos += c; emit(pos); continue }
            let v = values[pos]
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if v != Self.cr && v != Self.lf && !isNumber(pos) && (isLetter(pos) || isLetter(pos + 1)) {
                pos += 1
                while isLetter(pos) { pos += 1 }
                emit(pos); continue
            }
            // \p{N}{1,maxDigits}
            if isNumber(pos) {
                var first = pos
                while isNumber(pos) {
                    pos += 1
                    if pos - first >= maxDigits { emit(pos); first = pos }
                }
                emit(pos); continue
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            let head = pos + (v == Self.space ? 1 : 0)
            if isOther(head) {
                pos = head
                while isOther(pos) { pos += 1 }
                while pos < end && (values[pos] == Self.cr || values[pos] == Self.lf) { pos += 1 }
                emit(pos); continue
            }
            pos = whitespaceMatch(pos, newlines: true)
            emit(pos)
        }
    }

    // MARK: o200k

    /// A word character that may start a word (`[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`; llama.cpp: a letter but a-z).
    @inline(__always)
    private func isWordStart(_ i: Int, exact: Bool) -> Bool {
        guard i < end else { return false }
        let c = classes[i]
        if exact { return c & Self.letterOrMark != 0 && c & UnicodeClass.lowercase.rawValue == 0 }
        return c & UnicodeClass.letter.rawValue != 0 && (c & UnicodeClass.lowercase.rawValue == 0 || values[i] >= 0x80)
    }

    /// A word character that may end a word (`[\p{Ll}\p{Lm}\p{Lo}\p{M}]`; llama.cpp: a letter but A-Z).
    @inline(__always)
    private func isWordEnd(_ i: Int, exact: Bool) -> Bool {
        guard i < end else { return false }
        let c = classes[i]
        if exact { return c & Self.letterOrMark != 0 && c & UnicodeClass.uppercase.rawValue == 0 }
        return c & UnicodeClass.letter.rawValue != 0 && (c & UnicodeClass.uppercase.rawValue == 0 || values[i] >= 0x80)
    }

    private static let letterOrMark = UnicodeClass.letter.rawValue | UnicodeClass.mark.rawValue

    /// The optional contraction after a word ending at `i`: its length, or 0.
    @inline(__always)
    private func wordContraction(_ i: Int, exact: Bool) -> Int {
        i < end ? contraction(i, caseInsensitive: true, foldsLongS: exact) : 0
    }

    /// `Start*End+'x?` from `q`, as a backtracking engine matches it: the starting run taken whole, then given back
    /// one character at a time until an ending character follows. The end of the match, or -1.
    @inline(__always)
    private func capitalizedWord(_ q: Int, exact: Bool) -> Int {
        var r = q
        while isWordStart(r, exact: exact) { r += 1 }
        var k = r
        if !isWordEnd(k, exact: exact) {
            // Inside the starting run only characters that go either way can end a word (Lm, Lo and marks; for
            // llama.cpp, every non-ASCII letter).
            k = r - 1
            while k >= q && !isWordEnd(k, exact: exact) { k -= 1 }
            if k < q { return -1 }
        }
        var e = k + 1
        while isWordEnd(e, exact: exact) { e += 1 }
        return e + wordContraction(e, exact: exact)
    }

    /// `Start+End*'x?` from `q`: the end of the match, or -1.
    @inline(__always)
    private func upperWord(_ q: Int, exact: Bool) -> Int {
        guard isWordStart(q, exact: exact) else { return -1 }
        var e = q + 1
        while isWordStart(e, exact: exact) { e += 1 }
        while isWordEnd(e, exact: exact) { e += 1 }
        return e + wordContraction(e, exact: exact)
    }

    /// The first two alternatives, `P?Start*End+'x?|P?Start+End*'x?` with `P` = `[^\r\n\p{L}\p{N}]`, tried in the
    /// regex's order (each with `P` taken first, then without): the end of the match, or -1.
    @inline(__always)
    private func o200kWord(_ p: Int, exact: Bool) -> Int {
        let v = values[p]
        let prefix = v != Self.cr && v != Self.lf
            && classes[p] & (UnicodeClass.letter.rawValue | UnicodeClass.number.rawValue) == 0
        if prefix {
            let e = capitalizedWord(p + 1, exact: exact)
            if e >= 0 { return e }
        }
        let e = capitalizedWord(p, exact: exact)
        if e >= 0 { return e }
        if prefix {
            let e = upperWord(p + 1, exact: exact)
            if e >= 0 { return e }
        }
        return upperWord(p, exact: exact)
    }

    private mutating func o200k(exact: Bool) {
        var pos = start
        while pos < end {
            let word = o200kWord(pos, exact: exact)
            if word >= 0 { pos = word; emit(pos); continue }
            // \p{N}{1,3}
            if isNumber(pos) {
                let stop = min(pos + 3, end)
                pos += 1
                while pos < stop && isNumber(pos) { pos += 1 }
                emit(pos); continue
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n/]*'
            let head = pos + (values[pos] == Self.space ? 1 : 0)
            if isOther(head) {
                pos = head
                while isOther(pos) { pos += 1 }
                while pos < end && (values[pos] == Self.cr || values[pos] == Self.lf || values[pos] == Self.slash) { pos += 1 }
                emit(pos); continue
            }
            pos = whitespaceMatch(pos, newlines: true)
            emit(pos)
        }
    }
}
