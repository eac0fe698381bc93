// The row kernels of ggml's grid i-quant types (CSieveKernels.h, `SieveGridType`), written once and compiled once per
// instruction set by QuantizedDot.c after KQuantDotRows.h (see there for KERNEL, DOT_I16_ADD and `reduce4`), which
// also defines GRID_TARGET, the function attribute: KERNEL_TARGET plus AVX-512 BW for the VNNI set (DOT_U8_S8
// defined), whose byte masks apply the weights' signs.
//
// Every type is multiplied the same way. A row's super-block is decoded once (`GridBlock`) into
//  - u[k], k = 0…7: the magnitudes of elements 32k…32k + 31 as unsigned bytes (grid entries: at most 62);
//  - their signs: with VNNI a 32-bit mask per k (bit j: element 32k + j is negative), else a byte vector per k whose
//    bytes carry the elements' signs (−1 or +1, for `vpsignb`);
//  - sc[k]: the integer scales 2s + 1 of those elements as int16, elements 32k…32k + 15 in the low 128 bits and
//    32k + 16…32k + 31 in the high (types with scales per 32 elements repeat one);
//  - d: the f16 super-block scale times the type's power of two (1/8 for iq2_xxs, iq2_xs, iq2_s, iq1_s and iq1_m,
//    1/4 for iq3_xxs, 1 for iq3_s), exact.
// iq1_s and iq1_m store values g ∈ {−1, 0, 1} plus a shift δ = ±1/8 per 32 (iq1_s) or 8 (iq1_m) elements: their
// elements are decoded as the odd integers 8g ± 1 (magnitude at most 9, never zero), with d·(2s + 1)/8, so every type
// is Σ_k sc·Σ(value·x) times d·dx, and the shift needs no activation sums.
//
// The signs move onto the activation codes (|x| ≤ 127, so negating never overflows): with VNNI one masked byte
// subtraction, else `vpsignb`. `vpmaddubsw` multiplies magnitudes by signed codes in pairs (at most 2·62·127, no
// saturation), and DOT_I16_ADD weights each pair by its int16 scale into int32 lanes (`vpdpwssd` with VNNI). A
// super-block's integer sum is exact (at most 256·62·127·31 < 2^31) whatever the order, so both sets give the same
// sums and, with the same float operations, the same results: each row's eight lanes are reduced to the exact sum
// per super-block, then converted once and multiplied by d·dx, as in the VNNI panel kernel of prefill (PanelRows.h).
//
// Decoding is the cost (32 or 64 table lookups per row and super-block, against about 30 instructions of products per
// token). The lookups are scalar loads put together into vectors: AVX2 gathers took a Zen 4 core 26.6 instead of
// 16.9 ns per iq3_xxs row and super-block (VNNI, from L2). The decoders' loops are unrolled by pragma: SwiftPM compiles
// C at -O2, which left them rolled and iq2_xs at 22.7 instead of 13.6 ns.

#ifndef SIEVE_GRID_DOT_ROWS_ONCE
#define SIEVE_GRID_DOT_ROWS_ONCE
/// Bytes of a super-block of each `SieveGridType`.
static const int sieveGridBlockBytes[7] = {66, 74, 82, 98, 110, 50, 56};
#endif

/// One row's super-block, decoded (see the top of this file).
typedef struct {
    __m256i u[8];
    __m256i sc[8];
#ifdef DOT_U8_S8
    uint32_t neg[8];
#else
    __m256i sign[8];
#endif
    float d;
} KERNEL(GridBlock);

