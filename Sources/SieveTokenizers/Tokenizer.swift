import Foundation
import SieveCore

/// A working tokenizer built from a `TokenizerDescription`: byte-level BPE, SentencePiece-style BPE or
/// WordPiece, with special-token handling, decoding and chat templates. Token ids match llama.cpp's.
///
/// Build one from a model with `Tokenizer(graph:)` (the graph's format plugin filled its description from GGUF
/// metadata or `tokenizer.json`), or from a description with `Tokenizer(_:)`. A tokenizer is immutable and
/// can be used from several threads at once.
public final class Tokenizer: Sendable {
    /// The description this tokenizer was built from.
    public let definition: TokenizerDescription
    /// Beginning-of-sequence token, if any.
    public let bosID: Int?
    /// End-of-sequence token, if any.
    public let eosID: Int?
    /// End-of-turn token (`<|im_end|>`, `<|eot_id|>`…): the description's, else found by its text as llama.cpp does.
    public let eotID: Int?
    /// Unknown token, if any.
    public let unknownID: Int?
    /// Padding token, if any.
    public let paddingID: Int?
    /// Every token that ends generation: EOS, EOT and the tokens whose text llama.cpp treats so.
    public let endOfGenerationIDs: Set<Int>

    let vocabulary: Vocabulary
    private let model: Model
    /// Decoded bytes of every token, rendered as in ordinary text (control tokens empty).
    private let pieceBytes: [UInt8]
    private let pieceOffsets: [Int32]
    /// Tokens split out of text before tokenizing, longest text first.
    private let specialTokens: [Int32]
    /// Token put first / last when special tokens are added.
    private let prefixID: Int32?
    private let suffixID: Int32?

    private enum Model: Sendable {
        case byteLevel(ByteLevelBPE)
        case sentencePiece(SentencePieceBPE)
        case wordPiece(WordPiece)
    }

    /// Builds the tokenizer the description calls for. Throws `TokenizerError` when it names an unsupported
    /// pre-tokenizer or is inconsistent (an unsupported kind or pre-tokenizer never falls back to another one).
    public init(_ d: TokenizerDescription) throws {
        definition = d
        let vocabulary = try Vocabulary(d)
        self.vocabulary = vocabulary
        for (role, id) in [("BOS", d.bosID), ("EOS", d.eosID), ("EOT", d.eotID), ("unknown", d.unknownID),
                           ("padding", d.paddingID), ("separator", d.separatorID), ("CLS", d.clsID), ("mask", d.maskID)] {
            if let id, id < 0 || id >= vocabulary.count {
                throw TokenizerError.invalidVocabulary(reason: "the \(role) token id \(id) is outside the vocabulary of \(vocabulary.count) tokens")
            }
        }
        switch d.kind {
        case .bytePairEncoding: model = .byteLevel(try ByteLevelBPE(d, vocabulary: vocabulary))
        case .sentencePiece: model = .sentencePiece(try SentencePieceBPE(d, vocabulary: vocabulary))
        case .wordPiece: model = .wordPiece(try WordPiece(d, vocabulary: vocabulary))
        }

        bosID = d.bosID
        eosID = d.eosID
        unknownID = d.unknownID
        paddingID = d.paddingID
        eotID = d.eotID ?? Vocabulary.endOfTurnTexts.lazy.compactMap { vocabulary.id(of: $0) }.first
        var endOfGeneration = Set([d.eosID, eotID].compactMap { $0 })
        for (id, token) in d.tokens.enumerated() where token.utf8.first == UInt8(ascii: "<") || token.utf8.first == UInt8(ascii: "_") {
            if Vocabulary.endOfGenerationTexts.contains(token) { endOfGeneration.insert(id) }
        }
        endOfGenerationIDs = endOfGeneration

        switch d.kind {
        case .wordPiece:
            // GGUF BERT vocabularies name `[CLS]` only as tokenizer.ggml.cls_token_id (llama.cpp defaults BOS to it);
            // when no id is given, the tokens spelled `[CLS]` / `[SEP]` are the ones BERT puts around a sequence.
            prefixID = (d.clsID ?? d.bosID ?? vocabulary.id(of: "[CLS]")).map(Int32.init)
            suffixID = (d.separatorID ?? d.eosID ?? vocabulary.id(of: "[SEP]")).map(Int32.init)
        case .bytePairEncoding, .sentencePiece:
            if d.addBOS && d.bosID == nil {
                throw TokenizerError.missingSpecialToken(role: "BOS", reason: "the tokenizer is configured to add one (add_bos_token)")
            }
            if d.addEOS && d.eosID == nil {
                throw TokenizerError.missingSpecialToken(role: "EOS", reason: "the tokenizer is configured to add one (add_eos_token)")
            }
            prefixID = d.addBOS ? d.bosID.map(Int32.init) : nil
            suffixID = d.addEOS ? d.eosID.map(Int32.init) : nil
        }

        // Pieces for decoding.
        var bytes: [UInt8] = []
        var offsets: [Int32] = [0]
        offsets.reserveCapacity(d.tokens.count + 1)
        for (id, token) in d.tokens.enumerated() {
            Self.appendPiece(of: token, attribute: vocabulary.attributes[id], description: d, to: &bytes)
            offsets.append(Int32(bytes.count))
        }
        pieceBytes = bytes
        pieceOffsets = offsets

        specialTokens = vocabulary.attributes.indices
            .filter { Self.isSpecial(vocabulary.attributes[$0]) && !d.tokens[$0].isEmpty }
            .sorted { (d.tokens[$0].utf8.count, $1) > (d.tokens[$1].utf8.count, $0) }
            .map(Int32.init)
    }

