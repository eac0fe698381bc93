/// Maps a Hugging Face `config.json` to and from the IR's architecture and hyperparameters.
public enum HFConfig {
    /// Reads the architecture and hyperparameters from a parsed `config.json`.
    public static func read(_ config: JSONValue, source: String) throws -> (Architecture, Hyperparameters) {
        guard config.objectMembers != nil else {
            throw SieveCoreError.unexpectedJSON(source: source, path: "$", expected: "an object")
        }
        guard let modelType = config["model_type"]?.stringValue else {
            throw SieveCoreError.unexpectedJSON(source: source, path: "$.model_type", expected: "a string naming the architecture")
        }
        guard let arch = Architecture(rawValue: modelType) else {
            throw SieveCoreError.unsupportedArchitecture(source: source, name: modelType, supported: Architecture.supportedNames)
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

        let hp: Hyperparameters
        switch arch {
        case .llama, .qwen2:
            let hidden = try int("hidden_size")
            let heads = try int("num_attention_heads")
            guard heads > 0 else { throw SieveCoreError.invalidHyperparameter(source: source, name: "num_attention_heads", reason: "must be positive") }
            let headDim = try int("head_dim", default: hidden / heads)
            let tied = config["tie_word_embeddings"]?.boolValue ?? (arch == .qwen2 ? false : false)
            hp = Hyperparameters(
                vocabSize: try int("vocab_size"), hiddenSize: hidden, intermediateSize: try int("intermediate_size"),
                layerCount: try int("num_hidden_layers"), headCount: heads,
                kvHeadCount: try int("num_key_value_heads", default: heads), headDim: headDim,
                contextLength: try int("max_position_embeddings", default: 2048),
                normEpsilon: try double("rms_norm_eps", default: 1e-6), activation: try activation("hidden_act", default: "silu"),
                ropeTheta: try double("rope_theta", default: 10000), ropeDimensions: nil, positionOffset: 0,
                tiedEmbeddings: tied)
        case .gpt2:
            let hidden = try int("n_embd")
            let heads = try int("n_head")
            guard heads > 0 else { throw SieveCoreError.invalidHyperparameter(source: source, name: "n_head", reason: "must be positive") }
            hp = Hyperparameters(
                vocabSize: try int("vocab_size"), hiddenSize: hidden, intermediateSize: try int("n_inner", default: 4 * hidden),
                layerCount: try int("n_layer"), headCount: heads, kvHeadCount: heads, headDim: hidden / heads,
                contextLength: try int("n_positions", "n_ctx"), normEpsilon: try double("layer_norm_epsilon", default: 1e-5),
                activation: try activation("activation_function", default: "gelu_new"), tiedEmbeddings: config["tie_word_embeddings"]?.boolValue ?? true)
        case .opt:
            let hidden = try int("hidden_size")
            let heads = try int("num_attention_heads")
            guard heads > 0 else { throw SieveCoreError.invalidHyperparameter(source: source, name: "num_attention_heads", reason: "must be positive") }
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
            let heads = try int("num_attention_heads")
            guard heads > 0 else { throw SieveCoreError.invalidHyperparameter(source: source, name: "num_attention_heads", reason: "must be positive") }
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

    /// Writes a `config.json` that transformers accepts for the architecture and hyperparameters.
    public static func make(architecture: Architecture, hyperparameters hp: Hyperparameters,
                            tokenizer: TokenizerDescription?, torchDType: String) -> JSONValue {
        func act(_ a: Activation, tanhName: String) -> JSONValue {
            switch a {
            case .silu: return .string("silu")
            case .gelu: return .string("gelu")
            case .geluTanh: return .string(tanhName)
            case .relu: return .string("relu")
            }
        }
        var m: [(String, JSONValue)] = []
        let bos = tokenizer?.bosID.map { JSONValue.int(Int64($0)) } ?? .null
        let eos = tokenizer?.eosID.map { JSONValue.int(Int64($0)) } ?? .null
        switch architecture {
        case .llama, .qwen2:
            m = [("architectures", .array([.string(architecture == .llama ? "LlamaForCausalLM" : "Qwen2ForCausalLM")])),
                 ("model_type", .string(architecture.rawValue)),
                 ("vocab_size", .int(Int64(hp.vocabSize))), ("hidden_size", .int(Int64(hp.hiddenSize))),
                 ("intermediate_size", .int(Int64(hp.intermediateSize))), ("num_hidden_layers", .int(Int64(hp.layerCount))),
                 ("num_attention_heads", .int(Int64(hp.headCount))), ("num_key_value_heads", .int(Int64(hp.kvHeadCount))),
                 ("head_dim", .int(Int64(hp.headDim))), ("max_position_embeddings", .int(Int64(hp.contextLength))),
                 ("rms_norm_eps", .double(hp.normEpsilon)), ("rope_theta", .double(hp.ropeTheta ?? 10000)),
                 ("hidden_act", act(hp.activation, tanhName: "gelu_pytorch_tanh")),
                 ("tie_word_embeddings", .bool(hp.tiedEmbeddings))]
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
