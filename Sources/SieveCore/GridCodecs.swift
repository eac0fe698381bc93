import CSieveGrids

/// The reference decoders of ggml's grid types, whose indices pick groups of 8 (or 4) values from a fixed grid
/// (`CSieveGrids`) instead of storing one code per element. All have super-blocks of 256 elements; `half d` is
/// the super-block scale, `s` a sub-block's integer scale and `g` a grid value:
///
/// | type | bytes | layout |
/// |---|---|---|
/// | iq2_xxs | 66 | `half d; u32 q[16]` — per 32 elements a pair `(a, b)`: the bytes of `a` index `iq2xxs_grid` (256 × 8 magnitudes) for 4 groups of 8; `b` holds the groups' 7-bit sign indices (bits 7l…7l+6) and `s` (bits 28…31); `x = d·(0.5 + s)/4·±g` |
/// | iq2_xs | 74 | `half d; u16 q[32]; u8 scales[8]` — per group of 8 a 9-bit index in `iq2xs_grid` (512 × 8) and a 7-bit sign index (bits 9…15); a 4-bit `s` per 16 elements (low nibble first); `x = d·(0.5 + s)/4·±g` |
/// | iq2_s | 82 | `half d; u8 qs[32]; u8 signs[32]; u8 qh[8]; u8 scales[8]` — per group of 8 a 10-bit index in `iq2s_grid` (1024 × 8): `qs` and 2 bits of the 32 elements' `qh` byte; an explicit sign byte; `s` as iq2_xs |
/// | iq3_xxs | 98 | `half d; u8 qs[64]; u32 ss[8]` — each byte indexes `iq3xxs_grid` (256 × 4) for 4 elements; per 32 elements a word of 4 sign indices (as iq2_xxs) and `s` (bits 28…31); `x = d·(0.5 + s)/2·±g` |
/// | iq3_s | 110 | `half d; u8 qs[64]; u8 qh[8]; u8 signs[32]; u8 scales[4]` — 9-bit indices in `iq3s_grid` (512 × 4): `qs[q]` and bit `q % 8` of `qh[q / 8]`; explicit sign bits; a 4-bit `s` per 32 elements; `x = d·(1 + 2s)·±g` |
/// | iq1_s | 50 | `half d; u8 qs[32]; u16 qh[8]` — per 32 elements a `qh` word: 3 high index bits per group of 8 (bits 3l…3l+2) over `qs`, an 11-bit index in `iq1s_grid` (2048 × 8 of −1, 0, +1); `s` (bits 12…14), the sign of δ (bit 15); `x = d·(2s + 1)·(g + δ)`, δ = ±0.125 |
/// | iq1_m | 56 | `u8 qs[32]; u8 qh[16]; u16 sc[4]` — per group of 8 a `qh` nibble (low first): 3 high index bits over `qs` and the sign of δ (bit 3); a 3-bit `s` per 16 elements (bits 3k…3k+2 of `sc[k / 4]`); `d` is the f16 made of the top nibbles of `sc[0…3]` (lowest first); `x = d·(2s + 1)·(g + δ)` |
///
/// A 7-bit sign index stores the signs of elements 0…6 of its group of 8 (bit set: negative); element 7's sign
/// makes the count of negatives even. Sieve decodes these types but does not quantize to them: their quantizers
/// search the grid weighted by an importance matrix (`llama-imatrix`), which Sieve does not compute.
extension QuantizedCodecs {
    /// The sign byte of an iq2_xxs, iq2_xs or iq3_xxs 7-bit sign index: bit k set negates element k of the group
    /// of 8, bit 7 is the parity of the other seven (ggml's `ksigns_iq2xs`).
    @inline(__always) public static func gridSigns(_ index: Int) -> UInt8 {
        let low = UInt8(truncatingIfNeeded: index) & 0x7F
        return low | UInt8(low.nonzeroBitCount & 1) << 7
    }

