// The iq4_nl, MXFP4 and iq4_xs row kernels of CSieveKernels.h, written once and compiled once per instruction set by
// QuantizedDot.c after QuantizedDotRows.h and KQuantDotRows.h (see there for KERNEL_TARGET, KERNEL, DOT_U8_S8,
// KERNEL_HADD_ROWS, DOT_I16_ADD and `reduce4`).
//
// Both formats store 4-bit indices into one code book of 16 int8 values v (ggml's kvalues_iq4nl, −127…113; MXFP4 its own, −12…12), looked up
// with `vpshufb`. Both take their blocks of 32 (iq4_nl blocks, iq4_xs sub-blocks) in pairs A, B whose 2 × 16 code bytes
// are one 32-byte vector: its low nibbles are elements 0…15 of A and of B (128-bit halves), its high nibbles elements
// 16…31. The activation codes are rearranged to match once per pair (two `vperm2i128`, shared by the four rows), so
// int32 lanes 0…3 of a pair's sums hold A's products and lanes 4…7 B's: lane l < 4 sums A's elements 4l…4l + 3 and
// 16 + 4l…16 + 4l + 3 (8 products, |Σ| ≤ 8·128·127), lane 4 + l the same of B.
// Values times codes, both signed, are multiplied exactly:
//  - with VNNI (DOT_U8_S8 defined) as values + 128 (1…241, unsigned) times codes with `vpdpbusd`, each lane started
//    from −128 · the sum of its 8 codes (made once per activation pair): the exact Σ(v·x), the partial sums at most
//    8·241·128 + 8·128·128 in magnitude;
//  - with AVX2 alone as |x| (unsigned, at most 128, −128 included) times v with x's sign (|v| ≤ 127, so negating it
//    never overflows) with `vpmaddubsw`: pairs of at most 2·128·127 = 32512, no saturation, then widened with
//    DOT_I16_ADD (by ones, or by int16 scales).

/// A code book of 16 int8 values in both 128-bit halves, for `vpshufb`: with VNNI each value + 128 (as unsigned bytes).
KERNEL_TARGET static inline __m256i KERNEL(bookVector)(__m128i values) {
    const __m256i book = _mm256_set_m128i(values, values);
#ifdef DOT_U8_S8
    return _mm256_xor_si256(book, _mm256_set1_epi8(-128));
#else
    return book;
#endif
}

/// iq4_nl's and iq4_xs's code book (ggml's kvalues_iq4nl).
KERNEL_TARGET static inline __m256i KERNEL(iq4Book)(void) {
    return KERNEL(bookVector)(_mm_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113));
}

/// MXFP4's code book (ggml's kvalues_mxfp4: E2M1 doubled).
KERNEL_TARGET static inline __m256i KERNEL(mxfp4Book)(void) {
    return KERNEL(bookVector)(_mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12));
}

/// The values in `book` of a pair's 32 code bytes `q`: v[0] of the low nibbles, v[1] of the high nibbles.
KERNEL_TARGET static inline void KERNEL(bookPairValues)(__m256i book, __m256i q, __m256i v[2]) {
    const __m256i low = _mm256_set1_epi8(0x0F);
    v[0] = _mm256_shuffle_epi8(book, _mm256_and_si256(q, low));
    v[1] = _mm256_shuffle_epi8(book, _mm256_and_si256(_mm256_srli_epi16(q, 4), low));
}

/// The iq4 values of a pair's 32 code bytes `q` (`bookPairValues` with `iq4Book`).
KERNEL_TARGET static inline void KERNEL(iq4PairValues)(__m256i q, __m256i v[2]) {
    KERNEL(bookPairValues)(KERNEL(iq4Book)(), q, v);
}

/// The activation codes of a pair, A's 32 in `x0` and B's in `x1`, rearranged: a[0] holds elements 0…15 of A and of
/// B, a[1] their elements 16…31; with VNNI a[2] = −128 · each lane's sum of 8 codes, else a[2], a[3] = |a[0]|, |a[1]|.
KERNEL_TARGET static inline void KERNEL(iq4PairActivations)(__m256i x0, __m256i x1, __m256i a[4]) {
    a[0] = _mm256_permute2x128_si256(x0, x1, 0x20);
    a[1] = _mm256_permute2x128_si256(x0, x1, 0x31);
#ifdef DOT_U8_S8
    const __m256i m = _mm256_set1_epi8(-128);
    a[2] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_add_epi32(DOT_U8_S8(m, a[0]), DOT_U8_S8(m, a[1])));
#else
    a[2] = _mm256_sign_epi8(a[0], a[0]);
    a[3] = _mm256_sign_epi8(a[1], a[1]);
#endif
}

