import Foundation

/// Maps a Hugging Face `config.json` to and from the IR's architecture and hyperparameters.
public enum HFConfig {
    /// The `model_type` values Sieve reads (`gemma3`: the multimodal checkpoints' language model).
    public static let supportedModelTypes = ["llama", "mistral", "mixtral", "granite", "granitemoe", "granitemoeshared", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "smollm3", "phi3", "gemma2", "gemma3_text", "gemma3", "gpt_oss", "gpt2", "opt", "bert"]

    /// Reads the architecture and hyperparameters from a parsed `config.json`.
    public static func read(_ config: JSONValue, source: String) throws -> (Architecture, Hyperparameters) {
        guard config.objectMembers != nil else {
            throw SieveCoreError.unexpectedJSON(source: source, path: "$", expected: "an object")
        }
        guard let modelType = config["model_type"]?.stringValue else {
            throw SieveCoreError.unexpectedJSON(source: source, path: "$.model_type", expected: "a string naming the architecture")
        }
        if modelType == "gemma3" {
            // Gemma3ForConditionalGeneration (Gemma 3 4B–27B): its language model is read; the vision tower is not.
            guard let members = config["text_config"]?.objectMembers else {
                throw SieveCoreError.unexpectedJSON(source: source, path: "$.text_config", expected: "an object: the language model's config of a multimodal Gemma 3 checkpoint")
            }
            return try read(.object(members.filter { $0.0 != "model_type" } + [("model_type", .string("gemma3_text"))]), source: source + " (text_config)")
        }
        // Mistral's layout is Llama's (llama.cpp converts it as llama), with a sliding window on every layer; Mixtral is
        // Mistral with a mixture of experts in every FFN (llama.cpp's llama with `expert_count`). Granite MoE is Granite
        // with a mixture of experts in every FFN, and GraniteMoeShared adds a shared expert to each; Qwen2-MoE is Qwen2
        // with experts and a gated shared expert in every FFN.
        let aliases: [String: Architecture] = ["gemma3_text": .gemma3, "mistral": .llama, "mixtral": .llama, "qwen3_moe": .qwen3moe,
                                               "granitemoe": .granite, "granitemoeshared": .granite, "qwen2_moe": .qwen2]
        guard let arch = aliases[modelType] ?? Architecture(rawValue: modelType) else {
            throw SieveCoreError.unsupportedArchitecture(source: source, name: modelType, supported: supportedModelTypes)
        }
        func int(_ keys: String..., default value: Int? = nil) throws -> Int {
            for key in keys {
                if let v = config[key], !v.isNull {
                    guard let i = v.intValue else {
                        throw SieveCoreError.unexpectedJSON(source: source, path: "$.\(key)", expected: "an integer")
                    }
                    // Far beyond any real model; keeps the arithmetic on hyperparameters from overflowing.
                    guard i.magnitude <= 1 << 40 else {
                        throw SieveCoreError.invalidHyperparameter(source: source, name: key, reason: "\(i) is out of range")
                    }
                    return i
                }
            }
            if let value { return value }
            throw SieveCoreError.invalidHyperparameter(source: source, name: keys[0], reason: "missing from config.json")
        }
        func double(_ key: String, default value: Double) throws -> Double {
            guard let v = config[key], !v.isNull else { return value }
            guard let d = v.doubleValue else {
                throw SieveCoreError.unexpectedJSON(source: source, path: "$.\(key)", expected: "a number")
            }
            return d
        }
        /// A head count, which later divides the width.
        func headCount(_ key: String, default value: Int? = nil) throws -> Int {
            let heads = try int(key, default: value)
            guard heads > 0 else { throw SieveCoreError.invalidHyperparameter(source: source, name: key, reason: "must be positive") }
            return heads
        }
        /// The layer count, checked before per-layer lists are built from it.
        func layerCount(default value: Int? = nil) throws -> Int {
            let layers = try int("num_hidden_layers", default: value)
            guard (1...4096).contains(layers) else {
                throw SieveCoreError.invalidHyperparameter(source: source, name: "num_hidden_layers", reason: "\(layers) is out of range 1…4096")
            }
            return layers
        }
        func activation(_ key: String, default value: String) throws -> Activation {
            let name = config[key]?.stringValue ?? value
            switch name {
            case "silu", "swish": return .silu
            case "gelu": return .gelu
            case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": return .geluTanh
            case "relu": return .relu
            default:
                throw SieveCoreError.invalidHyperparameter(source: source, name: key, reason: "activation '\(name)' is not supported (silu, gelu, gelu_new, gelu_pytorch_tanh, relu)")
            }
        }

        var hp: Hyperparameters
        switch arch {
        case .llama, .qwen2, .qwen3, .smollm3, .qwen3moe, .granite:
            let hidden = try int("hidden_size")
            let heads = try headCount("num_attention_heads")
            let headDim = try int("head_dim", default: hidden / heads)
            // transformers' defaults: untied, except SmolLM3Config, which keeps PretrainedConfig's tied default.
            let tied = config["tie_word_embeddings"]?.boolValue ?? (arch == .smollm3)
            let mixtral = modelType == "mixtral"
            let rope = try ropeSettings(config, source: source, defaultTheta: mixtral ? 1e6 : 10_000)
            let layers = try layerCount()
            // Mistral and Mixtral slide every layer when `sliding_window` is set; Qwen2 and Qwen3 only with
            // `use_sliding_window`, the layers from `max_window_layers` on (or as `layer_types` lists them).
            let slidesEveryLayer = modelType == "mistral" || mixtral
            var slidingWindow: SlidingWindowAttention?
            if let w = config["sliding_window"], !w.isNull, slidesEveryLayer || config["use_sliding_window"]?.boolValue == true {
                let firstSliding = slidesEveryLayer ? 0 : try int("max_window_layers", default: 28)
                let layout = try slidingLayers(config, source: source) ?? (0..<layers).map { $0 >= firstSliding }
                if layout.contains(true) {
                    slidingWindow = SlidingWindowAttention(window: try int("sliding_window"), slidingLayers: layout, ropeTheta: rope.theta)
                }
            }
            hp = Hyperparameters(
                vocabSize: try int("vocab_size"), hiddenSize: hidden, intermediateSize: try int("intermediate_size"),
                layerCount: layers, headCount: heads,
                kvHeadCount: try int("num_key_value_heads", default: mixtral ? 8 : heads), headDim: headDim,
                contextLength: try int("max_position_embeddings", default: mixtral ? 131_072 : 2048),
                normEpsilon: try double("rms_norm_eps", default: mixtral ? 1e-5 : 1e-6), activation: try activation("hidden_act", default: "silu"),
                ropeTheta: rope.theta, ropeDimensions: nil, positionOffset: 0,
                tiedEmbeddings: tied, ropeScaling: rope.scaling,
                slidingWindow: slidingWindow, layersWithoutRoPE: arch == .smollm3 ? try layersWithoutRoPE(config, layers: layers, source: source) : nil,
                mixtureOfExperts: arch == .qwen3moe || modelType == "qwen2_moe" ? try qwenExperts(config, modelType: modelType, source: source, int: { try int($0, default: $1) })
                    : mixtral ? try mixtralExperts(width: try int("intermediate_size"), int: { try int($0, default: $1) })
                    : modelType.hasPrefix("granitemoe") ? try graniteExperts(modelType, width: try int("intermediate_size"), int: { try int($0, default: $1) })
                    : nil)
            if arch == .granite { try graniteMultipliers(&hp, double: double) }
        case .phi3:
            // transformers' Phi3Config defaults; every layer slides when `sliding_window` is set (Phi-3 mini and medium).
            let hidden = try int("hidden_size", default: 3072)
            let heads = try headCount("num_attention_heads", default: 32)
            let headDim = try int("head_dim", default: hidden / heads)
            let rotaryFraction = try double("partial_rotary_factor", default: 1)
            guard rotaryFraction > 0, rotaryFraction <= 1 else {
                throw SieveCoreError.invalidHyperparameter(source: source, name: "partial_rotary_factor", reason: "\(rotaryFraction) is not in (0, 1]")
            }
            let rotary = Int(Double(headDim) * rotaryFraction)
            let rope = try ropeSettings(config, source: source)
            let layers = try layerCount(default: 32)
            var slidingWindow: SlidingWindowAttention?
            if let w = config["sliding_window"], !w.isNull {
                slidingWindow = SlidingWindowAttention(window: try int("sliding_window"), slidingLayers: Array(repeating: true, count: layers), ropeTheta: rope.theta)
            }
            hp = Hyperparameters(
                vocabSize: try int("vocab_size", default: 32064), hiddenSize: hidden, intermediateSize: try int("intermediate_size", default: 8192),
                layerCount: layers, headCount: heads, kvHeadCount: try int("num_key_value_heads", default: heads), headDim: headDim,
                contextLength: try int("max_position_embeddings", default: 4096),
                normEpsilon: try double("rms_norm_eps", default: 1e-5), activation: try activation("hidden_act", default: "silu"),
                ropeTheta: rope.theta, ropeDimensions: rotary == headDim ? nil : rotary, positionOffset: 0,
                tiedEmbeddings: config["tie_word_embeddings"]?.boolValue ?? false, ropeScaling: rope.scaling,
                slidingWindow: slidingWindow)
        case .gptOSS:
            hp = try gptOSSHyperparameters(config, layers: try layerCount(default: 36), source: source, int: { try int($0, default: $1) },
                                           double: double)
        case .gemma2, .gemma3:
            hp = try gemmaHyperparameters(config, architecture: arch, layers: try layerCount(), source: source, int: { try int($0, default: $1) },
                                          double: double, activation: { try activation("hidden_activation", default: "gelu_pytorch_tanh") })
        case .gpt2:
            let hidden = try int("n_embd")
            let heads = try headCount("n_head")
            hp = Hyperparameters(
                vocabSize: try int("vocab_size"), hiddenSize: hidden, intermediateSize: try int("n_inner", default: 4 * hidden),
                layerCount: try int("n_layer"), headCount: heads, kvHeadCount: heads, headDim: hidden / heads,
                contextLength: try int("n_positions", "n_ctx"), normEpsilon: try double("layer_norm_epsilon", default: 1e-5),
                activation: try activation("activation_function", default: "gelu_new"), tiedEmbeddings: config["tie_word_embeddings"]?.boolValue ?? true)
        case .opt:
            let hidden = try int("hidden_size")
            let heads = try headCount("num_attention_heads")
            if let proj = config["word_embed_proj_dim"]?.intValue, proj != hidden {
                throw SieveCoreError.invalidHyperparameter(source: source, name: "word_embed_proj_dim", reason: "\(proj) differs from hidden_size \(hidden); OPT models with project_in/out are not supported")
            }
            if config["do_layer_norm_before"]?.boolValue == false {
                throw SieveCoreError.invalidHyperparameter(source: source, name: "do_layer_norm_before", reason: "post-norm OPT (opt-350m) is not supported")
            }
            hp = Hyperparameters(
                vocabSize: try int("vocab_size"), hiddenSize: hidden, intermediateSize: try int("ffn_dim"),
                layerCount: try int("num_hidden_layers"), headCount: heads, kvHeadCount: heads, headDim: hidden / heads,
                contextLength: try int("max_position_embeddings"), normEpsilon: 1e-5,
                activation: try activation("activation_function", default: "relu"), positionOffset: 2,
                tiedEmbeddings: config["tie_word_embeddings"]?.boolValue ?? true)
        case .bert:
            let hidden = try int("hidden_size")
            let heads = try headCount("num_attention_heads")
            hp = Hyperparameters(
                vocabSize: try int("vocab_size"), hiddenSize: hidden, intermediateSize: try int("intermediate_size"),
                layerCount: try int("num_hidden_layers"), headCount: heads, kvHeadCount: heads, headDim: hidden / heads,
                contextLength: try int("max_position_embeddings"), normEpsilon: try double("layer_norm_eps", default: 1e-12),
                activation: try activation("hidden_act", default: "gelu"), tiedEmbeddings: false,
                tokenTypeCount: try int("type_vocab_size", default: 2))
        }
        try hp.validate(source: source)
        return (arch, hp)
    }

