import SieveCore

/// The element type asked for the weights of a blocked FFN (`--dtype`).
public enum FFNWeightType: Sendable, Equatable, CustomStringConvertible {
    /// Keep the source's types. Permuting `up`/`gate` rows moves whole rows, so they keep their type (any type,
    /// K-quants included). A float `down` (f32, f16, bf16) is stored transposed in its type; a block-quantized
    /// `down` cannot be transposed exactly, so it stays as it is, in source order (`FeedForwardNode.sourceDown`),
    /// and every run multiplies it: dense execution is exactly the source's.
    case keep
    /// Every part (`gate`, `up`, `down`) in this type.
    case type(DType)

    /// Types a blocked FFN can be stored in on request.
    public static let supportedTypes: [DType] = [.f32, .f16, .q8_0, .q4_0, .q4_1]

    /// Parses `keep` or a supported dtype name (`f32`, `f16`, `q8_0`, `q4_0`, `q4_1`).
    public init?(name: String) {
        if name.lowercased() == "keep" { self = .keep; return }
        guard let t = DType(name: name), FFNWeightType.supportedTypes.contains(t) else { return nil }
        self = .type(t)
    }

    public var description: String {
        switch self {
        case .keep: return "keep"
        case let .type(t): return t.name
        }
    }
}

/// The graph rewrite from a dense FFN to the blocked layout (see `FeedForwardLayout.blocked`), and back.
///
/// The rewrite is function preserving: `up`/`gate` rows and their biases are permuted, `down`'s columns are
/// permuted and stored transposed (`[ff, hidden]`, one row per neuron), and the permutation is stored as an i32
/// tensor `blocks.<i>.ffn.permutation`. Tensor names are kept (`down.weight` changes shape to `[ff, hidden]`, except
/// for a block-quantized `down` kept as it is by `FFNWeightType.keep`).
public enum BlockedLayout {
    /// The IR name of block `block`'s permutation tensor.
    public static func permutationName(block: Int) -> String { IRName.feedForward(block, "permutation") }

    /// The stored types of a blocked FFN's parts.
    public struct PartTypes: Sendable, Equatable {
        /// Type of the up rows.
        public var up: DType
        /// Type of the gate rows (gated FFNs).
        public var gate: DType?
        /// Type of the down (transposed unless a kept block-quantized source down).
        public var down: DType
    }

    /// The types `apply` stores for `graph`'s block `block` with `weightType`; throws when the hidden size does not
    /// fill whole blocks of the requested type.
    public static func partTypes(graph: ModelGraph, block: Int, weightType: FFNWeightType) throws -> PartTypes {
        let ffn = graph.blocks[block].feedForward
        let hidden = graph.hyperparameters.hiddenSize
        let up = try graph.tensor(ffn.up.weight).dtype
        let gate = try ffn.gate.map { try graph.tensor($0.weight).dtype }
        let down = try graph.tensor(ffn.down.weight).dtype
        switch weightType {
        case .keep:
            return PartTypes(up: up, gate: gate, down: down)
        case let .type(t):
            guard hidden % t.blockSize == 0 else {
                throw SieveTransformsError.invalidOption(name: "--dtype", value: t.name, reason: "the hidden size \(hidden) is not a multiple of the \(t.name) block size \(t.blockSize); use f16 or f32")
            }
            return PartTypes(up: t, gate: gate == nil ? nil : t, down: t)
        }
    }