/// The f16 at `p` as a float.
GRID_TARGET static inline float KERNEL(gridHalf)(const uint8_t *p) {
    uint16_t h;
    __builtin_memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/// The signs of the eight groups of 32 from the eight 32-bit words of `s` (word k, bit j: element 32k + j negative).
GRID_TARGET static inline void KERNEL(gridSigns)(KERNEL(GridBlock) *blk, __m256i s) {
#ifdef DOT_U8_S8
    _mm256_storeu_si256((__m256i *)blk->neg, s);
#else
    // Words 0…3 (4…7) in both 128-bit lanes; byte l of word k to bytes 8l…8l + 7, each tested against its own bit.
    const __m256i bits = _mm256_set1_epi64x((long long)0x8040201008040201ull), one = _mm256_set1_epi8(1);
    const __m256i words[2] = {_mm256_permute2x128_si256(s, s, 0x00), _mm256_permute2x128_si256(s, s, 0x11)};
    #pragma clang loop unroll(full)
    for (int k = 0; k < 8; k++) {
        const char b0 = (char)(4 * (k % 4)), b1 = (char)(b0 + 1), b2 = (char)(b0 + 2), b3 = (char)(b0 + 3);
        const __m256i spread = _mm256_setr_epi8(b0, b0, b0, b0, b0, b0, b0, b0, b1, b1, b1, b1, b1, b1, b1, b1,
                                                b2, b2, b2, b2, b2, b2, b2, b2, b3, b3, b3, b3, b3, b3, b3, b3);
        const __m256i w = _mm256_shuffle_epi8(words[k / 4], spread);
        blk->sign[k] = _mm256_or_si256(_mm256_cmpeq_epi8(_mm256_and_si256(w, bits), bits), one);
    }
#endif
}

/// Elements 32k…32k + 31 as the signed, non-zero bytes `v` (iq1_s, iq1_m).
GRID_TARGET static inline void KERNEL(gridValues)(KERNEL(GridBlock) *blk, int k, __m256i v) {
    blk->u[k] = _mm256_abs_epi8(v);
#ifdef DOT_U8_S8
    blk->neg[k] = (uint32_t)_mm256_movemask_epi8(v);
#else
    blk->sign[k] = v;
#endif
}

/// The scales from `s8`, byte g holding 2s + 1 of elements 16g…16g + 15.
GRID_TARGET static inline void KERNEL(gridScales)(KERNEL(GridBlock) *blk, __m128i s8) {
    #pragma clang loop unroll(full)
    for (int k = 0; k < 8; k++) {
        const char lo = (char)(2 * k), hi = (char)(2 * k + 1);
        const __m128i pick = _mm_setr_epi8(lo, lo, lo, lo, lo, lo, lo, lo, hi, hi, hi, hi, hi, hi, hi, hi);
        blk->sc[k] = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(s8, pick));
    }
}

/// 2s + 1 of eight groups of 32 from the eight 32-bit words of `w`, s in their top four bits (iq2_xxs, iq3_xxs).
GRID_TARGET static inline void KERNEL(gridTopScales)(KERNEL(GridBlock) *blk, __m256i w) {
    const __m256i s = _mm256_or_si256(_mm256_slli_epi32(_mm256_srli_epi32(w, 28), 1), _mm256_set1_epi32(1));
    // Each value in bytes 0 and 1 of its word, then the words' first two bytes gathered in order.
    const __m256i twice = _mm256_or_si256(s, _mm256_slli_epi32(s, 8));
    const __m256i pack = _mm256_shuffle_epi8(twice, _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1,
                                                                      0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1));
    KERNEL(gridScales)(blk, _mm_unpacklo_epi64(_mm256_castsi256_si128(pack), _mm256_extracti128_si256(pack, 1)));
}

/// 2s + 1 from 4-bit s, the low nibble of byte i of `v` first, then its high nibble (iq2_xs, iq2_s: per 16 elements).
GRID_TARGET static inline __m128i KERNEL(gridNibbleScales)(__m128i v) {
    const __m128i low = _mm_set1_epi8(0x0F);
    const __m128i s = _mm_unpacklo_epi8(_mm_and_si128(v, low), _mm_and_si128(_mm_srli_epi16(v, 4), low));
    return _mm_add_epi8(_mm_add_epi8(s, s), _mm_set1_epi8(1));
}

/// The bytes of `t` (7-bit sign indices) with bit 7 set to the parity of bits 0…6: ggml's sign indices leave out the
/// eighth sign, which makes the number of negative elements of each group of 8 even.
GRID_TARGET static inline __m256i KERNEL(gridParity)(__m256i t) {
    // Bit 7 set where a nibble has an odd number of bits.
    const __m256i odd = _mm256_setr_epi8(0, -128, -128, 0, -128, 0, 0, -128, -128, 0, 0, -128, 0, -128, -128, 0,
                                         0, -128, -128, 0, -128, 0, 0, -128, -128, 0, 0, -128, 0, -128, -128, 0);
    const __m256i low = _mm256_set1_epi8(0x0F);
    const __m256i p = _mm256_xor_si256(_mm256_shuffle_epi8(odd, _mm256_and_si256(t, low)),
                                       _mm256_shuffle_epi8(odd, _mm256_and_si256(_mm256_srli_epi16(t, 4), low)));
    return _mm256_or_si256(t, p);
}

