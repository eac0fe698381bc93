/// Reads a Hugging Face `tokenizer.json` (+ optional `tokenizer_config.json`) into a `TokenizerDescription`.
///
/// What is understood, and how it maps onto llama.cpp's vocabulary of tokenizers:
/// - `model`: `BPE` (byte-level, or SentencePiece-style with `byte_fallback` / `▁` spaces) and `WordPiece`;
/// - `normalizer`: `BertNormalizer`, `Lowercase`, `NFD` + `StripAccents`, SentencePiece's `Prepend("▁")` and
///   `Replace(" ", "▁")`, `NFC` (ignored, as llama.cpp does), `Sequence` of these;
/// - `pre_tokenizer`: `ByteLevel` (its regex is GPT-2's → `gpt-2`), `Split` with the GPT-2, Llama 3 or Qwen2
///   regex → `gpt-2` / `llama-bpe` / `qwen2`, with o200k's (GPT-4o, Phi-4-mini, Llama 4) → `o200k` (Sieve's name
///   for the exact regex; llama.cpp's `gpt-4o` approximates it) or with llama.cpp's `gpt-4o` regex → `gpt-4o`
///   (and Gemma's `Split(" ")` after `Replace(" ", "▁")`, which splits nothing), `Digits(individual_digits)` +
///   `ByteLevel` → `smollm`, `Metaspace`, `BertPreTokenizer`, `Sequence` of these;
/// - `post_processor`: `TemplateProcessing` (the `single` template's special tokens before and after `$A`),
///   `BertProcessing`, `RobertaProcessing`, `ByteLevel`, `Sequence`;
/// - `added_tokens`: special ones become control tokens, the others user-defined tokens (split out of any text).
/// Anything else is an error that names it: a silently different tokenizer would be worse.
extension TokenizerDescription {
    /// Maximum vocabulary size accepted from a file.
    public static let maxVocabularySize = 1 << 22
    /// How many ids below the highest may be unused.
    public static let maxIDGaps = 1 << 16