    /// transformers' defaults for the Gemma configs' keys that differ between Gemma 2 (`Gemma2Config`) and Gemma 3
    /// (`Gemma3TextConfig`).
    private struct GemmaDefaults {
        let vocabSize: Int, contextLength: Int, ropeTheta: Double, slidingPattern: Int
        let finalLogitSoftcap: Double?, attentionLogitSoftcap: Double?

        init(_ architecture: Architecture) {
            if architecture == .gemma2 {
                (vocabSize, contextLength, ropeTheta, slidingPattern) = (256_000, 8192, 10_000, 2)
                (finalLogitSoftcap, attentionLogitSoftcap) = (30, 50)
            } else {
                (vocabSize, contextLength, ropeTheta, slidingPattern) = (262_208, 131_072, 1_000_000, 6)
                (finalLogitSoftcap, attentionLogitSoftcap) = (nil, nil)
            }
        }
    }

    /// A Gemma 2 (`gemma2`) or Gemma 3 text (`gemma3_text`) config, with transformers' defaults where a key is
    /// missing: sliding layers from `layer_types` (or Gemma 3's `sliding_window_pattern`), Gemma 3's sliding layers'
    /// RoPE base from `rope_local_base_freq` (or transformers 5's `rope_parameters.sliding_attention`; Gemma 2's
    /// share the model's), the scores scaled by `query_pre_attn_scalar`^-½ and soft-capped by
    /// `attn_logit_softcapping`, the logits by `final_logit_softcapping` (null for none).
    private static func gemmaHyperparameters(_ config: JSONValue, architecture: Architecture, layers: Int, source: String,
                                             int: (String, Int?) throws -> Int, double: (String, Double) throws -> Double,
                                             activation: () throws -> Activation) throws -> Hyperparameters {
        let defaults = GemmaDefaults(architecture)
        if config["use_bidirectional_attention"]?.boolValue == true {
            throw SieveCoreError.invalidHyperparameter(source: source, name: "use_bidirectional_attention", reason: "bidirectional Gemma 3 (EmbeddingGemma) is not supported")
        }
        let heads = try int("num_attention_heads", 8)
        let headDim = try int("head_dim", 256)
        // transformers 5 keeps one RoPE object per layer type (Gemma 3).
        var global = config
        var localTheta: Double? = architecture == .gemma3 ? try double("rope_local_base_freq", 10000) : nil
        if let perType = config["rope_parameters"], perType["full_attention"] != nil || perType["sliding_attention"] != nil {
            global = .object([("rope_parameters", perType["full_attention"] ?? .null)])
            if let local = perType["sliding_attention"], !local.isNull {
                let (theta, scaling) = try ropeSettings(.object([("rope_parameters", local)]), source: source)
                guard scaling == nil else {
                    throw SieveCoreError.invalidHyperparameter(source: source, name: "rope_parameters.sliding_attention", reason: "RoPE scaling of the sliding layers is not supported")
                }
                localTheta = theta
            }
        }
        var rope = try ropeSettings(global, source: source)
        if global["rope_theta"] == nil && global["rope_parameters"]?["rope_theta"] == nil { rope.theta = defaults.ropeTheta }
        var sliding: [Bool]
        if let listed = try slidingLayers(config, source: source) {
            sliding = listed
        } else {
            let pattern = architecture == .gemma3 ? try int("sliding_window_pattern", defaults.slidingPattern) : defaults.slidingPattern
            guard pattern >= 0 else {
                throw SieveCoreError.invalidHyperparameter(source: source, name: "sliding_window_pattern", reason: "\(pattern) is negative")
            }
            sliding = SlidingWindowAttention.pattern(pattern, layers: layers)
        }
        let window = try int("sliding_window", 4096)
        let slidingWindow = sliding.contains(true)
            ? SlidingWindowAttention(window: window, slidingLayers: sliding, ropeTheta: localTheta ?? rope.theta) : nil
        let scalar = try double("query_pre_attn_scalar", 256)
        guard scalar > 0 else {
            throw SieveCoreError.invalidHyperparameter(source: source, name: "query_pre_attn_scalar", reason: "\(scalar) must be positive")
        }
        /// A soft cap: the default when the key is missing, none when it is null (or not positive).
        func softcap(_ key: String, _ value: Double?) throws -> Double? {
            guard let v = config[key] else { return value }
            let cap = try double(key, 0)
            return v.isNull || cap <= 0 ? nil : cap
        }
        return Hyperparameters(
            vocabSize: try int("vocab_size", defaults.vocabSize), hiddenSize: try int("hidden_size", 2304),
            intermediateSize: try int("intermediate_size", 9216), layerCount: layers, headCount: heads,
            kvHeadCount: try int("num_key_value_heads", 4), headDim: headDim,
            contextLength: try int("max_position_embeddings", defaults.contextLength), normEpsilon: try double("rms_norm_eps", 1e-6),
            activation: try activation(), ropeTheta: rope.theta, positionOffset: 0,
            tiedEmbeddings: config["tie_word_embeddings"]?.boolValue ?? true, ropeScaling: rope.scaling,
            slidingWindow: slidingWindow, attentionScale: scalar == Double(headDim) ? nil : 1 / scalar.squareRoot(),
            finalLogitSoftcap: try softcap("final_logit_softcapping", defaults.finalLogitSoftcap),
            attentionLogitSoftcap: try softcap("attn_logit_softcapping", defaults.attentionLogitSoftcap))
    }

