// Lane-wise conversions between SIMD vector types, written as plain loops over lanes.
//
// The standard library's generic conversions (`SIMD16<Float>(someIntVector)`, `init(truncatingIfNeeded:)`) are
// not inlined into hot loops, so they compile to calls. These always-inlined loops are unrolled by LLVM and
// vectorized into single instructions (`vpmovsxbd`, `vcvtdq2ps`, `vcvtph2ps`, …); a widened-integer multiply of
// two 8-bit vectors becomes `vpmaddwd`. Keep them small and check the assembly when touching them.

@inline(__always)
func widen(_ v: SIMD16<Int8>) -> SIMD16<Int32> {
    var r = SIMD16<Int32>()
    for i in 0..<16 { r[i] = Int32(v[i]) }
    return r
}

@inline(__always)
func widen(_ v: SIMD16<UInt8>) -> SIMD16<Int32> {
    var r = SIMD16<Int32>()
    for i in 0..<16 { r[i] = Int32(v[i]) }
    return r
}

@inline(__always)
func widen(_ v: SIMD16<Int16>) -> SIMD16<Int32> {
    var r = SIMD16<Int32>()
    for i in 0..<16 { r[i] = Int32(v[i]) }
    return r
}

@inline(__always)
func toFloat(_ v: SIMD16<Int32>) -> SIMD16<Float> {
    var r = SIMD16<Float>()
    for i in 0..<16 { r[i] = Float(v[i]) }
    return r
}

/// Rounds to the nearest integer, ties to even, for `|v| < 2²²`: adding 1.5·2²³ rounds in the float unit, and
/// the integer is then in the low mantissa bits (no range check, unlike `Int32(Float)`, so it vectorizes).
@inline(__always)
func roundToInt32(_ v: SIMD16<Float>) -> SIMD16<Int32> {
    let magic = SIMD16<Float>(repeating: 12_582_912)
    return unsafeBitCast(v + magic, to: SIMD16<Int32>.self) &- 0x4B40_0000
}

/// IEEE half bits to Float, 4 lanes.
@inline(__always)
func decodeHalf4(_ bits: SIMD4<UInt16>) -> SIMD4<Float> {
    let h = unsafeBitCast(bits, to: SIMD4<Float16>.self)
    var r = SIMD4<Float>()
    for i in 0..<4 { r[i] = Float(h[i]) }
    return r
}

/// The low 16 bits of each lane.
@inline(__always)
func lowHalves(_ v: SIMD4<UInt32>) -> SIMD4<UInt16> {
    var r = SIMD4<UInt16>()
    for i in 0..<4 { r[i] = UInt16(truncatingIfNeeded: v[i]) }
    return r
}

/// The sums of the lanes of four vectors.
@inline(__always)
func horizontalSums(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>, _ d: SIMD16<Float>) -> SIMD4<Float> {
    let ab8 = SIMD16(lowHalf: a.lowHalf + a.highHalf, highHalf: b.lowHalf + b.highHalf)
    let cd8 = SIMD16(lowHalf: c.lowHalf + c.highHalf, highHalf: d.lowHalf + d.highHalf)
    // Lanes 0…7: a's eight partial sums, 8…15: b's (and c, d).
    let ab4 = SIMD8(lowHalf: ab8.lowHalf.lowHalf + ab8.lowHalf.highHalf, highHalf: ab8.highHalf.lowHalf + ab8.highHalf.highHalf)
    let cd4 = SIMD8(lowHalf: cd8.lowHalf.lowHalf + cd8.lowHalf.highHalf, highHalf: cd8.highHalf.lowHalf + cd8.highHalf.highHalf)
    let abcd2 = SIMD8(lowHalf: ab4.evenHalf + ab4.oddHalf, highHalf: cd4.evenHalf + cd4.oddHalf)
    return abcd2.evenHalf + abcd2.oddHalf
}

/// Narrows values known to lie in `-128...127`.
@inline(__always)
func narrowToInt8(_ v: SIMD16<Int32>) -> SIMD16<Int8> {
    var r = SIMD16<Int8>()
    for i in 0..<16 { r[i] = Int8(truncatingIfNeeded: v[i]) }
    return r
}

/// IEEE half bits to Float, 16 lanes (`vcvtph2ps`).
@inline(__always)
func decodeHalf16(_ bits: SIMD16<UInt16>) -> SIMD16<Float> {
    let h = unsafeBitCast(bits, to: SIMD16<Float16>.self)
    var r = SIMD16<Float>()
    for i in 0..<16 { r[i] = Float(h[i]) }
    return r
}

