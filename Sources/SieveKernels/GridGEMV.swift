import CSieveGrids
import SieveCore

/// ggml's grid i-quant types (iq2_xxs, iq2_xs, iq2_s, iq3_xxs, iq3_s, iq1_s, iq1_m) in Swift: a super-block of 256
/// elements decoded to integers — the signed grid values and the scales 2s + 1 of each 16 elements — with one float
/// factor, for the `swift` decode products (`rows`) and the row decoders (`Dequantize.row`: prefill tiles, embedding
/// rows, transposed rows). The C kernels (`sieve_grid_dot_rows4_vnni`, `_avx2`) decode the same integers.
///
/// Element `i` of a super-block is `factor·sc[i / 16]·v[i]`, with `factor` the f16 super-block scale d times 1/8
/// (iq2_xxs, iq2_xs, iq2_s), 1/4 (iq3_xxs) or 1 (iq3_s). iq1_s and iq1_m store a grid value g ∈ {−1, 0, 1} and a shift
/// δ = ±1/8 per 32 (iq1_s) or 8 (iq1_m) elements, `d·(2s + 1)·(g + δ)`: `v` is the odd integer 8g ± 1 and `factor`
/// d/8. All three are exact: the decoded floats are the format's values bit for bit, and a product's integer sum
/// `Σ sc·Σ v·x` (at most 256·62·127·31 < 2³¹ in magnitude) is exact in Int32.
enum GridQuant {
    /// Writes the f16 super-block scale `d` (bits) of the `dtype` block at `block`, where the type keeps it: the first
    /// two bytes, or iq1_m's top nibbles of its four scale words (lowest nibble in the first word).
    static func setScale(_ d: UInt16, block: UnsafeMutableRawPointer, dtype: DType) {
        precondition(dtype.isGridQuantized, "\(dtype.name) is not a grid type")
        guard dtype == .iq1_m else { return block.storeBytes(of: d, toByteOffset: 0, as: UInt16.self) }
        for k in 0..<4 {
            let word = block.loadUnaligned(fromByteOffset: 48 + 2 * k, as: UInt16.self)
            block.storeBytes(of: word & 0x0FFF | ((d >> (4 * k)) & 0xF) << 12, toByteOffset: 48 + 2 * k, as: UInt16.self)
        }
    }

    /// Four 7-bit sign indices, one per byte of `t`, completed with their parities as bit 7 (bit 0 of x ^ x >> 4 ^ …
    /// is the parity of its byte).
    @inline(__always)
    static func completedSigns4(_ t: UInt32) -> UInt32 {
        var x = t ^ (t >> 4)
        x ^= x >> 2
        x ^= x >> 1
        return t | (x & 0x0101_0101) << 7
    }

    /// The four sign bytes of a word whose bits 7l…7l + 6 are four 7-bit sign indices (iq2_xxs, iq3_xxs): index l
    /// moved to byte l and completed.
    @inline(__always)
    static func packedSigns(_ word: UInt32) -> UInt32 {
        completedSigns4(word & 0x7F | (word << 1) & 0x7F00 | (word << 2) & 0x7F_0000 | (word << 3) & 0x7F00_0000)
    }

    /// Byte j 0xFF where bit j of `signs` is set, else 0: each bit copied to its own byte, then every non-zero byte
    /// (at most 128, so adding 127 carries into no other byte) turned into 0xFF.
    @inline(__always)
    static func negationMask(_ signs: UInt8) -> UInt64 {
        let bits = (UInt64(signs) &* 0x0101_0101_0101_0101) & 0x8040_2010_0804_0201
        return ((((bits &+ 0x7F7F_7F7F_7F7F_7F7F) | bits) & 0x8080_8080_8080_8080) >> 7) &* 0xFF
    }

    /// Stores the eight grid magnitudes of `entry` (byte j: element j) at `v`, element j negated where bit j of
    /// `signs` is set (x ^ −1 − (−1) = −x, lane by lane).
    @inline(__always)
    static func store8(_ v: UnsafeMutablePointer<Int8>, _ entry: UInt64, signs: UInt8) {
        let m = unsafeBitCast(entry, to: SIMD8<Int8>.self), mask = unsafeBitCast(negationMask(signs), to: SIMD8<Int8>.self)
        UnsafeMutableRawPointer(v).storeBytes(of: (m ^ mask) &- mask, as: SIMD8<Int8>.self)
    }

    /// Stores the four grid magnitudes of `entry` at `v`, element j negated where bit j of `signs` (0…15) is set.
    @inline(__always)
    static func store4(_ v: UnsafeMutablePointer<Int8>, _ entry: UInt32, signs: UInt8) {
        let m = unsafeBitCast(entry, to: SIMD4<Int8>.self)
        let mask = unsafeBitCast(UInt32(truncatingIfNeeded: negationMask(signs)), to: SIMD4<Int8>.self)
        UnsafeMutableRawPointer(v).storeBytes(of: (m ^ mask) &- mask, as: SIMD4<Int8>.self)
    }