#ifdef DOT_U8_S8
/// The exact Σ(v·x) of each lane's 8 products of a pair (values `v`, activations `a`): `vpdpbusd` itself, chained
/// from a[2], rather than DOT_U8_S8 (which starts from zero) and additions.
KERNEL_TARGET static inline __m256i KERNEL(iq4PairDot)(const __m256i v[2], const __m256i a[4]) {
    return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(a[2], v[0], a[0]), v[1], a[1]);
}
#else
/// `sum` + each lane's products of a pair (values `v`, activations `a`), its two `vpmaddubsw` pairs weighted by the
/// int16 halves of the lane of `s`.
KERNEL_TARGET static inline __m256i KERNEL(iq4PairDot)(__m256i sum, const __m256i v[2], const __m256i a[4], __m256i s) {
    sum = DOT_I16_ADD(sum, _mm256_maddubs_epi16(a[2], _mm256_sign_epi8(v[0], a[0])), s);
    return DOT_I16_ADD(sum, _mm256_maddubs_epi16(a[3], _mm256_sign_epi8(v[1], a[1])), s);
}
#endif

/// Four rows of blocks of 32 whose 16 nibble bytes (ordered as q4_0's) index `book`, with q8_0 activations:
/// Σ_b d_b·dx_b·Σ(v·x), each block's integer sum exact (at most 32·128·127). iq4_nl blocks (`mx` 0) are 18 bytes, an f16 d
/// then the nibbles; MXFP4 blocks (`mx` 1) 17, an E8M0 byte e (d = 2^(e − 128), as ggml's GGML_E8M0_TO_FP32_HALF) then
/// the nibbles. Blocks b and b + 1 are a pair (a last odd block has a zero partner: zero codes, activations and
/// scales), whose int32 lanes are converted and multiplied once. The eight scales d·dx (rows 0…3 of block b, then of
/// b + 1) are multiplied as one vector. With VNNI each row's sums are scaled with its own lanes of it (a `vpermps`);
/// with KERNEL_HADD_ROWS two rounds of `vphaddd` leave row j's sums of blocks b and b + 1 in lanes j and 4 + j, for
/// one conversion and multiply-add of all four rows.
KERNEL_TARGET static inline void KERNEL(bookDotRows4)(const uint8_t *const r[4], int nb, const int8_t *xq, const float *xd,
                                                      float *out, const int mx) {
    const intptr_t blockBytes = mx ? 17 : 18, codes = mx ? 1 : 2;
    const __m256i book = mx ? KERNEL(mxfp4Book)() : KERNEL(iq4Book)();
#ifdef KERNEL_HADD_ROWS
    __m256 acc = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
#else
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
#endif
    for (int b = 0; b < nb; b += 2) {
        const int two = b + 1 < nb;
        __m256i a[4];
        KERNEL(iq4PairActivations)(_mm256_loadu_si256((const __m256i *)(xq + 32 * b)),
                                   two ? _mm256_loadu_si256((const __m256i *)(xq + 32 * b + 32)) : _mm256_setzero_si256(), a);
        __m256 d;
        if (mx) {
            // 2^(e − 128): exponent field e − 1 for e ≥ 2, the subnormals 2^−128 and 2^−127 below (ggml's table).
            uint32_t bits[8] = {0};
            for (int i = 0; i < 4; i++) {
                for (int k = 0; k < 1 + two; k++) {
                    const uint32_t e = r[i][blockBytes * (b + k)];
                    bits[4 * k + i] = e < 2 ? 0x00200000u << e : (e - 1) << 23;
                }
            }
            d = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)bits));
        } else {
            int16_t h[8] = {0};
            for (int i = 0; i < 4; i++) {
                __builtin_memcpy(&h[i], r[i] + 18 * b, 2);
                if (two) __builtin_memcpy(&h[4 + i], r[i] + 18 * b + 18, 2);
            }
            d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
        }
        const __m256 dx = _mm256_set_m128(two ? _mm_set1_ps(xd[b + 1]) : _mm_setzero_ps(), _mm_set1_ps(xd[b]));
        const __m256 scale = _mm256_mul_ps(d, dx);
        __m256i s[4];
        for (int i = 0; i < 4; i++) {
            const __m128i q0 = _mm_loadu_si128((const __m128i *)(r[i] + blockBytes * b + codes));
            const __m128i q1 = two ? _mm_loadu_si128((const __m128i *)(r[i] + blockBytes * (b + 1) + codes)) : _mm_setzero_si128();
            __m256i v[2];
            KERNEL(bookPairValues)(book, _mm256_set_m128i(q1, q0), v);
#ifdef KERNEL_HADD_ROWS
            s[i] = KERNEL(iq4PairDot)(_mm256_setzero_si256(), v, a, ones);
#else
            s[i] = KERNEL(iq4PairDot)(v, a);
            const __m256 di = _mm256_permutevar8x32_ps(scale, _mm256_setr_epi32(i, i, i, i, 4 + i, 4 + i, 4 + i, 4 + i));
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[i]), di, acc[i]);
#endif
        }
