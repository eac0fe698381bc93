#include "CSieveKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

// f16 weights times f32 activations with AVX2. `vcvtph2ps` converts eight halves per two cycles on AMD Zen 2,
// which bounds a plain f16 product at about 20 ns per 256-value row; half of the values are therefore converted
// with integer instructions instead (other execution ports): sign-extended to 32 bits, shifted up 13 bits and
// masked, the bits of a half become the float `value · 2^-112` exactly (subnormal halves become subnormal floats,
// zero stays zero), and the activation they multiply is taken times 2^112 (exact while |x| < 2^16). The product is
// then exactly `value · x`, so the sums are those of an all-`vcvtph2ps` loop, bit for bit. A half with the largest
// exponent (infinity, NaN) becomes a finite float this way: such weights are not a usable model. 12 against 20 ns
// per row in a C microbenchmark on Zen 2; on Zen 4, where `vcvtph2ps` is faster, 11 against 7.5 ns: the callers
// choose per CPU (`CRowKernels.mixedHalfConversionPays`).

#define HALF_TARGET __attribute__((target("avx2,fma,f16c")))

static const float upScale = 0x1p112f;
static const float upLimit = 65536.0f;

HALF_TARGET static inline __m256 half8(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

/// The eight halves at `p` as floats times 2^-112 (see above).
HALF_TARGET static inline __m256 halfDown8(const uint16_t *p) {
    __m256i v = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)p));
    v = _mm256_and_si256(_mm256_slli_epi32(v, 13), _mm256_set1_epi32((int)0x8FFFE000u));
    return _mm256_castsi256_ps(v);
}

HALF_TARGET static inline float sum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

int sieve_half_scale_activations(const float *x, intptr_t n, float *scaled) {
    for (intptr_t i = 0; i < n; i++) {
        if (!(fabsf(x[i]) < upLimit)) return 0;
        scaled[i] = x[i] * upScale;
    }
    return 1;
}

/// Dot products of four rows with x: columns 16 at a time (the first eight of each group converted by `vcvtph2ps`,
/// the second eight by `halfDown8` against `xs` when it is given), then eight, then one at a time.
HALF_TARGET static void dot4(const uint16_t *p0, const uint16_t *p1, const uint16_t *p2, const uint16_t *p3, intptr_t n,
                             const float *x, const float *xs, float out[4]) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    intptr_t c = 0;
    // The second eight of each 16 values converted by `second`, against `x1s` (x, or x scaled by 2^112).
#define DOT4_LOOP(second, x1s)                                                        \
    for (; c + 16 <= n; c += 16) {                                                    \
        __m256 x0 = _mm256_loadu_ps(x + c), x1 = _mm256_loadu_ps((x1s) + c + 8);      \
        a0 = _mm256_fmadd_ps(half8(p0 + c), x0, a0);                                  \
        b0 = _mm256_fmadd_ps(second(p0 + c + 8), x1, b0);                             \
        a1 = _mm256_fmadd_ps(half8(p1 + c), x0, a1);                                  \
        b1 = _mm256_fmadd_ps(second(p1 + c + 8), x1, b1);                             \
        a2 = _mm256_fmadd_ps(half8(p2 + c), x0, a2);                                  \
        b2 = _mm256_fmadd_ps(second(p2 + c + 8), x1, b2);                             \
        a3 = _mm256_fmadd_ps(half8(p3 + c), x0, a3);                                  \
        b3 = _mm256_fmadd_ps(second(p3 + c + 8), x1, b3);                             \
    }
    if (xs) {
        DOT4_LOOP(halfDown8, xs)
    } else {
        DOT4_LOOP(half8, x)
    }
