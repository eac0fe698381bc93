import Foundation
import SieveCore

/// Writes safetensors files the way the reference implementation does, so that the same tensors give
/// byte-identical files: tensors ordered by dtype (widest first, in the reference `Dtype` order) then by name,
/// packed without gaps; the header compact JSON with `__metadata__` first and keys `dtype`, `shape`,
/// `data_offsets`, padded with spaces to a multiple of 8 bytes.
///
/// The header is written first (every size is known from shapes and dtypes), then each tensor is converted,
/// re-laid-out if needed, written and dropped, so peak memory is about one tensor.
enum SafetensorsWriter {
    /// One tensor of the output file and how to make its bytes from IR tensors.
    struct Output {
        var name: String
        var dtype: DType
        var shape: Shape
        /// The IR tensors it is made of (several for a fused projection).
        var sources: [Tensor]
        var transform: HFTransform
        /// `weight` or `bias` for mapped model tensors (decides what a `Conv1D` transform does).
        var param: String
        /// The expert an `.expertSlice` output holds.
        var expert: Int? = nil

        var byteCount: Int { dtype.byteCount(elements: shape.elementCount) ?? 0 }

        /// The bytes to write: each source converted to `dtype`, then re-laid-out.
        func materialize(source: String) throws -> Tensor {
            // An expert's slice is cut before converting, not the whole stack of experts converted for each expert.
            let converted = transform == .expertSlice ? [] : try sources.map { try $0.converted(to: dtype) }
            var tensor: Tensor
            switch (transform, param) {
            case (.expertSlice, _):
                let e = expert ?? 0
                let slice = try TensorLayout.rowSlice(sources[0], rows: e..<(e + 1), name: name, source: source).converted(to: dtype)
                tensor = try Tensor(name: name, dtype: slice.dtype, shape: Shape(Array(slice.shape.dims.dropFirst())), storage: slice.storage, source: source)
            case (.rename, _), (.conv1D, "bias"):
                tensor = converted[0]
            case (.normOffset, _):
                tensor = try TensorLayout.offset(sources[0], by: -1, name: name, source: source).converted(to: dtype)
            case (.conv1D, _):
                tensor = try TensorLayout.transposed(converted[0], name: name, source: source)
            case (.fusedQKV, "bias"), (.stackedRows, _):
                tensor = try TensorLayout.concatenated(converted, name: name, source: source)
            case (.expertRows, _):
                tensor = try TensorLayout.groupConcatenated(converted, name: name, source: source)
            case (.fusedQKV, _):
                tensor = try TensorLayout.fusedTransposed(converted, name: name, source: source)
            }
            tensor.name = name
            guard tensor.shape == shape, tensor.byteCount == byteCount else {
                throw SieveCoreError.invalidShape(source: source, tensor: name, reason: "made \(tensor.shape) (\(tensor.byteCount) bytes) but the header says \(shape)")
            }
            return tensor
        }
    }

    /// The dtype a tensor is written as: floats become `requested` (kept when nil), block-quantized tensors are
    /// dequantized to `requested` (f32 when nil), integer and bool tensors are kept.
    static func outputDType(_ dtype: DType, requested: DType?) -> DType {
        if dtype.isQuantized { return requested ?? .f32 }
        if dtype.isFloat { return requested ?? dtype }
        return dtype
    }

    /// Checks that `options.dtype` is one safetensors can hold as a conversion target.
    static func checkRequestedDType(_ options: WriteOptions, path: String) throws {
        if let requested = options.dtype, !requested.isFloat {
            throw SafetensorsError.unsupportedOutputDType(path: path, dtype: requested.name)
        }
    }

    /// Outputs for tensors written under their own names.
    static func plainOutputs(_ tensors: [Tensor], options: WriteOptions) -> [Output] {
        tensors.map { t in
            Output(name: t.name, dtype: outputDType(t.dtype, requested: options.dtype), shape: t.shape,
                   sources: [t], transform: .rename, param: "")
        }
    }

