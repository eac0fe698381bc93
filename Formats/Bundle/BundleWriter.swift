import Foundation
import SieveCore

/// Options of `BundleWriter.write`.
public struct BundleWriteOptions: Sendable {
    /// Target dtype: a float type converts every float and quantized tensor; a quantized type converts the float
    /// and quantized matrices whose rows are whole blocks, except predictor weights. nil keeps every dtype.
    public var dtype: DType?
    /// Replace an existing output file.
    public var overwrite: Bool
    /// `.zstd` compresses sections (each stored raw when zstd saves less than `minimumSavings`); `.none`
    /// stores every section raw, so the whole bundle can be mapped zero-copy.
    public var compression: BundleCompression
    /// zstd level, 1…22.
    public var zstdLevel: Int
    /// A section is stored raw unless zstd shrinks it by at least this fraction (0 ≤ value < 1). The default, 10%,
    /// stores quantized and f16 weights raw (zstd saves them 6–8%): a raw section is mapped, not decompressed at
    /// every load into private memory (SmolLM2's q8_0 embedding: 30 MB of anonymous memory and ~30 ms a load, to
    /// save 1.9 MB of disk).
    public var minimumSavings: Double
    /// Target decompressed bytes per frame (FFN bundle sections round it to whole FFN blocks).
    public var frameSize: Int
    /// Recorded in the manifest.
    public var provenance: BundleProvenance
    /// Called after each tensor is written with (tensors done, tensor count, tensor name).
    public var progress: (@Sendable (Int, Int, String) -> Void)?

    /// Options with the given values (defaults: zstd level 3, 10% minimum savings, 1 MiB frames).
    public init(dtype: DType? = nil, overwrite: Bool = false, compression: BundleCompression = .zstd, zstdLevel: Int = 3,
                minimumSavings: Double = 0.10, frameSize: Int = 1 << 20, provenance: BundleProvenance = BundleProvenance(),
                progress: (@Sendable (Int, Int, String) -> Void)? = nil) {
        self.dtype = dtype
        self.overwrite = overwrite
        self.compression = compression
        self.zstdLevel = zstdLevel
        self.minimumSavings = minimumSavings
        self.frameSize = frameSize
        self.provenance = provenance
        self.progress = progress
    }

    /// The bundle options for a generic `WriteOptions` (dtype, overwrite, progress, zstd level).
    public init(_ options: WriteOptions, provenance: BundleProvenance = BundleProvenance()) {
        self.init(dtype: options.dtype, overwrite: options.overwrite, zstdLevel: options.zstdLevel,
                  provenance: provenance, progress: options.progress)
    }
}

/// What `BundleWriter.write` produced.
public struct BundleWriteReport: Sendable {
    /// Size of the written file.
    public var fileSize: Int
    /// The sections as stored (compression, sizes, frames).
    public var sections: [BundleSection]
    /// Total decompressed size of the sections.
    public var decompressedSize: Int { sections.reduce(0) { $0 + $1.size } }
}