    /// A gpt-oss config (`GptOssConfig`), with transformers' defaults where a key is missing: 128 experts of
    /// `intermediate_size` (2880) rows, `num_experts_per_tok` (or the original `experts_per_token`; 4) per token, the
    /// even layers sliding (`layer_types`), `sliding_window` 128, `rope_theta` 150000 and, when `rope_scaling` is
    /// missing altogether, YaRN ×32 from 4096 positions without truncation. The experts' activation is fixed
    /// (alpha 1.702, limit 7: transformers' GptOssExperts ignores the config's `swiglu_limit`).
    private static func gptOSSHyperparameters(_ config: JSONValue, layers: Int, source: String, int: (String, Int?) throws -> Int,
                                              double: (String, Double) throws -> Double) throws -> Hyperparameters {
        if let act = config["hidden_act"]?.stringValue, act != "silu" {
            throw SieveCoreError.invalidHyperparameter(source: source, name: "hidden_act", reason: "gpt-oss's experts use their clamped SwiGLU whatever the config says; '\(act)' is not silu")
        }
        let heads = try int("num_attention_heads", 64)
        guard heads > 0 else { throw SieveCoreError.invalidHyperparameter(source: source, name: "num_attention_heads", reason: "must be positive") }
        var rope: (theta: Double, scaling: RoPEScaling?)
        if config["rope_scaling"] == nil && config["rope_parameters"] == nil {
            rope = (try double("rope_theta", 150_000),
                    .yarn(YaRNRoPEScaling(factor: 32, originalContextLength: 4096, attentionFactor: YaRNRoPEScaling.defaultAttentionFactor(factor: 32),
                                          truncatesCorrectionRange: false)))
        } else {
            rope = try ropeSettings(config, source: source, defaultTheta: 150_000)
        }
        let sliding = try slidingLayers(config, source: source) ?? SlidingWindowAttention.pattern(2, layers: layers)
        let window = try int("sliding_window", 128)
        let width = try int("intermediate_size", 2880)
        let perToken = try int(config["num_experts_per_tok"] == nil ? "experts_per_token" : "num_experts_per_tok", 4)
        return Hyperparameters(
            vocabSize: try int("vocab_size", 201_088), hiddenSize: try int("hidden_size", 2880), intermediateSize: width,
            layerCount: layers, headCount: heads, kvHeadCount: try int("num_key_value_heads", 8), headDim: try int("head_dim", 64),
            contextLength: try int("max_position_embeddings", 131_072), normEpsilon: try double("rms_norm_eps", 1e-5),
            activation: .clampedSwiGLU, ropeTheta: rope.theta, positionOffset: 0,
            tiedEmbeddings: config["tie_word_embeddings"]?.boolValue ?? false, ropeScaling: rope.scaling,
            slidingWindow: sliding.contains(true) ? SlidingWindowAttention(window: window, slidingLayers: sliding, ropeTheta: rope.theta) : nil,
            mixtureOfExperts: MixtureOfExperts(expertCount: try int("num_local_experts", 128), expertsPerToken: perToken,
                                               expertWidth: width, normalizesWeights: true))
    }

