// The K-quant row kernels of CSieveKernels.h (four rows of 256-element super-blocks with q8_K activations), written
// once and compiled once per instruction set by QuantizedDot.c, which defines before each inclusion KERNEL_TARGET and
// KERNEL(name) (see QuantizedDotRows.h) and:
//   DOT_I16_ADD(acc, a, b)  acc + the eight int32 lanes Σ_{k<2} a[2j+k]·b[2j+k] of two int16 vectors: one `vpdpwssd`
//                           with VNNI, `vpmaddwd` then `vpaddd` with AVX2 alone (the same integer sums).
//
// Codes (at most 63) times activation codes (|x| ≤ 127) are summed in pairs by `vpmaddubsw` (at most 2·63·127, no
// saturation), and each sub-block's pairs are weighted by its scale (6 bits in q4_K/q5_K, signed 8 bits in q6_K,
// 4 bits with codes ≤ 3 in q2_K, −32…31 with codes ≤ 7 in q3_K) with DOT_I16_ADD, so a super-block's integer sum
// (below 256·63·127·128 < 2^31, offsets of q6_K and q3_K included: 32·128 resp. 4·32 times 256·127) needs one
// conversion per row. q4_K's and q5_K's rows keep eight float lanes, reduced once at the end; q2_K's, q3_K's and
// q6_K's reduce their integer lanes per super-block (`isum4`) and convert that sum, as the VNNI panel kernel of
// their prefill does (PanelRows.h).
// The q4_K/q5_K multi-token kernels and the q2_K/q3_K/q6_K kernels also use DOT_U8_S8 (see QuantizedDotRows.h) when
// it is defined (VNNI).

/// The four rows' sums of eight lanes each: out[i] = Σ lanes of a[i].
KERNEL_TARGET static inline void KERNEL(reduce4)(const __m256 a[4], float *out) {
    __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}

/// `v` moved down a lane, the low float of `x` entering lane 3.
KERNEL_TARGET static inline __m128 KERNEL(shiftIn)(__m128 v, __m128 x) {
    return _mm_insert_ps(_mm_castsi128_ps(_mm_srli_si128(_mm_castps_si128(v), 4)), x, 0x30);
}

/// Lane i: the sum of the eight int32 lanes of s[i] (exact where every partial sum of the lanes is below 2^31, as
/// for a super-block's).
KERNEL_TARGET static inline __m128i KERNEL(isum4)(const __m256i s[4]) {
    const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/// The eight 6-bit scales and mins of a q4_K/q5_K super-block (the 12 bytes at `s`), one byte each.
KERNEL_TARGET static inline void KERNEL(scalesAndMins)(const uint8_t *s, uint8_t scales[8], uint8_t mins[8]) {
    uint32_t u0, u1, u2;
    __builtin_memcpy(&u0, s, 4);
    __builtin_memcpy(&u1, s + 4, 4);
    __builtin_memcpy(&u2, s + 8, 4);
    const uint32_t low6 = 0x3F3F3F3Fu, low4 = 0x0F0F0F0Fu, low2 = 0x03030303u;
    const uint32_t scalesLow = u0 & low6, minsLow = u1 & low6;
    const uint32_t scalesHigh = (u2 & low4) | (((u0 >> 6) & low2) << 4);
    const uint32_t minsHigh = ((u2 >> 4) & low4) | (((u1 >> 6) & low2) << 4);
    __builtin_memcpy(scales, &scalesLow, 4);
    __builtin_memcpy(scales + 4, &scalesHigh, 4);
    __builtin_memcpy(mins, &minsLow, 4);
    __builtin_memcpy(mins + 4, &minsHigh, 4);
}

/// The codes of elements 64c…64c + 31 (lo) and 64c + 32…64c + 63 (hi) of the q4_K/q5_K super-block at `b`, as
/// unsigned bytes (at most 15 resp. 31): nibbles of the 32 bytes at b + codesAt + 32c, for q5_K with bits 2c and
/// 2c + 1 of the fifth-bit bytes `qh` as bit 4.
KERNEL_TARGET static inline void KERNEL(qK_codes)(const uint8_t *b, int fiveBits, __m256i qh, int c, __m256i *lo,
                                                  __m256i *hi) {
    const __m256i low = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    const __m256i q = _mm256_loadu_si256((const __m256i *)(b + (fiveBits ? 48 : 16) + 32 * c));
    *lo = _mm256_and_si256(q, low);
    *hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
    if (fiveBits) {
        *lo = _mm256_or_si256(*lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one), 4));
        *hi = _mm256_or_si256(*hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one), 4));
    }
}

