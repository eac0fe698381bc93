import Foundation

/// A view of one layer's key or value cache: the vector of (position `p`, KV head `h`) starts at element
/// `p·positionStride + h·headStride` of `base`, elements f32 or f16 (IEEE half bits).
///
/// Two common layouts: position-major `[position][kvHead][dim]` (`positionStride = kvHeads·headDim`,
/// `headStride = headDim`) and head-major `[kvHead][position][dim]` (`positionStride = headDim`,
/// `headStride = maxPositions·headDim`). The cache memory is owned by the caller.
public struct CacheView: @unchecked Sendable {
    /// Element encoding.
    public enum Element: Sendable {
        /// 4-byte floats, or IEEE half-precision bits (2 bytes).
        case f32, f16
    }

    /// Element 0 of position 0, head 0.
    public var base: UnsafeMutableRawPointer
    /// Element encoding.
    public var element: Element
    /// Elements between consecutive positions of a head.
    public var positionStride: Int
    /// Elements between consecutive heads at a position.
    public var headStride: Int

    /// Creates a view.
    public init(base: UnsafeMutableRawPointer, element: Element, positionStride: Int, headStride: Int) {
        self.base = base
        self.element = element
        self.positionStride = positionStride
        self.headStride = headStride
    }

    /// Byte offset of (position, head).
    @inline(__always)
    func offset(_ position: Int, _ head: Int) -> Int {
        (position * positionStride + head * headStride) * (element == .f32 ? 4 : 2)
    }

    /// Stores `heads` vectors of `headDimension` floats (head `h` at `values + h·headDimension`) at `position`,
    /// converting to f16 when the cache holds halves.
    public func store(_ values: UnsafePointer<Float>, position: Int, heads: Int, headDimension: Int) {
        for h in 0..<heads {
            let dst = base + offset(position, h)
            switch element {
            case .f32: dst.assumingMemoryBound(to: Float.self).update(from: values + h * headDimension, count: headDimension)
            case .f16: Convert.floatToHalf(values + h * headDimension, into: dst.assumingMemoryBound(to: UInt16.self), count: headDimension)
            }
        }
    }

    /// The same cache seen from `position` on: position 0 of the view is `position` of this one (a sliding window's
    /// first visible key).
    public func from(position: Int) -> CacheView {
        CacheView(base: base + offset(position, 0), element: element, positionStride: positionStride, headStride: headStride)
    }

    /// Reads the vector of (position, head) into `out` as floats.
    public func load(position: Int, head: Int, headDimension: Int, into out: UnsafeMutablePointer<Float>) {
        let src = base + offset(position, head)
        switch element {
        case .f32: out.update(from: src.assumingMemoryBound(to: Float.self), count: headDimension)
        case .f16: Convert.halfToFloat(src.assumingMemoryBound(to: UInt16.self), into: out, count: headDimension)
        }
    }
}

/// Per-thread score buffers for `Attention.causal`, allocated once.
public final class AttentionScratch: @unchecked Sendable {
    /// Longest attended span (context length).
    public let maxPositions: Int
    /// Largest pool the scratch serves.
    public let threads: Int
    let scores: UnsafeMutablePointer<Float>

    /// Allocates `threads × maxPositions` floats.
    public init(maxPositions: Int, threads: Int) {
        precondition(maxPositions > 0 && threads > 0, "AttentionScratch needs positive sizes")
        self.maxPositions = maxPositions
        self.threads = threads
        scores = .allocate(capacity: maxPositions * threads)
    }

    deinit { scores.deallocate() }
}

/// Scaled dot-product attention per head over a KV cache, causal and GQA-aware (query head `h` reads KV head
/// `h / (heads / kvHeads)`).
public enum Attention {
    /// `scores[p] = scale · query·K[p, head]` for `p` in `0..<count`.
    public static func scores(query: UnsafePointer<Float>, keys: CacheView, head: Int, count: Int, headDimension: Int,
                              scale: Float, into scores: UnsafeMutablePointer<Float>) {
        switch keys.element {
        case .f32: scoresKernel(F32Row.self, query, keys, head, count, headDimension, scale, scores)
        case .f16: scoresKernel(F16Row.self, query, keys, head, count, headDimension, scale, scores)
        }
    }

