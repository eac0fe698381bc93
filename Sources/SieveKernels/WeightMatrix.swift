import Foundation
import SieveCore

/// A row-major weight matrix `[rows, columns]` as the matrix kernels read it: a pointer to the stored bytes in
/// the tensor's own encoding (never converted), its dtype and shape.
///
/// The matrix keeps the tensor's storage (mapped file or owned buffer) alive. Rows of block-quantized types are
/// whole numbers of blocks, so a row starts at `row * rowBytes`, except in the interleaved copy of a matrix
/// (`interleaved()`), which the group kernels read 16 rows at a time.
public struct WeightMatrix: @unchecked Sendable {
    /// The weight types with matrix kernels.
    public static let supportedTypes: [DType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K,
                                                 .iq4_nl, .iq4_xs, .mxfp4] + DType.allCases.filter(\.isGridQuantized)

    /// The tensor's name, for error messages.
    public let name: String
    /// Element type, shape and address: what the kernels read (no reference counting when copied).
    let layout: WeightLayout
    /// What keeps the bytes alive (a `MappedFile`, a `TensorBuffer`, or nil).
    let owner: AnyObject?

    /// Element type of the stored bytes.
    public var dtype: DType { layout.dtype }
    /// Number of rows (outputs of a product).
    public var rows: Int { layout.rows }
    /// Number of columns (inputs of a product).
    public var columns: Int { layout.columns }
    /// Bytes per row.
    public var rowBytes: Int { layout.rowBytes }
    /// The first byte of row 0.
    public var base: UnsafeRawPointer { layout.base }
    /// Whether the rows are re-laid 16 at a time (`interleaved()`).
    public var isInterleaved: Bool { layout.interleaved }

    /// Views a tensor as a matrix: the innermost dimension is the columns, all outer dimensions are rows.
    public init(_ tensor: Tensor) throws {
        try self.init(bytes: tensor.bytes, dtype: tensor.dtype, rows: tensor.shape.rows, columns: tensor.shape.innermost,
                      name: tensor.name, owner: tensor.storage.owner)
    }

    /// Views `bytes` as a `[rows, columns]` matrix of `dtype`; `owner` is retained to keep the bytes alive.
    public init(bytes: UnsafeRawBufferPointer, dtype: DType, rows: Int, columns: Int, name: String = "matrix", owner: AnyObject? = nil) throws {
        guard WeightMatrix.supportedTypes.contains(dtype) else {
            throw SieveKernelsError.unsupportedWeightType(tensor: name, dtype: dtype.name, supported: WeightMatrix.supportedTypes.map(\.name))
        }
        guard rows >= 0, columns > 0, columns % dtype.blockSize == 0 else {
            throw SieveKernelsError.invalidShape(tensor: name, reason: "\(rows)×\(columns) is not a matrix of whole \(dtype.name) blocks (block size \(dtype.blockSize))")
        }
        guard let rowBytes = dtype.byteCount(elements: columns) else {
            throw SieveKernelsError.invalidShape(tensor: name, reason: "a row of \(columns) \(dtype.name) values overflows")
        }
        let (total, overflow) = rowBytes.multipliedReportingOverflow(by: rows)
        guard !overflow, total == bytes.count else {
            throw SieveKernelsError.invalidShape(tensor: name, reason: "holds \(bytes.count) bytes, but \(rows)×\(columns) \(dtype.name) needs \(overflow ? "more than Int.max" : String(total))")
        }
        guard let start = bytes.baseAddress ?? (rows == 0 ? UnsafeRawPointer(bitPattern: 64) : nil) else {
            throw SieveKernelsError.invalidShape(tensor: name, reason: "has no storage")
        }
        self.name = name
        layout = WeightLayout(dtype: dtype, rows: rows, columns: columns, rowBytes: rowBytes, base: start, interleaved: false)
        self.owner = owner
    }

    private init(slicing m: WeightMatrix, rows range: Range<Int>) {
        name = m.name
        layout = WeightLayout(dtype: m.dtype, rows: range.count, columns: m.columns, rowBytes: m.rowBytes,
                              base: m.base + range.lowerBound * m.rowBytes, interleaved: m.isInterleaved)
        owner = m.owner
    }

