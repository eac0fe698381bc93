import Foundation
import SieveCore
import SieveKernels
import SieveRuntime

/// The dimensions of a set of calibration records.
public struct CalibrationShape: Sendable, Equatable {
    /// Transformer blocks recorded.
    public var blocks: Int
    /// Width of the residual stream (a block input row).
    public var hidden: Int
    /// FFN intermediate width (neurons per block).
    public var ffnWidth: Int
    /// Attention heads per block.
    public var heads: Int
    /// Values per head in the attention output (the observer derives head norms from them).
    public var headDim: Int
    /// Tokens recorded (rows of every record matrix).
    public var tokens: Int
    /// Blocks whose FFN input is recorded: the first `feedForwardInputBlocks` (at least the first block's, which its
    /// FFN predictor reads; every block's for non-gated FFNs, whose pre-activations the pack fits predictors to).
    public var feedForwardInputBlocks: Int

    /// A shape from explicit sizes.
    public init(blocks: Int, hidden: Int, ffnWidth: Int, heads: Int, headDim: Int, tokens: Int, feedForwardInputBlocks: Int = 1) {
        self.blocks = blocks; self.hidden = hidden; self.ffnWidth = ffnWidth
        self.heads = heads; self.headDim = headDim; self.tokens = tokens
        self.feedForwardInputBlocks = min(blocks, max(1, feedForwardInputBlocks))
    }

    /// The shape of records of `graph` (no tokens yet).
    public init(graph: ModelGraph) {
        let hp = graph.hyperparameters
        self.init(blocks: graph.blocks.count, hidden: hp.hiddenSize, ffnWidth: hp.intermediateSize, heads: hp.headCount,
                  headDim: hp.headDim, tokens: 0,
                  feedForwardInputBlocks: graph.blocks.contains { $0.feedForward.kind.isGated } ? 1 : graph.blocks.count)
    }

    /// Bytes one recorded token takes in a `CalibrationStore` (f16 values: block input, FFN magnitudes and head
    /// norms of every block, and the FFN inputs of the first `feedForwardInputBlocks`).
    public var bytesPerToken: Int { blocks * 2 * (hidden + ffnWidth + heads) + feedForwardInputBlocks * 2 * hidden }
}

/// Calibration records the passes read, one block at a time: for every recorded token, the block's input (the
/// residual stream the predictors read), the magnitude of every FFN neuron's activation and the output norm of
/// every attention head.
///
/// All three matrices of a block have `shape.tokens` rows, the same tokens in the same order for every block, so
/// block `l−1`'s inputs pair row by row with block `l`'s activations (lookahead).
public protocol CalibrationRecords {
    /// Sizes of the records.
    var shape: CalibrationShape { get }
    /// `[tokens, hidden]`: the residual stream entering `block`.
    func blockInputs(_ block: Int) throws -> FloatMatrix
    /// `[tokens, ffnWidth]`: `|activation|` of every FFN neuron of `block`, in the graph's dense neuron order.
    func ffnMagnitudes(_ block: Int) throws -> FloatMatrix
    /// `[tokens, heads]`: the L2 norm of each head's attention output (before the output projection).
    func headNorms(_ block: Int) throws -> FloatMatrix
    /// `[tokens, hidden]`: the residual stream entering `block`'s FFN (attention's output added; for a post-norm
    /// block, normed), or nil when it was not recorded (`CalibrationShape.feedForwardInputBlocks`). The first
    /// block's FFN predictor reads it (`PackOptions.firstFFNPredictorInput`): that block's input is the token's
    /// embedding alone. The pack fits non-gated FFNs' predictors to the pre-activations it gives.
    func feedForwardInputs(_ block: Int) throws -> FloatMatrix?
}

/// Calibration records held in memory (synthetic data, small models, tests).
public struct InMemoryCalibration: CalibrationRecords {
    /// Sizes of the records.
    public let shape: CalibrationShape
    private let inputs: [FloatMatrix]
    private let magnitudes: [FloatMatrix]
    private let norms: [FloatMatrix]
    private let ffnInputs: [FloatMatrix]

