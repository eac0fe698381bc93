/// Selection of the `k` largest of `n` scores without sorting everything (quickselect on an index buffer).
enum TopK {
    /// Reorders `indices[0..<n]` (a permutation of `0..<n`) so that `indices[0..<k]` are the positions of the `k`
    /// largest `scores` (ties broken arbitrarily but deterministically).
    static func select(_ scores: UnsafePointer<Float>, n: Int, k: Int, indices: UnsafeMutablePointer<Int>) {
        guard k > 0 && k < n else { return }
        var lo = 0, hi = n - 1
        while lo < hi {
            let pivot = scores[indices[(lo + hi) >> 1]]
            var i = lo, j = hi
            while i <= j {
                while scores[indices[i]] > pivot { i += 1 }
                while scores[indices[j]] < pivot { j -= 1 }
                if i <= j {
                    let t = indices[i]; indices[i] = indices[j]; indices[j] = t
                    i += 1; j -= 1
                }
            }
            // Now [lo, j] ≥ pivot ≥ [i, hi]; keep the part that contains position k − 1.
            if k - 1 <= j { hi = j } else if k - 1 >= i { lo = i } else { return }
        }
    }

    /// Sum of `values[indices[0..<k]]`.
    @inline(__always)
    static func sum(_ values: UnsafePointer<Float>, indices: UnsafePointer<Int>, k: Int) -> Float {
        var s: Float = 0
        for i in 0..<k { s += values[indices[i]] }
        return s
    }

    /// The number of units kept at `density`: `round(density · units)`, at least 1 and at most `units`.
    static func count(density: Double, units: Int) -> Int {
        min(units, max(1, Int((density * Double(units)).rounded())))
    }
}
