import Foundation
import SieveCore

/// SentencePiece-style BPE over text whose spaces are already `▁`.
///
/// With scores (GGUF, sentencepiece models) this is llama.cpp's `llm_tokenizer_spm`: start from UTF-8
/// characters and repeatedly merge the adjacent pair whose concatenation is the token with the highest score
/// (leftmost first among equal scores). Without scores (a `tokenizer.json` BPE with byte fallback) the merges
/// ranks decide, as Hugging Face's BPE model does. What is left over falls back to byte tokens `<0xXX>`.
struct SentencePieceBPE: Sendable {
    /// Per-token scores; empty when the merges decide.
    let scores: [Float]
    /// The merges, when there are no scores.
    let rules: MergeRules?
    /// The byte-fallback token of each byte (`<0xXX>`, else the one-byte token), or -1.
    let byteTokens: [Int32]
    let unknownID: Int32
    let vocabularyCount: Int32
    /// Whether no token has a `▁` after another character: then no merge crosses the start of a word, and each
    /// word (`▁` + what follows up to the next word start) can be tokenized on its own, with the same result.
    let wordsAreIndependent: Bool

    init(_ d: TokenizerDescription, vocabulary: Vocabulary) throws {
        vocabularyCount = Int32(vocabulary.count)
        func hasInnerMarker(_ u: UnsafeBufferPointer<UInt8>) -> Bool {
            var i = 1
            while i + 2 < u.count {
                if u[i] == 0xE2 && u[i + 1] == 0x96 && u[i + 2] == 0x81 && !Self.followsSpaceMarker(u, i) { return true }
                i += 1
            }
            return false
        }
        // `▁` itself must be a token, or unknown characters on both sides of a word start would fuse into one.
        var independent = vocabulary.id(of: "\u{2581}") != nil && !d.tokens.contains { token in
            var t = token
            return t.withUTF8 { hasInnerMarker($0) }
        }
        unknownID = Int32(d.unknownID ?? -1)
        byteTokens = (0..<256).map { b in
            let hex = String(format: "<0x%02X>", b)
            if let id = vocabulary.id(of: hex) { return Int32(id) }
            return vocabulary.textIndex.lookup([UInt8(b)])
        }
        if !d.scores.isEmpty {
            scores = d.scores
            rules = nil
        } else if !d.merges.isEmpty {
            scores = []
            var unused: [Int32] = []
            let rules = try MergeRules(merges: d.merges, vocabulary: vocabulary, extra: [], extraIDs: &unused)
            // Merges may produce strings that are not tokens; they must not join words either.
            independent = independent && !rules.extendedTexts.contains { $0.withUnsafeBufferPointer(hasInnerMarker) }
            self.rules = rules
        } else {
            throw TokenizerError.invalidVocabulary(reason: "a SentencePiece vocabulary needs scores (tokenizer.ggml.scores) or merges (model.merges); it has neither")
        }
        wordsAreIndependent = independent
    }

    /// Appends the byte-fallback tokens of `bytes` to `out` (the unknown token for a byte without one).
    @inline(__always)
    func emitBytes(_ bytes: UnsafeRawBufferPointer, into out: inout [Int32]) {
        for b in bytes {
            let t = byteTokens[Int(b)]
            if t >= 0 { out.append(t) } else if unknownID >= 0 { out.append(unknownID) }
        }
    }