#ifdef KERNEL_HADD_ROWS
        const __m256i sums = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, acc);
#endif
    }
#ifdef KERNEL_HADD_ROWS
    float a[8];
    _mm256_storeu_ps(a, acc);
    for (int i = 0; i < 4; i++) out[i] = a[i] + a[4 + i];
#else
    KERNEL(reduce4)(acc, out);
#endif
}

KERNEL_TARGET void KERNEL(sieve_iq4_nl_dot_rows4)(const void *r0, const void *r1, const void *r2, const void *r3, int nb,
                                                  const int8_t *xq, const float *xd, float *out) {
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    KERNEL(bookDotRows4)(r, nb, xq, xd, out, 0);
}

KERNEL_TARGET void KERNEL(sieve_mxfp4_dot_rows4)(const void *r0, const void *r1, const void *r2, const void *r3, int nb,
                                                 const int8_t *xq, const float *xd, float *out) {
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    KERNEL(bookDotRows4)(r, nb, xq, xd, out, 1);
}

/// d of the iq4_xs super-blocks at b[0…3].
KERNEL_TARGET static inline __m128 KERNEL(iq4xsD)(const uint8_t *const b[4]) {
    int16_t h[4];
    for (int i = 0; i < 4; i++) __builtin_memcpy(&h[i], b[i], 2);
    return _mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, h[3], h[2], h[1], h[0]));
}

/// One row's iq4_xs super-block at `b` unpacked, sub-blocks 2k and 2k + 1 being pair k: v[2k], v[2k + 1] its values
/// (`iq4PairValues`), s[k] its scales ls − 32 (−32…31; sub-block 2k's in the low 128 bits, 2k + 1's in the high), as
/// int32 with VNNI, else in both int16 halves of each lane. Sub-block ib's ls: low four bits from nibble ib of
/// scales_l (bytes 4…7), high two from bit pair ib of scales_h (bytes 2…3).
KERNEL_TARGET static inline void KERNEL(iq4xsRow)(const uint8_t *b, __m256i v[8], __m256i s[4]) {
    uint16_t high;
    uint32_t low;
    __builtin_memcpy(&high, b + 2, 2);
    __builtin_memcpy(&low, b + 4, 4);
    const __m256i l = _mm256_srlv_epi32(_mm256_set1_epi32((int)low), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
    const __m256i h = _mm256_srlv_epi32(_mm256_set1_epi32((int)high << 4), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14));
    // Lane ib: sub-block ib's scale.
    const __m256i ls = _mm256_or_si256(_mm256_and_si256(l, _mm256_set1_epi32(15)), _mm256_and_si256(h, _mm256_set1_epi32(48)));
    __m256i sc = _mm256_sub_epi32(ls, _mm256_set1_epi32(32));
#ifndef DOT_U8_S8
    sc = _mm256_or_si256(_mm256_slli_epi32(sc, 16), _mm256_and_si256(sc, _mm256_set1_epi32(0xFFFF)));
#endif
    for (int k = 0; k < 4; k++) {
        const int e = 2 * k, o = 2 * k + 1;
        KERNEL(iq4PairValues)(_mm256_loadu_si256((const __m256i *)(b + 8 + 32 * k)), v + e);
        s[k] = _mm256_permutevar8x32_epi32(sc, _mm256_setr_epi32(e, e, e, e, o, o, o, o));
    }
}

/// One token's super-block of activation codes at `x` rearranged for the four pairs: a[4k…4k + 3] for pair k.
KERNEL_TARGET static inline void KERNEL(iq4xsActivations)(const int8_t *x, __m256i a[16]) {
    for (int k = 0; k < 4; k++) {
        KERNEL(iq4PairActivations)(_mm256_loadu_si256((const __m256i *)(x + 64 * k)),
                                   _mm256_loadu_si256((const __m256i *)(x + 64 * k + 32)), a + 4 * k);
    }
}

/// The int32 lanes of a super-block's sum Σ_ib s_ib·Σ(v·x) for one row (`iq4xsRow`) and one token
/// (`iq4xsActivations`), exact: at most 4·8·128·127·32 per lane. With VNNI each pair's exact lanes are multiplied by
/// the scales with one `vpmulld` (three multiplying instructions per 64 elements), else its `vpmaddubsw` pairs are
/// weighted with DOT_I16_ADD.
KERNEL_TARGET static inline __m256i KERNEL(iq4xsDot)(const __m256i v[8], const __m256i s[4], const __m256i a[16]) {
    __m256i sum = _mm256_setzero_si256();
    for (int k = 0; k < 4; k++) {
#ifdef DOT_U8_S8
        sum = _mm256_add_epi32(sum, _mm256_mullo_epi32(KERNEL(iq4PairDot)(v + 2 * k, a + 4 * k), s[k]));
#else
        sum = KERNEL(iq4PairDot)(sum, v + 2 * k, a + 4 * k, s[k]);
#endif
    }
    return sum;
}

