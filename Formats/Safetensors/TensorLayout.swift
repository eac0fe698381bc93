import SieveCore

/// Re-layouts of plain-dtype tensors needed to move between Hugging Face and IR conventions: transposing
/// (GPT-2 `Conv1D` weights are `[in, out]`), splitting a fused projection into parts and fusing parts back.
/// Results are owned buffers, except row slices of a mapped tensor, which stay zero-copy views.
enum TensorLayout {
    /// `[rows, cols]` → `[cols.count, rows]`: the transpose of the column range `columns`.
    static func transposed(_ t: Tensor, columns: Range<Int>? = nil, name: String, source: String) throws -> Tensor {
        let (rows, cols) = try matrixDims(t, source: source)
        let range = columns ?? 0..<cols
        precondition(range.lowerBound >= 0 && range.upperBound <= cols, "column range \(range) outside \(cols) columns")
        let size = try elementSize(t, source: source)
        let buffer = TensorBuffer(count: rows * range.count * size)
        transposeBlock(elementSize: size, source: t.bytes, sourceStride: cols, sourceColumn: range.lowerBound,
                       rows: rows, cols: range.count,
                       destination: buffer.bytes, destinationStride: rows, destinationColumn: 0)
        return try Tensor(name: name, dtype: t.dtype, shape: [range.count, rows], storage: .owned(buffer), source: source)
    }

    /// Parts `[out_p, in]` (one dtype) → `[in, Σ out_p]`: each part transposed into its own column range.
    static func fusedTransposed(_ parts: [Tensor], name: String, source: String) throws -> Tensor {
        let dims = try parts.map { try matrixDims($0, source: source) }
        let inner = dims[0].cols
        guard dims.allSatisfy({ $0.cols == inner }), parts.allSatisfy({ $0.dtype == parts[0].dtype }) else {
            throw SieveCoreError.invalidShape(source: source, tensor: name, reason: "parts \(parts.map(\.name)) differ in input size or dtype and cannot be fused")
        }
        let size = try elementSize(parts[0], source: source)
        let total = dims.reduce(0) { $0 + $1.rows }
        let buffer = TensorBuffer(count: inner * total * size)
        var column = 0
        for (part, d) in zip(parts, dims) {
            transposeBlock(elementSize: size, source: part.bytes, sourceStride: d.cols, sourceColumn: 0,
                           rows: d.rows, cols: d.cols,
                           destination: buffer.bytes, destinationStride: total, destinationColumn: column)
            column += d.rows
        }
        return try Tensor(name: name, dtype: parts[0].dtype, shape: [inner, total], storage: .owned(buffer), source: source)
    }

    /// Rows `rows` of a tensor (along its first dimension): a view of the same mapping when mapped, else a copy.
    static func rowSlice(_ t: Tensor, rows: Range<Int>, name: String, source: String) throws -> Tensor {
        guard let outer = t.shape.dims.first, rows.lowerBound >= 0, rows.upperBound <= outer else {
            throw SieveCoreError.invalidShape(source: source, tensor: t.name, reason: "cannot take rows \(rows) of shape \(t.shape)")
        }
        let rowBytes = outer == 0 ? 0 : t.byteCount / outer
        var shape = t.shape.dims
        shape[0] = rows.count
        let storage: TensorStorage
        switch t.storage {
        case let .mapped(file, offset, _):
            storage = .mapped(file, offset: offset + rows.lowerBound * rowBytes, count: rows.count * rowBytes)
        case .owned, .deferred:
            storage = .owned(TensorBuffer(copying: UnsafeRawBufferPointer(rebasing: t.bytes[(rows.lowerBound * rowBytes)..<(rows.upperBound * rowBytes)])))
        }
        return try Tensor(name: name, dtype: t.dtype, shape: Shape(shape), storage: storage, source: source)
    }

