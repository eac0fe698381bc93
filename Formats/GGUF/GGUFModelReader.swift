import SieveCore

/// Reads a validated `GGUFFile` of a supported architecture into the IR: hyperparameters from the `ARCH.*` keys,
/// tensors renamed (and, for Llama, Q/K rows put back in the half-split RoPE layout), tokenizer metadata.
enum GGUFModelReader {
    static func read(_ file: GGUFFile) throws -> ModelGraph {
        let path = file.path
        guard let archValue = file["general.architecture"] else { throw GGUFError.missingKey(path: path, key: "general.architecture") }
        guard let archName = archValue.stringValue else {
            throw GGUFError.wrongValueType(path: path, key: "general.architecture", expected: "string", found: archValue.typeDescription)
        }
        guard let architecture = GGUFNaming.architecture(gguf: archName) else {
            throw GGUFError.unsupportedArchitecture(path: path, name: archName, supported: GGUFNaming.architectures.map(\.gguf))
        }
        let keys = MetadataReader(file: file, prefix: archName)

        let hidden = try keys.int("embedding_length")
        let heads = try keys.int("attention.head_count")
        guard heads > 0, hidden > 0 else {
            throw GGUFError.invalidValue(path: path, key: "\(archName).attention.head_count", reason: "head count \(heads) and embedding length \(hidden) must be positive")
        }
        let kvHeads = try keys.int("attention.head_count_kv", default: heads)
        let headDim = try keys.int("attention.key_length", default: hidden / heads)
        guard let embedding = file.tensorInfo("token_embd.weight") else {
            throw SieveCoreError.missingTensor(source: path, name: "token_embd.weight")
        }
        guard embedding.dimensions.count == 2, embedding.dimensions[0] == hidden else {
            throw GGUFError.tensorShapeMismatch(path: path, tensor: embedding.name, shape: embedding.shape.dims, expected: [embedding.dimensions.last ?? 0, hidden])
        }
        let vocab = embedding.dimensions[1]
        let rotary = architecture == .gpt2 ? nil : try keys.int("rope.dimension_count", default: headDim)
        let layers = try keys.int("block_count")
        let ropeTheta = try keys.double("rope.freq_base", default: 10_000)
        let gemma = architecture.isGemma
            ? try gemmaSettings(architecture, file, keys: keys, layers: layers, hidden: hidden, heads: heads, headDim: headDim, ropeTheta: ropeTheta)
            : nil
        // gpt-oss slides every other layer (the even ones) unless the file says otherwise, as llama.cpp's openai-moe.
        let sliding = architecture.isGemma ? gemma?.slidingWindow
            : try slidingWindow(file, keys: keys, window: try keys.int("attention.sliding_window", default: architecture == .gptOSS ? nil : 0),
                                layers: layers, defaultPattern: architecture == .gptOSS ? 2 : 0,
                                ropeTheta: architecture == .gptOSS ? try keys.double("rope.freq_base_swa", default: ropeTheta) : ropeTheta)
        let feedForward = try keys.int("feed_forward_length")
        var hp = Hyperparameters(
            vocabSize: vocab, hiddenSize: hidden, intermediateSize: feedForward,
            layerCount: layers, headCount: heads, kvHeadCount: kvHeads, headDim: headDim,
            contextLength: try keys.int("context_length"),
            normEpsilon: try keys.double(architecture == .gpt2 ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon"),
            activation: architecture == .gpt2 || architecture.isGemma ? .geluTanh : architecture == .gptOSS ? .clampedSwiGLU : .silu,
            ropeTheta: architecture == .gpt2 ? nil : ropeTheta,
            ropeDimensions: rotary == headDim ? nil : rotary,
            tiedEmbeddings: file.tensorInfo("output.weight") == nil,
            ropeScaling: architecture == .gpt2 ? nil : try ropeScaling(file, keys: keys, longRoPE: architecture == .phi3,
                                                                       contextLength: try keys.int("context_length")),
            slidingWindow: sliding, attentionScale: gemma?.attentionScale, finalLogitSoftcap: gemma?.finalSoftcap,
            attentionLogitSoftcap: gemma?.attentionSoftcap,
            layersWithoutRoPE: architecture == .smollm3 ? smolLM3LayersWithoutRoPE(layers: layers) : nil,
            mixtureOfExperts: try mixtureOfExperts(architecture, archName, keys, feedForwardLength: feedForward))
        if architecture == .granite { try graniteScales(&hp, keys) }
        try hp.validate(source: path)

        var tensors = TensorStore()
        let ropeTensors = architecture == .gpt2 ? [] : [ropeFrequenciesTensor] + (architecture == .phi3 ? longRoPETensors.map(\.name) : [])
        for info in file.tensorInfos where !ropeTensors.contains(info.name) {
            guard let parsed = GGUFNaming.parse(info.name) else {
                throw GGUFError.unexpectedTensor(path: path, name: info.name, architecture: archName)
            }
            if architecture == .gpt2 || architecture == .phi3, let block = parsed.block, parsed.part == "attn_qkv" {
                for t in try splitRows(file, info, [("attn", "q", hp.headCount * hp.headDim), ("attn", "k", hp.kvHeadCount * hp.headDim),
                                                    ("attn", "v", hp.kvHeadCount * hp.headDim)], block: block, suffix: parsed.suffix) {
                    tensors.insert(t)
                }
                continue
            }
            if architecture == .phi3, let block = parsed.block, parsed.part == "ffn_up" {
                for t in try splitRows(file, info, [("ffn", "gate", hp.intermediateSize), ("ffn", "up", hp.intermediateSize)],
                                       block: block, suffix: parsed.suffix) {
                    tensors.insert(t)
                }
                continue
            }
            guard let irName = GGUFNaming.irName(gguf: info.name, architecture: architecture) else {
                throw GGUFError.unexpectedTensor(path: path, name: info.name, architecture: archName)
            }
            var tensor = try file.tensor(info, named: irName)
            // qwen2moe's shared-expert gate is `[1, hidden]`, which llama-quantize writes as a vector (ggml drops a
            // trailing dimension of 1), the converter as a matrix; llama.cpp reads both.
            if parsed.part == "ffn_gate_inp_shexp", tensor.shape.rank == 1 { tensor.shape = Shape([1] + tensor.shape.dims) }
            if architecture.interleavesRoPERowsInGGUF, parsed.block != nil, parsed.part == "attn_q" || parsed.part == "attn_k" {
                tensor = try LlamaRoPEPermutation.toHalfSplit(tensor, heads: parsed.part == "attn_q" ? heads : kvHeads, source: path)
            }
            tensors.insert(tensor)
        }

        var metadata: [String: String] = [:]
        for (key, value) in file.metadata where key.hasPrefix("general.") {
            metadata[key] = value.rendered()
        }
        return try GraphBuilder.build(architecture: architecture, hyperparameters: hp, tensors: tensors,
                                      tokenizer: try GGUFTokenizerMetadata.read(file), metadata: metadata, source: path)
    }

    /// A GGUF's experts as llama.cpp reads them: `expert_count` and `expert_used_count` (required by qwen3moe,
    /// qwen2moe, granitemoe and gpt-oss; a llama GGUF has experts, as Mixtral's, only with a positive `expert_count`), each
    /// expert `expert_feed_forward_length` wide for qwen3moe and qwen2moe (else the FFN length over the experts used)
    /// and gpt-oss (required), and `feed_forward_length` wide for llama and granitemoe; the shared expert is
    /// `expert_shared_feed_forward_length` wide (granitemoe: none when missing or 0; qwen2moe: always one, by default
    /// `feed_forward_length` wide). The kept weights are divided by their sum but for qwen2moe (no file has a key for
    /// it; gpt-oss's and Granite's softmax over the kept logits is the same). Nil for a model without experts.
    static func mixtureOfExperts(_ architecture: Architecture, _ archName: String, _ keys: MetadataReader, feedForwardLength: Int) throws -> MixtureOfExperts? {
        let (granite, qwen2) = (archName == "granitemoe", archName == "qwen2moe")
        guard architecture == .qwen3moe || architecture == .llama || architecture == .gptOSS || granite || qwen2 else { return nil }
        let count = architecture == .llama ? try keys.int("expert_count", default: 0) : try keys.int("expert_count")
        if architecture == .llama && count == 0 { return nil }
        let used = try keys.int("expert_used_count")
        guard count > 0, used > 0, used <= count else {
            throw GGUFError.invalidValue(path: keys.file.path, key: "\(keys.prefix).expert_used_count", reason: "\(used) experts used of \(count); both must be positive and the first at most the second")
        }
        let width = architecture == .llama || granite ? feedForwardLength
            : try keys.int("expert_feed_forward_length", default: architecture == .gptOSS ? nil : feedForwardLength / used)
        // qwen2moe's shared expert is feed_forward_length wide unless the file says otherwise, and its routed experts'
        // weights are never normalised.
        let shared = granite ? try keys.int("expert_shared_feed_forward_length", default: 0)
            : qwen2 ? try keys.int("expert_shared_feed_forward_length", default: feedForwardLength) : 0
        return MixtureOfExperts(expertCount: count, expertsPerToken: used, expertWidth: width, normalizesWeights: !qwen2,
                                sharedExpertWidth: shared == 0 ? nil : shared)
    }

    /// A granite GGUF's multipliers as llama.cpp reads them: `logit_scale` (required; the logits are divided by it),
    /// and where present and non-zero `embedding_scale`, `residual_scale` and `attention.scale` (else 1/√head_dim).
    static func graniteScales(_ hp: inout Hyperparameters, _ keys: MetadataReader) throws {
        /// The key's value; nil when it is missing, 0, or (`unlessOne`) 1.
        func optional(_ key: String, unlessOne: Bool = true) throws -> Double? {
            let value = try keys.double(key, default: 0)
            return value == 0 || (unlessOne && value == 1) ? nil : value
        }
        // llama.cpp's granite turns RoPE off in every layer when the file says it was not fine-tuned with it.
        if let finetuned = keys.file[keys.prefix + ".rope.scaling.finetuned"], finetuned.boolValue == false {
            throw SieveCoreError.unsupportedRoPEScaling(source: keys.file.path, type: "none in every layer (granite.rope.scaling.finetuned false)")
        }
        let divisor = try keys.double("logit_scale")
        hp.logitDivisor = divisor == 1 ? nil : divisor
        hp.embeddingScale = try optional("embedding_scale")
        hp.residualScale = try optional("residual_scale")
        hp.attentionScale = try optional("attention.scale", unlessOne: false)
    }

    /// The layers of a smollm3 GGUF that use no RoPE: every fourth, as llama.cpp fixes it (it has no key for them).
    static func smolLM3LayersWithoutRoPE(layers: Int) -> [Bool]? {
        let flags = (0..<layers).map { ($0 + 1) % 4 == 0 }
        return flags.contains(true) ? flags : nil
    }

    /// What llama.cpp assumes for a Gemma GGUF where it has no key (`gemma2` and `gemma3` in its `llama-model.cpp`).
    struct GemmaDefaults {
        /// Every `slidingPattern`-th layer is global, the others slide.
        let slidingPattern: Int
        /// The window when `attention.sliding_window` is missing; nil: no sliding layers then (gemma3).
        let window: Int?
        /// The sliding layers' RoPE base when `rope.freq_base_swa` is missing; nil: the model's base (gemma2).
        let localRoPEBase: Double?
        /// The soft caps when their keys are missing; nil: none.
        let attentionSoftcap: Double?, finalSoftcap: Double?
        /// The layer count of the model (27B) whose `query_pre_attn_scalar` is embedding_length / head_count
        /// rather than head_dim; llama.cpp has no key for the scalar.
        let largeModelLayers: Int

        init(_ architecture: Architecture) {
            if architecture == .gemma2 {
                (slidingPattern, window, localRoPEBase, largeModelLayers) = (2, 4096, nil, 46)
                (attentionSoftcap, finalSoftcap) = (50, 30)
            } else {
                (slidingPattern, window, localRoPEBase, largeModelLayers) = (6, nil, 10_000, 62)
                (attentionSoftcap, finalSoftcap) = (nil, nil)
            }
        }

        /// The `query_pre_attn_scalar` llama.cpp derives.
        func queryScalar(layers: Int, hidden: Int, heads: Int, headDim: Int) -> Double {
            layers == largeModelLayers ? Double(hidden / heads) : Double(headDim)
        }
    }

    /// A Gemma model's settings as llama.cpp derives them: sliding layers when `attention.sliding_window` is
    /// positive, by `attention.sliding_window_pattern` (a bool per layer, or every n-th layer global), with RoPE
    /// base `rope.freq_base_swa`; scores scaled by 1/√key_length, except for the 27B model (1/√(embedding_length /
    /// head_count), its `query_pre_attn_scalar`); `attn_logit_softcapping` (gemma2) and `final_logit_softcapping`.
    static func gemmaSettings(_ architecture: Architecture, _ file: GGUFFile, keys: MetadataReader, layers: Int, hidden: Int,
                              heads: Int, headDim: Int, ropeTheta: Double) throws
        -> (slidingWindow: SlidingWindowAttention?, attentionScale: Double?, finalSoftcap: Double?, attentionSoftcap: Double?) {
        let defaults = GemmaDefaults(architecture)
        let windowKey = keys.prefix + ".attention.sliding_window"
        let window = try keys.int("attention.sliding_window", default: defaults.window ?? 0)
        if defaults.window != nil, window <= 0 {
            throw GGUFError.invalidValue(path: file.path, key: windowKey, reason: "\(window) must be positive: llama.cpp's \(keys.prefix) always slides")
        }
        let sliding = window > 0
            ? try slidingWindow(file, keys: keys, window: window, layers: layers, defaultPattern: defaults.slidingPattern,
                                ropeTheta: try keys.double("rope.freq_base_swa", default: defaults.localRoPEBase ?? ropeTheta))
            : nil
        let scalar = defaults.queryScalar(layers: layers, hidden: hidden, heads: heads, headDim: headDim)
        func softcap(_ key: String, _ value: Double?) throws -> Double? {
            let cap = try keys.double(key, default: value ?? 0)
            if value != nil, cap <= 0 {
                throw GGUFError.invalidValue(path: file.path, key: keys.prefix + "." + key, reason: "\(cap) must be positive: llama.cpp's \(keys.prefix) always divides by it")
            }
            return cap > 0 ? cap : nil
        }
        return (sliding, scalar == Double(headDim) ? nil : 1 / scalar.squareRoot(),
                try softcap("final_logit_softcapping", defaults.finalSoftcap),
                architecture == .gemma2 ? try softcap("attn_logit_softcapping", defaults.attentionSoftcap) : nil)
    }

    /// Sliding layers of `window` positions (none when it is 0) as `attention.sliding_window_pattern` gives them: a
    /// bool per layer, or every n-th layer global (0: every layer slides), `defaultPattern` without the key; nil when
    /// no layer slides. Sieve writes both keys for a sliding Llama (Mistral), Qwen2 or Qwen3, which llama.cpp reads
    /// for none of these architectures (it attends globally).
    static func slidingWindow(_ file: GGUFFile, keys: MetadataReader, window: Int, layers: Int, defaultPattern: Int,
                              ropeTheta: Double) throws -> SlidingWindowAttention? {
        guard window > 0 else { return nil }
        let patternKey = keys.prefix + ".attention.sliding_window_pattern"
        var layout = SlidingWindowAttention.pattern(defaultPattern, layers: layers)
        if let value = file[patternKey] {
            if case let .array(.bool(flags)) = value {
                guard flags.count == layers else {
                    throw GGUFError.invalidValue(path: file.path, key: patternKey, reason: "has \(flags.count) entries for \(layers) layers")
                }
                layout = flags
            } else if let n = value.intValue, n >= 0 {
                layout = SlidingWindowAttention.pattern(n, layers: layers)
            } else {
                throw GGUFError.wrongValueType(path: file.path, key: patternKey, expected: "array[bool] or a non-negative integer", found: value.typeDescription)
            }
        }
        return layout.contains(true) ? SlidingWindowAttention(window: window, slidingLayers: layout, ropeTheta: ropeTheta) : nil
    }

    /// The tensor in which llama.cpp stores per-pair RoPE frequency divisors (Llama 3.1's scaling).
    static let ropeFrequenciesTensor = "rope_freqs.weight"

    /// Phi-3's LongRoPE divisors (llama.cpp's `rope_factors_long` and `rope_factors_short`), in the converter's order.
    static let longRoPETensors = [(name: "rope_factors_long.weight", long: true), (name: "rope_factors_short.weight", long: false)]

    /// The RoPE scaling llama.cpp would apply: `rope.scaling.type` (llama.cpp reads a missing type as linear) with
    /// `rope.scaling.factor` (or the older `rope.scale_linear`), YaRN with `rope.scaling.original_context_length`
    /// (default: the context), the frequency divisors of `rope_freqs.weight`, or
    /// (phi3 only, as llama.cpp reads them) LongRoPE's two sets with `rope.scaling.original_context_length` (default:
    /// the context) and `rope.scaling.attn_factor` (default 1), which multiplies the rotated dimensions' cosines and sines.
    static func ropeScaling(_ file: GGUFFile, keys: MetadataReader, longRoPE readsLongRoPE: Bool, contextLength: Int) throws -> RoPEScaling? {
        let attentionFactor = try keys.double("rope.scaling.attn_factor", default: 1)
        let longRoPE = try longRoPETensors.map { entry -> [Float]? in
            guard readsLongRoPE else { return nil }
            guard let info = file.tensorInfo(entry.name) else { return nil }
            return try factors(file, info)
        }
        if longRoPE.contains(where: { $0 != nil }) {
            guard let long = longRoPE[0], let short = longRoPE[1] else {
                throw SieveCoreError.missingTensor(source: file.path, name: longRoPETensors[longRoPE[0] == nil ? 0 : 1].name)
            }
            let original = try keys.int("rope.scaling.original_context_length", default: contextLength)
            return .longRoPE(LongRoPEScaling(shortFactors: short, longFactors: long, originalContextLength: original, attentionFactor: attentionFactor))
        }
        let typeKey = keys.prefix + ".rope.scaling.type"
        var type = "linear"
        if let value = file[typeKey] {
            guard let name = value.stringValue else {
                throw GGUFError.wrongValueType(path: file.path, key: typeKey, expected: "string", found: value.typeDescription)
            }
            type = name
        }
        var factor = try keys.double("rope.scaling.factor", default: 0)
        if factor == 0 { factor = try keys.double("rope.scale_linear", default: 0) }
        if type == "yarn" {
            guard file.tensorInfo(ropeFrequenciesTensor) == nil else {
                throw SieveCoreError.unsupportedRoPEScaling(source: file.path, type: "yarn together with \(ropeFrequenciesTensor)")
            }
            // As llama.cpp's context sets it up: the ramp's betas fixed at 32 and 1, the attention factor YaRN's own
            // times `rope.scaling.attn_factor` (its `yarn_*` keys are read for other architectures only).
            guard factor > 0, factor.isFinite else {
                throw GGUFError.invalidValue(path: file.path, key: "\(keys.prefix).rope.scaling.factor", reason: "YaRN needs a positive factor, not \(factor)")
            }
            return .yarn(YaRNRoPEScaling(factor: factor, originalContextLength: try keys.int("rope.scaling.original_context_length", default: contextLength),
                                         attentionFactor: YaRNRoPEScaling.defaultAttentionFactor(factor: factor) * attentionFactor))
        }
        if attentionFactor != 1 {
            throw SieveCoreError.unsupportedRoPEScaling(source: file.path, type: "rope.scaling.attn_factor \(attentionFactor) without LongRoPE or YaRN")
        }
        let linear: RoPEScaling?
        switch type {
        case "none": linear = nil
        case "linear": linear = factor == 0 || factor == 1 ? nil : .linear(factor: factor)
        default: throw SieveCoreError.unsupportedRoPEScaling(source: file.path, type: type)
        }
        guard let info = file.tensorInfo(ropeFrequenciesTensor) else { return linear }
        guard linear == nil else {
            throw SieveCoreError.unsupportedRoPEScaling(source: file.path, type: "linear (factor \(factor)) together with \(ropeFrequenciesTensor)")
        }
        return .frequencyFactors(try factors(file, info))
    }

    /// A tensor of RoPE frequency divisors, checked to be a 1-D float tensor.
    static func factors(_ file: GGUFFile, _ info: GGUFTensorInfo) throws -> [Float] {
        let tensor = try file.tensor(info)
        guard tensor.shape.rank == 1, tensor.dtype == .f32 || tensor.dtype == .f16 else {
            throw SieveCoreError.invalidShape(source: file.path, tensor: info.name, reason: "RoPE frequency factors must be a 1-D f32 or f16 tensor, not \(tensor.dtype.name) \(tensor.shape)")
        }
        return try tensor.floats()
    }

    /// A fused tensor split into IR tensors as zero-copy row slices: the `attn_qkv` of GPT-2 and Phi-3 ([q + 2·kv, d]
    /// and its bias) into q, k and v; Phi-3's `ffn_up` ([2·ff, d]) into the gate and the up projection. `parts`
    /// lists each part's module (`attn` or `ffn`), name and row count, in the file's order.
    static func splitRows(_ file: GGUFFile, _ info: GGUFTensorInfo, _ parts: [(module: String, name: String, rows: Int)],
                          block: Int, suffix: String) throws -> [Tensor] {
        let fused = try file.tensor(info)
        let rows = fused.shape.dims.first ?? 0
        let expected = parts.reduce(0) { $0 + $1.rows }
        guard rows == expected, rows > 0 else {
            throw GGUFError.tensorShapeMismatch(path: file.path, tensor: info.name, shape: fused.shape.dims,
                                                expected: [expected] + fused.shape.dims.dropFirst())
        }
        let rowBytes = fused.byteCount / rows
        var start = file.dataOffset + info.offset
        return try parts.map { part in
            var dims = fused.shape.dims
            dims[0] = part.rows
            let name = (part.module == "attn" ? IRName.attention(block, part.name) : IRName.feedForward(block, part.name)) + "." + suffix
            defer { start += part.rows * rowBytes }
            return try Tensor(name: name, dtype: fused.dtype, shape: Shape(dims),
                              storage: .mapped(file.file, offset: start, count: part.rows * rowBytes), source: file.path)
        }
    }
}

/// Typed access to `PREFIX.*` metadata keys with errors that name the file and the key.
struct MetadataReader {
    let file: GGUFFile
    let prefix: String