    /// Stores 8g + δ for the eight values g ∈ {−1, 0, 1} of an iq1 grid entry (byte j: element j) at `v`.
    @inline(__always)
    static func storeShifted8(_ v: UnsafeMutablePointer<Int8>, _ entry: UInt64, negativeShift: Bool) {
        let g = unsafeBitCast(entry, to: SIMD8<Int8>.self)
        UnsafeMutableRawPointer(v).storeBytes(of: g &* 8 &+ SIMD8(repeating: negativeShift ? -1 : 1), as: SIMD8<Int8>.self)
    }

    @inline(__always)
    private static func byte(_ b: UnsafeRawPointer, _ offset: Int) -> Int { Int(b.load(fromByteOffset: offset, as: UInt8.self)) }

    /// Decodes the `dtype` super-block at `b`: values `v[0..<256]`, scales 2s + 1 `sc[0..<16]` (of elements 16j…16j + 15);
    /// returns the factor.
    @inline(__always)
    static func decode(_ dtype: DType, _ b: UnsafeRawPointer, values v: UnsafeMutablePointer<Int8>,
                       scales sc: UnsafeMutablePointer<Int32>) -> Float {
        switch dtype {
        case .iq2_xxs:
            // Per 32 elements: 4 index bytes, then a word of four 7-bit sign indices and s in bits 28…31.
            let grid = sieve_iq2xxs_grid_entries()!
            for ib in 0..<8 {
                let word = b.loadUnaligned(fromByteOffset: 6 + 8 * ib, as: UInt32.self), signs = packedSigns(word)
                for l in 0..<4 {
                    store8(v + 32 * ib + 8 * l, grid[byte(b, 2 + 8 * ib + l)], signs: UInt8(truncatingIfNeeded: signs >> (8 * l)))
                }
                sc[2 * ib] = 2 * Int32(word >> 28) + 1
                sc[2 * ib + 1] = sc[2 * ib]
            }
            return Dequantize.half(b) / 8
        case .iq2_xs:
            // 32 words: a 9-bit index and a 7-bit sign index; 8 bytes of s (low nibble: first 16 of each 32).
            let grid = sieve_iq2xs_grid_entries()!
            for ib in 0..<8 {
                let q = b.loadUnaligned(fromByteOffset: 2 + 8 * ib, as: UInt64.self)
                let t = UInt32(truncatingIfNeeded: (q >> 9) & 0x7F | (q >> 17) & 0x7F00 | (q >> 25) & 0x7F_0000 | (q >> 33) & 0x7F00_0000)
                let signs = completedSigns4(t)
                for l in 0..<4 {
                    store8(v + 32 * ib + 8 * l, grid[Int((q >> (16 * l)) & 511)], signs: UInt8(truncatingIfNeeded: signs >> (8 * l)))
                }
            }
            for j in 0..<16 { sc[j] = 2 * Int32((byte(b, 66 + j / 2) >> (4 * (j % 2))) & 15) + 1 }
            return Dequantize.half(b) / 8
        case .iq2_s:
            // 32 low index bytes, 32 sign bytes, 8 bytes of index bits 8…9 (2 per group of 8), 8 bytes of s.
            let grid = sieve_iq2s_grid_entries()!
            for g in 0..<32 {
                let index = byte(b, 2 + g) | ((byte(b, 66 + g / 4) >> (2 * (g % 4))) & 3) << 8
                store8(v + 8 * g, grid[index], signs: UInt8(byte(b, 34 + g)))
            }
            for j in 0..<16 { sc[j] = 2 * Int32((byte(b, 74 + j / 2) >> (4 * (j % 2))) & 15) + 1 }
            return Dequantize.half(b) / 8
        case .iq3_xxs:
            // 64 index bytes (4 elements each), then per 32 elements a word of four 7-bit sign indices and s.
            let grid = sieve_iq3xxs_grid_entries()!
            for ib in 0..<8 {
                let word = b.loadUnaligned(fromByteOffset: 66 + 4 * ib, as: UInt32.self), packed = packedSigns(word)
                for l in 0..<4 {
                    let signs = UInt8(truncatingIfNeeded: packed >> (8 * l))
                    store4(v + 32 * ib + 8 * l, grid[byte(b, 2 + 8 * ib + 2 * l)], signs: signs & 15)
                    store4(v + 32 * ib + 8 * l + 4, grid[byte(b, 3 + 8 * ib + 2 * l)], signs: signs >> 4)
                }
                sc[2 * ib] = 2 * Int32(word >> 28) + 1
                sc[2 * ib + 1] = sc[2 * ib]
            }
            return Dequantize.half(b) / 4
        case .iq3_s:
            // 64 low index bytes, 8 bytes of index bit 8 (one per group of 4), 32 sign bytes, 4 bytes of s per 32.
            let grid = sieve_iq3s_grid_entries()!
            for q in 0..<64 {
                let index = byte(b, 2 + q) | ((byte(b, 66 + q / 8) >> (q % 8)) & 1) << 8
                store4(v + 4 * q, grid[index], signs: UInt8((byte(b, 74 + q / 2) >> (4 * (q % 2))) & 15))
            }
            for j in 0..<16 { sc[j] = 2 * Int32((byte(b, 106 + j / 4) >> (4 * ((j / 2) % 2))) & 15) + 1 }
            return Dequantize.half(b)
        case .iq1_s:
            // 32 low index bytes, then per 32 elements a word: index bits 8…10 of its four groups, s, δ's sign.
            let grid = sieve_iq1s_grid_entries()!
            for ib in 0..<8 {
                let h = Int(b.loadUnaligned(fromByteOffset: 34 + 2 * ib, as: UInt16.self))
                for l in 0..<4 {
                    let index = byte(b, 2 + 4 * ib + l) | ((h >> (3 * l)) & 7) << 8
                    storeShifted8(v + 32 * ib + 8 * l, grid[index], negativeShift: h & 0x8000 != 0)
                }
                sc[2 * ib] = 2 * Int32((h >> 12) & 7) + 1
                sc[2 * ib + 1] = sc[2 * ib]
            }
            return Dequantize.half(b) / 8
        case .iq1_m:
            // 32 low index bytes, a nibble per group of 8 (index bits 8…10, δ's sign), 3-bit s per 16 elements and
            // the f16 d in the top nibbles of four scale words.
            let grid = sieve_iq1s_grid_entries()!
            for g in 0..<32 {
                let nibble = (byte(b, 32 + g / 2) >> (4 * (g % 2))) & 15
                storeShifted8(v + 8 * g, grid[byte(b, g) | (nibble & 7) << 8], negativeShift: nibble & 8 != 0)
            }
            var d: UInt16 = 0
            for k in 0..<4 {
                let word = b.loadUnaligned(fromByteOffset: 48 + 2 * k, as: UInt16.self)
                for j in 0..<4 { sc[4 * k + j] = 2 * Int32((word >> (3 * j)) & 7) + 1 }
                d |= (word >> 12) << (4 * k)
            }
            return Float(Float16(bitPattern: d)) / 8
        default:
            preconditionFailure("\(dtype.name) is not a grid type")
        }
    }

