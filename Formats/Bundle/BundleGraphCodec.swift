import SieveCore

/// The manifest's `graph` object (SPEC.md §6) to and from the IR's nodes.
enum BundleGraphCodec {
    // MARK: Encoding

    /// The `graph` object of `graph`; `bundles` holds the FFN bundle of each blocked block.
    static func encode(_ graph: ModelGraph, bundles: [Int: BundleFFNBundle]) -> JSONValue {
        let e = graph.embedding
        let embedding: JSONValue = .object([
            ("tokens", .string(e.tokens)), ("positions", .optional(e.positions)),
            ("token_types", .optional(e.tokenTypes)), ("norm", e.norm.map(encode) ?? .null),
            ("scale", .optional(e.scale)),
        ])
        let blocks: [JSONValue] = graph.blocks.enumerated().map { i, b in
            let a = b.attention
            let rope: JSONValue = a.rope.map {
                .object([("theta", .double($0.theta)), ("dimensions", .integer($0.dimensions)), ("style", .string($0.style.rawValue)),
                         ("scaling", $0.scaling.map(BundleManifest.encode) ?? .null)])
            } ?? .null
            // `sinks` is written only when the layer has them (gpt-oss), so other bundles keep their manifests.
            let attention: JSONValue = .object([
                ("q", encode(a.q)), ("k", encode(a.k)), ("v", encode(a.v)), ("o", encode(a.o)),
                ("heads", .integer(a.heads)), ("kv_heads", .integer(a.kvHeads)), ("head_dim", .integer(a.headDim)),
                ("rope", rope), ("causal", .bool(a.causal)),
                ("q_norm", a.queryNorm.map(encode) ?? .null), ("k_norm", a.keyNorm.map(encode) ?? .null),
                ("window", .optional(a.window)), ("scale", .optional(a.scale)), ("softcap", .optional(a.softcap)),
            ] + (a.sinks.map { [("sinks", JSONValue.string($0))] } ?? []))
            let f = b.feedForward
            let layout: JSONValue
            switch f.layout {
            case .dense:
                layout = .object([("type", .string("dense"))])
            case let .blocked(blockSize, permutation):
                let bundle = bundles[i]!
                layout = .object([
                    ("type", .string("blocked")), ("block_size", .integer(blockSize)),
                    ("block_count", .integer(bundle.blockCount)), ("permutation", .string(permutation)),
                    ("source_down", f.sourceDown.map { .string($0) } ?? .null),
                    ("bundle", .object([
                        ("section", .string(bundle.section)), ("offset", .integer(bundle.offset)),
                        ("stride", .integer(bundle.stride)), ("parts", .array(bundle.parts.map { .string($0) })),
                    ])),
                ])
            }
            // `shared_expert` is written only when the layer has one (GraniteMoeShared, Qwen2-MoE), so other bundles keep their manifests.
            let ffn: JSONValue = .object([
                ("kind", .string(f.kind.rawValue)), ("activation", .string(f.activation.rawValue)),
                ("up", encode(f.up)), ("gate", f.gate.map(encode) ?? .null), ("down", encode(f.down)), ("layout", layout),
                ("router", f.experts.map { encode($0.projection) } ?? .null),
            ] + (f.experts?.shared.map { s in
                [("shared_expert", JSONValue.object([("gate", encode(s.gate)), ("up", encode(s.up)), ("down", encode(s.down))]
                                                    + (s.outputGate.map { [("output_gate", encode($0))] } ?? [])))]
            } ?? []))
            return .object([
                ("attention_norm", encode(b.attentionNorm)), ("attention", attention),
                ("attention_output_norm", b.attentionOutputNorm.map(encode) ?? .null),
                ("ffn_norm", encode(b.feedForwardNorm)), ("ffn", ffn),
                ("ffn_output_norm", b.feedForwardOutputNorm.map(encode) ?? .null),
                ("norm_placement", .string(b.normPlacement.rawValue)),
                ("ffn_predictor", b.ffnPredictor.map { encode($0, graph: graph) } ?? .null),
                ("head_predictor", b.headPredictor.map { encode($0, graph: graph) } ?? .null),
                ("ffn_density", .optional(b.ffnDensity)), ("head_density", .optional(b.headDensity)),
                ("residual_scale", .optional(b.residualScale)),
            ])
        }
        return .object([
            ("embedding", embedding), ("blocks", .array(blocks)),
            ("final_norm", graph.finalNorm.map(encode) ?? .null),
            ("lm_head", graph.lmHead.map { encode($0.projection) } ?? .null),
            ("logit_softcap", .optional(graph.lmHead?.softcap)),
            ("logit_divisor", .optional(graph.lmHead?.divisor)),
        ])
    }