#undef DOT4_LOOP
    if (c + 8 <= n) {
        __m256 x0 = _mm256_loadu_ps(x + c);
        a0 = _mm256_fmadd_ps(half8(p0 + c), x0, a0);
        a1 = _mm256_fmadd_ps(half8(p1 + c), x0, a1);
        a2 = _mm256_fmadd_ps(half8(p2 + c), x0, a2);
        a3 = _mm256_fmadd_ps(half8(p3 + c), x0, a3);
        c += 8;
    }
    float s0 = sum8(_mm256_add_ps(a0, b0)), s1 = sum8(_mm256_add_ps(a1, b1));
    float s2 = sum8(_mm256_add_ps(a2, b2)), s3 = sum8(_mm256_add_ps(a3, b3));
    for (; c < n; c++) {
        s0 = fmaf(_cvtsh_ss(p0[c]), x[c], s0);
        s1 = fmaf(_cvtsh_ss(p1[c]), x[c], s1);
        s2 = fmaf(_cvtsh_ss(p2[c]), x[c], s2);
        s3 = fmaf(_cvtsh_ss(p3[c]), x[c], s3);
    }
    out[0] = s0; out[1] = s1; out[2] = s2; out[3] = s3;
}

/// Rows ahead of the ones being computed that a selection prefetches (two groups of four).
enum { prefetchRows = 8 };

HALF_TARGET void sieve_f16_dot_list_avx2(const void *base, intptr_t rowBytes, const intptr_t *rows, intptr_t count, intptr_t n,
                                         const float *x, const float *xs, int prefetch, float *y) {
    const char *b = (const char *)base;
    if (prefetch) {
        for (intptr_t i = 0; i < count && i < prefetchRows; i++) sieve_prefetch(b + rows[i] * rowBytes, 2 * n);
    }
    for (intptr_t i = 0; i < count; i += 4) {
        if (prefetch) {
            for (intptr_t k = i + prefetchRows; k < i + prefetchRows + 4 && k < count; k++) sieve_prefetch(b + rows[k] * rowBytes, 2 * n);
        }
        intptr_t valid = count - i < 4 ? count - i : 4;
        intptr_t r0 = rows[i], r1 = rows[i + (valid > 1 ? 1 : 0)], r2 = rows[i + (valid > 2 ? 2 : valid - 1)], r3 = rows[i + valid - 1];
        float out[4];
        dot4((const uint16_t *)(b + r0 * rowBytes), (const uint16_t *)(b + r1 * rowBytes), (const uint16_t *)(b + r2 * rowBytes),
             (const uint16_t *)(b + r3 * rowBytes), n, x, xs, out);
        y[r0] = out[0];
        if (valid > 1) y[r1] = out[1];
        if (valid > 2) y[r2] = out[2];
        if (valid > 3) y[r3] = out[3];
    }
}

/// Row `i` of a selection: `blocks[i / blockRows] · blockRows + i % blockRows`, or `i` without blocks.
static inline intptr_t selectedRow(const intptr_t *blocks, intptr_t blockRows, intptr_t i) {
    if (!blocks) return i;
    if (blockRows == 1) return blocks[i];
    return blocks[i / blockRows] * blockRows + i % blockRows;
}