    /// Rewrites block `block`'s dense FFN into the blocked layout with `permutation` (stored → original neuron) and
    /// blocks of `blockSize` neurons, storing the parts as `weightType` says.
    public static func apply(to graph: inout ModelGraph, block: Int, permutation: [Int32], blockSize: Int,
                             weightType: FFNWeightType) throws {
        guard block >= 0 && block < graph.blocks.count else {
            throw SieveTransformsError.unsupportedGraph(block: block, reason: "no such block; the graph has \(graph.blocks.count)")
        }
        var ffn = graph.blocks[block].feedForward
        guard case .dense = ffn.layout else {
            throw SieveTransformsError.unsupportedGraph(block: block, reason: "the feed-forward layer is already blocked")
        }
        let up = try graph.tensor(ffn.up.weight)
        let hidden = graph.hyperparameters.hiddenSize
        guard up.shape.rank == 2, up.shape.dims[1] == hidden else {
            throw SieveTransformsError.unsupportedGraph(block: block, reason: "up projection has shape \(up.shape), [ff, \(hidden)] expected")
        }
        let ff = up.shape.dims[0]
        guard blockSize >= 1, ff % blockSize == 0 else {
            throw SieveTransformsError.invalidOption(name: "block size", value: "\(blockSize)", reason: "must divide the FFN width \(ff) of block \(block)")
        }
        guard NeuronReordering.isPermutation(permutation, count: ff) else {
            throw SieveTransformsError.invalidOption(name: "permutation", value: "of block \(block)", reason: "is not a permutation of 0..<\(ff)")
        }
        let types = try partTypes(graph: graph, block: block, weightType: weightType)
        let perm = permutation.map(Int.init)

        graph.tensors.insert(try permuteRows(up, perm, as: types.up))
        if let gate = ffn.gate, let gateType = types.gate {
            graph.tensors.insert(try permuteRows(try graph.tensor(gate.weight), perm, as: gateType))
            if let bias = gate.bias { graph.tensors.insert(try permuteVector(try graph.tensor(bias), perm)) }
        }
        if let bias = ffn.up.bias { graph.tensors.insert(try permuteVector(try graph.tensor(bias), perm)) }

        let down = try graph.tensor(ffn.down.weight)
        guard down.shape.dims == [hidden, ff] else {
            throw SieveTransformsError.unsupportedGraph(block: block, reason: "down projection has shape \(down.shape), [\(hidden), \(ff)] expected")
        }
        if weightType == .keep && !down.dtype.isFloat {
            // Kept as it is: the runs scatter the activations back to source order for it.
            ffn.sourceDown = down.name
        } else {
            let dense = try down.floats()
            var transposed = [Float](repeating: 0, count: ff * hidden)
            for n in 0..<ff {
                let column = perm[n]
                for h in 0..<hidden { transposed[n * hidden + h] = dense[h * ff + column] }
            }
            graph.tensors.insert(try encode(transposed, name: down.name, shape: [ff, hidden], as: types.down))
        }

        let permName = permutationName(block: block)
        graph.tensors.insert(try Tensor(name: permName, dtype: .i32, shape: [ff],
                                        storage: .owned(TensorBuffer(values: permutation.map { $0.littleEndian }))))
        ffn.layout = .blocked(blockSize: blockSize, permutation: permName)
        graph.blocks[block].feedForward = ffn
    }

    /// The dense graph computing what a blocked graph computes: every blocked FFN is un-permuted and `down`
    /// transposed back, all FFN weights in f32 (the decoded stored values, so the result is exactly the blocked
    /// model's function); predictors, their tensors, densities and permutations are dropped. For running a sparse
    /// bundle on a dense-only runner and for measuring what a `--dtype` choice costs.
    public static func denseEquivalent(_ blocked: ModelGraph) throws -> ModelGraph {
        var graph = blocked
        for i in graph.blocks.indices {
            var block = graph.blocks[i]
            for p in [block.ffnPredictor, block.headPredictor].compactMap({ $0 }) {
                for name in [p.down, p.up, p.bias].compactMap({ $0 }) { graph.tensors.remove(name) }
            }
            block.ffnPredictor = nil
            block.headPredictor = nil
            block.ffnDensity = nil
            block.headDensity = nil
            guard case let .blocked(_, permName) = block.feedForward.layout else {
                graph.blocks[i] = block
                continue
            }
            let permTensor = try graph.tensor(permName)
            let perm = try permTensor.floats().map { Int($0) }
            let ff = perm.count
            guard NeuronReordering.isPermutation(perm.map { Int32($0) }, count: ff) else {
                throw SieveTransformsError.unsupportedGraph(block: i, reason: "\(permName) is not a permutation")
            }
            var inverse = [Int](repeating: 0, count: ff)
            for (stored, original) in perm.enumerated() { inverse[original] = stored }
            let ffn = block.feedForward
            for ref in [ffn.up, ffn.gate].compactMap({ $0 }) {
                let t = try graph.tensor(ref.weight)
                graph.tensors.insert(try permuteRows(t, inverse, as: .f32))
                if let bias = ref.bias { graph.tensors.insert(try permuteVector(try graph.tensor(bias), inverse)) }
            }
            let downT = try graph.tensor(ffn.down.weight)
            if let source = ffn.sourceDown {
                // The source's own down, in source order: what every run of the bundle multiplies.
                let kept = try graph.tensor(source)
                graph.tensors.remove(source)
                graph.tensors.insert(Tensor(name: downT.name, shape: kept.shape, floats: try kept.floats()))
            } else {
                let hidden = downT.shape.innermost
                let values = try downT.floats()
                var dense = [Float](repeating: 0, count: ff * hidden)
                for n in 0..<ff {
                    for h in 0..<hidden { dense[h * ff + perm[n]] = values[n * hidden + h] }
                }
                graph.tensors.insert(Tensor(name: downT.name, shape: [hidden, ff], floats: dense))
            }
            graph.tensors.remove(permName)
            block.feedForward.sourceDown = nil
            block.feedForward.layout = .dense
            graph.blocks[i] = block
        }
        return graph
    }

