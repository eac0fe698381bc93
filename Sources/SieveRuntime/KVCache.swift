import SieveKernels

/// Keys and values of every layer for up to `capacity` positions, in f32 or f16.
///
/// Head-major layout per layer: `[kvHead][position][headDim]`, so the keys (or values) of one head are one
/// contiguous run that attention reads sequentially. The kernels see it through `CacheView`s.
final class KVCache {
    /// Positions filled (the next token's position).
    var length = 0
    /// Total bytes held.
    let byteCount: Int
    private let storage: UnsafeMutableRawPointer
    /// Per layer: the key view, then the value view.
    private var views: [CacheView] = []

    init(type: KVCacheType, layers: Int, kvHeads: Int, headDim: Int, capacity: Int) {
        let elementBytes = type == .f32 ? 4 : 2
        let section = kvHeads * capacity * headDim * elementBytes
        byteCount = 2 * layers * section
        // Left uninitialized: attention only reads positions already stored, and untouched pages of a large
        // context cost no memory.
        storage = .allocate(byteCount: max(byteCount, 1), alignment: 64)
        for s in 0..<(2 * layers) {
            views.append(CacheView(base: storage + s * section, element: type == .f32 ? .f32 : .f16,
                                   positionStride: headDim, headStride: capacity * headDim))
        }
    }

    deinit { storage.deallocate() }

    /// The keys of `layer`.
    @inline(__always)
    func keys(_ layer: Int) -> CacheView { views[2 * layer] }

    /// The values of `layer`.
    @inline(__always)
    func values(_ layer: Int) -> CacheView { views[2 * layer + 1] }
}
