import Foundation

/// An owned, 64-byte-aligned, mutable byte buffer holding one tensor's data.
///
/// Buffers of `mappedThreshold` bytes or more are anonymous memory maps of their own: the system zeroes their
/// pages on first touch, and freeing one returns its memory at once. From malloc's heap, freed weights (a graph's
/// copies once a model has re-laid them) stayed in the process: 35 MB of SmolLM2's bundle after loading.
public final class TensorBuffer: @unchecked Sendable {
    /// The buffer's bytes.
    public let bytes: UnsafeMutableRawBufferPointer
    /// Whether `bytes` is a memory map of its own (unmapped on deinit) rather than a heap allocation.
    private let isMapped: Bool

    /// Bytes from which a buffer is mapped rather than allocated from the heap (glibc's own default threshold).
    static let mappedThreshold = 128 << 10

    /// Allocates `count` zeroed bytes.
    public init(count: Int) {
        if count >= Self.mappedThreshold,
           let p = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED {
            bytes = UnsafeMutableRawBufferPointer(start: p, count: count)
            isMapped = true
            return
        }
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
        bytes = UnsafeMutableRawBufferPointer(start: p, count: count)
        isMapped = false
    }

    /// Copies `source` into a new buffer.
    public convenience init(copying source: UnsafeRawBufferPointer) {
        self.init(count: source.count)
        if source.count > 0 { bytes.copyMemory(from: source) }
    }

    /// Copies the elements of `values` into a new buffer.
    public convenience init<T>(values: [T]) {
        self.init(count: values.count * MemoryLayout<T>.stride)
        values.withUnsafeBytes { if $0.count > 0 { bytes.copyMemory(from: $0) } }
    }

    deinit {
        if isMapped {
            munmap(bytes.baseAddress, bytes.count)
        } else {
            bytes.baseAddress?.deallocate()
        }
    }
}

/// An owned buffer made when its bytes are first read, then kept: a tensor gathered from parts of a file that a
/// model may never read (a bundle's transposed down, when the model multiplies the kept source down instead).
public final class DeferredBuffer: @unchecked Sendable {
    /// Bytes of the buffer.
    public let count: Int
    private let fill: (TensorBuffer) -> Void
    private let lock = NSLock()
    private var made: TensorBuffer?

    /// A buffer of `count` bytes that `fill` writes into the buffer it is given: once, under a lock, when they are
    /// first read (`buffer`), or into a temporary buffer (`withTemporaryBytes`).
    public init(count: Int, fill: @escaping (TensorBuffer) -> Void) {
        self.count = count
        self.fill = fill
    }

    /// The buffer, made on first use.
    public var buffer: TensorBuffer {
        lock.withLock {
            if let made { return made }
            let buffer = TensorBuffer(count: count)
            fill(buffer)
            made = buffer
            return buffer
        }
    }

    /// Whether the buffer has been made.
    public var isMade: Bool { lock.withLock { made != nil } }

    /// Calls `body` with the bytes without making the buffer: the made buffer's, else a temporary one's, filled for
    /// the call and freed after it (for a one-time copy of the bytes into another layout), or kept for the next
    /// call while `reusingTemporaryBuffers` runs.
    public func withTemporaryBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let made = lock.withLock({ made }) { return try body(UnsafeRawBufferPointer(made.bytes)) }
        let temporary = Self.spares.take(count)
        defer { Self.spares.giveBack(temporary) }
        fill(temporary)
        return try body(UnsafeRawBufferPointer(rebasing: temporary.bytes[0..<count]))
    }

    /// Runs `body`, within which the temporary buffers of `withTemporaryBytes` are kept and reused rather than freed
    /// (until the outermost call returns). Compiling a model gathers each layer's gate and up in turn, and fresh
    /// pages cost a fault and zeroing each: 15% of loading a SmolLM2 bundle.
    public static func reusingTemporaryBuffers<R>(_ body: () throws -> R) rethrows -> R {
        spares.enter()
        defer { spares.leave() }
        return try body()
    }

    private static let spares = SpareBuffers()
}

/// Temporary buffers kept for reuse while a `DeferredBuffer.reusingTemporaryBuffers` scope is open (at most
/// `limit`: a gate and an up copy alive at once, and room for a layer of another size).
private final class SpareBuffers: @unchecked Sendable {
    private static let limit = 4
    private let lock = NSLock()
    private var scopes = 0
    private var buffers: [TensorBuffer] = []

    func enter() { lock.withLock { scopes += 1 } }

