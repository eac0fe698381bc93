import CSieveKernels

/// Choosing the top-scored units (FFN neurons or blocks, attention heads) without sorting anything.
///
/// `top` maps each score to an unsigned key with the same order, finds the `k`-th largest key by deciding its
/// bits from the highest down (each bit one vectorised count of the keys at or above a candidate, no data-
/// dependent branches), then collects the indices in one pass. A quickselect does the same work in fewer
/// comparisons, but half of its branches are mispredicted on random scores: on docs-opt-relu's 1024 scores per
/// layer it took about 15 µs, this takes about 3 µs (perf samples of decoding).
///
/// The passes over the keys run as C AVX2 kernels where the CPU has AVX2 (`Passes`): on a Zen 2 core, 0.96 µs per
/// hinted selection of 51, 154 or 512 of 1024 correlated scores against 1.37–1.66 µs for the Swift SIMD passes,
/// which stay as the portable version and the reference the tests compare the C passes with. Most of the gain is
/// the collection of the selected indices (0.35 against 0.39–0.72 µs: eight keys at a time, their lanes taken from a
/// table by the comparison's mask, instead of one key or one set bit at a time).
public enum UnitSelection {
    /// Which implementation runs the passes over the keys. Both give identical results (integer work only).
    enum Passes {
        /// Swift SIMD, portable to every CPU.
        case swift
        /// C with AVX2 (`CSieveKernels`), on x86-64 CPUs with AVX2.
        case avx2

        /// `avx2` where the CPU has it, unless `SIEVE_KERNELS=swift` forces the Swift decode kernels.
        static let preferred: Passes = DecodeKernels.preferred == .swift ? .swift : .avx2
    }

    /// Units kept at `density` of `units`: `round(density · units)` (half away from zero) clamped to `1 … units`.
    /// The packer measures recall with the same rule, so the bundle's recall table applies at run time.
    public static func count(density: Double, units: Int) -> Int {
        min(units, max(1, Int((density * Double(units)).rounded())))
    }

    /// Writes into `selected[0..<k]` the indices of the `k` largest of `scores[0..<n]`, in increasing index order
    /// (so rows stream forward through memory); among equal scores at the boundary the lowest indices win. `work`
    /// holds `n` floats (the keys). Scores must not be NaN.
    public static func top(_ k: Int, of scores: UnsafePointer<Float>, count n: Int, work: UnsafeMutablePointer<Float>,
                           into selected: UnsafeMutablePointer<Int>) {
        top(k, of: scores, count: n, work: work, into: selected, passes: .preferred)
    }

    /// `top(_:of:count:work:into:)` with the passes of `passes`.
    static func top(_ k: Int, of scores: UnsafePointer<Float>, count n: Int, work: UnsafeMutablePointer<Float>,
                    into selected: UnsafeMutablePointer<Int>, passes: Passes) {
        precondition(k >= 0 && k <= n, "top \(k) of \(n)")
        if k == 0 { return }
        if k == n {
            for i in 0..<n { selected[i] = i }
            return
        }
        work.withMemoryRebound(to: UInt32.self, capacity: n) { keys in
            _ = storeKeys(scores, keys, n: n, countingAtLeast: 0, passes)
            collect(k, keys, n: n, threshold: kthLargestKey(k, keys, n: n, passes), into: selected, passes)
        }
    }

    /// Like `top(_:of:count:work:into:)` (same indices, same order, same ties; `work` holds `n` floats), but searches
    /// for the threshold from `hint`, a key near it: the previous token's threshold for the same layer. Any hint
    /// gives the same result, a far one only costs time. On return `hint` holds the `k`-th largest key.
    public static func top(_ k: Int, of scores: UnsafePointer<Float>, count n: Int, work: UnsafeMutablePointer<Float>,
                           into selected: UnsafeMutablePointer<Int>, hint: inout UInt32) {
        top(k, of: scores, count: n, work: work, into: selected, hint: &hint, passes: .preferred)
    }

