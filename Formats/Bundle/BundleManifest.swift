import SieveCore

/// Where a bundle came from: the Sieve that wrote it, the source checkpoint, and the passes applied
/// (SPEC.md §5.3).
public struct BundleProvenance: Sendable, Equatable {
    /// The version of the Sieve that wrote the bundle.
    public var sieveVersion: String
    /// The source checkpoint, when known.
    public var source: BundleSource?
    /// The passes applied, in order, with every option they ran with.
    public var passes: [BundlePass]

    /// Provenance with the given version, source and passes.
    public init(sieveVersion: String = BundleProvenance.currentSieveVersion, source: BundleSource? = nil,
                passes: [BundlePass] = []) {
        self.sieveVersion = sieveVersion
        self.source = source
        self.passes = passes
    }

    /// The Sieve version recorded by default.
    public static let currentSieveVersion = "0.1.0"
}

/// The checkpoint a bundle was made from.
public struct BundleSource: Sendable, Equatable {
    /// The source file's name.
    public var name: String
    /// Its format (`gguf`, `safetensors`, …), when known.
    public var format: String?
    /// Lowercase hex SHA-256 of the source file, when known.
    public var sha256: String?

    /// A source description.
    public init(name: String, format: String? = nil, sha256: String? = nil) {
        self.name = name
        self.format = format
        self.sha256 = sha256
    }
}

/// One pass applied to the model before packing, with its options as JSON.
public struct BundlePass: Sendable, Equatable {
    /// The pass name (`calibrate`, `reorder`, `block`, `predictors`, `quantize`, …).
    public var name: String
    /// Every option the pass ran with.
    public var options: JSONValue

    /// A pass with its options.
    public init(name: String, options: JSONValue) {
        self.name = name
        self.options = options
    }
}

/// A section as the manifest lists it: its name and what it holds.
public struct BundleSectionDescriptor: Sendable, Equatable {
    /// The section's name.
    public var name: String
    /// What the section holds.
    public var kind: BundleSectionKind

    /// A section descriptor.
    public init(name: String, kind: BundleSectionKind) {
        self.name = name
        self.kind = kind
    }
}

/// Where one tensor's bytes are in the decompressed bytes of its section (SPEC.md §5.5).
public struct BundleTensorEntry: Sendable, Equatable {
    /// Strided storage of an FFN bundle part: `count` chunks of `size` bytes, `stride` bytes apart.
    public struct Chunks: Sendable, Equatable {
        /// Number of chunks.
        public var count: Int
        /// Bytes per chunk.
        public var size: Int
        /// Bytes from one chunk's start to the next.
        public var stride: Int
        /// A chunk layout.
        public init(count: Int, size: Int, stride: Int) {
            self.count = count
            self.size = size
            self.stride = stride
        }
    }

    /// The tensor's IR name.
    public var name: String
    /// Element type.
    public var dtype: DType
    /// Shape, outermost dimension first.
    public var shape: Shape
    /// The section holding the bytes.
    public var section: String
    /// Offset of the first byte in the section's decompressed bytes.
    public var offset: Int
    /// The tensor's byte count.
    public var byteCount: Int
    /// nil for a contiguous tensor.
    public var chunks: Chunks?
    /// The most chunks a tensor entry may have.
    public static let maxChunks = 1 << 20

    /// An entry with the given location.
    public init(name: String, dtype: DType, shape: Shape, section: String, offset: Int, byteCount: Int,
                chunks: Chunks? = nil) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.section = section
        self.offset = offset
        self.byteCount = byteCount
        self.chunks = chunks
    }

    /// The byte ranges of the section that, concatenated, are the tensor.
    public var ranges: [Range<Int>] {
        guard let chunks else { return [offset..<(offset + byteCount)] }
        return (0..<chunks.count).map { offset + $0 * chunks.stride ..< offset + $0 * chunks.stride + chunks.size }
    }

    /// Where the bytes are, once validated against the section size, or nil if not contiguous.
    public var contiguousRange: Range<Int>? { chunks == nil ? offset..<(offset + byteCount) : nil }
}