    /// Control, unknown and user-defined tokens: the ones split out of text before tokenizing.
    private static func isSpecial(_ a: TokenAttribute) -> Bool {
        switch a {
        case .control, .unknown, .userDefined: return true
        case .normal, .unused, .byte, .undefined: return false
        }
    }

    /// Builds the tokenizer of a model read by a format plugin.
    public convenience init(graph: ModelGraph, source: String) throws {
        guard let description = graph.tokenizer else { throw TokenizerError.noTokenizer(source: source) }
        try self.init(description)
    }

    /// Number of tokens.
    public var vocabularySize: Int { vocabulary.count }

    /// The tokenizer algorithm.
    public var kind: TokenizerKind { definition.kind }

    /// Whether generating `id` ends the turn (EOS, EOT and the like).
    public func isEndOfGeneration(_ id: Int) -> Bool { endOfGenerationIDs.contains(id) }

    /// Whether `id` is a control token (BOS, EOS, `<|im_start|>`…), which decodes to nothing by default.
    public func isControl(_ id: Int) -> Bool {
        id >= 0 && id < vocabulary.count && (vocabulary.attributes[id] == .control || vocabulary.attributes[id] == .unknown)
    }

    /// The vocabulary entry of `id` as stored (e.g. `Ġthe`, `▁the`, `<0x0A>`), or nil outside the vocabulary.
    public func tokenText(_ id: Int) -> String? {
        id >= 0 && id < vocabulary.count ? definition.tokens[id] : nil
    }

    /// The id of the token whose vocabulary entry is exactly `text`.
    public func tokenID(_ text: String) -> Int? { vocabulary.id(of: text) }

    // MARK: Encoding

