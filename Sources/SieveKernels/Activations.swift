import Foundation

/// Element-wise activations, softmax, gated products, residual adds and argmax over float rows. The fast
/// versions are vectorized (16 lanes, `exp` from `vectorExp`); each has a scalar `…Reference` in Double or
/// Foundation math.
public enum Activations {
    /// A feed-forward activation function.
    public enum Function: String, Sendable, CaseIterable {
        /// `max(x, 0)` (OPT).
        case relu
        /// `x · sigmoid(x)` (LLaMA/Qwen2 SwiGLU gate).
        case silu
        /// `0.5·x·(1 + erf(x/√2))` (BERT, GeGLU).
        case geluErf
        /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` (GPT-2 `gelu_new`).
        case geluTanh
    }

    /// Applies `function` in place to `count` values.
    public static func apply(_ function: Function, _ x: UnsafeMutablePointer<Float>, count: Int) {
        switch function {
        case .relu: map(x, x, count) { lanewiseMax($0, SIMD16<Float>()) } scalar: { Swift.max($0, 0) }
        case .silu: map(x, x, count) { $0 * vectorSigmoid($0) } scalar: { silu1($0) }
        case .geluErf: map(x, x, count) { geluErf16($0) } scalar: { geluErf1($0) }
        case .geluTanh: map(x, x, count) { geluTanh16($0) } scalar: { geluTanh1($0) }
        }
    }

    /// `x[n] = function(x[n] + bias[n])` (no bias if nil) for each listed `n`: a sparse layer's selected single
    /// neurons in one pass, with the scalar forms `apply` uses past its last whole vector, so each value is the one
    /// `add` and `apply` give it alone (as many calls cost more than their work).
    public static func applyListed(_ function: Function, _ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?,
                                   at indices: UnsafeBufferPointer<Int>) {
        switch function {
        case .relu: listed(x, bias, indices) { Swift.max($0, 0) }
        case .silu: listed(x, bias, indices) { silu1($0) }
        case .geluErf: listed(x, bias, indices) { geluErf1($0) }
        case .geluTanh: listed(x, bias, indices) { geluTanh1($0) }
        }
    }

    /// gpt-oss's gated unit (`swiglu_oai`): `out[i] = (clamp(up[i], −limit, limit) + 1) · g·σ(alpha·g)` with
    /// `g = min(gate[i], limit)`. Every gpt-oss has alpha 1.702 and limit 7. `out` may alias `gate` or `up`.
    public static func clampedSwiGLU(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                                     count: Int, alpha: Float = 1.702, limit: Float = 7) {
        let high = SIMD16<Float>(repeating: limit), low = -high, one = SIMD16<Float>(repeating: 1)
        var i = 0
        while i + 16 <= count {
            let g = lanewiseMin(gate.load16(i), high)
            let u = lanewiseMax(lanewiseMin(up.load16(i), high), low)
            out.store16((u + one) * g * vectorSigmoid(alpha * g), i)
            i += 16
        }
        while i < count {
            let g = Swift.min(gate[i], limit), u = Swift.max(Swift.min(up[i], limit), -limit)
            out[i] = (u + 1) * g / (1 + Foundation.exp(-alpha * g))
            i += 1
        }
    }

    /// Scalar reference of `clampedSwiGLU` (Double).
    public static func clampedSwiGLUReference(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                                              count: Int, alpha: Float = 1.702, limit: Float = 7) {
        for i in 0..<count {
            let g = Double(Swift.min(gate[i], limit)), u = Double(Swift.max(Swift.min(up[i], limit), -limit))
            out[i] = Float((u + 1) * g / (1 + Foundation.exp(-Double(alpha) * g)))
        }
    }

    /// `out[i] = function(gate[i]) · up[i]` (SwiGLU with `.silu`, GeGLU with `.geluErf`/`.geluTanh`).
    /// `out` may alias `gate` or `up`.
    public static func gatedProduct(_ function: Function, gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                                    into out: UnsafeMutablePointer<Float>, count: Int) {
        switch function {
        case .relu: gated(gate, up, out, count) { lanewiseMax($0, SIMD16<Float>()) } scalar: { Swift.max($0, 0) }
        case .silu: gated(gate, up, out, count) { $0 * vectorSigmoid($0) } scalar: { silu1($0) }
        case .geluErf: gated(gate, up, out, count) { geluErf16($0) } scalar: { geluErf1($0) }
        case .geluTanh: gated(gate, up, out, count) { geluTanh16($0) } scalar: { geluTanh1($0) }
        }
    }

    /// Numerically stable softmax in place: `x[i] = exp(x[i] − max) / Σ exp(x[j] − max)`; a `sink` logit (gpt-oss's
    /// attention sinks) joins the maximum and the sum, and gets no output of its own.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int, sink: Float? = nil) {
        guard count > 0 else { return }
        let m = Swift.max(maximum(x, count), sink ?? -.infinity)
        var acc = SIMD16<Float>(repeating: 0)
        if let sink { acc[0] = Foundation.exp(sink - m) }
        var i = 0
        let mv = SIMD16<Float>(repeating: m)
        while i + 16 <= count {
            let e = vectorExp(x.load16(i) - mv)
            x.store16(e, i)
            acc += e
            i += 16
        }
        var total = horizontalSum(acc)
        while i < count {
            let e = Foundation.exp(x[i] - m)
            x[i] = e
            total += e
            i += 1
        }
        scale(x, by: 1 / total, count: count)
    }

    /// `x[i] *= factor`.
    public static func scale(_ x: UnsafeMutablePointer<Float>, by factor: Float, count: Int) {
        var i = 0
        let f = SIMD16<Float>(repeating: factor)
        while i + 16 <= count {
            x.store16(x.load16(i) * f, i)
            i += 16
        }
        while i < count { x[i] *= factor; i += 1 }
    }

    /// Soft cap `x[i] = cap·tanh(x[i] / cap)` (Gemma's logits, Gemma 2's attention scores), vectorized
    /// (`vectorTanh`).
    public static func softcap(_ x: UnsafeMutablePointer<Float>, cap: Float, count: Int) {
        let inverse = 1 / cap
        map(x, x, count, { cap * vectorTanh($0 * inverse) }, scalar: { cap * Foundation.tanh($0 * inverse) })
    }

    /// Residual add: `y[i] += x[i]`.
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            y.store16(y.load16(i) + x.load16(i), i)
            i += 16
        }
        while i < count { y[i] += x[i]; i += 1 }
    }

    /// Scaled add: `y[i] += a · x[i]`.
    @inline(__always)
    public static func add(_ x: UnsafePointer<Float>, scaledBy a: Float, into y: UnsafeMutablePointer<Float>, count: Int) {
        let va = SIMD16<Float>(repeating: a)
        var i = 0
        while i + 16 <= count {
            y.store16(y.load16(i) + va * x.load16(i), i)
            i += 16
        }
        while i < count { y[i] += a * x[i]; i += 1 }
    }

    /// The largest value.
    public static func maximum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var m = SIMD16<Float>(repeating: -.infinity)
        var i = 0
        while i + 16 <= count {
            m = lanewiseMax(m, x.load16(i))
            i += 16
        }
        var r = horizontalMax(m)
        while i < count { r = Swift.max(r, x[i]); i += 1 }
        return r
    }

    /// Index of the largest value (the first one on ties; NaNs are ignored unless all values are NaN, then 0).
    public static func argmax(_ x: UnsafePointer<Float>, count: Int) -> Int {
        precondition(count > 0, "argmax of an empty row")
        let m = maximum(x, count)
        var i = 0
        let mv = SIMD16<Float>(repeating: m)
        while i + 16 <= count {
            if anyEqual(x.load16(i), mv) { break }
            i += 16
        }
        while i < count {
            if x[i] == m { return i }
            i += 1
        }
        return 0
    }

    // MARK: References

    /// Scalar reference of `apply`.
    public static func applyReference(_ function: Function, _ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { x[i] = reference(function, x[i]) }
    }

    /// Scalar reference of `gatedProduct`.
    public static func gatedProductReference(_ function: Function, gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                                             into out: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { out[i] = reference(function, gate[i]) * up[i] }
    }

    /// Scalar reference of `softmax` (Double sums).
    public static func softmaxReference(_ x: UnsafeMutablePointer<Float>, count: Int, sink: Float? = nil) {
        guard count > 0 else { return }
        var m = sink.map { Double($0) } ?? -Double.infinity
        for i in 0..<count { m = Swift.max(m, Double(x[i])) }
        var total = sink.map { Foundation.exp(Double($0) - m) } ?? 0
        for i in 0..<count { total += Foundation.exp(Double(x[i]) - m) }
        for i in 0..<count { x[i] = Float(Foundation.exp(Double(x[i]) - m) / total) }
    }

    /// Scalar reference of `softcap` (Double `tanh`).
    public static func softcapReference(_ x: UnsafeMutablePointer<Float>, cap: Float, count: Int) {
        for i in 0..<count { x[i] = Float(Double(cap) * Foundation.tanh(Double(x[i]) / Double(cap))) }
    }

    /// Scalar reference of `argmax`.
    public static func argmaxReference(_ x: UnsafePointer<Float>, count: Int) -> Int {
        var best = 0
        for i in 1..<count where x[i] > x[best] || x[best].isNaN { best = i }
        return best
    }

    /// The activation of one value in Double precision.
    public static func reference(_ function: Function, _ v: Float) -> Float {
        let x = Double(v)
        switch function {
        case .relu: return Swift.max(v, 0)
        case .silu: return Float(x / (1 + Foundation.exp(-x)))
        case .geluErf: return Float(0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot())))
        case .geluTanh: return Float(0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))))
        }
    }

    // MARK: Kernels

    @inline(__always)
    static func map(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int,
                    _ vector: (SIMD16<Float>) -> SIMD16<Float>, scalar: (Float) -> Float) {
        var i = 0
        while i + 16 <= count {
            y.store16(vector(x.load16(i)), i)
            i += 16
        }
        while i < count { y[i] = scalar(x[i]); i += 1 }
    }

    @inline(__always)
    static func listed(_ x: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>?, _ indices: UnsafeBufferPointer<Int>,
                       _ scalar: (Float) -> Float) {
        if let bias {
            for n in indices { x[n] = scalar(x[n] + bias[n]) }
        } else {
            for n in indices { x[n] = scalar(x[n]) }
        }
    }

    @inline(__always)
    static func gated(_ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ count: Int,
                      _ vector: (SIMD16<Float>) -> SIMD16<Float>, scalar: (Float) -> Float) {
        var i = 0
        while i + 16 <= count {
            out.store16(vector(gate.load16(i)) * up.load16(i), i)
            i += 16
        }
        while i < count { out[i] = scalar(gate[i]) * up[i]; i += 1 }
    }

    @inline(__always) static func silu1(_ x: Float) -> Float { x / (1 + Foundation.exp(-x)) }

    @inline(__always) static func geluErf1(_ x: Float) -> Float { 0.5 * x * (1 + Foundation.erf(x * 0.707_106_78)) }

    /// GELU-tanh as `x · sigmoid(2z)` (= `0.5·x·(1 + tanh z)`), `z = √(2/π)·(x + 0.044715·x³)`.
    @inline(__always) static func geluTanh1(_ x: Float) -> Float {
        let z = 0.797_884_56 * (x + 0.044_715 * x * x * x)
        return x / (1 + Foundation.exp(-2 * z))
    }

    @inline(__always)
    static func geluErf16(_ x: SIMD16<Float>) -> SIMD16<Float> { 0.5 * x * (1 + vectorErf(x * 0.707_106_78)) }

    @inline(__always)
    static func geluTanh16(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let z = 0.797_884_56 * (x + 0.044_715 * x * x * x)
        return x * vectorSigmoid(2 * z)
    }
}