    /// The pre-tokenizer regexes of `tokenizer.json` `Split` steps that Sieve implements, by llama.cpp name (`o200k`
    /// is Sieve's: see `llamaCppPreTokenizer`).
    public static let knownSplitRegexes: [(regex: String, preTokenizer: String)] = [
        (#"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#, "gpt-2"),
        (#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#, "llama-bpe"),
        (#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#, "qwen2"),
        // o200k (tiktoken's o200k_base), as Phi-4-mini's, Llama 4's and gpt-oss's tokenizer.json spell it.
        (#"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#, "o200k"),
        // llama.cpp's stand-in for o200k (src/llama-vocab.cpp, LLAMA_VOCAB_PRE_TYPE_GPT4O): what Sieve writes for a
        // `gpt-4o` GGUF, with which the tokenizers library splits as llama.cpp does.
        (#"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#, "gpt-4o"),
    ]

    /// The `tokenizer.ggml.pre` name llama.cpp knows for a pre-tokenizer of `knownSplitRegexes`: itself, except
    /// `o200k`, which llama.cpp runs as `gpt-4o` (its converter names Phi-4-mini's and Llama 4's tokenizer.json so).
    /// `gpt-4o` differs from the exact regex on some non-ASCII text (cased non-ASCII letters, marks, `'ſ`).
    public static func llamaCppPreTokenizer(_ name: String) -> String {
        name == "o200k" ? "gpt-4o" : name
    }

    /// Builds the description from a parsed `tokenizer.json` and, when present, `tokenizer_config.json`
    /// (special-token names, `add_bos_token`/`add_eos_token`, `chat_template`). `source` names the file in errors.
    public init(huggingFaceJSON json: JSONValue, config: JSONValue?, source: String) throws {
        func fail(_ path: String, _ expected: String) -> SieveCoreError {
            SieveCoreError.unexpectedJSON(source: source, path: path, expected: expected)
        }
        guard let model = json["model"], model.objectMembers != nil else { throw fail("$.model", "an object") }
        let modelType = model["type"]?.stringValue ?? "BPE"
        guard modelType == "BPE" || modelType == "WordPiece" else {
            throw fail("$.model.type", "BPE or WordPiece; '\(modelType)' tokenizers are not supported (convert the model to GGUF with llama.cpp or use a BPE/WordPiece tokenizer)")
        }

        // Vocabulary (token -> id) and added tokens, laid out by id.
        guard let vocab = model["vocab"]?.objectMembers else { throw fail("$.model.vocab", "an object of token -> id") }
        var byID: [Int: String] = [:]
        var idOf: [String: Int] = [:]
        idOf.reserveCapacity(vocab.count)
        for (token, value) in vocab {
            guard let id = value.intValue, id >= 0, id < Self.maxVocabularySize else {
                throw fail("$.model.vocab[\(token)]", "an id in 0..<\(Self.maxVocabularySize)")
            }
            byID[id] = token
            idOf[token] = id
        }
        var controlIDs: Set<Int> = []
        var userDefinedIDs: Set<Int> = []
        for (i, added) in (json["added_tokens"]?.arrayItems ?? []).enumerated() {
            guard let id = added["id"]?.intValue, id >= 0, id < Self.maxVocabularySize, let content = added["content"]?.stringValue else {
                throw fail("$.added_tokens[\(i)]", "an object with id and content")
            }
            byID[id] = content
            idOf[content] = id
            if added["special"]?.boolValue ?? false { controlIDs.insert(id) } else { userDefinedIDs.insert(id) }
        }

        // Normalizer, pre-tokenizer and post-processor, flattened.
        let normalizers = try Self.steps(json["normalizer"], member: "normalizers", path: "$.normalizer", source: source)
        let preTokenizers = try Self.steps(json["pre_tokenizer"], member: "pretokenizers", path: "$.pre_tokenizer", source: source)
        let postProcessors = try Self.steps(json["post_processor"], member: "processors", path: "$.post_processor", source: source)

        var lowercase = config?["do_lower_case"]?.boolValue ?? false
        var stripAccents: Bool? = config?["strip_accents"]?.boolValue
        var prependSpace = false
        var escapesSpaces = false
        for (path, step) in normalizers {
            switch step["type"]?.stringValue ?? "" {
            case "BertNormalizer":
                lowercase = step["lowercase"]?.boolValue ?? true
                stripAccents = step["strip_accents"]?.boolValue
            case "Lowercase": lowercase = true
            case "NFD", "StripAccents": stripAccents = true
            case "NFC": break // llama.cpp does not normalize either; inputs are expected in NFC.
            case "Prepend":
                guard step["prepend"]?.stringValue == "\u{2581}" else { throw fail(path + ".prepend", "\"▁\" (other Prepend normalizers are not supported)") }
                prependSpace = true
            case "Replace":
                guard step["pattern"]?["String"]?.stringValue == " ", step["content"]?.stringValue == "\u{2581}" else {
                    throw fail(path, "Replace(\" \" → \"▁\") (other Replace normalizers are not supported)")
                }
                escapesSpaces = true
            case let other: throw fail(path + ".type", "a supported normalizer (BertNormalizer, Lowercase, NFD, StripAccents, NFC, Prepend, Replace); '\(other)' is not supported")
            }
        }

        var preTokenizer = "default"
        var byteLevel = false
        var digitsSplit = false
        var addPrefixSpace = false
        var bertPreTokenizer = false
        for (path, step) in preTokenizers {
            switch step["type"]?.stringValue ?? "" {
            case "ByteLevel":
                byteLevel = true
                addPrefixSpace = step["add_prefix_space"]?.boolValue ?? false
                if step["use_regex"]?.boolValue ?? true {
                    guard preTokenizer == "default" else { throw fail(path, "one regex split (ByteLevel with use_regex after a Split)") }
                    preTokenizer = "gpt-2"
                }
            case "Split":
                if step["pattern"]?["String"]?.stringValue == " ", escapesSpaces {
                    // Gemma's Split(" ", MergedWithPrevious) after its Replace(" " → "▁") normalizer: no space is
                    // left to split on.
                    continue
                }
                guard let regex = step["pattern"]?["Regex"]?.stringValue else {
                    throw fail(path + ".pattern", "a Regex pattern, or the string \" \" after a Replace(\" \" → \"▁\") normalizer (Gemma's, which splits nothing); other string patterns are not supported")
                }
                // Every known regex matches at every position, so nothing lies between two matches: keeping the
                // matches (Isolated) and dropping what is not matched (Removed, inverted; MiniMax-M2's o200k) agree.
                let behavior = step["behavior"]?.stringValue ?? "Isolated", invert = step["invert"]?.boolValue ?? false
                guard (behavior == "Isolated" && !invert) || (behavior == "Removed" && invert) else {
                    throw fail(path + ".behavior", "Isolated, not inverted, or Removed, inverted (other Split behaviours are not supported)")
                }
                guard let known = Self.knownSplitRegexes.first(where: { $0.regex == regex }) else {
                    throw fail(path + ".pattern.Regex", "the GPT-2, Llama 3, Qwen2 or o200k pre-tokenizer regex; this regex is not supported: \(regex)")
                }
                preTokenizer = known.preTokenizer
            case "Digits":
                guard step["individual_digits"]?.boolValue ?? false else {
                    throw fail(path + ".individual_digits", "true (grouped Digits are not supported)")
                }
                digitsSplit = true
            case "Metaspace":
                guard (step["replacement"]?.stringValue ?? "\u{2581}") == "\u{2581}" else { throw fail(path + ".replacement", "\"▁\"") }
                escapesSpaces = true
                if let scheme = step["prepend_scheme"]?.stringValue { prependSpace = scheme != "never" }
                else { prependSpace = step["add_prefix_space"]?.boolValue ?? true }
            case "BertPreTokenizer": bertPreTokenizer = true
            case let other: throw fail(path + ".type", "a supported pre-tokenizer (ByteLevel, Split, Digits, Metaspace, BertPreTokenizer); '\(other)' is not supported")
            }
        }
        if digitsSplit {
            guard preTokenizer == "gpt-2" else { throw fail("$.pre_tokenizer", "Digits(individual_digits) followed by ByteLevel(use_regex: true) (SmolLM's pre-tokenizer)") }
            preTokenizer = "smollm"
        }

        // The algorithm.
        let kind: TokenizerKind
        if modelType == "WordPiece" {
            guard bertPreTokenizer || preTokenizers.isEmpty else { throw fail("$.pre_tokenizer", "BertPreTokenizer for a WordPiece model") }
            kind = .wordPiece
        } else if byteLevel {
            kind = .bytePairEncoding
        } else if (model["byte_fallback"]?.boolValue ?? false) || escapesSpaces {
            kind = .sentencePiece
            preTokenizer = "default"
        } else {
            throw fail("$.pre_tokenizer", "ByteLevel (byte-level BPE) or Metaspace / byte_fallback (SentencePiece-style BPE)")
        }
        if kind == .bytePairEncoding {
            if let suffix = model["end_of_word_suffix"], !suffix.isNull, suffix.stringValue != "" {
                throw fail("$.model.end_of_word_suffix", "null (BPE with an end-of-word suffix is not supported)")
            }
            if let prefix = model["continuing_subword_prefix"], !prefix.isNull, prefix.stringValue != "" {
                throw fail("$.model.continuing_subword_prefix", "null (BPE with a continuing-subword prefix is not supported)")
            }
        }

        // Lay out the vocabulary and token types.
        let count = (byID.keys.max() ?? -1) + 1
        // Ids are dense in real vocabularies; a lone huge id would make the layout below allocate for millions of
        // tokens that a small file never listed.
        guard count <= byID.count + Self.maxIDGaps else {
            throw fail("$.model.vocab", "ids without large gaps (the highest id is \(count - 1) but only \(byID.count) tokens are listed)")
        }
        var tokens = [String](repeating: "", count: count)
        var types = [Int32](repeating: 1, count: count)
        for (id, token) in byID { tokens[id] = token }
        for id in 0..<count where byID[id] == nil { types[id] = 5 }
        for id in userDefinedIDs { types[id] = 4 }
        for id in controlIDs { types[id] = 3 }
        if kind == .sentencePiece {
            for (id, token) in byID where Self.isByteToken(token) && !controlIDs.contains(id) { types[id] = 6 }
        }
        var unknownID: Int?
        if let unk = model["unk_token"]?.stringValue {
            guard let id = idOf[unk] else { throw fail("$.model.unk_token", "a token of the vocabulary ('\(unk)' is not)") }
            unknownID = id
            if kind != .wordPiece || controlIDs.contains(id) { types[id] = 2 }
        }

        var merges: [String] = []
        merges.reserveCapacity(model["merges"]?.arrayItems?.count ?? 0)
        for (i, m) in (model["merges"]?.arrayItems ?? []).enumerated() {
            if let s = m.stringValue { merges.append(s) }
            else if let pair = m.arrayItems, pair.count == 2, let a = pair[0].stringValue, let b = pair[1].stringValue { merges.append(a + " " + b) }
            else { throw fail("$.model.merges[\(i)]", "\"a b\" or [a, b]") }
        }

        // Special tokens named in tokenizer_config.json.
        func configID(_ key: String) throws -> Int? {
            guard let value = config?[key], !value.isNull else { return nil }
            guard let name = value.stringValue ?? value["content"]?.stringValue else {
                throw fail("tokenizer_config.json $.\(key)", "a token string or {\"content\": …}")
            }
            guard let id = idOf[name] else { throw fail("tokenizer_config.json $.\(key)", "a token of the vocabulary ('\(name)' is not)") }
            return id
        }
        var bosID = try configID("bos_token")
        var eosID = try configID("eos_token")
        var separatorID = try configID("sep_token")
        var clsID = try configID("cls_token")
        var addBOS = config?["add_bos_token"]?.boolValue ?? false
        var addEOS = config?["add_eos_token"]?.boolValue ?? false

        // Special tokens the post-processor adds around a single sequence.
        var prefix: [Int]?
        var suffix: [Int]?
        for (path, step) in postProcessors {
            switch step["type"]?.stringValue ?? "" {
            case "ByteLevel": break
            case "TemplateProcessing":
                guard let single = step["single"]?.arrayItems else { throw fail(path + ".single", "an array") }
                var before: [Int] = [], after: [Int] = [], seenSequence = false
                for (i, piece) in single.enumerated() {
                    if piece["Sequence"] != nil { seenSequence = true; continue }
                    guard let name = piece["SpecialToken"]?["id"]?.stringValue else { throw fail("\(path).single[\(i)]", "a SpecialToken or Sequence") }
                    let ids = step["special_tokens"]?[name]?["ids"]?.arrayItems?.compactMap(\.intValue) ?? idOf[name].map { [$0] } ?? []
                    guard !ids.isEmpty else { throw fail("\(path).special_tokens[\(name)]", "the ids of '\(name)'") }
                    if seenSequence { after += ids } else { before += ids }
                }
                prefix = before
                suffix = after
            case "BertProcessing", "RobertaProcessing":
                guard let cls = step["cls"]?.arrayItems?.last?.intValue, let sep = step["sep"]?.arrayItems?.last?.intValue else {
                    throw fail(path, "cls and sep as [token, id]")
                }
                prefix = [cls]
                suffix = [sep]
            case let other: throw fail(path + ".type", "a supported post-processor (TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel); '\(other)' is not supported")
            }
        }
        if let prefix, let suffix {
            guard prefix.count <= 1, suffix.count <= 1 else {
                throw fail("$.post_processor", "at most one special token before and one after the sequence")
            }
            if kind == .wordPiece {
                clsID = prefix.first ?? clsID
                separatorID = suffix.first ?? separatorID
            } else {
                addBOS = !prefix.isEmpty
                addEOS = !suffix.isEmpty
                if let first = prefix.first { bosID = first }
                if let last = suffix.first { eosID = last }
            }
        }

        // The chat template: a string, or a list of named templates of which "default" is used.
        var chatTemplate = config?["chat_template"]?.stringValue
        if chatTemplate == nil, let list = config?["chat_template"]?.arrayItems {
            chatTemplate = list.first(where: { $0["name"]?.stringValue == "default" })?["template"]?.stringValue
        }

        self.init(kind: kind, tokens: tokens, tokenTypes: types, merges: merges, preTokenizer: preTokenizer,
                  bosID: bosID, eosID: eosID, unknownID: unknownID,
                  paddingID: try configID("pad_token"), separatorID: separatorID, maskID: try configID("mask_token"),
                  addBOS: addBOS, addEOS: addEOS,
                  addSpacePrefix: kind == .sentencePiece ? prependSpace : addPrefixSpace,
                  lowercase: lowercase, chatTemplate: chatTemplate,
                  ignoreMerges: model["ignore_merges"]?.boolValue ?? false,
                  continuingSubwordPrefix: kind == .wordPiece ? (model["continuing_subword_prefix"]?.stringValue ?? "##") : nil,
                  stripAccents: stripAccents, clsID: clsID)
    }

    /// Whether `token` is a SentencePiece byte token `<0xXX>`.
    static func isByteToken(_ token: String) -> Bool {
        let u = Array(token.utf8)
        func hex(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) }
        return u.count == 6 && u[0] == 0x3C && u[1] == 0x30 && u[2] == 0x78 && hex(u[3]) && hex(u[4]) && u[5] == 0x3E
    }

    /// A component (`normalizer`, `pre_tokenizer`, `post_processor`) as a flat list of steps with their JSON
    /// paths: null is none, a `Sequence` is its members in order.
    private static func steps(_ value: JSONValue?, member: String, path: String, source: String) throws -> [(String, JSONValue)] {
        guard let value, !value.isNull else { return [] }
        guard value.objectMembers != nil, let type = value["type"]?.stringValue else {
            throw SieveCoreError.unexpectedJSON(source: source, path: path, expected: "an object with a type")
        }
        guard type == "Sequence" else { return [(path, value)] }
        guard let items = value[member]?.arrayItems else {
            throw SieveCoreError.unexpectedJSON(source: source, path: path + "." + member, expected: "an array")
        }
        var out: [(String, JSONValue)] = []
        for (i, item) in items.enumerated() {
            out += try steps(item, member: member, path: "\(path).\(member)[\(i)]", source: source)
        }
        return out
    }
}