    static func encode(_ l: LinearRef) -> JSONValue {
        .object([("weight", .string(l.weight)), ("bias", .optional(l.bias))])
    }

    static func encode(_ n: NormNode) -> JSONValue {
        .object([("kind", .string(n.kind.rawValue)), ("weight", .string(n.weight)), ("bias", .optional(n.bias)),
                 ("epsilon", .double(n.epsilon))])
    }

    static func encode(_ p: PredictorNode, graph: ModelGraph) -> JSONValue {
        var members: [(String, JSONValue)] = [("target", .string(p.target.rawValue)), ("source_block", .integer(p.sourceBlock))]
        if p.input != .blockInput { members.append(("reads", .string(p.input.rawValue))) }
        members += [
            ("rank", .integer(graph.tensors[p.down]?.shape.dims.first ?? 0)), ("units", .integer(p.units)),
            ("down", .string(p.down)), ("up", .string(p.up)), ("bias", .optional(p.bias)),
            ("recall", .array(p.recall.map { r in
                .object([("density", .double(r.density)), ("recall", .double(r.recall))] + (r.captured.map { [("captured", .double($0))] } ?? []))
            })),
        ]
        return .object(members)
    }

    /// Why `t` is not an i32 `[ff]` permutation of `0..<ff`, or nil when it is one.
    static func permutationProblem(_ t: Tensor, ff: Int) -> String? {
        guard t.dtype == .i32, t.shape.dims == [ff] else { return "is \(t.dtype.name) \(t.shape), expected i32 [\(ff)]" }
        var seen = [Bool](repeating: false, count: ff)
        for n in 0..<ff {
            let v = Int(Int32(littleEndian: t.bytes.loadUnaligned(fromByteOffset: 4 * n, as: Int32.self)))
            guard (0..<ff).contains(v), !seen[v] else { return "is not a permutation of 0..<\(ff) (entry \(n) is \(v))" }
            seen[v] = true
        }
        return nil
    }

    // MARK: Decoding

    /// Builds the model graph of a bundle from its manifest and its (verified) tensors.
    ///
    /// The graph builder checks every tensor against the hyperparameters; it knows only dense layouts, so a
    /// blocked FFN's transposed `down` (`[ff, d]`; not a kept source down) is shown to it as a `[d, ff]` view of the
    /// same bytes. The
    /// manifest's node structure (tensor names, layouts, predictors, densities) then replaces the builder's.
    static func buildGraph(_ manifest: BundleManifest, tensors: TensorStore, file: String) throws -> ModelGraph {
        let root = ManifestCursor(value: manifest.graph, path: "$.graph", file: file)
        let blocks = try root.member("blocks").array()
        guard blocks.count == manifest.hyperparameters.layerCount else {
            throw BundleError.invalidGraph(path: file, reason: "\(blocks.count) blocks but layer_count is \(manifest.hyperparameters.layerCount)")
        }
        var builderTensors = tensors
        for (i, bundle) in manifest.ffnBundles.enumerated() where bundle != nil {
            let ffn = try blocks[i].member("ffn")
            let downName = try ffn.member("down").string("weight")
            // A kept source down is already `[d, ff]`.
            if try ffn.member("layout").optionalMember("source_down")?.string() == downName { continue }
            guard let down = tensors[downName], down.shape.rank == 2 else {
                throw BundleError.invalidGraph(path: file, reason: "block \(i): blocked FFN down tensor '\(downName)' is missing or not a matrix")
            }
            let denseShape = Shape([down.shape.dims[1], down.shape.dims[0]])
            guard !down.dtype.isQuantized || denseShape.innermost % down.dtype.blockSize == 0 else {
                throw BundleError.invalidGraph(path: file, reason: "block \(i): the \(down.dtype.name) down tensor '\(downName)' has \(denseShape.innermost) neurons, not a multiple of the \(down.dtype.blockSize)-element block this reader needs")
            }
            builderTensors.insert(try Tensor(name: downName, dtype: down.dtype, shape: denseShape, storage: down.storage, source: file))
        }
        var graph = try GraphBuilder.build(architecture: manifest.architecture, hyperparameters: manifest.hyperparameters,
                                           tensors: builderTensors, tokenizer: manifest.tokenizer,
                                           metadata: manifest.metadata, source: file)
        graph.tensors = tensors
        var decoder = NodeDecoder(tensors: tensors, file: file, hiddenSize: manifest.hyperparameters.hiddenSize,
                                  layerCount: manifest.hyperparameters.layerCount)
        try decoder.apply(root, blocks: blocks, to: &graph)
        return graph
    }
}