/// The fifth-bit bytes of a q5_K super-block at `b` (zero for q4_K).
KERNEL_TARGET static inline __m256i KERNEL(qK_high)(const uint8_t *b, int fiveBits) {
    return fiveBits ? _mm256_loadu_si256((const __m256i *)(b + 16)) : _mm256_setzero_si256();
}

/// d and dmin (lanes 0 and 1) of the q4_K/q5_K super-block at `b`.
KERNEL_TARGET static inline __m128 KERNEL(qK_dm)(const uint8_t *b) {
    uint16_t h[2];
    __builtin_memcpy(h, b, 4);
    return _mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, 0, 0, (short)h[1], (short)h[0]));
}

/// Σx per sub-block of 32 of one super-block's activations (pairs of its 16 q8_K block sums `bsums`), as int16.
KERNEL_TARGET static inline __m128i KERNEL(qK_subSums)(const int16_t *bsums) {
    const __m256i pairs = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), _mm256_set1_epi16(1));
    return _mm_packs_epi32(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
}

/// The eight mins `mn` as int16.
KERNEL_TARGET static inline __m128i KERNEL(qK_mins)(const uint8_t mn[8]) {
    uint64_t m8;
    __builtin_memcpy(&m8, mn, 8);
    return _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)m8));
}

/// out[i] = Σ lanes of acc[i] − Σ lanes of corr[i], i = 0…3.
KERNEL_TARGET static inline void KERNEL(qK_finish)(const __m256 acc[4], const __m128 corr[4], float *out) {
    float a[4];
    KERNEL(reduce4)(acc, a);
    // Lane i: the sum of corr[i]'s four lanes.
    const __m128 c = _mm_hadd_ps(_mm_hadd_ps(corr[0], corr[1]), _mm_hadd_ps(corr[2], corr[3]));
    _mm_storeu_ps(out, _mm_sub_ps(_mm_loadu_ps(a), c));
}

/// Four q4_K (144-byte super-blocks: f16 d, f16 dmin, 12 bytes of scales and mins, 128 bytes of nibbles) or q5_K
/// (176 bytes: the same, with 32 bytes of fifth bits before the nibbles) rows: Σ_sb d·dx·Σ_j sc_j·Σ(q·x) −
/// dmin·dx·Σ_j m_j·Σx over sub-blocks j of 32 (the activation sums from the q8_K block sums).
KERNEL_TARGET static inline void KERNEL(qK_dot_rows4)(const uint8_t *const r[4], int nsb, int fiveBits, const int8_t *xq,
                                                      const float *xd, const int16_t *bsums, float *out) {
    const int blockBytes = fiveBits ? 176 : 144;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m128 corr[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
    for (int sb = 0; sb < nsb; sb++) {
        const int8_t *x = xq + 256 * sb;
        const __m128i subSums = KERNEL(qK_subSums)(bsums + 16 * sb);
        const __m256 dx = _mm256_set1_ps(xd[sb]);
        const __m128 dx4 = _mm256_castps256_ps128(dx);
        for (int i = 0; i < 4; i++) {
            const uint8_t *b = r[i] + blockBytes * sb;
            const __m128 dm = KERNEL(qK_dm)(b);
            uint8_t sc[8], mn[8];
            KERNEL(scalesAndMins)(b + 4, sc, mn);
            const __m256i qh = KERNEL(qK_high)(b, fiveBits);
            __m256i sum = _mm256_setzero_si256();
            for (int c = 0; c < 4; c++) {
                __m256i lo, hi;
                KERNEL(qK_codes)(b, fiveBits, qh, c, &lo, &hi);
                const __m256i pl = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(x + 64 * c)));
                const __m256i ph = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(x + 64 * c + 32)));
                sum = DOT_I16_ADD(sum, pl, _mm256_set1_epi16(sc[2 * c]));
                sum = DOT_I16_ADD(sum, ph, _mm256_set1_epi16(sc[2 * c + 1]));
            }
            const float d = _mm_cvtss_f32(dm), dmin = _mm_cvtss_f32(_mm_shuffle_ps(dm, dm, 1));
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dx, _mm256_set1_ps(d)), acc[i]);
            uint64_t m8;
            __builtin_memcpy(&m8, mn, 8);
            const __m128i m = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)m8)), subSums);
            corr[i] = _mm_fmadd_ps(_mm_cvtepi32_ps(m), _mm_mul_ps(dx4, _mm_set1_ps(dmin)), corr[i]);
        }
    }
    KERNEL(qK_finish)(acc, corr, out);
}