    /// `top(_:of:count:work:into:hint:)` with the passes of `passes`.
    static func top(_ k: Int, of scores: UnsafePointer<Float>, count n: Int, work: UnsafeMutablePointer<Float>,
                    into selected: UnsafeMutablePointer<Int>, hint: inout UInt32, passes: Passes) {
        precondition(k >= 0 && k <= n, "top \(k) of \(n)")
        if k == 0 { return }
        work.withMemoryRebound(to: UInt32.self, capacity: n) { keys in
            let summary = storeKeys(scores, keys, n: n, countingAtLeast: hint, passes)
            let threshold = kthLargestKey(k, keys, n: n, near: hint, atHint: summary.count,
                                          smallest: summary.smallest, largest: summary.largest, passes)
            hint = threshold
            collect(k, keys, n: n, threshold: threshold, into: selected, passes)
        }
    }

    /// Writes into `selected[0..<k]` the indices of the keys above `threshold` (the `k`-th largest key) and of the
    /// first keys equal to it, in increasing order.
    @inline(__always)
    static func collect(_ k: Int, _ keys: UnsafePointer<UInt32>, n: Int, threshold: UInt32,
                        into selected: UnsafeMutablePointer<Int>, _ passes: Passes) {
        var j = 0
        if countAtLeast(threshold, keys, n: n, passes) == k {
            #if arch(x86_64)
            if passes == .avx2 {
                _ = sieve_selection_collect_avx2(keys, n, threshold, k, selected)
                return
            }
            #endif
            // No surplus ties at the threshold: every key at or above it is selected. Each index is written at the
            // next free slot, which only advances when the index is selected (no unpredictable branch); the loop
            // ends at the k-th selected index, so nothing past `selected[k − 1]` is written. A few selected among
            // many (k ≤ n/8) are found sixteen keys at a time instead, as the set bits of a mask: 0.71 µs against
            // 0.87 µs for 51 of 1024 (docs-opt-relu's layers), but slower when most keys are selected.
            var i = 0
            if 8 * k <= n {
                let vt = SIMD16<UInt32>(repeating: threshold)
                let laneBits = SIMD16<UInt32>(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
                while i + 16 <= n && j < k {
                    let v = UnsafeRawPointer(keys + i).loadUnaligned(as: SIMD16<UInt32>.self)
                    var bits = SIMD16<UInt32>(repeating: 0).replacing(with: laneBits, where: v .>= vt).wrappedSum()
                    while bits != 0 {
                        selected[j] = i &+ bits.trailingZeroBitCount
                        j &+= 1
                        bits &= bits &- 1
                    }
                    i &+= 16
                }
            }
            while j < k {
                selected[j] = i
                j &+= keys[i] >= threshold ? 1 : 0
                i &+= 1
            }
        } else {
            var ties = k - countAtLeast(threshold &+ 1, keys, n: n, passes)
            for i in 0..<n {
                let key = keys[i]
                if key > threshold || (key == threshold && ties > 0) {
                    if key == threshold { ties -= 1 }
                    selected[j] = i; j += 1
                }
            }
        }
    }

    /// Stores the keys of `scores[0..<n]` in `keys`; returns how many are `≥ t`, the smallest and the largest.
    @inline(__always)
    static func storeKeys(_ scores: UnsafePointer<Float>, _ keys: UnsafeMutablePointer<UInt32>, n: Int,
                          countingAtLeast t: UInt32, _ passes: Passes) -> (count: Int, smallest: UInt32, largest: UInt32) {
        #if arch(x86_64)
        if passes == .avx2 {
            var smallest: UInt32 = 0, largest: UInt32 = 0
            let c = sieve_selection_store_keys_avx2(scores, keys, n, t, &smallest, &largest)
            return (c, smallest, largest)
        }
        #endif
        let vt = SIMD16<UInt32>(repeating: t)
        var counts = SIMD16<UInt32>(), smallest = SIMD16<UInt32>(repeating: .max), largest = SIMD16<UInt32>()
        var i = 0
        while i + 16 <= n {
            let bits = UnsafeRawPointer(scores + i).loadUnaligned(as: SIMD16<UInt32>.self)
            let negative = SIMD16<UInt32>(truncatingIfNeeded: SIMD16<Int32>(truncatingIfNeeded: bits) &>> 31)
            let v = bits ^ (negative | 0x8000_0000)
            UnsafeMutableRawPointer(keys + i).storeBytes(of: v, as: SIMD16<UInt32>.self)
            counts &+= SIMD16<UInt32>(repeating: 0).replacing(with: 1, where: v .>= vt)
            smallest.replace(with: v, where: v .< smallest)
            largest.replace(with: v, where: v .> largest)
            i += 16
        }
        var c = Int(counts.wrappedSum()), low = smallest.min(), high = largest.max()
        while i < n {
            let key = orderedKey(scores[i])
            keys[i] = key
            c += key >= t ? 1 : 0
            low = min(low, key); high = max(high, key)
            i += 1
        }
        return (c, low, high)
    }

    /// The `k`-th largest of `keys[0..<n]` (`1 ≤ k ≤ n`, `atHint` of them `≥ hint`, all in `smallest … largest`).
    /// Keeps a range `lo ..< hi` that holds it (at least `k` keys `≥ lo`, fewer `≥ hi`): from the hint to a key a
    /// small step away in scores (the bit search from scratch if the threshold is farther), then split where a
    /// straight line through the counts at the ends crosses `k`, read in scores; a split that leaves more than 7/8
    /// of the counts in the range is followed by one halving it in keys. Each split is one pass over the keys,
    /// which also moves the range's ends onto keys, so the search ends when the range holds one key.
    static func kthLargestKey(_ k: Int, _ keys: UnsafePointer<UInt32>, n: Int, near hint: UInt32, atHint: Int,
                              smallest: UInt32, largest: UInt32, _ passes: Passes) -> UInt32 {
        if atHint == k { return smallestAtLeast(hint, keys, n: n, passes) }
        var lo = UInt64(smallest), hi = UInt64(largest) + 1, cLo = n, cHi = 0
        if atHint > k { lo = max(lo, UInt64(hint)); cLo = atHint } else { hi = min(hi, UInt64(hint)); cHi = atHint }
        // The other end a step away (consecutive thresholds are close), in scores: 1/64, then 1/8 of their range;
        // a farther threshold is searched for from scratch.
        let step = (Double(score(largest)) - Double(score(smallest))) / 64
        let anchor = Double(score(UInt32(atHint > k ? lo : hi - 1)))
        var bracketed = false, scale = atHint > k ? 1.0 : -1.0
        while !bracketed && abs(scale) <= 8 && step.isFinite && anchor.isFinite {
            let near = UInt64(orderedKey(Float(anchor + scale * step)))
            guard near > lo && near < hi else { break }
            let c = countAtLeast(UInt32(near), keys, n: n, passes)
            bracketed = (c >= k) != (atHint > k)
            if c >= k { lo = near; cLo = c } else { hi = near; cHi = c }
            scale *= 8
        }
        if !bracketed && hi - lo > 1 { return kthLargestKey(k, keys, n: n, passes) }
        var halve = false
        while hi - lo > 1 {
            let a = Double(score(UInt32(lo))), b = Double(score(UInt32(hi - 1)))
            var split = lo + (hi - lo) / 2
            if !halve && a.isFinite && b.isFinite {
                split = UInt64(orderedKey(Float(a + (b - a) * Double(cLo - k) / Double(cLo - cHi))))
                split = min(max(split, lo + 1), hi - 1)
            }
            let spread = cLo - cHi
            let (c, above, below) = probe(UInt32(split), keys, n: n, passes)
            if c == k { return above }
            if c > k { lo = UInt64(above); cLo = c } else { hi = UInt64(below) + 1; cHi = c }
            halve = 8 * (cLo - cHi) > 7 * spread
        }
        return UInt32(lo)
    }

    /// The score of a key (inverse of `orderedKey`).
    @inline(__always)
    static func score(_ key: UInt32) -> Float {
        Float(bitPattern: key & 0x8000_0000 != 0 ? key ^ 0x8000_0000 : ~key)
    }

    /// How many of `keys[0..<n]` are `≥ t`, the smallest of those (`.max` if none) and the largest of the others
    /// (0 if none).
    @inline(__always)
    static func probe(_ t: UInt32, _ keys: UnsafePointer<UInt32>, n: Int, _ passes: Passes) -> (count: Int, above: UInt32, below: UInt32) {
        #if arch(x86_64)
        if passes == .avx2 {
            var above: UInt32 = 0, below: UInt32 = 0
            let c = sieve_selection_probe_avx2(keys, n, t, &above, &below)
            return (c, above, below)
        }
        #endif
        let vt = SIMD16<UInt32>(repeating: t)
        var counts = SIMD16<UInt32>(), above = SIMD16<UInt32>(repeating: .max), below = SIMD16<UInt32>()
        var i = 0
        while i + 16 <= n {
            let v = UnsafeRawPointer(keys + i).loadUnaligned(as: SIMD16<UInt32>.self)
            let atLeast = v .>= vt
            counts &+= SIMD16<UInt32>(repeating: 0).replacing(with: 1, where: atLeast)
            let up = v.replacing(with: .max, where: .!atLeast), down = v.replacing(with: 0, where: atLeast)
            above.replace(with: up, where: up .< above)
            below.replace(with: down, where: down .> below)
            i += 16
        }
        var c = Int(counts.wrappedSum()), low = above.min(), high = below.max()
        while i < n {
            let key = keys[i]
            if key >= t { c += 1; low = min(low, key) } else { high = max(high, key) }
            i += 1
        }
        return (c, low, high)
    }

    /// An unsigned key ordered like the float: negative floats have their bits flipped, positive ones their sign
    /// bit set.
    @inline(__always)
    static func orderedKey(_ x: Float) -> UInt32 {
        let bits = x.bitPattern
        return bits ^ (bits & 0x8000_0000 != 0 ? 0xFFFF_FFFF : 0x8000_0000)
    }

    /// The `k`-th largest of `keys[0..<n]` (`1 ≤ k ≤ n`): the largest `t` with at least `k` keys `≥ t`, built bit
    /// by bit. Once exactly `k` keys are at or above the candidate, the answer is the smallest of them.
    static func kthLargestKey(_ k: Int, _ keys: UnsafePointer<UInt32>, n: Int, _ passes: Passes) -> UInt32 {
        var t: UInt32 = 0
        var bit: UInt32 = 1 << 31
        while bit != 0 {
            let candidate = t | bit
            let c = countAtLeast(candidate, keys, n: n, passes)
            if c == k { return smallestAtLeast(candidate, keys, n: n, passes) }
            if c > k { t = candidate }
            bit >>= 1
        }
        return t
    }

    /// How many of `keys[0..<n]` are `≥ t`.
    @inline(__always)
    static func countAtLeast(_ t: UInt32, _ keys: UnsafePointer<UInt32>, n: Int, _ passes: Passes) -> Int {
        #if arch(x86_64)
        if passes == .avx2 { return sieve_selection_count_avx2(keys, n, t) }
        #endif
        let vt = SIMD16<UInt32>(repeating: t)
        var counts = SIMD16<UInt32>()
        var i = 0
        while i + 16 <= n {
            let v = UnsafeRawPointer(keys + i).loadUnaligned(as: SIMD16<UInt32>.self)
            counts &+= SIMD16<UInt32>(repeating: 0).replacing(with: 1, where: v .>= vt)
            i += 16
        }
        var c = Int(counts.wrappedSum())
        while i < n { c += keys[i] >= t ? 1 : 0; i += 1 }
        return c
    }

    /// The smallest of `keys[0..<n]` that is `≥ t` (at least one is).
    @inline(__always)
    static func smallestAtLeast(_ t: UInt32, _ keys: UnsafePointer<UInt32>, n: Int, _ passes: Passes) -> UInt32 {
        #if arch(x86_64)
        if passes == .avx2 { return sieve_selection_smallest_at_least_avx2(keys, n, t) }
        #endif
        let vt = SIMD16<UInt32>(repeating: t)
        var smallest = SIMD16<UInt32>(repeating: .max)
        var i = 0
        while i + 16 <= n {
            let v = UnsafeRawPointer(keys + i).loadUnaligned(as: SIMD16<UInt32>.self)
            smallest = pointwiseMin(smallest, v.replacing(with: .max, where: v .< vt))
            i += 16
        }
        var m = smallest.min()
        while i < n { if keys[i] >= t { m = min(m, keys[i]) }; i += 1 }
        return m
    }

    /// Reorders `indices[0..<n]` so that `indices[0..<k]` are the positions of the `k` largest scores.
    public static func select(_ k: Int, _ scores: UnsafePointer<Float>, n: Int, indices: UnsafeMutablePointer<Int>) {
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
}
