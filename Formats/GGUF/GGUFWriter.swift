import Foundation
import SieveCore

/// Writes a `ModelGraph` as a GGUF v3 file that llama.cpp loads: llama.cpp tensor names and metadata keys for
/// llama (Mixtral's experts included), granite, granitemoe, qwen2, qwen2moe, qwen3, qwen3moe, smollm3, phi3, gemma2, gemma3 and gpt2, tokenizer keys, data aligned to 32 bytes.
///
/// The file is written atomically (temporary file, then rename) and streamed: the header is computed from the
/// tensors' shapes and target types alone, then each tensor is converted, written and released in turn, so peak
/// memory is about one tensor.
public enum GGUFWriter {
    /// The data alignment Sieve writes.
    public static let alignment = 32

    /// Target types `WriteOptions.dtype` may name for GGUF output (nil keeps each tensor's type; tensors of the grid
    /// types are then copied as they are, though Sieve does not quantize to them).
    public static let targetTypes: [DType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K,
                                              .iq4_nl, .iq4_xs]

    /// One tensor of the output: its GGUF name, the IR tensors it is made of (several when fused), its type.
    struct Entry {
        var name: String
        var sources: [Tensor]
        var dtype: DType
        /// For Llama Q/K: the head count of the RoPE row permutation to apply.
        var interleaveHeads: Int?

        var shape: Shape {
            var dims = sources[0].shape.dims
            if sources.count > 1 { dims[0] = sources.reduce(0) { $0 + ($1.shape.dims.first ?? 0) } }
            return Shape(dims)
        }
    }

    /// Writes `graph` to `url`.
    public static func write(_ graph: ModelGraph, to url: URL, options: WriteOptions) throws {
        let path = url.path
        guard let arch = GGUFNaming.ggufArchitecture(graph.architecture, experts: graph.hyperparameters.mixtureOfExperts != nil) else {
            throw GGUFError.cannotWrite(path: path, reason: "architecture '\(graph.architecture.rawValue)' has no llama.cpp mapping in Sieve (GGUF output supports \(GGUFNaming.architectures.map(\.gguf).joined(separator: ", "))); write safetensors or a .sieve bundle instead")
        }
        if graph.architecture == .gptOSS {
            throw GGUFError.cannotWrite(path: path, reason: "Sieve reads gpt-oss but does not write it as GGUF; convert the Hugging Face checkpoint with llama.cpp's convert_hf_to_gguf.py")
        }
        if let target = options.dtype, target.isGridQuantized {
            throw SieveCoreError.gridQuantization(source: path, dtype: target.name)
        }
        if let target = options.dtype, !targetTypes.contains(target) {
            throw GGUFError.cannotWrite(path: path, reason: "--dtype \(target.name) is not a GGUF weight type Sieve writes; choose one of keep, \(targetTypes.map(\.name).joined(separator: ", "))")
        }
        try checkRepresentable(graph, path: path)
        let entries = try plan(graph, target: options.dtype, path: path)
        let metadata = metadataEntries(graph, arch: arch, entries: entries, url: url)
        let header = try headerBytes(metadata: metadata, entries: entries, path: path)

        try AtomicFileWriter.write(to: url, overwrite: options.overwrite) { out in
            try out.write(header)
            try out.writeZeros(padding(header.count))
            for (i, entry) in entries.enumerated() {
                let tensor = try materialize(entry, path: path)
                try out.write(tensor.bytes)
                try out.writeZeros(padding(tensor.byteCount))
                options.progress?(i + 1, entries.count, entry.name)
            }
        }
    }

    static func padding(_ count: Int) -> Int { (alignment - count % alignment) % alignment }

