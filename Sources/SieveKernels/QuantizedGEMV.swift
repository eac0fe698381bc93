import SieveCore

// Matrix-vector products on block-quantized weights with 8-bit activations (decode).
//
// For each weight block the integer products code·q_x are summed in 16 Int32 lanes (the multiply of two widened
// 8-bit vectors compiles to vpmaddwd/vpdpwssd), converted to float and accumulated with the block's scale
// d_w·d_x. Four rows are processed together so that each activation block is widened once and the four rows'
// f16 scales are converted by one instruction.

/// A weight type stored in blocks of 32 with a scale in the first bytes: an f16 (two bytes), or MXFP4's E8M0 byte.
protocol Block32Kind {
    /// Bytes per block.
    static var blockBytes: Int { get }
    /// Whether the scale is one E8M0 byte e (d = 2^(e − 128), MXFP4) rather than an f16.
    static var powerOfTwoScale: Bool { get }
    /// Whether an f16 min follows the scale (x = d·q + m); otherwise x = d·(q − codeOffset).
    static var hasMin: Bool { get }
    /// Offset subtracted from the codes (8 for q4_0, 16 for q5_0, 0 for q8_0).
    static var codeOffset: Float { get }
    /// Lane sums of code·x over the block (codes before the offset), 16 lanes.
    static func products(_ block: UnsafeRawPointer, _ x0: SIMD16<Int32>, _ x1: SIMD16<Int32>) -> SIMD16<Int32>
}

extension Block32Kind {
    static var powerOfTwoScale: Bool { false }
}

enum Q8_0Dot: Block32Kind {
    static var blockBytes: Int { 34 }
    static var hasMin: Bool { false }
    static var codeOffset: Float { 0 }
    @inline(__always)
    static func products(_ block: UnsafeRawPointer, _ x0: SIMD16<Int32>, _ x1: SIMD16<Int32>) -> SIMD16<Int32> {
        widen(block.vector(at: 2, as: SIMD16<Int8>.self)) &* x0 &+ widen(block.vector(at: 18, as: SIMD16<Int8>.self)) &* x1
    }
}

enum Q4_0Dot: Block32Kind {
    static var blockBytes: Int { 18 }
    static var hasMin: Bool { false }
    static var codeOffset: Float { 8 }
    @inline(__always)
    static func products(_ block: UnsafeRawPointer, _ x0: SIMD16<Int32>, _ x1: SIMD16<Int32>) -> SIMD16<Int32> {
        let q: SIMD16<UInt8> = block.vector(at: 2)
        return widen(q & 15) &* x0 &+ widen(q &>> 4) &* x1
    }
}

enum Q4_1Dot: Block32Kind {
    static var blockBytes: Int { 20 }
    static var hasMin: Bool { true }
    static var codeOffset: Float { 0 }
    @inline(__always)
    static func products(_ block: UnsafeRawPointer, _ x0: SIMD16<Int32>, _ x1: SIMD16<Int32>) -> SIMD16<Int32> {
        let q: SIMD16<UInt8> = block.vector(at: 4)
        return widen(q & 15) &* x0 &+ widen(q &>> 4) &* x1
    }
}

enum Q5_0Dot: Block32Kind {
    static var blockBytes: Int { 22 }
    static var hasMin: Bool { false }
    static var codeOffset: Float { 16 }

    /// The 5-bit codes (0…31) of elements 0…15 and 16…31: the nibble plus bit i of `qh` as bit 4 (q5_0's layout:
    /// the 32 fifth bits at byte 2, the nibbles at 6; q5_1 keeps them at 4 and 8, after its min).
    @inline(__always)
    static func codes(_ block: UnsafeRawPointer, qhAt: Int = 2) -> (SIMD16<Int32>, SIMD16<Int32>) {
        let qh = block.loadUnaligned(fromByteOffset: qhAt, as: UInt32.self)
        let q: SIMD16<UInt8> = block.vector(at: qhAt + 4)
        let lanes = SIMD16<UInt32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        // Bit i (and bit 16 + i) moved to bit 4 of lane i.
        let high0 = (SIMD16<UInt32>(repeating: qh &<< 4) &>> lanes) & 16
        let high1 = (SIMD16<UInt32>(repeating: qh &>> 12) &>> lanes) & 16
        return (widen(q & 15) | unsafeBitCast(high0, to: SIMD16<Int32>.self), widen(q &>> 4) | unsafeBitCast(high1, to: SIMD16<Int32>.self))
    }