    /// Tokenizes `text`. `addSpecial` adds the tokens the model puts around a sequence (BOS/EOS as configured;
    /// `[CLS]`…`[SEP]` for WordPiece). `parseSpecial` turns the text of control tokens (`<|im_start|>`) into
    /// those tokens; without it that text is ordinary text. User-defined tokens are always split out.
    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = false) -> [Int] {
        var out: [Int32] = []
        var text = text
        text.withUTF8 { encode(UnsafeRawBufferPointer($0), addSpecial: addSpecial, parseSpecial: parseSpecial, into: &out) }
        return out.map(Int.init)
    }

    /// Tokenizes UTF-8 bytes (invalid sequences are read as U+FFFD), appending ids to `out`.
    public func encode(_ utf8: UnsafeRawBufferPointer, addSpecial: Bool, parseSpecial: Bool, into out: inout [Int32]) {
        if addSpecial, let prefixID { out.append(prefixID) }
        var state = EncodeState()
        var previousWasSpecial = true
        for fragment in partition(utf8, parseSpecial: parseSpecial) {
            switch fragment {
            case let .token(id):
                out.append(id)
                previousWasSpecial = true
            case let .text(range):
                let slice = UnsafeRawBufferPointer(rebasing: utf8[range])
                encodeText(slice, afterSpecial: previousWasSpecial, state: &state, into: &out)
                previousWasSpecial = false
            }
        }
        if addSpecial, let suffixID { out.append(suffixID) }
    }

    private enum Fragment {
        case text(Range<Int>)
        case token(Int32)
    }

    /// Splits special-token text out of `utf8`: each special token in turn, longest first, is cut out of every
    /// remaining text fragment (llama.cpp's `tokenizer_st_partition`). Control and unknown tokens only when
    /// `parseSpecial`; user-defined tokens always.
    private func partition(_ utf8: UnsafeRawBufferPointer, parseSpecial: Bool) -> [Fragment] {
        guard !utf8.isEmpty else { return [] }
        var fragments: [Fragment] = [.text(0..<utf8.count)]
        let base = utf8.baseAddress!
        for id in specialTokens {
            let attribute = vocabulary.attributes[Int(id)]
            if !parseSpecial && attribute != .userDefined { continue }
            var token = definition.tokens[Int(id)]
            token.withUTF8 { t in
                let needle = UnsafeRawPointer(t.baseAddress!)
                guard findBytes(needle, t.count, in: base, utf8.count) != nil else { return }
                var next: [Fragment] = []
                next.reserveCapacity(fragments.count + 2)
                for fragment in fragments {
                    guard case var .text(range) = fragment else { next.append(fragment); continue }
                    while !range.isEmpty {
                        guard let offset = findBytes(needle, t.count, in: base + range.lowerBound, range.count) else { break }
                        let at = range.lowerBound + offset
                        if at > range.lowerBound { next.append(.text(range.lowerBound..<at)) }
                        next.append(.token(id))
                        range = (at + t.count)..<range.upperBound
                    }
                    if !range.isEmpty { next.append(.text(range)) }
                }
                fragments = next
            }
        }
        return fragments
    }

    /// Reusable buffers of one `encode` call.
    private struct EncodeState {
        var scalars = ScalarBuffer()
        var classes: [UInt16] = []
        var ends: [Int32] = []
        var scratch: [Int32] = []
        var symbols: [Int32] = []
        var engine = MergeEngine()
        var cache = WordCache()
        var escaped: [UInt8] = []
        var word: [UInt8] = []
        var sentencePiece = SentencePieceScratch()
    }

    private func encodeText(_ text: UnsafeRawBufferPointer, afterSpecial: Bool, state: inout EncodeState, into out: inout [Int32]) {
        switch model {
        case let .byteLevel(bpe):
            if definition.addSpacePrefix && text.first != 0x20 {
                state.escaped.removeAll(keepingCapacity: true)
                state.escaped.append(0x20)
                state.escaped.append(contentsOf: text)
                let copy = state.escaped
                copy.withUnsafeBytes { encodeByteLevel($0, bpe, state: &state, into: &out) }
            } else {
                encodeByteLevel(text, bpe, state: &state, into: &out)
            }
        case let .sentencePiece(spm):
            state.escaped.removeAll(keepingCapacity: true)
            if definition.addSpacePrefix && afterSpecial { state.escaped.append(contentsOf: [0xE2, 0x96, 0x81]) }
            for b in text {
                if b == 0x20 { state.escaped.append(contentsOf: [0xE2, 0x96, 0x81]) } else { state.escaped.append(b) }
            }
            let escaped = state.escaped
            escaped.withUnsafeBytes { spm.encode($0, vocabulary: vocabulary, scratch: &state.sentencePiece, into: &out) }
        case let .wordPiece(wpm):
            wpm.encode(String(decoding: text, as: UTF8.self), into: &out)
        }
    }

    private func encodeByteLevel(_ text: UnsafeRawBufferPointer, _ bpe: ByteLevelBPE, state s: inout EncodeState, into out: inout [Int32]) {
        guard let base = text.baseAddress, !text.isEmpty else { return }
        s.scalars.decode(UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: text.count))
        s.classes.removeAll(keepingCapacity: true)
        for v in s.scalars.values { s.classes.append(UnicodeClass.of(v).rawValue) }
        s.scalars.values.withUnsafeBufferPointer { values in
            s.classes.withUnsafeBufferPointer { classes in
                bpe.preTokenizer.split(values, classes, into: &s.ends, scratch: &s.scratch)
            }
        }
        var startScalar = 0
        for end in s.ends {
            let from = Int(s.scalars.offsets[startScalar])
            let to = Int(s.scalars.offsets[Int(end)])
            startScalar = Int(end)
            let word = base + from
            let count = to - from
            if count == 1 {
                bpe.emit(bpe.byteSymbols[Int(text[from])], into: &out)
                continue
            }
            if bpe.ignoresMerges {
                s.word.removeAll(keepingCapacity: true)
                for i in from..<to { s.word.append(contentsOf: bpe.byteSymbolText[Int(text[i])]) }
                let id = s.word.withUnsafeBytes { vocabulary.textIndex.lookup($0.baseAddress!, $0.count) }
                if id >= 0 { out.append(id); continue }
            }
            if s.cache.lookup(word, count, into: &out) { continue }
            s.symbols.removeAll(keepingCapacity: true)
            for i in from..<to { s.symbols.append(bpe.byteSymbols[Int(text[i])]) }
            let mark = out.count
            s.scratch.removeAll(keepingCapacity: true)
            s.symbols.withUnsafeBufferPointer { s.engine.merge($0, merges: bpe.rules.table, into: &s.scratch) }
            for symbol in s.scratch { bpe.emit(symbol, into: &out) }
            s.cache.insert(word, count, result: out[mark...])
        }
    }

    // MARK: Decoding

    /// How a token reads in text: byte-level tokens decoded to their bytes, `▁` as a space, byte tokens as their
    /// byte, user-defined tokens as their text, control and unknown tokens as nothing.
    private static func appendPiece(of token: String, attribute: TokenAttribute, description d: TokenizerDescription, to out: inout [UInt8]) {
        switch attribute {
        case .control, .unknown, .unused, .undefined: return
        case .userDefined: out.append(contentsOf: token.utf8)
        case .byte:
            let u = Array(token.utf8)
            if u.count == 6, let value = UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16) { out.append(value) }
            else { out.append(contentsOf: u) }
        case .normal:
            switch d.kind {
            case .bytePairEncoding: ByteLevelAlphabet.decode(token, into: &out)
            case .sentencePiece: appendUnescaped(token, to: &out)
            case .wordPiece:
                if let prefix = d.continuingSubwordPrefix {
                    if token.hasPrefix(prefix) { out.append(contentsOf: token.dropFirst(prefix.count).utf8) }
                    else if token.count >= 2 && token.hasPrefix("[") && token.hasSuffix("]") { out.append(contentsOf: token.utf8) }
                    else { out.append(0x20); out.append(contentsOf: token.utf8) }
                } else {
                    appendUnescaped(token, to: &out)
                }
            }
        }
    }

    /// Appends `token` with every `▁` turned into a space.
    private static func appendUnescaped(_ token: String, to out: inout [UInt8]) {
        var i = token.utf8.startIndex
        let u = token.utf8
        while i < u.endIndex {
            let b = u[i]
            let j1 = u.index(after: i)
            if b == 0xE2, j1 < u.endIndex, u[j1] == 0x96 {
                let j2 = u.index(after: j1)
                if j2 < u.endIndex, u[j2] == 0x81 { out.append(0x20); i = u.index(after: j2); continue }
            }
            out.append(b)
            i = j1
        }
    }

    /// The bytes `id` decodes to; control tokens give their text only when `renderSpecial`. Empty outside the vocabulary.
    public func pieceBytes(_ id: Int, renderSpecial: Bool = false) -> [UInt8] {
        guard id >= 0, id < vocabulary.count else { return [] }
        if renderSpecial && isControl(id) { return Array(definition.tokens[id].utf8) }
        return Array(pieceBytes[Int(pieceOffsets[id])..<Int(pieceOffsets[id + 1])])
    }

    /// Whether decoding a sequence from its start drops the space the encoder prepended to the first word
    /// (SentencePiece always prepends one; byte-level BPE only to text without one, so it keeps it, as
    /// Hugging Face's ByteLevel decoder does).
    var stripsLeadingSpace: Bool {
        switch definition.kind {
        case .sentencePiece: return definition.addSpacePrefix
        case .wordPiece: return true
        case .bytePairEncoding: return false
        }
    }

    /// Decodes a whole sequence to UTF-8 bytes. Ids outside the vocabulary decode to nothing.
    public func decodeBytes(_ ids: [Int], renderSpecial: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        var strip = stripsLeadingSpace
        for id in ids {
            var piece = pieceBytes(id, renderSpecial: renderSpecial)
            if strip && !piece.isEmpty {
                if piece[0] == 0x20 { piece.removeFirst() }
                strip = false
            }
            out.append(contentsOf: piece)
        }
        return out
    }

    /// Decodes a whole sequence (from its start: the space the encoder prepended is dropped) to text. Control
    /// tokens decode to nothing unless `renderSpecial`; bytes that do not form valid UTF-8 become U+FFFD.
    public func decode(_ ids: [Int], renderSpecial: Bool = false) -> String {
        String(decoding: decodeBytes(ids, renderSpecial: renderSpecial), as: UTF8.self)
    }

    /// A decoder for tokens arriving one at a time. `sequenceStart`: the first token starts the sequence (its
    /// prepended space is dropped, as `decode` does); false when continuing after a prompt.
    public func makeStreamingDetokenizer(sequenceStart: Bool = false, renderSpecial: Bool = false) -> StreamingDetokenizer {
        StreamingDetokenizer(tokenizer: self, stripLeadingSpace: sequenceStart && stripsLeadingSpace, renderSpecial: renderSpecial)
    }

    // MARK: Chat

    /// Renders `messages` with the model's chat template (or `template`), with `bos_token`/`eos_token` set to
    /// this vocabulary's texts. The result is meant for `encode(_:addSpecial: false, parseSpecial: true)`.
    public func applyChatTemplate(_ messages: [ChatMessage], addGenerationPrompt: Bool = true, template: String? = nil) throws -> String {
        guard let source = template ?? definition.chatTemplate else { throw TokenizerError.noChatTemplate }
        let chat = try ChatTemplate(source)
        return try chat.render(messages: messages, addGenerationPrompt: addGenerationPrompt,
                               bosToken: bosID.flatMap(tokenText) ?? "", eosToken: eosID.flatMap(tokenText) ?? "")
    }
}

