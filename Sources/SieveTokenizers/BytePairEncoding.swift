import Foundation
import SieveCore

/// Merges a word's symbols by merge rank: llama.cpp's `llm_tokenizer_bpe` loop over a linked list of symbols
/// and a priority queue of adjacent pairs (lowest rank first, leftmost first among equal ranks), on token ids.
struct MergeEngine {
    private var ids: [Int32] = []
    private var next: [Int32] = []
    private var prev: [Int32] = []
    private var queue = MinHeap()

    /// Merges `symbols` (token ids) with `merges`; appends the resulting ids to `out`.
    mutating func merge(_ symbols: UnsafeBufferPointer<Int32>, merges: MergeTable, into out: inout [Int32]) {
        let n = symbols.count
        if n == 0 { return }
        if n == 1 { out.append(symbols[0]); return }
        ids.removeAll(keepingCapacity: true)
        ids.append(contentsOf: symbols)
        next.removeAll(keepingCapacity: true)
        prev.removeAll(keepingCapacity: true)
        for i in 0..<n {
            next.append(i + 1 < n ? Int32(i + 1) : -1)
            prev.append(Int32(i - 1))
        }
        queue.removeAll()
        for i in 0..<(n - 1) { push(i, i + 1, merges) }
        while !queue.isEmpty {
            let entry = queue.pop()
            let left = Int(truncatingIfNeeded: entry.key & 0xFFFF_FFFF)
            let right = Int(next[left])
            guard ids[left] >= 0, right >= 0,
                  entry.check == UInt64(UInt32(bitPattern: ids[left])) << 32 | UInt64(UInt32(bitPattern: ids[right])),
                  let merge = merges.lookup(ids[left], ids[right]) else { continue }
            ids[left] = merge.merged
            ids[right] = -1
            let after = next[right]
            next[left] = after
            if after >= 0 { prev[Int(after)] = Int32(left) }
            if prev[left] >= 0 { push(Int(prev[left]), left, merges) }
            if after >= 0 { push(left, Int(after), merges) }
        }
        var i: Int32 = 0
        while i >= 0 {
            out.append(ids[Int(i)])
            i = next[Int(i)]
        }
    }

    @inline(__always)
    private mutating func push(_ left: Int, _ right: Int, _ merges: MergeTable) {
        guard let merge = merges.lookup(ids[left], ids[right]) else { return }
        queue.push(QueueEntry(key: UInt64(UInt32(bitPattern: merge.rank)) << 32 | UInt64(left),
                              check: UInt64(UInt32(bitPattern: ids[left])) << 32 | UInt64(UInt32(bitPattern: ids[right]))))
    }
}

/// The merges of a BPE vocabulary as id pairs. Strings a merge names that are not tokens get ids past the
/// vocabulary ("extended" ids), so merges chain exactly as llama.cpp's string-keyed ranks do; such a symbol left
/// at the end falls back to tokens for its parts.
struct MergeRules: Sendable {
    /// (left id, right id) → (rank, merged id).
    let table: MergeTable
    /// Text of each extended id (index = id - vocabulary count).
    let extendedTexts: [[UInt8]]

    /// Indexes `merges` ("left right", highest priority first) against `vocabulary`; `extra` are further strings
    /// (e.g. byte symbols) that need ids, returned in order.
    init(merges: [String], vocabulary: Vocabulary, extra: [[UInt8]], extraIDs: inout [Int32]) throws {
        var list: [(left: Int32, right: Int32, merged: Int32)] = []
        list.reserveCapacity(merges.count)
        var extended = ByteStringTable(capacity: 64)
        var extendedTexts: [[UInt8]] = []
        let base = Int32(vocabulary.count)
        func id(_ p: UnsafeRawPointer, _ n: Int) -> Int32 {
            let found = vocabulary.textIndex.lookup(p, n)
            if found >= 0 { return found }
            let known = extended.lookup(p, n)
            if known >= 0 { return known }
            let new = base + Int32(extendedTexts.count)
            extended.insert(p, n, value: new)
            extendedTexts.append(Array(UnsafeRawBufferPointer(start: p, count: n)))
            return new
        }
        extraIDs = extra.map { bytes in bytes.withUnsafeBytes { id($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count) } }
        var joined = [UInt8](repeating: 0, count: 256)
        for (rank, line) in merges.enumerated() {
            var line = line
            try line.withUTF8 { u in
                // llama.cpp splits at the first space after the first byte.
                guard u.count >= 3, let space = u[1...].firstIndex(of: 0x20) else {
                    throw TokenizerError.invalidVocabulary(reason: "merge \(rank) '\(String(decoding: u, as: UTF8.self))' is not \"left right\"")
                }
                let p = UnsafeRawPointer(u.baseAddress!)
                let left = id(p, space)
                let right = id(p + space + 1, u.count - space - 1)
                if joined.count < u.count { joined = [UInt8](repeating: 0, count: u.count * 2) }
                let merged: Int32 = joined.withUnsafeMutableBytes { j in
                    j.baseAddress!.copyMemory(from: p, byteCount: space)
                    (j.baseAddress! + space).copyMemory(from: p + space + 1, byteCount: u.count - space - 1)
                    return id(UnsafeRawPointer(j.baseAddress!), u.count - 1)
                }
                list.append((left, right, merged))
            }
        }
        table = MergeTable(merges: list)
        self.extendedTexts = extendedTexts
    }
}