    /// `Σ_j sc[j]·Σ v·x` over the 16 groups of 16 of decoded values `v` and activation codes `x` (exact).
    @inline(__always)
    static func dot(_ v: UnsafePointer<Int8>, _ sc: UnsafePointer<Int32>, _ x: UnsafePointer<Int8>) -> Int32 {
        var sum: Int32 = 0
        for j in 0..<16 {
            let products = widen(UnsafeRawPointer(v + 16 * j).vector(as: SIMD16<Int8>.self))
                &* widen(UnsafeRawPointer(x + 16 * j).vector(as: SIMD16<Int8>.self))
            sum &+= sc[j] &* products.wrappedSum()
        }
        return sum
    }

    /// `y[r] = W[r, :]·x` for grid rows, four at a time from the four quarters of `rows` (long sequential streams;
    /// see `QuantizedGEMV.rows`): each row's super-blocks decoded into a stack buffer and multiplied in Int32, then
    /// scaled by factor·dx.
    @inline(never)
    static func rows(_ w: WeightLayout, _ rows: DecodeRows, _ act: Q8KActivation, _ y: UnsafeMutablePointer<Float>) {
        let dtype = w.dtype, blockBytes = dtype.blockBytes
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { values in
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: 16) { scales in
                let v = values.baseAddress!, sc = scales.baseAddress!
                func row(_ p: UnsafeRawPointer) -> Float {
                    var acc: Float = 0
                    for sb in 0..<act.blocks {
                        let factor = decode(dtype, p + blockBytes &* sb, values: v, scales: sc)
                        acc += Float(dot(v, sc, act.qs + 256 &* sb)) * (factor * act.d[sb])
                    }
                    return acc
                }
                rows.forEachGroup(of: w) { r, valid in
                    KQuant.store(SIMD4(row(w.row(r.0)), row(w.row(r.1)), row(w.row(r.2)), row(w.row(r.3))), r, valid: valid, y)
                }
            }
        }
    }

    /// Decodes `blocks` super-blocks of `dtype` at `src` to floats `out[0..<256·blocks]`: the format's values exactly.
    static func decodeRow(_ src: UnsafeRawPointer, dtype: DType, blocks: Int, into out: UnsafeMutablePointer<Float>) {
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { values in
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: 16) { scales in
                let v = values.baseAddress!, sc = scales.baseAddress!
                for b in 0..<blocks {
                    let factor = decode(dtype, src + dtype.blockBytes * b, values: v, scales: sc)
                    for j in 0..<16 {
                        let codes = toFloat(widen(UnsafeRawPointer(v + 16 * j).vector(as: SIMD16<Int8>.self)))
                        out.store16(codes * (factor * Float(sc[j])), 256 * b + 16 * j)
                    }
                }
            }
        }
    }
}