    /// Qwen3-MoE's experts, with Qwen3MoeConfig's defaults: `num_experts` (128), `num_experts_per_tok` (8),
    /// `moe_intermediate_size` (768), `norm_topk_prob` (false); or Qwen2-MoE's, with Qwen2MoeConfig's: 60 experts of
    /// 1408, 4 per token, not normalised, and a shared expert of `shared_expert_intermediate_size` (5632). Every layer
    /// must be sparse (`decoder_sparse_step` 1 and no `mlp_only_layers`, as in every released model), since llama.cpp's
    /// qwen3moe and qwen2moe have no dense layers either.
    static func qwenExperts(_ config: JSONValue, modelType: String, source: String, int: (String, Int?) throws -> Int) throws -> MixtureOfExperts {
        let step = try int("decoder_sparse_step", 1)
        let denseLayers = config["mlp_only_layers"]?.arrayItems ?? []
        guard step == 1, denseLayers.isEmpty else {
            throw SieveCoreError.invalidHyperparameter(source: source, name: step == 1 ? "mlp_only_layers" : "decoder_sparse_step",
                                                       reason: "dense FFN layers between the mixture-of-experts ones are not supported (decoder_sparse_step \(step), mlp_only_layers \(denseLayers.count) entries); every layer must be sparse")
        }
        if let v = config["norm_topk_prob"], !v.isNull, v.boolValue == nil {
            throw SieveCoreError.unexpectedJSON(source: source, path: "$.norm_topk_prob", expected: "true or false")
        }
        let qwen2 = modelType == "qwen2_moe"
        return MixtureOfExperts(expertCount: try int("num_experts", qwen2 ? 60 : 128), expertsPerToken: try int("num_experts_per_tok", qwen2 ? 4 : 8),
                                expertWidth: try int("moe_intermediate_size", qwen2 ? 1408 : 768),
                                normalizesWeights: config["norm_topk_prob"]?.boolValue ?? false,
                                sharedExpertWidth: qwen2 ? try int("shared_expert_intermediate_size", 5632) : nil)
    }

    /// Granite's multipliers, with GraniteConfig's defaults of 1: `embedding_multiplier`, `attention_multiplier` (the
    /// attention scores' scale, which replaces 1/√head_dim), `residual_multiplier` and `logits_scaling` (a divisor).
    static func graniteMultipliers(_ hp: inout Hyperparameters, double: (String, Double) throws -> Double) throws {
        func unlessOne(_ x: Double) -> Double? { x == 1 ? nil : x }
        hp.embeddingScale = unlessOne(try double("embedding_multiplier", 1))
        hp.attentionScale = try double("attention_multiplier", 1)
        hp.residualScale = unlessOne(try double("residual_multiplier", 1))
        hp.logitDivisor = unlessOne(try double("logits_scaling", 1))
    }

    /// Granite MoE's experts, with GraniteMoeConfig's defaults: `num_local_experts` (8) of `intermediate_size` rows
    /// each, `num_experts_per_tok` (2) per token, weighted by the softmax over the chosen experts' logits (the same as
    /// normalised weights); GraniteMoeShared adds a shared expert of `shared_intermediate_size` rows (none when 0).
    static func graniteExperts(_ modelType: String, width: Int, int: (String, Int?) throws -> Int) throws -> MixtureOfExperts {
        let shared = modelType == "granitemoeshared" ? try int("shared_intermediate_size", 0) : 0
        return MixtureOfExperts(expertCount: try int("num_local_experts", 8), expertsPerToken: try int("num_experts_per_tok", 2),
                                expertWidth: width, normalizesWeights: true, sharedExpertWidth: shared == 0 ? nil : shared)
    }

    /// Mixtral's experts, with MixtralConfig's defaults: `num_local_experts` (8) of `intermediate_size` rows each,
    /// `num_experts_per_tok` (2) per token, their weights always divided by their sum (MixtralSparseMoeBlock).
    static func mixtralExperts(width: Int, int: (String, Int?) throws -> Int) throws -> MixtureOfExperts {
        MixtureOfExperts(expertCount: try int("num_local_experts", 8), expertsPerToken: try int("num_experts_per_tok", 2),
                         expertWidth: width, normalizesWeights: true)
    }

    /// SmolLM3's layers without RoPE: `no_rope_layers` (1 where a layer uses RoPE, 0 where it does not), by default
    /// every `no_rope_layer_interval`-th layer (4); nil when every layer uses RoPE.
    static func layersWithoutRoPE(_ config: JSONValue, layers: Int, source: String) throws -> [Bool]? {
        var flags: [Bool]
        if let list = config["no_rope_layers"], !list.isNull {
            guard let items = list.arrayItems else {
                throw SieveCoreError.unexpectedJSON(source: source, path: "$.no_rope_layers", expected: "an array of 0 and 1")
            }
            flags = try items.enumerated().map { k, v in
                guard let i = v.intValue, i == 0 || i == 1 else {
                    throw SieveCoreError.unexpectedJSON(source: source, path: "$.no_rope_layers[\(k)]", expected: "0 (no RoPE) or 1 (RoPE)")
                }
                return i == 0
            }
        } else {
            let interval = config["no_rope_layer_interval"]?.intValue ?? 4
            guard interval > 0 else {
                throw SieveCoreError.invalidHyperparameter(source: source, name: "no_rope_layer_interval", reason: "\(interval) must be positive")
            }
            flags = (0..<layers).map { ($0 + 1) % interval == 0 }
        }
        return flags.contains(true) ? flags : nil
    }