/// Four iq4_xs rows (136-byte super-blocks: f16 d, scales_h, scales_l, 128 bytes of nibbles; 8 sub-blocks of 32 with
/// scales −32…31) with q8_K activations (`bsums` unused): Σ_sb d·dx·Σ_ib s_ib·Σ(v·x). A super-block's integer sum is
/// exact (at most 8·32·128·127·32 < 2^31), one conversion per row and super-block; each row's lanes are reduced once,
/// at the end.
KERNEL_TARGET void KERNEL(sieve_iq4_xs_dot_rows4)(const void *r0, const void *r1, const void *r2, const void *r3, int nsb,
                                                  const int8_t *xq, const float *xd, const int16_t *bsums, float *out) {
    (void)bsums;
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int sb = 0; sb < nsb; sb++) {
        const uint8_t *const b[4] = {r[0] + 136 * sb, r[1] + 136 * sb, r[2] + 136 * sb, r[3] + 136 * sb};
        __m256i a[16];
        KERNEL(iq4xsActivations)(xq + 256 * sb, a);
        float dxd[4];
        _mm_storeu_ps(dxd, _mm_mul_ps(KERNEL(iq4xsD)(b), _mm_set1_ps(xd[sb])));
        for (int i = 0; i < 4; i++) {
            __m256i v[8], s[4];
            KERNEL(iq4xsRow)(b[i], v, s);
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(KERNEL(iq4xsDot)(v, s, a)), _mm256_set1_ps(dxd[i]), acc[i]);
        }
    }
    KERNEL(reduce4)(acc, out);
}

/// The same four rows with `tokens` (1…16) tokens' activations (token t's at xq + 256·nsb·t, xd + nsb·t), row i's
/// product with token t to out[outStride·t + i], for prefill: per super-block the tokens' activations are rearranged
/// once and each row's super-block is unpacked once (values, scales), then multiplied with every token's. Per token
/// and row, the int32 lanes of each super-block's sum and the float operations, in their order, are those of
/// `sieve_iq4_xs_dot_rows4`, so the results are those of one decode call per token, bit for bit.
KERNEL_TARGET static inline __attribute__((always_inline)) void
KERNEL(iq4xs_dot_rows4_tokens)(const uint8_t *const r[4], int nsb, int tokens, const int8_t *xq, const float *xd,
                               float *out, intptr_t outStride) {
    __m256 acc[16][4];
    for (int t = 0; t < tokens; t++) {
        for (int i = 0; i < 4; i++) acc[t][i] = _mm256_setzero_ps();
    }
    for (int sb = 0; sb < nsb; sb++) {
        const uint8_t *const b[4] = {r[0] + 136 * sb, r[1] + 136 * sb, r[2] + 136 * sb, r[3] + 136 * sb};
        const __m128 d = KERNEL(iq4xsD)(b);
        __m256i a[16][16];
        float dxd[16][4];
        for (int t = 0; t < tokens; t++) {
            KERNEL(iq4xsActivations)(xq + (intptr_t)256 * nsb * t + 256 * sb, a[t]);
            _mm_storeu_ps(dxd[t], _mm_mul_ps(d, _mm_set1_ps(xd[(intptr_t)nsb * t + sb])));
        }
        for (int i = 0; i < 4; i++) {
            __m256i v[8], s[4];
            KERNEL(iq4xsRow)(b[i], v, s);
            for (int t = 0; t < tokens; t++) {
                acc[t][i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(KERNEL(iq4xsDot)(v, s, a[t])), _mm256_set1_ps(dxd[t][i]), acc[t][i]);
            }
        }
    }
    for (int t = 0; t < tokens; t++) KERNEL(reduce4)(acc[t], out + outStride * t);
}

KERNEL_TARGET void KERNEL(sieve_iq4_xs_dot_rows4_tokens)(const void *r0, const void *r1, const void *r2, const void *r3,
                                                         int nsb, int tokens, const int8_t *xq, const float *xd,
                                                         const int16_t *bsums, float *out, intptr_t outStride) {
    (void)bsums;
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    for (int first = 0; first < tokens; first += 16) {
        const int n = tokens - first < 16 ? tokens - first : 16;
        KERNEL(iq4xs_dot_rows4_tokens)(r, nsb, n, xq + (intptr_t)256 * nsb * first, xd + (intptr_t)nsb * first,
                                       out + outStride * first, outStride);
    }
}
