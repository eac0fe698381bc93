import SieveKernels

/// Top-k helpers of the packer, on the runtime's own selection (`UnitSelection`), so recall is measured with
/// exactly the rule the runtime applies.
enum TopK {
    /// Reorders `indices[0..<n]` (a permutation of `0..<n`) so that `indices[0..<k]` are the positions of the `k`
    /// largest `scores`.
    @inline(__always)
    static func select(_ scores: UnsafePointer<Float>, n: Int, k: Int, indices: UnsafeMutablePointer<Int>) {
        UnitSelection.select(k, scores, n: n, indices: indices)
    }

    /// Sum of `values[indices[0..<k]]`.
    @inline(__always)
    static func sum(_ values: UnsafePointer<Float>, indices: UnsafePointer<Int>, k: Int) -> Float {
        var s: Float = 0
        for i in 0..<k { s += values[indices[i]] }
        return s
    }

    /// The number of units kept at `density` (`UnitSelection.count`).
    @inline(__always)
    static func count(density: Double, units: Int) -> Int { UnitSelection.count(density: density, units: units) }
}
