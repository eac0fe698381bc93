import Foundation

/// The facts `sieve inspect` prints about a file: format, architecture, hyperparameters, parameter count,
/// dtype histogram, tokenizer summary, metadata and the tensor list — as text or as one JSON object.
public struct InspectionReport {
    /// The file or folder inspected.
    public var path: String
    /// The name of the format plugin that read it.
    public var format: String
    /// nil when the file holds tensors but is not a whole model (or its config is missing).
    public var graph: ModelGraph?
    /// Why the file could not be read as a model, when `graph` is nil.
    public var modelError: String?
    /// The tensor view of the file (always available).
    public var file: TensorFile

    /// Reads `url` with the registry's plugin: always the tensor view, and the model view when it is one.
    public init(url: URL, registry: FormatRegistry = .shared) throws {
        let plugin = try registry.plugin(for: url)
        path = url.path
        format = plugin.name
        file = try plugin.readTensors(url)
        do {
            graph = try plugin.read(url)
        } catch let error as SieveCoreError {
            switch error {
            case .unsupportedArchitecture, .missingTensor, .invalidHyperparameter, .unexpectedJSON, .cannotOpen:
                graph = nil
                modelError = error.localizedDescription
            default:
                throw error
            }
        }
    }

    /// Total parameters (elements) in the file.
    public var parameterCount: Int { file.tensors.all.reduce(0) { $0 + $1.elementCount } }

    /// Tensor count and bytes per dtype, sorted by dtype name.
    public var dtypeHistogram: [(dtype: DType, tensors: Int, bytes: Int)] {
        var counts: [DType: (Int, Int)] = [:]
        for t in file.tensors.all {
            let c = counts[t.dtype] ?? (0, 0)
            counts[t.dtype] = (c.0 + 1, c.1 + t.byteCount)
        }
        return counts.sorted { $0.key.name < $1.key.name }.map { ($0.key, $0.value.0, $0.value.1) }
    }

    private func hyperparameterMembers(_ hp: Hyperparameters, architecture: Architecture) -> [(String, JSONValue)] {
        var m: [(String, JSONValue)] = [
            ("vocab_size", .int(Int64(hp.vocabSize))), ("hidden_size", .int(Int64(hp.hiddenSize))),
            ("intermediate_size", .int(Int64(hp.intermediateSize))), ("layers", .int(Int64(hp.layerCount))),
            ("heads", .int(Int64(hp.headCount))), ("kv_heads", .int(Int64(hp.kvHeadCount))),
            ("head_dim", .int(Int64(hp.headDim))), ("context_length", .int(Int64(hp.contextLength))),
            ("norm_eps", .double(hp.normEpsilon)), ("activation", .string(hp.activation.rawValue)),
            ("tied_embeddings", .bool(hp.tiedEmbeddings)),
        ]
        if let theta = hp.ropeTheta { m.append(("rope_theta", .double(theta))) }
        if let dims = hp.ropeDimensions { m.append(("rope_dimensions", .int(Int64(dims)))) }
        if let scaling = hp.ropeScaling { m.append(("rope_scaling", .string(scaling.summary))) }
        if let w = hp.slidingWindow {
            let sliding = w.slidingLayers.filter { $0 }.count
            // Only Gemma 3's sliding layers leave the model's RoPE scaling out (GraphBuilder).
            let rope = architecture == .gemma3 ? "RoPE base \(w.ropeTheta), unscaled"
                : w.ropeTheta == hp.ropeTheta ? "the model's RoPE" : "RoPE base \(w.ropeTheta)"
            m.append(("sliding_window", .string("\(w.window) positions in \(sliding) of \(hp.layerCount) layers (\(rope))")))
        }
        if let scale = hp.attentionScale { m.append(("attention_scale", .double(scale))) }
        if let cap = hp.attentionLogitSoftcap { m.append(("attention_softcap", .double(cap))) }
        if let cap = hp.finalLogitSoftcap { m.append(("logit_softcap", .double(cap))) }
        if hp.positionOffset != 0 { m.append(("position_offset", .int(Int64(hp.positionOffset)))) }
        if hp.tokenTypeCount != 0 { m.append(("token_types", .int(Int64(hp.tokenTypeCount)))) }
        if let scale = hp.embeddingScale { m.append(("embedding_scale", .double(scale))) }
        if let scale = hp.residualScale { m.append(("residual_scale", .double(scale))) }
        if let divisor = hp.logitDivisor { m.append(("logit_divisor", .double(divisor))) }
        if let moe = hp.mixtureOfExperts {
            m.append(("experts", .string("\(moe.expertsPerToken) of \(moe.expertCount) per token, \(moe.expertWidth) neurons each, weights \(moe.normalizesWeights ? "normalised to sum 1" : "as routed")"
                                         + (moe.sharedExpertWidth.map { ", and a shared expert of \($0) neurons" } ?? ""))))
        }
        return m
    }