/// The sign words of eight groups of 32 whose four 7-bit sign indices are bits 7l…7l + 6 of the eight words of `w`
/// (iq2_xxs, iq3_xxs): index l spread to byte l, then completed.
GRID_TARGET static inline __m256i KERNEL(gridPackedSigns)(__m256i w) {
    const __m256i t = _mm256_or_si256(
        _mm256_or_si256(_mm256_and_si256(w, _mm256_set1_epi32(0x7F)), _mm256_and_si256(_mm256_slli_epi32(w, 1), _mm256_set1_epi32(0x7F00))),
        _mm256_or_si256(_mm256_and_si256(_mm256_slli_epi32(w, 2), _mm256_set1_epi32(0x7F0000)),
                        _mm256_and_si256(_mm256_slli_epi32(w, 3), _mm256_set1_epi32(0x7F000000))));
    return KERNEL(gridParity)(t);
}

/// Four entries of a grid of 8 bytes, entry l as bytes 8l…8l + 7.
GRID_TARGET static inline __m256i KERNEL(grid8)(const uint64_t *g, unsigned i0, unsigned i1, unsigned i2, unsigned i3) {
    return _mm256_set_epi64x((long long)g[i3], (long long)g[i2], (long long)g[i1], (long long)g[i0]);
}

/// Eight entries of a grid of 4 bytes at the indices `i[0…7]`, entry l as bytes 4l…4l + 3.
GRID_TARGET static inline __m256i KERNEL(grid4)(const uint32_t *g, const unsigned i[8]) {
    return _mm256_setr_epi32((int)g[i[0]], (int)g[i[1]], (int)g[i[2]], (int)g[i[3]], (int)g[i[4]], (int)g[i[5]],
                             (int)g[i[6]], (int)g[i[7]]);
}

/// Indices of eight groups made of their low bytes `low` (8 bytes) and high bits: (hi >> shift) & mask, moved to bit 8,
/// stored to `idx[0…7]`. Index vectors are made this way and stored, then read one at a time for the lookups:
/// otherwise the compiler vectorizes the index arithmetic itself and extracts every index from a vector.
GRID_TARGET static inline void KERNEL(gridIndices)(const uint8_t *low, __m256i hi, __m256i shift, int mask, uint32_t *idx) {
    const __m256i h = _mm256_and_si256(_mm256_srlv_epi32(hi, shift), _mm256_set1_epi32(mask));
    const __m256i i = _mm256_or_si256(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)low)), _mm256_slli_epi32(h, 8));
    _mm256_storeu_si256((__m256i *)idx, i);
}

/// iq2_xxs (66 bytes: f16 d, then per 32 elements 4 index bytes into `sieve_iq2xxs_grid` and a word of four 7-bit sign
/// indices and s in bits 28…31; d/8·(2s + 1) per 32).
GRID_TARGET static inline __attribute__((always_inline)) void KERNEL(gridIQ2XXS)(const uint8_t *b, KERNEL(GridBlock) *blk) {
    blk->d = KERNEL(gridHalf)(b) * 0.125f;
    // The odd words of the 64 bytes after d, in order (`vshufps` takes groups 0, 1, 4, 5 | 2, 3, 6, 7).
    const __m256 lo = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)(b + 2)));
    const __m256 hi = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)(b + 34)));
    const __m256i w = _mm256_permute4x64_epi64(_mm256_castps_si256(_mm256_shuffle_ps(lo, hi, 0xDD)), 0xD8);
    KERNEL(gridSigns)(blk, KERNEL(gridPackedSigns)(w));
    KERNEL(gridTopScales)(blk, w);
    #pragma clang loop unroll(full)
    for (int k = 0; k < 8; k++) {
        const uint8_t *q = b + 2 + 8 * k;
        blk->u[k] = KERNEL(grid8)(sieve_iq2xxs_grid, q[0], q[1], q[2], q[3]);
    }
}

/// iq2_xs (74 bytes: f16 d, 32 16-bit words — a 9-bit index into `sieve_iq2xs_grid` and a 7-bit sign index above it —
/// and 8 bytes of 4-bit s; d/8·(2s + 1) per 16).
GRID_TARGET static inline __attribute__((always_inline)) void KERNEL(gridIQ2XS)(const uint8_t *b, KERNEL(GridBlock) *blk) {
    blk->d = KERNEL(gridHalf)(b) * 0.125f;
    // The sign indices as bytes: packing takes groups 0, 1, 4, 5 | 2, 3, 6, 7 (in pairs of 32 elements).
    const __m256i q0 = _mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)(b + 2)), 9);
    const __m256i q1 = _mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)(b + 34)), 9);
    KERNEL(gridSigns)(blk, KERNEL(gridParity)(_mm256_permute4x64_epi64(_mm256_packus_epi16(q0, q1), 0xD8)));
    KERNEL(gridScales)(blk, KERNEL(gridNibbleScales)(_mm_loadl_epi64((const __m128i *)(b + 66))));
    #pragma clang loop unroll(full)
    for (int k = 0; k < 8; k++) {
        uint16_t q[4];
        __builtin_memcpy(q, b + 2 + 8 * k, 8);
        blk->u[k] = KERNEL(grid8)(sieve_iq2xs_grid, q[0] & 511u, q[1] & 511u, q[2] & 511u, q[3] & 511u);
    }
}

