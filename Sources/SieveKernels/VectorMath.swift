// Vectorized elementary functions on 16 lanes, built only from lane-wise arithmetic and bit casts.

/// `exp` for 16 lanes: Cody–Waite range reduction to `r ∈ [−ln2/2, ln2/2]`, a degree-6 polynomial (the Cephes
/// `expf` coefficients) and a scale by `2ⁿ` built in the exponent bits. Inputs are clamped to
/// `[−87.33, 88.37]` (results from about 1.2e-38 to 2.4e38; `-inf` gives the smallest value, not 0).
/// Relative error below `Tolerances.exp`.
@inline(__always)
func vectorExp(_ v: SIMD16<Float>) -> SIMD16<Float> {
    let x = lanewiseMin(lanewiseMax(v, SIMD16(repeating: -87.33654)), SIMD16(repeating: 88.37626))
    let magic = SIMD16<Float>(repeating: 12_582_912)  // 1.5 · 2²³: adding it rounds to an integer
    let shifted = x * 1.442_695_04 + magic
    let n = shifted - magic
    let r = (x - n * 0.693_359_375) - n * -2.121_944_40e-4
    var p = SIMD16<Float>(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_91e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_12e-1
    let e = p * (r * r) + r + 1
    let k = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
    let scale = unsafeBitCast((k &+ 127) &<< 23, to: SIMD16<Float>.self)
    return e * scale
}

/// `1 / (1 + exp(−x))` for 16 lanes.
@inline(__always)
func vectorSigmoid(_ x: SIMD16<Float>) -> SIMD16<Float> {
    1 / (1 + vectorExp(-x))
}

/// `erf` for 16 lanes (Abramowitz & Stegun 7.1.26, absolute error below 1.5e-7).
@inline(__always)
func vectorErf(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let a = absolute(x)
    let t = 1 / (1 + 0.327_591_1 * a)
    var p = SIMD16<Float>(repeating: 1.061_405_429)
    p = p * t - 1.453_152_027
    p = p * t + 1.421_413_741
    p = p * t - 0.284_496_736
    p = p * t + 0.254_829_592
    let y = 1 - p * t * vectorExp(-(a * a))
    let sign = unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x8000_0000
    return unsafeBitCast(unsafeBitCast(y, to: SIMD16<UInt32>.self) | sign, to: SIMD16<Float>.self)
}

/// `tanh` for 16 lanes: `(1 − e) / (1 + e)` with `e = exp(−2|x|)`, the sign of `x`, and below |x| = 1/8 (where
/// `1 − e` cancels) its odd series to x⁷, so small inputs keep their relative precision. Saturates at ±1.
@inline(__always)
func vectorTanh(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let a = absolute(x)
    let e = vectorExp(-2 * a)
    var t = (1 - e) / (1 + e)
    let a2 = a * a
    var series = SIMD16<Float>(repeating: -17 / 315)
    series = series * a2 + 2 / 15
    series = series * a2 - 1 / 3
    series = (series * a2 + 1) * a
    t.replace(with: series, where: a .< 0.125)
    let sign = unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x8000_0000
    return unsafeBitCast(unsafeBitCast(t, to: SIMD16<UInt32>.self) | sign, to: SIMD16<Float>.self)
}
