import SieveCore
import SieveKernels

/// A dense row-major `[rows, columns]` matrix of f32 values in an owned, 64-byte-aligned buffer: the working
/// type of the passes (calibration records, predictor weights, gradients).
///
/// A reference type: copies share the buffer (matrices here are large and passed between stages without
/// copying); `copy()` duplicates. Row `r` is the contiguous range `r·columns ..< (r+1)·columns`.
public final class FloatMatrix: @unchecked Sendable {
    /// Number of rows.
    public let rows: Int
    /// Number of columns.
    public let columns: Int
    let buffer: TensorBuffer
    /// The first element.
    @usableFromInline let base: UnsafeMutablePointer<Float>

    /// A `[rows, columns]` matrix of zeros.
    public init(rows: Int, columns: Int) {
        precondition(rows >= 0 && columns >= 0, "a matrix needs non-negative dimensions")
        self.rows = rows
        self.columns = columns
        buffer = TensorBuffer(count: rows * columns * MemoryLayout<Float>.stride)
        base = buffer.bytes.baseAddress!.bindMemory(to: Float.self, capacity: max(1, rows * columns))
    }

    /// A `[rows, columns]` matrix holding `values` (row-major).
    public convenience init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns, "\(values.count) values for a \(rows)×\(columns) matrix")
        self.init(rows: rows, columns: columns)
        values.withUnsafeBufferPointer { if let p = $0.baseAddress { base.update(from: p, count: values.count) } }
    }

    /// Number of elements.
    public var count: Int { rows * columns }

    /// Element `(r, c)`.
    @inlinable
    public subscript(r: Int, c: Int) -> Float {
        get { row(r)[c] }
        set { row(r)[c] = newValue }
    }

    /// Row `r` (valid while the matrix is alive).
    @inlinable
    public func row(_ r: Int) -> UnsafeMutableBufferPointer<Float> {
        precondition(r >= 0 && r < rows, "row \(r) outside 0..<\(rows)")
        return UnsafeMutableBufferPointer(start: elements + r * columns, count: columns)
    }

    /// All elements, row-major (valid while the matrix is alive).
    @inlinable
    public var elements: UnsafeMutablePointer<Float> { base }

    /// The elements as an array (a copy).
    public var values: [Float] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// An independent copy.
    public func copy() -> FloatMatrix {
        let m = FloatMatrix(rows: rows, columns: columns)
        m.base.update(from: base, count: count)
        return m
    }

    /// The transpose `[columns, rows]`.
    public func transposed() -> FloatMatrix {
        let t = FloatMatrix(rows: columns, columns: rows)
        transpose(into: t)
        return t
    }

    /// Writes the transpose into `t`, which must be `[columns, rows]`.
    func transpose(into t: FloatMatrix) {
        precondition(t.rows == columns && t.columns == rows, "transpose of \(rows)×\(columns) into \(t.rows)×\(t.columns)")
        // Tiles of 32×32 keep both sides in cache.
        let tile = 32
        var r0 = 0
        while r0 < rows {
            let r1 = min(rows, r0 + tile)
            var c0 = 0
            while c0 < columns {
                let c1 = min(columns, c0 + tile)
                for r in r0..<r1 {
                    let src = base + r * columns
                    for c in c0..<c1 { t.base[c * rows + r] = src[c] }
                }
                c0 = c1
            }
            r0 = r1
        }
    }

    /// Sets every element to `value`.
    public func fill(_ value: Float) { base.update(repeating: value, count: count) }

    /// The matrix as an f32 `WeightMatrix` for the SieveKernels products (shares the buffer).
    var weightMatrix: WeightMatrix {
        // Cannot fail: f32 rows of any positive length are whole blocks and the byte count matches.
        try! WeightMatrix(bytes: UnsafeRawBufferPointer(buffer.bytes), dtype: .f32, rows: rows, columns: columns,
                          name: "matrix", owner: buffer)
    }

    /// An f32 tensor `[rows, columns]` holding a copy of the values.
    public func tensor(name: String) -> Tensor {
        Tensor(name: name, shape: [rows, columns], floats: values)
    }

    /// The f32 values of a 2-D tensor (dequantized when quantized).
    public convenience init(tensor: Tensor) throws {
        guard tensor.shape.rank == 2 else {
            throw SieveTransformsError.unsupportedGraph(block: nil, reason: "tensor \(tensor.name) has shape \(tensor.shape), a matrix was expected")
        }
        self.init(rows: tensor.shape.dims[0], columns: tensor.shape.dims[1])
        try DTypeCodec.decode(tensor.bytes, dtype: tensor.dtype, into: UnsafeMutableBufferPointer(start: base, count: count), tensor: tensor.name)
    }
}

/// Matrix products `C = A·Bᵀ` on f32 matrices, computed by the SieveKernels products on a `ThreadPool`.
///
/// The kernels' natural form is `y[t] = W·x[t]` for each row `x[t]` of an input, i.e. `C = A·Bᵀ` with `A` the
/// input and `B` the weights; other forms are obtained by transposing operands explicitly. The input buffers the
/// kernels need are allocated once for the largest shape seen and reused, so a training loop allocates nothing
/// per product once warmed up.
public final class MatrixProducts: @unchecked Sendable {
    /// The pool the products run on.
    public let pool: ThreadPool
    private var input: MatMulInput?

    /// Products on `pool`.
    public init(pool: ThreadPool) { self.pool = pool }

    /// Products on a new pool of `threads` threads.
    public convenience init(threads: Int) { self.init(pool: ThreadPool(threads: threads)) }

    /// `c = a·bᵀ` for `a` `[m, k]`, `b` `[n, k]`, `c` `[m, n]`.
    public func multiplyTransposed(_ a: FloatMatrix, _ b: FloatMatrix, into c: FloatMatrix) {
        multiplyTransposed(a, rows: a.rows, b, into: c)
    }

    /// `c[0..<rows] = a[0..<rows]·bᵀ` — only the first `rows` rows of `a` and `c` (batches smaller than the
    /// buffers they live in).
    public func multiplyTransposed(_ a: FloatMatrix, rows: Int, _ b: FloatMatrix, into c: FloatMatrix) {
        precondition(a.columns == b.columns, "A·Bᵀ needs equal inner sizes, got \(a.columns) and \(b.columns)")
        precondition(c.rows >= rows && rows <= a.rows && c.columns == b.rows, "A·Bᵀ output is \(c.rows)×\(c.columns), expected \(rows)×\(b.rows)")
        guard rows > 0, b.rows > 0 else { return }
        let input = boundInput(tokens: rows, columns: a.columns)
        input.bind(UnsafePointer(a.base), tokens: rows, columns: a.columns)
        MatMul.multiply(b.weightMatrix, input, into: c.base, outputStride: c.columns, pool: pool)
    }

    private func boundInput(tokens: Int, columns: Int) -> MatMulInput {
        if let input, input.maxTokens >= tokens, input.maxColumns >= columns { return input }
        let grown = MatMulInput(maxTokens: max(tokens, input?.maxTokens ?? 0), maxColumns: max(columns, input?.maxColumns ?? 0),
                                threads: pool.threadCount)
        input = grown
        return grown
    }
}