    /// `out[d] = Σ_p weights[p] · V[p, head, d]` for `p` in `0..<count`.
    public static func weightedSum(weights: UnsafePointer<Float>, values: CacheView, head: Int, count: Int, headDimension: Int,
                                   into out: UnsafeMutablePointer<Float>) {
        switch values.element {
        case .f32: weightedSumKernel(F32Row.self, weights, values, head, count, headDimension, out)
        case .f16: weightedSumKernel(F16Row.self, weights, values, head, count, headDimension, out)
        }
    }

    /// Causal attention for `tokens` queries at positions `firstPosition ..< firstPosition + tokens`; the cache
    /// must already hold keys and values up to the last of them. Query `t`, head `h` is at
    /// `queries + t·queryStride + h·headDimension`; its output at `output + t·outputStride + h·headDimension`.
    /// `scale` is usually `1/√headDimension`; `softcap`, when given, caps the scaled scores at ±`softcap` (c·tanh(s/c));
    /// `sinks`, when given, holds one logit per head that joins its softmax (gpt-oss) without a value.
    /// Units (token, head) are spread over the pool.
    public static func causal(queries: UnsafePointer<Float>, queryStride: Int, keys: CacheView, values: CacheView,
                              heads: Int, kvHeads: Int, headDimension: Int, firstPosition: Int, tokens: Int, scale: Float,
                              softcap: Float? = nil, sinks: UnsafePointer<Float>? = nil, output: UnsafeMutablePointer<Float>, outputStride: Int,
                              scratch: AttentionScratch, pool: ThreadPool) {
        precondition(heads % kvHeads == 0, "\(heads) heads are not a multiple of \(kvHeads) KV heads")
        precondition(firstPosition + tokens <= scratch.maxPositions, "attention span \(firstPosition + tokens) exceeds the scratch (\(scratch.maxPositions))")
        precondition(pool.threadCount <= scratch.threads, "the pool has more threads than the attention scratch")
        let group = heads / kvHeads
        pool.parallelFor(tokens * heads) { range, thread in
            let s = scratch.scores + thread * scratch.maxPositions
            for unit in range {
                let t = unit / heads, h = unit % heads
                let span = firstPosition + t + 1
                attendOne(queries + t * queryStride + h * headDimension, keys: keys, values: values, kvHead: h / group,
                          span: span, headDimension: headDimension, scale: scale, softcap: softcap, sink: sinks?[h], scores: s,
                          into: output + t * outputStride + h * headDimension)
            }
        }
    }

    /// One query head against positions `0..<span`: scores (soft-capped when `softcap` is given), softmax (with the
    /// head's `sink` logit in its denominator, when given), weighted sum of values.
    public static func attendOne(_ query: UnsafePointer<Float>, keys: CacheView, values: CacheView, kvHead: Int, span: Int,
                                 headDimension: Int, scale: Float, softcap: Float? = nil, sink: Float? = nil,
                                 scores s: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        scores(query: query, keys: keys, head: kvHead, count: span, headDimension: headDimension, scale: scale, into: s)
        if let softcap { Activations.softcap(s, cap: softcap, count: span) }
        Activations.softmax(s, count: span, sink: sink)
        weightedSum(weights: s, values: values, head: kvHead, count: span, headDimension: headDimension, into: out)
    }

