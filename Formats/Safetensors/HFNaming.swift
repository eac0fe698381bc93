import SieveCore

/// How a Hugging Face tensor's data relates to its IR tensor(s).
enum HFTransform {
    /// Same data under another name.
    case rename
    /// GPT-2 `Conv1D`: the weight is stored `[in, out]`, the IR stores `[out, in]`; the bias is unchanged.
    case conv1D
    /// GPT-2 `c_attn`: a `Conv1D` whose outputs are q, k and v side by side (split on read, fused on write).
    case fusedQKV
    /// Gemma's RMSNorm multiplies by `1 + weight`: the file holds the IR's multiplier minus one (1 is added on
    /// read, in f32, and subtracted on write, as llama.cpp's converter adds it).
    case normOffset
    /// Phi-3's `qkv_proj` and `gate_up_proj`: a Linear whose output rows are the IR tensors' rows one after another
    /// (q, k, v; gate, up), split into row slices on read and stacked on write.
    case stackedRows
    /// One expert's matrix (`mlp.experts.{e}.gate_proj`) of a mixture of experts, whose IR tensor stacks all
    /// experts' (`[experts, rows, columns]`): stacked on read, sliced on write.
    case expertSlice
    /// Granite MoE's `input_linear`: stacked experts whose rows are, expert by expert, the IR tensors' rows one after
    /// another (`[experts, gate rows + up rows, hidden]`), split into the stacked IR tensors on read and interleaved
    /// expert by expert on write.
    case expertRows
}

/// A dotted name pattern; the component `{i}` matches a block index, `{e}` an expert index, a final `*` any rest.
struct NamePattern {
    let components: [Substring]

    /// The indices a match bound.
    struct Binding {
        var block: Int?
        var expert: Int?
    }

    init(_ text: String) { components = text.split(separator: ".", omittingEmptySubsequences: false) }

    /// The indices bound to `{i}` and `{e}` if `parts` matches, else nil.
    func match(_ parts: [Substring]) -> Binding? {
        var binding = Binding()
        for (k, component) in components.enumerated() {
            if component == "*" { return k <= parts.count ? binding : nil }
            guard k < parts.count else { return nil }
            if component == "{i}" || component == "{e}" {
                let part = parts[k]
                guard !part.isEmpty, part.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let i = Int(part) else { return nil }
                if component == "{i}" { binding.block = i } else { binding.expert = i }
            } else if component != parts[k] {
                return nil
            }
        }
        return components.count == parts.count ? binding : nil
    }

    /// The name with `{i}` replaced by `block` and `{e}` by `expert`.
    func render(block: Int?, expert: Int? = nil) -> String {
        components.map { $0 == "{i}" ? String(block ?? 0) : $0 == "{e}" ? String(expert ?? 0) : String($0) }.joined(separator: ".")
    }
}

/// One line of the mapping table: a Hugging Face module and the IR module(s) it holds. The parameter suffix
/// (`weight` or `bias`) carries over unchanged.
struct HFNameRule {
    /// Module path after the architecture's body prefix, or from the root for `topLevel` rules.
    let hf: NamePattern
    /// IR module paths: one, or the parts of a fused tensor (`fusedQKV`, `stackedRows`).
    let ir: [NamePattern]
    let transform: HFTransform
    let topLevel: Bool

    init(_ hf: String, _ ir: String..., transform: HFTransform = .rename, topLevel: Bool = false) {
        self.hf = NamePattern(hf)
        self.ir = ir.map(NamePattern.init)
        self.transform = transform
        self.topLevel = topLevel
    }
}