/// Applies the manifest's node descriptions onto a graph built by `GraphBuilder`, checking that every tensor
/// they name exists with a consistent shape.
private struct NodeDecoder {
    let tensors: TensorStore
    let file: String
    let hiddenSize: Int
    let layerCount: Int

    func name(_ c: ManifestCursor) throws -> String {
        let n = try c.string()
        guard tensors.contains(n) else { throw BundleError.invalidGraph(path: file, reason: "\(c.path) names tensor '\(n)', which the bundle does not hold") }
        return n
    }
    func optionalName(_ c: ManifestCursor, _ key: String) throws -> String? {
        try c.optionalMember(key).map(name)
    }
    func linear(_ c: ManifestCursor) throws -> LinearRef {
        LinearRef(weight: try name(try c.member("weight")), bias: try optionalName(c, "bias"))
    }
    func norm(_ c: ManifestCursor) throws -> NormNode {
        NormNode(kind: try c.member("kind").enumeration(NormKind.self), weight: try name(try c.member("weight")),
                 bias: try optionalName(c, "bias"), epsilon: try c.double("epsilon"))
    }
    func shape(_ tensor: String) -> [Int] { tensors[tensor]?.shape.dims ?? [] }

    func predictor(_ c: ManifestCursor, block: Int) throws -> PredictorNode {
        let p = PredictorNode(
            target: try c.member("target").enumeration(PredictorTarget.self), sourceBlock: try c.int("source_block"),
            input: try c.optionalMember("reads").map { try $0.enumeration(PredictorInput.self) } ?? .blockInput,
            down: try name(try c.member("down")), up: try name(try c.member("up")), bias: try optionalName(c, "bias"),
            units: try c.int("units", atLeast: 1),
            recall: try c.member("recall").array().map {
                DensityRecall(density: try $0.double("density"), recall: try $0.double("recall"), captured: try $0.optionalDouble("captured"))
            })
        let rank = try c.int("rank", atLeast: 1)
        guard (0..<layerCount).contains(p.sourceBlock) else {
            throw BundleError.invalidGraph(path: file, reason: "\(c.path): source block \(p.sourceBlock) is outside 0..<\(layerCount)")
        }
        if let problem = p.inputProblem(block: block) { throw BundleError.invalidGraph(path: file, reason: "\(c.path): \(problem)") }
        guard shape(p.down) == [rank, hiddenSize], shape(p.up) == [p.units, rank], p.bias.map({ shape($0) == [p.units] }) ?? true else {
            throw BundleError.invalidGraph(path: file, reason: "\(c.path): predictor tensors have shapes down \(Shape(shape(p.down))), up \(Shape(shape(p.up)))\(p.bias.map { ", bias \(Shape(shape($0)))" } ?? ""); rank \(rank), \(p.units) units and hidden size \(hiddenSize) need down [\(rank), \(hiddenSize)], up [\(p.units), \(rank)], bias [\(p.units)]")
        }
        return p
    }

    /// The permutation tensor of a blocked FFN, checked to be an i32 `[ff]` permutation of `0..<ff`.
    func permutation(_ c: ManifestCursor, ff: Int) throws -> String {
        let n = try name(c)
        if let problem = BundleGraphCodec.permutationProblem(tensors[n]!, ff: ff) {
            throw BundleError.invalidGraph(path: file, reason: "\(c.path): permutation '\(n)' \(problem)")
        }
        return n
    }

