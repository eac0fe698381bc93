import SieveCore

/// An owned, 64-byte-aligned array of floats that the forward pass reads and writes through raw pointers
/// (activations, norm weights, biases). Allocated once when a model is compiled.
final class FloatBuffer {
    /// The first element.
    let pointer: UnsafeMutablePointer<Float>
    /// Number of elements.
    let count: Int

    /// `count` zeros.
    init(count: Int) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
        self.count = count
    }

    /// A copy of `values`.
    convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { if let base = $0.baseAddress { pointer.update(from: base, count: values.count) } }
    }

    /// The tensor's values decoded to floats (norm weights and biases are small).
    convenience init(tensor: Tensor) throws {
        try self.init(tensor.floats())
    }

    deinit { pointer.deallocate() }

    /// Start of row `row` when the buffer is viewed as rows of `width` floats.
    @inline(__always)
    func row(_ row: Int, width: Int) -> UnsafeMutablePointer<Float> {
        assert((row + 1) * width <= count, "row \(row) of width \(width) outside a buffer of \(count)")
        return pointer + row * width
    }

    /// The elements `range` as a buffer pointer.
    @inline(__always)
    func slice(_ start: Int, _ length: Int) -> UnsafeMutableBufferPointer<Float> {
        assert(start >= 0 && start + length <= count, "slice \(start)+\(length) outside a buffer of \(count)")
        return UnsafeMutableBufferPointer(start: pointer + start, count: length)
    }
}

/// An owned array of `Int`s the forward pass writes through a buffer pointer (a list of row indices). Allocated
/// once when a model is compiled.
final class IndexBuffer {
    /// The elements.
    let buffer: UnsafeMutableBufferPointer<Int>

    /// `count` zeros.
    init(count: Int) {
        buffer = .allocate(capacity: count)
        buffer.initialize(repeating: 0)
    }

    deinit { buffer.deallocate() }
}