/// The same four rows with `tokens` (1…16) tokens' activations (token t's at xq + 256·nsb·t, xd + nsb·t,
/// bsums + 16·nsb·t), row i's product with token t to out[outStride·t + i], for prefill: each row's super-block is
/// unpacked once (codes, scales, d, dmin, mins) and multiplied with every token's activations. Per token and row, the
/// int32 lanes of each super-block's sum and the float operations, in their order, are those of `qK_dot_rows4`, so
/// the results are those of one call per token, bit for bit:
///  - dx·d and dx·dmin are the same single roundings, made for four rows (resp. two) at once;
///  - the min corrections of rows 0 and 1 (2 and 3) are the same four-lane `vpmaddwd`, conversion and multiply-add,
///    made in the two halves of one 256-bit vector, and split again for the final sums;
///  - with VNNI (DOT_U8_S8 defined), sub-block j's `vpdpbusd` lane l, Σ_{k<4} q·x over bytes 4l…4l + 3, is the sum of
///    lane l's two `vpmaddubsw` pairs (|·| ≤ 4·31·127 fits in int16): two sub-blocks' such sums share each lane as
///    int16 halves and are weighted by their scales with one `vpdpwssd` (12 multiplying instructions per row, token
///    and super-block instead of 16); with AVX2 alone the even and odd sub-blocks' scaled pairs are summed in two
///    vectors, then added (two short dependency chains).
KERNEL_TARGET static inline __attribute__((always_inline)) void
KERNEL(qK_dot_rows4_tokens)(const uint8_t *const r[4], int nsb, int fiveBits, int tokens, const int8_t *xq,
                            const float *xd, const int16_t *bsums, float *out, intptr_t outStride) {
    const int blockBytes = fiveBits ? 176 : 144;
    const intptr_t xStride = (intptr_t)256 * nsb;
    __m256 acc[16][4], corr01[16], corr23[16];
    for (int t = 0; t < tokens; t++) {
        for (int i = 0; i < 4; i++) acc[t][i] = _mm256_setzero_ps();
        corr01[t] = corr23[t] = _mm256_setzero_ps();
    }
    for (int sb = 0; sb < nsb; sb++) {
        const uint8_t *b[4];
        uint16_t h[8];
        uint8_t sc[4][8], mn[4][8];
        for (int i = 0; i < 4; i++) {
            b[i] = r[i] + blockBytes * sb;
            __builtin_memcpy(&h[i], b[i], 2);
            __builtin_memcpy(&h[4 + i], b[i] + 2, 2);
            KERNEL(scalesAndMins)(b[i] + 4, sc[i], mn[i]);
        }
        // d of rows 0…3, then dmin of rows 0…3.
        const __m256 dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
        const __m128 d = _mm256_castps256_ps128(dm);
        const __m256 dmin01 = _mm256_permutevar8x32_ps(dm, _mm256_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5));
        const __m256 dmin23 = _mm256_permutevar8x32_ps(dm, _mm256_setr_epi32(6, 6, 6, 6, 7, 7, 7, 7));
        const __m256i mins01 = _mm256_set_m128i(KERNEL(qK_mins)(mn[1]), KERNEL(qK_mins)(mn[0]));
        const __m256i mins23 = _mm256_set_m128i(KERNEL(qK_mins)(mn[3]), KERNEL(qK_mins)(mn[2]));
        // dx·d of rows 0…3 per token; the min corrections.
        float dxd[16][4];
        for (int t = 0; t < tokens; t++) {
            const __m256 dx = _mm256_set1_ps(xd[(intptr_t)nsb * t + sb]);
            _mm_storeu_ps(dxd[t], _mm_mul_ps(_mm256_castps256_ps128(dx), d));
            const int16_t *bs = bsums + (intptr_t)16 * nsb * t + 16 * sb;
            const __m256i subSums = _mm256_broadcastsi128_si256(KERNEL(qK_subSums)(bs));
            const __m256 m01 = _mm256_cvtepi32_ps(_mm256_madd_epi16(mins01, subSums));
            const __m256 m23 = _mm256_cvtepi32_ps(_mm256_madd_epi16(mins23, subSums));
            corr01[t] = _mm256_fmadd_ps(m01, _mm256_mul_ps(dx, dmin01), corr01[t]);
            corr23[t] = _mm256_fmadd_ps(m23, _mm256_mul_ps(dx, dmin23), corr23[t]);
        }
        for (int i = 0; i < 4; i++) {
            const __m256i qh = KERNEL(qK_high)(b[i], fiveBits);
            __m256i q[8];
            for (int c = 0; c < 4; c++) KERNEL(qK_codes)(b[i], fiveBits, qh, c, &q[2 * c], &q[2 * c + 1]);
#ifdef DOT_U8_S8
            // Sub-blocks 2k and 2k + 1's scales in the low and high 16 bits of each 32-bit lane.
            __m256i s[4];
            for (int k = 0; k < 4; k++) s[k] = _mm256_set1_epi32(sc[i][2 * k] | sc[i][2 * k + 1] << 16);
#else
            __m256i s[8];
            for (int j = 0; j < 8; j++) s[j] = _mm256_set1_epi16(sc[i][j]);
#endif
            const int8_t *x = xq + 256 * sb;
            for (int t = 0; t < tokens; t++, x += xStride) {
#ifdef DOT_U8_S8
                // Sub-blocks 2k and 2k + 1's four-byte sums as the low and high int16 of each lane.
                __m256i sum = _mm256_setzero_si256();
                for (int k = 0; k < 4; k++) {
                    const __m256i lo = DOT_U8_S8(q[2 * k], _mm256_loadu_si256((const __m256i *)(x + 64 * k)));
                    const __m256i hi = DOT_U8_S8(q[2 * k + 1], _mm256_loadu_si256((const __m256i *)(x + 64 * k + 32)));
                    sum = DOT_I16_ADD(sum, _mm256_blend_epi16(lo, _mm256_slli_epi32(hi, 16), 0xAA), s[k]);
                }
#else
                __m256i even = _mm256_setzero_si256(), odd = _mm256_setzero_si256();
                for (int j = 0; j < 8; j += 2) {
                    const __m256i xe = _mm256_loadu_si256((const __m256i *)(x + 32 * j));
                    const __m256i xo = _mm256_loadu_si256((const __m256i *)(x + 32 * j + 32));
                    const __m256i pe = _mm256_maddubs_epi16(q[j], xe), po = _mm256_maddubs_epi16(q[j + 1], xo);
                    even = DOT_I16_ADD(even, pe, s[j]);
                    odd = DOT_I16_ADD(odd, po, s[j + 1]);
                }
                const __m256i sum = _mm256_add_epi32(even, odd);
#endif
                acc[t][i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(dxd[t][i]), acc[t][i]);
            }
        }
    }
    for (int t = 0; t < tokens; t++) {
        const __m128 corr[4] = {_mm256_castps256_ps128(corr01[t]), _mm256_extractf128_ps(corr01[t], 1),
                                _mm256_castps256_ps128(corr23[t]), _mm256_extractf128_ps(corr23[t], 1)};
        KERNEL(qK_finish)(acc[t], corr, out + outStride * t);
    }
}

