import CSieveKernels
import SieveCore

/// Row decoders from every weight type to Float: vectorized ones for the kernels (prefill tiles, embedding rows)
/// and the scalar references they are tested against.
enum Dequantize {
    /// Decodes `columns` values of `dtype` starting at `src` into `out` (vectorized).
    static func row(_ src: UnsafeRawPointer, dtype: DType, columns: Int, into out: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .f32: out.update(from: src.assumingMemoryBound(to: Float.self), count: columns)
        case .f16: Convert.halfToFloat(src.assumingMemoryBound(to: UInt16.self), into: out, count: columns)
        case .bf16: Convert.bfloat16ToFloat(src.assumingMemoryBound(to: UInt16.self), into: out, count: columns)
        case .q8_0: q8_0(src, blocks: columns / 32, into: out)
        case .q4_0: q4_0(src, blocks: columns / 32, into: out)
        case .q4_1: q4_1(src, blocks: columns / 32, into: out)
        case .q5_0: q5_0(src, blocks: columns / 32, into: out)
        case .q5_1: q5_1(src, blocks: columns / 32, into: out)
        case .q2_K: q2_K(src, blocks: columns / 256, into: out)
        case .q3_K: q3_K(src, blocks: columns / 256, into: out)
        case .q4_K: q4_K(src, blocks: columns / 256, into: out)
        case .q5_K: q4_K(src, blocks: columns / 256, into: out, fiveBits: true)
        case .q6_K: q6_K(src, blocks: columns / 256, into: out)
        case .mxfp4: mxfp4(src, blocks: columns / 32, into: out)
        case _ where dtype.isGridQuantized: GridQuant.decodeRow(src, dtype: dtype, blocks: columns / 256, into: out)
        default: rowReference(src, dtype: dtype, columns: columns, into: out)
        }
    }

    /// Decodes with the scalar reference codecs (`HalfPrecision`, `QuantizedCodecs`).
    static func rowReference(_ src: UnsafeRawPointer, dtype: DType, columns: Int, into out: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .f32:
            for i in 0..<columns { out[i] = src.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
        case .f16:
            for i in 0..<columns { out[i] = HalfPrecision.f16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .bf16:
            for i in 0..<columns { out[i] = HalfPrecision.bf16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        default:
            let bytes = UnsafeRawBufferPointer(start: src, count: dtype.byteCount(elements: columns) ?? 0)
            QuantizedCodecs.dequantizeRow(bytes, dtype: dtype, into: UnsafeMutableBufferPointer(start: out, count: columns))
        }
    }

    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int = 0) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    static func q8_0(_ src: UnsafeRawPointer, blocks: Int, into out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let p = src + b * 34
            let d = SIMD16<Float>(repeating: half(p))
            out.store16(toFloat(widen(p.vector(at: 2, as: SIMD16<Int8>.self))) * d, 32 * b)
            out.store16(toFloat(widen(p.vector(at: 18, as: SIMD16<Int8>.self))) * d, 32 * b + 16)
        }
    }

    static func q4_0(_ src: UnsafeRawPointer, blocks: Int, into out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let p = src + b * 18
            let d = SIMD16<Float>(repeating: half(p))
            let q: SIMD16<UInt8> = p.vector(at: 2)
            out.store16(toFloat(widen(q & 15) &- 8) * d, 32 * b)
            out.store16(toFloat(widen(q &>> 4) &- 8) * d, 32 * b + 16)
        }
    }

    /// MXFP4 blocks: with AVX2 in C (`sieve_mxfp4_decode_avx2`, where the C f16 kernels run too), else with the
    /// reference codec.
    static func mxfp4(_ src: UnsafeRawPointer, blocks: Int, into out: UnsafeMutablePointer<Float>) {
        #if arch(x86_64)
        if CRowKernels.halfAvailable { return sieve_mxfp4_decode_avx2(src, blocks, out) }
        #endif
        rowReference(src, dtype: .mxfp4, columns: 32 * blocks, into: out)
    }

    static func q4_1(_ src: UnsafeRawPointer, blocks: Int, into out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let p = src + b * 20
            let d = SIMD16<Float>(repeating: half(p)), m = SIMD16<Float>(repeating: half(p, 2))
            let q: SIMD16<UInt8> = p.vector(at: 4)
            out.store16(toFloat(widen(q & 15)) * d + m, 32 * b)
            out.store16(toFloat(widen(q &>> 4)) * d + m, 32 * b + 16)
        }
    }

    static func q5_0(_ src: UnsafeRawPointer, blocks: Int, into out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let p = src + b * 22
            let d = SIMD16<Float>(repeating: half(p))
            let (w0, w1) = Q5_0Dot.codes(p)
            out.store16(toFloat(w0 &- 16) * d, 32 * b)
            out.store16(toFloat(w1 &- 16) * d, 32 * b + 16)
        }
    }

    static func q5_1(_ src: UnsafeRawPointer, blocks: Int, into out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let p = src + b * 24
            let d = SIMD16<Float>(repeating: half(p)), m = SIMD16<Float>(repeating: half(p, 2))
            let (w0, w1) = Q5_0Dot.codes(p, qhAt: 4)
            out.store16(toFloat(w0) * d + m, 32 * b)
            out.store16(toFloat(w1) * d + m, 32 * b + 16)
        }
    }

    /// q4_K, or with `fiveBits` q5_K (176-byte blocks, the fifth bits before the nibbles).
    static func q4_K(_ src: UnsafeRawPointer, blocks: Int, into out: UnsafeMutablePointer<Float>, fiveBits: Bool = false) {
        for b in 0..<blocks {
            let p = src + b * (fiveBits ? 176 : 144)
            let d = half(p), dmin = half(p, 2)
            let (scales, mins) = KQuant.q4KScalesAndMins(p)
            let o = out + 256 * b
            for c in 0..<4 {
                let sc0 = d * Float(UInt8(truncatingIfNeeded: scales >> (16 * c))), sc1 = d * Float(UInt8(truncatingIfNeeded: scales >> (16 * c + 8)))
                let m0 = dmin * Float(UInt8(truncatingIfNeeded: mins >> (16 * c))), m1 = dmin * Float(UInt8(truncatingIfNeeded: mins >> (16 * c + 8)))
                let (q0, q1, q2, q3) = KQuant.q4KCodes(p, c, fiveBits: fiveBits)
                o.store16(toFloat(widen(q0)) * sc0 - m0, 64 * c)
                o.store16(toFloat(widen(q1)) * sc0 - m0, 64 * c + 16)
                o.store16(toFloat(widen(q2)) * sc1 - m1, 64 * c + 32)
                o.store16(toFloat(widen(q3)) * sc1 - m1, 64 * c + 48)
            }
        }
    }

    static func q2_K(_ src: UnsafeRawPointer, blocks: Int, into out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let p = src + b * 84
            let d = half(p, 80), dmin = half(p, 82)
            for g in 0..<16 {
                let sc = p.load(fromByteOffset: g, as: UInt8.self)
                let codes = toFloat(widen(KQuant.twoBitCodes(p + 16, group: g)))
                out.store16(codes * (d * Float(sc & 15)) - dmin * Float(sc >> 4), 256 * b + KQuant.groupStart(g))
            }
        }
    }

    static func q3_K(_ src: UnsafeRawPointer, blocks: Int, into out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let p = src + b * 110
            let d = half(p, 108)
            let scales = KQuant.q3KScales(p)
            for g in 0..<16 {
                let codes = toFloat(widen(KQuant.q3KCodes(p, group: g)) &- 4)
                out.store16(codes * (d * Float(scales[g])), 256 * b + KQuant.groupStart(g))
            }
        }
    }

    static func q6_K(_ src: UnsafeRawPointer, blocks: Int, into out: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let p = src + b * 210
            let d = half(p, 208)
            let o = out + 256 * b
            for half in 0..<2 {
                for lh in 0..<2 {
                    let (g0, g1, g2, g3) = KQuant.q6KCodes(p, half: half, lane16: lh)
                    let sc = 192 + 8 * half + lh
                    let base = 128 * half + 16 * lh
                    o.store16(toFloat(g0 &- 32) * (d * Float(p.load(fromByteOffset: sc, as: Int8.self))), base)
                    o.store16(toFloat(g1 &- 32) * (d * Float(p.load(fromByteOffset: sc + 2, as: Int8.self))), base + 32)
                    o.store16(toFloat(g2 &- 32) * (d * Float(p.load(fromByteOffset: sc + 4, as: Int8.self))), base + 64)
                    o.store16(toFloat(g3 &- 32) * (d * Float(p.load(fromByteOffset: sc + 6, as: Int8.self))), base + 96)
                }
            }
        }
    }
}