    /// The integer scale `s` of elements 16i…16i+15 of the grid-type block at `b` (0…15, or 0…7 for iq1_s and
    /// iq1_m); their values are `d·(2s + 1)·c·±g` with `c` 1/8 for the iq2 types, 1/4 for iq3_xxs, 1 for iq3_s,
    /// and `d·(2s + 1)·(g + δ)` for the iq1 types.
    @inline(__always) public static func gridScale(_ b: UnsafeRawPointer, dtype: DType, _ i: Int) -> Int {
        switch dtype {
        case .iq2_xxs: return Int(word(b, 2 + 8 * (i / 2) + 4) >> 28)
        case .iq2_xs: return nibble(b, 66, i)
        case .iq2_s: return nibble(b, 74, i)
        case .iq3_xxs: return Int(word(b, 66 + 4 * (i / 2)) >> 28)
        case .iq3_s: return nibble(b, 106, i / 2)
        case .iq1_s: return Int(halfWord(b, 34 + 2 * (i / 2)) >> 12) & 7
        case .iq1_m: return Int(halfWord(b, 48 + 2 * (i / 4)) >> UInt16(3 * (i % 4))) & 7
        default: preconditionFailure("\(dtype.name) is not a grid type")
        }
    }

    /// The super-block scale `d` of the iq1_m block at `b`, an f16 spread over the top nibbles of its scale words.
    @inline(__always) public static func iq1MBlockScale(_ b: UnsafeRawPointer) -> Float {
        var bits: UInt16 = 0
        for k in 0..<4 { bits |= (halfWord(b, 48 + 2 * k) >> 12) << UInt16(4 * k) }
        return HalfPrecision.f16ToFloat(bits)
    }

    // MARK: Helpers

    @inline(__always) static func word(_ p: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        UInt32(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always) static func halfWord(_ p: UnsafeRawPointer, _ offset: Int) -> UInt16 {
        UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    /// Nibble `i` of the bytes at `offset` (the low nibble of a byte first).
    @inline(__always) static func nibble(_ p: UnsafeRawPointer, _ offset: Int, _ i: Int) -> Int {
        Int(byte(p, offset + i / 2) >> UInt8(4 * (i % 2))) & 0x0F
    }

    /// `y[k] = ±db·g[k]` for the 8 magnitudes of `entry` (byte k is element k), negated where bit k of `signs` is set.
    @inline(__always) static func storeSignedGroup(_ entry: UInt64, signs: UInt8, scale db: Float, _ y: UnsafeMutablePointer<Float>) {
        for k in 0..<8 {
            let v = db * Float(UInt8(truncatingIfNeeded: entry >> UInt64(8 * k)))
            y[k] = (signs >> UInt8(k)) & 1 == 0 ? v : -v
        }
    }

    /// `y[k] = dl·(g[k] + δ)` for the 8 signed values of an iq1s grid entry.
    @inline(__always) static func storeShiftedGroup(_ entry: UInt64, delta: Float, scale dl: Float, _ y: UnsafeMutablePointer<Float>) {
        for k in 0..<8 {
            y[k] = dl * (Float(Int8(truncatingIfNeeded: entry >> UInt64(8 * k))) + delta)
        }
    }

    /// Two 4-value iq3 grid entries as one group of 8 (the first entry's values are elements 0…3).
    @inline(__always) static func pair(_ first: UInt32, _ second: UInt32) -> UInt64 {
        UInt64(first) | UInt64(second) << 32
    }

    /// ±0.125 (negative when `negative`), the shift of an iq1 group.
    @inline(__always) static func iq1Delta(negative: Bool) -> Float { negative ? -0.125 : 0.125 }

    // MARK: Decoders

    static func dequantizeIQ2_XXS(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), grid = sieve_iq2xxs_grid_entries()!
        for ib in 0..<8 {
            let signWord = word(b, 2 + 8 * ib + 4)
            let db = d * (0.5 + Float(gridScale(b, dtype: .iq2_xxs, 2 * ib))) * 0.25
            for l in 0..<4 {
                let signs = gridSigns(Int(signWord >> UInt32(7 * l)))
                storeSignedGroup(grid[Int(byte(b, 2 + 8 * ib + l))], signs: signs, scale: db, y + 32 * ib + 8 * l)
            }
        }
    }

    static func dequantizeIQ2_XS(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), grid = sieve_iq2xs_grid_entries()!
        for g in 0..<32 {
            let q = Int(halfWord(b, 2 + 2 * g))
            let db = d * (0.5 + Float(gridScale(b, dtype: .iq2_xs, g / 2))) * 0.25
            storeSignedGroup(grid[q & 511], signs: gridSigns(q >> 9), scale: db, y + 8 * g)
        }
    }

