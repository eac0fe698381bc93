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
public struct TokenizerDescription: Sendable, Equatable {
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
    public var bosID: Int?
    public var eosID: Int?
    /// End-of-turn token (e.g. `<|im_end|>`).
    public var eotID: Int?
    public var unknownID: Int?
    public var paddingID: Int?
    public var separatorID: Int?
    public var maskID: Int?
    public var addBOS: Bool
    public var addEOS: Bool
    /// SentencePiece: prepend a space to the text before tokenizing.
    public var addSpacePrefix: Bool
    /// WordPiece: lowercase the input.
    public var lowercase: Bool
    /// The chat template (Jinja text), if the model has one.
    public var chatTemplate: String?

    public init(kind: TokenizerKind, tokens: [String], scores: [Float] = [], tokenTypes: [Int32] = [],
                merges: [String] = [], preTokenizer: String = "default", bosID: Int? = nil, eosID: Int? = nil,
                eotID: Int? = nil, unknownID: Int? = nil, paddingID: Int? = nil, separatorID: Int? = nil,
                maskID: Int? = nil, addBOS: Bool = false, addEOS: Bool = false, addSpacePrefix: Bool = false,
                lowercase: Bool = false, chatTemplate: String? = nil) {
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
    }

    /// Vocabulary size.
    public var vocabularySize: Int { tokens.count }
}