/// iq2_s (82 bytes: f16 d, 32 low index bytes, 32 sign bytes, 8 bytes of index bits 8…9 (2 per group of 8), 8 bytes of
/// 4-bit s; indices into `sieve_iq2s_grid`; d/8·(2s + 1) per 16).
GRID_TARGET static inline __attribute__((always_inline)) void KERNEL(gridIQ2S)(const uint8_t *b, KERNEL(GridBlock) *blk) {
    blk->d = KERNEL(gridHalf)(b) * 0.125f;
    KERNEL(gridSigns)(blk, _mm256_loadu_si256((const __m256i *)(b + 34)));
    KERNEL(gridScales)(blk, KERNEL(gridNibbleScales)(_mm_loadl_epi64((const __m128i *)(b + 74))));
    // Groups 8j…8j + 7: index bits 8…9 from bits 2l… of qh bytes 2j (l = 0…3) and 2j + 1.
    uint32_t idx[32];
    const __m256i qh = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(b + 66)));
    const __m256i shift = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    #pragma clang loop unroll(full)
    for (int j = 0; j < 4; j++) {
        const __m256i hi = _mm256_permutevar8x32_epi32(qh, _mm256_setr_epi32(2 * j, 2 * j, 2 * j, 2 * j, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1));
        KERNEL(gridIndices)(b + 2 + 8 * j, hi, shift, 3, idx + 8 * j);
    }
    #pragma clang loop unroll(full)
    for (int k = 0; k < 8; k++) {
        const uint32_t *i = idx + 4 * k;
        blk->u[k] = KERNEL(grid8)(sieve_iq2s_grid, i[0], i[1], i[2], i[3]);
    }
}

/// iq3_xxs (98 bytes: f16 d, 64 index bytes into `sieve_iq3xxs_grid` (4 elements each), then per 32 elements a word of
/// four 7-bit sign indices and s in bits 28…31; d/4·(2s + 1) per 32).
GRID_TARGET static inline __attribute__((always_inline)) void KERNEL(gridIQ3XXS)(const uint8_t *b, KERNEL(GridBlock) *blk) {
    blk->d = KERNEL(gridHalf)(b) * 0.25f;
    const __m256i w = _mm256_loadu_si256((const __m256i *)(b + 66));
    KERNEL(gridSigns)(blk, KERNEL(gridPackedSigns)(w));
    KERNEL(gridTopScales)(blk, w);
    #pragma clang loop unroll(full)
    for (int k = 0; k < 8; k++) {
        const uint8_t *q = b + 2 + 8 * k;
        const unsigned i[8] = {q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]};
        blk->u[k] = KERNEL(grid4)(sieve_iq3xxs_grid, i);
    }
}

/// iq3_s (110 bytes: f16 d, 64 low index bytes, 8 bytes of index bit 8 (one per group of 4), 32 sign bytes, 4 bytes of
/// 4-bit s; indices into `sieve_iq3s_grid`; d·(2s + 1) per 32).
GRID_TARGET static inline __attribute__((always_inline)) void KERNEL(gridIQ3S)(const uint8_t *b, KERNEL(GridBlock) *blk) {
    blk->d = KERNEL(gridHalf)(b);
    KERNEL(gridSigns)(blk, _mm256_loadu_si256((const __m256i *)(b + 74)));
    uint32_t s4;
    __builtin_memcpy(&s4, b + 106, 4);
    const __m128i s = KERNEL(gridNibbleScales)(_mm_cvtsi32_si128((int)s4));
    KERNEL(gridScales)(blk, _mm_unpacklo_epi8(s, s));
    // Groups of 4 8k…8k + 7: index bit 8 from bits 0…7 of qh byte k.
    uint32_t idx[64];
    const __m256i shift = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    #pragma clang loop unroll(full)
    for (int k = 0; k < 8; k++) KERNEL(gridIndices)(b + 2 + 8 * k, _mm256_set1_epi32(b[66 + k]), shift, 1, idx + 8 * k);
    #pragma clang loop unroll(full)
    for (int k = 0; k < 8; k++) blk->u[k] = KERNEL(grid4)(sieve_iq3s_grid, idx + 8 * k);
}