    /// The sliding layers `layer_types` lists ("sliding_attention" or "full_attention" per layer); nil without it.
    static func slidingLayers(_ config: JSONValue, source: String) throws -> [Bool]? {
        guard let types = config["layer_types"], !types.isNull else { return nil }
        guard let list = types.arrayItems else {
            throw SieveCoreError.unexpectedJSON(source: source, path: "$.layer_types", expected: "an array of strings")
        }
        return try list.enumerated().map { k, v in
            switch v.stringValue {
            case "sliding_attention": return true
            case "full_attention": return false
            default: throw SieveCoreError.unexpectedJSON(source: source, path: "$.layer_types[\(k)]", expected: "\"sliding_attention\" or \"full_attention\"")
            }
        }
    }

    /// The `rope_scaling` object of a scaling; GGUF frequency factors are written as the `llama3` parameters that
    /// give them.
    static func ropeScalingJSON(_ scaling: RoPEScaling, hp: Hyperparameters, source: String) throws -> JSONValue {
        switch scaling {
        case let .linear(factor):
            return .object([("factor", .double(factor)), ("rope_type", .string("linear"))])
        case let .llama3(p):
            return .object([("factor", .double(p.factor)), ("high_freq_factor", .double(p.highFrequencyFactor)),
                            ("low_freq_factor", .double(p.lowFrequencyFactor)),
                            ("original_max_position_embeddings", .int(Int64(p.originalContextLength))), ("rope_type", .string("llama3"))])
        case let .frequencyFactors(factors):
            guard let p = RoPEScaling.llama3Parameters(fromFactors: factors, base: Float(hp.ropeTheta ?? 10000),
                                                       dimensions: hp.ropeDimensions ?? hp.headDim) else {
                throw SieveCoreError.unsupportedOperation(format: "safetensors", operation: "\(source): RoPE frequency factors (a GGUF's rope_freqs.weight) that no llama3 rope_scaling of config.json reproduces")
            }
            return try ropeScalingJSON(.llama3(p), hp: hp, source: source)
        case let .longRoPE(p):
            // Phi3Config accepts exactly these three keys: the attention factor must be the one the contexts imply.
            let implied = LongRoPEScaling.defaultAttentionFactor(scale: Double(hp.contextLength) / Double(p.originalContextLength),
                                                                 originalContext: p.originalContextLength)
            guard abs(p.attentionFactor - implied) <= 1e-6 * implied else {
                throw SieveCoreError.unsupportedOperation(format: "safetensors", operation: "\(source): a LongRoPE attention factor \(p.attentionFactor) other than the \(implied) that max_position_embeddings \(hp.contextLength) and original_max_position_embeddings \(p.originalContextLength) imply")
            }
            return .object([("long_factor", .array(p.longFactors.map { .double(Double($0)) })),
                            ("short_factor", .array(p.shortFactors.map { .double(Double($0)) })), ("type", .string("longrope"))])
        case let .yarn(p):
            // The options transformers and llama.cpp's converter default are written only where they differ.
            var m: [(String, JSONValue)] = [("factor", .double(p.factor)), ("original_max_position_embeddings", .int(Int64(p.originalContextLength))),
                                            ("rope_type", .string("yarn"))]
            if p.attentionFactor != YaRNRoPEScaling.defaultAttentionFactor(factor: p.factor) { m.append(("attention_factor", .double(p.attentionFactor))) }
            if p.betaFast != 32 { m.append(("beta_fast", .double(p.betaFast))) }
            if p.betaSlow != 1 { m.append(("beta_slow", .double(p.betaSlow))) }
            if !p.truncatesCorrectionRange { m.append(("truncate", .bool(false))) }
            return .object(m)
        }
    }

    /// `rope_theta` (`defaultTheta` when missing) and the RoPE scaling of a Llama or Qwen2 config: `rope_scaling`
    /// (transformers 4) or `rope_parameters` (transformers 5, which also holds `rope_theta`), with `rope_type` (or the
    /// older `type`).
    static func ropeSettings(_ config: JSONValue, source: String, defaultTheta: Double = 10_000) throws -> (theta: Double, scaling: RoPEScaling?) {
        var parameters: JSONValue?
        var key = "rope_scaling"
        for name in ["rope_parameters", "rope_scaling"] {
            if let v = config[name], !v.isNull { parameters = v; key = name; break }
        }
        if let parameters, parameters.objectMembers == nil {
            throw SieveCoreError.unexpectedJSON(source: source, path: "$.\(key)", expected: "an object or null")
        }
        func number(_ object: JSONValue?, _ name: String, path: String, default value: Double?) throws -> Double? {
            guard let v = object?[name], !v.isNull else { return value }
            guard let d = v.doubleValue else { throw SieveCoreError.unexpectedJSON(source: source, path: "\(path).\(name)", expected: "a number") }
            return d
        }
        let theta = try number(config, "rope_theta", path: "$", default: nil)
            ?? number(parameters, "rope_theta", path: "$.\(key)", default: defaultTheta) ?? defaultTheta
        guard let parameters else { return (theta, nil) }
        let typeValue = parameters["rope_type"] ?? parameters["type"]
        let type = typeValue?.stringValue ?? "default"
        if let typeValue, !typeValue.isNull, typeValue.stringValue == nil {
            throw SieveCoreError.unexpectedJSON(source: source, path: "$.\(key).rope_type", expected: "a string")
        }
        func required(_ name: String, default value: Double? = nil) throws -> Double {
            guard let d = try number(parameters, name, path: "$.\(key)", default: value) else {
                throw SieveCoreError.invalidHyperparameter(source: source, name: "\(key).\(name)", reason: "missing for rope_type '\(type)'")
            }
            return d
        }
        let scaling: RoPEScaling?
        /// `original_max_position_embeddings` of the parameters, else `fallback`, checked to be a whole context.
        func originalContext(default fallback: Double?) throws -> Int {
            let context = try required("original_max_position_embeddings", default: fallback)
            guard context == context.rounded(), context >= 1, context <= Double(1 << 30) else {
                throw SieveCoreError.invalidHyperparameter(source: source, name: "\(key).original_max_position_embeddings", reason: "\(context) is not a positive whole number")
            }
            return Int(context)
        }
        switch type.lowercased() {
        case "default", "none":
            scaling = nil
        case "linear":
            let factor = try required("factor")
            scaling = factor == 1 ? nil : .linear(factor: factor)
        case "llama3":
            scaling = .llama3(Llama3RoPEScaling(factor: try required("factor", default: 8), lowFrequencyFactor: try required("low_freq_factor", default: 1),
                                                highFrequencyFactor: try required("high_freq_factor", default: 4),
                                                originalContextLength: try originalContext(default: 8192)))
        case "longrope", "su":
            scaling = .longRoPE(try longRoPE(config, parameters, key: key, source: source))
        case "yarn":
            // transformers' _compute_yarn_parameters: zero or missing betas take the defaults; without an attention
            // factor, mscale and mscale_all_dim (both non-zero) give it, else the factor alone.
            let factor = try required("factor")
            let mscale = try number(parameters, "mscale", path: "$.\(key)", default: 0) ?? 0
            let mscaleAllDim = try number(parameters, "mscale_all_dim", path: "$.\(key)", default: 0) ?? 0
            func scale(_ m: Double) -> Double { YaRNRoPEScaling.defaultAttentionFactor(factor: factor, mscale: m) }
            let attention = try number(parameters, "attention_factor", path: "$.\(key)", default: nil)
                ?? (mscale != 0 && mscaleAllDim != 0 ? scale(mscale) / scale(mscaleAllDim) : scale(1))
            let betaFast = try number(parameters, "beta_fast", path: "$.\(key)", default: 0) ?? 0
            let betaSlow = try number(parameters, "beta_slow", path: "$.\(key)", default: 0) ?? 0
            if let t = parameters["truncate"], !t.isNull, t.boolValue == nil {
                throw SieveCoreError.unexpectedJSON(source: source, path: "$.\(key).truncate", expected: "true or false")
            }
            let contextLength = try number(config, "max_position_embeddings", path: "$", default: nil)
            scaling = .yarn(YaRNRoPEScaling(factor: factor, originalContextLength: try originalContext(default: contextLength),
                                            betaFast: betaFast == 0 ? 32 : betaFast, betaSlow: betaSlow == 0 ? 1 : betaSlow,
                                            attentionFactor: attention, truncatesCorrectionRange: parameters["truncate"]?.boolValue ?? true))
        default:
            throw SieveCoreError.unsupportedRoPEScaling(source: source, type: type)
        }
        return (theta, scaling)
    }