    /// Rejects graphs GGUF (as llama.cpp reads it) cannot express.
    static func checkRepresentable(_ graph: ModelGraph, path: String) throws {
        let hp = graph.hyperparameters
        let expected: Activation = graph.architecture == .gpt2 || graph.architecture.isGemma ? .geluTanh : .silu
        guard hp.activation == expected else {
            throw GGUFError.cannotWrite(path: path, reason: "llama.cpp's \(graph.architecture.rawValue) uses \(expected.rawValue), but the model uses \(hp.activation.rawValue)")
        }
        if graph.architecture.isGemma {
            let arch = graph.architecture.rawValue
            // llama.cpp has no key for query_pre_attn_scalar: it derives the scale from the layer count.
            let derived = GGUFModelReader.GemmaDefaults(graph.architecture).queryScalar(layers: hp.layerCount, hidden: hp.hiddenSize, heads: hp.headCount, headDim: hp.headDim)
            let scalar = hp.attentionScale.map { 1 / ($0 * $0) } ?? Double(hp.headDim)
            guard abs(scalar - derived) <= 1e-6 * derived else {
                throw GGUFError.cannotWrite(path: path, reason: "the model scales attention scores by query_pre_attn_scalar \(scalar), but llama.cpp's \(arch) derives \(derived) for \(hp.layerCount) layers and has no key to say otherwise")
            }
            if graph.architecture == .gemma3, hp.attentionLogitSoftcap != nil {
                throw GGUFError.cannotWrite(path: path, reason: "the model soft-caps its attention scores, which llama.cpp's gemma3 never does")
            }
            if graph.architecture == .gemma2, hp.attentionLogitSoftcap == nil || hp.finalLogitSoftcap == nil {
                throw GGUFError.cannotWrite(path: path, reason: "llama.cpp's gemma2 always soft-caps the attention scores and the logits (50 and 30 when the file has no key), but the model does not")
            }
        }
        if hp.layersWithoutRoPE != (graph.architecture == .smollm3 ? GGUFModelReader.smolLM3LayersWithoutRoPE(layers: hp.layerCount) : nil) {
            throw GGUFError.cannotWrite(path: path, reason: graph.architecture == .smollm3
                ? "llama.cpp's smollm3 leaves RoPE out of every fourth layer and has no key to say otherwise, but the model's layers without RoPE differ"
                : "the model leaves RoPE out of some layers, which llama.cpp's \(graph.architecture.rawValue) cannot say")
        }
        if case .longRoPE = hp.ropeScaling, graph.architecture != .phi3 {
            throw GGUFError.cannotWrite(path: path, reason: "the model uses LongRoPE, which llama.cpp applies to phi3 models only, not to its \(graph.architecture.rawValue)")
        }
        if graph.architecture != .granite, hp.embeddingScale != nil || hp.residualScale != nil || hp.logitDivisor != nil {
            throw GGUFError.cannotWrite(path: path, reason: "the model multiplies its embeddings, block outputs or logits, which llama.cpp's \(graph.architecture.rawValue) cannot say (its granite can)")
        }
        if case let .yarn(p) = hp.ropeScaling, p.betaFast != 32 || p.betaSlow != 1 || !p.truncatesCorrectionRange {
            throw GGUFError.cannotWrite(path: path, reason: "llama.cpp's \(graph.architecture.rawValue) runs YaRN with beta_fast 32, beta_slow 1 and a truncated ramp whatever the file says, but the model's are \(p.betaFast), \(p.betaSlow) and \(p.truncatesCorrectionRange ? "truncated" : "untruncated")")
        }
        if graph.architecture == .phi3, let sliding = hp.slidingWindow, sliding.slidingLayers.contains(false) {
            throw GGUFError.cannotWrite(path: path, reason: "a phi3 GGUF states one window for every layer, but some of the model's layers do not slide")
        }
        if !graph.architecture.isGemma, let sliding = hp.slidingWindow, sliding.ropeTheta != hp.ropeTheta {
            throw GGUFError.cannotWrite(path: path, reason: "the sliding layers' RoPE base \(sliding.ropeTheta) differs from the model's, which llama.cpp's \(graph.architecture.rawValue) cannot say")
        }
        for (i, block) in graph.blocks.enumerated() {
            if case .blocked = block.feedForward.layout {
                throw GGUFError.cannotWrite(path: path, reason: "block \(i) has a blocked (neuron-permuted) FFN layout that GGUF cannot describe; write a .sieve bundle, or convert the dense source model")
            }
        }
        if graph.lmHead?.projection.bias != nil {
            throw GGUFError.cannotWrite(path: path, reason: "llama.cpp's \(graph.architecture.rawValue) has no LM head bias")
        }
        if let moe = hp.mixtureOfExperts {
            let arch = graph.architecture.rawValue
            guard [.qwen3moe, .llama, .granite, .qwen2].contains(graph.architecture) else {
                throw GGUFError.cannotWrite(path: path, reason: "the model has a mixture of experts, which Sieve writes only for llama.cpp's qwen3moe, qwen2moe, llama (Mixtral) and granitemoe")
            }
            guard moe.sharedExpertWidth == nil || [.granite, .qwen2].contains(graph.architecture) else {
                throw GGUFError.cannotWrite(path: path, reason: "the model's experts have a shared expert, which Sieve writes only for llama.cpp's granitemoe and qwen2moe")
            }
            // llama.cpp's qwen2moe never divides the chosen experts' weights by their sum, the others always do.
            let qwen2 = graph.architecture == .qwen2
            guard moe.normalizesWeights != qwen2 else {
                throw GGUFError.cannotWrite(path: path, reason: "llama.cpp's \(qwen2 ? "qwen2moe never divides" : "\(arch) always divides") the chosen experts' weights by their sum and has no key to say otherwise, but the model does\(qwen2 ? "" : " not") (norm_topk_prob \(moe.normalizesWeights))")
            }
            guard [.qwen3moe, .qwen2].contains(graph.architecture) || moe.expertWidth == hp.intermediateSize else {
                throw GGUFError.cannotWrite(path: path, reason: "llama.cpp's \(arch) reads the experts' width (\(moe.expertWidth)) from feed_forward_length, but the model's FFN length is \(hp.intermediateSize)")
            }
        }
    }