    func int(_ key: String, default value: Int? = nil) throws -> Int {
        let full = prefix + "." + key
        guard let v = file[full] else {
            if let value { return value }
            throw GGUFError.missingKey(path: file.path, key: full)
        }
        guard let i = v.intValue else {
            throw GGUFError.wrongValueType(path: file.path, key: full, expected: "an integer", found: v.typeDescription)
        }
        return i
    }

    func double(_ key: String, default value: Double? = nil) throws -> Double {
        let full = prefix + "." + key
        guard let v = file[full] else {
            if let value { return value }
            throw GGUFError.missingKey(path: file.path, key: full)
        }
        guard let d = v.doubleValue else {
            throw GGUFError.wrongValueType(path: file.path, key: full, expected: "a number", found: v.typeDescription)
        }
        return d
    }
}

/// The `tokenizer.*` metadata keys ↔ the IR's `TokenizerDescription`.
public enum GGUFTokenizerMetadata {
    /// `tokenizer.ggml.model` values and the tokenizer kinds they name.
    static let models: [(gguf: String, kind: TokenizerKind)] = [("llama", .sentencePiece), ("gpt2", .bytePairEncoding), ("bert", .wordPiece)]

    /// Special-token id keys and the description's properties.
    static let specialIDs: [(key: String, path: WritableKeyPath<TokenizerDescription, Int?>)] = [
        ("bos_token_id", \.bosID), ("eos_token_id", \.eosID), ("unknown_token_id", \.unknownID),
        ("seperator_token_id", \.separatorID), ("padding_token_id", \.paddingID), ("eot_token_id", \.eotID),
        ("mask_token_id", \.maskID), ("cls_token_id", \.clsID),
    ]