/// Where a blocked FFN's blocks are (SPEC.md §7): block `b` is the bytes
/// `offset + b·stride ..< offset + (b+1)·stride` of `section`, holding the `parts` (gate, up, down rows) in order.
public struct BundleFFNBundle: Sendable, Equatable {
    /// The transformer block this FFN belongs to.
    public var block: Int
    /// Neurons per FFN block.
    public var blockSize: Int
    /// Number of FFN blocks.
    public var blockCount: Int
    /// The i32 `[ff]` permutation tensor (stored neuron → original neuron).
    public var permutation: String
    /// The section holding the blocks.
    public var section: String
    /// Offset of block 0 in the section's decompressed bytes.
    public var offset: Int
    /// Bytes per FFN block.
    public var stride: Int
    /// Tensor names in storage order within a block.
    public var parts: [String]

    /// FFN block `b`'s bytes in the section's decompressed bytes.
    public func range(ofBlock b: Int) -> Range<Int> { (offset + b * stride)..<(offset + (b + 1) * stride) }
}

/// The manifest of a bundle: what the model is and where every tensor lives (SPEC.md §5–§7).
public struct BundleManifest: Sendable {
    /// The architecture family.
    public var architecture: Architecture
    /// The hyperparameters.
    public var hyperparameters: Hyperparameters
    /// The tokenizer, if the model has one.
    public var tokenizer: TokenizerDescription?
    /// Free-form metadata of the source model.
    public var metadata: [String: String]
    /// Where the bundle came from and which passes made it.
    public var provenance: BundleProvenance
    /// Sections in file order.
    public var sections: [BundleSectionDescriptor]
    /// Every tensor's location.
    public var tensors: [BundleTensorEntry]
    /// The `graph` object (SPEC.md §6), turned into IR nodes by `BundleFile.readGraph()`.
    public var graph: JSONValue
    /// Per transformer block, its FFN bundle when the block's FFN is blocked.
    public var ffnBundles: [BundleFFNBundle?]
    /// The whole manifest as stored.
    public var json: JSONValue

    /// Parses and shape-checks a manifest; `file` names the bundle in errors.
    init(json: JSONValue, file: String) throws {
        let root = ManifestCursor(value: json, path: "$", file: file)
        guard json.objectMembers != nil else { throw root.error("expected an object") }
        guard try root.string("format") == "sieve-bundle" else { throw try root.member("format").error("expected \"sieve-bundle\"") }
        let version = try root.int("format_version")
        guard version == BundleLayout.formatVersion else {
            throw try root.member("format_version").error("\(version) disagrees with the header's format version \(BundleLayout.formatVersion)")
        }
        self.json = json
        architecture = try root.member("architecture").enumeration(Architecture.self)
        hyperparameters = try Self.decodeHyperparameters(try root.member("hyperparameters"))
        tokenizer = try root.optionalMember("tokenizer").map(Self.decodeTokenizer)
        metadata = [:]
        for (key, value) in try root.member("metadata").object() { metadata[key] = try value.string() }
        provenance = try Self.decodeProvenance(try root.member("provenance"))

        sections = []
        var sectionNames = Set<String>()
        for s in try root.member("sections").array() {
            let name = try s.string("name")
            guard !name.isEmpty, sectionNames.insert(name).inserted else {
                throw try s.member("name").error(name.isEmpty ? "empty section name" : "duplicate section name '\(name)'")
            }
            sections.append(BundleSectionDescriptor(name: name, kind: try s.member("kind").enumeration(BundleSectionKind.self)))
        }

        tensors = []
        var tensorNames = Set<String>()
        for t in try root.member("tensors").array() {
            let entry = try Self.decodeTensor(t)
            guard tensorNames.insert(entry.name).inserted else { throw try t.member("name").error("duplicate tensor '\(entry.name)'") }
            tensors.append(entry)
        }

        graph = try root.member("graph").value
        let blocks = try root.member("graph").member("blocks").array()
        ffnBundles = try blocks.enumerated().map { i, block in
            let layout = try block.member("ffn").member("layout")
            switch try layout.string("type") {
            case "dense": return nil
            case "blocked":
                let bundle = try layout.member("bundle")
                return BundleFFNBundle(
                    block: i, blockSize: try layout.int("block_size", atLeast: 1),
                    blockCount: try layout.int("block_count", atLeast: 1), permutation: try layout.string("permutation"),
                    section: try bundle.string("section"), offset: try bundle.int("offset", atLeast: 0),
                    stride: try bundle.int("stride", atLeast: 1), parts: try bundle.member("parts").array().map { try $0.string() })
            default: throw try layout.member("type").error("expected \"dense\" or \"blocked\"")
            }
        }
    }