/// 8·g for four entries of `sieve_iq1s_grid` (g ∈ {−1, 0, 1}).
GRID_TARGET static inline __m256i KERNEL(gridIQ1Eight)(unsigned i0, unsigned i1, unsigned i2, unsigned i3) {
    return _mm256_sign_epi8(_mm256_set1_epi8(8), KERNEL(grid8)(sieve_iq1s_grid, i0, i1, i2, i3));
}

/// iq1_s (50 bytes: f16 d, 32 low index bytes, then per 32 elements a 16-bit word: index bits 8…10 of its four groups
/// of 8 (3 each), s in bits 12…14, δ's sign in bit 15; d·(2s + 1)·(g + δ) per 32, decoded as d/8·(2s + 1)·(8g ± 1)).
GRID_TARGET static inline __attribute__((always_inline)) void KERNEL(gridIQ1S)(const uint8_t *b, KERNEL(GridBlock) *blk) {
    blk->d = KERNEL(gridHalf)(b) * 0.125f;
    const __m128i qh = _mm_loadu_si128((const __m128i *)(b + 34));
    // 2s + 1 of each word in both of its bytes.
    const __m128i s = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(qh, 11), _mm_set1_epi16(14)), _mm_set1_epi16(1));
    KERNEL(gridScales)(blk, _mm_or_si128(s, _mm_slli_epi16(s, 8)));
    // Groups 8j…8j + 7: index bits 8…10 from bits 3l… of words 2j (l = 0…3) and 2j + 1.
    uint32_t idx[32];
    const __m256i words = _mm256_cvtepu16_epi32(qh);
    const __m256i shift = _mm256_setr_epi32(0, 3, 6, 9, 0, 3, 6, 9);
    #pragma clang loop unroll(full)
    for (int j = 0; j < 4; j++) {
        const __m256i hi = _mm256_permutevar8x32_epi32(words, _mm256_setr_epi32(2 * j, 2 * j, 2 * j, 2 * j, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1));
        KERNEL(gridIndices)(b + 2 + 8 * j, hi, shift, 7, idx + 8 * j);
    }
    // δ = −1 where bit 15 of the group's word is set, else +1.
    const __m128i delta = _mm_or_si128(_mm_srai_epi16(qh, 15), _mm_set1_epi16(1));
    int16_t deltas[8];
    _mm_storeu_si128((__m128i *)deltas, delta);
    #pragma clang loop unroll(full)
    for (int k = 0; k < 8; k++) {
        const uint32_t *i = idx + 4 * k;
        const __m256i eight = KERNEL(gridIQ1Eight)(i[0], i[1], i[2], i[3]);
        KERNEL(gridValues)(blk, k, _mm256_add_epi8(eight, _mm256_set1_epi8((char)deltas[k])));
    }
}