    /// Reads the tokenizer of a GGUF file; nil when the file has none (`tokenizer.ggml.model` absent or `none`).
    public static func read(_ file: GGUFFile) throws -> TokenizerDescription? {
        let path = file.path
        guard let modelValue = file["tokenizer.ggml.model"] else { return nil }
        guard let model = modelValue.stringValue else {
            throw GGUFError.wrongValueType(path: path, key: "tokenizer.ggml.model", expected: "string", found: modelValue.typeDescription)
        }
        if model == "none" || model == "no_vocab" { return nil }
        guard let kind = models.first(where: { $0.gguf == model })?.kind else {
            throw GGUFError.invalidValue(path: path, key: "tokenizer.ggml.model",
                                         reason: "tokenizer model '\(model)' is not supported (supported: \(models.map(\.gguf).joined(separator: ", ")))")
        }
        func array(_ key: String) throws -> GGUFArray? {
            guard let v = file["tokenizer.ggml." + key] else { return nil }
            guard let a = v.arrayValue else {
                throw GGUFError.wrongValueType(path: path, key: "tokenizer.ggml." + key, expected: "an array", found: v.typeDescription)
            }
            return a
        }
        func typed<T>(_ key: String, _ extract: (GGUFArray) -> [T]?, _ expected: String) throws -> [T] {
            guard let a = try array(key) else { return [] }
            guard let values = extract(a) else {
                throw GGUFError.wrongValueType(path: path, key: "tokenizer.ggml." + key, expected: expected, found: "array[\(a.elementType)]")
            }
            return values
        }
        guard try array("tokens") != nil else { throw GGUFError.missingKey(path: path, key: "tokenizer.ggml.tokens") }
        let tokens = try typed("tokens", \.strings, "array[string]")
        let scores = try typed("scores", \.floats, "array[float32]")
        let types = try typed("token_type", \.int32s, "array[int32]")
        let merges = try typed("merges", \.strings, "array[string]")
        for (key, count) in [("scores", scores.count), ("token_type", types.count)] where count != 0 && count != tokens.count {
            throw GGUFError.invalidValue(path: path, key: "tokenizer.ggml." + key, reason: "has \(count) entries for \(tokens.count) tokens")
        }
        func bool(_ key: String, default value: Bool) throws -> Bool {
            guard let v = file["tokenizer.ggml." + key] else { return value }
            guard let b = v.boolValue else {
                throw GGUFError.wrongValueType(path: path, key: "tokenizer.ggml." + key, expected: "bool", found: v.typeDescription)
            }
            return b
        }
        func string(_ key: String) throws -> String? {
            guard let v = file[key] else { return nil }
            guard let s = v.stringValue else { throw GGUFError.wrongValueType(path: path, key: key, expected: "string", found: v.typeDescription) }
            return s
        }

        var description = TokenizerDescription(
            kind: kind, tokens: tokens, scores: scores, tokenTypes: types, merges: merges,
            preTokenizer: try string("tokenizer.ggml.pre") ?? "default",
            addBOS: try bool("add_bos_token", default: kind == .sentencePiece),
            addEOS: try bool("add_eos_token", default: false),
            addSpacePrefix: try bool("add_space_prefix", default: kind == .sentencePiece),
            // llama.cpp's WordPiece always lowercases; GGUF has no key for it.
            lowercase: kind == .wordPiece,
            chatTemplate: try string("tokenizer.chat_template"))
        for (key, keyPath) in specialIDs {
            guard let v = file["tokenizer.ggml." + key] else { continue }
            guard let id = v.intValue else {
                throw GGUFError.wrongValueType(path: path, key: "tokenizer.ggml." + key, expected: "an integer", found: v.typeDescription)
            }
            guard id >= 0, id < tokens.count else {
                throw GGUFError.invalidValue(path: path, key: "tokenizer.ggml." + key, reason: "token id \(id) is outside the vocabulary of \(tokens.count) tokens")
            }
            description[keyPath: keyPath] = id
        }
        return description
    }