    init(name: String, layout: WeightLayout, owner: AnyObject) {
        self.name = name
        self.layout = layout
        self.owner = owner
    }

    /// The matrix made of rows `range` (no copy), e.g. the Q, K and V parts of a fused QKV weight. An interleaved
    /// matrix is cut at whole groups of 16 rows.
    public func rows(_ range: Range<Int>) -> WeightMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) outside 0..<\(rows)")
        precondition(!isInterleaved || (range.lowerBound % 16 == 0 && range.upperBound % 16 == 0),
                     "an interleaved matrix is cut at multiples of 16 rows, not \(range)")
        return WeightMatrix(slicing: self, rows: range)
    }

    /// Address of row `r` (row-major matrices only).
    @inline(__always)
    func row(_ r: Int) -> UnsafeRawPointer { layout.row(r) }

    /// Whether `interleaved()` accepts this matrix: q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl, iq4_xs, q4_K or q5_K, a
    /// whole number of 16-row groups, row-major.
    public var canInterleave: Bool { Self.canInterleave(dtype, rows: rows) && !isInterleaved }

    /// Whether a row-major `[rows, n]` matrix of `dtype` can be interleaved: q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl
    /// (q4_0's block layout), iq4_xs, q4_K or q5_K, whole 16-row groups.
    public static func canInterleave(_ dtype: DType, rows: Int) -> Bool {
        [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .iq4_nl, .iq4_xs, .q4_K, .q5_K].contains(dtype) && rows > 0 && rows % 16 == 0
    }

    /// A copy re-laid for the 16-row kernels (`sieve_q4_1_interleaved16_tokens_vnni`, `_avx2`, …; `InterleavedQ4`): per
    /// group of 16 rows and block (32 columns; the super-block of 256 of iq4_xs, q4_K and q5_K), the 16 rows' scales, (q4_1,
    /// q5_1) their 16 mins, (iq4_xs) their 16 scales_h or (q4_K, q5_K) their 16 dmin, then the bytes after them in 64-byte
    /// chunks (q5's 32 fifth bits, then 4 × 4 nibble bytes; 8 × 4 code bytes for q8_0; iq4_xs's scales_l, then 8 × 4 × 4
    /// nibble bytes; q4_K's 3 × 4 bytes of scales and mins, then 32 × 4 nibble bytes; q5_K's with 8 × 4 bytes of
    /// fifth bits between them), chunk `c` holding each row's
    /// bytes `4c…4c+3` of those in turn. The bytes are as many as the
    /// row-major matrix's (a group block is 16 blocks), so `rows(_:)` and byte counts are unchanged. Every product and
    /// every row decoder reads it: decoded rows are exactly the row-major matrix's, and products with the VNNI or
    /// AVX2 kernels, decode and prefill alike, multiply 8-bit activations within
    /// `Tolerances.quantizedSameActivations` of the row-major matrix's decode products (the 16-row kernels sum in
    /// another order).
    public func interleaved() -> WeightMatrix {
        precondition(canInterleave, "\(name): only q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl, iq4_xs, q4_K and q5_K matrices of whole 16-row groups are interleaved")
        return Self.interleave(dtype: dtype, rows: rows, columns: columns, rowBytes: rowBytes, name: name) { row($0) }
    }

    /// The gate and up rows of a blocked feed-forward layer in one interleaved matrix (as `interleaved()`), block by
    /// block: rows `2B·b ..< 2B·b + B` are gate's rows `B·b ..< B·(b+1)`, the next `B` up's, so that one block's
    /// products read one contiguous stream. `blockRows` (B) must be a multiple of 16; both matrices q4_1 or q4_0 of
    /// the same shape and interleavable type. Half the blocks of SmolLM2-sized pairs multiplied 1.13–1.27× faster this way than
    /// from two matrices (from memory, two threads).
    public static func interleavedBlocks(gate: WeightMatrix, up: WeightMatrix, blockRows: Int) -> WeightMatrix {
        precondition(gate.canInterleave && up.canInterleave && gate.dtype == up.dtype && gate.rows == up.rows && gate.columns == up.columns,
                     "\(gate.name), \(up.name): gate and up must be interleavable matrices (`canInterleave`) of one type and shape")
        precondition(blockRows > 0 && blockRows % 16 == 0 && gate.rows % blockRows == 0, "blocks of \(blockRows) rows are not whole 16-row groups of \(gate.rows) rows")
        return interleave(dtype: gate.dtype, rows: 2 * gate.rows, columns: gate.columns, rowBytes: gate.rowBytes,
                          name: "\(gate.name)+\(up.name)") { r in
            let block = r / (2 * blockRows), i = r % (2 * blockRows)
            return i < blockRows ? gate.row(block * blockRows + i) : up.row(block * blockRows + i - blockRows)
        }
    }

    /// `interleavedBlocks(gate:up:blockRows:)` of two tensors, shared like `sharedInterleaved()`. Deferred tensors
    /// (`TensorStorage.deferred`) are read through temporary buffers and left unmade, so that a bundle's gate and up
    /// rows, gathered out of its blocks, are not held beside their fused copy.
    public static func sharedInterleavedBlocks(gate: Tensor, up: Tensor, blockRows: Int) throws -> WeightMatrix {
        try InterleavedCopies.shared.blocks(gate: gate, up: up, blockRows: blockRows)
    }

    /// A new interleaved matrix of `rows` rows whose row `r` (row-major encoding) is at `source(r)`.
    private static func interleave(dtype: DType, rows: Int, columns: Int, rowBytes: Int, name: String,
                                   source row: (Int) -> UnsafeRawPointer) -> WeightMatrix {
        let buffer = TensorBuffer(count: rows * rowBytes)
        let out = UnsafeMutableRawPointer(buffer.bytes.baseAddress!)
        let blocks = columns / dtype.blockSize, blockBytes = dtype.blockBytes
        let halves = WeightLayout.interleavedHalves(dtype), words = (blockBytes - 2 * halves) / 4
        let groupBlockBytes = 16 * blockBytes
        for r in 0..<rows {
            let source = row(r), group = r / 16, lane = r % 16
            for b in 0..<blocks {
                let block = source + blockBytes * b
                let target = out + (group * blocks + b) * groupBlockBytes
                // Scale, then (q4_1) min: 2 bytes each, lane by lane; then the code words.
                for h in 0..<halves {
                    let half = block.loadUnaligned(fromByteOffset: 2 * h, as: UInt16.self)
                    target.storeBytes(of: half, toByteOffset: WeightLayout.interleavedHalf(h, lane: lane), as: UInt16.self)
                }
                for c in 0..<words {
                    let word = block.loadUnaligned(fromByteOffset: 2 * halves + 4 * c, as: UInt32.self)
                    target.storeBytes(of: word, toByteOffset: WeightLayout.interleavedCodes(c, lane: lane, halves: halves), as: UInt32.self)
                }
            }
        }
        return WeightMatrix(name: name, layout: WeightLayout(dtype: dtype, rows: rows, columns: columns, rowBytes: rowBytes,
                                                             base: UnsafeRawPointer(out), interleaved: true),
                            owner: buffer)
    }

    /// `interleaved()`, shared: while a copy of these bytes is alive, every caller gets it (models compiled from one
    /// graph, e.g. the rows of `sieve bench --densities`, hold one copy between them). When the bytes are mapped from
    /// a file, their pages are released after copying (`MappedFile.releasePages(of:)`), so the process holds the
    /// weights once.
    public func sharedInterleaved() -> WeightMatrix {
        InterleavedCopies.shared.copy(of: self)
    }

    /// Decodes row `r` to floats into `out[0..<columns]` with the vectorized dequantizers (embedding lookups).
    public func decodeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(r >= 0 && r < rows, "row \(r) outside 0..<\(rows)")
        layout.withRow(r) { Dequantize.row($0, dtype: dtype, columns: columns, into: out) }
    }

    /// Decodes row `r` with the scalar reference decoders (`QuantizedCodecs`, `HalfPrecision`).
    public func decodeRowReference(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(r >= 0 && r < rows, "row \(r) outside 0..<\(rows)")
        layout.withRow(r) { Dequantize.rowReference($0, dtype: dtype, columns: columns, into: out) }
    }
}