    @inline(__always)
    static func products(_ block: UnsafeRawPointer, _ x0: SIMD16<Int32>, _ x1: SIMD16<Int32>) -> SIMD16<Int32> {
        let (c0, c1) = codes(block)
        return c0 &* x0 &+ c1 &* x1
    }
}

enum Q5_1Dot: Block32Kind {
    static var blockBytes: Int { 24 }
    static var hasMin: Bool { true }
    static var codeOffset: Float { 0 }
    @inline(__always)
    static func products(_ block: UnsafeRawPointer, _ x0: SIMD16<Int32>, _ x1: SIMD16<Int32>) -> SIMD16<Int32> {
        let (c0, c1) = Q5_0Dot.codes(block, qhAt: 4)
        return c0 &* x0 &+ c1 &* x1
    }
}

/// iq4_nl: nibbles as q4_0, each indexing `QuantizedCodecs.nonLinearBook`.
enum IQ4NLDot: Block32Kind {
    static var blockBytes: Int { 18 }
    static var hasMin: Bool { false }
    static var codeOffset: Float { 0 }
    @inline(__always)
    static func products(_ block: UnsafeRawPointer, _ x0: SIMD16<Int32>, _ x1: SIMD16<Int32>) -> SIMD16<Int32> {
        let q: SIMD16<UInt8> = block.vector(at: 2)
        return bookValues(q & 15) &* x0 &+ bookValues(q &>> 4) &* x1
    }

    /// The values in `book` of 16 codes (0…15), one lane at a time: Swift has no portable vector table lookup (the C
    /// kernels use `vpshufb`).
    @inline(__always)
    static func bookValues(_ codes: SIMD16<UInt8>, in book: [Int8] = QuantizedCodecs.nonLinearBook) -> SIMD16<Int32> {
        var v = SIMD16<Int32>()
        book.withUnsafeBufferPointer { book in
            for i in 0..<16 { v[i] = Int32(book[Int(codes[i] & 15)]) }
        }
        return v
    }
}

/// MXFP4: an E8M0 scale byte, then nibbles as q4_0's, each indexing `QuantizedCodecs.mxfp4Book`.
enum MXFP4Dot: Block32Kind {
    static var blockBytes: Int { 17 }
    static var powerOfTwoScale: Bool { true }
    static var hasMin: Bool { false }
    static var codeOffset: Float { 0 }
    @inline(__always)
    static func products(_ block: UnsafeRawPointer, _ x0: SIMD16<Int32>, _ x1: SIMD16<Int32>) -> SIMD16<Int32> {
        let q: SIMD16<UInt8> = block.vector(at: 1)
        return IQ4NLDot.bookValues(q & 15, in: QuantizedCodecs.mxfp4Book) &* x0 &+ IQ4NLDot.bookValues(q &>> 4, in: QuantizedCodecs.mxfp4Book) &* x1
    }
}

enum QuantizedGEMV {
    /// `y[r] = W[r, :]·x` for `r` in `rows`, with `x` quantized in `act`.
    ///
    /// Rows are processed four at a time, taken from the four quarters of `rows` (rows `i`, `q+i`, `2q+i`, `3q+i`)
    /// so that memory is read as four long sequential streams the hardware prefetcher follows — four adjacent
    /// rows would be four short streams, and weights streamed from DRAM would arrive several times slower.
    /// For each block the four rows' scale words (f16 scale, and the f16 min that follows it for q4_1) are
    /// converted together, and each activation block is widened once for the four rows. Leftover rows (fewer
    /// than four) are computed as a group that repeats its last row and stores only the real ones.
    @inline(never)
    static func rows<K: Block32Kind>(_ kind: K.Type, _ w: WeightLayout, _ rows: DecodeRows, _ act: Q8Activation,
                                    _ y: UnsafeMutablePointer<Float>) {
        rows.forEachGroup(of: w) { r, valid in group(kind, w, r, valid: valid, act, y) }
    }