    /// The output tensors in llama.cpp's order with their target types; every graph tensor must be used.
    static func plan(_ graph: ModelGraph, target: DType?, path: String) throws -> [Entry] {
        var used = Set<String>()
        var entries: [Entry] = []
        func tensor(_ name: String) throws -> Tensor {
            used.insert(name)
            return try graph.tensor(name, source: path)
        }
        func outputType(_ t: Tensor) throws -> DType {
            if t.shape.rank < 2 { return .f32 }
            let wanted = target ?? t.dtype
            guard GGMLType(wanted) != nil else {
                throw GGUFError.cannotWrite(path: path, reason: "tensor '\(t.name)' is \(wanted.name), which GGUF cannot store; pass --dtype f32 or f16")
            }
            // Rows that are not whole blocks: iq4_xs falls back to iq4_nl where that fits, as llama-quantize does.
            if wanted == .iq4_xs, t.shape.innermost % 256 != 0, t.shape.innermost % 32 == 0 { return .iq4_nl }
            if wanted.isQuantized, t.shape.innermost % wanted.blockSize != 0 { return .f16 }
            return wanted
        }
        func add(_ ggufName: String, _ irName: String, interleave: Int? = nil) throws {
            let t = try tensor(irName)
            entries.append(Entry(name: ggufName, sources: [t], dtype: try outputType(t), interleaveHeads: interleave))
        }
        func addIfPresent(_ ggufName: String, _ irName: String?, interleave: Int? = nil) throws {
            if let irName { try add(ggufName, irName, interleave: interleave) }
        }

        let hp = graph.hyperparameters
        // Per-pair RoPE frequency divisors come first, where llama.cpp's converter writes them.
        if let theta = hp.ropeTheta, let factors = hp.ropeScaling?.frequencyFactors(base: Float(theta), dimensions: hp.ropeDimensions ?? hp.headDim) {
            let tensor = Tensor(name: GGUFModelReader.ropeFrequenciesTensor, shape: Shape([factors.count]), floats: factors)
            entries.append(Entry(name: tensor.name, sources: [tensor], dtype: .f32, interleaveHeads: nil))
        }
        if case let .longRoPE(p) = hp.ropeScaling {
            for (name, long) in GGUFModelReader.longRoPETensors {
                let factors = long ? p.longFactors : p.shortFactors
                entries.append(Entry(name: name, sources: [Tensor(name: name, shape: Shape([factors.count]), floats: factors)], dtype: .f32, interleaveHeads: nil))
            }
        }
        /// One tensor made of several IR tensors' rows (`attn_qkv`, Phi-3's `ffn_up`), of the first part's type.
        func addStacked(_ ggufName: String, _ irNames: [String]) throws {
            let parts = try irNames.map(tensor)
            entries.append(Entry(name: ggufName, sources: parts, dtype: try outputType(parts[0]), interleaveHeads: nil))
        }
        try add("token_embd.weight", graph.embedding.tokens)
        try addIfPresent("position_embd.weight", graph.embedding.positions)
        for (i, block) in graph.blocks.enumerated() {
            let b = "blk.\(i)."
            let a = block.attention
            try add(b + "attn_norm.weight", block.attentionNorm.weight)
            try addIfPresent(b + "attn_norm.bias", block.attentionNorm.bias)
            if graph.architecture == .gpt2 {
                for (suffix, refs) in [("weight", [a.q.weight, a.k.weight, a.v.weight]), ("bias", [a.q.bias, a.k.bias, a.v.bias].compactMap { $0 })] where !refs.isEmpty {
                    guard refs.count == 3 else {
                        throw GGUFError.cannotWrite(path: path, reason: "block \(i): GPT-2's fused attn_qkv needs q, k and v biases together")
                    }
                    try addStacked(b + "attn_qkv." + suffix, refs)
                }
            } else if graph.architecture == .phi3 {
                try addStacked(b + "attn_qkv.weight", [a.q.weight, a.k.weight, a.v.weight])
            } else {
                let llama = graph.architecture.interleavesRoPERowsInGGUF
                try add(b + "attn_q.weight", a.q.weight, interleave: llama ? hp.headCount : nil)
                try addIfPresent(b + "attn_q.bias", a.q.bias, interleave: llama ? hp.headCount : nil)
                try add(b + "attn_k.weight", a.k.weight, interleave: llama ? hp.kvHeadCount : nil)
                try addIfPresent(b + "attn_k.bias", a.k.bias, interleave: llama ? hp.kvHeadCount : nil)
                try add(b + "attn_v.weight", a.v.weight)
                try addIfPresent(b + "attn_v.bias", a.v.bias)
                try addIfPresent(b + "attn_q_norm.weight", a.queryNorm?.weight)
                try addIfPresent(b + "attn_k_norm.weight", a.keyNorm?.weight)
            }
            try add(b + "attn_output.weight", a.o.weight)
            try addIfPresent(b + "attn_output.bias", a.o.bias)
            try addIfPresent(b + "post_attention_norm.weight", block.attentionOutputNorm?.weight)
            try add(b + "ffn_norm.weight", block.feedForwardNorm.weight)
            try addIfPresent(b + "ffn_norm.bias", block.feedForwardNorm.bias)
            let f = block.feedForward
            if let router = f.experts {
                try add(b + "ffn_gate_inp.weight", router.projection.weight)
                if let gate = f.gate { try add(b + "ffn_gate_exps.weight", gate.weight) }
                try add(b + "ffn_up_exps.weight", f.up.weight)
                try add(b + "ffn_down_exps.weight", f.down.weight)
                if let shared = router.shared {
                    try addIfPresent(b + "ffn_gate_inp_shexp.weight", shared.outputGate?.weight)
                    try add(b + "ffn_gate_shexp.weight", shared.gate.weight)
                    try add(b + "ffn_up_shexp.weight", shared.up.weight)
                    try add(b + "ffn_down_shexp.weight", shared.down.weight)
                }
                continue
            }
            if graph.architecture == .phi3, let gate = f.gate {
                try addStacked(b + "ffn_up.weight", [gate.weight, f.up.weight])
            } else {
                if let gate = f.gate {
                    try add(b + "ffn_gate.weight", gate.weight)
                    try addIfPresent(b + "ffn_gate.bias", gate.bias)
                }
                try add(b + "ffn_up.weight", f.up.weight)
            }
            try addIfPresent(b + "ffn_up.bias", f.up.bias)
            try add(b + "ffn_down.weight", f.down.weight)
            try addIfPresent(b + "ffn_down.bias", f.down.bias)
            try addIfPresent(b + "post_ffw_norm.weight", block.feedForwardOutputNorm?.weight)
        }
        if let norm = graph.finalNorm {
            try add("output_norm.weight", norm.weight)
            try addIfPresent("output_norm.bias", norm.bias)
        }
        // llama.cpp's qwen2moe has no tied fallback: a tied model's embeddings are written again as its output matrix.
        if let head = graph.lmHead, head.projection.weight != graph.embedding.tokens
            || (graph.architecture == .qwen2 && graph.hyperparameters.mixtureOfExperts != nil) {
            try add("output.weight", head.projection.weight)
        }
        if let extra = graph.tensors.names.first(where: { !used.contains($0) }) {
            throw GGUFError.cannotWrite(path: path, reason: "tensor '\(extra)' has no place in llama.cpp's \(graph.architecture.rawValue) layout (predictor or other Sieve-only data); write a .sieve bundle to keep it")
        }
        return entries
    }

