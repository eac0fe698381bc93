/// The byte-level BPE pre-tokenizers: llama.cpp's regex lists, written as hand-made scanners over Unicode
/// classes. Each stage splits every piece the previous stage produced; text between two regex matches stays one
/// piece, as in llama.cpp's `unicode_regex_split`.
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
    func split(_ values: UnsafeBufferPointer<UInt32>, _ classes: UnsafeBufferPointer<UInt8>, into ends: inout [Int32],
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
    let classes: UnsafeBufferPointer<UInt8>
    let start: Int
    let end: Int
    var out: [Int32]
    private var emitted: Int

    init(values: UnsafeBufferPointer<UInt32>, classes: UnsafeBufferPointer<UInt8>, start: Int, end: Int) {
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

    /// `'s|'t|'re|'ve|'m|'ll|'d` at `i`, case-insensitive or not: the length of the match, or 0.
    @inline(__always)
    private func contraction(_ i: Int, caseInsensitive: Bool) -> Int {
        guard values[i] == Self.apostrophe, i + 1 < end else { return 0 }
        func lower(_ v: UInt32) -> UInt32 { caseInsensitive && v >= 0x41 && v <= 0x5A ? v + 0x20 : v }
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
}