    /// Rows `r.0…r.3` (the first `valid` of them stored).
    @inline(__always)
    static func group<K: Block32Kind>(_ kind: K.Type, _ w: WeightLayout, _ r: (Int, Int, Int, Int), valid: Int, _ act: Q8Activation,
                                     _ y: UnsafeMutablePointer<Float>) {
        let blockBytes = K.blockBytes
        let p0 = w.row(r.0), p1 = w.row(r.1), p2 = w.row(r.2), p3 = w.row(r.3)
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        var correction = SIMD4<Float>()
        for b in 0..<act.blocks {
            let o = b &* blockBytes
            let d: SIMD4<Float>
            if K.powerOfTwoScale {
                d = SIMD4(QuantizedCodecs.mxfp4Scale(p0.load(fromByteOffset: o, as: UInt8.self)),
                          QuantizedCodecs.mxfp4Scale(p1.load(fromByteOffset: o, as: UInt8.self)),
                          QuantizedCodecs.mxfp4Scale(p2.load(fromByteOffset: o, as: UInt8.self)),
                          QuantizedCodecs.mxfp4Scale(p3.load(fromByteOffset: o, as: UInt8.self)))
            } else {
                let words = SIMD4<UInt32>(p0.loadUnaligned(fromByteOffset: o, as: UInt32.self), p1.loadUnaligned(fromByteOffset: o, as: UInt32.self),
                                          p2.loadUnaligned(fromByteOffset: o, as: UInt32.self), p3.loadUnaligned(fromByteOffset: o, as: UInt32.self))
                d = decodeHalf4(lowHalves(words))
            }
            let scale = d * act.d[b]
            if K.hasMin {
                let m = SIMD4(Dequantize.half(p0, o + 2), Dequantize.half(p1, o + 2), Dequantize.half(p2, o + 2), Dequantize.half(p3, o + 2))
                correction.addProduct(m, SIMD4(repeating: act.s[b]))
            } else if K.codeOffset != 0 {
                correction.addProduct(d, SIMD4(repeating: act.offsetSum[b]))
            }
            let xp = UnsafeRawPointer(act.qs + 32 &* b)
            let x0 = widen(xp.vector(as: SIMD16<Int8>.self)), x1 = widen(xp.vector(at: 16, as: SIMD16<Int8>.self))
            a0.addProduct(toFloat(K.products(p0 + o, x0, x1)), SIMD16(repeating: scale[0]))
            a1.addProduct(toFloat(K.products(p1 + o, x0, x1)), SIMD16(repeating: scale[1]))
            a2.addProduct(toFloat(K.products(p2 + o, x0, x1)), SIMD16(repeating: scale[2]))
            a3.addProduct(toFloat(K.products(p3 + o, x0, x1)), SIMD16(repeating: scale[3]))
        }
        if !K.hasMin { correction *= -K.codeOffset }
        let sums = horizontalSums(a0, a1, a2, a3) + correction
        y[r.0] = sums[0]
        if valid > 1 { y[r.1] = sums[1] }
        if valid > 2 { y[r.2] = sums[2] }
        if valid > 3 { y[r.3] = sums[3] }
    }
}

/// Helpers for the K-quant block layouts.
enum KQuant {
    /// The eight 6-bit scales and mins of a q4_K block, one byte each (scale j in bits 8j…8j+7).
    @inline(__always)
    static func q4KScalesAndMins(_ block: UnsafeRawPointer) -> (scales: UInt64, mins: UInt64) {
        let u0 = block.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        let u1 = block.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        let u2 = block.loadUnaligned(fromByteOffset: 12, as: UInt32.self)
        let low6: UInt32 = 0x3F3F_3F3F, low4: UInt32 = 0x0F0F_0F0F, low2: UInt32 = 0x0303_0303
        let scalesLow = u0 & low6
        let minsLow = u1 & low6
        let scalesHigh = (u2 & low4) | (((u0 >> 6) & low2) << 4)
        let minsHigh = ((u2 >> 4) & low4) | (((u1 >> 6) & low2) << 4)
        return (UInt64(scalesLow) | UInt64(scalesHigh) << 32, UInt64(minsLow) | UInt64(minsHigh) << 32)
    }

    /// The 6-bit codes (0…63) of a q6_K block for elements `128·half + 32·k + 16·lane16 + (0..<16)`, k = 0…3.
    @inline(__always)
    static func q6KCodes(_ block: UnsafeRawPointer, half: Int, lane16: Int) -> (SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>) {
        let ql = 64 * half + 16 * lane16
        let a: SIMD16<UInt8> = block.vector(at: ql)
        let b: SIMD16<UInt8> = block.vector(at: ql + 32)
        let h: SIMD16<UInt8> = block.vector(at: 128 + 32 * half + 16 * lane16)
        return (widen((a & 15) | ((h & 3) &<< 4)),
                widen((b & 15) | (((h &>> 2) & 3) &<< 4)),
                widen((a &>> 4) | (((h &>> 4) & 3) &<< 4)),
                widen((b &>> 4) | ((h &>> 6) &<< 4)))
    }