    /// Scalar reference of `causal` (Double sums, one thread).
    public static func causalReference(queries: UnsafePointer<Float>, queryStride: Int, keys: CacheView, values: CacheView,
                                       heads: Int, kvHeads: Int, headDimension: Int, firstPosition: Int, tokens: Int, scale: Float,
                                       softcap: Float? = nil, sinks: UnsafePointer<Float>? = nil, output: UnsafeMutablePointer<Float>,
                                       outputStride: Int) {
        let group = heads / kvHeads
        var k = [Float](repeating: 0, count: headDimension), v = k
        for t in 0..<tokens {
            for h in 0..<heads {
                let q = queries + t * queryStride + h * headDimension
                let span = firstPosition + t + 1
                var logits = [Double](repeating: 0, count: span)
                for p in 0..<span {
                    k.withUnsafeMutableBufferPointer { keys.load(position: p, head: h / group, headDimension: headDimension, into: $0.baseAddress!) }
                    var dot = 0.0
                    for d in 0..<headDimension { dot += Double(q[d]) * Double(k[d]) }
                    logits[p] = dot * Double(scale)
                    if let softcap { logits[p] = Double(softcap) * Foundation.tanh(logits[p] / Double(softcap)) }
                }
                let sink = sinks.map { Double($0[h]) }
                let m = max(logits.max()!, sink ?? -.infinity)
                let weights = logits.map { Foundation.exp($0 - m) }
                let total = weights.reduce(0, +) + (sink.map { Foundation.exp($0 - m) } ?? 0)
                var acc = [Double](repeating: 0, count: headDimension)
                for p in 0..<span {
                    v.withUnsafeMutableBufferPointer { values.load(position: p, head: h / group, headDimension: headDimension, into: $0.baseAddress!) }
                    for d in 0..<headDimension { acc[d] += weights[p] / total * Double(v[d]) }
                }
                for d in 0..<headDimension { output[t * outputStride + h * headDimension + d] = Float(acc[d]) }
            }
        }
    }

    // MARK: Kernels

    static func scoresKernel<K: FloatRowKind>(_ kind: K.Type, _ q: UnsafePointer<Float>, _ keys: CacheView, _ head: Int, _ count: Int,
                                             _ n: Int, _ scale: Float, _ out: UnsafeMutablePointer<Float>) {
        let vectorEnd = n & ~15
        var p = 0
        // Four positions at a time: four independent accumulators and one combined horizontal reduction.
        while p + 4 <= count {
            let r0 = UnsafeRawPointer(keys.base + keys.offset(p, head)), r1 = UnsafeRawPointer(keys.base + keys.offset(p + 1, head))
            let r2 = UnsafeRawPointer(keys.base + keys.offset(p + 2, head)), r3 = UnsafeRawPointer(keys.base + keys.offset(p + 3, head))
            var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
            var d = 0
            while d < vectorEnd {
                let qv = q.load16(d)
                a0.addProduct(K.load16(r0, d), qv)
                a1.addProduct(K.load16(r1, d), qv)
                a2.addProduct(K.load16(r2, d), qv)
                a3.addProduct(K.load16(r3, d), qv)
                d += 16
            }
            var sums = horizontalSums(a0, a1, a2, a3)
            while d < n {
                sums += SIMD4(K.load1(r0, d), K.load1(r1, d), K.load1(r2, d), K.load1(r3, d)) * q[d]
                d += 1
            }
            UnsafeMutableRawPointer(out + p).storeBytes(of: sums * scale, as: SIMD4<Float>.self)
            p += 4
        }
        while p < count {
            out[p] = FloatGEMV.dot(kind, UnsafeRawPointer(keys.base + keys.offset(p, head)), q, n) * scale
            p += 1
        }
    }

    static func weightedSumKernel<K: FloatRowKind>(_ kind: K.Type, _ w: UnsafePointer<Float>, _ values: CacheView, _ head: Int,
                                                  _ count: Int, _ n: Int, _ out: UnsafeMutablePointer<Float>) {
        out.initialize(repeating: 0, count: n)
        var p = 0
        // Two positions per pass over the output.
        while p + 2 <= count {
            let r0 = UnsafeRawPointer(values.base + values.offset(p, head))
            let r1 = UnsafeRawPointer(values.base + values.offset(p + 1, head))
            let w0 = SIMD16<Float>(repeating: w[p]), w1 = SIMD16<Float>(repeating: w[p + 1])
            var d = 0
            while d + 16 <= n {
                var acc = out.load16(d)
                acc.addProduct(K.load16(r0, d), w0)
                acc.addProduct(K.load16(r1, d), w1)
                out.store16(acc, d)
                d += 16
            }
            while d < n {
                out[d] += K.load1(r0, d) * w[p] + K.load1(r1, d) * w[p + 1]
                d += 1
            }
            p += 2
        }
        if p < count {
            let r0 = UnsafeRawPointer(values.base + values.offset(p, head))
            for d in 0..<n { out[d] += K.load1(r0, d) * w[p] }
        }
    }
}