/// Turns generated token ids into text as they arrive, holding back the bytes of a UTF-8 character split
/// across tokens until it is complete, so no piece of text it returns contains a broken character.
public struct StreamingDetokenizer {
    private let tokenizer: Tokenizer
    private var pending: [UInt8] = []
    private var stripLeadingSpace: Bool
    private let renderSpecial: Bool

    init(tokenizer: Tokenizer, stripLeadingSpace: Bool, renderSpecial: Bool) {
        self.tokenizer = tokenizer
        self.stripLeadingSpace = stripLeadingSpace
        self.renderSpecial = renderSpecial
    }

    /// Adds one token; returns the text that is now complete (possibly empty).
    public mutating func append(_ id: Int) -> String {
        var piece = tokenizer.pieceBytes(id, renderSpecial: renderSpecial)
        if stripLeadingSpace && !piece.isEmpty {
            if piece[0] == 0x20 { piece.removeFirst() }
            stripLeadingSpace = false
        }
        pending.append(contentsOf: piece)
        let cut = Self.completePrefix(pending)
        guard cut > 0 else { return "" }
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Returns what is still held back (an incomplete character becomes U+FFFD) and empties the buffer.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside a UTF-8 character that may still complete.
    static func completePrefix(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        var i = n - 1
        while i >= max(0, n - 4) {
            let b = bytes[i]
            if b & 0xC0 != 0x80 { // ASCII or a lead byte
                if b < 0x80 { return n }
                return n - i < utf8Length(b) ? i : n
            }
            i -= 1
        }
        return n
    }
}
