// The row kernels of CSieveKernels.h (four rows of 32-element blocks with 8-bit activations), written once and
// compiled once per instruction set by QuantizedDot.c, which defines before each inclusion:
//   KERNEL_TARGET      the function attribute selecting the instruction set;
//   KERNEL(name)       the name with the set's suffix (name_vnni, name_avx2);
// and one of:
//   DOT_U8_S8(u, s)    eight int32 lanes, lane j = Σ_{k<4} u[4j+k]·s[4j+k] (u unsigned bytes, s signed bytes), one
//                      `vpdpbusd` with VNNI: each row's sums are then converted, scaled and accumulated on their own;
//   KERNEL_HADD_ROWS   for AVX2: `vpmaddubsw` (pairs to int16), and horizontal adds gather four rows' sums into one
//                      vector before a single conversion and multiply-add (see the kernels below).
// The int16 pairs cannot saturate: 4- and 5-bit codes are at most 31 and activation codes at most 127 in
// magnitude (2·31·127), and for q8_0 |x| ≤ 127 meets a weight of magnitude ≤ 128 (2·127·128 < 32767); the two
// rounds of horizontal adds of KERNEL_HADD_ROWS sum eight products (8·31·127 < 32767). So both sets give the same
// integer sums per block (their float accumulation orders differ).

#ifndef KERNEL_HADD_ROWS
KERNEL_TARGET static inline float KERNEL(hsum256)(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}
#endif

/// The 32 nibbles of 16 bytes as unsigned bytes: low nibbles are elements 0…15, high nibbles 16…31.
KERNEL_TARGET static inline __m256i KERNEL(nibbles)(const uint8_t *q) {
    __m128i v = _mm_loadu_si128((const __m128i *)q);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
}

/// Four rows of 4-bit blocks: Σ_b d_b·dx_b·Σ(q·xq) + Σ_b c_b·xs_b, where c_b is the f16 min (q4_1, hasMin) or
/// −8·d_b (q4_0). The four rows' scales (and mins) of a block are converted and scaled as one vector: the first
/// four bytes of each block (the scale, then the min or two code bytes) go into one 128-bit lane set, whose even
/// halves are the scales. Against two scalar conversions and products per row and block, this took a 1536×576
/// q4_1 product from 32–36 µs to 26–31 µs on one core (VNNI; best of 30, from L2, L3 and memory alike).
///
/// With VNNI each row's int32 sums are converted and multiplied by its scale (a `vpermps` lane) on their own. With
/// KERNEL_HADD_ROWS each row's 16 int16 pair sums from `vpmaddubsw` are gathered by two rounds of `vphaddw` into one
/// vector (lane j and 4 + j: row j's sums over the two halves of the block; |sum| ≤ 8·31·127 < 32767), widened by
/// one `vpmaddwd` by ones, and all four rows converted and accumulated at once. Against widening, converting and
/// scaling each row, a 1536×576 q4_1 product took 34 instead of 43 µs on one Zen 2 core (best of 2000, from L2),
/// 2048×5632 from memory 449 instead of 551 µs.
/// The 32 five-bit codes of a q5 block: the nibbles (as `nibbles`) with bit k of the 32-bit `qh` at `h` as bit 4 of
/// element k (each of the four qh bytes broadcast to the eight elements it covers, then tested against one bit each).
KERNEL_TARGET static inline __m256i KERNEL(fiveBitCodes)(const uint8_t *q, const uint8_t *h) {
    int32_t qh;
    __builtin_memcpy(&qh, h, 4);
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201LL);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(qh), spread);
    __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
    return _mm256_or_si256(KERNEL(nibbles)(q), _mm256_and_si256(set, _mm256_set1_epi8(0x10)));
}

/// A block's 32 codes as unsigned bytes in element order: nibbles at `codesAt`, and with `qhAt` ≥ 0 the fifth bits.
KERNEL_TARGET static inline __m256i KERNEL(codes)(const uint8_t *block, int codesAt, int qhAt) {
    return qhAt < 0 ? KERNEL(nibbles)(block + codesAt) : KERNEL(fiveBitCodes)(block + codesAt, block + qhAt);
}