    mutating func apply(_ root: ManifestCursor, blocks: [ManifestCursor], to graph: inout ModelGraph) throws {
        let e = try root.member("embedding")
        graph.embedding.tokens = try name(try e.member("tokens"))
        graph.embedding.positions = try optionalName(e, "positions")
        graph.embedding.tokenTypes = try optionalName(e, "token_types")
        graph.embedding.norm = try e.optionalMember("norm").map(norm)
        graph.embedding.scale = try e.optionalDouble("scale")

        for (i, c) in blocks.enumerated() {
            var b = graph.blocks[i]
            b.attentionNorm = try norm(try c.member("attention_norm"))
            let a = try c.member("attention")
            b.attention.q = try linear(try a.member("q"))
            b.attention.k = try linear(try a.member("k"))
            b.attention.v = try linear(try a.member("v"))
            b.attention.o = try linear(try a.member("o"))
            b.attention.heads = try a.int("heads", atLeast: 1)
            b.attention.kvHeads = try a.int("kv_heads", atLeast: 1)
            b.attention.headDim = try a.int("head_dim", atLeast: 1)
            b.attention.rope = try a.optionalMember("rope").map {
                RoPE(theta: try $0.double("theta"), dimensions: try $0.int("dimensions", atLeast: 1),
                     style: try $0.member("style").enumeration(RoPEStyle.self),
                     scaling: try $0.optionalMember("scaling").map(BundleManifest.decodeRoPEScaling))
            }
            b.attention.causal = try a.bool("causal")
            b.attention.queryNorm = try a.optionalMember("q_norm").map(norm)
            b.attention.keyNorm = try a.optionalMember("k_norm").map(norm)
            b.attention.window = try a.optionalMember("window").map { try $0.int(atLeast: 1) }
            b.attention.scale = try a.optionalDouble("scale")
            b.attention.softcap = try a.optionalDouble("softcap")
            b.attention.sinks = try a.optionalString("sinks")
            b.attentionOutputNorm = try c.optionalMember("attention_output_norm").map(norm)
            b.feedForwardNorm = try norm(try c.member("ffn_norm"))
            b.feedForwardOutputNorm = try c.optionalMember("ffn_output_norm").map(norm)
            b.residualScale = try c.optionalDouble("residual_scale")

            let f = try c.member("ffn")
            b.feedForward.kind = try f.member("kind").enumeration(FeedForwardKind.self)
            b.feedForward.activation = try f.member("activation").enumeration(Activation.self)
            b.feedForward.up = try linear(try f.member("up"))
            b.feedForward.gate = try f.optionalMember("gate").map(linear)
            b.feedForward.down = try linear(try f.member("down"))
            guard (b.feedForward.gate != nil) == b.feedForward.kind.isGated else {
                throw BundleError.invalidGraph(path: file, reason: "\(f.path): a \(b.feedForward.kind.rawValue) FFN \(b.feedForward.kind.isGated ? "needs" : "has no") gate")
            }
            let layout = try f.member("layout")
            if try layout.string("type") == "blocked" {
                let ff = shape(b.feedForward.up.weight).first ?? 0
                b.feedForward.layout = .blocked(blockSize: try layout.int("block_size", atLeast: 1),
                                                permutation: try permutation(try layout.member("permutation"), ff: ff))
                b.feedForward.sourceDown = try optionalName(layout, "source_down")
                if let source = b.feedForward.sourceDown {
                    let hidden = shape(b.feedForward.up.weight).last ?? 0
                    guard shape(source) == [hidden, ff] else {
                        throw BundleError.invalidGraph(path: file, reason: "\(layout.path).source_down '\(source)' has shape \(shape(source)), [\(hidden), \(ff)] expected")
                    }
                }
            } else {
                b.feedForward.layout = .dense
            }
            b.feedForward.experts = try f.optionalMember("router").map { router in
                guard let routing = graph.hyperparameters.mixtureOfExperts, case .dense = b.feedForward.layout else {
                    throw BundleError.invalidGraph(path: file, reason: "\(router.path): a router needs the hyperparameters' mixture_of_experts and a dense layout")
                }
                let shared = try f.optionalMember("shared_expert").map { s in
                    SharedExpert(gate: try linear(try s.member("gate")), up: try linear(try s.member("up")), down: try linear(try s.member("down")),
                                 outputGate: try s.optionalMember("output_gate").map(linear))
                }
                guard (shared != nil) == (routing.sharedExpertWidth != nil) else {
                    throw BundleError.invalidGraph(path: file, reason: "\(f.path): a shared expert needs the hyperparameters' shared_expert_width, and that width a shared expert")
                }
                return ExpertRouter(projection: try linear(router), routing: routing, shared: shared)
            }
            b.normPlacement = try c.member("norm_placement").enumeration(NormPlacement.self)
            b.ffnPredictor = try c.optionalMember("ffn_predictor").map { try predictor($0, block: i) }
            b.headPredictor = try c.optionalMember("head_predictor").map { try predictor($0, block: i) }
            b.ffnDensity = try c.optionalDouble("ffn_density")
            b.headDensity = try c.optionalDouble("head_density")
            graph.blocks[i] = b
        }

        graph.finalNorm = try root.optionalMember("final_norm").map(norm)
        if let head = try root.optionalMember("lm_head") {
            guard graph.lmHead != nil else {
                throw BundleError.invalidGraph(path: file, reason: "\(head.path): a \(graph.architecture.rawValue) model has no LM head")
            }
            graph.lmHead?.projection = try linear(head)
            graph.lmHead?.softcap = try root.optionalDouble("logit_softcap")
            graph.lmHead?.divisor = try root.optionalDouble("logit_divisor")
        } else {
            graph.lmHead = nil
        }
    }
}