/// The Hugging Face ↔ IR tensor naming of each architecture: the single table both the reader and the writer
/// use. Names are `prefix + module + "." + param`, where `param` is `weight` or `bias`.
///
/// BERT's pooler (`pooler.dense.*`) is kept under the IR names `pooler.dense.weight` / `pooler.dense.bias`
/// (the graph's nodes do not use it; the writer writes it back). Buffers that transformers recomputes
/// (`rotary_emb.inv_freq`, GPT-2's `attn.bias` / `attn.masked_bias` masks, BERT's `position_ids`) and BERT's
/// pre-training heads (`cls.*`) are dropped on read; any other unknown tensor is an error.
struct HFNaming {
    let architecture: Architecture
    /// Body prefixes accepted on read; the first is the one written.
    let prefixes: [String]
    let rules: [HFNameRule]
    /// Full names (with or without a body prefix) dropped on read.
    let ignored: [NamePattern]

    /// The naming of `architecture`, whose FFNs are `experts` when given (Mixtral's Llama, Granite MoE, Qwen2-MoE).
    init(_ architecture: Architecture, experts moe: MixtureOfExperts? = nil) {
        self.architecture = architecture
        switch architecture {
        case .llama, .qwen2, .qwen3, .smollm3, .qwen3moe, .granite, .gptOSS:
            prefixes = ["model."]
            let common = [
                HFNameRule("embed_tokens", "embed.tokens"),
                HFNameRule("layers.{i}.input_layernorm", "blocks.{i}.attn_norm"),
                HFNameRule("layers.{i}.self_attn.q_proj", "blocks.{i}.attn.q"),
                HFNameRule("layers.{i}.self_attn.k_proj", "blocks.{i}.attn.k"),
                HFNameRule("layers.{i}.self_attn.v_proj", "blocks.{i}.attn.v"),
                HFNameRule("layers.{i}.self_attn.o_proj", "blocks.{i}.attn.o"),
                HFNameRule("layers.{i}.post_attention_layernorm", "blocks.{i}.ffn_norm"),
                HFNameRule("layers.{i}.mlp.gate_proj", "blocks.{i}.ffn.gate"),
                HFNameRule("layers.{i}.mlp.up_proj", "blocks.{i}.ffn.up"),
                HFNameRule("layers.{i}.mlp.down_proj", "blocks.{i}.ffn.down"),
                HFNameRule("norm", "final_norm"),
                HFNameRule("lm_head", "lm_head", topLevel: true),
            ]
            let headNorms = [HFNameRule("layers.{i}.self_attn.q_norm", "blocks.{i}.attn.q_norm"),
                             HFNameRule("layers.{i}.self_attn.k_norm", "blocks.{i}.attn.k_norm")]
            let experts = [HFNameRule("layers.{i}.mlp.gate", "blocks.{i}.ffn.router"),
                           HFNameRule("layers.{i}.mlp.experts.{e}.gate_proj", "blocks.{i}.ffn.gate_exps", transform: .expertSlice),
                           HFNameRule("layers.{i}.mlp.experts.{e}.up_proj", "blocks.{i}.ffn.up_exps", transform: .expertSlice),
                           HFNameRule("layers.{i}.mlp.experts.{e}.down_proj", "blocks.{i}.ffn.down_exps", transform: .expertSlice)]
            // Mixtral's experts: w1 the gate, w3 the up and w2 the down projection.
            let mixtralExperts = [HFNameRule("layers.{i}.block_sparse_moe.gate", "blocks.{i}.ffn.router"),
                                  HFNameRule("layers.{i}.block_sparse_moe.experts.{e}.w1", "blocks.{i}.ffn.gate_exps", transform: .expertSlice),
                                  HFNameRule("layers.{i}.block_sparse_moe.experts.{e}.w3", "blocks.{i}.ffn.up_exps", transform: .expertSlice),
                                  HFNameRule("layers.{i}.block_sparse_moe.experts.{e}.w2", "blocks.{i}.ffn.down_exps", transform: .expertSlice)]
            // Granite MoE's experts (JetMoE's parallel experts): each expert's gate rows, then its up rows, in one
            // stacked `input_linear`; GraniteMoeShared's shared expert likewise in `shared_mlp`.
            let graniteExperts = [HFNameRule("layers.{i}.block_sparse_moe.router.layer", "blocks.{i}.ffn.router"),
                                  HFNameRule("layers.{i}.block_sparse_moe.input_linear", "blocks.{i}.ffn.gate_exps", "blocks.{i}.ffn.up_exps",
                                             transform: .expertRows),
                                  HFNameRule("layers.{i}.block_sparse_moe.output_linear", "blocks.{i}.ffn.down_exps")]
            let graniteShared = [HFNameRule("layers.{i}.shared_mlp.input_linear", "blocks.{i}.ffn.gate_shexp", "blocks.{i}.ffn.up_shexp",
                                            transform: .stackedRows),
                                 HFNameRule("layers.{i}.shared_mlp.output_linear", "blocks.{i}.ffn.down_shexp")]
            // Qwen2-MoE's shared expert, and the projection whose sigmoid weighs its output.
            let qwen2Shared = [HFNameRule("layers.{i}.mlp.shared_expert.gate_proj", "blocks.{i}.ffn.gate_shexp"),
                               HFNameRule("layers.{i}.mlp.shared_expert.up_proj", "blocks.{i}.ffn.up_shexp"),
                               HFNameRule("layers.{i}.mlp.shared_expert.down_proj", "blocks.{i}.ffn.down_shexp"),
                               HFNameRule("layers.{i}.mlp.shared_expert_gate", "blocks.{i}.ffn.gate_inp_shexp")]
            let attention = common.filter { !$0.hf.components.contains("mlp") }
            switch architecture {
            case .qwen3: rules = common + headNorms
            case .qwen3moe: rules = attention + headNorms + experts
            case .llama where moe != nil: rules = attention + mixtralExperts
            case .qwen2 where moe != nil: rules = attention + experts + qwen2Shared
            case .granite where moe != nil: rules = attention + graniteExperts + (moe?.sharedExpertWidth != nil ? graniteShared : [])
            // gpt-oss's sinks and experts are outside the table (`GptOSSCheckpoint`).
            case .gptOSS: rules = attention + [HFNameRule("layers.{i}.mlp.router", "blocks.{i}.ffn.router")]
            default: rules = common
            }
            ignored = [NamePattern("layers.{i}.self_attn.rotary_emb.inv_freq")]
        case .phi3:
            prefixes = ["model."]
            rules = [
                HFNameRule("embed_tokens", "embed.tokens"),
                HFNameRule("layers.{i}.input_layernorm", "blocks.{i}.attn_norm"),
                HFNameRule("layers.{i}.self_attn.qkv_proj", "blocks.{i}.attn.q", "blocks.{i}.attn.k", "blocks.{i}.attn.v", transform: .stackedRows),
                HFNameRule("layers.{i}.self_attn.o_proj", "blocks.{i}.attn.o"),
                HFNameRule("layers.{i}.post_attention_layernorm", "blocks.{i}.ffn_norm"),
                HFNameRule("layers.{i}.mlp.gate_up_proj", "blocks.{i}.ffn.gate", "blocks.{i}.ffn.up", transform: .stackedRows),
                HFNameRule("layers.{i}.mlp.down_proj", "blocks.{i}.ffn.down"),
                HFNameRule("norm", "final_norm"),
                HFNameRule("lm_head", "lm_head", topLevel: true),
            ]
            ignored = [NamePattern("layers.{i}.self_attn.rotary_emb.inv_freq")]
        case .gemma2, .gemma3:
            // A multimodal Gemma 3 checkpoint keeps its language model under `language_model.model.` (transformers
            // before 4.52) or `model.language_model.`; its vision tower and projector are not read.
            prefixes = architecture == .gemma3 ? ["model.", "language_model.model.", "model.language_model."] : ["model."]
            let headNorms = [HFNameRule("layers.{i}.self_attn.q_norm", "blocks.{i}.attn.q_norm", transform: .normOffset),
                             HFNameRule("layers.{i}.self_attn.k_norm", "blocks.{i}.attn.k_norm", transform: .normOffset)]
            rules = [
                HFNameRule("embed_tokens", "embed.tokens"),
                HFNameRule("layers.{i}.input_layernorm", "blocks.{i}.attn_norm", transform: .normOffset),
                HFNameRule("layers.{i}.self_attn.q_proj", "blocks.{i}.attn.q"),
                HFNameRule("layers.{i}.self_attn.k_proj", "blocks.{i}.attn.k"),
                HFNameRule("layers.{i}.self_attn.v_proj", "blocks.{i}.attn.v"),
                HFNameRule("layers.{i}.self_attn.o_proj", "blocks.{i}.attn.o"),
            ] + (architecture == .gemma3 ? headNorms : []) + [
                HFNameRule("layers.{i}.post_attention_layernorm", "blocks.{i}.attn_post_norm", transform: .normOffset),
                HFNameRule("layers.{i}.pre_feedforward_layernorm", "blocks.{i}.ffn_norm", transform: .normOffset),
                HFNameRule("layers.{i}.post_feedforward_layernorm", "blocks.{i}.ffn_post_norm", transform: .normOffset),
                HFNameRule("layers.{i}.mlp.gate_proj", "blocks.{i}.ffn.gate"),
                HFNameRule("layers.{i}.mlp.up_proj", "blocks.{i}.ffn.up"),
                HFNameRule("layers.{i}.mlp.down_proj", "blocks.{i}.ffn.down"),
                HFNameRule("norm", "final_norm", transform: .normOffset),
                HFNameRule("lm_head", "lm_head", topLevel: true),
                HFNameRule("language_model.lm_head", "lm_head", topLevel: true),
            ]
            ignored = architecture == .gemma3 ? [NamePattern("vision_tower.*"), NamePattern("multi_modal_projector.*")] : []
        case .gpt2:
            prefixes = ["transformer.", ""]
            rules = [
                HFNameRule("wte", "embed.tokens"),
                HFNameRule("wpe", "embed.positions"),
                HFNameRule("h.{i}.ln_1", "blocks.{i}.attn_norm"),
                HFNameRule("h.{i}.attn.c_attn", "blocks.{i}.attn.q", "blocks.{i}.attn.k", "blocks.{i}.attn.v", transform: .fusedQKV),
                HFNameRule("h.{i}.attn.c_proj", "blocks.{i}.attn.o", transform: .conv1D),
                HFNameRule("h.{i}.ln_2", "blocks.{i}.ffn_norm"),
                HFNameRule("h.{i}.mlp.c_fc", "blocks.{i}.ffn.up", transform: .conv1D),
                HFNameRule("h.{i}.mlp.c_proj", "blocks.{i}.ffn.down", transform: .conv1D),
                HFNameRule("ln_f", "final_norm"),
                HFNameRule("lm_head", "lm_head", topLevel: true),
            ]
            ignored = [NamePattern("h.{i}.attn.bias"), NamePattern("h.{i}.attn.masked_bias")]
        case .opt:
            prefixes = ["model.decoder.", "decoder."]
            rules = [
                HFNameRule("embed_tokens", "embed.tokens"),
                HFNameRule("embed_positions", "embed.positions"),
                HFNameRule("layers.{i}.self_attn_layer_norm", "blocks.{i}.attn_norm"),
                HFNameRule("layers.{i}.self_attn.q_proj", "blocks.{i}.attn.q"),
                HFNameRule("layers.{i}.self_attn.k_proj", "blocks.{i}.attn.k"),
                HFNameRule("layers.{i}.self_attn.v_proj", "blocks.{i}.attn.v"),
                HFNameRule("layers.{i}.self_attn.out_proj", "blocks.{i}.attn.o"),
                HFNameRule("layers.{i}.final_layer_norm", "blocks.{i}.ffn_norm"),
                HFNameRule("layers.{i}.fc1", "blocks.{i}.ffn.up"),
                HFNameRule("layers.{i}.fc2", "blocks.{i}.ffn.down"),
                HFNameRule("final_layer_norm", "final_norm"),
                HFNameRule("lm_head", "lm_head", topLevel: true),
            ]
            ignored = []
        case .bert:
            prefixes = ["", "bert."]
            rules = [
                HFNameRule("embeddings.word_embeddings", "embed.tokens"),
                HFNameRule("embeddings.position_embeddings", "embed.positions"),
                HFNameRule("embeddings.token_type_embeddings", "embed.token_types"),
                HFNameRule("embeddings.LayerNorm", "embed.norm"),
                HFNameRule("encoder.layer.{i}.attention.self.query", "blocks.{i}.attn.q"),
                HFNameRule("encoder.layer.{i}.attention.self.key", "blocks.{i}.attn.k"),
                HFNameRule("encoder.layer.{i}.attention.self.value", "blocks.{i}.attn.v"),
                HFNameRule("encoder.layer.{i}.attention.output.dense", "blocks.{i}.attn.o"),
                HFNameRule("encoder.layer.{i}.attention.output.LayerNorm", "blocks.{i}.attn_norm"),
                HFNameRule("encoder.layer.{i}.intermediate.dense", "blocks.{i}.ffn.up"),
                HFNameRule("encoder.layer.{i}.output.dense", "blocks.{i}.ffn.down"),
                HFNameRule("encoder.layer.{i}.output.LayerNorm", "blocks.{i}.ffn_norm"),
                HFNameRule("pooler.dense", "pooler.dense"),
            ]
            ignored = [NamePattern("embeddings.position_ids"), NamePattern("cls.*")]
        }
    }