/// iq1_m (56 bytes: 32 low index bytes, 16 bytes of a nibble per group of 8 (index bits 8…10, δ's sign in bit 3), 4
/// 16-bit scale words: 3-bit s of 16 elements each in bits 0…11 (four per word), the f16 d in their top nibbles;
/// d·(2s + 1)·(g + δ), decoded as d/8·(2s + 1)·(8g ± 1)).
GRID_TARGET static inline __attribute__((always_inline)) void KERNEL(gridIQ1M)(const uint8_t *b, KERNEL(GridBlock) *blk) {
    uint64_t sc;
    __builtin_memcpy(&sc, b + 48, 8);
    const uint16_t dh = (uint16_t)(((sc >> 12) & 0xF) | ((sc >> 24) & 0xF0) | ((sc >> 36) & 0xF00) | ((sc >> 48) & 0xF000));
    blk->d = _cvtsh_ss(dh) * 0.125f;
    // Scale j of 16 elements: bits 3(j % 4)… of word j / 4, moved to the top three bits of a 16-bit lane, then down.
    const __m256i words = _mm256_shuffle_epi8(_mm256_set1_epi64x((long long)sc),
                                              _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3,
                                                               4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7));
    const __m256i top = _mm256_mullo_epi16(words, _mm256_setr_epi16(1 << 13, 1 << 10, 1 << 7, 1 << 4, 1 << 13, 1 << 10, 1 << 7, 1 << 4,
                                                                    1 << 13, 1 << 10, 1 << 7, 1 << 4, 1 << 13, 1 << 10, 1 << 7, 1 << 4));
    const __m256i s = _mm256_or_si256(_mm256_slli_epi16(_mm256_srli_epi16(top, 13), 1), _mm256_set1_epi16(1));
    const __m256i s8 = _mm256_packus_epi16(s, s);
    KERNEL(gridScales)(blk, _mm_unpacklo_epi64(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1)));
    // Groups 8j…8j + 7: index bits 8…10 from the low and high nibbles of nibble bytes 4j…4j + 3.
    uint32_t idx[32];
    const __m256i shift = _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4);
    const __m256i pairs = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    #pragma clang loop unroll(full)
    for (int j = 0; j < 4; j++) {
        uint32_t h4;
        __builtin_memcpy(&h4, b + 32 + 4 * j, 4);
        const __m256i hi = _mm256_permutevar8x32_epi32(_mm256_cvtepu8_epi32(_mm_cvtsi32_si128((int)h4)), pairs);
        KERNEL(gridIndices)(b + 8 * j, hi, shift, 7, idx + 8 * j);
    }
    // δ's sign of group l of a 32: bit 3 (even l) or 7 (odd l) of byte l / 2 of the group's two nibble bytes.
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                            1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m256i deltaBit = _mm256_setr_epi8(8, 8, 8, 8, 8, 8, 8, 8, -128, -128, -128, -128, -128, -128, -128, -128,
                                              8, 8, 8, 8, 8, 8, 8, 8, -128, -128, -128, -128, -128, -128, -128, -128);
    #pragma clang loop unroll(full)
    for (int k = 0; k < 8; k++) {
        const uint32_t *i = idx + 4 * k;
        const __m256i eight = KERNEL(gridIQ1Eight)(i[0], i[1], i[2], i[3]);
        uint16_t h;
        __builtin_memcpy(&h, b + 32 + 2 * k, 2);
        const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi16((short)h), spread);
        const __m256i negative = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, deltaBit), deltaBit);
        KERNEL(gridValues)(blk, k, _mm256_add_epi8(eight, _mm256_or_si256(negative, _mm256_set1_epi8(1))));
    }
}

/// The super-block of `type` at `b`, decoded.
GRID_TARGET static inline __attribute__((always_inline)) void KERNEL(gridDecode)(SieveGridType type, const uint8_t *b,
                                                                               KERNEL(GridBlock) *blk) {
    switch (type) {
    case SIEVE_GRID_IQ2_XXS: KERNEL(gridIQ2XXS)(b, blk); break;
    case SIEVE_GRID_IQ2_XS: KERNEL(gridIQ2XS)(b, blk); break;
    case SIEVE_GRID_IQ2_S: KERNEL(gridIQ2S)(b, blk); break;
    case SIEVE_GRID_IQ3_XXS: KERNEL(gridIQ3XXS)(b, blk); break;
    case SIEVE_GRID_IQ3_S: KERNEL(gridIQ3S)(b, blk); break;
    case SIEVE_GRID_IQ1_S: KERNEL(gridIQ1S)(b, blk); break;
    case SIEVE_GRID_IQ1_M: KERNEL(gridIQ1M)(b, blk); break;
    }
}

/// Σ_k sc·Σ(value·x) of a decoded super-block and one token's 256 activation codes `x`, exact, in eight int32 lanes
/// (two chains of four, the even and odd groups of 32).
GRID_TARGET static inline __m256i KERNEL(gridDot)(const KERNEL(GridBlock) *blk, const int8_t *x) {
    __m256i sum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    #pragma clang loop unroll(full)
    for (int k = 0; k < 8; k++) {
        const __m256i xk = _mm256_loadu_si256((const __m256i *)(x + 32 * k));
#ifdef DOT_U8_S8
        const __m256i xs = _mm256_mask_sub_epi8(xk, (__mmask32)blk->neg[k], _mm256_setzero_si256(), xk);
#else
        const __m256i xs = _mm256_sign_epi8(xk, blk->sign[k]);
#endif
        sum[k & 1] = DOT_I16_ADD(sum[k & 1], _mm256_maddubs_epi16(blk->u[k], xs), blk->sc[k]);
    }
    return _mm256_add_epi32(sum[0], sum[1]);
}

