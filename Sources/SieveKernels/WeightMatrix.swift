import SieveCore

/// A row-major weight matrix `[rows, columns]` as the matrix kernels read it: a pointer to the stored bytes in
/// the tensor's own encoding (never converted), its dtype and shape.
///
/// The matrix keeps the tensor's storage (mapped file or owned buffer) alive. Rows of block-quantized types are
/// whole numbers of blocks, so a row starts at `row * rowBytes`.
public struct WeightMatrix: @unchecked Sendable {
    /// The weight types with matrix kernels.
    public static let supportedTypes: [DType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q4_K, .q6_K]

    /// The tensor's name, for error messages.
    public let name: String
    /// Element type, shape and address: what the kernels read (no reference counting when copied).
    let layout: WeightLayout
    private let owner: AnyObject?

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

    /// Views a tensor as a matrix: the innermost dimension is the columns, all outer dimensions are rows.
    public init(_ tensor: Tensor) throws {
        let owner: AnyObject
        switch tensor.storage {
        case let .mapped(file, _, _): owner = file
        case let .owned(buffer): owner = buffer
        }
        try self.init(bytes: tensor.bytes, dtype: tensor.dtype, rows: tensor.shape.rows, columns: tensor.shape.innermost,
                      name: tensor.name, owner: owner)
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
        layout = WeightLayout(dtype: dtype, rows: rows, columns: columns, rowBytes: rowBytes, base: start)
        self.owner = owner
    }

    private init(slicing m: WeightMatrix, rows range: Range<Int>) {
        name = m.name
        layout = WeightLayout(dtype: m.dtype, rows: range.count, columns: m.columns, rowBytes: m.rowBytes,
                              base: m.base + range.lowerBound * m.rowBytes)
        owner = m.owner
    }

    /// The matrix made of rows `range` (no copy), e.g. the Q, K and V parts of a fused QKV weight.
    public func rows(_ range: Range<Int>) -> WeightMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) outside 0..<\(rows)")
        return WeightMatrix(slicing: self, rows: range)
    }

    /// Address of row `r`.
    @inline(__always)
    func row(_ r: Int) -> UnsafeRawPointer { layout.row(r) }

    /// Decodes row `r` to floats into `out[0..<columns]` with the vectorized dequantizers (embedding lookups).
    public func decodeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(r >= 0 && r < rows, "row \(r) outside 0..<\(rows)")
        Dequantize.row(row(r), dtype: dtype, columns: columns, into: out)
    }

    /// Decodes row `r` with the scalar reference decoders (`QuantizedCodecs`, `HalfPrecision`).
    public func decodeRowReference(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(r >= 0 && r < rows, "row \(r) outside 0..<\(rows)")
        Dequantize.rowReference(row(r), dtype: dtype, columns: columns, into: out)
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

    /// Address of row `r`.
    @inline(__always)
    func row(_ r: Int) -> UnsafeRawPointer { base + r * rowBytes }
}