    /// A Hugging Face tensor name resolved against the table.
    struct Resolved {
        let rule: HFNameRule
        let block: Int?
        /// The expert a `.expertSlice` tensor holds.
        var expert: Int? = nil
        /// `weight` or `bias`.
        let param: String

        /// The IR tensor name of part `k` (0 unless the rule fuses several IR tensors).
        func irName(part k: Int) -> String { rule.ir[k].render(block: block) + "." + param }
        /// The Hugging Face name, with `prefix` for rules below the body.
        func hfName(prefix: String) -> String { (rule.topLevel ? "" : prefix) + rule.hf.render(block: block, expert: expert) + "." + param }
    }

    /// The rule a Hugging Face tensor name falls under, or nil.
    func resolve(_ name: String) -> Resolved? {
        guard let dot = name.lastIndex(of: "."), case let param = String(name[name.index(after: dot)...]),
              param == "weight" || param == "bias" else { return nil }
        let module = String(name[..<dot])
        for rule in rules where rule.topLevel {
            if let b = rule.hf.match(module.split(separator: ".", omittingEmptySubsequences: false)) {
                return Resolved(rule: rule, block: b.block, expert: b.expert, param: param)
            }
        }
        for prefix in prefixes where module.hasPrefix(prefix) {
            let parts = module.dropFirst(prefix.count).split(separator: ".", omittingEmptySubsequences: false)
            for rule in rules where !rule.topLevel {
                if let b = rule.hf.match(parts) {
                    return Resolved(rule: rule, block: b.block, expert: b.expert, param: param)
                }
            }
        }
        return nil
    }