/// Float to IEEE half bits, round to nearest even, 16 lanes (`vcvtps2ph`).
@inline(__always)
func encodeHalf16(_ v: SIMD16<Float>) -> SIMD16<UInt16> {
    var h = SIMD16<Float16>()
    for i in 0..<16 { h[i] = Float16(v[i]) }
    return unsafeBitCast(h, to: SIMD16<UInt16>.self)
}

/// bfloat16 bits to Float, 16 lanes (exact: a shift into the high half).
@inline(__always)
func decodeBFloat16x16(_ bits: SIMD16<UInt16>) -> SIMD16<Float> {
    var r = SIMD16<UInt32>()
    for i in 0..<16 { r[i] = UInt32(bits[i]) }
    return unsafeBitCast(r &<< 16, to: SIMD16<Float>.self)
}

extension UnsafeRawPointer {
    /// Loads a vector from a possibly unaligned address.
    @inline(__always)
    func vector<V: SIMD>(at offset: Int = 0, as type: V.Type = V.self) -> V {
        loadUnaligned(fromByteOffset: offset, as: V.self)
    }
}

extension UnsafeMutableRawPointer {
    /// Stores a vector to a possibly unaligned address.
    @inline(__always)
    func storeVector<V: SIMD>(_ v: V, at offset: Int = 0) {
        storeBytes(of: v, toByteOffset: offset, as: V.self)
    }
}

extension UnsafePointer where Pointee == Float {
    /// Loads 16 floats at `self + i` (unaligned).
    @inline(__always)
    func load16(_ i: Int) -> SIMD16<Float> {
        UnsafeRawPointer(self + i).loadUnaligned(as: SIMD16<Float>.self)
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    /// Loads 16 floats at `self + i` (unaligned).
    @inline(__always)
    func load16(_ i: Int) -> SIMD16<Float> {
        UnsafeRawPointer(self + i).loadUnaligned(as: SIMD16<Float>.self)
    }

    /// Stores 16 floats at `self + i` (unaligned).
    @inline(__always)
    func store16(_ v: SIMD16<Float>, _ i: Int) {
        UnsafeMutableRawPointer(self + i).storeBytes(of: v, as: SIMD16<Float>.self)
    }
}

/// Sum of the lanes as a balanced tree (the standard library's `sum()` adds them one after another).
@inline(__always)
func horizontalSum(_ v: SIMD16<Float>) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

/// Lane-wise maximum (the standard library's `pointwiseMax` is not inlined).
@inline(__always)
func lanewiseMax<V: SIMD>(_ a: V, _ b: V) -> V where V.Scalar == Float {
    var r = V()
    for i in 0..<V.scalarCount { r[i] = a[i] > b[i] ? a[i] : b[i] }
    return r
}

/// Lane-wise minimum.
@inline(__always)
func lanewiseMin<V: SIMD>(_ a: V, _ b: V) -> V where V.Scalar == Float {
    var r = V()
    for i in 0..<V.scalarCount { r[i] = a[i] < b[i] ? a[i] : b[i] }
    return r
}

/// Largest lane, as a balanced tree.
@inline(__always)
func horizontalMax(_ v: SIMD16<Float>) -> Float {
    let a = lanewiseMax(v.lowHalf, v.highHalf)
    let b = lanewiseMax(a.lowHalf, a.highHalf)
    let c = lanewiseMax(b.lowHalf, b.highHalf)
    return c[1] > c[0] ? c[1] : c[0]
}

/// Whether any lane of `a` equals the corresponding lane of `b`.
@inline(__always)
func anyEqual(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> Bool {
    var r = false
    for i in 0..<16 { r = r || a[i] == b[i] }
    return r
}

/// Sum of the lanes of an integer vector.
@inline(__always)
func horizontalSum(_ v: SIMD16<Int32>) -> Int32 {
    let a = v.lowHalf &+ v.highHalf
    let b = a.lowHalf &+ a.highHalf
    let c = b.lowHalf &+ b.highHalf
    return c[0] &+ c[1]
}

/// Lane-wise absolute value.
@inline(__always)
func absolute(_ v: SIMD16<Float>) -> SIMD16<Float> {
    unsafeBitCast(unsafeBitCast(v, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: SIMD16<Float>.self)
}