    /// Records from per-block matrices (and, optionally, the FFN inputs of the first block, or of every block);
    /// checks that every block has the same token count and consistent widths.
    public init(blockInputs: [FloatMatrix], ffnMagnitudes: [FloatMatrix], headNorms: [FloatMatrix], headDim: Int = 1,
                feedForwardInputs: [FloatMatrix] = []) throws {
        guard let first = blockInputs.first, blockInputs.count == ffnMagnitudes.count, blockInputs.count == headNorms.count,
              let ffn = ffnMagnitudes.first, let heads = headNorms.first else {
            throw SieveTransformsError.calibration(reason: "in-memory records need the same positive number of blocks for inputs (\(blockInputs.count)), FFN magnitudes (\(ffnMagnitudes.count)) and head norms (\(headNorms.count))")
        }
        let tokens = first.rows
        for l in blockInputs.indices {
            let ok = blockInputs[l].rows == tokens && ffnMagnitudes[l].rows == tokens && headNorms[l].rows == tokens
                && blockInputs[l].columns == first.columns && ffnMagnitudes[l].columns == ffn.columns && headNorms[l].columns == heads.columns
            if !ok { throw SieveTransformsError.calibration(reason: "block \(l)'s record matrices disagree with block 0's sizes") }
        }
        if feedForwardInputs.count > 1 && feedForwardInputs.count != blockInputs.count {
            throw SieveTransformsError.calibration(reason: "FFN inputs of \(feedForwardInputs.count) blocks for \(blockInputs.count) blocks: give the first block's or every block's")
        }
        for (l, f) in feedForwardInputs.enumerated() where f.rows != tokens || f.columns != first.columns {
            throw SieveTransformsError.calibration(reason: "block \(l)'s FFN inputs are \(f.rows)×\(f.columns), \(tokens)×\(first.columns) expected")
        }
        ffnInputs = feedForwardInputs
        shape = CalibrationShape(blocks: blockInputs.count, hidden: first.columns, ffnWidth: ffn.columns, heads: heads.columns,
                                 headDim: headDim, tokens: tokens, feedForwardInputBlocks: feedForwardInputs.count)
        inputs = blockInputs
        magnitudes = ffnMagnitudes
        norms = headNorms
    }

    /// Block `block`'s input matrix, as given.
    public func blockInputs(_ block: Int) throws -> FloatMatrix { inputs[block] }
    /// Block `block`'s FFN magnitude matrix, as given.
    public func ffnMagnitudes(_ block: Int) throws -> FloatMatrix { magnitudes[block] }
    /// Block `block`'s head norm matrix, as given.
    public func headNorms(_ block: Int) throws -> FloatMatrix { norms[block] }
    /// Block `block`'s FFN inputs, if given.
    public func feedForwardInputs(_ block: Int) throws -> FloatMatrix? { block < ffnInputs.count ? ffnInputs[block] : nil }
}

/// Which record of a block a store file holds.
enum RecordKind: String, CaseIterable {
    case input, ffn, heads, ffnInput = "ffn-input"

    /// The kinds recorded for `block`: the FFN input only for the first `shape.feedForwardInputBlocks`.
    static func kinds(block: Int, _ shape: CalibrationShape) -> [RecordKind] {
        block < shape.feedForwardInputBlocks ? allCases : [.input, .ffn, .heads]
    }

    func width(_ shape: CalibrationShape) -> Int {
        switch self {
        case .input, .ffnInput: return shape.hidden
        case .ffn: return shape.ffnWidth
        case .heads: return shape.heads
        }
    }

    func fileName(block: Int) -> String { "block-\(block).\(rawValue).f16" }
}