    /// `y[r] = W[r, :]·x` for q4_K rows: four rows at a time from the four quarters of `rows` (long sequential
    /// streams; see `QuantizedGEMV.rows`), each activation vector widened once for the four rows.
    @inline(never)
    static func q4KRows(_ w: WeightLayout, _ rows: DecodeRows, _ act: Q8KActivation, _ y: UnsafeMutablePointer<Float>) {
        rows.forEachGroup(of: w) { r, valid in q4KGroup(w, r, valid: valid, act, y) }
    }

    /// `y[r] = W[r, :]·x` for q5_K rows, grouped like `q4KRows`.
    @inline(never)
    static func q5KRows(_ w: WeightLayout, _ rows: DecodeRows, _ act: Q8KActivation, _ y: UnsafeMutablePointer<Float>) {
        rows.forEachGroup(of: w) { r, valid in q4KGroup(w, r, valid: valid, act, y, fiveBits: true) }
    }

    /// `y[r] = W[r, :]·x` for q2_K rows, grouped like `q4KRows`.
    @inline(never)
    static func q2KRows(_ w: WeightLayout, _ rows: DecodeRows, _ act: Q8KActivation, _ y: UnsafeMutablePointer<Float>) {
        rows.forEachGroup(of: w) { r, valid in lowBitGroup(w, r, valid: valid, act, y, threeBits: false) }
    }

    /// `y[r] = W[r, :]·x` for q3_K rows, grouped like `q4KRows`.
    @inline(never)
    static func q3KRows(_ w: WeightLayout, _ rows: DecodeRows, _ act: Q8KActivation, _ y: UnsafeMutablePointer<Float>) {
        rows.forEachGroup(of: w) { r, valid in lowBitGroup(w, r, valid: valid, act, y, threeBits: true) }
    }

    /// `y[r] = W[r, :]·x` for q6_K rows, grouped like `q4KRows`.
    @inline(never)
    static func q6KRows(_ w: WeightLayout, _ rows: DecodeRows, _ act: Q8KActivation, _ y: UnsafeMutablePointer<Float>) {
        rows.forEachGroup(of: w) { r, valid in q6KGroup(w, r, valid: valid, act, y) }
    }

    /// `y[r] = W[r, :]·x` for iq4_xs rows, grouped like `q4KRows`.
    @inline(never)
    static func iq4XSRows(_ w: WeightLayout, _ rows: DecodeRows, _ act: Q8KActivation, _ y: UnsafeMutablePointer<Float>) {
        rows.forEachGroup(of: w) { r, valid in
            let p0 = w.row(r.0), p1 = w.row(r.1), p2 = w.row(r.2), p3 = w.row(r.3)
            var acc = SIMD4<Float>()
            for sb in 0..<act.blocks {
                let o = 136 &* sb
                let xq = UnsafeRawPointer(act.qs + 256 &* sb)
                let sums = SIMD4(iq4XSSum(p0 + o, xq), iq4XSSum(p1 + o, xq), iq4XSSum(p2 + o, xq), iq4XSSum(p3 + o, xq))
                let d = SIMD4(Dequantize.half(p0, o), Dequantize.half(p1, o), Dequantize.half(p2, o), Dequantize.half(p3, o)) * act.d[sb]
                acc.addProduct(SIMD4<Float>(sums), d)
            }
            store(acc, r, valid: valid, y)
        }
    }

    /// Σ_ib (s_ib − 32)·Σ book[q]·x over the eight sub-blocks of the iq4_xs super-block at `block`, `xq` its 256
    /// activation codes (at most 8·32·127·127·32 in magnitude).
    @inline(__always)
    static func iq4XSSum(_ block: UnsafeRawPointer, _ xq: UnsafeRawPointer) -> Int32 {
        var sum: Int32 = 0
        for ib in 0..<8 {
            let xp = xq + 32 * ib
            let products = IQ4NLDot.products(block + 6 + 16 * ib, widen(xp.vector(as: SIMD16<Int8>.self)),
                                             widen(xp.vector(at: 16, as: SIMD16<Int8>.self)))
            sum &+= Int32(QuantizedCodecs.iq4XSScale(block, ib) - 32) &* products.wrappedSum()
        }
        return sum
    }