/// Writes a `ModelGraph` as a `.sieve` bundle (SPEC.md): the manifest first, then the sections one at a time
/// (converted, laid out, compressed in independent frames — peak memory about one section), then the section
/// table and footer, all into a temporary file renamed into place on success.
public enum BundleWriter {
    @discardableResult
    /// Writes `graph` to `url` atomically and returns what was stored; throws `outputExists` unless `overwrite`.
    public static func write(_ graph: ModelGraph, to url: URL, options: BundleWriteOptions = BundleWriteOptions()) throws -> BundleWriteReport {
        let path = url.path
        guard (1...22).contains(options.zstdLevel) else {
            throw BundleError.cannotWrite(path: path, reason: "zstd level \(options.zstdLevel) is outside 1…22")
        }
        guard (1...BundleLayout.maxFrameSize).contains(options.frameSize) else {
            throw BundleError.cannotWrite(path: path, reason: "frame size \(options.frameSize) is outside 1…\(BundleLayout.maxFrameSize)")
        }
        guard options.minimumSavings >= 0, options.minimumSavings < 1 else {
            throw BundleError.cannotWrite(path: path, reason: "minimum savings \(options.minimumSavings) is outside [0, 1)")
        }
        if let d = options.dtype, d.isGridQuantized {
            throw SieveCoreError.gridQuantization(source: path, dtype: d.name)
        }
        if let d = options.dtype, !(d.isFloat || d.isQuantized) {
            throw BundleError.cannotWrite(path: path, reason: "dtype \(d.name) is not a weight type; choose a float or block-quantized type")
        }
        let plan = try BundlePlan(graph: graph, options: options, path: path)
        let manifest = BundleManifest.encode(
            architecture: graph.architecture, hyperparameters: graph.hyperparameters, tokenizer: graph.tokenizer,
            metadata: graph.metadata, provenance: options.provenance, sections: plan.sections.map(\.descriptor),
            tensors: plan.sections.flatMap { $0.tensors.map(\.entry) },
            graph: BundleGraphCodec.encode(graph, bundles: plan.bundles))
        let manifestBytes = Array(manifest.serialized().utf8)

        var stored: [BundleSection] = []
        var position = 0
        try AtomicFileWriter.write(to: url, overwrite: options.overwrite) { out in
            func emit(_ bytes: UnsafeRawBufferPointer) throws {
                try out.write(bytes)
                position += bytes.count
            }
            func pad() throws {
                let padding = BundleLayout.aligned(position) - position
                try out.writeZeros(padding)
                position += padding
            }
            try BundleLayout.header(manifestSize: manifestBytes.count, manifestCRC: CRC32.checksum(manifestBytes)).withUnsafeBytes(emit)
            try manifestBytes.withUnsafeBytes(emit)
            try pad()
            var done = 0
            let total = plan.sections.reduce(0) { $0 + $1.tensors.count }
            for (index, section) in plan.sections.enumerated() {
                let buffer = try fill(section, options: options) { name in
                    done += 1
                    options.progress?(done, total, name)
                }
                let encoded = try compress(buffer, section: section, options: options)
                var frames: [BundleFrame] = []
                let start = position
                try withExtendedLifetime(buffer) {
                    for (k, range) in encoded.ranges.enumerated() {
                        let frameStart = position
                        let crc: UInt32
                        if let compressed = encoded.frames {
                            crc = CRC32.checksum(compressed[k])
                            try compressed[k].withUnsafeBytes(emit)
                        } else {
                            let raw = UnsafeRawBufferPointer(rebasing: buffer.bytes[range])
                            crc = CRC32.checksum(raw)
                            try emit(raw)
                        }
                        frames.append(BundleFrame(storedOffset: frameStart, storedSize: position - frameStart, crc32: crc, range: range))
                    }
                }
                stored.append(BundleSection(
                    name: section.descriptor.name, kind: section.descriptor.kind, index: index, offset: start,
                    storedSize: position - start, size: section.size, frameSize: section.frameSize,
                    compression: encoded.frames == nil ? .none : .zstd, frames: frames))
                try pad()
            }
            let tableOffset = position
            let table = BundleLayout.table(stored)
            try table.withUnsafeBytes(emit)
            try BundleLayout.footer(tableOffset: tableOffset, sectionCount: stored.count,
                                    frameCount: stored.reduce(0) { $0 + $1.frames.count },
                                    tableCRC: CRC32.checksum(table)).withUnsafeBytes(emit)
        }
        return BundleWriteReport(fileSize: position, sections: stored)
    }

    /// The section's decompressed bytes: each tensor converted to its output dtype and copied to its ranges.
    private static func fill(_ section: PlannedSection, options: BundleWriteOptions, tensorDone: (String) -> Void) throws -> TensorBuffer {
        let buffer = TensorBuffer(count: section.size)
        for planned in section.tensors {
            let converted = try planned.source.converted(to: planned.entry.dtype)
            withExtendedLifetime(converted) {
                let source = converted.bytes
                var consumed = 0
                for range in planned.entry.ranges {
                    UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[range])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[consumed..<(consumed + range.count)]))
                    consumed += range.count
                }
            }
            tensorDone(planned.entry.name)
        }
        return buffer
    }

    /// The section split into frames, zstd-compressed in parallel (`frames` nil when stored raw).
    private static func compress(_ buffer: TensorBuffer, section: PlannedSection,
                                 options: BundleWriteOptions) throws -> (ranges: [Range<Int>], frames: [[UInt8]]?) {
        let size = section.size
        let frameSize = section.frameSize
        let ranges = stride(from: 0, to: size, by: frameSize).map { $0..<min($0 + frameSize, size) }
        guard options.compression == .zstd else { return (ranges, nil) }
        let level = Int32(options.zstdLevel)
        let frames = try parallelMap(ranges.count) { k in
            try Zstd.compress(UnsafeRawBufferPointer(rebasing: buffer.bytes[ranges[k]]), level: level)
        }
        let compressed = frames.reduce(0) { $0 + $1.count }
        let worthIt = Double(compressed) <= Double(size) * (1 - options.minimumSavings)
        return (ranges, worthIt ? frames : nil)
    }
}

/// A tensor placed in a section: the graph's tensor and where (and as what dtype) it goes.
struct PlannedTensor {
    let source: Tensor
    let entry: BundleTensorEntry
}