/// `gridDot` of `n` tokens' codes (token t's at x + xStride·t) into sums[t], `n` a constant (2…4) so that the sums stay
/// in registers: the same exact lanes, made group of 32 by group for every token, each group's magnitudes, signs and
/// scales read once for the `n` tokens. Against `gridDot` per token, 16 tokens of iq2_xxs took 4.6 instead of 5.0 ns per
/// row, token and super-block (one Zen 4 core, VNNI; groups of 2 and 8 tokens took 4.8 and 4.7).
GRID_TARGET static inline __attribute__((always_inline)) void
KERNEL(gridDots)(const KERNEL(GridBlock) *blk, const int8_t *x, intptr_t xStride, int n, __m256i *sums) {
    __m256i s[4];
    for (int t = 0; t < n; t++) s[t] = _mm256_setzero_si256();
    #pragma clang loop unroll(full)
    for (int k = 0; k < 8; k++) {
        const __m256i u = blk->u[k], sc = blk->sc[k];
#ifdef DOT_U8_S8
        const __mmask32 negative = (__mmask32)blk->neg[k];
#else
        const __m256i sign = blk->sign[k];
#endif
        #pragma clang loop unroll(full)
        for (int t = 0; t < n; t++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(x + xStride * t + 32 * k));
#ifdef DOT_U8_S8
            const __m256i xs = _mm256_mask_sub_epi8(v, negative, _mm256_setzero_si256(), v);
#else
            const __m256i xs = _mm256_sign_epi8(v, sign);
#endif
            s[t] = DOT_I16_ADD(s[t], _mm256_maddubs_epi16(u, xs), sc);
        }
    }
    for (int t = 0; t < n; t++) sums[t] = s[t];
}

/// Four rows of `type` with `tokens` (1…16) tokens' activations (token t's codes at xq + 256·nsb·t, its scales at
/// xd + nsb·t), row i's product with token t to out[outStride·t + i]: each row's super-block is decoded once and
/// multiplied with every token's codes (decoding costs 14–25 ns per row and super-block, the products about 4 ns per
/// token). Per row, token and super-block the float work is one conversion of the exact integer sum and one
/// multiply-add by d·dx, in super-block order, as in `grid_panel_rows` (VNNI), so that every path gives the same
/// bits. A token's integer sums and float operations do not depend on the others, so one token is the decode
/// product and several give its results bit for bit.
GRID_TARGET static inline __attribute__((always_inline)) void
KERNEL(grid_dot_rows4_tokens)(SieveGridType type, const uint8_t *const r[4], int nsb, int tokens, const int8_t *xq,
                              const float *xd, float *out, intptr_t outStride) {
    const int blockBytes = sieveGridBlockBytes[type];
    const intptr_t xStride = (intptr_t)256 * nsb;
    __m128 acc[16];
    for (int t = 0; t < tokens; t++) acc[t] = _mm_setzero_ps();
    for (int sb = 0; sb < nsb; sb++) {
        __m256i sums[16][4];
        __m128 d4 = _mm_setzero_ps();
        for (int i = 0; i < 4; i++) {
            KERNEL(GridBlock) blk;
            KERNEL(gridDecode)(type, r[i] + (intptr_t)blockBytes * sb, &blk);
            d4 = KERNEL(shiftIn)(d4, _mm_set_ss(blk.d));
            __m256i s[16];
            if (tokens == 1) {
                s[0] = KERNEL(gridDot)(&blk, xq + 256 * sb);
            } else {
                // Four tokens at a time, then the last one to three.
                int t = 0;
                for (; t + 4 <= tokens; t += 4) KERNEL(gridDots)(&blk, xq + 256 * sb + xStride * t, xStride, 4, s + t);
                switch (tokens - t) {
                case 3: KERNEL(gridDots)(&blk, xq + 256 * sb + xStride * t, xStride, 3, s + t); break;
                case 2: KERNEL(gridDots)(&blk, xq + 256 * sb + xStride * t, xStride, 2, s + t); break;
                case 1: s[t] = KERNEL(gridDot)(&blk, xq + 256 * sb + xStride * t); break;
                }
            }
            for (int t = 0; t < tokens; t++) sums[t][i] = s[t];
        }
        for (int t = 0; t < tokens; t++) {
            const __m128 scale = _mm_mul_ps(d4, _mm_set1_ps(xd[(intptr_t)nsb * t + sb]));
            acc[t] = _mm_fmadd_ps(_mm_cvtepi32_ps(KERNEL(isum4)(sums[t])), scale, acc[t]);
        }
    }
    for (int t = 0; t < tokens; t++) _mm_storeu_ps(out + outStride * t, acc[t]);
}