    /// The `tokenizer.*` key/values describing `tokenizer`, in the order llama.cpp's converter writes them.
    public static func entries(_ tokenizer: TokenizerDescription) -> [(String, GGUFValue)] {
        let model: String
        switch tokenizer.kind {
        case .sentencePiece: model = "llama"
        case .bytePairEncoding: model = "gpt2"
        case .wordPiece: model = "bert"
        }
        var out: [(String, GGUFValue)] = []
        if tokenizer.kind == .sentencePiece || tokenizer.addSpacePrefix {
            out.append(("tokenizer.ggml.add_space_prefix", .bool(tokenizer.addSpacePrefix)))
        }
        out.append(("tokenizer.ggml.model", .string(model)))
        // Sieve's `o200k` (the exact regex of a tokenizer.json) is llama.cpp's `gpt-4o`, which approximates it.
        out.append(("tokenizer.ggml.pre", .string(TokenizerDescription.llamaCppPreTokenizer(tokenizer.preTokenizer))))
        out.append(("tokenizer.ggml.tokens", .array(.string(tokenizer.tokens))))
        if !tokenizer.scores.isEmpty { out.append(("tokenizer.ggml.scores", .array(.float32(tokenizer.scores)))) }
        if !tokenizer.tokenTypes.isEmpty { out.append(("tokenizer.ggml.token_type", .array(.int32(tokenizer.tokenTypes)))) }
        if !tokenizer.merges.isEmpty { out.append(("tokenizer.ggml.merges", .array(.string(tokenizer.merges)))) }
        for (key, keyPath) in specialIDs {
            if let id = tokenizer[keyPath: keyPath] { out.append(("tokenizer.ggml." + key, .uint32(UInt32(id)))) }
        }
        out.append(("tokenizer.ggml.add_bos_token", .bool(tokenizer.addBOS)))
        out.append(("tokenizer.ggml.add_eos_token", .bool(tokenizer.addEOS)))
        if let template = tokenizer.chatTemplate { out.append(("tokenizer.chat_template", .string(template))) }
        return out
    }
}