/// Byte-level BPE (GPT-2 family): pre-tokenize, map bytes to the byte-level alphabet, merge by rank.
struct ByteLevelBPE: Sendable {
    let preTokenizer: PreTokenizer
    let rules: MergeRules
    /// Initial symbol id of each byte.
    let byteSymbols: [Int32]
    /// Whether a word that is itself a token is emitted whole, without merging.
    let ignoresMerges: Bool
    /// UTF-8 of each byte's symbol in the byte-level alphabet (1 or 2 bytes), for whole-word lookups.
    let byteSymbolText: [[UInt8]]
    /// Token of each single-byte text (llama.cpp's last resort for a symbol that is not a token).
    let singleByteTokens: [Int32]
    let vocabularyCount: Int32

    init(_ d: TokenizerDescription, vocabulary: Vocabulary) throws {
        guard let pre = PreTokenizer(name: d.preTokenizer) else {
            throw TokenizerError.unsupportedPreTokenizer(name: d.preTokenizer, supported: PreTokenizer.supportedNames)
        }
        guard !d.merges.isEmpty else {
            throw TokenizerError.invalidVocabulary(reason: "a byte-level BPE vocabulary needs merges (tokenizer.ggml.merges / model.merges); none were given")
        }
        preTokenizer = pre
        vocabularyCount = Int32(vocabulary.count)
        let byteTexts: [[UInt8]] = (0..<256).map { b in
            var u: [UInt8] = []
            appendUTF8(ByteLevelAlphabet.scalarOfByte[b], to: &u)
            return u
        }
        var ids: [Int32] = []
        rules = try MergeRules(merges: d.merges, vocabulary: vocabulary, extra: byteTexts, extraIDs: &ids)
        byteSymbols = ids
        singleByteTokens = (0..<256).map { b in vocabulary.textIndex.lookup([UInt8(b)]) }
        ignoresMerges = d.ignoreMerges || pre.impliesIgnoreMerges
        byteSymbolText = byteTexts
    }

    /// Appends the ids of `symbol` to `out`: itself when it is a token, else llama.cpp's per-byte fallback.
    @inline(__always)
    func emit(_ symbol: Int32, into out: inout [Int32]) {
        if symbol < vocabularyCount { out.append(symbol); return }
        for byte in rules.extendedTexts[Int(symbol - vocabularyCount)] where singleByteTokens[Int(byte)] >= 0 {
            out.append(singleByteTokens[Int(byte)])
        }
    }
}

/// A bounded cache of word → ids, for the words that repeat in a text.
struct WordCache {
    private var index = ByteStringTable(capacity: 4096)
    private var starts: [Int32] = []
    private var counts: [Int32] = []
    private var ids: [Int32] = []
    /// Above this many cached ids the cache starts over.
    private static let limit = 1 << 20

    /// Appends the cached ids of the word to `out`; false when the word is not cached.
    @inline(__always)
    func lookup(_ base: UnsafeRawPointer, _ count: Int, into out: inout [Int32]) -> Bool {
        let entry = index.lookup(base, count)
        if entry < 0 { return false }
        let s = Int(starts[Int(entry)])
        out.append(contentsOf: ids[s..<(s + Int(counts[Int(entry)]))])
        return true
    }

    /// Caches `result` for the word.
    mutating func insert(_ base: UnsafeRawPointer, _ count: Int, result: ArraySlice<Int32>) {
        if ids.count + result.count > Self.limit {
            index.removeAll()
            starts.removeAll(keepingCapacity: true)
            counts.removeAll(keepingCapacity: true)
            ids.removeAll(keepingCapacity: true)
        }
        index.insert(base, count, value: Int32(starts.count))
        starts.append(Int32(ids.count))
        counts.append(Int32(result.count))
        ids.append(contentsOf: result)
    }
}