    /// LongRoPE's parameters as transformers reads them: `short_factor` and `long_factor`, the original context
    /// `original_max_position_embeddings` (Phi-3 keeps it beside `max_position_embeddings`; else in the scaling
    /// object, else the context itself), and `attention_factor`, by default derived from the ratio of the contexts
    /// (or the scaling's `factor` when there is no original context).
    private static func longRoPE(_ config: JSONValue, _ parameters: JSONValue, key: String, source: String) throws -> LongRoPEScaling {
        func factors(_ name: String) throws -> [Float] {
            guard let items = parameters[name]?.arrayItems else {
                throw SieveCoreError.invalidHyperparameter(source: source, name: "\(key).\(name)", reason: "missing for rope_type 'longrope' (a list of numbers)")
            }
            return try items.enumerated().map { k, v in
                guard let d = v.doubleValue else { throw SieveCoreError.unexpectedJSON(source: source, path: "$.\(key).\(name)[\(k)]", expected: "a number") }
                return Float(d)
            }
        }
        func whole(_ object: JSONValue, _ name: String, path: String) throws -> Int? {
            guard let v = object[name], !v.isNull else { return nil }
            guard let i = v.intValue, i > 0, i <= 1 << 30 else {
                throw SieveCoreError.invalidHyperparameter(source: source, name: path, reason: "must be a positive whole number")
            }
            return i
        }
        let context = try whole(config, "max_position_embeddings", path: "max_position_embeddings") ?? 4096
        let original = try whole(config, "original_max_position_embeddings", path: "original_max_position_embeddings")
        let originalContext = try original ?? whole(parameters, "original_max_position_embeddings", path: "\(key).original_max_position_embeddings") ?? context
        let scale = original == nil ? parameters["factor"]?.doubleValue ?? 1 : Double(context) / Double(originalContext)
        var attentionFactor = LongRoPEScaling.defaultAttentionFactor(scale: scale, originalContext: originalContext)
        if let v = parameters["attention_factor"], !v.isNull {
            guard let d = v.doubleValue else { throw SieveCoreError.unexpectedJSON(source: source, path: "$.\(key).attention_factor", expected: "a number") }
            attentionFactor = d
        }
        return LongRoPEScaling(shortFactors: try factors("short_factor"), longFactors: try factors("long_factor"),
                               originalContextLength: originalContext, attentionFactor: attentionFactor)
    }