    // MARK: Encoding (the writer's side)

    /// The manifest JSON of a bundle.
    static func encode(architecture: Architecture, hyperparameters: Hyperparameters, tokenizer: TokenizerDescription?,
                       metadata: [String: String], provenance: BundleProvenance, sections: [BundleSectionDescriptor],
                       tensors: [BundleTensorEntry], graph: JSONValue) -> JSONValue {
        .object([
            ("format", .string("sieve-bundle")),
            ("format_version", .integer(BundleLayout.formatVersion)),
            ("architecture", .string(architecture.rawValue)),
            ("hyperparameters", encode(hyperparameters)),
            ("tokenizer", tokenizer.map(encode) ?? .null),
            ("metadata", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("provenance", encode(provenance)),
            ("sections", .array(sections.map { .object([("name", .string($0.name)), ("kind", .string($0.kind.rawValue))]) })),
            ("tensors", .array(tensors.map(encode))),
            ("graph", graph),
        ])
    }

    static func encode(_ hp: Hyperparameters) -> JSONValue {
        .object([
            ("vocab_size", .integer(hp.vocabSize)), ("hidden_size", .integer(hp.hiddenSize)),
            ("intermediate_size", .integer(hp.intermediateSize)), ("layer_count", .integer(hp.layerCount)),
            ("head_count", .integer(hp.headCount)), ("kv_head_count", .integer(hp.kvHeadCount)),
            ("head_dim", .integer(hp.headDim)), ("context_length", .integer(hp.contextLength)),
            ("norm_epsilon", .double(hp.normEpsilon)), ("activation", .string(hp.activation.rawValue)),
            ("rope_theta", .optional(hp.ropeTheta)), ("rope_dimensions", .optional(hp.ropeDimensions)),
            ("position_offset", .integer(hp.positionOffset)), ("tied_embeddings", .bool(hp.tiedEmbeddings)),
            ("token_type_count", .integer(hp.tokenTypeCount)), ("rope_scaling", hp.ropeScaling.map(encode) ?? .null),
            ("sliding_window", hp.slidingWindow.map {
                .object([("window", .integer($0.window)), ("sliding_layers", .array($0.slidingLayers.map { .bool($0) })),
                         ("rope_theta", .double($0.ropeTheta))])
            } ?? .null),
            ("attention_scale", .optional(hp.attentionScale)), ("final_logit_softcap", .optional(hp.finalLogitSoftcap)),
            ("attention_logit_softcap", .optional(hp.attentionLogitSoftcap)),
            ("layers_without_rope", hp.layersWithoutRoPE.map { .array($0.map { .bool($0) }) } ?? .null),
            ("mixture_of_experts", hp.mixtureOfExperts.map {
                .object([("expert_count", .integer($0.expertCount)), ("experts_per_token", .integer($0.expertsPerToken)),
                         ("expert_width", .integer($0.expertWidth)), ("normalizes_weights", .bool($0.normalizesWeights))]
                        + ($0.sharedExpertWidth.map { [("shared_expert_width", JSONValue.integer($0))] } ?? []))
            } ?? .null),
            ("embedding_scale", .optional(hp.embeddingScale)), ("residual_scale", .optional(hp.residualScale)),
            ("logit_divisor", .optional(hp.logitDivisor)),
        ])
    }

    /// A RoPE scaling as SPEC.md §5 describes it: `{"type": "linear", "factor"}`, `{"type": "llama3", "factor",
    /// "low_freq_factor", "high_freq_factor", "original_context_length"}`, `{"type": "frequency_factors", "factors"}` or
    /// `{"type": "longrope", "short_factors", "long_factors", "original_context_length", "attention_factor"}` or
    /// `{"type": "yarn", "factor", "original_context_length", "beta_fast", "beta_slow", "attention_factor", "truncate"}`.
    static func encode(_ scaling: RoPEScaling) -> JSONValue {
        switch scaling {
        case let .linear(factor):
            return .object([("type", .string("linear")), ("factor", .double(factor))])
        case let .llama3(p):
            return .object([("type", .string("llama3")), ("factor", .double(p.factor)), ("low_freq_factor", .double(p.lowFrequencyFactor)),
                            ("high_freq_factor", .double(p.highFrequencyFactor)), ("original_context_length", .integer(p.originalContextLength))])
        case let .frequencyFactors(factors):
            return .object([("type", .string("frequency_factors")), ("factors", .array(factors.map { .double(Double($0)) }))])
        case let .longRoPE(p):
            return .object([("type", .string("longrope")), ("short_factors", .array(p.shortFactors.map { .double(Double($0)) })),
                            ("long_factors", .array(p.longFactors.map { .double(Double($0)) })),
                            ("original_context_length", .integer(p.originalContextLength)), ("attention_factor", .double(p.attentionFactor))])
        case let .yarn(p):
            return .object([("type", .string("yarn")), ("factor", .double(p.factor)), ("original_context_length", .integer(p.originalContextLength)),
                            ("beta_fast", .double(p.betaFast)), ("beta_slow", .double(p.betaSlow)), ("attention_factor", .double(p.attentionFactor)),
                            ("truncate", .bool(p.truncatesCorrectionRange))])
        }
    }

    static func decodeRoPEScaling(_ c: ManifestCursor) throws -> RoPEScaling {
        switch try c.string("type") {
        case "linear":
            return .linear(factor: try c.double("factor"))
        case "llama3":
            return .llama3(Llama3RoPEScaling(factor: try c.double("factor"), lowFrequencyFactor: try c.double("low_freq_factor"),
                                             highFrequencyFactor: try c.double("high_freq_factor"),
                                             originalContextLength: try c.int("original_context_length", atLeast: 1)))
        case "frequency_factors":
            return .frequencyFactors(try c.member("factors").array().map { Float(try $0.double()) })
        case "longrope":
            return .longRoPE(LongRoPEScaling(shortFactors: try c.member("short_factors").array().map { Float(try $0.double()) },
                                             longFactors: try c.member("long_factors").array().map { Float(try $0.double()) },
                                             originalContextLength: try c.int("original_context_length", atLeast: 1),
                                             attentionFactor: try c.double("attention_factor")))
        case "yarn":
            return .yarn(YaRNRoPEScaling(factor: try c.double("factor"), originalContextLength: try c.int("original_context_length", atLeast: 1),
                                         betaFast: try c.double("beta_fast"), betaSlow: try c.double("beta_slow"),
                                         attentionFactor: try c.double("attention_factor"), truncatesCorrectionRange: try c.bool("truncate")))
        case let other:
            throw try c.member("type").error("unknown RoPE scaling type '\(other)' (linear, llama3, frequency_factors, longrope, yarn)")
        }
    }

    static func encode(_ t: TokenizerDescription) -> JSONValue {
        func score(_ s: Float) -> JSONValue {
            if s.isNaN { return .string("nan") }
            if s.isInfinite { return .string(s < 0 ? "-inf" : "inf") }
            return .double(Double(s))
        }
        return .object([
            ("kind", .string(t.kind.rawValue)),
            ("tokens", .array(t.tokens.map { .string($0) })),
            ("scores", .array(t.scores.map(score))),
            ("token_types", .array(t.tokenTypes.map { .int(Int64($0)) })),
            ("merges", .array(t.merges.map { .string($0) })),
            ("pre_tokenizer", .string(t.preTokenizer)),
            ("bos_id", .optional(t.bosID)), ("eos_id", .optional(t.eosID)), ("eot_id", .optional(t.eotID)),
            ("unknown_id", .optional(t.unknownID)), ("padding_id", .optional(t.paddingID)),
            ("separator_id", .optional(t.separatorID)), ("mask_id", .optional(t.maskID)),
            ("add_bos", .bool(t.addBOS)), ("add_eos", .bool(t.addEOS)),
            ("add_space_prefix", .bool(t.addSpacePrefix)), ("lowercase", .bool(t.lowercase)),
            ("chat_template", .optional(t.chatTemplate)),
            ("ignore_merges", .bool(t.ignoreMerges)),
            ("continuing_subword_prefix", .optional(t.continuingSubwordPrefix)),
            ("strip_accents", t.stripAccents.map { .bool($0) } ?? .null),
            ("cls_id", .optional(t.clsID)),
        ])
    }

    static func encode(_ p: BundleProvenance) -> JSONValue {
        let source: JSONValue = p.source.map {
            .object([("name", .string($0.name)), ("format", .optional($0.format)), ("sha256", .optional($0.sha256))])
        } ?? .null
        return .object([
            ("sieve_version", .string(p.sieveVersion)),
            ("source", source),
            ("passes", .array(p.passes.map { .object([("name", .string($0.name)), ("options", $0.options)]) })),
        ])
    }

    static func encode(_ t: BundleTensorEntry) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("name", .string(t.name)), ("dtype", .string(t.dtype.name)),
            ("shape", .array(t.shape.dims.map { .integer($0) })), ("section", .string(t.section)),
            ("offset", .integer(t.offset)), ("size", .integer(t.byteCount)),
        ]
        if let c = t.chunks {
            members.append(("chunks", .object([("count", .integer(c.count)), ("size", .integer(c.size)), ("stride", .integer(c.stride))])))
        }
        return .object(members)
    }

    // MARK: Decoding

    static func decodeHyperparameters(_ c: ManifestCursor) throws -> Hyperparameters {
        Hyperparameters(
            vocabSize: try c.int("vocab_size"), hiddenSize: try c.int("hidden_size"),
            intermediateSize: try c.int("intermediate_size"), layerCount: try c.int("layer_count"),
            headCount: try c.int("head_count"), kvHeadCount: try c.int("kv_head_count"), headDim: try c.int("head_dim"),
            contextLength: try c.int("context_length"), normEpsilon: try c.double("norm_epsilon"),
            activation: try c.member("activation").enumeration(Activation.self), ropeTheta: try c.optionalDouble("rope_theta"),
            ropeDimensions: try c.optionalInt("rope_dimensions"), positionOffset: try c.int("position_offset"),
            tiedEmbeddings: try c.bool("tied_embeddings"), tokenTypeCount: try c.int("token_type_count"),
            ropeScaling: try c.optionalMember("rope_scaling").map(decodeRoPEScaling),
            slidingWindow: try c.optionalMember("sliding_window").map {
                SlidingWindowAttention(window: try $0.int("window", atLeast: 1),
                                       slidingLayers: try $0.member("sliding_layers").array().map { try $0.bool() },
                                       ropeTheta: try $0.double("rope_theta"))
            },
            attentionScale: try c.optionalDouble("attention_scale"), finalLogitSoftcap: try c.optionalDouble("final_logit_softcap"),
            attentionLogitSoftcap: try c.optionalDouble("attention_logit_softcap"),
            layersWithoutRoPE: try c.optionalMember("layers_without_rope").map { try $0.array().map { try $0.bool() } },
            mixtureOfExperts: try c.optionalMember("mixture_of_experts").map {
                MixtureOfExperts(expertCount: try $0.int("expert_count", atLeast: 1), expertsPerToken: try $0.int("experts_per_token", atLeast: 1),
                                 expertWidth: try $0.int("expert_width", atLeast: 1), normalizesWeights: try $0.bool("normalizes_weights"),
                                 sharedExpertWidth: try $0.optionalMember("shared_expert_width")?.int(atLeast: 1))
            },
            embeddingScale: try c.optionalDouble("embedding_scale"), residualScale: try c.optionalDouble("residual_scale"),
            logitDivisor: try c.optionalDouble("logit_divisor"))
    }

    static func decodeTokenizer(_ c: ManifestCursor) throws -> TokenizerDescription {
        let tokens = try c.member("tokens").array().map { try $0.string() }
        let scores: [Float] = try c.member("scores").array().map { s in
            switch s.value {
            case .string("nan"): return .nan
            case .string("inf"): return .infinity
            case .string("-inf"): return -.infinity
            default: return Float(try s.double())
            }
        }
        let types: [Int32] = try c.member("token_types").array().map { t in
            let v = try t.int()
            guard let narrow = Int32(exactly: v) else { throw t.error("\(v) does not fit a 32-bit token type") }
            return narrow
        }
        guard scores.isEmpty || scores.count == tokens.count else {
            throw try c.member("scores").error("\(scores.count) scores for \(tokens.count) tokens")
        }
        guard types.isEmpty || types.count == tokens.count else {
            throw try c.member("token_types").error("\(types.count) token types for \(tokens.count) tokens")
        }
        return TokenizerDescription(
            kind: try c.member("kind").enumeration(TokenizerKind.self), tokens: tokens, scores: scores, tokenTypes: types,
            merges: try c.member("merges").array().map { try $0.string() }, preTokenizer: try c.string("pre_tokenizer"),
            bosID: try c.optionalInt("bos_id"), eosID: try c.optionalInt("eos_id"), eotID: try c.optionalInt("eot_id"),
            unknownID: try c.optionalInt("unknown_id"), paddingID: try c.optionalInt("padding_id"),
            separatorID: try c.optionalInt("separator_id"), maskID: try c.optionalInt("mask_id"),
            addBOS: try c.bool("add_bos"), addEOS: try c.bool("add_eos"), addSpacePrefix: try c.bool("add_space_prefix"),
            lowercase: try c.bool("lowercase"), chatTemplate: try c.optionalString("chat_template"),
            ignoreMerges: try c.bool("ignore_merges"), continuingSubwordPrefix: try c.optionalString("continuing_subword_prefix"),
            stripAccents: try c.optionalMember("strip_accents")?.bool(), clsID: try c.optionalInt("cls_id"))
    }

    static func decodeProvenance(_ c: ManifestCursor) throws -> BundleProvenance {
        let source = try c.optionalMember("source").map {
            BundleSource(name: try $0.string("name"), format: try $0.optionalString("format"), sha256: try $0.optionalString("sha256"))
        }
        let passes = try c.member("passes").array().map {
            BundlePass(name: try $0.string("name"), options: try $0.member("options").value)
        }
        return BundleProvenance(sieveVersion: try c.string("sieve_version"), source: source, passes: passes)
    }

    /// Decodes a tensor entry, checking the shape, the dtype and that `size` is what they need.
    static func decodeTensor(_ c: ManifestCursor) throws -> BundleTensorEntry {
        let name = try c.string("name")
        guard !name.isEmpty else { throw try c.member("name").error("empty tensor name") }
        let dtypeName = try c.string("dtype")
        guard let dtype = DType(rawValue: dtypeName) else {
            throw try c.member("dtype").error("unknown dtype '\(dtypeName)' (known: \(DType.allCases.map(\.name).joined(separator: ", ")))")
        }
        let shape = Shape(try c.member("shape").array().map { try $0.int(atLeast: 0) })
        let size = try c.int("size", atLeast: 0)
        let file = c.file
        guard let elements = shape.checkedElementCount else {
            throw BundleError.invalidTensor(path: file, tensor: name, reason: "shape \(shape) overflows")
        }
        if dtype.isQuantized, shape.innermost % dtype.blockSize != 0 {
            throw BundleError.invalidTensor(path: file, tensor: name, reason: "innermost dimension \(shape.innermost) is not a multiple of the \(dtype.name) block size \(dtype.blockSize)")
        }
        guard let needed = dtype.byteCount(elements: elements), needed == size else {
            throw BundleError.invalidTensor(path: file, tensor: name, reason: "size \(size) but shape \(shape) as \(dtype.name) needs \(dtype.byteCount(elements: elements).map(String.init) ?? "an overflowing byte count")")
        }
        var chunks: BundleTensorEntry.Chunks?
        if let ch = try c.optionalMember("chunks") {
            let chunk = BundleTensorEntry.Chunks(count: try ch.int("count", atLeast: 1), size: try ch.int("size", atLeast: 1),
                                                 stride: try ch.int("stride", atLeast: 1))
            // Readers build one byte range per chunk: bound their number (real bundles have one per FFN block).
            guard chunk.count <= BundleTensorEntry.maxChunks else {
                throw BundleError.invalidTensor(path: file, tensor: name, reason: "\(chunk.count) chunks, over the limit of \(BundleTensorEntry.maxChunks)")
            }
            let (total, overflow) = chunk.count.multipliedReportingOverflow(by: chunk.size)
            guard !overflow, total == size, chunk.size <= chunk.stride else {
                throw BundleError.invalidTensor(path: file, tensor: name, reason: "chunks (\(chunk.count) × \(chunk.size) bytes every \(chunk.stride)) do not add up to its size \(size)")
            }
            chunks = chunk
        }
        return BundleTensorEntry(name: name, dtype: dtype, shape: shape, section: try c.string("section"),
                                 offset: try c.int("offset", atLeast: 0), byteCount: size, chunks: chunks)
    }
}