/// Calibration records on disk: a directory with one file of f16 rows per block and record kind and a
/// `meta.json` with the shape. Written by `CalibrationRecorder`, read one block at a time, so memory holds one
/// block's matrices (as f32) however many tokens were recorded.
///
/// Disk use is `tokens · shape.bytesPerToken` bytes (SmolLM2-135M, 16 384 tokens: 2.1 GB). Values beyond the
/// f16 range (±65 504) are clamped when recorded.
public final class CalibrationStore: CalibrationRecords {
    /// The store's directory.
    public let directory: URL
    /// Sizes of the records (from `meta.json`).
    public let shape: CalibrationShape

    static let metaFile = "meta.json"

    /// Opens a finished store (written by `CalibrationRecorder.finish()`), checking every file's size.
    public init(opening directory: URL) throws {
        let metaURL = directory.appendingPathComponent(Self.metaFile)
        let meta = try JSONValue.parse(contentsOf: metaURL, maxBytes: 1 << 16)
        func int(_ key: String) throws -> Int {
            guard let v = meta[key]?.intValue, v >= 0 else {
                throw SieveTransformsError.storeIO(path: metaURL.path, reason: "missing or invalid '\(key)'")
            }
            return v
        }
        guard try int("version") == 1 else {
            throw SieveTransformsError.storeIO(path: metaURL.path, reason: "unknown calibration store version; record the calibration again")
        }
        shape = CalibrationShape(blocks: try int("blocks"), hidden: try int("hidden"), ffnWidth: try int("ffn_width"),
                                 heads: try int("heads"), headDim: try int("head_dim"), tokens: try int("tokens"),
                                 feedForwardInputBlocks: meta["ffn_input_blocks"] == nil ? 1 : try int("ffn_input_blocks"))
        self.directory = directory
        for block in 0..<shape.blocks {
            for kind in RecordKind.kinds(block: block, shape) {
                let url = directory.appendingPathComponent(kind.fileName(block: block))
                let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? -1
                let expected = shape.tokens * kind.width(shape) * 2
                guard size == expected else {
                    throw SieveTransformsError.storeIO(path: url.path, reason: "holds \(size) bytes, \(expected) expected for \(shape.tokens) tokens; record the calibration again")
                }
            }
        }
    }

    /// Reads block `block`'s inputs from disk, as f32.
    public func blockInputs(_ block: Int) throws -> FloatMatrix { try read(.input, block) }
    /// Reads block `block`'s FFN magnitudes from disk, as f32.
    public func ffnMagnitudes(_ block: Int) throws -> FloatMatrix { try read(.ffn, block) }
    /// Reads block `block`'s head norms from disk, as f32.
    public func headNorms(_ block: Int) throws -> FloatMatrix { try read(.heads, block) }
    /// Reads block `block`'s FFN inputs from disk, as f32, if they were recorded.
    public func feedForwardInputs(_ block: Int) throws -> FloatMatrix? {
        block < shape.feedForwardInputBlocks ? try read(.ffnInput, block) : nil
    }

    /// Deletes the store's directory.
    public func remove() throws { try FileManager.default.removeItem(at: directory) }