/// Four rows of 4- or 5-bit blocks of 32 (`blockBytes` each, the nibbles at byte `codesAt`, for 5-bit codes the
/// high bits at `qhAt`, else `qhAt` < 0): Σ_b d_b·dx_b·Σ(q·xq) + Σ_b c_b·xs_b, where c_b is the f16 min
/// (q4_1/q5_1, hasMin) or −offset·d_b (q4_0: 8, q5_0: 16).
KERNEL_TARGET static inline void KERNEL(q4_dot_rows4)(const uint8_t *const r[4], int nb, int blockBytes, int codesAt,
                                                      int qhAt, int hasMin, float offset, const int8_t *xq,
                                                      const float *xd, const float *xs, float *out) {
#ifdef KERNEL_HADD_ROWS
    __m256 acc = _mm256_setzero_ps();
    const __m256i evenLanes = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6), ones = _mm256_set1_epi16(1);
#else
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const __m256i scaleLane[4] = {_mm256_set1_epi32(0), _mm256_set1_epi32(2), _mm256_set1_epi32(4), _mm256_set1_epi32(6)};
#endif
    // Lane 2i + 1: row i's Σ min·xs (q4_1); lane 2i: row i's Σ d·xs (q4_0, times −8 at the end).
    __m256 corr = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
        int32_t head[4];
        for (int i = 0; i < 4; i++) __builtin_memcpy(&head[i], r[i] + blockBytes * b, 4);
        // d0 m0 d1 m1 d2 m2 d3 m3 (for q4_0 the odd lanes are code bytes read as halves, never used).
        __m256 dm = _mm256_cvtph_ps(_mm_set_epi32(head[3], head[2], head[1], head[0]));
        corr = _mm256_fmadd_ps(dm, _mm256_set1_ps(xs[b]), corr);
#ifdef KERNEL_HADD_ROWS
        __m256 scale = _mm256_mul_ps(_mm256_permutevar8x32_ps(dm, evenLanes), _mm256_set1_ps(xd[b]));
        __m256i s[4];
        for (int i = 0; i < 4; i++) s[i] = _mm256_maddubs_epi16(KERNEL(codes)(r[i] + blockBytes * b, codesAt, qhAt), x);
        __m256i sums = _mm256_hadd_epi16(_mm256_hadd_epi16(s[0], s[1]), _mm256_hadd_epi16(s[2], s[3]));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(sums, ones)), scale, acc);
#else
        __m256 scaled = _mm256_mul_ps(dm, _mm256_set1_ps(xd[b]));
        for (int i = 0; i < 4; i++) {
            __m256i s = DOT_U8_S8(KERNEL(codes)(r[i] + blockBytes * b, codesAt, qhAt), x);
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_permutevar8x32_ps(scaled, scaleLane[i]), acc[i]);
        }
#endif
    }
    float c[8];
    _mm256_storeu_ps(c, corr);
#ifdef KERNEL_HADD_ROWS
    float a[8];
    _mm256_storeu_ps(a, acc);
    for (int i = 0; i < 4; i++) out[i] = a[i] + a[4 + i] + (hasMin ? c[2 * i + 1] : -offset * c[2 * i]);
#else
    for (int i = 0; i < 4; i++) out[i] = KERNEL(hsum256)(acc[i]) + (hasMin ? c[2 * i + 1] : -offset * c[2 * i]);
#endif
}

KERNEL_TARGET void KERNEL(sieve_q4_1_dot_rows4)(const void *r0, const void *r1, const void *r2, const void *r3, int nb,
                                                const int8_t *xq, const float *xd, const float *xs, float *out) {
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    KERNEL(q4_dot_rows4)(r, nb, 20, 4, -1, 1, 0, xq, xd, xs, out);
}

KERNEL_TARGET void KERNEL(sieve_q4_0_dot_rows4)(const void *r0, const void *r1, const void *r2, const void *r3, int nb,
                                                const int8_t *xq, const float *xd, const float *xs, float *out) {
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    KERNEL(q4_dot_rows4)(r, nb, 18, 2, -1, 0, 8, xq, xd, xs, out);
}

KERNEL_TARGET void KERNEL(sieve_q5_0_dot_rows4)(const void *r0, const void *r1, const void *r2, const void *r3, int nb,
                                                const int8_t *xq, const float *xd, const float *xs, float *out) {
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    KERNEL(q4_dot_rows4)(r, nb, 22, 6, 2, 0, 16, xq, xd, xs, out);
}