KERNEL_TARGET void KERNEL(sieve_q4_K_dot_rows4)(const void *r0, const void *r1, const void *r2, const void *r3, int nsb,
                                                const int8_t *xq, const float *xd, const int16_t *bsums, float *out) {
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    KERNEL(qK_dot_rows4)(r, nsb, 0, xq, xd, bsums, out);
}

KERNEL_TARGET void KERNEL(sieve_q5_K_dot_rows4)(const void *r0, const void *r1, const void *r2, const void *r3, int nsb,
                                                const int8_t *xq, const float *xd, const int16_t *bsums, float *out) {
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    KERNEL(qK_dot_rows4)(r, nsb, 1, xq, xd, bsums, out);
}

/// Any number of tokens, in tiles of at most 16 (the rows are read once per tile).
KERNEL_TARGET static inline __attribute__((always_inline)) void
KERNEL(qK_dot_rows4_tiles)(const uint8_t *const r[4], int nsb, int fiveBits, int tokens, const int8_t *xq,
                           const float *xd, const int16_t *bsums, float *out, intptr_t outStride) {
    for (int first = 0; first < tokens; first += 16) {
        const int n = tokens - first < 16 ? tokens - first : 16;
        KERNEL(qK_dot_rows4_tokens)(r, nsb, fiveBits, n, xq + (intptr_t)256 * nsb * first, xd + (intptr_t)nsb * first,
                                    bsums + (intptr_t)16 * nsb * first, out + outStride * first, outStride);
    }
}

KERNEL_TARGET void KERNEL(sieve_q4_K_dot_rows4_tokens)(const void *r0, const void *r1, const void *r2, const void *r3,
                                                       int nsb, int tokens, const int8_t *xq, const float *xd,
                                                       const int16_t *bsums, float *out, intptr_t outStride) {
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    KERNEL(qK_dot_rows4_tiles)(r, nsb, 0, tokens, xq, xd, bsums, out, outStride);
}

KERNEL_TARGET void KERNEL(sieve_q5_K_dot_rows4_tokens)(const void *r0, const void *r1, const void *r2, const void *r3,
                                                       int nsb, int tokens, const int8_t *xq, const float *xd,
                                                       const int16_t *bsums, float *out, intptr_t outStride) {
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    KERNEL(qK_dot_rows4_tiles)(r, nsb, 1, tokens, xq, xd, bsums, out, outStride);
}