    /// Whether a Hugging Face tensor is one the reader drops.
    func isIgnored(_ name: String) -> Bool {
        let candidates = [name] + prefixes.filter { !$0.isEmpty && name.hasPrefix($0) }.map { String(name.dropFirst($0.count)) }
        return candidates.contains { candidate in
            let parts = candidate.split(separator: ".", omittingEmptySubsequences: false)
            return ignored.contains { $0.match(parts) != nil }
        }
    }

    /// An IR tensor name mapped back: the Hugging Face name, its rule, and which part of it the tensor is.
    func hfName(forIR name: String) -> (name: String, resolved: Resolved, part: Int)? {
        guard let dot = name.lastIndex(of: "."), case let param = String(name[name.index(after: dot)...]),
              param == "weight" || param == "bias" else { return nil }
        let parts = name[..<dot].split(separator: ".", omittingEmptySubsequences: false)
        for rule in rules {
            for (k, pattern) in rule.ir.enumerated() {
                if let b = pattern.match(parts) {
                    let resolved = Resolved(rule: rule, block: b.block, param: param)
                    return (resolved.hfName(prefix: prefixes[0]), resolved, k)
                }
            }
        }
        return nil
    }

    // MARK: Reading

    /// The IR tensors of a checkpoint's tensors: renamed zero-copy views, except GPT-2's `Conv1D` weights
    /// (transposed) and fused `c_attn` weights (split; the bias split stays a view). Sorted embeddings first,
    /// then block by block, then the rest.
    func irTensors(from tensors: TensorStore, hyperparameters hp: Hyperparameters, source: String) throws -> TensorStore {
        let layerCount = hp.layerCount
        var out: [Tensor] = []
        var experts: [String: [Int: Tensor]] = [:]
        var gptOSSParts: [Int: [String: Tensor]] = [:]
        for tensor in tensors.all {
            if architecture == .gptOSS, let prefix = prefixes.first(where: { tensor.name.hasPrefix($0) }),
               let (block, part) = GptOSSCheckpoint.parse(tensor.name.dropFirst(prefix.count)) {
                guard block < layerCount else {
                    throw SieveCoreError.invalidHyperparameter(source: source, name: "num_hidden_layers", reason: "config.json says \(layerCount) layers but the checkpoint has tensor '\(tensor.name)' of block \(block)")
                }
                gptOSSParts[block, default: [:]][part] = tensor
                continue
            }
            guard let resolved = resolve(tensor.name) else {
                if isIgnored(tensor.name) { continue }
                throw SafetensorsError.unmappedTensor(path: source, tensor: tensor.name, architecture: architecture.rawValue)
            }
            if let block = resolved.block, block >= layerCount {
                throw SieveCoreError.invalidHyperparameter(source: source, name: "num_hidden_layers", reason: "config.json says \(layerCount) layers but the checkpoint has tensor '\(tensor.name)' of block \(block)")
            }
            if resolved.rule.transform == .expertSlice, let e = resolved.expert {
                let count = hp.mixtureOfExperts?.expertCount ?? 0
                guard e < count else {
                    throw SieveCoreError.invalidHyperparameter(source: source, name: architecture == .llama ? "num_local_experts" : "num_experts", reason: "config.json says \(count) experts but the checkpoint has tensor '\(tensor.name)' of expert \(e)")
                }
                experts[resolved.irName(part: 0), default: [:]][e] = tensor
                continue
            }
            out += try irParts(of: tensor, resolved, hyperparameters: hp, source: source)
        }
        for (block, parts) in gptOSSParts {
            out += try GptOSSCheckpoint.irTensors(block: block, parts, hyperparameters: hp, source: source)
        }
        for (name, parts) in experts {
            let count = hp.mixtureOfExperts?.expertCount ?? 0
            if let missing = (0..<count).first(where: { parts[$0] == nil }) {
                let example = parts.values.first.map { " (beside '\($0.name)')" } ?? ""
                throw SieveCoreError.missingTensor(source: source, name: "expert \(missing) of \(name)\(example)")
            }
            out.append(try TensorLayout.stacked((0..<count).map { parts[$0]! }, name: name, source: source))
        }
        var store = TensorStore()
        for t in out.sorted(by: { Self.irOrder($0.name) < Self.irOrder($1.name) }) {
            if store.contains(t.name) {
                throw SafetensorsError.duplicateTensor(path: source, name: t.name)
            }
            store.insert(t)
        }
        return store
    }