    static func dequantizeIQ2_S(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), grid = sieve_iq2s_grid_entries()!
        for g in 0..<32 {
            let high = Int(byte(b, 66 + g / 4) >> UInt8(2 * (g % 4))) & 3
            let db = d * (0.5 + Float(gridScale(b, dtype: .iq2_s, g / 2))) * 0.25
            storeSignedGroup(grid[Int(byte(b, 2 + g)) | high << 8], signs: byte(b, 34 + g), scale: db, y + 8 * g)
        }
    }

    static func dequantizeIQ3_XXS(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), grid = sieve_iq3xxs_grid_entries()!
        for ib in 0..<8 {
            let signWord = word(b, 66 + 4 * ib)
            let db = d * (0.5 + Float(gridScale(b, dtype: .iq3_xxs, 2 * ib))) * 0.5
            for l in 0..<4 {
                let q = 2 + 8 * ib + 2 * l
                let entry = pair(grid[Int(byte(b, q))], grid[Int(byte(b, q + 1))])
                storeSignedGroup(entry, signs: gridSigns(Int(signWord >> UInt32(7 * l))), scale: db, y + 32 * ib + 8 * l)
            }
        }
    }

    static func dequantizeIQ3_S(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), grid = sieve_iq3s_grid_entries()!
        func index(_ q: Int) -> Int { Int(byte(b, 2 + q)) | (Int(byte(b, 66 + q / 8) >> UInt8(q % 8)) & 1) << 8 }
        for g in 0..<32 {
            let db = d * Float(1 + 2 * gridScale(b, dtype: .iq3_s, g / 2))
            storeSignedGroup(pair(grid[index(2 * g)], grid[index(2 * g + 1)]), signs: byte(b, 74 + g), scale: db, y + 8 * g)
        }
    }

    static func dequantizeIQ1_S(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), grid = sieve_iq1s_grid_entries()!
        for ib in 0..<8 {
            let qh = Int(halfWord(b, 34 + 2 * ib))
            let dl = d * Float(2 * gridScale(b, dtype: .iq1_s, 2 * ib) + 1)
            let delta = iq1Delta(negative: qh & 0x8000 != 0)
            for l in 0..<4 {
                let index = Int(byte(b, 2 + 4 * ib + l)) | (qh >> (3 * l) & 7) << 8
                storeShiftedGroup(grid[index], delta: delta, scale: dl, y + 32 * ib + 8 * l)
            }
        }
    }

    static func dequantizeIQ1_M(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = iq1MBlockScale(b), grid = sieve_iq1s_grid_entries()!
        for g in 0..<32 {
            let high = Int(byte(b, 32 + g / 2) >> UInt8(4 * (g % 2))) & 0x0F
            let dl = d * Float(2 * gridScale(b, dtype: .iq1_m, g / 2) + 1)
            storeShiftedGroup(grid[Int(byte(b, g)) | (high & 7) << 8], delta: iq1Delta(negative: high & 8 != 0), scale: dl, y + 8 * g)
        }
    }
}