/// The codes (0…63, unsigned bytes) of elements 128·half + 32k + (0..<32), k = 0…3, of the q6_K super-block at `b`
/// into q[0…3]: low nibbles from the 64 bytes at b + 64·half, high bit pairs from the 32 at b + 128 + 32·half.
KERNEL_TARGET static inline __attribute__((always_inline)) void KERNEL(q6Codes)(const uint8_t *b, int half, __m256i q[4]) {
    const __m256i low = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(3);
    const __m256i qa = _mm256_loadu_si256((const __m256i *)(b + 64 * half));
    const __m256i qb = _mm256_loadu_si256((const __m256i *)(b + 64 * half + 32));
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * half));
    q[0] = _mm256_or_si256(_mm256_and_si256(qa, low), _mm256_slli_epi16(_mm256_and_si256(qh, two), 4));
    q[1] = _mm256_or_si256(_mm256_and_si256(qb, low), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two), 4));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), low),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), two), 4));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), low),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), two), 4));
}

/// The four 2-bit code vectors of 32 bytes of q2_K/q3_K codes: c[j] holds bits 2j…2j+1 of each byte, as bytes.
KERNEL_TARGET static inline __attribute__((always_inline)) void KERNEL(crumbs4)(__m256i q, __m256i c[4]) {
    const __m256i three = _mm256_set1_epi8(3);
    for (int j = 0; j < 4; j++) c[j] = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), three);
}

/// The scales of groups 8·half … 8·half + 7 (int8 in the 16 bytes of `s8`) as int16, in both 128-bit halves.
KERNEL_TARGET static inline __attribute__((always_inline)) __m256i KERNEL(halfScales)(__m128i s8, int half) {
    return _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(half ? _mm_srli_si128(s8, 8) : s8));
}

/// The 16 signed scales s_g = u_g − 32 of a q3_K super-block (the 12 bytes at `s`), one int8 each: u_g's low four
/// bits are the low (g < 8) or high (g ≥ 8) nibble of byte g % 8, its high two bits bits 2·(g / 4)… of byte 8 + g % 4.
KERNEL_TARGET static inline __attribute__((always_inline)) __m128i KERNEL(q3Scales)(const uint8_t *s) {
    uint32_t u0, u1, u2;
    __builtin_memcpy(&u0, s, 4);
    __builtin_memcpy(&u1, s + 4, 4);
    __builtin_memcpy(&u2, s + 8, 4);
    const uint32_t low4 = 0x0F0F0F0Fu, low2 = 0x03030303u;
    const __m128i u = _mm_setr_epi32((int)((u0 & low4) | ((u2 & low2) << 4)),
                                     (int)((u1 & low4) | (((u2 >> 2) & low2) << 4)),
                                     (int)(((u0 >> 4) & low4) | (((u2 >> 4) & low2) << 4)),
                                     (int)(((u1 >> 4) & low4) | (((u2 >> 6) & low2) << 4)));
    return _mm_sub_epi8(u, _mm_set1_epi8(32));
}

/// The codes c = low bits + 4·high bit (0…7, unsigned bytes) of elements 128·half + 32j + (0..<32), j = 0…3, of the
/// q3_K super-block at `b` into c[0…3]; `hm` holds its 32 bytes of high bits.
KERNEL_TARGET static inline __attribute__((always_inline)) void KERNEL(q3Codes)(const uint8_t *b, int half, __m256i hm, __m256i c[4]) {
    const __m256i four = _mm256_set1_epi8(4);
    KERNEL(crumbs4)(_mm256_loadu_si256((const __m256i *)(b + 32 + 32 * half)), c);
    // Bit k = 4·half + j of each high-bit byte, moved to bit 2 (within each byte: bits of the other byte of a 16-bit
    // lane land elsewhere and are masked off).
    for (int j = 0; j < 4; j++) {
        const int k = 4 * half + j;
        const __m256i h = k >= 2 ? _mm256_srli_epi16(hm, k - 2) : _mm256_slli_epi16(hm, 2 - k);
        c[j] = _mm256_or_si256(c[j], _mm256_and_si256(h, four));
    }
}

/// The scale operands of `groupDots` for the 16 group scales `s8` (int8, group g of 16 elements in byte g): with
/// VNNI, s[m] (m = 0…3) holds groups 4m and 4m + 2 as the low and high int16 of each lane of its low 128 bits, 4m + 1
/// and 4m + 3 of its high 128 bits; with AVX2 alone, s[v] (v = 0…7) holds group 2v in the low 128 bits and 2v + 1 in
/// the high, as int16.
KERNEL_TARGET static inline __attribute__((always_inline)) void KERNEL(groupScales)(__m128i s8, __m256i s[8]) {
#ifdef DOT_U8_S8
    // Groups reordered 0, 2, 1, 3, 4, 6, 5, 7, … and widened: int32 lane 2m holds groups 4m and 4m + 2, lane 2m + 1
    // groups 4m + 1 and 4m + 3.
    const __m256i w = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(s8, _mm_setr_epi8(0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15)));
    for (int m = 0; m < 4; m++) {
        s[m] = _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(2 * m, 2 * m, 2 * m, 2 * m, 2 * m + 1, 2 * m + 1, 2 * m + 1, 2 * m + 1));
    }