    func leave() {
        // The buffers are handed out of the lock and freed there.
        _ = lock.withLock { () -> [TensorBuffer] in
            scopes -= 1
            guard scopes == 0 else { return [] }
            defer { buffers = [] }
            return buffers
        }
    }

    /// The smallest kept buffer of at least `count` bytes, or a new one.
    func take(_ count: Int) -> TensorBuffer {
        let kept: TensorBuffer? = lock.withLock {
            guard let i = buffers.indices.lazy.filter({ self.buffers[$0].bytes.count >= count })
                .min(by: { self.buffers[$0].bytes.count < self.buffers[$1].bytes.count }) else { return nil }
            return buffers.remove(at: i)
        }
        return kept ?? TensorBuffer(count: count)
    }

    func giveBack(_ buffer: TensorBuffer) {
        lock.withLock { if scopes > 0 && buffers.count < Self.limit { buffers.append(buffer) } }
    }
}

/// Where a tensor's bytes live: a slice of a memory-mapped file (zero copy), an owned buffer, or an owned buffer
/// made on first read.
public enum TensorStorage: @unchecked Sendable {
    /// `count` bytes at `offset` in a mapped file.
    case mapped(MappedFile, offset: Int, count: Int)
    /// An owned buffer.
    case owned(TensorBuffer)
    /// An owned buffer made when the bytes are first read.
    case deferred(DeferredBuffer)

    /// The stored bytes (a deferred buffer is made here).
    public var bytes: UnsafeRawBufferPointer {
        switch self {
        case let .mapped(file, offset, count):
            return UnsafeRawBufferPointer(rebasing: file.bytes[offset..<(offset + count)])
        case let .owned(buffer):
            return UnsafeRawBufferPointer(buffer.bytes)
        case let .deferred(deferred):
            return UnsafeRawBufferPointer(deferred.buffer.bytes)
        }
    }

    /// Number of stored bytes (without making a deferred buffer).
    public var count: Int {
        switch self {
        case let .mapped(_, _, count): return count
        case let .owned(buffer): return buffer.bytes.count
        case let .deferred(deferred): return deferred.count
        }
    }

    /// Calls `body` with the stored bytes; a deferred buffer is not made (`DeferredBuffer.withTemporaryBytes`).
    public func withTemporaryBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if case let .deferred(deferred) = self { return try deferred.withTemporaryBytes(body) }
        return try body(bytes)
    }

    /// The object and byte offset that identify these bytes while the object lives (the mapped file and the
    /// offset, or the buffer, deferred or not, and 0), without making a deferred buffer.
    public var identity: (object: AnyObject, offset: Int) {
        switch self {
        case let .mapped(file, offset, _): return (file, offset)
        case let .owned(buffer): return (buffer, 0)
        case let .deferred(deferred): return (deferred, 0)
        }
    }

    /// What keeps `bytes` alive: the mapped file or the buffer (a deferred buffer is made here).
    public var owner: AnyObject {
        switch self {
        case let .mapped(file, _, _): return file
        case let .owned(buffer): return buffer
        case let .deferred(deferred): return deferred.buffer
        }
    }
}

/// A named tensor of the IR: dtype, shape (outermost first) and lazily accessed storage.
public struct Tensor: @unchecked Sendable {
    /// The tensor's name (IR name once in a graph).
    public var name: String
    /// Element type.
    public var dtype: DType
    /// Shape, outermost dimension first.
    public var shape: Shape
    /// Where the bytes are (mapped file, memory, or memory filled when first read).
    public var storage: TensorStorage

    /// Creates a tensor after checking that the storage holds exactly the bytes the shape and dtype need.
    public init(name: String, dtype: DType, shape: Shape, storage: TensorStorage, source: String = "tensor") throws {
        guard let elements = shape.checkedElementCount else {
            throw SieveCoreError.invalidShape(source: source, tensor: name, reason: "shape \(shape) has a negative dimension or overflows")
        }
        if dtype.isQuantized, shape.innermost % dtype.blockSize != 0 {
            throw SieveCoreError.invalidShape(source: source, tensor: name, reason: "innermost dimension \(shape.innermost) is not a multiple of the \(dtype.name) block size \(dtype.blockSize)")
        }
        guard let bytes = dtype.byteCount(elements: elements) else {
            throw SieveCoreError.invalidShape(source: source, tensor: name, reason: "byte size of shape \(shape) as \(dtype.name) overflows")
        }
        guard bytes == storage.count else {
            throw SieveCoreError.invalidShape(source: source, tensor: name, reason: "holds \(storage.count) bytes but shape \(shape) as \(dtype.name) needs \(bytes)")
        }
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
    }