/// A section's planned content and decompressed layout.
struct PlannedSection {
    var descriptor: BundleSectionDescriptor
    var frameSize: Int
    var size = 0
    var tensors: [PlannedTensor] = []
}

/// Which tensor goes into which section at which offset, decided from the graph before anything is written
/// (SPEC.md §5.4, §7): `embedding`, then per block `blocks.<i>` and `blocks.<i>.ffn`, then `predictors`,
/// `head` and `extra`. Each tensor is placed once, at a 64-byte-aligned offset.
struct BundlePlan {
    private(set) var sections: [PlannedSection] = []
    private(set) var bundles: [Int: BundleFFNBundle] = [:]
    private var placed = Set<String>()
    private let graph: ModelGraph
    private let options: BundleWriteOptions
    private let path: String
    private let predictorTensors: Set<String>

    init(graph: ModelGraph, options: BundleWriteOptions, path: String) throws {
        self.graph = graph
        self.options = options
        self.path = path
        predictorTensors = Set(graph.blocks.flatMap { b in
            [b.ffnPredictor, b.headPredictor].compactMap { $0 }.flatMap { [$0.down, $0.up, $0.bias].compactMap { $0 } }
        })

        let e = graph.embedding
        var embedding = section("embedding", .embedding)
        try place([e.tokens, e.positions, e.tokenTypes, e.norm?.weight, e.norm?.bias], in: &embedding)
        append(embedding)

        for (i, b) in graph.blocks.enumerated() {
            let a = b.attention
            var block = section(IRName.block(i), .block)
            try place([b.attentionNorm.weight, b.attentionNorm.bias] + [a.q, a.k, a.v, a.o].flatMap { [$0.weight, $0.bias] }
                      + [b.feedForwardNorm.weight, b.feedForwardNorm.bias], in: &block)
            append(block)

            let f = b.feedForward
            var ffn = section(IRName.block(i) + ".ffn", .ffn)
            if case let .blocked(blockSize, permutation) = f.layout {
                try placeBundle(block: i, blockSize: blockSize, permutation: permutation, in: &ffn)
                try place([f.gate?.bias, f.up.bias, f.down.bias, permutation, f.sourceDown], in: &ffn)
            } else {
                try place([f.gate?.weight, f.gate?.bias, f.up.weight, f.up.bias, f.down.weight, f.down.bias], in: &ffn)
            }
            append(ffn)
        }

        var predictors = section("predictors", .predictors)
        for b in graph.blocks {
            for p in [b.ffnPredictor, b.headPredictor].compactMap({ $0 }) {
                try checkPredictor(p)
                try place([p.down, p.up, p.bias], in: &predictors)
            }
        }
        append(predictors)

        var head = section("head", .head)
        try place([graph.finalNorm?.weight, graph.finalNorm?.bias, graph.lmHead?.projection.weight, graph.lmHead?.projection.bias], in: &head)
        append(head)

        var extra = section("extra", .extra)
        try place(graph.tensors.names, in: &extra)
        append(extra)
    }

    private func section(_ name: String, _ kind: BundleSectionKind) -> PlannedSection {
        PlannedSection(descriptor: BundleSectionDescriptor(name: name, kind: kind), frameSize: options.frameSize)
    }

    /// Keeps a section only if something was placed in it.
    private mutating func append(_ s: PlannedSection) {
        if !s.tensors.isEmpty { sections.append(s) }
    }

    private func tensor(_ name: String) throws -> Tensor {
        guard let t = graph.tensors[name] else {
            throw BundleError.cannotWrite(path: path, reason: "the graph names tensor '\(name)', which it does not hold")
        }
        return t
    }

    /// The dtype a tensor is stored as (see `BundleWriteOptions.dtype`).
    private func outputDType(_ t: Tensor) -> DType {
        guard let requested = options.dtype, t.dtype.isFloat || t.dtype.isQuantized else { return t.dtype }
        if requested.isFloat { return requested }
        guard t.shape.rank >= 2, !predictorTensors.contains(t.name), t.shape.innermost % requested.blockSize == 0 else {
            return t.dtype
        }
        return requested
    }

    /// Places each named tensor not placed yet, contiguously, at the next 64-byte boundary.
    private mutating func place(_ names: [String?], in s: inout PlannedSection) throws {
        for case let name? in names where !placed.contains(name) {
            let t = try tensor(name)
            let dtype = outputDType(t)
            guard let bytes = dtype.byteCount(elements: t.elementCount) else {
                throw BundleError.cannotWrite(path: path, reason: "tensor '\(name)' \(t.shape) does not fill whole \(dtype.name) blocks")
            }
            let offset = BundleLayout.aligned(s.size)
            s.tensors.append(PlannedTensor(source: t, entry: BundleTensorEntry(
                name: name, dtype: dtype, shape: t.shape, section: s.descriptor.name, offset: offset, byteCount: bytes)))
            s.size = offset + bytes
            placed.insert(name)
        }
    }