#else
    for (int v = 0; v < 8; v++) {
        // Words 2j and 2j + 1 of the half's scales (v = 4·half + j), picked into the low and high 128 bits.
        const int j = v % 4;
        const short lo = (short)((4 * j + 1) << 8 | 4 * j), hi = (short)((4 * j + 3) << 8 | (4 * j + 2));
        s[v] = _mm256_shuffle_epi8(KERNEL(halfScales)(s8, v / 4), _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo)));
    }
#endif
}

/// `sum` + Σ_g scale(g)·Σ(q·x) over the 16 groups of one super-block: code vector q[v] (unsigned bytes, at most 63)
/// holds elements 32v…32v + 31, groups 2v and 2v + 1, and `x` the super-block's 256 activation codes. With VNNI each
/// `vpdpbusd` lane sums four products (|·| ≤ 4·63·128 fits in int16), so vectors 2m and 2m + 1 share each lane as
/// int16 halves and are weighted by their scales with one `vpdpwssd`; with AVX2 alone each vector's `vpmaddubsw`
/// pairs are weighted by theirs. Either way the lanes' integer sums are exact, hence those of the decode kernels.
KERNEL_TARGET static inline __attribute__((always_inline)) __m256i KERNEL(groupDots)(__m256i sum, const __m256i q[8], const int8_t *x, const __m256i s[8]) {
#ifdef DOT_U8_S8
    for (int m = 0; m < 4; m++) {
        const __m256i lo = DOT_U8_S8(q[2 * m], _mm256_loadu_si256((const __m256i *)(x + 64 * m)));
        const __m256i hi = DOT_U8_S8(q[2 * m + 1], _mm256_loadu_si256((const __m256i *)(x + 64 * m + 32)));
        sum = DOT_I16_ADD(sum, _mm256_blend_epi16(lo, _mm256_slli_epi32(hi, 16), 0xAA), s[m]);
    }
#else
    __m256i even = _mm256_setzero_si256(), odd = _mm256_setzero_si256();
    for (int v = 0; v < 8; v += 2) {
        even = DOT_I16_ADD(even, _mm256_maddubs_epi16(q[v], _mm256_loadu_si256((const __m256i *)(x + 32 * v))), s[v]);
        odd = DOT_I16_ADD(odd, _mm256_maddubs_epi16(q[v + 1], _mm256_loadu_si256((const __m256i *)(x + 32 * v + 32))), s[v + 1]);
    }
    sum = _mm256_add_epi32(sum, _mm256_add_epi32(even, odd));
#endif
    return sum;
}