    private func tokenizerMembers(_ t: TokenizerDescription) -> [(String, JSONValue)] {
        func id(_ v: Int?) -> JSONValue { v.map { .int(Int64($0)) } ?? .null }
        return [("kind", .string(t.kind.rawValue)), ("vocab_size", .int(Int64(t.vocabularySize))),
                ("merges", .int(Int64(t.merges.count))), ("pre_tokenizer", .string(t.preTokenizer)),
                ("bos_id", id(t.bosID)), ("eos_id", id(t.eosID)), ("add_bos", .bool(t.addBOS)),
                ("chat_template", .bool(t.chatTemplate != nil))]
    }

    /// The report as one JSON object (keys `format`, `architecture`, `hyperparameters`, `parameters`,
    /// `dtypes`, `tokenizer`, `tensors`, `metadata`).
    public func json(includeTensors: Bool = true) -> JSONValue {
        var m: [(String, JSONValue)] = [("path", .string(path)), ("format", .string(format))]
        m.append(("architecture", graph.map { .string($0.architecture.rawValue) } ?? .null))
        m.append(("hyperparameters", graph.map { .object(hyperparameterMembers($0.hyperparameters, architecture: $0.architecture)) } ?? .null))
        m.append(("parameters", .int(Int64(parameterCount))))
        m.append(("dtypes", .object(dtypeHistogram.map { ($0.dtype.name, .object([("tensors", .int(Int64($0.tensors))), ("bytes", .int(Int64($0.bytes)))])) })))
        m.append(("tokenizer", graph?.tokenizer.map { .object(tokenizerMembers($0)) } ?? .null))
        if includeTensors {
            m.append(("tensors", .array(file.tensors.all.map { t in
                .object([("name", .string(t.name)), ("dtype", .string(t.dtype.name)),
                         ("shape", .array(t.shape.dims.map { .int(Int64($0)) })), ("bytes", .int(Int64(t.byteCount)))])
            })))
        }
        m.append(("metadata", .object(file.metadata.map { ($0.0, .string($0.1)) })))
        if let modelError { m.append(("model_error", .string(modelError))) }
        return .object(m)
    }