    /// Creates an f32 tensor from values (for tests, generated tensors and passes).
    public init(name: String, shape: Shape, floats: [Float]) {
        precondition(shape.elementCount == floats.count, "shape \(shape) does not match \(floats.count) values")
        self.name = name
        self.dtype = .f32
        self.shape = shape
        self.storage = .owned(TensorBuffer(values: floats))
    }

    /// The raw stored bytes (in `dtype`'s encoding).
    public var bytes: UnsafeRawBufferPointer { storage.bytes }

    /// Size of the stored data in bytes.
    public var byteCount: Int { storage.count }

    /// Number of elements.
    public var elementCount: Int { shape.elementCount }

    /// The values decoded to Float (dequantized for block-quantized types).
    public func floats() throws -> [Float] {
        var out = [Float](repeating: 0, count: elementCount)
        try out.withUnsafeMutableBufferPointer { try DTypeCodec.decode(bytes, dtype: dtype, into: $0, tensor: name) }
        return out
    }

    /// This tensor re-encoded as `target` (a new owned buffer; `self` when the dtype already matches).
    public func converted(to target: DType) throws -> Tensor {
        if target == dtype { return self }
        let values = try floats()
        guard let byteCount = target.byteCount(elements: values.count) else {
            throw SieveCoreError.invalidShape(source: "convert", tensor: name, reason: "\(values.count) elements do not fill whole \(target.name) blocks")
        }
        let buffer = TensorBuffer(count: byteCount)
        try values.withUnsafeBufferPointer { try DTypeCodec.encode($0, as: target, into: buffer.bytes, tensor: name) }
        return try Tensor(name: name, dtype: target, shape: shape, storage: .owned(buffer))
    }
}

/// Encoding and decoding of tensor element types to and from Float.
///
/// Plain types are handled here; block-quantized types go through `QuantizedCodecs`.
public enum DTypeCodec {
    /// Decodes `bytes` of `dtype` into `out` (which must hold exactly the element count).
    public static func decode(_ bytes: UnsafeRawBufferPointer, dtype: DType, into out: UnsafeMutableBufferPointer<Float>, tensor: String) throws {
        let n = out.count
        switch dtype {
        case .f32:
            for i in 0..<n { out[i] = Float(bitPattern: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian) }
        case .f64:
            for i in 0..<n { out[i] = Float(Double(bitPattern: bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self).littleEndian)) }
        case .f16:
            for i in 0..<n { out[i] = HalfPrecision.f16ToFloat(bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) }
        case .bf16:
            for i in 0..<n { out[i] = HalfPrecision.bf16ToFloat(bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) }
        case .i64:
            for i in 0..<n { out[i] = Float(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
        case .i32:
            for i in 0..<n { out[i] = Float(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
        case .i16:
            for i in 0..<n { out[i] = Float(Int16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) }
        case .i8:
            for i in 0..<n { out[i] = Float(bytes.load(fromByteOffset: i, as: Int8.self)) }
        case .u8, .bool:
            for i in 0..<n { out[i] = Float(bytes[i]) }
        default:
            try QuantizedCodecs.dequantize(bytes, dtype: dtype, into: out, tensor: tensor)
        }
    }

    /// Encodes `values` as `dtype` into `out` (which must be exactly `dtype.byteCount(elements: values.count)`).
    public static func encode(_ values: UnsafeBufferPointer<Float>, as dtype: DType, into out: UnsafeMutableRawBufferPointer, tensor: String) throws {
        let n = values.count
        switch dtype {
        case .f32:
            for i in 0..<n { out.storeBytes(of: values[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        case .f64:
            for i in 0..<n { out.storeBytes(of: Double(values[i]).bitPattern.littleEndian, toByteOffset: 8 * i, as: UInt64.self) }
        case .f16:
            for i in 0..<n { out.storeBytes(of: HalfPrecision.floatToF16(values[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .bf16:
            for i in 0..<n { out.storeBytes(of: HalfPrecision.floatToBF16(values[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .i64, .i32, .i16, .i8, .u8, .bool:
            throw SieveCoreError.unsupportedConversion(source: tensor, from: "f32", to: dtype.name)
        default:
            try QuantizedCodecs.quantize(values, as: dtype, into: out, tensor: tensor)
        }
    }
}