    /// Writes a `config.json` that transformers accepts for the architecture and hyperparameters; throws when the
    /// RoPE scaling (frequency factors read from a GGUF) has no `rope_scaling` form. `source` names the output.
    public static func make(architecture: Architecture, hyperparameters hp: Hyperparameters,
                            tokenizer: TokenizerDescription?, torchDType: String, source: String) throws -> JSONValue {
        func act(_ a: Activation, tanhName: String) -> JSONValue {
            switch a {
            case .silu: return .string("silu")
            case .gelu: return .string("gelu")
            case .geluTanh: return .string(tanhName)
            case .relu: return .string("relu")
            case .clampedSwiGLU: return .string("silu")
            }
        }
        if let moe = hp.mixtureOfExperts {
            // Qwen2-MoE always has a shared expert, Granite MoE may have one, the others never do.
            let shared = moe.sharedExpertWidth != nil
            guard [.qwen3moe, .llama, .granite, .gptOSS, .qwen2].contains(architecture),
                  architecture == .granite || shared == (architecture == .qwen2) else {
                throw SieveCoreError.unsupportedOperation(format: "safetensors", operation: "\(source): a mixture of experts\(shared ? " with" : " without") a shared expert in a \(architecture.rawValue) model, which no config.json Sieve writes can say (a shared expert: GraniteMoeShared and Qwen2-MoE, which always has one; none: Mixtral, Qwen3-MoE, Granite MoE)")
            }
        }
        if architecture != .granite, hp.embeddingScale != nil || hp.residualScale != nil || hp.logitDivisor != nil {
            throw SieveCoreError.unsupportedOperation(format: "safetensors", operation: "\(source): embedding, residual or logit multipliers in a \(architecture.rawValue) model, which only Granite's config.json can say")
        }
        if hp.layersWithoutRoPE != nil, architecture != .smollm3 {
            throw SieveCoreError.unsupportedOperation(format: "safetensors", operation: "\(source): layers without RoPE, which only SmolLM3's config.json can say")
        }
        var m: [(String, JSONValue)] = []
        let bos = tokenizer?.bosID.map { JSONValue.int(Int64($0)) } ?? .null
        let eos = tokenizer?.eosID.map { JSONValue.int(Int64($0)) } ?? .null
        switch architecture {
        case .llama, .qwen2, .qwen3, .smollm3, .qwen3moe, .granite:
            // A sliding Llama is Mistral, a Llama with experts Mixtral (which slides every layer or none); Qwen2,
            // Qwen3 and SmolLM3 say which layers slide with `layer_types`.
            let sliding = hp.slidingWindow
            let mixtral = architecture == .llama ? hp.mixtureOfExperts : nil
            let graniteExperts = architecture == .granite ? hp.mixtureOfExperts : nil
            let qwen2Experts = architecture == .qwen2 ? hp.mixtureOfExperts : nil
            let mistral = architecture == .llama && sliding != nil && mixtral == nil
            if let sliding, sliding.ropeTheta != hp.ropeTheta || (architecture == .llama && sliding.slidingLayers.contains(false)) {
                throw SieveCoreError.unsupportedOperation(format: "safetensors", operation: "\(source): sliding layers with their own RoPE base, or a Llama whose layers do not all slide, have no config.json form")
            }
            if let moe = mixtral ?? graniteExperts, !moe.normalizesWeights {
                throw SieveCoreError.unsupportedOperation(format: "safetensors", operation: "\(source): \(mixtral != nil ? "Mixtral always divides the chosen experts' weights by their sum" : "Granite MoE always weighs the chosen experts by the softmax over their logits"), but the model does not")
            }
            let (className, modelType) = mixtral != nil ? ("MixtralForCausalLM", "mixtral") : mistral ? ("MistralForCausalLM", "mistral")
                : graniteExperts?.sharedExpertWidth != nil ? ("GraniteMoeSharedForCausalLM", "granitemoeshared")
                : graniteExperts != nil ? ("GraniteMoeForCausalLM", "granitemoe") : qwen2Experts != nil ? ("Qwen2MoeForCausalLM", "qwen2_moe")
                : ([Architecture.llama: "LlamaForCausalLM", .qwen2: "Qwen2ForCausalLM", .qwen3: "Qwen3ForCausalLM",
                    .smollm3: "SmolLM3ForCausalLM", .qwen3moe: "Qwen3MoeForCausalLM", .granite: "GraniteForCausalLM"][architecture]!,
                   architecture == .qwen3moe ? "qwen3_moe" : architecture.rawValue)
            m = [("architectures", .array([.string(className)])), ("model_type", .string(modelType)),
                 ("vocab_size", .int(Int64(hp.vocabSize))), ("hidden_size", .int(Int64(hp.hiddenSize))),
                 ("intermediate_size", .int(Int64((mixtral ?? graniteExperts)?.expertWidth ?? hp.intermediateSize))), ("num_hidden_layers", .int(Int64(hp.layerCount))),
                 ("num_attention_heads", .int(Int64(hp.headCount))), ("num_key_value_heads", .int(Int64(hp.kvHeadCount))),
                 ("head_dim", .int(Int64(hp.headDim))), ("max_position_embeddings", .int(Int64(hp.contextLength))),
                 ("rms_norm_eps", .double(hp.normEpsilon)), ("rope_theta", .double(hp.ropeTheta ?? 10000)),
                 ("hidden_act", act(hp.activation, tanhName: "gelu_pytorch_tanh")),
                 ("tie_word_embeddings", .bool(hp.tiedEmbeddings))]
            if let sliding {
                m.append(("sliding_window", .int(Int64(sliding.window))))
                if architecture != .llama {
                    m += [("use_sliding_window", .bool(true)),
                          ("max_window_layers", .int(Int64(sliding.slidingLayers.firstIndex(of: true) ?? hp.layerCount))),
                          ("layer_types", .array(sliding.slidingLayers.map { .string($0 ? "sliding_attention" : "full_attention") }))]
                }
            }
            if let scaling = hp.ropeScaling {
                m.append(("rope_scaling", try ropeScalingJSON(scaling, hp: hp, source: source)))
                if case .longRoPE = scaling { m.append(("original_max_position_embeddings", .int(Int64(hp.originalContextLength)))) }
            }
            if architecture == .smollm3 {
                // Written out always: without the list, transformers leaves RoPE out of every fourth layer.
                let without = hp.layersWithoutRoPE ?? Array(repeating: false, count: hp.layerCount)
                m.append(("no_rope_layers", .array(without.map { .int($0 ? 0 : 1) })))
            }
            if let mixtral {
                // MixtralConfig's default window is none, as Mixtral-8x7B's config says.
                if sliding == nil { m.append(("sliding_window", .null)) }
                m += [("num_local_experts", .int(Int64(mixtral.expertCount))), ("num_experts_per_tok", .int(Int64(mixtral.expertsPerToken)))]
            }
            if architecture == .granite {
                m += [("embedding_multiplier", .double(hp.embeddingScale ?? 1)),
                      ("attention_multiplier", .double(hp.scoreScale)),
                      ("residual_multiplier", .double(hp.residualScale ?? 1)), ("logits_scaling", .double(hp.logitDivisor ?? 1))]
            }
            if let graniteExperts {
                m += [("num_local_experts", .int(Int64(graniteExperts.expertCount))), ("num_experts_per_tok", .int(Int64(graniteExperts.expertsPerToken)))]
                if let shared = graniteExperts.sharedExpertWidth { m.append(("shared_intermediate_size", .int(Int64(shared)))) }
            }
            if architecture == .qwen3moe || qwen2Experts != nil {
                guard let moe = hp.mixtureOfExperts else {
                    throw SieveCoreError.unsupportedOperation(format: "safetensors", operation: "\(source): a Qwen3-MoE model without experts")
                }
                m += [("num_experts", .int(Int64(moe.expertCount))), ("num_experts_per_tok", .int(Int64(moe.expertsPerToken))),
                      ("moe_intermediate_size", .int(Int64(moe.expertWidth))), ("norm_topk_prob", .bool(moe.normalizesWeights)),
                      ("decoder_sparse_step", .int(1)), ("mlp_only_layers", .array([]))]
                if let shared = moe.sharedExpertWidth { m.append(("shared_expert_intermediate_size", .int(Int64(shared)))) }
            }
        case .gptOSS:
            throw SieveCoreError.unsupportedOperation(format: "safetensors", operation: "\(source): writing gpt-oss as a Hugging Face folder (its experts' MXFP4 blocks and scales) is not supported; keep the original checkpoint")
        case .phi3:
            let sliding = hp.slidingWindow
            if let sliding, sliding.ropeTheta != hp.ropeTheta || sliding.slidingLayers.contains(false) {
                throw SieveCoreError.unsupportedOperation(format: "safetensors", operation: "\(source): a Phi-3 whose layers do not all slide, or slide with their own RoPE base, has no config.json form")
            }
            m = [("architectures", .array([.string("Phi3ForCausalLM")])), ("model_type", .string("phi3")),
                 ("vocab_size", .int(Int64(hp.vocabSize))), ("hidden_size", .int(Int64(hp.hiddenSize))),
                 ("intermediate_size", .int(Int64(hp.intermediateSize))), ("num_hidden_layers", .int(Int64(hp.layerCount))),
                 ("num_attention_heads", .int(Int64(hp.headCount))), ("num_key_value_heads", .int(Int64(hp.kvHeadCount))),
                 ("head_dim", .int(Int64(hp.headDim))), ("max_position_embeddings", .int(Int64(hp.contextLength))),
                 ("original_max_position_embeddings", .int(Int64(hp.originalContextLength))),
                 ("partial_rotary_factor", .double(Double(hp.ropeDimensions ?? hp.headDim) / Double(hp.headDim))),
                 ("rms_norm_eps", .double(hp.normEpsilon)), ("rope_theta", .double(hp.ropeTheta ?? 10000)),
                 ("hidden_act", act(hp.activation, tanhName: "gelu_pytorch_tanh")),
                 ("sliding_window", sliding.map { .int(Int64($0.window)) } ?? .null),
                 ("tie_word_embeddings", .bool(hp.tiedEmbeddings)),
                 ("rope_scaling", try hp.ropeScaling.map { try ropeScalingJSON($0, hp: hp, source: source) } ?? .null)]
        case .gemma2, .gemma3:
            let sliding = hp.slidingWindow
            let gemma2 = architecture == .gemma2
            if gemma2, let sliding, sliding.ropeTheta != hp.ropeTheta {
                throw SieveCoreError.unsupportedOperation(format: "safetensors", operation: "\(source): the sliding layers' RoPE base \(sliding.ropeTheta) differs from the model's, which Gemma 2's config.json cannot say")
            }
            func cap(_ c: Double?) -> JSONValue { c.map { .double($0) } ?? .null }
            m = [("architectures", .array([.string(gemma2 ? "Gemma2ForCausalLM" : "Gemma3ForCausalLM")])),
                 ("model_type", .string(gemma2 ? "gemma2" : "gemma3_text")),
                 ("vocab_size", .int(Int64(hp.vocabSize))), ("hidden_size", .int(Int64(hp.hiddenSize))),
                 ("intermediate_size", .int(Int64(hp.intermediateSize))), ("num_hidden_layers", .int(Int64(hp.layerCount))),
                 ("num_attention_heads", .int(Int64(hp.headCount))), ("num_key_value_heads", .int(Int64(hp.kvHeadCount))),
                 ("head_dim", .int(Int64(hp.headDim))),
                 ("query_pre_attn_scalar", .double(hp.attentionScale.map { 1 / ($0 * $0) } ?? Double(hp.headDim))),
                 ("max_position_embeddings", .int(Int64(hp.contextLength))), ("rms_norm_eps", .double(hp.normEpsilon)),
                 ("rope_theta", .double(hp.ropeTheta ?? GemmaDefaults(architecture).ropeTheta))]
            if !gemma2 { m.append(("rope_local_base_freq", .double(sliding?.ropeTheta ?? 10000))) }
            m += [("sliding_window", .int(Int64(sliding?.window ?? hp.contextLength))),
                  ("layer_types", .array((sliding?.slidingLayers ?? Array(repeating: false, count: hp.layerCount)).map {
                      .string($0 ? "sliding_attention" : "full_attention") })),
                  ("hidden_activation", act(hp.activation, tanhName: "gelu_pytorch_tanh")),
                  ("final_logit_softcapping", cap(hp.finalLogitSoftcap)),
                  ("attn_logit_softcapping", cap(hp.attentionLogitSoftcap)), ("attention_bias", .bool(false)),
                  ("tie_word_embeddings", .bool(hp.tiedEmbeddings))]
            if let scaling = hp.ropeScaling {
                m.append(("rope_scaling", try ropeScalingJSON(scaling, hp: hp, source: source)))
            }
        case .gpt2:
            m = [("architectures", .array([.string("GPT2LMHeadModel")])), ("model_type", .string("gpt2")),
                 ("vocab_size", .int(Int64(hp.vocabSize))), ("n_embd", .int(Int64(hp.hiddenSize))),
                 ("n_inner", .int(Int64(hp.intermediateSize))), ("n_layer", .int(Int64(hp.layerCount))),
                 ("n_head", .int(Int64(hp.headCount))), ("n_positions", .int(Int64(hp.contextLength))),
                 ("n_ctx", .int(Int64(hp.contextLength))), ("layer_norm_epsilon", .double(hp.normEpsilon)),
                 ("activation_function", act(hp.activation, tanhName: "gelu_new")), ("tie_word_embeddings", .bool(hp.tiedEmbeddings))]
        case .opt:
            m = [("architectures", .array([.string("OPTForCausalLM")])), ("model_type", .string("opt")),
                 ("vocab_size", .int(Int64(hp.vocabSize))), ("hidden_size", .int(Int64(hp.hiddenSize))),
                 ("word_embed_proj_dim", .int(Int64(hp.hiddenSize))), ("ffn_dim", .int(Int64(hp.intermediateSize))),
                 ("num_hidden_layers", .int(Int64(hp.layerCount))), ("num_attention_heads", .int(Int64(hp.headCount))),
                 ("max_position_embeddings", .int(Int64(hp.contextLength))), ("do_layer_norm_before", .bool(true)),
                 ("activation_function", act(hp.activation, tanhName: "gelu_new")), ("tie_word_embeddings", .bool(hp.tiedEmbeddings)),
                 ("enable_bias", .bool(true))]
        case .bert:
            m = [("architectures", .array([.string("BertModel")])), ("model_type", .string("bert")),
                 ("vocab_size", .int(Int64(hp.vocabSize))), ("hidden_size", .int(Int64(hp.hiddenSize))),
                 ("intermediate_size", .int(Int64(hp.intermediateSize))), ("num_hidden_layers", .int(Int64(hp.layerCount))),
                 ("num_attention_heads", .int(Int64(hp.headCount))), ("max_position_embeddings", .int(Int64(hp.contextLength))),
                 ("type_vocab_size", .int(Int64(hp.tokenTypeCount))), ("layer_norm_eps", .double(hp.normEpsilon)),
                 ("hidden_act", act(hp.activation, tanhName: "gelu_new"))]
        }
        m.append(("bos_token_id", bos))
        m.append(("eos_token_id", eos))
        m.append(("torch_dtype", .string(torchDType)))
        return .object(m)
    }
}