    /// Rows `rows` of every group along the first dimension (`[groups, rows, …]` → `[groups, rows.count, …]`), copied
    /// when first read (`DeferredBuffer`): one part of each expert of a stacked `[experts, rows, columns]` tensor.
    static func groupRowSlice(_ t: Tensor, rows: Range<Int>, name: String, source: String) throws -> Tensor {
        guard t.shape.rank >= 2, case let (groups, total) = (t.shape.dims[0], t.shape.dims[1]), rows.lowerBound >= 0, rows.upperBound <= total else {
            throw SieveCoreError.invalidShape(source: source, tensor: t.name, reason: "cannot take rows \(rows) of each group of shape \(t.shape)")
        }
        let rowBytes = groups * total == 0 ? 0 : t.byteCount / (groups * total)
        var shape = t.shape.dims
        shape[1] = rows.count
        let (groupBytes, partBytes) = (total * rowBytes, rows.count * rowBytes)
        let buffer = DeferredBuffer(count: groups * partBytes) { buffer in
            t.storage.withTemporaryBytes { bytes in
                for g in 0..<groups where partBytes > 0 {
                    let from = g * groupBytes + rows.lowerBound * rowBytes
                    UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[(g * partBytes)..<((g + 1) * partBytes)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[from..<(from + partBytes)]))
                }
            }
        }
        return try Tensor(name: name, dtype: t.dtype, shape: Shape(shape), storage: .deferred(buffer), source: source)
    }

    /// Parts `[groups, rows_p, …]` of one dtype → `[groups, Σ rows_p, …]`: each group's rows of every part, one part
    /// after another (the inverse of `groupRowSlice`).
    static func groupConcatenated(_ parts: [Tensor], name: String, source: String) throws -> Tensor {
        guard let first = parts.first, first.shape.rank >= 2, parts.allSatisfy({
            $0.shape.rank == first.shape.rank && $0.shape.dims[0] == first.shape.dims[0]
                && Array($0.shape.dims.dropFirst(2)) == Array(first.shape.dims.dropFirst(2)) && $0.dtype == first.dtype
        }) else {
            throw SieveCoreError.invalidShape(source: source, tensor: name, reason: "parts \(parts.map { "\($0.name) \($0.shape)" }) do not share one dtype, their groups and their trailing dimensions")
        }
        let groups = first.shape.dims[0]
        let partBytes = parts.map { groups == 0 ? 0 : $0.byteCount / groups }, groupBytes = partBytes.reduce(0, +)
        let buffer = TensorBuffer(count: groups * groupBytes)
        for (k, part) in parts.enumerated() where partBytes[k] > 0 {
            let offset = partBytes[..<k].reduce(0, +)
            part.storage.withTemporaryBytes { bytes in
                for g in 0..<groups {
                    UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[(g * groupBytes + offset)..<(g * groupBytes + offset + partBytes[k])])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[(g * partBytes[k])..<((g + 1) * partBytes[k])]))
                }
            }
        }
        var shape = first.shape.dims
        shape[1] = parts.reduce(0) { $0 + $1.shape.dims[1] }
        return try Tensor(name: name, dtype: first.dtype, shape: Shape(shape), storage: .owned(buffer), source: source)
    }

    /// The tensor's values plus `offset`, as f32 (Gemma's norm weights are stored as the multiplier minus one).
    static func offset(_ t: Tensor, by offset: Float, name: String, source: String) throws -> Tensor {
        guard t.dtype.isFloat else {
            throw SieveCoreError.invalidShape(source: source, tensor: t.name, reason: "a norm weight must be a float tensor, not \(t.dtype.name)")
        }
        return Tensor(name: name, shape: t.shape, floats: try t.floats().map { $0 + offset })
    }

    /// Parts of one dtype and the same trailing dimensions → stacked along the first (vectors: concatenated).
    static func concatenated(_ parts: [Tensor], name: String, source: String) throws -> Tensor {
        let trailing = parts.first.map { Array($0.shape.dims.dropFirst()) } ?? []
        guard parts.allSatisfy({ $0.shape.rank >= 1 && Array($0.shape.dims.dropFirst()) == trailing && $0.dtype == parts[0].dtype }) else {
            throw SieveCoreError.invalidShape(source: source, tensor: name, reason: "parts \(parts.map(\.name)) do not share one dtype and their trailing dimensions, so they cannot be stacked")
        }
        let buffer = TensorBuffer(count: parts.reduce(0) { $0 + $1.byteCount })
        var offset = 0
        for part in parts where part.byteCount > 0 {
            UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[offset..<(offset + part.byteCount)]).copyMemory(from: part.bytes)
            offset += part.byteCount
        }
        let rows = parts.reduce(0) { $0 + ($1.shape.dims.first ?? 0) }
        return try Tensor(name: name, dtype: parts[0].dtype, shape: Shape([rows] + trailing), storage: .owned(buffer), source: source)
    }

    /// Parts of one dtype and shape → `[parts.count] + shape`, gathered when first read (`DeferredBuffer`), so that a
    /// converter streaming a mixture of experts never holds a copy of all of them.
    static func stacked(_ parts: [Tensor], name: String, source: String) throws -> Tensor {
        guard let first = parts.first, parts.allSatisfy({ $0.shape == first.shape && $0.dtype == first.dtype }) else {
            throw SieveCoreError.invalidShape(source: source, tensor: name, reason: "parts \(parts.map { "\($0.name) \($0.shape) \($0.dtype.name)" }.joined(separator: ", ")) do not share one dtype and shape, so they cannot be stacked")
        }
        let size = first.byteCount
        let buffer = DeferredBuffer(count: size * parts.count) { buffer in
            for (k, part) in parts.enumerated() where size > 0 {
                part.storage.withTemporaryBytes { UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[(k * size)..<((k + 1) * size)]).copyMemory(from: $0) }
            }
        }
        return try Tensor(name: name, dtype: first.dtype, shape: Shape([parts.count] + first.shape.dims), storage: .deferred(buffer), source: source)
    }

    private static func matrixDims(_ t: Tensor, source: String) throws -> (rows: Int, cols: Int) {
        guard t.shape.rank == 2 else {
            throw SieveCoreError.invalidShape(source: source, tensor: t.name, reason: "expected a matrix but the shape is \(t.shape)")
        }
        return (t.shape.dims[0], t.shape.dims[1])
    }

    private static func elementSize(_ t: Tensor, source: String) throws -> Int {
        guard !t.dtype.isQuantized else {
            throw SieveCoreError.unsupportedConversion(source: "\(source): tensor '\(t.name)'", from: t.dtype.name, to: "a transposed layout")
        }
        return t.dtype.blockBytes
    }

    /// `destination[c][destinationColumn + r] = source[r][sourceColumn + c]` for `r < rows`, `c < cols`;
    /// strides are in elements.
    private static func transposeBlock(elementSize: Int, source: UnsafeRawBufferPointer, sourceStride: Int, sourceColumn: Int,
                                       rows: Int, cols: Int, destination: UnsafeMutableRawBufferPointer,
                                       destinationStride: Int, destinationColumn: Int) {
        switch elementSize {
        case 1: transposeBlock(UInt8.self, source, sourceStride, sourceColumn, rows, cols, destination, destinationStride, destinationColumn)
        case 2: transposeBlock(UInt16.self, source, sourceStride, sourceColumn, rows, cols, destination, destinationStride, destinationColumn)
        case 4: transposeBlock(UInt32.self, source, sourceStride, sourceColumn, rows, cols, destination, destinationStride, destinationColumn)
        default: transposeBlock(UInt64.self, source, sourceStride, sourceColumn, rows, cols, destination, destinationStride, destinationColumn)
        }
    }

    private static func transposeBlock<T: FixedWidthInteger>(_: T.Type, _ source: UnsafeRawBufferPointer, _ sourceStride: Int,
                                                              _ sourceColumn: Int, _ rows: Int, _ cols: Int,
                                                              _ destination: UnsafeMutableRawBufferPointer,
                                                              _ destinationStride: Int, _ destinationColumn: Int) {
        let size = MemoryLayout<T>.size
        for r in 0..<rows {
            let sourceRow = (r * sourceStride + sourceColumn) * size
            for c in 0..<cols {
                let value = source.loadUnaligned(fromByteOffset: sourceRow + c * size, as: T.self)
                destination.storeBytes(of: value, toByteOffset: (c * destinationStride + destinationColumn + r) * size, as: T.self)
            }
        }
    }
}