    /// The tensor's final bytes: converted, fused and permuted as the entry says.
    static func materialize(_ entry: Entry, path: String) throws -> Tensor {
        var parts = try entry.sources.map { try $0.converted(to: entry.dtype) }
        if let heads = entry.interleaveHeads {
            parts = try parts.map { try LlamaRoPEPermutation.toInterleaved($0, heads: heads, source: path) }
        }
        guard parts.count > 1 else { return parts[0] }
        let total = parts.reduce(0) { $0 + $1.byteCount }
        let buffer = TensorBuffer(count: total)
        var at = 0
        for p in parts {
            UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[at..<(at + p.byteCount)]).copyMemory(from: p.bytes)
            at += p.byteCount
        }
        return try Tensor(name: entry.name, dtype: entry.dtype, shape: entry.shape, storage: .owned(buffer), source: path)
    }

    /// `general.*`, architecture and tokenizer keys, in llama.cpp's order.
    static func metadataEntries(_ graph: ModelGraph, arch: String, entries: [Entry], url: URL) -> [(String, GGUFValue)] {
        let hp = graph.hyperparameters
        func u32(_ v: Int) -> GGUFValue { .uint32(UInt32(clamping: v)) }
        var m: [(String, GGUFValue)] = [
            ("general.architecture", .string(arch)),
            ("general.type", .string("model")),
            ("general.name", .string(graph.metadata["general.name"] ?? url.deletingPathExtension().lastPathComponent)),
        ]
        for key in carriedGeneralKeys {
            if let value = graph.metadata[key] { m.append((key, .string(value))) }
        }
        m.append(("\(arch).block_count", u32(hp.layerCount)))
        m.append(("\(arch).context_length", u32(hp.contextLength)))
        m.append(("\(arch).embedding_length", u32(hp.hiddenSize)))
        m.append(("\(arch).feed_forward_length", u32(hp.intermediateSize)))
        m.append(("\(arch).attention.head_count", u32(hp.headCount)))
        if graph.architecture == .gpt2 {
            m.append(("\(arch).attention.layer_norm_epsilon", .float32(Float(hp.normEpsilon))))
        } else {
            m.append(("\(arch).attention.head_count_kv", u32(hp.kvHeadCount)))
            m.append(("\(arch).rope.freq_base", .float32(Float(hp.ropeTheta ?? 10_000))))
            if case let .linear(factor) = hp.ropeScaling {
                m.append(("\(arch).rope.scaling.type", .string("linear")))
                m.append(("\(arch).rope.scaling.factor", .float32(Float(factor))))
            }
            if case let .yarn(p) = hp.ropeScaling {
                // llama.cpp multiplies YaRN's own attention factor by `rope.scaling.attn_factor`.
                m.append(("\(arch).rope.scaling.type", .string("yarn")))
                m.append(("\(arch).rope.scaling.factor", .float32(Float(p.factor))))
                m.append(("\(arch).rope.scaling.original_context_length", u32(p.originalContextLength)))
                let extra = p.attentionFactor / YaRNRoPEScaling.defaultAttentionFactor(factor: p.factor)
                if extra != 1 { m.append(("\(arch).rope.scaling.attn_factor", .float32(Float(extra)))) }
            }
            m.append(("\(arch).attention.layer_norm_rms_epsilon", .float32(Float(hp.normEpsilon))))
            if let moe = hp.mixtureOfExperts {
                m.append(("\(arch).expert_count", u32(moe.expertCount)))
                m.append(("\(arch).expert_used_count", u32(moe.expertsPerToken)))
            }
            if graph.architecture.interleavesRoPERowsInGGUF || graph.architecture.isGemma || hp.headDim * hp.headCount != hp.hiddenSize {
                m.append(("\(arch).attention.key_length", u32(hp.headDim)))
                m.append(("\(arch).attention.value_length", u32(hp.headDim)))
            }
            if let cap = hp.attentionLogitSoftcap { m.append(("\(arch).attn_logit_softcapping", .float32(Float(cap)))) }
            if let cap = hp.finalLogitSoftcap { m.append(("\(arch).final_logit_softcapping", .float32(Float(cap)))) }
            if graph.architecture.isGemma {
                m += gemmaWindowEntries(graph.architecture, hp)
            } else if graph.architecture == .phi3 {
                // As the converter writes them: the window (0 for none) and the original context always. llama.cpp's
                // phi3 reads no window (it attends globally); Sieve reads it back.
                m.append(("\(arch).attention.sliding_window", .uint32(UInt32(clamping: hp.slidingWindow?.window ?? 0))))
                if case let .longRoPE(p) = hp.ropeScaling {
                    m.append(("\(arch).rope.scaling.attn_factor", .float32(Float(p.attentionFactor))))
                }
                m.append(("\(arch).rope.scaling.original_context_length", u32(hp.originalContextLength)))
            } else if let sliding = hp.slidingWindow {
                // llama.cpp's llama, qwen2 and qwen3 read neither key (they attend globally, as llama.cpp runs Mistral
                // 7B v0.1); Sieve reads both back.
                m.append(("\(arch).attention.sliding_window", .uint32(UInt32(clamping: sliding.window))))
                m.append(("\(arch).attention.sliding_window_pattern", .array(.bool(sliding.slidingLayers))))
            }
        }
        m.append(("general.file_type", u32(fileType(graph, entries: entries))))
        if let moe = hp.mixtureOfExperts, [.qwen3moe, .qwen2].contains(graph.architecture) {
            m.append(("\(arch).expert_feed_forward_length", u32(moe.expertWidth)))
            if let shared = moe.sharedExpertWidth { m.append(("\(arch).expert_shared_feed_forward_length", u32(shared))) }
        }
        if graph.architecture.interleavesRoPERowsInGGUF {
            m.append(("\(arch).vocab_size", u32(hp.vocabSize)))
            m.append(("\(arch).rope.dimension_count", u32(hp.ropeDimensions ?? hp.headDim)))
            if graph.architecture == .granite {
                // As the converter writes them; llama.cpp reads 0 (or a missing key) as "none" and logit_scale always.
                m.append(("\(arch).attention.scale", .float32(Float(hp.scoreScale))))
                m.append(("\(arch).embedding_scale", .float32(Float(hp.embeddingScale ?? 1))))
                m.append(("\(arch).residual_scale", .float32(Float(hp.residualScale ?? 1))))
                m.append(("\(arch).logit_scale", .float32(Float(hp.logitDivisor ?? 1))))
                if let shared = hp.mixtureOfExperts?.sharedExpertWidth {
                    m.append(("\(arch).expert_shared_feed_forward_length", u32(shared)))
                }
            }
        } else if graph.architecture == .phi3 {
            m.append(("\(arch).rope.dimension_count", u32(hp.ropeDimensions ?? hp.headDim)))
        } else if [.qwen2, .qwen3, .qwen3moe].contains(graph.architecture), let rotary = hp.ropeDimensions {
            m.append(("\(arch).rope.dimension_count", u32(rotary)))
        }
        m.append(("general.quantization_version", .uint32(2)))
        m.append(("general.alignment", .uint32(UInt32(alignment))))
        if let tokenizer = graph.tokenizer { m += GGUFTokenizerMetadata.entries(tokenizer) }
        return m
    }

    /// A Gemma model's sliding-window keys: the window, and the layer pattern and the sliding layers' RoPE base
    /// where they differ from what llama.cpp assumes. llama.cpp's gemma2 always slides, so a gemma2 model without
    /// sliding layers says so with a pattern of none.
    static func gemmaWindowEntries(_ architecture: Architecture, _ hp: Hyperparameters) -> [(String, GGUFValue)] {
        let arch = architecture.rawValue
        let defaults = GGUFModelReader.GemmaDefaults(architecture)
        let theta = hp.ropeTheta ?? 10_000
        guard let sliding = hp.slidingWindow ?? (defaults.window != nil
            ? SlidingWindowAttention(window: hp.contextLength, slidingLayers: Array(repeating: false, count: hp.layerCount), ropeTheta: theta)
            : nil) else { return [] }
        var m: [(String, GGUFValue)] = [("\(arch).attention.sliding_window", .uint32(UInt32(clamping: sliding.window)))]
        if sliding.slidingLayers != SlidingWindowAttention.pattern(defaults.slidingPattern, layers: hp.layerCount) {
            m.append(("\(arch).attention.sliding_window_pattern", .array(.bool(sliding.slidingLayers))))
        }
        if sliding.ropeTheta != defaults.localRoPEBase ?? theta {
            m.append(("\(arch).rope.freq_base_swa", .float32(Float(sliding.ropeTheta))))
        }
        return m
    }

    /// Free-text `general.*` keys copied from the source model's metadata.
    static let carriedGeneralKeys = ["general.basename", "general.finetune", "general.size_label", "general.license",
                                     "general.description", "general.author", "general.organization", "general.version",
                                     "general.url", "general.repo_url", "general.quantized_by"]

    /// llama.cpp's `general.file_type` (`LLAMA_FTYPE_*`) for the most common type among the 2-D weights.
    static func fileType(_ graph: ModelGraph, entries: [Entry]) -> Int {
        var counts: [DType: Int] = [:]
        for e in entries where e.shape.rank >= 2 { counts[e.dtype, default: 0] += 1 }
        let dominant = counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key.rawValue > $1.key.rawValue) }?.key ?? .f32
        let codes: [DType: Int] = [.f32: 0, .f16: 1, .q4_0: 2, .q4_1: 3, .q8_0: 7, .q5_0: 8, .q5_1: 9,
                                   .q2_K: 10, .q3_K: 12, .q4_K: 15, .q5_K: 17, .q6_K: 18, .iq2_xxs: 19,
                                   .iq2_xs: 20, .iq3_xxs: 23, .iq1_s: 24, .iq4_nl: 25, .iq3_s: 26, .iq2_s: 28,
                                   .iq4_xs: 30, .iq1_m: 31, .bf16: 32]
        return codes[dominant] ?? 0
    }

    /// The header: magic, version, counts, metadata and tensor infos with aligned offsets.
    static func headerBytes(metadata: [(String, GGUFValue)], entries: [Entry], path: String) throws -> [UInt8] {
        var out = GGUFEncoder()
        out.bytes += GGUFFile.magic
        out.u32(3)
        out.u64(UInt64(entries.count))
        out.u64(UInt64(metadata.count))
        for (key, value) in metadata {
            out.string(key)
            out.u32(value.type.rawValue)
            out.value(value)
        }
        var offset = 0
        for e in entries {
            guard e.name.utf8.count <= GGUFFile.maxTensorNameBytes, let type = GGMLType(e.dtype),
                  let byteCount = e.dtype.byteCount(elements: e.shape.elementCount) else {
                throw GGUFError.cannotWrite(path: path, reason: "tensor '\(e.name)' (\(e.dtype.name) \(e.shape)) cannot be stored in GGUF")
            }
            out.string(e.name)
            out.u32(UInt32(e.shape.rank))
            for d in e.shape.dims.reversed() { out.u64(UInt64(d)) }
            out.u32(type.rawValue)
            out.u64(UInt64(offset))
            offset += byteCount + padding(byteCount)
        }
        return out.bytes
    }
}