    /// Stores the first `valid` of four results.
    @inline(__always)
    static func store(_ sums: SIMD4<Float>, _ r: (Int, Int, Int, Int), valid: Int, _ y: UnsafeMutablePointer<Float>) {
        y[r.0] = sums[0]
        if valid > 1 { y[r.1] = sums[1] }
        if valid > 2 { y[r.2] = sums[2] }
        if valid > 3 { y[r.3] = sums[3] }
    }

    /// The codes of 64 elements of a q4_K block (chunk `c`: sub-blocks 2c and 2c+1), 16 at a time: elements
    /// 64c + (0..<16), + (16..<32), + (32..<48), + (48..<64). A q5_K block (`fiveBits`) adds bit 2c (sub-block 2c)
    /// or 2c+1 of its 32 high-bit bytes (at byte 16, the nibbles after them at 48) as bit 4.
    @inline(__always)
    static func q4KCodes(_ block: UnsafeRawPointer, _ c: Int, fiveBits: Bool = false) -> (SIMD16<UInt8>, SIMD16<UInt8>, SIMD16<UInt8>, SIMD16<UInt8>) {
        let at = fiveBits ? 48 : 16
        let qa: SIMD16<UInt8> = block.vector(at: at + 32 * c)
        let qb: SIMD16<UInt8> = block.vector(at: at + 16 + 32 * c)
        guard fiveBits else { return (qa & 15, qb & 15, qa &>> 4, qb &>> 4) }
        let ha: SIMD16<UInt8> = block.vector(at: 16), hb: SIMD16<UInt8> = block.vector(at: 32)
        let lowShift = SIMD16<UInt8>(repeating: UInt8(2 * c)), highShift = SIMD16<UInt8>(repeating: UInt8(2 * c + 1))
        return ((qa & 15) | (((ha &>> lowShift) & 1) &<< 4), (qb & 15) | (((hb &>> lowShift) & 1) &<< 4),
                (qa &>> 4) | (((ha &>> highShift) & 1) &<< 4), (qb &>> 4) | (((hb &>> highShift) & 1) &<< 4))
    }

    /// Integer products of 64 elements of a q4_K (or q5_K) block (chunk `c`: sub-blocks 2c and 2c+1) with the
    /// widened activations, each sub-block weighted by its 6-bit scale.
    @inline(__always)
    static func q4KChunk(_ block: UnsafeRawPointer, _ c: Int, _ scales: UInt64, _ x: (SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>),
                         fiveBits: Bool) -> SIMD16<Int32> {
        let (q0, q1, q2, q3) = q4KCodes(block, c, fiveBits: fiveBits)
        let low = widen(q0) &* x.0 &+ widen(q1) &* x.1
        let high = widen(q2) &* x.2 &+ widen(q3) &* x.3
        return low &* Int32(truncatingIfNeeded: (scales >> (16 * c)) & 0xFF) &+ high &* Int32(truncatingIfNeeded: (scales >> (16 * c + 8)) & 0xFF)
    }

    /// `Σ_j min_j · (bsum[2j] + bsum[2j+1])` of a q4_K block.
    @inline(__always)
    static func q4KMinSum(_ mins: UInt64, _ pairSums: SIMD8<Int32>) -> Int32 {
        var m = SIMD8<Int32>()
        for j in 0..<8 { m[j] = Int32(truncatingIfNeeded: (mins >> (8 * j)) & 0xFF) }
        return (m &* pairSums).wrappedSum()
    }

