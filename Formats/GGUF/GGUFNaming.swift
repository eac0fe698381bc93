import SieveCore

/// The mapping between llama.cpp's GGUF tensor names and the IR's names, for the architectures Sieve reads and
/// writes as GGUF.
public enum GGUFNaming {
    /// GGUF architecture names (`general.architecture`) Sieve maps, with their IR architecture.
    public static let architectures: [(gguf: String, ir: Architecture)] = [("llama", .llama), ("qwen2", .qwen2), ("qwen3", .qwen3), ("gpt2", .gpt2), ("gemma2", .gemma2),
                                                                          ("gemma3", .gemma3), ("phi3", .phi3),
                                                                          ("smollm3", .smollm3), ("qwen3moe", .qwen3moe),
                                                                          ("granite", .granite), ("granitemoe", .granite), ("qwen2moe", .qwen2),
                                                                          ("gpt-oss", .gptOSS)]

    /// The GGUF architecture name of an IR architecture, or nil when GGUF output is not supported for it; `experts`:
    /// whether its FFNs are mixtures of experts (Granite's are then llama.cpp's granitemoe, Qwen2's its qwen2moe).
    public static func ggufArchitecture(_ architecture: Architecture, experts: Bool = false) -> String? {
        if architecture == .granite && experts { return "granitemoe" }
        if architecture == .qwen2 && experts { return "qwen2moe" }
        return architectures.first { $0.ir == architecture }?.gguf
    }

    /// The IR architecture of a GGUF architecture name.
    public static func architecture(gguf name: String) -> Architecture? {
        architectures.first { $0.gguf == name }?.ir
    }

    /// Per-block tensors: llama.cpp's part name and the IR base name, in llama.cpp's writing order.
    /// (`attn_qkv`, the fused projection of GPT-2 and Phi-3, is handled separately: it splits into `attn_q/k/v`; so is
    /// Phi-3's `ffn_up`, which holds the gate's rows, then the up projection's.)
    static let blockParts: [(gguf: String, ir: (Int) -> String)] = [
        ("attn_norm", IRName.attentionNorm),
        ("attn_q", { IRName.attention($0, "q") }),
        ("attn_k", { IRName.attention($0, "k") }),
        ("attn_v", { IRName.attention($0, "v") }),
        ("attn_q_norm", { IRName.attention($0, "q_norm") }),
        ("attn_k_norm", { IRName.attention($0, "k_norm") }),
        ("attn_output", { IRName.attention($0, "o") }),
        ("attn_sinks", IRName.attentionSinks),
        ("post_attention_norm", IRName.attentionOutputNorm),
        ("ffn_norm", IRName.feedForwardNorm),
        ("ffn_gate", { IRName.feedForward($0, "gate") }),
        ("ffn_up", { IRName.feedForward($0, "up") }),
        ("ffn_down", { IRName.feedForward($0, "down") }),
        ("ffn_gate_inp", IRName.router),
        ("ffn_gate_exps", { IRName.experts($0, "gate") }),
        ("ffn_up_exps", { IRName.experts($0, "up") }),
        ("ffn_down_exps", { IRName.experts($0, "down") }),
        ("ffn_gate_shexp", { IRName.sharedExpert($0, "gate") }),
        ("ffn_up_shexp", { IRName.sharedExpert($0, "up") }),
        ("ffn_down_shexp", { IRName.sharedExpert($0, "down") }),
        ("ffn_gate_inp_shexp", { IRName.sharedExpert($0, "gate_inp") }),
        ("post_ffw_norm", IRName.feedForwardOutputNorm),
    ]

    /// Whole-model tensors: llama.cpp's base name and the IR base name.
    static let globalParts: [(gguf: String, ir: String)] = [
        ("token_embd", IRName.tokenEmbedding),
        ("position_embd", IRName.positionEmbedding),
        ("output_norm", IRName.finalNorm),
        ("output", IRName.lmHead),
    ]

    /// A GGUF tensor name split into its block index (nil for whole-model tensors), part and suffix
    /// (`weight` or `bias`).
    static func parse(_ name: String) -> (block: Int?, part: String, suffix: String)? {
        let pieces = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let suffix = pieces.last, suffix == "weight" || suffix == "bias" else { return nil }
        if pieces.count == 4, pieces[0] == "blk", let i = Int(pieces[1]), i >= 0, String(i) == pieces[1] {
            return (i, pieces[2], suffix)
        }
        if pieces.count == 2 { return (nil, pieces[0], suffix) }
        return nil
    }

