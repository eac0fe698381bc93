/// The tokenizer algorithm a model uses.
public enum TokenizerKind: String, Sendable, Codable {
    /// Byte-level BPE (GPT-2 family; GGUF `tokenizer.ggml.model = gpt2`).
    case bytePairEncoding = "bpe"
    /// SentencePiece-style (GGUF `llama`): score-based merges, byte fallback, `▁` for spaces.
    case sentencePiece = "spm"
    /// WordPiece (GGUF `bert`).
    case wordPiece = "wordpiece"
}

/// A format-neutral description of a tokenizer: the vocabulary and the rules, as GGUF metadata and
/// `tokenizer.json` both express them. `SieveTokenizers` builds a working tokenizer from it.
///
/// Conventions shared by both sources:
/// - byte-level BPE tokens and merges are in GPT-2's byte-to-unicode alphabet (`Ġ` for a space);
/// - SentencePiece tokens use `▁` for a space and `<0xXX>` for byte-fallback tokens; with `scores` the merges
///   follow the scores (llama.cpp, sentencepiece), without scores the `merges` ranks (a `tokenizer.json` BPE with
///   byte fallback);
/// - WordPiece tokens are either in GGUF's phantom-space form (`▁word` starts a word, continuation pieces bare;
///   `continuingSubwordPrefix == nil`) or in Hugging Face's form (`word`, `##piece`; the prefix is set).
public struct TokenizerDescription: Sendable, Equatable {
    /// The tokenizer algorithm.
    public var kind: TokenizerKind
    /// Token text by id.
    public var tokens: [String]
    /// Per-token scores (SentencePiece), empty when absent.
    public var scores: [Float]
    /// Per-token types (GGUF codes: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte); empty when absent.
    public var tokenTypes: [Int32]
    /// BPE merges as "left right", highest priority first.
    public var merges: [String]
    /// The pre-tokenizer name in llama.cpp's vocabulary (`gpt-2`, `llama-bpe`, `qwen2`, `smollm`, `default`, …).
    public var preTokenizer: String
    /// Beginning-of-sequence token.
    public var bosID: Int?
    /// End-of-sequence token.
    public var eosID: Int?
    /// End-of-turn token (e.g. `<|im_end|>`).
    public var eotID: Int?
    /// Unknown-token id (WordPiece `[UNK]`, SentencePiece `<unk>`).
    public var unknownID: Int?
    /// Padding token.
    public var paddingID: Int?
    /// Separator token (BERT `[SEP]`).
    public var separatorID: Int?
    /// Mask token (BERT `[MASK]`).
    public var maskID: Int?
    /// Whether encoding with special tokens prepends `bosID`.
    public var addBOS: Bool
    /// Whether encoding with special tokens appends `eosID`.
    public var addEOS: Bool
    /// SentencePiece: prepend a space to the text before tokenizing. Byte-level BPE: prepend a space to text that
    /// does not start with one (Hugging Face `ByteLevel(add_prefix_space=true)`).
    public var addSpacePrefix: Bool
    /// WordPiece: lowercase the input.
    public var lowercase: Bool
    /// The chat template (Jinja text), if the model has one.
    public var chatTemplate: String?
    /// Byte-level BPE: a pre-tokenized word that is itself a token is emitted whole, without merging
    /// (`tokenizer.json` `model.ignore_merges`; llama.cpp implies it for the Llama 3 pre-tokenizers).
    public var ignoreMerges: Bool
    /// WordPiece: the prefix of continuation pieces in `tokens` (`##` in `tokenizer.json`); nil when the
    /// vocabulary is in GGUF's phantom-space form.
    public var continuingSubwordPrefix: String?
    /// WordPiece: strip accents (NFD, drop combining marks); nil follows `lowercase`, as BERT's normalizer does.
    public var stripAccents: Bool?
    /// WordPiece: the classifier token put first (`[CLS]`); nil falls back to `bosID`.
    public var clsID: Int?

    /// A description with the given vocabulary, merges, special tokens and options.
    public init(kind: TokenizerKind, tokens: [String], scores: [Float] = [], tokenTypes: [Int32] = [],
                merges: [String] = [], preTokenizer: String = "default", bosID: Int? = nil, eosID: Int? = nil,
                eotID: Int? = nil, unknownID: Int? = nil, paddingID: Int? = nil, separatorID: Int? = nil,
                maskID: Int? = nil, addBOS: Bool = false, addEOS: Bool = false, addSpacePrefix: Bool = false,
                lowercase: Bool = false, chatTemplate: String? = nil, ignoreMerges: Bool = false,
                continuingSubwordPrefix: String? = nil, stripAccents: Bool? = nil, clsID: Int? = nil) {
        self.kind = kind
        self.tokens = tokens
        self.scores = scores
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.preTokenizer = preTokenizer
        self.bosID = bosID
        self.eosID = eosID
        self.eotID = eotID
        self.unknownID = unknownID
        self.paddingID = paddingID
        self.separatorID = separatorID
        self.maskID = maskID
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.addSpacePrefix = addSpacePrefix
        self.lowercase = lowercase
        self.chatTemplate = chatTemplate
        self.ignoreMerges = ignoreMerges
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.stripAccents = stripAccents
        self.clsID = clsID
    }

    /// Vocabulary size.
    public var vocabularySize: Int { tokens.count }
}