/// `grid_dot_rows4_tokens` for one type (a constant, so that each type's decoder is inlined alone), in tiles of at most
/// 16 tokens.
GRID_TARGET static inline __attribute__((always_inline)) void
KERNEL(grid_dot_rows4_tiles)(SieveGridType type, const void *r0, const void *r1, const void *r2, const void *r3, int nsb,
                             int tokens, const int8_t *xq, const float *xd, float *out, intptr_t outStride) {
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    for (int first = 0; first < tokens; first += 16) {
        const int n = tokens - first < 16 ? tokens - first : 16;
        KERNEL(grid_dot_rows4_tokens)(type, r, nsb, n, xq + (intptr_t)256 * nsb * first, xd + (intptr_t)nsb * first,
                                      out + outStride * first, outStride);
    }
}

GRID_TARGET void KERNEL(sieve_grid_dot_rows4)(SieveGridType type, const void *r0, const void *r1, const void *r2,
                                              const void *r3, int nsb, const int8_t *xq, const float *xd, float *out) {
    switch (type) {
    case SIEVE_GRID_IQ2_XXS: KERNEL(grid_dot_rows4_tiles)(SIEVE_GRID_IQ2_XXS, r0, r1, r2, r3, nsb, 1, xq, xd, out, 4); break;
    case SIEVE_GRID_IQ2_XS: KERNEL(grid_dot_rows4_tiles)(SIEVE_GRID_IQ2_XS, r0, r1, r2, r3, nsb, 1, xq, xd, out, 4); break;
    case SIEVE_GRID_IQ2_S: KERNEL(grid_dot_rows4_tiles)(SIEVE_GRID_IQ2_S, r0, r1, r2, r3, nsb, 1, xq, xd, out, 4); break;
    case SIEVE_GRID_IQ3_XXS: KERNEL(grid_dot_rows4_tiles)(SIEVE_GRID_IQ3_XXS, r0, r1, r2, r3, nsb, 1, xq, xd, out, 4); break;
    case SIEVE_GRID_IQ3_S: KERNEL(grid_dot_rows4_tiles)(SIEVE_GRID_IQ3_S, r0, r1, r2, r3, nsb, 1, xq, xd, out, 4); break;
    case SIEVE_GRID_IQ1_S: KERNEL(grid_dot_rows4_tiles)(SIEVE_GRID_IQ1_S, r0, r1, r2, r3, nsb, 1, xq, xd, out, 4); break;
    case SIEVE_GRID_IQ1_M: KERNEL(grid_dot_rows4_tiles)(SIEVE_GRID_IQ1_M, r0, r1, r2, r3, nsb, 1, xq, xd, out, 4); break;
    }
}

#ifndef DOT_U8_S8
// With VNNI, grid prefill runs in the panel kernels (PanelRows.h).
GRID_TARGET void KERNEL(sieve_grid_dot_rows4_tokens)(SieveGridType type, const void *r0, const void *r1, const void *r2,
                                                     const void *r3, int nsb, int tokens, const int8_t *xq,
                                                     const float *xd, float *out, intptr_t outStride) {
    switch (type) {
    case SIEVE_GRID_IQ2_XXS: KERNEL(grid_dot_rows4_tiles)(SIEVE_GRID_IQ2_XXS, r0, r1, r2, r3, nsb, tokens, xq, xd, out, outStride); break;
    case SIEVE_GRID_IQ2_XS: KERNEL(grid_dot_rows4_tiles)(SIEVE_GRID_IQ2_XS, r0, r1, r2, r3, nsb, tokens, xq, xd, out, outStride); break;
    case SIEVE_GRID_IQ2_S: KERNEL(grid_dot_rows4_tiles)(SIEVE_GRID_IQ2_S, r0, r1, r2, r3, nsb, tokens, xq, xd, out, outStride); break;
    case SIEVE_GRID_IQ3_XXS: KERNEL(grid_dot_rows4_tiles)(SIEVE_GRID_IQ3_XXS, r0, r1, r2, r3, nsb, tokens, xq, xd, out, outStride); break;
    case SIEVE_GRID_IQ3_S: KERNEL(grid_dot_rows4_tiles)(SIEVE_GRID_IQ3_S, r0, r1, r2, r3, nsb, tokens, xq, xd, out, outStride); break;
    case SIEVE_GRID_IQ1_S: KERNEL(grid_dot_rows4_tiles)(SIEVE_GRID_IQ1_S, r0, r1, r2, r3, nsb, tokens, xq, xd, out, outStride); break;
    case SIEVE_GRID_IQ1_M: KERNEL(grid_dot_rows4_tiles)(SIEVE_GRID_IQ1_M, r0, r1, r2, r3, nsb, tokens, xq, xd, out, outStride); break;
    }
}
#endif

