/// The reference codecs of ggml's 4-bit non-linear types, whose codes index a fixed book of 16 values instead of
/// counting steps of a scale:
///
/// | type | elements | bytes | layout |
/// |---|---|---|---|
/// | iq4_nl | 32 | 18 | `half d; u8 qs[16]` — nibbles as q4_0; `x = d·book[q]` |
/// | iq4_xs | 256 | 136 | `half d; u16 scales_h; u8 scales_l[4]; u8 qs[128]` — 8 sub-blocks of 32 with 6-bit scales − 32 (low nibbles in `scales_l`, high bit pairs in `scales_h`), each's nibbles as an iq4_nl block; `x = d·(s − 32)·book[q]` |
///
/// The quantizers follow ggml's `quantize_row_iq4_nl_impl` without an importance matrix (`llama-quantize`'s
/// bytes): each block of 32 takes the scale of least weighted (x²) squared error among 15 candidates around
/// `max/127`, its codes the nearest book values.
extension QuantizedCodecs {
    /// The code book of iq4_nl and iq4_xs (ggml's `kvalues_iq4nl`), in increasing order.
    public static let nonLinearBook: [Int8] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

    /// The 6-bit scale (0…63, before its −32 offset) of sub-block `ib` of the iq4_xs super-block at `b`.
    @inline(__always) public static func iq4XSScale(_ b: UnsafeRawPointer, _ ib: Int) -> Int {
        let high = UInt16(littleEndian: b.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        return Int((byte(b, 4 + ib / 2) >> UInt8(4 * (ib % 2))) & 0x0F) | Int((high >> UInt16(2 * ib)) & 3) << 4
    }

    /// The 32 values `d·book[q]` of the nibbles at `qs` (low nibbles first, as q4_0).
    @inline(__always) static func dequantizeBookCodes(_ qs: UnsafeRawPointer, scale d: Float, _ y: UnsafeMutablePointer<Float>) {
        for j in 0..<16 {
            let q = qs.load(fromByteOffset: j, as: UInt8.self)
            y[j] = d * Float(nonLinearBook[Int(q & 0x0F)])
            y[j + 16] = d * Float(nonLinearBook[Int(q >> 4)])
        }
    }

    static func dequantizeIQ4_NL(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        dequantizeBookCodes(b + 2, scale: half(b, 0), y)
    }

    static func dequantizeIQ4_XS(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0)
        for ib in 0..<8 {
            dequantizeBookCodes(b + 8 + 16 * ib, scale: d * Float(iq4XSScale(b, ib) - 32), y + 32 * ib)
        }
    }

    /// ggml's `best_index_int8`: the index of the book value nearest `x` (the lower one on ties of distance).
    @inline(__always) static func nearestBookIndex(_ x: Float) -> Int {
        let book = nonLinearBook
        if x <= Float(book[0]) { return 0 }
        if x >= Float(book[15]) { return 15 }
        var lo = 0, hi = 15
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if x < Float(book[mid]) { hi = mid } else { lo = mid }
        }
        return x - Float(book[hi - 1]) < Float(book[hi]) - x ? hi - 1 : hi
    }

    /// The scale of one block of 32 values (0 when all are below ggml's `GROUP_MAX_EPS`): the least-squares scale of
    /// the codes at `max/127`, then of the codes at each of `(k − 127)/max`, k = −7…7, keeping the one of least
    /// weighted squared error (weights x²), as ggml's `quantize_row_iq4_nl_impl` does with `ntry` 7.
    static func nonLinearBlockScale(_ x: UnsafePointer<Float>) -> Float {
        let maxValue = signedAbsMax(x, 32)
        guard abs(maxValue) >= 1e-15 else { return 0 }
        func sums(_ id: Float) -> (qx: Float, q2: Float) {
            var sumQX: Float = 0, sumQ2: Float = 0
            for j in 0..<32 {
                let q = Float(nonLinearBook[nearestBookIndex(id * x[j])]), w = x[j] * x[j]
                sumQX += w * q * x[j]
                sumQ2 += w * q * q
            }
            return (sumQX, sumQ2)
        }
        let first = sums(1 / (-maxValue / Float(nonLinearBook[0])))
        var d = first.qx / first.q2
        var best = d * first.qx
        for step in -7...7 {
            let s = sums(Float(step + Int(nonLinearBook[0])) / maxValue)
            if s.q2 > 0 && s.qx * s.qx > best * s.q2 {
                d = s.qx / s.q2
                best = d * s.qx
            }
        }
        return d
    }

    /// Stores the nibbles of the book codes nearest `x[j]·id` for 32 values (low nibbles first).
    @inline(__always) static func storeBookCodes(_ x: UnsafePointer<Float>, inverseScale id: Float, _ qs: UnsafeMutableRawPointer) {
        for j in 0..<16 {
            let lo = nearestBookIndex(id * x[j]), hi = nearestBookIndex(id * x[j + 16])
            qs.storeBytes(of: UInt8(lo | hi << 4), toByteOffset: j, as: UInt8.self)
        }
    }

    static func quantizeIQ4_NL(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        let d = nonLinearBlockScale(x)
        storeHalf(d, b, 0)
        storeBookCodes(x, inverseScale: d != 0 ? 1 / d : 0, b + 2)
    }

    /// Each sub-block's scale as for iq4_nl, then the super-block scale `−s/32` of the first scale `s` of largest
    /// magnitude, the sub-blocks' 6-bit multiples of it, and the codes nearest for those.
    static func quantizeIQ4_XS(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        var scales = [Float](repeating: 0, count: 8)
        var largest: Float = 0
        for ib in 0..<8 {
            scales[ib] = nonLinearBlockScale(x + 32 * ib)
            if abs(scales[ib]) > abs(largest) { largest = scales[ib] }
        }
        let d = -largest / 32
        storeHalf(d, b, 0)
        let id: Float = d != 0 ? 1 / d : 0
        var high: UInt16 = 0
        for ib in 0..<8 {
            let l = Swift.max(-32, Swift.min(31, nearestInt(id * scales[ib])))
            let dl = d * Float(l)
            storeBookCodes(x + 32 * ib, inverseScale: dl != 0 ? 1 / dl : 0, b + 8 + 16 * ib)
            let u = l + 32
            let low = UInt8(u & 0x0F)
            if ib % 2 == 0 {
                b.storeBytes(of: low, toByteOffset: 4 + ib / 2, as: UInt8.self)
            } else {
                b.storeBytes(of: byte(b, 4 + ib / 2) | low << 4, toByteOffset: 4 + ib / 2, as: UInt8.self)
            }
            high |= UInt16(u >> 4) << UInt16(2 * ib)
        }
        b.storeBytes(of: high.littleEndian, toByteOffset: 2, as: UInt16.self)
    }
}