    /// Outputs for a model graph under Hugging Face names (the inverse of `HFNaming.irTensors`).
    static func modelOutputs(_ graph: ModelGraph, naming: HFNaming, options: WriteOptions, path: String) throws -> [Output] {
        struct Group {
            var resolved: HFNaming.Resolved
            var parts: [Int: Tensor]
        }
        var order: [String] = []
        var groups: [String: Group] = [:]
        for tensor in graph.tensors.all {
            guard let (hfName, resolved, part) = naming.hfName(forIR: tensor.name) else {
                throw SafetensorsError.unmappedTensor(path: path, tensor: tensor.name, architecture: naming.architecture.rawValue)
            }
            if groups[hfName] == nil {
                order.append(hfName)
                groups[hfName] = Group(resolved: resolved, parts: [:])
            }
            groups[hfName]?.parts[part] = tensor
        }
        return try order.flatMap { hfName -> [Output] in
            let group = groups[hfName]!
            let rule = group.resolved.rule
            if rule.transform == .expertSlice, let stacked = group.parts[0] {
                // One output per expert, named by its index.
                return (0..<(stacked.shape.dims.first ?? 0)).map { e in
                    var resolved = group.resolved
                    resolved.expert = e
                    return Output(name: resolved.hfName(prefix: naming.prefixes[0]), dtype: outputDType(stacked.dtype, requested: options.dtype),
                                  shape: Shape(Array(stacked.shape.dims.dropFirst())), sources: [stacked], transform: .expertSlice,
                                  param: resolved.param, expert: e)
                }
            }
            let sources = try rule.ir.indices.map { k -> Tensor in
                guard let t = group.parts[k] else {
                    throw SieveCoreError.missingTensor(source: path, name: group.resolved.irName(part: k))
                }
                return t
            }
            let dtypes = Set(sources.map { outputDType($0.dtype, requested: options.dtype) })
            let dtype = dtypes.count == 1 ? dtypes.first! : .f32
            let shape: Shape
            switch (rule.transform, group.resolved.param) {
            case (.rename, _), (.conv1D, "bias"), (.normOffset, _):
                shape = sources[0].shape
            case (.conv1D, _):
                shape = Shape(sources[0].shape.dims.reversed())
            case (.fusedQKV, "bias"):
                shape = [sources.reduce(0) { $0 + $1.elementCount }]
            case (.stackedRows, _):
                shape = Shape([sources.reduce(0) { $0 + ($1.shape.dims.first ?? 0) }] + sources[0].shape.dims.dropFirst())
            case (.expertRows, _):
                var dims = sources[0].shape.dims
                if dims.count >= 2 { dims[1] = sources.reduce(0) { $0 + ($1.shape.dims.dropFirst().first ?? 0) } }
                shape = Shape(dims)
            case (.fusedQKV, _):
                shape = [sources[0].shape.dims.last ?? 0, sources.reduce(0) { $0 + ($1.shape.dims.first ?? 0) }]
            case (.expertSlice, _):
                throw SieveCoreError.invalidShape(source: path, tensor: hfName, reason: "an expert's matrix needs its stacked IR tensor")
            }
            return [Output(name: hfName, dtype: dtype, shape: shape, sources: sources, transform: rule.transform, param: group.resolved.param)]
        }
    }

    /// Writes `outputs` to `url` atomically, calling `options.progress` after each tensor.
    static func write(_ outputs: [Output], metadata: [(String, String)], to url: URL, options: WriteOptions) throws {
        var seen = Set<String>()
        for o in outputs where !seen.insert(o.name).inserted {
            throw SafetensorsError.duplicateTensor(path: url.path, name: o.name)
        }
        for o in outputs where SafetensorsDType.name(of: o.dtype) == nil {
            throw SafetensorsError.unsupportedOutputDType(path: url.path, dtype: o.dtype.name)
        }
        let sorted = outputs.sorted { a, b in
            let (ra, rb) = (SafetensorsDType.layoutRank(a.dtype), SafetensorsDType.layoutRank(b.dtype))
            return ra != rb ? ra > rb : a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
        }
        let header = makeHeader(sorted, metadata: metadata)
        try AtomicFileWriter.write(to: url, overwrite: options.overwrite) { writer in
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try writer.write($0) }
            try writer.write(header)
            for (k, output) in sorted.enumerated() {
                let tensor = try output.materialize(source: url.path)
                try writer.write(tensor.bytes)
                options.progress?(k + 1, sorted.count, output.name)
            }
        }
    }

    /// The header bytes (JSON padded with spaces to a multiple of 8) for outputs in file order.
    static func makeHeader(_ outputs: [Output], metadata: [(String, String)]) -> [UInt8] {
        var members: [(String, JSONValue)] = []
        if !metadata.isEmpty {
            members.append(("__metadata__", .object(metadata.map { ($0.0, JSONValue.string($0.1)) })))
        }
        var offset = 0
        for o in outputs {
            let end = offset + o.byteCount
            members.append((o.name, .object([
                ("dtype", .string(SafetensorsDType.name(of: o.dtype) ?? o.dtype.name)),
                ("shape", .array(o.shape.dims.map { .int(Int64($0)) })),
                ("data_offsets", .array([.int(Int64(offset)), .int(Int64(end))])),
            ])))
            offset = end
        }
        var bytes = Array(JSONValue.object(members).serialized().utf8)
        bytes += [UInt8](repeating: UInt8(ascii: " "), count: (8 - bytes.count % 8) % 8)
        return bytes
    }
}
