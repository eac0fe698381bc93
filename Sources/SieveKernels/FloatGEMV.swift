import SieveCore

/// A float weight encoding read 16 values at a time.
protocol FloatRowKind {
    /// Bytes per value.
    static var elementBytes: Int { get }
    /// Values `i..<i+16` of the row at `row`.
    static func load16(_ row: UnsafeRawPointer, _ i: Int) -> SIMD16<Float>
    /// Value `i` of the row at `row`.
    static func load1(_ row: UnsafeRawPointer, _ i: Int) -> Float
}

enum F32Row: FloatRowKind {
    static var elementBytes: Int { 4 }
    @inline(__always) static func load16(_ row: UnsafeRawPointer, _ i: Int) -> SIMD16<Float> { row.vector(at: 4 * i) }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ i: Int) -> Float { row.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
}

enum F16Row: FloatRowKind {
    static var elementBytes: Int { 2 }
    @inline(__always) static func load16(_ row: UnsafeRawPointer, _ i: Int) -> SIMD16<Float> { decodeHalf16(row.vector(at: 2 * i)) }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ i: Int) -> Float {
        Float(Float16(bitPattern: row.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
    }
}

enum BF16Row: FloatRowKind {
    static var elementBytes: Int { 2 }
    @inline(__always) static func load16(_ row: UnsafeRawPointer, _ i: Int) -> SIMD16<Float> { decodeBFloat16x16(row.vector(at: 2 * i)) }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ i: Int) -> Float {
        HalfPrecision.bf16ToFloat(row.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
    }
}

/// Matrix-vector products on float weights (f32, f16, bf16) with float activations, four rows at a time.
enum FloatGEMV {
    /// `y[r] = W[r, :]·x` for `r` in `rows`: four rows at a time taken from the four quarters of `rows`, so
    /// memory is read as four long sequential streams (see `QuantizedGEMV.rows`). Leftover rows are computed as
    /// a group that repeats its last row, so every row's result is the same whatever rows it is computed with.
    @inline(never)
    static func rows<K: FloatRowKind>(_ kind: K.Type, _ w: WeightLayout, _ rows: DecodeRows, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        rows.forEachGroup(of: w) { r, valid in group(kind, w, r, valid: valid, x, y) }
    }

    /// Rows `r.0…r.3` (the first `valid` of them stored).
    @inline(__always)
    static func group<K: FloatRowKind>(_ kind: K.Type, _ w: WeightLayout, _ r: (Int, Int, Int, Int), valid: Int,
                                      _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        let n = w.columns
        let vectorEnd = n & ~15
        let p0 = w.row(r.0), p1 = w.row(r.1), p2 = w.row(r.2), p3 = w.row(r.3)
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        var c = 0
        while c < vectorEnd {
            let xv = x.load16(c)
            a0.addProduct(K.load16(p0, c), xv)
            a1.addProduct(K.load16(p1, c), xv)
            a2.addProduct(K.load16(p2, c), xv)
            a3.addProduct(K.load16(p3, c), xv)
            c += 16
        }
        var sums = horizontalSums(a0, a1, a2, a3)
        while c < n {
            sums += SIMD4(K.load1(p0, c), K.load1(p1, c), K.load1(p2, c), K.load1(p3, c)) * x[c]
            c += 1
        }
        y[r.0] = sums[0]
        if valid > 1 { y[r.1] = sums[1] }
        if valid > 2 { y[r.2] = sums[2] }
        if valid > 3 { y[r.3] = sums[3] }
    }

    /// Dot product of one row with `x`.
    @inline(__always)
    static func dot<K: FloatRowKind>(_ kind: K.Type, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        var i = 0
        while i + 32 <= n {
            a0.addProduct(K.load16(row, i), x.load16(i))
            a1.addProduct(K.load16(row, i + 16), x.load16(i + 16))
            i += 32
        }
        if i + 16 <= n {
            a0.addProduct(K.load16(row, i), x.load16(i))
            i += 16
        }
        var t = horizontalSum(a0 + a1)
        while i < n {
            t += K.load1(row, i) * x[i]
            i += 1
        }
        return t
    }
}