    /// Whether the bytes before `i` are a `▁`.
    private static func followsSpaceMarker(_ u: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool {
        i >= 3 && u[i - 3] == 0xE2 && u[i - 2] == 0x96 && u[i - 1] == 0x81
    }

    /// Tokenizes `text` (UTF-8, spaces already escaped); appends the ids to `out`.
    func encode(_ text: UnsafeRawBufferPointer, vocabulary: Vocabulary, scratch: inout SentencePieceScratch, into out: inout [Int32]) {
        if text.isEmpty { return }
        guard wordsAreIndependent else {
            encodeWord(text, vocabulary: vocabulary, scratch: &scratch, into: &out)
            return
        }
        let u = UnsafeBufferPointer(start: text.baseAddress!.assumingMemoryBound(to: UInt8.self), count: text.count)
        var start = 0
        var i = 1
        while i <= u.count {
            let boundary = i == u.count
                || (i + 2 < u.count && u[i] == 0xE2 && u[i + 1] == 0x96 && u[i + 2] == 0x81 && !Self.followsSpaceMarker(u, i))
            if boundary {
                let word = UnsafeRawBufferPointer(rebasing: text[start..<i])
                if !scratch.cache.lookup(word.baseAddress!, word.count, into: &out) {
                    let mark = out.count
                    encodeWord(word, vocabulary: vocabulary, scratch: &scratch, into: &out)
                    scratch.cache.insert(word.baseAddress!, word.count, result: out[mark...])
                }
                start = i
            }
            i += 1
        }
    }

    private func encodeWord(_ text: UnsafeRawBufferPointer, vocabulary: Vocabulary, scratch: inout SentencePieceScratch, into out: inout [Int32]) {
        if let rules {
            encodeByRank(text, rules: rules, vocabulary: vocabulary, scratch: &scratch, into: &out)
        } else {
            encodeByScore(text, vocabulary: vocabulary, scratch: &scratch, into: &out)
        }
    }

    private func encodeByScore(_ text: UnsafeRawBufferPointer, vocabulary: Vocabulary, scratch s: inout SentencePieceScratch,
                               into out: inout [Int32]) {
        let base = text.baseAddress!
        s.reset()
        var offset = 0
        while offset < text.count {
            let length = min(utf8Length(text[offset]), text.count - offset)
            s.start.append(Int32(offset))
            s.length.append(Int32(length))
            offset += length
        }
        let n = s.start.count
        for i in 0..<n {
            s.prev.append(Int32(i - 1))
            s.next.append(i + 1 < n ? Int32(i + 1) : -1)
        }
        func tryPush(_ s: inout SentencePieceScratch, _ left: Int, _ right: Int) {
            let size = Int(s.length[left] + s.length[right])
            let id = vocabulary.textIndex.lookup(base + Int(s.start[left]), size)
            guard id >= 0 else { return }
            var score = scores[Int(id)]
            if score == 0 { score = 0 } // one key for -0 and +0
            let bits = score.bitPattern
            let ordered = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000 // ascending with the score
            s.queue.push(QueueEntry(key: UInt64(~ordered) << 32 | UInt64(left), check: UInt64(right) << 32 | UInt64(size)))
        }
        for i in 1..<max(n, 1) { tryPush(&s, i - 1, i) }
        while !s.queue.isEmpty {
            let entry = s.queue.pop()
            let left = Int(truncatingIfNeeded: entry.key & 0xFFFF_FFFF)
            let right = Int(truncatingIfNeeded: entry.check >> 32)
            let size = Int32(truncatingIfNeeded: entry.check & 0xFFFF_FFFF)
            guard s.length[left] != 0, s.length[right] != 0, s.length[left] + s.length[right] == size else { continue }
            s.length[left] = size
            s.length[right] = 0
            let after = s.next[right]
            s.next[left] = after
            if after >= 0 { s.prev[Int(after)] = Int32(left) }
            if s.prev[left] >= 0 { tryPush(&s, Int(s.prev[left]), left) }
            if after >= 0 { tryPush(&s, left, Int(after)) }
        }
        var i: Int32 = 0
        while i >= 0 {
            let p = base + Int(s.start[Int(i)])
            let count = Int(s.length[Int(i)])
            let id = vocabulary.textIndex.lookup(p, count)
            if id >= 0 { out.append(id) } else { emitBytes(UnsafeRawBufferPointer(start: p, count: count), into: &out) }
            i = s.next[Int(i)]
        }
    }

    private func encodeByRank(_ text: UnsafeRawBufferPointer, rules: MergeRules, vocabulary: Vocabulary,
                              scratch s: inout SentencePieceScratch, into out: inout [Int32]) {
        let base = text.baseAddress!
        s.symbols.removeAll(keepingCapacity: true)
        var offset = 0
        var previousUnknown = false
        while offset < text.count {
            let length = min(utf8Length(text[offset]), text.count - offset)
            let id = vocabulary.textIndex.lookup(base + offset, length)
            if id >= 0 {
                s.symbols.append(id)
                previousUnknown = false
            } else if (0..<length).allSatisfy({ byteTokens[Int(text[offset + $0])] >= 0 }) {
                for k in 0..<length { s.symbols.append(byteTokens[Int(text[offset + k])]) }
                previousUnknown = false
            } else if unknownID >= 0 && !previousUnknown {
                s.symbols.append(unknownID) // consecutive unknown characters fuse into one unknown token
                previousUnknown = true
            }
            offset += length
        }
        s.merged.removeAll(keepingCapacity: true)
        s.symbols.withUnsafeBufferPointer { s.engine.merge($0, merges: rules.table, into: &s.merged) }
        for id in s.merged {
            if id < vocabularyCount { out.append(id); continue }
            rules.extendedTexts[Int(id - vocabularyCount)].withUnsafeBytes { emitBytes($0, into: &out) }
        }
    }
}

/// Reusable buffers of the SentencePiece encoder.
struct SentencePieceScratch {
    var start: [Int32] = []
    var length: [Int32] = []
    var prev: [Int32] = []
    var next: [Int32] = []
    var queue = MinHeap()
    var symbols: [Int32] = []
    var merged: [Int32] = []
    var engine = MergeEngine()
    var cache = WordCache()

    mutating func reset() {
        start.removeAll(keepingCapacity: true)
        length.removeAll(keepingCapacity: true)
        prev.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        queue.removeAll()
    }
}

/// Length of the UTF-8 sequence a lead byte starts (1 for a stray continuation byte), as llama.cpp computes it.
@inline(__always)
func utf8Length(_ lead: UInt8) -> Int {
    switch lead >> 4 {
    case 0xC, 0xD: return 2
    case 0xE: return 3
    case 0xF: return 4
    default: return 1
    }
}