    @inline(__always)
    static func q4KGroup(_ w: WeightLayout, _ r: (Int, Int, Int, Int), valid: Int, _ act: Q8KActivation, _ y: UnsafeMutablePointer<Float>,
                         fiveBits: Bool = false) {
        let p0 = w.row(r.0), p1 = w.row(r.1), p2 = w.row(r.2), p3 = w.row(r.3)
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        var correction = SIMD4<Float>()
        let blockBytes = fiveBits ? 176 : 144
        for sb in 0..<act.blocks {
            let o = blockBytes &* sb
            let b0 = p0 + o, b1 = p1 + o, b2 = p2 + o, b3 = p3 + o
            let dx = act.d[sb]
            let d = SIMD4(Dequantize.half(b0), Dequantize.half(b1), Dequantize.half(b2), Dequantize.half(b3)) * dx
            let dmin = SIMD4(Dequantize.half(b0, 2), Dequantize.half(b1, 2), Dequantize.half(b2, 2), Dequantize.half(b3, 2)) * dx
            let (s0, m0) = q4KScalesAndMins(b0), (s1, m1) = q4KScalesAndMins(b1)
            let (s2, m2) = q4KScalesAndMins(b2), (s3, m3) = q4KScalesAndMins(b3)
            let xq = UnsafeRawPointer(act.qs + 256 &* sb)
            var i0 = SIMD16<Int32>(), i1 = SIMD16<Int32>(), i2 = SIMD16<Int32>(), i3 = SIMD16<Int32>()
            for c in 0..<4 {
                let xc = xq + 64 * c
                let x = (widen(xc.vector(as: SIMD16<Int8>.self)), widen(xc.vector(at: 16, as: SIMD16<Int8>.self)),
                         widen(xc.vector(at: 32, as: SIMD16<Int8>.self)), widen(xc.vector(at: 48, as: SIMD16<Int8>.self)))
                i0 &+= q4KChunk(b0, c, s0, x, fiveBits: fiveBits)
                i1 &+= q4KChunk(b1, c, s1, x, fiveBits: fiveBits)
                i2 &+= q4KChunk(b2, c, s2, x, fiveBits: fiveBits)
                i3 &+= q4KChunk(b3, c, s3, x, fiveBits: fiveBits)
            }
            a0.addProduct(toFloat(i0), SIMD16(repeating: d[0]))
            a1.addProduct(toFloat(i1), SIMD16(repeating: d[1]))
            a2.addProduct(toFloat(i2), SIMD16(repeating: d[2]))
            a3.addProduct(toFloat(i3), SIMD16(repeating: d[3]))
            let bsums = widen(UnsafeRawPointer(act.bsums + 16 &* sb).vector(as: SIMD16<Int16>.self))
            let pairs = bsums.evenHalf &+ bsums.oddHalf
            let mins = SIMD4(Float(q4KMinSum(m0, pairs)), Float(q4KMinSum(m1, pairs)), Float(q4KMinSum(m2, pairs)), Float(q4KMinSum(m3, pairs)))
            correction.addProduct(dmin, mins)
        }
        store(horizontalSums(a0, a1, a2, a3) - correction, r, valid: valid, y)
    }

    /// The first element of sub-block `g` (of 16 elements) of a q2_K/q3_K super-block: sub-blocks 2j and 2j+1 of
    /// each half are elements `128·half + 32j + (0..<16)` and `(16..<32)`.
    @inline(__always)
    static func groupStart(_ g: Int) -> Int { 128 * (g / 8) + 32 * ((g % 8) / 2) + 16 * (g % 2) }

    /// The 2-bit codes (0…3) of sub-block `g` of a q2_K/q3_K super-block whose 64 code bytes are at `qs`: bits
    /// 2j…2j+1 of bytes `32·half + 16·(g % 2) + (0..<16)`.
    @inline(__always)
    static func twoBitCodes(_ qs: UnsafeRawPointer, group g: Int) -> SIMD16<UInt8> {
        let v: SIMD16<UInt8> = qs.vector(at: 32 * (g / 8) + 16 * (g % 2))
        return (v &>> UInt8(2 * ((g % 8) / 2))) & 3
    }

    /// The 3-bit codes (0…7, before their −4 offset) of sub-block `g` of a q3_K block: the 2-bit codes at byte 32
    /// plus bit `4·half + j` of the 32 `hmask` bytes at byte 0 as bit 2.
    @inline(__always)
    static func q3KCodes(_ block: UnsafeRawPointer, group g: Int) -> SIMD16<UInt8> {
        let h: SIMD16<UInt8> = block.vector(at: 16 * (g % 2))
        let bit = UInt8(4 * (g / 8) + (g % 8) / 2)
        return twoBitCodes(block + 32, group: g) | (((h &>> bit) & 1) &<< 2)
    }

    /// The 16 scales (−32…31) of a q3_K block: 6-bit values whose low nibbles are in bytes 96…103 (sub-blocks 0…7
    /// low nibbles, 8…15 high nibbles) and whose high bit pairs are in bytes 104…107 (bits 2(g/4)… of byte g % 4).
    @inline(__always)
    static func q3KScales(_ block: UnsafeRawPointer) -> SIMD16<Int32> {
        let u0 = block.loadUnaligned(fromByteOffset: 96, as: UInt32.self)
        let u1 = block.loadUnaligned(fromByteOffset: 100, as: UInt32.self)
        let u2 = block.loadUnaligned(fromByteOffset: 104, as: UInt32.self)
        let low4: UInt32 = 0x0F0F_0F0F, low2: UInt32 = 0x0303_0303
        let words = SIMD4<UInt32>(u0 & low4 | (u2 & low2) << 4, u1 & low4 | ((u2 >> 2) & low2) << 4,
                                  (u0 >> 4) & low4 | ((u2 >> 4) & low2) << 4, (u1 >> 4) & low4 | ((u2 >> 6) & low2) << 4)
        return widen(unsafeBitCast(words, to: SIMD16<UInt8>.self)) &- 32
    }

