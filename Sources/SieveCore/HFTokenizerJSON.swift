/// Reads a Hugging Face `tokenizer.json` (+ optional `tokenizer_config.json`) into a `TokenizerDescription`.
extension TokenizerDescription {
    /// Maximum vocabulary size accepted from a file.
    public static let maxVocabularySize = 1 << 22

    public init(huggingFaceJSON json: JSONValue, config: JSONValue?, source: String) throws {
        guard let model = json["model"], model.objectMembers != nil else {
            throw SieveCoreError.unexpectedJSON(source: source, path: "$.model", expected: "an object")
        }
        let type = model["type"]?.stringValue ?? "BPE"
        let kind: TokenizerKind
        switch type {
        case "BPE": kind = (model["byte_fallback"]?.boolValue ?? false) ? .sentencePiece : .bytePairEncoding
        case "WordPiece": kind = .wordPiece
        default:
            throw SieveCoreError.unexpectedJSON(source: source, path: "$.model.type", expected: "BPE or WordPiece (got \(type))")
        }
        // Vocabulary: token -> id, laid out by id.
        var byID: [Int: String] = [:]
        guard let vocab = model["vocab"]?.objectMembers else {
            throw SieveCoreError.unexpectedJSON(source: source, path: "$.model.vocab", expected: "an object of token -> id")
        }
        for (token, idValue) in vocab {
            guard let id = idValue.intValue, id >= 0, id < Self.maxVocabularySize else {
                throw SieveCoreError.unexpectedJSON(source: source, path: "$.model.vocab[\(token)]", expected: "an id in 0..<\(Self.maxVocabularySize)")
            }
            byID[id] = token
        }
        var special: [String: Int] = [:]
        var specialIDs: Set<Int> = []
        for (i, added) in (json["added_tokens"]?.arrayItems ?? []).enumerated() {
            guard let id = added["id"]?.intValue, id >= 0, id < Self.maxVocabularySize, let content = added["content"]?.stringValue else {
                throw SieveCoreError.unexpectedJSON(source: source, path: "$.added_tokens[\(i)]", expected: "an object with id and content")
            }
            byID[id] = content
            special[content] = id
            if added["special"]?.boolValue ?? false { specialIDs.insert(id) }
        }
        let count = (byID.keys.max() ?? -1) + 1
        var tokens = [String](repeating: "", count: count)
        var types = [Int32](repeating: 1, count: count)
        for (id, token) in byID { tokens[id] = token }
        for id in 0..<count where byID[id] == nil { types[id] = 5 }
        for id in specialIDs { types[id] = 3 }
        if kind == .sentencePiece {
            for (id, token) in byID where token.count == 6 && token.hasPrefix("<0x") && token.hasSuffix(">") { types[id] = 6 }
        }
        var merges: [String] = []
        for (i, m) in (model["merges"]?.arrayItems ?? []).enumerated() {
            if let s = m.stringValue { merges.append(s) }
            else if let pair = m.arrayItems, pair.count == 2, let a = pair[0].stringValue, let b = pair[1].stringValue { merges.append(a + " " + b) }
            else { throw SieveCoreError.unexpectedJSON(source: source, path: "$.model.merges[\(i)]", expected: "\"a b\" or [a, b]") }
        }
        func tokenName(_ key: String) -> String? {
            guard let v = config?[key] else { return nil }
            return v.stringValue ?? v["content"]?.stringValue
        }
        func id(of key: String) -> Int? {
            guard let name = tokenName(key) else { return nil }
            return special[name] ?? vocab.first(where: { $0.0 == name })?.1.intValue
        }
        self.init(kind: kind, tokens: tokens, tokenTypes: types, merges: merges, preTokenizer: "default",
                  bosID: id(of: "bos_token"), eosID: id(of: "eos_token"), unknownID: id(of: "unk_token"),
                  paddingID: id(of: "pad_token"), separatorID: id(of: "sep_token"), maskID: id(of: "mask_token"),
                  addBOS: config?["add_bos_token"]?.boolValue ?? false, addEOS: config?["add_eos_token"]?.boolValue ?? false,
                  addSpacePrefix: kind == .sentencePiece, lowercase: config?["do_lower_case"]?.boolValue ?? false,
                  chatTemplate: config?["chat_template"]?.stringValue)
    }
}