/// Four q2_K (`bits` 2), q3_K (3) or q6_K (6) rows — the K-quants with scales per group of 16 — with `tokens`
/// (1…16) tokens' activations (token t's at xq + 256·nsb·t, xd + nsb·t, bsums + 16·nsb·t), row i's product with
/// token t to out[outStride·t + i], for prefill: each row's super-block is unpacked once (codes, scales, d, and
/// q2_K's mins) and multiplied with every token's activations. Per row, token and super-block the float work is one
/// conversion of the exact integer sum and one multiply-add by d·dx (q2_K: and of the mins' sum by dmin·dx, kept
/// apart and subtracted at the end), in super-block order, as in the VNNI panel kernel (PanelRows.h), so that every
/// path gives the same bits. The decode kernels are this one with one token, and a token's integer sums and float
/// operations do not depend on the others, so the results are those of one decode call per token, bit for bit.
KERNEL_TARGET static inline __attribute__((always_inline)) void
KERNEL(groupK_dot_rows4_tokens)(const uint8_t *const r[4], int nsb, int bits, int tokens, const int8_t *xq,
                                const float *xd, const int16_t *bsums, float *out, intptr_t outStride) {
    const int blockBytes = bits == 2 ? 84 : bits == 3 ? 110 : 210;
    const intptr_t xStride = (intptr_t)256 * nsb;
    __m128 acc[16], corr[16];
    for (int t = 0; t < tokens; t++) acc[t] = corr[t] = _mm_setzero_ps();
    for (int sb = 0; sb < nsb; sb++) {
        __m256i sums[16][4], mins[16][4];
        // Row i's d (and dmin) enter lane 3 and move down a lane per row. The rows' loop is unrolled: rolled, with the
        // sums reduced per super-block, q2_K decode took 318–329 instead of 243–249 µs for 2048×5632 (one Zen 4 core,
        // VNNI; the former kernel, reducing at the end: 269–274).
        __m128 d4 = _mm_setzero_ps(), dmin4 = _mm_setzero_ps();
        #pragma clang loop unroll(full)
        for (int i = 0; i < 4; i++) {
            const uint8_t *b = r[i] + blockBytes * sb;
            __m256i q[8], s[8];
            // offsets: q3_K's and q6_K's signed scales (their codes' offsets 4 and 32 = 1 << shift), q2_K's mins.
            __m256i offsets;
            int shift = 0;
            if (bits == 2) {
                const __m128i low = _mm_set1_epi8(0x0F), sm = _mm_loadu_si128((const __m128i *)b);
                KERNEL(crumbs4)(_mm256_loadu_si256((const __m256i *)(b + 16)), q);
                KERNEL(crumbs4)(_mm256_loadu_si256((const __m256i *)(b + 48)), q + 4);
                KERNEL(groupScales)(_mm_and_si128(sm, low), s);
                offsets = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), low));
                uint32_t h;
                __builtin_memcpy(&h, b + 80, 4);
                const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)h));
                d4 = KERNEL(shiftIn)(d4, dm);
                dmin4 = KERNEL(shiftIn)(dmin4, _mm_shuffle_ps(dm, dm, 1));
            } else {
                __m128i s8;
                uint16_t h;
                if (bits == 3) {
                    const __m256i hm = _mm256_loadu_si256((const __m256i *)b);
                    KERNEL(q3Codes)(b, 0, hm, q);
                    KERNEL(q3Codes)(b, 1, hm, q + 4);
                    s8 = KERNEL(q3Scales)(b + 96);
                    shift = 2;
                    __builtin_memcpy(&h, b + 108, 2);
                } else {
                    KERNEL(q6Codes)(b, 0, q);
                    KERNEL(q6Codes)(b, 1, q + 4);
                    s8 = _mm_loadu_si128((const __m128i *)(b + 192));
                    shift = 5;
                    __builtin_memcpy(&h, b + 208, 2);
                }
                KERNEL(groupScales)(s8, s);
                offsets = _mm256_cvtepi8_epi16(s8);
                d4 = KERNEL(shiftIn)(d4, _mm_cvtph_ps(_mm_cvtsi32_si128(h)));
            }
            const int8_t *x = xq + 256 * sb;
            for (int t = 0; t < tokens; t++, x += xStride) {
                const __m256i b16 = _mm256_loadu_si256((const __m256i *)(bsums + 16 * (nsb * (intptr_t)t + sb)));
                const __m256i m = _mm256_madd_epi16(offsets, b16);
                // q3_K/q6_K: −(offset) · Σ_g s_g · Σx_g starts the sum; q2_K: the mins' term is kept apart.
                const __m256i start = bits == 2 ? _mm256_setzero_si256()
                                                : _mm256_slli_epi32(_mm256_sub_epi32(_mm256_setzero_si256(), m), shift);
                sums[t][i] = KERNEL(groupDots)(start, q, x, s);
                mins[t][i] = m;
            }
        }
        for (int t = 0; t < tokens; t++) {
            const __m128 dx = _mm_set1_ps(xd[nsb * (intptr_t)t + sb]);
            acc[t] = _mm_fmadd_ps(_mm_cvtepi32_ps(KERNEL(isum4)(sums[t])), _mm_mul_ps(d4, dx), acc[t]);
            if (bits == 2) corr[t] = _mm_fmadd_ps(_mm_cvtepi32_ps(KERNEL(isum4)(mins[t])), _mm_mul_ps(dmin4, dx), corr[t]);
        }
    }
    for (int t = 0; t < tokens; t++) _mm_storeu_ps(out + outStride * t, bits == 2 ? _mm_sub_ps(acc[t], corr[t]) : acc[t]);
}

/// `groupK_dot_rows4_tokens` for any number of tokens, in tiles of at most 16 (the rows are read once per tile).
KERNEL_TARGET static inline __attribute__((always_inline)) void
KERNEL(groupK_dot_rows4_tiles)(const void *r0, const void *r1, const void *r2, const void *r3, int nsb, int bits,
                               int tokens, const int8_t *xq, const float *xd, const int16_t *bsums, float *out,
                               intptr_t outStride) {
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    for (int first = 0; first < tokens; first += 16) {
        const int n = tokens - first < 16 ? tokens - first : 16;
        KERNEL(groupK_dot_rows4_tokens)(r, nsb, bits, n, xq + (intptr_t)256 * nsb * first, xd + (intptr_t)nsb * first,
                                        bsums + (intptr_t)16 * nsb * first, out + outStride * first, outStride);
    }
}