    private func irParts(of tensor: Tensor, _ r: Resolved, hyperparameters hp: Hyperparameters, source: String) throws -> [Tensor] {
        switch (r.rule.transform, r.param) {
        case (.expertSlice, _):
            throw SafetensorsError.unmappedTensor(path: source, tensor: tensor.name, architecture: architecture.rawValue)
        case (.stackedRows, _):
            let counts = r.rule.ir.map { Self.stackedRowCount($0, hp) }
            guard tensor.shape.dims.first == counts.reduce(0, +) else {
                throw SieveCoreError.invalidShape(source: source, tensor: tensor.name, reason: "shape \(tensor.shape) but the config implies \(counts.reduce(0, +)) rows (\(counts.map(String.init).joined(separator: " + ")))")
            }
            var start = 0
            return try r.rule.ir.indices.map { k in
                defer { start += counts[k] }
                return try TensorLayout.rowSlice(tensor, rows: start..<(start + counts[k]), name: r.irName(part: k), source: source)
            }
        case (.expertRows, _):
            let counts = r.rule.ir.map { Self.stackedRowCount($0, hp) }, experts = hp.mixtureOfExperts?.expertCount ?? 0
            guard tensor.shape.rank == 3, tensor.shape.dims[0] == experts, tensor.shape.dims[1] == counts.reduce(0, +) else {
                throw SieveCoreError.invalidShape(source: source, tensor: tensor.name, reason: "shape \(tensor.shape) but the config implies [\(experts), \(counts.reduce(0, +)), …] (\(experts) experts of \(counts.map(String.init).joined(separator: " + ")) rows)")
            }
            var start = 0
            return try r.rule.ir.indices.map { k in
                defer { start += counts[k] }
                return try TensorLayout.groupRowSlice(tensor, rows: start..<(start + counts[k]), name: r.irName(part: k), source: source)
            }
        case (.rename, _), (.conv1D, "bias"):
            var t = tensor
            t.name = r.irName(part: 0)
            return [t]
        case (.conv1D, _):
            return [try TensorLayout.transposed(tensor, name: r.irName(part: 0), source: source)]
        case (.normOffset, _):
            return [try TensorLayout.offset(tensor, by: 1, name: r.irName(part: 0), source: source)]
        case (.fusedQKV, let param):
            let parts = r.rule.ir.count
            let width = tensor.shape.dims.last ?? 0
            guard tensor.shape.rank == (param == "bias" ? 1 : 2), width % parts == 0 else {
                throw SieveCoreError.invalidShape(source: source, tensor: tensor.name, reason: "a fused q/k/v \(param) must have \(param == "bias" ? "shape [3·d]" : "shape [in, 3·d]") but has \(tensor.shape)")
            }
            let d = width / parts
            return try (0..<parts).map { k in
                param == "bias"
                    ? try TensorLayout.rowSlice(tensor, rows: (k * d)..<((k + 1) * d), name: r.irName(part: k), source: source)
                    : try TensorLayout.transposed(tensor, columns: (k * d)..<((k + 1) * d), name: r.irName(part: k), source: source)
            }
        }
    }

    /// The rows a part of a stacked tensor has: the query heads' for q, the key/value heads' for k and v, the FFN
    /// width for gate and up, an expert's or the shared expert's width for theirs.
    static func stackedRowCount(_ part: NamePattern, _ hp: Hyperparameters) -> Int {
        switch part.components.last {
        case "q": return hp.headCount * hp.headDim
        case "k", "v": return hp.kvHeadCount * hp.headDim
        case "gate_exps", "up_exps": return hp.mixtureOfExperts?.expertWidth ?? 0
        case "gate_shexp", "up_shexp": return hp.mixtureOfExperts?.sharedExpertWidth ?? 0
        default: return hp.intermediateSize
        }
    }

    /// Sort key of IR names: embeddings, blocks by number, everything else; by name within each.
    static func irOrder(_ name: String) -> (Int, Int, String) {
        if name.hasPrefix("embed.") { return (0, 0, name) }
        let parts = name.split(separator: ".")
        if parts.count > 2, parts[0] == "blocks", let i = Int(parts[1]) { return (1, i, name) }
        return (2, 0, name)
    }
}