    /// Four q2_K rows, or with `threeBits` q3_K rows: per sub-block of 16, the integer products of the codes with
    /// the activation codes weighted by its scale; q2_K's mins (`dmin·m_g·Σx`) and q3_K's −4 offset come from the
    /// q8_K block sums.
    @inline(__always)
    static func lowBitGroup(_ w: WeightLayout, _ r: (Int, Int, Int, Int), valid: Int, _ act: Q8KActivation, _ y: UnsafeMutablePointer<Float>,
                            threeBits: Bool) {
        let p0 = w.row(r.0), p1 = w.row(r.1), p2 = w.row(r.2), p3 = w.row(r.3)
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        var correction = SIMD4<Float>()
        let blockBytes = threeBits ? 110 : 84
        for sb in 0..<act.blocks {
            let o = blockBytes &* sb
            let b0 = p0 + o, b1 = p1 + o, b2 = p2 + o, b3 = p3 + o
            let xq = UnsafeRawPointer(act.qs + 256 &* sb)
            let bsums = widen(UnsafeRawPointer(act.bsums + 16 &* sb).vector(as: SIMD16<Int16>.self))
            var i0 = SIMD16<Int32>(), i1 = SIMD16<Int32>(), i2 = SIMD16<Int32>(), i3 = SIMD16<Int32>()
            let d: SIMD4<Float>
            if threeBits {
                let s0 = q3KScales(b0), s1 = q3KScales(b1), s2 = q3KScales(b2), s3 = q3KScales(b3)
                for g in 0..<16 {
                    let x = widen(xq.vector(at: groupStart(g), as: SIMD16<Int8>.self))
                    i0 &+= (widen(q3KCodes(b0, group: g)) &* x) &* s0[g]
                    i1 &+= (widen(q3KCodes(b1, group: g)) &* x) &* s1[g]
                    i2 &+= (widen(q3KCodes(b2, group: g)) &* x) &* s2[g]
                    i3 &+= (widen(q3KCodes(b3, group: g)) &* x) &* s3[g]
                }
                d = SIMD4(Dequantize.half(b0, 108), Dequantize.half(b1, 108), Dequantize.half(b2, 108), Dequantize.half(b3, 108)) * act.d[sb]
                let offsets = SIMD4(Float(horizontalSum(s0 &* bsums)), Float(horizontalSum(s1 &* bsums)),
                                    Float(horizontalSum(s2 &* bsums)), Float(horizontalSum(s3 &* bsums)))
                correction.addProduct(d, 4 * offsets)
            } else {
                let sc0: SIMD16<UInt8> = b0.vector(at: 0), sc1: SIMD16<UInt8> = b1.vector(at: 0)
                let sc2: SIMD16<UInt8> = b2.vector(at: 0), sc3: SIMD16<UInt8> = b3.vector(at: 0)
                for g in 0..<16 {
                    let x = widen(xq.vector(at: groupStart(g), as: SIMD16<Int8>.self))
                    i0 &+= (widen(twoBitCodes(b0 + 16, group: g)) &* x) &* Int32(sc0[g] & 15)
                    i1 &+= (widen(twoBitCodes(b1 + 16, group: g)) &* x) &* Int32(sc1[g] & 15)
                    i2 &+= (widen(twoBitCodes(b2 + 16, group: g)) &* x) &* Int32(sc2[g] & 15)
                    i3 &+= (widen(twoBitCodes(b3 + 16, group: g)) &* x) &* Int32(sc3[g] & 15)
                }
                d = SIMD4(Dequantize.half(b0, 80), Dequantize.half(b1, 80), Dequantize.half(b2, 80), Dequantize.half(b3, 80)) * act.d[sb]
                let dmin = SIMD4(Dequantize.half(b0, 82), Dequantize.half(b1, 82), Dequantize.half(b2, 82), Dequantize.half(b3, 82)) * act.d[sb]
                let mins = SIMD4(Float(horizontalSum(widen(sc0 &>> 4) &* bsums)), Float(horizontalSum(widen(sc1 &>> 4) &* bsums)),
                                 Float(horizontalSum(widen(sc2 &>> 4) &* bsums)), Float(horizontalSum(widen(sc3 &>> 4) &* bsums)))
                correction.addProduct(dmin, mins)
            }
            a0.addProduct(toFloat(i0), SIMD16(repeating: d[0]))
            a1.addProduct(toFloat(i1), SIMD16(repeating: d[1]))
            a2.addProduct(toFloat(i2), SIMD16(repeating: d[2]))
            a3.addProduct(toFloat(i3), SIMD16(repeating: d[3]))
        }
        store(horizontalSums(a0, a1, a2, a3) - correction, r, valid: valid, y)
    }