/// The part of a `WeightMatrix` that the kernels read — element type, shape and the address of row 0 — as a
/// trivially copyable value: passing it around a decoded token's hundreds of products costs no reference counting
/// (the matrix's name and storage owner would cost three atomic operations per copy, on lines both threads touch).
/// Valid while the `WeightMatrix` it came from is alive.
struct WeightLayout {
    let dtype: DType
    let rows: Int
    let columns: Int
    let rowBytes: Int
    let base: UnsafeRawPointer
    /// Rows re-laid 16 at a time (`WeightMatrix.interleaved()`): `row(_:)` is then not a row; read rows through
    /// `withRow` or `copyRow`.
    let interleaved: Bool

    /// Address of row `r` (row-major layouts only).
    @inline(__always)
    func row(_ r: Int) -> UnsafeRawPointer {
        assert(!interleaved, "an interleaved matrix has no row addresses")
        return base + r * rowBytes
    }

    /// Bytes of one 16-row group (interleaved layouts).
    var groupBytes: Int { 16 * rowBytes }

    /// The 16-bit values that start each block of an interleavable type: the scale, and q4_1's or q5_1's min,
    /// iq4_xs's scales_h or q4_K's and q5_K's dmin.
    @inline(__always)
    static func interleavedHalves(_ dtype: DType) -> Int { [.q4_1, .q5_1, .iq4_xs, .q4_K, .q5_K].contains(dtype) ? 2 : 1 }