    /// `t`'s rows reordered so that row `n` is source row `order[n]`, stored as `dtype` (whole rows are copied when
    /// the type is unchanged, so quantized rows move exactly).
    static func permuteRows(_ t: Tensor, _ order: [Int], as dtype: DType) throws -> Tensor {
        let rows = t.shape.rows, columns = t.shape.innermost
        guard let sourceRowBytes = t.dtype.byteCount(elements: columns), let rowBytes = dtype.byteCount(elements: columns) else {
            throw SieveTransformsError.invalidOption(name: "--dtype", value: dtype.name, reason: "rows of \(columns) values of \(t.name) are not whole \(dtype.name) blocks")
        }
        let buffer = TensorBuffer(count: rows * rowBytes)
        let src = t.bytes
        if dtype == t.dtype {
            for (n, r) in order.enumerated() {
                UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[(n * rowBytes)..<((n + 1) * rowBytes)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: src[(r * sourceRowBytes)..<((r + 1) * sourceRowBytes)]))
            }
        } else {
            var row = [Float](repeating: 0, count: columns)
            for (n, r) in order.enumerated() {
                try row.withUnsafeMutableBufferPointer { values in
                    try DTypeCodec.decode(UnsafeRawBufferPointer(rebasing: src[(r * sourceRowBytes)..<((r + 1) * sourceRowBytes)]),
                                          dtype: t.dtype, into: values, tensor: t.name)
                    try DTypeCodec.encode(UnsafeBufferPointer(values), as: dtype,
                                          into: UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[(n * rowBytes)..<((n + 1) * rowBytes)]),
                                          tensor: t.name)
                }
            }
        }
        return try Tensor(name: t.name, dtype: dtype, shape: t.shape, storage: .owned(buffer))
    }

    /// A bias vector with element `n` taken from source element `order[n]`, in its own dtype (values are exact).
    static func permuteVector(_ t: Tensor, _ order: [Int]) throws -> Tensor {
        let values = try t.floats()
        return try encode(order.map { values[$0] }, name: t.name, shape: t.shape, as: t.dtype.isFloat ? t.dtype : .f32)
    }

    static func encode(_ values: [Float], name: String, shape: Shape, as dtype: DType) throws -> Tensor {
        guard let bytes = dtype.byteCount(elements: values.count) else {
            throw SieveTransformsError.invalidOption(name: "--dtype", value: dtype.name, reason: "\(name) does not fill whole \(dtype.name) blocks")
        }
        let buffer = TensorBuffer(count: bytes)
        try values.withUnsafeBufferPointer { try DTypeCodec.encode($0, as: dtype, into: buffer.bytes, tensor: name) }
        return try Tensor(name: name, dtype: dtype, shape: shape, storage: .owned(buffer))
    }
}
