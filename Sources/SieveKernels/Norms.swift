import Foundation

/// Normalization layers over rows of `count` values: RMSNorm (LLaMA, Qwen2) and LayerNorm with bias (GPT-2,
/// OPT, BERT). Sums are accumulated in 32 float lanes; the references accumulate in Double.
public enum Norms {
    /// `y = x / sqrt(mean(x²) + epsilon) · weight` for `rows` consecutive rows (row stride `count`); `weight` may
    /// be nil (no scale). `y` may alias `x`.
    public static func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, count: Int, epsilon: Float,
                               rows: Int = 1, into y: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let xr = x + r * count, yr = y + r * count
            let scale = 1 / (sumOfSquares(xr, count) / Float(count) + epsilon).squareRoot()
            scaleRow(xr, shift: 0, scale: scale, weight: weight, bias: nil, count: count, into: yr)
        }
    }

    /// `y = (x − mean) / sqrt(variance + epsilon) · weight + bias` for `rows` consecutive rows; `weight` and
    /// `bias` may be nil. `y` may alias `x`.
    public static func layerNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, count: Int,
                                 epsilon: Float, rows: Int = 1, into y: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let xr = x + r * count, yr = y + r * count
            let mean = sum(xr, count) / Float(count)
            let variance = centeredSumOfSquares(xr, mean, count) / Float(count)
            scaleRow(xr, shift: mean, scale: 1 / (variance + epsilon).squareRoot(), weight: weight, bias: bias, count: count, into: yr)
        }
    }

    /// Scalar reference of `rmsNorm` (one row, Double sums).
    public static func rmsNormReference(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, count: Int, epsilon: Float,
                                        into y: UnsafeMutablePointer<Float>) {
        var s = 0.0
        for i in 0..<count { s += Double(x[i]) * Double(x[i]) }
        let scale = 1 / (s / Double(count) + Double(epsilon)).squareRoot()
        for i in 0..<count { y[i] = Float(Double(x[i]) * scale * Double(weight?[i] ?? 1)) }
    }

    /// Scalar reference of `layerNorm` (one row, Double sums).
    public static func layerNormReference(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                                          count: Int, epsilon: Float, into y: UnsafeMutablePointer<Float>) {
        var s = 0.0
        for i in 0..<count { s += Double(x[i]) }
        let mean = s / Double(count)
        var v = 0.0
        for i in 0..<count { v += (Double(x[i]) - mean) * (Double(x[i]) - mean) }
        let scale = 1 / (v / Double(count) + Double(epsilon)).squareRoot()
        for i in 0..<count {
            y[i] = Float((Double(x[i]) - mean) * scale * Double(weight?[i] ?? 1) + Double(bias?[i] ?? 0))
        }
    }

    static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        var i = 0
        while i + 32 <= n {
            a0 += x.load16(i)
            a1 += x.load16(i + 16)
            i += 32
        }
        var t = horizontalSum(a0 + a1)
        while i < n { t += x[i]; i += 1 }
        return t
    }

    static func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        var i = 0
        while i + 32 <= n {
            let v0 = x.load16(i), v1 = x.load16(i + 16)
            a0.addProduct(v0, v0)
            a1.addProduct(v1, v1)
            i += 32
        }
        var t = horizontalSum(a0 + a1)
        while i < n { t += x[i] * x[i]; i += 1 }
        return t
    }

    static func centeredSumOfSquares(_ x: UnsafePointer<Float>, _ mean: Float, _ n: Int) -> Float {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        let m = SIMD16<Float>(repeating: mean)
        var i = 0
        while i + 32 <= n {
            let v0 = x.load16(i) - m, v1 = x.load16(i + 16) - m
            a0.addProduct(v0, v0)
            a1.addProduct(v1, v1)
            i += 32
        }
        var t = horizontalSum(a0 + a1)
        while i < n { t += (x[i] - mean) * (x[i] - mean); i += 1 }
        return t
    }

    /// `y = (x − shift) · scale · weight + bias`.
    @inline(__always)
    static func scaleRow(_ x: UnsafePointer<Float>, shift: Float, scale: Float, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                         count n: Int, into y: UnsafeMutablePointer<Float>) {
        var i = 0
        let s = SIMD16<Float>(repeating: scale), m = SIMD16<Float>(repeating: shift)
        while i + 16 <= n {
            var v = (x.load16(i) - m) * s
            if let weight { v *= weight.load16(i) }
            if let bias { v += bias.load16(i) }
            y.store16(v, i)
            i += 16
        }
        while i < n {
            var v = (x[i] - shift) * scale
            if let weight { v *= weight[i] }
            if let bias { v += bias[i] }
            y[i] = v
            i += 1
        }
    }
}
