/// Writes a `TokenizerDescription` as Hugging Face `tokenizer.json` and `tokenizer_config.json`, so that a model
/// converted from GGUF to a Hugging Face folder keeps its tokenizer (for `tokenizers`, `transformers` and Sieve).
///
/// Only what `init(huggingFaceJSON:config:source:)` reads back to the same tokenizer is written: byte-level BPE
/// with the GPT-2, Llama 3, Qwen2, SmolLM or GPT-4o pre-tokenizer (llama.cpp's `gpt-2`, `llama-bpe`, `qwen2`,
/// `smollm`, `gpt-4o`; a `gpt-4o` GGUF gets llama.cpp's regex for it, not o200k's, so that `tokenizers` splits as
/// llama.cpp does) or the exact o200k one read from a `tokenizer.json` (`o200k`).
/// SentencePiece-style and WordPiece vocabularies, and other pre-tokenizers, have no file here
/// (`huggingFaceFiles()` is nil): a tokenizer that merged or split differently would be worse than none.
extension TokenizerDescription {
    /// The pre-tokenizers (llama.cpp names) `huggingFaceFiles()` writes.
    public static let huggingFacePreTokenizers = ["gpt-2", "llama-bpe", "qwen2", "smollm", "gpt-4o", "o200k"]

    /// Whether `huggingFaceFiles()` can write this tokenizer.
    public var hasHuggingFaceForm: Bool {
        kind == .bytePairEncoding && Self.huggingFacePreTokenizers.contains(preTokenizer)
    }

    /// `tokenizer.json` and `tokenizer_config.json`, or nil when the tokenizer has no exact Hugging Face form
    /// (`hasHuggingFaceForm`).
    public func huggingFaceFiles() -> (tokenizer: JSONValue, config: JSONValue)? {
        guard hasHuggingFaceForm else { return nil }
        func token(_ id: Int?) -> JSONValue {
            guard let id, id >= 0, id < tokens.count else { return .null }
            return .string(tokens[id])
        }
        func type(_ id: Int) -> Int32 { id < tokenTypes.count ? tokenTypes[id] : 1 }

        // Control tokens are special added tokens; user-defined ones are added tokens split out of any text.
        let specialIDs = Set([bosID, eosID, eotID, unknownID, paddingID].compactMap { $0 })
        var added: [JSONValue] = []
        for id in tokens.indices {
            let t = type(id)
            let special = t == 3 || (tokenTypes.isEmpty && specialIDs.contains(id))
            guard special || t == 4 else { continue }
            added.append(.object([
                ("id", .int(Int64(id))), ("content", .string(tokens[id])), ("single_word", .bool(false)),
                ("lstrip", .bool(false)), ("rstrip", .bool(false)), ("normalized", .bool(!special)),
                ("special", .bool(special)),
            ]))
        }

        let byteLevelWithRegex: JSONValue = .object([
            ("type", .string("ByteLevel")), ("add_prefix_space", .bool(addSpacePrefix)), ("trim_offsets", .bool(true)),
            ("use_regex", .bool(true)),
        ])
        let preTokenizerJSON: JSONValue
        switch preTokenizer {
        case "llama-bpe", "qwen2", "gpt-4o", "o200k":
            let regex = Self.knownSplitRegexes.first { $0.preTokenizer == preTokenizer }!.regex
            preTokenizerJSON = .object([("type", .string("Sequence")), ("pretokenizers", .array([
                .object([("type", .string("Split")), ("pattern", .object([("Regex", .string(regex))])),
                         ("behavior", .string("Isolated")), ("invert", .bool(false))]),
                .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(addSpacePrefix)),
                         ("trim_offsets", .bool(false)), ("use_regex", .bool(false))]),
            ]))])
        case "smollm":
            preTokenizerJSON = .object([("type", .string("Sequence")), ("pretokenizers", .array([
                .object([("type", .string("Digits")), ("individual_digits", .bool(true))]),
                byteLevelWithRegex,
            ]))])
        default:
            preTokenizerJSON = byteLevelWithRegex
        }

        // BOS/EOS around a single sequence, as the reader takes them from a template.
        let postProcessor: JSONValue
        if (addBOS && bosID != nil) || (addEOS && eosID != nil) {
            let before = addBOS ? bosID : nil, after = addEOS ? eosID : nil
            func piece(_ id: Int, typeID: Int) -> JSONValue {
                .object([("SpecialToken", .object([("id", .string(tokens[id])), ("type_id", .int(Int64(typeID)))]))])
            }
            func sequence(_ name: String, typeID: Int) -> JSONValue {
                .object([("Sequence", .object([("id", .string(name)), ("type_id", .int(Int64(typeID)))]))])
            }
            let single = [before.map { piece($0, typeID: 0) }, sequence("A", typeID: 0), after.map { piece($0, typeID: 0) }].compactMap { $0 }
            let pair = single + [before.map { piece($0, typeID: 1) }, sequence("B", typeID: 1), after.map { piece($0, typeID: 1) }].compactMap { $0 }
            let specials = Set([before, after].compactMap { $0 }).sorted().map { id -> (String, JSONValue) in
                (tokens[id], .object([("id", .string(tokens[id])), ("ids", .array([.int(Int64(id))])),
                                      ("tokens", .array([.string(tokens[id])]))]))
            }
            postProcessor = .object([("type", .string("TemplateProcessing")), ("single", .array(single)), ("pair", .array(pair)),
                                     ("special_tokens", .object(specials))])
        } else {
            postProcessor = .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)),
                                     ("trim_offsets", .bool(false)), ("use_regex", .bool(true))])
        }

        // Every id keeps its token in the model's vocabulary (added tokens included, as GPT-2's file has them),
        // except empty slots of unused ids, which a vocabulary object cannot hold twice.
        var vocab: [(String, JSONValue)] = []
        vocab.reserveCapacity(tokens.count)
        var seen = Set<String>()
        for (id, t) in tokens.enumerated() where seen.insert(t).inserted { vocab.append((t, .int(Int64(id)))) }
        let model: JSONValue = .object([
            // The reader makes `unk_token` an unknown-type token: name it only where the vocabulary says so.
            ("type", .string("BPE")), ("dropout", .null), ("unk_token", unknownID.map { type($0) == 2 } == true ? token(unknownID) : .null),
            ("continuing_subword_prefix", .null), ("end_of_word_suffix", .null), ("fuse_unk", .bool(false)),
            ("byte_fallback", .bool(false)), ("ignore_merges", .bool(ignoreMerges || preTokenizer == "llama-bpe")),
            ("vocab", .object(vocab)), ("merges", .array(merges.map { .string($0) })),
        ])
        let tokenizer: JSONValue = .object([
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null), ("added_tokens", .array(added)),
            ("normalizer", .null), ("pre_tokenizer", preTokenizerJSON), ("post_processor", postProcessor),
            ("decoder", .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)),
                                 ("trim_offsets", .bool(true)), ("use_regex", .bool(true))])),
            ("model", model),
        ])

        var config: [(String, JSONValue)] = [
            ("add_bos_token", .bool(addBOS)), ("add_eos_token", .bool(addEOS)),
            ("bos_token", token(bosID)), ("eos_token", token(eosID)), ("unk_token", token(unknownID)),
            ("pad_token", token(paddingID)), ("clean_up_tokenization_spaces", .bool(false)),
            ("tokenizer_class", .string("PreTrainedTokenizerFast")),
        ]
        if let chatTemplate { config.append(("chat_template", .string(chatTemplate))) }
        return (tokenizer, .object(config))
    }
}