    /// Places a blocked FFN's gate, up and transposed down (not a kept source down, stored beside them) as one
    /// bundle (SPEC.md §7) and sets the section's frame size to whole FFN blocks.
    private mutating func placeBundle(block i: Int, blockSize: Int, permutation: String, in s: inout PlannedSection) throws {
        let f = graph.blocks[i].feedForward
        let transposedDown = f.sourceDown == f.down.weight ? nil : f.down.weight
        let parts = try ([f.gate?.weight, f.up.weight, transposedDown].compactMap { $0 }).map(tensor)
        let hidden = graph.hyperparameters.hiddenSize
        let ff = parts[0].shape.dims.first ?? 0
        func fail(_ reason: String) -> BundleError {
            .cannotWrite(path: path, reason: "block \(i): blocked FFN: \(reason)")
        }
        for p in parts {
            guard p.shape.dims == [ff, hidden] else {
                throw fail("'\(p.name)' is \(p.shape); gate, up and the transposed down must all be [\(ff), \(hidden)]")
            }
            guard !placed.contains(p.name) else { throw fail("'\(p.name)' is already stored elsewhere") }
        }
        guard blockSize > 0, ff > 0, ff % blockSize == 0 else {
            throw fail("block size \(blockSize) does not divide the \(ff) neurons; choose a block size that divides them")
        }
        try checkPermutation(try tensor(permutation), ff: ff, block: i)
        let blockCount = ff / blockSize
        let dtypes = parts.map(outputDType)
        if transposedDown != nil, let downType = dtypes.last, downType.isQuantized, ff % downType.blockSize != 0 {
            throw fail("\(downType.name) down with \(ff) neurons (not a multiple of \(downType.blockSize)) cannot be read back as a dense-shaped view; store it as a float type")
        }
        var chunkSizes: [Int] = []
        for (p, dtype) in zip(parts, dtypes) {
            guard let rowBytes = dtype.byteCount(elements: hidden) else {
                throw fail("rows of \(hidden) elements of '\(p.name)' are not whole \(dtype.name) blocks")
            }
            chunkSizes.append(blockSize * rowBytes)
        }
        let stride = chunkSizes.reduce(0, +)
        let offset = BundleLayout.aligned(s.size)
        var partOffset = offset
        for ((p, dtype), chunk) in zip(zip(parts, dtypes), chunkSizes) {
            s.tensors.append(PlannedTensor(source: p, entry: BundleTensorEntry(
                name: p.name, dtype: dtype, shape: p.shape, section: s.descriptor.name, offset: partOffset,
                byteCount: chunk * blockCount, chunks: .init(count: blockCount, size: chunk, stride: stride))))
            partOffset += chunk
            placed.insert(p.name)
        }
        s.size = offset + stride * blockCount
        s.frameSize = min(stride * max(1, options.frameSize / stride), BundleLayout.maxFrameSize)
        bundles[i] = BundleFFNBundle(block: i, blockSize: blockSize, blockCount: blockCount, permutation: permutation,
                                     section: s.descriptor.name, offset: offset, stride: stride, parts: parts.map(\.name))
    }

    private func checkPermutation(_ t: Tensor, ff: Int, block: Int) throws {
        if let problem = BundleGraphCodec.permutationProblem(t, ff: ff) {
            throw BundleError.cannotWrite(path: path, reason: "block \(block): permutation '\(t.name)' \(problem)")
        }
    }

    private func checkPredictor(_ p: PredictorNode) throws {
        let hidden = graph.hyperparameters.hiddenSize
        let down = try tensor(p.down), up = try tensor(p.up)
        let rank = down.shape.dims.first ?? 0
        let biasOK = try p.bias.map { try tensor($0).shape.dims == [p.units] } ?? true
        guard rank > 0, down.shape.dims == [rank, hidden], up.shape.dims == [p.units, rank], biasOK,
              graph.blocks.indices.contains(p.sourceBlock) else {
            throw BundleError.cannotWrite(path: path, reason: "predictor '\(p.up)': down \(down.shape), up \(up.shape), \(p.units) units, source block \(p.sourceBlock); expected down [rank, \(hidden)], up [\(p.units), rank], bias [\(p.units)] and a source block in 0..<\(graph.blocks.count)")
        }
    }
}
