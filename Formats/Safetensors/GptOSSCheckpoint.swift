import SieveCore

/// gpt-oss's checkpoint tensors outside the naming table, turned into IR tensors: the attention sinks
/// (`layers.{i}.self_attn.sinks`, `[heads]`, no `.weight`) and the experts. Those come fused, gate and up interleaved
/// (row or column 2n is gate neuron n, 2n + 1 up neuron n), each part with a `…_bias` (`gate_up_proj_bias`
/// `[experts, 2·width]`, `down_proj_bias` `[experts, hidden]`), and either
/// - in MXFP4, as OpenAI ships them: `gate_up_proj_blocks` `[experts, 2·width, hidden/32, 16]` and `down_proj_blocks`
///   `[experts, hidden, width/32, 16]` (u8; element 2j of a block in the low nibble of byte j, 2j + 1 in the high),
///   with `…_scales` `[experts, rows, columns/32]` (u8, E8M0: 2^(s − 127)), re-packed as ggml's MXFP4 blocks (the
///   scale byte, then element j in the low nibble and j + 16 in the high: the same values, as llama.cpp's converter
///   re-packs them); or
/// - in a float type (dequantized checkpoints), transposed: `gate_up_proj` `[experts, hidden, 2·width]`, `down_proj`
///   `[experts, width, hidden]`, turned into the IR's `[experts, rows, columns]` in the same type.
enum GptOSSCheckpoint {
    /// The expert tensors of one layer, by their name after `mlp.experts.`.
    static let expertParts = ["gate_up_proj_blocks", "gate_up_proj_scales", "gate_up_proj_bias", "down_proj_blocks",
                              "down_proj_scales", "down_proj_bias", "gate_up_proj", "down_proj"]