/// Four q2_K rows (84-byte super-blocks: 16 bytes of 4-bit scales (low nibbles) and mins (high nibbles) of the
/// groups of 16, 64 bytes of 2-bit codes, f16 d, f16 dmin): Σ_sb d·dx·Σ_g sc_g·Σ(q·x) − dmin·dx·Σ_g m_g·Σx, the mins'
/// term from the q8_K block sums (|Σ_g m_g·Σx| ≤ 16·15·16·127) and subtracted at the end. `groupK_dot_rows4_tokens`
/// with one token (q3_K and q6_K below likewise): unpacking the codes and scales first, then multiplying them, took
/// one thread 11.9 µs for 256×2048 from L2 with VNNI against 15.1 µs for the former kernel that weighted each code
/// vector as it was made (q3_K 15.7 against 19.4, q6_K 13.9 against 20.9); with AVX2 14.4 against 14.5 (q3_K 21.4
/// against 20.5, q6_K 17.2 against 22.0), best of 3000 calls in one run.
KERNEL_TARGET void KERNEL(sieve_q2_K_dot_rows4)(const void *r0, const void *r1, const void *r2, const void *r3, int nsb,
                                                const int8_t *xq, const float *xd, const int16_t *bsums, float *out) {
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    KERNEL(groupK_dot_rows4_tokens)(r, nsb, 2, 1, xq, xd, bsums, out, 4);
}

/// Four q3_K rows (110-byte super-blocks: 32 bytes of high bits, 64 bytes of low 2-bit codes, 12 bytes of 6-bit
/// scales of the groups of 16, f16 d): Σ_sb d·dx·(Σ_g s_g·Σ(c·x) − 4·Σ_g s_g·Σx), c = low bits + 4·high bit and
/// s_g = scale − 32, the codes' offset of 4 taken off with the q8_K block sums in the same integer sum.
KERNEL_TARGET void KERNEL(sieve_q3_K_dot_rows4)(const void *r0, const void *r1, const void *r2, const void *r3, int nsb,
                                                const int8_t *xq, const float *xd, const int16_t *bsums, float *out) {
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    KERNEL(groupK_dot_rows4_tokens)(r, nsb, 3, 1, xq, xd, bsums, out, 4);
}

/// Four q6_K rows (210-byte super-blocks: 128 bytes of low nibbles, 64 bytes of high bit pairs, 16 signed 8-bit
/// scales of 16 elements each, f16 d): Σ_sb d·dx·(Σ_g sc_g·Σ(q·x) − 32·Σ_g sc_g·Σx) over the groups g of 16, the
/// codes' offset of 32 taken off with the q8_K block sums in the same integer sum.
KERNEL_TARGET void KERNEL(sieve_q6_K_dot_rows4)(const void *r0, const void *r1, const void *r2, const void *r3, int nsb,
                                                const int8_t *xq, const float *xd, const int16_t *bsums, float *out) {
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    KERNEL(groupK_dot_rows4_tokens)(r, nsb, 6, 1, xq, xd, bsums, out, 4);
}

#ifndef DOT_U8_S8
// With VNNI, prefill of these types runs in the panel kernels (PanelRows.h).
KERNEL_TARGET void KERNEL(sieve_q2_K_dot_rows4_tokens)(const void *r0, const void *r1, const void *r2, const void *r3,
                                                       int nsb, int tokens, const int8_t *xq, const float *xd,
                                                       const int16_t *bsums, float *out, intptr_t outStride) {
    KERNEL(groupK_dot_rows4_tiles)(r0, r1, r2, r3, nsb, 2, tokens, xq, xd, bsums, out, outStride);
}

KERNEL_TARGET void KERNEL(sieve_q3_K_dot_rows4_tokens)(const void *r0, const void *r1, const void *r2, const void *r3,
                                                       int nsb, int tokens, const int8_t *xq, const float *xd,
                                                       const int16_t *bsums, float *out, intptr_t outStride) {
    KERNEL(groupK_dot_rows4_tiles)(r0, r1, r2, r3, nsb, 3, tokens, xq, xd, bsums, out, outStride);
}

KERNEL_TARGET void KERNEL(sieve_q6_K_dot_rows4_tokens)(const void *r0, const void *r1, const void *r2, const void *r3,
                                                       int nsb, int tokens, const int8_t *xq, const float *xd,
                                                       const int16_t *bsums, float *out, intptr_t outStride) {
    KERNEL(groupK_dot_rows4_tiles)(r0, r1, r2, r3, nsb, 6, tokens, xq, xd, bsums, out, outStride);
}
#endif