/// Little-endian serialisation of GGUF header structures.
struct GGUFEncoder {
    var bytes: [UInt8] = []

    mutating func integer<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
    }

    mutating func u32(_ v: UInt32) { integer(v) }
    mutating func u64(_ v: UInt64) { integer(v) }

    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes += s.utf8
    }

    mutating func value(_ v: GGUFValue) {
        switch v {
        case let .uint8(x): integer(x)
        case let .int8(x): integer(x)
        case let .uint16(x): integer(x)
        case let .int16(x): integer(x)
        case let .uint32(x): integer(x)
        case let .int32(x): integer(x)
        case let .uint64(x): integer(x)
        case let .int64(x): integer(x)
        case let .float32(x): integer(x.bitPattern)
        case let .float64(x): integer(x.bitPattern)
        case let .bool(x): integer(UInt8(x ? 1 : 0))
        case let .string(x): string(x)
        case let .array(a): array(a)
        }
    }

    mutating func array(_ a: GGUFArray) {
        u32(a.elementType.rawValue)
        u64(UInt64(a.count))
        switch a {
        case let .uint8(xs): bytes += xs
        case let .int8(xs): for x in xs { integer(x) }
        case let .uint16(xs): for x in xs { integer(x) }
        case let .int16(xs): for x in xs { integer(x) }
        case let .uint32(xs): for x in xs { integer(x) }
        case let .int32(xs): for x in xs { integer(x) }
        case let .uint64(xs): for x in xs { integer(x) }
        case let .int64(xs): for x in xs { integer(x) }
        case let .float32(xs): for x in xs { integer(x.bitPattern) }
        case let .float64(xs): for x in xs { integer(x.bitPattern) }
        case let .bool(xs): for x in xs { integer(UInt8(x ? 1 : 0)) }
        case let .string(xs): for x in xs { string(x) }
        case let .array(xs): for x in xs { array(x) }
        }
    }
}