KERNEL_TARGET void KERNEL(sieve_q5_1_dot_rows4)(const void *r0, const void *r1, const void *r2, const void *r3, int nb,
                                                const int8_t *xq, const float *xd, const float *xs, float *out) {
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    KERNEL(q4_dot_rows4)(r, nb, 24, 8, 4, 1, 0, xq, xd, xs, out);
}

// Dot products of four q8_0 rows with the 8-bit activations (the body of the q8_0 list kernel). The four rows'
// block scales are converted and multiplied by the activation scale as one vector. With VNNI each row's sums are
// converted and multiplied by its scale (a `vpermps` lane): against a scalar conversion and product per row and
// block, an 8192×576 product took 131 instead of 155 µs from L3 on one core (best of 20), and the same from memory.
// With KERNEL_HADD_ROWS each row's sums are widened to int32 (`vpmaddubsw` pairs of up to 2·127·128 leave no room
// for int16 additions), two rounds of `vphaddd` gather the four rows into one vector (lane j and 4 + j: row j), then
// one conversion and one multiply-add: against widening, converting and scaling each row, a 1536×576 product took 28
// instead of 34 µs on one Zen 2 core (best of 2000, from L2), 49152×576 from memory 1444 instead of 1515 µs.
KERNEL_TARGET static inline void KERNEL(q8_0_dot_rows4)(const uint8_t *const r[4], int nb, const int8_t *xq,
                                                        const float *xd, float *out) {
#ifdef KERNEL_HADD_ROWS
    __m256 acc = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
#else
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const __m256i scaleLane[4] = {_mm256_set1_epi32(0), _mm256_set1_epi32(1), _mm256_set1_epi32(2), _mm256_set1_epi32(3)};
#endif
    for (int b = 0; b < nb; b++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
        __m256i ax = _mm256_sign_epi8(x, x);  // |x| as unsigned bytes
        int16_t h[4];
        for (int i = 0; i < 4; i++) __builtin_memcpy(&h[i], r[i] + 34 * b, 2);
        __m128 d = _mm_mul_ps(_mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, h[3], h[2], h[1], h[0])), _mm_set1_ps(xd[b]));
        __m256i s[4];
        for (int i = 0; i < 4; i++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(r[i] + 34 * b + 2));
            __m256i sw = _mm256_sign_epi8(w, x);  // w with x's sign, so |x|·sw = x·w
#ifdef KERNEL_HADD_ROWS
            s[i] = _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sw), ones);
#else
            s[i] = DOT_U8_S8(ax, sw);
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[i]), _mm256_permutevar8x32_ps(_mm256_castps128_ps256(d), scaleLane[i]), acc[i]);
#endif
        }
#ifdef KERNEL_HADD_ROWS
        __m256i sums = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_set_m128(d, d), acc);
#endif
    }
#ifdef KERNEL_HADD_ROWS
    float a[8];
    _mm256_storeu_ps(a, acc);
    for (int i = 0; i < 4; i++) out[i] = a[i] + a[4 + i];
#else
    for (int i = 0; i < 4; i++) out[i] = KERNEL(hsum256)(acc[i]);
#endif
}

KERNEL_TARGET void KERNEL(sieve_q8_0_dot_list)(const void *base, intptr_t rowBytes, const intptr_t *rows, intptr_t count,
                                               int nb, const int8_t *xq, const float *xd, float *y) {
    const uint8_t *w = (const uint8_t *)base;
    float out[4];
    for (intptr_t i = 0; i < count; i += 4) {
        // A last group of fewer than four repeats its last row.
        intptr_t last = count - 1;
        const intptr_t k[4] = {rows[i], rows[i + 1 <= last ? i + 1 : last], rows[i + 2 <= last ? i + 2 : last],
                               rows[i + 3 <= last ? i + 3 : last]};
        const uint8_t *const r[4] = {w + k[0] * rowBytes, w + k[1] * rowBytes, w + k[2] * rowBytes, w + k[3] * rowBytes};
        KERNEL(q8_0_dot_rows4)(r, nb, xq, xd, out);
        for (int j = 0; j < 4 && i + j < count; j++) y[k[j]] = out[j];
    }
}