/// `out[0..<columns] += Σ a[k]·row_k` for four rows in order (column by column, one fused multiply-add per row);
/// `scaled` tells whether every |a[k]| < 2^16, so that the second eight of each 16 columns can be converted with
/// integer instructions against a[k]·2^112.
HALF_TARGET static void add4(const uint16_t *const p[4], const float a[4], int scaled, intptr_t columns, float *out) {
    __m256 v0 = _mm256_set1_ps(a[0]), v1 = _mm256_set1_ps(a[1]), v2 = _mm256_set1_ps(a[2]), v3 = _mm256_set1_ps(a[3]);
    intptr_t c = 0;
    if (scaled) {
        __m256 u0 = _mm256_set1_ps(a[0] * upScale), u1 = _mm256_set1_ps(a[1] * upScale);
        __m256 u2 = _mm256_set1_ps(a[2] * upScale), u3 = _mm256_set1_ps(a[3] * upScale);
        for (; c + 16 <= columns; c += 16) {
            __m256 y0 = _mm256_loadu_ps(out + c), y1 = _mm256_loadu_ps(out + c + 8);
            y0 = _mm256_fmadd_ps(half8(p[0] + c), v0, y0);
            y1 = _mm256_fmadd_ps(halfDown8(p[0] + c + 8), u0, y1);
            y0 = _mm256_fmadd_ps(half8(p[1] + c), v1, y0);
            y1 = _mm256_fmadd_ps(halfDown8(p[1] + c + 8), u1, y1);
            y0 = _mm256_fmadd_ps(half8(p[2] + c), v2, y0);
            y1 = _mm256_fmadd_ps(halfDown8(p[2] + c + 8), u2, y1);
            y0 = _mm256_fmadd_ps(half8(p[3] + c), v3, y0);
            y1 = _mm256_fmadd_ps(halfDown8(p[3] + c + 8), u3, y1);
            _mm256_storeu_ps(out + c, y0);
            _mm256_storeu_ps(out + c + 8, y1);
        }
    }
    for (; c + 8 <= columns; c += 8) {
        __m256 y0 = _mm256_loadu_ps(out + c);
        y0 = _mm256_fmadd_ps(half8(p[0] + c), v0, y0);
        y0 = _mm256_fmadd_ps(half8(p[1] + c), v1, y0);
        y0 = _mm256_fmadd_ps(half8(p[2] + c), v2, y0);
        y0 = _mm256_fmadd_ps(half8(p[3] + c), v3, y0);
        _mm256_storeu_ps(out + c, y0);
    }
    for (; c < columns; c++) {
        float y0 = out[c];
        for (int k = 0; k < 4; k++) y0 = fmaf(_cvtsh_ss(p[k][c]), a[k], y0);
        out[c] = y0;
    }
}

/// `out[0..<columns] += a·row`, column by column with fused multiply-adds.
HALF_TARGET static void add1(const uint16_t *p, float a, intptr_t columns, float *out) {
    __m256 v = _mm256_set1_ps(a);
    intptr_t c = 0;
    for (; c + 8 <= columns; c += 8) _mm256_storeu_ps(out + c, _mm256_fmadd_ps(half8(p + c), v, _mm256_loadu_ps(out + c)));
    for (; c < columns; c++) out[c] = fmaf(_cvtsh_ss(p[c]), a, out[c]);
}

HALF_TARGET void sieve_f16_accumulate_avx2(const void *base, intptr_t rowBytes, const intptr_t *blocks, intptr_t blockRows,
                                           intptr_t count, const float *a, intptr_t first, intptr_t columns, float *y, int mixed) {
    const char *b = (const char *)base + 2 * first;
    float *out = y + first;
    for (intptr_t c = 0; c < columns; c++) out[c] = 0;
    // Non-zero rows are gathered four at a time and added together: the output is read and written once per
    // four rows, each row read once, front to back.
    const uint16_t *p[4];
    float pa[4];
    int pending = 0, scaled = mixed;
    for (intptr_t i = 0; i < count; i++) {
        if (blocks && i + prefetchRows < count) {
            intptr_t ahead = selectedRow(blocks, blockRows, i + prefetchRows);
            if (a[ahead] != 0) sieve_prefetch(b + ahead * rowBytes, 2 * columns);
        }
        intptr_t n = selectedRow(blocks, blockRows, i);
        float an = a[n];
        if (an == 0) continue;
        p[pending] = (const uint16_t *)(b + n * rowBytes);
        pa[pending] = an;
        scaled &= fabsf(an) < upLimit;
        if (++pending == 4) {
            add4(p, pa, scaled, columns, out);
            pending = 0;
            scaled = mixed;
        }
    }
    for (int k = 0; k < pending; k++) add1(p[k], pa[k], columns, out);
}

#else

int sieve_half_scale_activations(const float *x, intptr_t n, float *scaled) {
    (void)x; (void)n; (void)scaled;
    return 0;
}

#endif