    /// Offset, in an interleaved group block, of half `h` (0: scale, 1: the min, iq4_xs's scales_h or q4_K's dmin) of
    /// lane (row) `lane`.
    @inline(__always)
    static func interleavedHalf(_ h: Int, lane: Int) -> Int { 32 * h + 2 * lane }

    /// Offset, in an interleaved group block after `halves` halves per row, of code word `c` (code bytes
    /// `4c…4c+3` after the halves: 4 words of 4-bit codes, q5's fifth bits and 4, 8 of q8_0's, iq4_xs's scales_l and
    /// 32, q4_K's 3 words of scales and 32, q5_K's 3, 8 of fifth bits and 32) of lane `lane`.
    @inline(__always)
    static func interleavedCodes(_ c: Int, lane: Int, halves: Int) -> Int { 32 * halves + 64 * c + 4 * lane }

    /// Copies row `r`, in the row-major encoding, to `out[0..<rowBytes]`.
    func copyRow(_ r: Int, into out: UnsafeMutableRawPointer) {
        guard interleaved else { return out.copyMemory(from: row(r), byteCount: rowBytes) }
        let blockBytes = dtype.blockBytes, blocks = columns / dtype.blockSize
        let halves = Self.interleavedHalves(dtype), words = (blockBytes - 2 * halves) / 4
        let lane = r % 16
        var source = base + (r / 16) * groupBytes
        for b in 0..<blocks {
            let block = out + blockBytes * b
            for h in 0..<halves {
                let half = source.loadUnaligned(fromByteOffset: Self.interleavedHalf(h, lane: lane), as: UInt16.self)
                block.storeBytes(of: half, toByteOffset: 2 * h, as: UInt16.self)
            }
            for c in 0..<words {
                let word = source.loadUnaligned(fromByteOffset: Self.interleavedCodes(c, lane: lane, halves: halves), as: UInt32.self)
                block.storeBytes(of: word, toByteOffset: 2 * halves + 4 * c, as: UInt32.self)
            }
            source += 16 * blockBytes
        }
    }

