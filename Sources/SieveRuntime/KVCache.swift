import SieveKernels

/// Keys and values of every layer for up to `capacity` positions, in f32 or f16.
///
/// Layout per layer and per KV head: `capacity` rows of `headDim` values, so the keys (or values) of one head
/// are one contiguous run that attention reads sequentially.
final class KVCache {
    let type: KVCacheType
    let layers: Int
    let kvHeads: Int
    let headDim: Int
    let capacity: Int
    /// Positions filled (the next token's position).
    var length = 0
    private let elementBytes: Int
    private let storage: UnsafeMutableRawPointer
    /// Bytes between two heads of a layer.
    private let headStride: Int
    /// Bytes between the key (or value) sections of consecutive layers.
    private let layerStride: Int

    /// Total bytes held.
    let byteCount: Int

    init(type: KVCacheType, layers: Int, kvHeads: Int, headDim: Int, capacity: Int) {
        self.type = type
        self.layers = layers
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.capacity = capacity
        elementBytes = type == .f32 ? 4 : 2
        headStride = capacity * headDim * elementBytes
        layerStride = kvHeads * headStride
        byteCount = 2 * layers * layerStride
        storage = .allocate(byteCount: max(byteCount, 1), alignment: 64)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
    }

    deinit { storage.deallocate() }

    /// Address of position `position`'s key (`value == false`) or value row of `head` in `layer`.
    @inline(__always)
    func row(layer: Int, head: Int, position: Int, value: Bool) -> UnsafeMutableRawPointer {
        storage + (2 * layer + (value ? 1 : 0)) * layerStride + head * headStride + position * headDim * elementBytes
    }

    /// Stores `headDim` floats as position `position`'s key or value row of `head` in `layer`.
    @inline(__always)
    func store(_ values: UnsafePointer<Float>, layer: Int, head: Int, position: Int, value: Bool) {
        let destination = row(layer: layer, head: head, position: position, value: value)
        switch type {
        case .f32: destination.assumingMemoryBound(to: Float.self).update(from: values, count: headDim)
        case .f16: Convert.floatToHalf(values, into: destination.assumingMemoryBound(to: UInt16.self), count: headDim)
        }
    }
}