    /// The block and part of a tensor name below the body prefix (`layers.3.mlp.experts.down_proj_bias`,
    /// `layers.3.self_attn.sinks`), or nil when it is not one of these tensors.
    static func parse(_ name: Substring) -> (block: Int, part: String)? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0] == "layers", let block = Int(parts[1]), String(block) == parts[1] else { return nil }
        if parts.count == 4, parts[2] == "self_attn", parts[3] == "sinks" { return (block, "sinks") }
        if parts.count == 5, parts[2] == "mlp", parts[3] == "experts", expertParts.contains(String(parts[4])) {
            return (block, String(parts[4]))
        }
        return nil
    }

    /// The IR tensors of one layer's `parts` (by part name).
    static func irTensors(block i: Int, _ parts: [String: Tensor], hyperparameters hp: Hyperparameters, source: String) throws -> [Tensor] {
        guard let moe = hp.mixtureOfExperts else {
            throw SieveCoreError.invalidHyperparameter(source: source, name: "num_local_experts", reason: "missing: gpt-oss's experts need the expert count")
        }
        let (e, w, d) = (moe.expertCount, moe.expertWidth, hp.hiddenSize)
        var out: [Tensor] = []
        if let sinks = parts["sinks"] {
            guard sinks.shape.dims == [hp.headCount], sinks.dtype.isFloat else {
                throw SieveCoreError.invalidShape(source: source, tensor: sinks.name, reason: "\(sinks.dtype.name) \(sinks.shape), but attention sinks are \(hp.headCount) floats (one per head)")
            }
            out.append(try Tensor(name: IRName.attentionSinks(i) + ".weight", dtype: sinks.dtype, shape: sinks.shape, storage: sinks.storage, source: source))
        }
        let present = expertParts.filter { parts[$0] != nil }
        guard !present.isEmpty else { return out }
        func required(_ part: String) throws -> Tensor {
            guard let t = parts[part] else {
                throw SieveCoreError.missingTensor(source: source, name: "model.layers.\(i).mlp.experts.\(part) (beside \(present.map { "model.layers.\(i).mlp.experts.\($0)" }.joined(separator: ", ")))")
            }
            return t
        }
        let quantized = parts["gate_up_proj_blocks"] != nil || parts["down_proj_blocks"] != nil
        for part in ["gate_up", "down"] {
            let (rows, columns) = part == "gate_up" ? (2 * w, d) : (d, w)
            if quantized {
                let blocks = try required(part + "_proj_blocks"), scales = try required(part + "_proj_scales")
                guard columns % 32 == 0, blocks.dtype == .u8, scales.dtype == .u8,
                      blocks.shape.dims == [e, rows, columns / 32, 16], scales.shape.dims == [e, rows, columns / 32] else {
                    throw SieveCoreError.invalidShape(source: source, tensor: blocks.name, reason: "\(blocks.dtype.name) \(blocks.shape) with scales \(scales.dtype.name) \(scales.shape), but MXFP4 experts of this config are u8 [\(e), \(rows), \(columns / 32), 16] and u8 [\(e), \(rows), \(columns / 32)]")
                }
                if part == "gate_up" {
                    out.append(try mxfp4(blocks, scales, rows: w, columns: d, experts: e, stride: 2, first: 0, name: IRName.experts(i, "gate") + ".weight", source: source))
                    out.append(try mxfp4(blocks, scales, rows: w, columns: d, experts: e, stride: 2, first: 1, name: IRName.experts(i, "up") + ".weight", source: source))
                } else {
                    out.append(try mxfp4(blocks, scales, rows: d, columns: w, experts: e, stride: 1, first: 0, name: IRName.experts(i, "down") + ".weight", source: source))
                }
            } else {
                let fused = try required(part + "_proj")
                guard fused.dtype.isFloat, fused.shape.dims == [e, columns, rows] else {
                    throw SieveCoreError.invalidShape(source: source, tensor: fused.name, reason: "\(fused.dtype.name) \(fused.shape), but this config's experts are a float [\(e), \(columns), \(rows)]")
                }
                if part == "gate_up" {
                    out.append(try transposed(fused, rows: w, columns: d, experts: e, stride: 2, first: 0, name: IRName.experts(i, "gate") + ".weight", source: source))
                    out.append(try transposed(fused, rows: w, columns: d, experts: e, stride: 2, first: 1, name: IRName.experts(i, "up") + ".weight", source: source))
                } else {
                    out.append(try transposed(fused, rows: d, columns: w, experts: e, stride: 1, first: 0, name: IRName.experts(i, "down") + ".weight", source: source))
                }
            }
            let bias = try required(part + "_proj_bias")
            guard bias.dtype.isFloat, bias.shape.dims == [e, rows] else {
                throw SieveCoreError.invalidShape(source: source, tensor: bias.name, reason: "\(bias.dtype.name) \(bias.shape), but this config's expert biases are a float [\(e), \(rows)]")
            }
            if part == "gate_up" {
                let values = try bias.floats()
                for (k, name) in ["gate", "up"].enumerated() {
                    let split = (0..<(e * w)).map { values[($0 / w) * 2 * w + 2 * ($0 % w) + k] }
                    out.append(Tensor(name: IRName.experts(i, name) + ".bias", shape: [e, w], floats: split))
                }
            } else {
                out.append(try Tensor(name: IRName.experts(i, "down") + ".bias", dtype: bias.dtype, shape: bias.shape, storage: bias.storage, source: source))
            }
        }
        return out
    }

    /// `[experts, rows, columns]` MXFP4 from rows `first, first + stride, …` of each expert's HF blocks and scales.
    static func mxfp4(_ blocks: Tensor, _ scales: Tensor, rows: Int, columns: Int, experts: Int, stride: Int, first: Int,
                      name: String, source: String) throws -> Tensor {
        let perRow = columns / 32, sourceRows = rows * stride
        let buffer = DeferredBuffer(count: experts * rows * perRow * 17) { buffer in
            blocks.storage.withTemporaryBytes { codes in
                scales.storage.withTemporaryBytes { exponents in
                    let out = buffer.bytes
                    for e in 0..<experts {
                        for r in 0..<rows {
                            let sourceRow = e * sourceRows + r * stride + first, row = e * rows + r
                            for b in 0..<perRow {
                                let from = (sourceRow * perRow + b) * 16, to = (row * perRow + b) * 17
                                out[to] = exponents[sourceRow * perRow + b]
                                for j in 0..<16 {
                                    out[to + 1 + j] = nibble(codes, from, j) | nibble(codes, from, j + 16) << 4
                                }
                            }
                        }
                    }
                }
            }
        }
        return try Tensor(name: name, dtype: .mxfp4, shape: [experts, rows, columns], storage: .deferred(buffer), source: source)
    }

    /// Element `k` (0…31) of the HF MXFP4 block at `offset`: byte k/2's low nibble for even k, its high for odd.
    @inline(__always)
    static func nibble(_ codes: UnsafeRawBufferPointer, _ offset: Int, _ k: Int) -> UInt8 {
        (codes[offset + k / 2] >> UInt8(4 * (k % 2))) & 0x0F
    }

    /// `[experts, rows, columns]` in `fused`'s type from a float `[experts, columns, stride·rows]`: row r of expert e is
    /// its column `stride·r + first`.
    static func transposed(_ fused: Tensor, rows: Int, columns: Int, experts: Int, stride: Int, first: Int,
                           name: String, source: String) throws -> Tensor {
        let size = fused.dtype.blockBytes, width = stride * rows
        let buffer = DeferredBuffer(count: experts * rows * columns * size) { buffer in
            fused.storage.withTemporaryBytes { src in
                guard let from = src.baseAddress, let to = buffer.bytes.baseAddress else { return }
                for e in 0..<experts {
                    for r in 0..<rows {
                        for c in 0..<columns {
                            (to + ((e * rows + r) * columns + c) * size)
                                .copyMemory(from: from + ((e * columns + c) * width + stride * r + first) * size, byteCount: size)
                        }
                    }
                }
            }
        }
        return try Tensor(name: name, dtype: fused.dtype, shape: [experts, rows, columns], storage: .deferred(buffer), source: source)
    }
}