    /// The IR name of a GGUF tensor name (`blk.3.ffn_up.weight` → `blocks.3.ffn.up.weight`), or nil when the
    /// name is not in the mapping. `attn_qkv` has no single IR name and gives nil. gpt-oss's `post_attention_norm` is
    /// its FFN's norm (Gemma's the norm of attention's output).
    public static func irName(gguf name: String, architecture: Architecture? = nil) -> String? {
        guard let (block, part, suffix) = parse(name) else { return nil }
        if let i = block {
            if architecture == .gptOSS && part == "post_attention_norm" { return IRName.feedForwardNorm(i) + "." + suffix }
            return blockParts.first { $0.gguf == part }.map { $0.ir(i) + "." + suffix }
        }
        return globalParts.first { $0.gguf == part }.map { $0.ir + "." + suffix }
    }

    /// The GGUF name of an IR tensor name (`blocks.0.attn.o.bias` → `blk.0.attn_output.bias`), or nil.
    public static func ggufName(ir name: String, architecture: Architecture? = nil) -> String? {
        guard let dot = name.lastIndex(of: ".") else { return nil }
        let base = String(name[..<dot]), suffix = String(name[name.index(after: dot)...])
        guard suffix == "weight" || suffix == "bias" else { return nil }
        if let g = globalParts.first(where: { $0.ir == base }) { return g.gguf + "." + suffix }
        let pieces = base.split(separator: ".", maxSplits: 2).map(String.init)
        guard pieces.count >= 2, pieces[0] == "blocks", let i = Int(pieces[1]) else { return nil }
        if architecture == .gptOSS && base == IRName.feedForwardNorm(i) { return "blk.\(i).post_attention_norm.\(suffix)" }
        return blockParts.first { $0.ir(i) == base }.map { "blk.\(i).\($0.gguf).\(suffix)" }
    }
}

/// llama.cpp's row permutation of the Llama Q and K projections.
///
/// Hugging Face stores each head's rows in the half-split RoPE layout (dimension i pairs with i + d/2);
/// `convert_hf_to_gguf.py` reorders them, head by head, into the interleaved layout (2i pairs with 2i + 1) that
/// llama.cpp's NORM RoPE uses. Only whole rows move, so the permutation applies to quantized rows too. Qwen2 is
/// not permuted (llama.cpp uses NEOX, i.e. half-split, RoPE for it); SmolLM3 is converted and permuted as Llama.
public enum LlamaRoPEPermutation {
    /// Reorders rows from the GGUF (interleaved) layout to the IR (half-split) layout.
    public static func toHalfSplit(_ tensor: Tensor, heads: Int, source: String) throws -> Tensor {
        try reorder(tensor, heads: heads, source: source) { headDim, r in
            // IR row (half, i) within a head comes from GGUF row 2i + half.
            let half = r / (headDim / 2), i = r % (headDim / 2)
            return 2 * i + half
        }
    }

    /// Reorders rows from the IR (half-split) layout to the GGUF (interleaved) layout.
    public static func toInterleaved(_ tensor: Tensor, heads: Int, source: String) throws -> Tensor {
        try reorder(tensor, heads: heads, source: source) { headDim, r in
            // GGUF row 2i + half within a head comes from IR row half·d/2 + i.
            (r % 2) * (headDim / 2) + r / 2
        }
    }

    /// A copy of `tensor` whose row `h·d + r` is the old row `h·d + from(d, r)`.
    private static func reorder(_ tensor: Tensor, heads: Int, source: String, from: (Int, Int) -> Int) throws -> Tensor {
        let rows = tensor.shape.dims.first ?? 1
        guard heads > 0, rows % heads == 0, (rows / heads) % 2 == 0 else {
            throw SieveCoreError.invalidShape(source: source, tensor: tensor.name,
                                              reason: "\(rows) rows cannot be split into \(heads) heads of an even size for the RoPE row permutation")
        }
        let headDim = rows / heads
        let rowBytes = tensor.byteCount / rows
        let src = tensor.bytes
        let buffer = TensorBuffer(count: tensor.byteCount)
        for h in 0..<heads {
            for r in 0..<headDim {
                let from = (h * headDim + from(headDim, r)) * rowBytes
                let to = (h * headDim + r) * rowBytes
                UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[to..<(to + rowBytes)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: src[from..<(from + rowBytes)]))
            }
        }
        return try Tensor(name: tensor.name, dtype: tensor.dtype, shape: tensor.shape, storage: .owned(buffer), source: source)
    }
}