    /// The report as human-readable text.
    public func text(includeTensors: Bool) -> String {
        var lines: [String] = []
        lines.append("file:          \(path)")
        lines.append("format:        \(format)")
        if let g = graph {
            let hp = g.hyperparameters
            lines.append("architecture:  \(g.architecture.rawValue)")
            lines.append("parameters:    \(formatCount(parameterCount)) (\(parameterCount))")
            lines.append("hyperparameters:")
            for (k, v) in hyperparameterMembers(hp, architecture: g.architecture) { lines.append("  \(k.padding(toLength: 18, withPad: " ", startingAt: 0)) \(render(v))") }
            if let t = g.tokenizer {
                lines.append("tokenizer:     " + tokenizerMembers(t).map { "\($0.0)=\(render($0.1))" }.joined(separator: " "))
            } else {
                lines.append("tokenizer:     none")
            }
        } else {
            lines.append("architecture:  none (tensor file)\(modelError.map { " — \($0)" } ?? "")")
            lines.append("parameters:    \(formatCount(parameterCount)) (\(parameterCount))")
        }
        if let g = graph, let table = recallTable(g) { lines.append(table) }
        lines.append("dtypes:        " + dtypeHistogram.map { "\($0.dtype.name) ×\($0.tensors) (\(formatBytes($0.bytes)))" }.joined(separator: ", "))
        lines.append("tensors:       \(file.tensors.count)")
        if !file.metadata.isEmpty {
            lines.append("metadata:")
            for (k, v) in file.metadata { lines.append("  \(k) = \(v.count > 120 ? String(v.prefix(117)) + "..." : v)") }
        }
        if includeTensors {
            let width = file.tensors.names.map(\.count).max() ?? 10
            for t in file.tensors.all {
                lines.append("  \(t.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(t.dtype.name.padding(toLength: 5, withPad: " ", startingAt: 0))  \(t.shape.description.padding(toLength: 16, withPad: " ", startingAt: 0))  \(t.byteCount)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The per-block predictor recall table of a sparse bundle (nil for dense models).
    private func recallTable(_ g: ModelGraph) -> String? {
        guard g.blocks.contains(where: { $0.ffnPredictor != nil || $0.headPredictor != nil }) else { return nil }
        let ffnDensities = Array(Set(g.blocks.flatMap { $0.ffnPredictor?.recall.map(\.density) ?? [] })).sorted(by: >)
        let headDensities = Array(Set(g.blocks.flatMap { $0.headPredictor?.recall.map(\.density) ?? [] })).sorted(by: >)
        func cell(_ p: PredictorNode?, _ d: Double) -> String {
            guard let r = p?.recall.first(where: { $0.density == d }) else { return "      -" }
            return String(format: "%7.3f", r.recall)
        }
        func density(_ d: Double?) -> String { d.map { String(format: "%6.2f", $0) } ?? " dense" }
        var header = "block src"
        header += ffnDensities.map { String(format: " %7@", String(format: "f@%.2f", $0)) }.joined()
        header += headDensities.map { String(format: " %7@", String(format: "h@%.2f", $0)) }.joined()
        header += "  ffn_d  head_d"
        var rows = ["predictor recall at FFN (f@) and head (h@) densities on held-out calibration tokens, default densities"
                    + " (src: the block whose input the predictors read; f: the FFN predictor reads its FFN input):", header]
        for (i, b) in g.blocks.enumerated() {
            let source = b.ffnPredictor?.sourceBlock ?? b.headPredictor?.sourceBlock ?? i
            var row = String(format: "%5d ", i) + PredictorInput.sourceColumn(source, ffnPredictorReads: b.ffnPredictor?.input)
            row += ffnDensities.map { " " + cell(b.ffnPredictor, $0) }.joined()
            row += headDensities.map { " " + cell(b.headPredictor, $0) }.joined()
            row += " " + density(b.ffnDensity) + "  " + density(b.headDensity)
            rows.append(row)
        }
        return rows.joined(separator: "\n")
    }

    private func render(_ v: JSONValue) -> String {
        switch v {
        case let .string(s): return s
        case .null: return "-"
        default: return v.serialized()
        }
    }
}

/// "1.44M"-style rendering of a count.
public func formatCount(_ n: Int) -> String {
    switch n {
    case 1_000_000_000...: return String(format: "%.2fB", Double(n) / 1e9)
    case 1_000_000...: return String(format: "%.2fM", Double(n) / 1e6)
    case 1_000...: return String(format: "%.1fK", Double(n) / 1e3)
    default: return "\(n)"
    }
}

/// "5.5 MiB"-style rendering of a byte count.
public func formatBytes(_ n: Int) -> String {
    switch n {
    case (1 << 30)...: return String(format: "%.2f GiB", Double(n) / Double(1 << 30))
    case (1 << 20)...: return String(format: "%.1f MiB", Double(n) / Double(1 << 20))
    case (1 << 10)...: return String(format: "%.1f KiB", Double(n) / Double(1 << 10))
    default: return "\(n) B"
    }
}