    private func read(_ kind: RecordKind, _ block: Int) throws -> FloatMatrix {
        precondition(block >= 0 && block < shape.blocks, "block \(block) outside 0..<\(shape.blocks)")
        let width = kind.width(shape)
        let matrix = FloatMatrix(rows: shape.tokens, columns: width)
        let path = directory.appendingPathComponent(kind.fileName(block: block)).path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw SieveTransformsError.storeIO(path: path, reason: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // Read in chunks of whole rows through a bounded f16 buffer.
        let rowsPerChunk = max(1, (1 << 20) / max(1, width))
        let halves = UnsafeMutablePointer<UInt16>.allocate(capacity: rowsPerChunk * width)
        defer { halves.deallocate() }
        var row = 0
        while row < shape.tokens {
            let n = min(rowsPerChunk, shape.tokens - row)
            try POSIXFile.readFully(fd, UnsafeMutableRawPointer(halves), byteCount: n * width * 2, path: path)
            Convert.halfToFloat(halves, into: matrix.base + row * width, count: n * width)
            row += n
        }
        return matrix
    }
}

/// Small POSIX file helpers that report errors with the path.
enum POSIXFile {
    static func writeFully(_ fd: Int32, _ bytes: UnsafeRawPointer, byteCount: Int, path: String) throws {
        var done = 0
        while done < byteCount {
            let n = write(fd, bytes + done, byteCount - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw SieveTransformsError.storeIO(path: path, reason: "write failed: \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    static func readFully(_ fd: Int32, _ bytes: UnsafeMutableRawPointer, byteCount: Int, path: String) throws {
        var done = 0
        while done < byteCount {
            let n = read(fd, bytes + done, byteCount - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw SieveTransformsError.storeIO(path: path, reason: "read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { throw SieveTransformsError.storeIO(path: path, reason: "ends after \(done) of \(byteCount) bytes") }
            done += n
        }
    }
}

/// A growable scratch buffer that reallocates only when a larger size is needed.
final class ScratchBuffer<Element> {
    private(set) var pointer: UnsafeMutablePointer<Element>
    private(set) var capacity: Int

    init(capacity: Int = 0) {
        self.capacity = max(1, capacity)
        pointer = .allocate(capacity: self.capacity)
    }

    deinit { pointer.deallocate() }

    /// Room for at least `count` elements (contents are not kept when it grows).
    func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            pointer.deallocate()
            capacity = count
            pointer = .allocate(capacity: count)
        }
        return pointer
    }
}

/// Records calibration data while the runtime runs the dense model: its `observe` is the runtime's
/// `Model.activationObserver`, and it streams, for the tokens it keeps, every block's input, FFN activation magnitudes and head output norms (and the first block's FFN input) into a `CalibrationStore`
/// as f16 rows.
///
/// Memory stays bounded: besides the open files it holds one batch of converted rows (`batch · max(hidden, ffn)`
/// values); everything else goes to disk. Tokens at positions below `skipLeadingPositions` (the BOS / attention-sink
/// position, whose activations are outliers that sparse decode never sees) and tokens past `maxTokens` are not
/// recorded; `tokenStride` keeps every n-th position to subsample long texts.
///
/// Errors (a full disk, an unexpected row width) are remembered and thrown by `finish()`; `observe` itself never
/// fails.
public final class CalibrationRecorder {
    /// Which tokens are recorded.
    public struct Options: Sendable, Equatable {
        /// Most tokens recorded; later tokens are ignored.
        public var maxTokens: Int
        /// Positions `0 ..< skipLeadingPositions` of every sequence are not recorded.
        public var skipLeadingPositions: Int
        /// Keep positions `skipLeadingPositions + k·tokenStride`.
        public var tokenStride: Int

        /// Record up to `maxTokens` tokens, skipping position 0 of every sequence, every token after it.
        public init(maxTokens: Int, skipLeadingPositions: Int = 1, tokenStride: Int = 1) {
            self.maxTokens = maxTokens
            self.skipLeadingPositions = skipLeadingPositions
            self.tokenStride = tokenStride
        }
    }

    /// The store's directory.
    public let directory: URL
    /// Sizes of what is recorded (`tokens` counts the tokens recorded so far).
    public private(set) var shape: CalibrationShape
    /// Which tokens are recorded.
    public let options: Options
    /// Tokens recorded so far.
    public var recordedTokens: Int { shape.tokens }

    /// Per block, the open file (descriptor and path) of each of its `RecordKind.kinds(block:_:)`.
    private var files: [[RecordKind: (fd: Int32, path: String)]]
    private var failure: Error?
    private var finished = false
    /// Rows of the current batch that are kept.
    private let kept = ScratchBuffer<Int>()
    private var keptCount = 0
    private var batchTokens = 0
    private var batchPosition = -1
    private var blocksSeen = 0
    private let floats = ScratchBuffer<Float>()
    private let halves = ScratchBuffer<UInt16>()

    /// Creates `directory` (which must not exist or be empty) and opens one file per block and record kind.
    public init(directory: URL, shape: CalibrationShape, options: Options) throws {
        guard options.maxTokens > 0, options.skipLeadingPositions >= 0, options.tokenStride >= 1 else {
            throw SieveTransformsError.invalidOption(name: "calibration tokens", value: "\(options.maxTokens)", reason: "must be positive, with a stride of at least 1")
        }
        guard shape.blocks > 0, shape.hidden > 0, shape.ffnWidth > 0, shape.heads > 0, shape.headDim > 0 else {
            throw SieveTransformsError.calibration(reason: "cannot record a model with empty dimensions \(shape)")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.directory = directory
        self.shape = shape
        self.shape.tokens = 0
        self.options = options
        var files = [[RecordKind: (fd: Int32, path: String)]](repeating: [:], count: shape.blocks)
        for block in 0..<shape.blocks {
            for kind in RecordKind.kinds(block: block, shape) {
                let path = directory.appendingPathComponent(kind.fileName(block: block)).path
                let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                guard fd >= 0 else {
                    for f in files.flatMap(\.values) { close(f.fd) }
                    throw SieveTransformsError.storeIO(path: path, reason: "cannot create: \(String(cString: strerror(errno)))")
                }
                files[block][kind] = (fd, path)
            }
        }
        self.files = files
    }

    deinit { closeFiles() }

    /// Records one block activation of the runtime (`Model.activationObserver = recorder.observe`). The runtime
    /// reports, for each batch and each block in order, the block input, the attention output, the FFN input (kept
    /// for the first `shape.feedForwardInputBlocks`) and the FFN activation; anything else is remembered as an error
    /// for `finish()`.
    public func observe(_ record: ActivationRecord) {
        guard failure == nil, !finished else { return }
        switch record.site {
        case .blockInput:
            if record.layer == 0 { startBatch(firstPosition: record.firstPosition, tokens: record.tokens) }
            guard check(record, width: shape.hidden) else { return }
            writeRows(record, kind: .input, width: shape.hidden) { src, dst in
                for c in 0..<self.shape.hidden { dst[c] = Self.clampToHalf(src[c]) }
            }
        case .attentionOutput:
            guard check(record, width: shape.heads * shape.headDim) else { return }
            let heads = shape.heads, headDim = shape.headDim
            writeRows(record, kind: .heads, width: heads) { src, dst in
                for h in 0..<heads {
                    var sum: Float = 0
                    for c in (h * headDim)..<((h + 1) * headDim) { sum += src[c] * src[c] }
                    dst[h] = Self.clampToHalf(sum.squareRoot())
                }
            }
        case .feedForwardInput:
            guard record.layer < shape.feedForwardInputBlocks else { return }
            guard check(record, width: shape.hidden) else { return }
            writeRows(record, kind: .ffnInput, width: shape.hidden) { src, dst in
                for c in 0..<self.shape.hidden { dst[c] = Self.clampToHalf(src[c]) }
            }
        case .feedForwardActivation:
            guard check(record, width: shape.ffnWidth) else { return }
            writeRows(record, kind: .ffn, width: shape.ffnWidth) { src, dst in
                for c in 0..<self.shape.ffnWidth { dst[c] = Self.clampToHalf(abs(src[c])) }
            }
            blocksSeen = max(blocksSeen, record.layer + 1)
            if record.layer == shape.blocks - 1 { shape.tokens += keptCount }
        }
    }

    /// Closes the files, writes `meta.json` and returns the store. Throws the first error met while recording,
    /// or when no token was recorded.
    public func finish() throws -> CalibrationStore {
        if let failure { closeFiles(); throw failure }
        guard !finished else { return try CalibrationStore(opening: directory) }
        finished = true
        closeFiles()
        guard shape.tokens > 0 else {
            throw SieveTransformsError.calibration(reason: "no token was recorded; the calibration text is shorter than \(options.skipLeadingPositions + 1) tokens per sequence or the runtime never called the observer")
        }
        let meta: JSONValue = .object([
            ("version", .int(1)), ("blocks", .int(Int64(shape.blocks))), ("hidden", .int(Int64(shape.hidden))),
            ("ffn_width", .int(Int64(shape.ffnWidth))), ("heads", .int(Int64(shape.heads))),
            ("head_dim", .int(Int64(shape.headDim))), ("tokens", .int(Int64(shape.tokens))),
            ("ffn_input_blocks", .int(Int64(shape.feedForwardInputBlocks))),
        ])
        let url = directory.appendingPathComponent(CalibrationStore.metaFile)
        do {
            try meta.serialized(pretty: true).write(to: url, atomically: true, encoding: .utf8)
        } catch {
            throw SieveTransformsError.storeIO(path: url.path, reason: "cannot write: \(error.localizedDescription)")
        }
        return try CalibrationStore(opening: directory)
    }

    @inline(__always)
    private static func clampToHalf(_ x: Float) -> Float { min(65504, max(-65504, x.isNaN ? 0 : x)) }

    private func startBatch(firstPosition: Int, tokens: Int) {
        if batchPosition >= 0 && blocksSeen != shape.blocks {
            failure = SieveTransformsError.calibration(reason: "a batch reached block \(blocksSeen - 1) of \(shape.blocks) before the next began; the runtime must observe every block")
            return
        }
        batchPosition = firstPosition
        batchTokens = tokens
        blocksSeen = 0
        let indices = kept.reserve(max(1, tokens))
        keptCount = 0
        for t in 0..<tokens {
            let p = firstPosition + t
            if shape.tokens + keptCount >= options.maxTokens { break }
            if p >= options.skipLeadingPositions && (p - options.skipLeadingPositions) % options.tokenStride == 0 {
                indices[keptCount] = t
                keptCount += 1
            }
        }
    }

    private func check(_ record: ActivationRecord, width: Int) -> Bool {
        let what = record.site.rawValue
        guard record.layer >= 0 && record.layer < shape.blocks else {
            failure = SieveTransformsError.calibration(reason: "the runtime observed block \(record.layer), the graph has \(shape.blocks)")
            return false
        }
        guard record.firstPosition == batchPosition && record.tokens == batchTokens else {
            failure = SieveTransformsError.calibration(reason: "block \(record.layer)'s \(what) covers \(record.tokens) tokens at position \(record.firstPosition), but the batch began with \(batchTokens) tokens at \(batchPosition)")
            return false
        }
        guard record.width == width, record.values.count >= record.tokens * width else {
            failure = SieveTransformsError.calibration(reason: "block \(record.layer)'s \(what) rows have \(record.width) values, \(width) expected")
            return false
        }
        return true
    }

    /// Converts the kept rows of `record` with `convert(sourceRow, destinationRow)` and appends them to the file.
    private func writeRows(_ record: ActivationRecord, kind: RecordKind, width: Int,
                           _ convert: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        guard keptCount > 0, let base = record.values.baseAddress else { return }
        let out = floats.reserve(keptCount * width)
        for i in 0..<keptCount { convert(base + kept.pointer[i] * record.width, out + i * width) }
        store(block: record.layer, kind: kind, values: out, count: keptCount * width)
    }

    private func store(block: Int, kind: RecordKind, values: UnsafeMutablePointer<Float>, count: Int) {
        let h = halves.reserve(count)
        Convert.floatToHalf(values, into: h, count: count)
        guard let file = files[block][kind] else { return }
        do {
            try POSIXFile.writeFully(file.fd, UnsafeRawPointer(h), byteCount: count * 2, path: file.path)
        } catch {
            failure = error
        }
    }

    private func closeFiles() {
        for file in files.flatMap(\.values) { close(file.fd) }
        files = []
    }
}