    /// Integer products of one quarter of a q6_K block (elements `128·half + 32k + 16·lh + (0..<16)`, k = 0…3)
    /// with the widened activations, each group of 16 weighted by its scale (codes before the −32 offset).
    @inline(__always)
    static func q6KPart(_ block: UnsafeRawPointer, half: Int, lh: Int, _ x: (SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>)) -> SIMD16<Int32> {
        let (g0, g1, g2, g3) = q6KCodes(block, half: half, lane16: lh)
        let sc = 192 + 8 * half + lh
        return (g0 &* x.0) &* Int32(block.load(fromByteOffset: sc, as: Int8.self))
            &+ (g1 &* x.1) &* Int32(block.load(fromByteOffset: sc + 2, as: Int8.self))
            &+ (g2 &* x.2) &* Int32(block.load(fromByteOffset: sc + 4, as: Int8.self))
            &+ (g3 &* x.3) &* Int32(block.load(fromByteOffset: sc + 6, as: Int8.self))
    }

    /// `32 · Σ_k scale_k · bsum_k` of a q6_K block: the −32 offset of the codes.
    @inline(__always)
    static func q6KOffset(_ block: UnsafeRawPointer, _ bsums: SIMD16<Int32>) -> Float {
        32 * Float(horizontalSum(widen(block.vector(at: 192, as: SIMD16<Int8>.self)) &* bsums))
    }

    @inline(__always)
    static func q6KGroup(_ w: WeightLayout, _ r: (Int, Int, Int, Int), valid: Int, _ act: Q8KActivation, _ y: UnsafeMutablePointer<Float>) {
        let p0 = w.row(r.0), p1 = w.row(r.1), p2 = w.row(r.2), p3 = w.row(r.3)
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        var correction = SIMD4<Float>()
        for sb in 0..<act.blocks {
            let o = 210 &* sb
            let b0 = p0 + o, b1 = p1 + o, b2 = p2 + o, b3 = p3 + o
            let d = SIMD4(Dequantize.half(b0, 208), Dequantize.half(b1, 208), Dequantize.half(b2, 208), Dequantize.half(b3, 208)) * act.d[sb]
            let xq = UnsafeRawPointer(act.qs + 256 &* sb)
            var i0 = SIMD16<Int32>(), i1 = SIMD16<Int32>(), i2 = SIMD16<Int32>(), i3 = SIMD16<Int32>()
            for half in 0..<2 {
                for lh in 0..<2 {
                    let xp = xq + 128 * half + 16 * lh
                    let x = (widen(xp.vector(as: SIMD16<Int8>.self)), widen(xp.vector(at: 32, as: SIMD16<Int8>.self)),
                             widen(xp.vector(at: 64, as: SIMD16<Int8>.self)), widen(xp.vector(at: 96, as: SIMD16<Int8>.self)))
                    i0 &+= q6KPart(b0, half: half, lh: lh, x)
                    i1 &+= q6KPart(b1, half: half, lh: lh, x)
                    i2 &+= q6KPart(b2, half: half, lh: lh, x)
                    i3 &+= q6KPart(b3, half: half, lh: lh, x)
                }
            }
            a0.addProduct(toFloat(i0), SIMD16(repeating: d[0]))
            a1.addProduct(toFloat(i1), SIMD16(repeating: d[1]))
            a2.addProduct(toFloat(i2), SIMD16(repeating: d[2]))
            a3.addProduct(toFloat(i3), SIMD16(repeating: d[3]))
            let bsums = widen(UnsafeRawPointer(act.bsums + 16 &* sb).vector(as: SIMD16<Int16>.self))
            correction.addProduct(d, SIMD4(q6KOffset(b0, bsums), q6KOffset(b1, bsums), q6KOffset(b2, bsums), q6KOffset(b3, bsums)))
        }
        store(horizontalSums(a0, a1, a2, a3) - correction, r, valid: valid, y)
    }
}