    /// Calls `body` with row `r` in the row-major encoding: its address, or a copy on the stack when interleaved.
    @inline(__always)
    func withRow<R>(_ r: Int, _ body: (UnsafeRawPointer) -> R) -> R {
        guard interleaved else { return body(row(r)) }
        return withUnsafeTemporaryAllocation(byteCount: rowBytes, alignment: 16) { scratch in
            copyRow(r, into: scratch.baseAddress!)
            return body(UnsafeRawPointer(scratch.baseAddress!))
        }
    }
}

/// The live interleaved copies, keyed by the bytes they were made from (see `WeightMatrix.sharedInterleaved()`).
/// An entry holds both objects weakly: the source's owner, so that a new object reusing a dead one's identity and
/// address never matches, and the copy's buffer, so that a copy lives exactly as long as a matrix uses it.
final class InterleavedCopies: @unchecked Sendable {
    static let shared = InterleavedCopies()

    private struct Key: Hashable {
        let owner: ObjectIdentifier
        let base: UInt
        let rows: Int
        let columns: Int
        let dtype: DType
        /// For a gate/up pair (`blocks(gate:up:blockRows:)`): up's owner, offset and the block size; else nil and 0.
        var upOwner: ObjectIdentifier?
        var upBase: UInt = 0
        var blockRows = 0
    }
    private struct Entry {
        weak var source: AnyObject?
        weak var buffer: TensorBuffer?
        let copy: WeightLayout
        let name: String
    }
    private var entries: [Key: Entry] = [:]
    private let lock = NSLock()

    func copy(of m: WeightMatrix) -> WeightMatrix {
        guard let owner = m.owner else { return m.interleaved() }
        let key = Key(owner: ObjectIdentifier(owner), base: UInt(bitPattern: m.base), rows: m.rows, columns: m.columns, dtype: m.dtype)
        return shared(key, source: owner) {
            let copy = m.interleaved()
            if let file = owner as? MappedFile {
                file.releasePages(of: UnsafeRawBufferPointer(start: m.base, count: m.rows * m.rowBytes))
            }
            return copy
        }
    }

    /// The shared `WeightMatrix.interleavedBlocks(gate:up:blockRows:)` of a pair of tensors (keyed by the identity of
    /// gate's and up's bytes). Deferred bytes are read through temporary buffers and stay unmade; a mapped source's
    /// pages are not released: the runner's other paths read gate and up row by row.
    func blocks(gate: Tensor, up: Tensor, blockRows: Int) throws -> WeightMatrix {
        let g = gate.storage.identity, u = up.storage.identity
        let key = Key(owner: ObjectIdentifier(g.object), base: UInt(g.offset), rows: gate.shape.rows, columns: gate.shape.innermost,
                      dtype: gate.dtype, upOwner: ObjectIdentifier(u.object), upBase: UInt(u.offset), blockRows: blockRows)
        return try shared(key, source: g.object) {
            try gate.storage.withTemporaryBytes { gateBytes in
                try up.storage.withTemporaryBytes { upBytes in
                    let gateRows = try WeightMatrix(bytes: gateBytes, dtype: gate.dtype, rows: gate.shape.rows,
                                                    columns: gate.shape.innermost, name: gate.name)
                    let upRows = try WeightMatrix(bytes: upBytes, dtype: up.dtype, rows: up.shape.rows, columns: up.shape.innermost,
                                                  name: up.name)
                    return WeightMatrix.interleavedBlocks(gate: gateRows, up: upRows, blockRows: blockRows)
                }
            }
        }
    }

    /// The live copy under `key`, or `make()`'s, remembered while `source` and the copy live.
    private func shared(_ key: Key, source: AnyObject, _ make: () throws -> WeightMatrix) rethrows -> WeightMatrix {
        lock.lock()
        defer { lock.unlock() }
        if let e = entries[key], e.source != nil, let buffer = e.buffer {
            return WeightMatrix(name: e.name, layout: e.copy, owner: buffer)
        }
        entries = entries.filter { $0.value.source != nil && $0.value.buffer != nil }
        let copy = try make()
        guard let buffer = copy.owner as? TensorBuffer else { return copy }
        entries[key] = Entry(source: source, buffer: buffer, copy: copy.layout, name: copy.name)
        return copy
    }
}
