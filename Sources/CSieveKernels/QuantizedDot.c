#include "CSieveKernels.h"

// The thread pool's closure hand-off (see ThreadPool.swift). Swift passes a closure argument as two words,
// function then context, and calls a closure with its arguments followed by the context in the swift_context
// register; clang's swiftcall attributes express exactly that.

/// Declared in Swift as `sieve_pool_body_capture(_ body: (Range<Int>, Int) -> Void, _ slot:)`.
__attribute__((swiftcall)) void sieve_pool_body_capture(void *function, void *context, SievePoolBody *slot);
__attribute__((swiftcall)) void sieve_pool_body_capture(void *function, void *context, SievePoolBody *slot) {
    slot->function = function;
    slot->context = context;
}

typedef __attribute__((swiftcall)) void (*SievePoolFunction)(intptr_t lower, intptr_t upper, intptr_t thread,
                                                              __attribute__((swift_context)) void *context);

void sieve_pool_body_call(const SievePoolBody *body, intptr_t lower, intptr_t upper, intptr_t thread) {
    ((SievePoolFunction)body->function)(lower, upper, thread, body->context);
}

#if defined(__x86_64__)
#include <immintrin.h>

#define VNNI __attribute__((target("avx512vnni,avx512vl,avx2,fma,f16c")))

VNNI static inline float hsum256(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

/// The 32 nibbles of 16 bytes as unsigned bytes: low nibbles are elements 0…15, high nibbles 16…31.
VNNI static inline __m256i nibbles(const uint8_t *q) {
    __m128i v = _mm_loadu_si128((const __m128i *)q);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
}

/// Four rows of 4-bit blocks: Σ_b d_b·dx_b·Σ(q·xq) + Σ_b c_b·xs_b, where c_b is the f16 min (q4_1, hasMin) or
/// −8·d_b (q4_0). The four rows' scales (and mins) of a block are converted and scaled as one vector: the first
/// four bytes of each block (the scale, then the min or two code bytes) go into one 128-bit lane set, whose even
/// halves are the scales. Against two scalar conversions and products per row and block, this took a 1536×576
/// q4_1 product from 32–36 µs to 26–31 µs on one core (best of 30, from L2, L3 and memory alike).
VNNI static inline void q4_dot_rows4(const uint8_t *const r[4], int nb, int blockBytes, int hasMin, const int8_t *xq,
                                     const float *xd, const float *xs, float *out) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    // Lane 2i + 1: row i's Σ min·xs (q4_1); lane 2i: row i's Σ d·xs (q4_0, times −8 at the end).
    __m256 corr = _mm256_setzero_ps();
    const __m256i scaleLane[4] = {_mm256_set1_epi32(0), _mm256_set1_epi32(2), _mm256_set1_epi32(4), _mm256_set1_epi32(6)};
    const int codes = hasMin ? 4 : 2;
    for (int b = 0; b < nb; b++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
        int32_t head[4];
        for (int i = 0; i < 4; i++) __builtin_memcpy(&head[i], r[i] + blockBytes * b, 4);
        // d0 m0 d1 m1 d2 m2 d3 m3 (for q4_0 the odd lanes are code bytes read as halves, never used).
        __m256 dm = _mm256_cvtph_ps(_mm_set_epi32(head[3], head[2], head[1], head[0]));
        __m256 scaled = _mm256_mul_ps(dm, _mm256_set1_ps(xd[b]));
        corr = _mm256_fmadd_ps(dm, _mm256_set1_ps(xs[b]), corr);
        for (int i = 0; i < 4; i++) {
            __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), nibbles(r[i] + blockBytes * b + codes), x);
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_permutevar8x32_ps(scaled, scaleLane[i]), acc[i]);
        }
    }
    float c[8];
    _mm256_storeu_ps(c, corr);
    for (int i = 0; i < 4; i++) out[i] = hsum256(acc[i]) + (hasMin ? c[2 * i + 1] : -8 * c[2 * i]);
}

VNNI void sieve_q4_1_dot_rows4_vnni(const void *r0, const void *r1, const void *r2, const void *r3, int nb,
                                    const int8_t *xq, const float *xd, const float *xs, float *out) {
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    q4_dot_rows4(r, nb, 20, 1, xq, xd, xs, out);
}

VNNI void sieve_q4_0_dot_rows4_vnni(const void *r0, const void *r1, const void *r2, const void *r3, int nb,
                                    const int8_t *xq, const float *xd, const float *xs, float *out) {
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    q4_dot_rows4(r, nb, 18, 0, xq, xd, xs, out);
}

// Dot products of four q8_0 rows with the 8-bit activations (the body of both q8_0 entry points). The four rows'
// block scales are converted and multiplied by the activation scale as one vector, each row's then taken as a
// `vpermps` lane: against a scalar conversion and product per row and block, an 8192×576 product took 131 instead of
// 155 µs from L3 on one core (best of 20), and the same from memory.
VNNI static inline void q8_0_dot_rows4(const uint8_t *const r[4], int nb, const int8_t *xq, const float *xd, float *out) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const __m256i scaleLane[4] = {_mm256_set1_epi32(0), _mm256_set1_epi32(1), _mm256_set1_epi32(2), _mm256_set1_epi32(3)};
    for (int b = 0; b < nb; b++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
        __m256i ax = _mm256_sign_epi8(x, x);  // |x| as unsigned bytes
        int16_t h[4];
        for (int i = 0; i < 4; i++) __builtin_memcpy(&h[i], r[i] + 34 * b, 2);
        __m256 d = _mm256_castps128_ps256(
            _mm_mul_ps(_mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, h[3], h[2], h[1], h[0])), _mm_set1_ps(xd[b])));
        for (int i = 0; i < 4; i++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(r[i] + 34 * b + 2));
            __m256i sw = _mm256_sign_epi8(w, x);  // w with x's sign, so |x|·sw = x·w
            __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sw);
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_permutevar8x32_ps(d, scaleLane[i]), acc[i]);
        }
    }
    for (int i = 0; i < 4; i++) out[i] = hsum256(acc[i]);
}

VNNI void sieve_q8_0_dot_rows4_vnni(const void *r0, const void *r1, const void *r2, const void *r3, int nb,
                                    const int8_t *xq, const float *xd, float *out) {
    const uint8_t *const r[4] = {r0, r1, r2, r3};
    q8_0_dot_rows4(r, nb, xq, xd, out);
}

VNNI void sieve_q8_0_dot_list_vnni(const void *base, intptr_t rowBytes, const intptr_t *rows, intptr_t count, int nb,
                                   const int8_t *xq, const float *xd, float *y) {
    const uint8_t *w = (const uint8_t *)base;
    float out[4];
    for (intptr_t i = 0; i < count; i += 4) {
        // A last group of fewer than four repeats its last row.
        intptr_t last = count - 1;
        const intptr_t k[4] = {rows[i], rows[i + 1 <= last ? i + 1 : last], rows[i + 2 <= last ? i + 2 : last],
                               rows[i + 3 <= last ? i + 3 : last]};
        const uint8_t *const r[4] = {w + k[0] * rowBytes, w + k[1] * rowBytes, w + k[2] * rowBytes, w + k[3] * rowBytes};
        q8_0_dot_rows4(r, nb, xq, xd, out);
        for (int j = 0; j < 4 && i + j < count; j++) y[k[j]] = out[j];
    }
}

#define VNNI512 __attribute__((target("avx512f,avx512bw,avx512vnni,avx512vl")))

VNNI512 void sieve_q8_0_interleaved16_vnni(const void *packed, intptr_t rows, int nb, const int8_t *xq, const float *xd,
                                           const int32_t *xo, float *y) {
    const uint8_t *p = (const uint8_t *)packed;
    for (intptr_t first = 0; first < rows; first += 16) {
        __m512 acc = _mm512_setzero_ps();
        for (int b = 0; b < nb; b++) {
            // The codes are stored + 128 (unsigned): the sum starts at −128 · Σ xq to take that back.
            __m512i sum = _mm512_set1_epi32(xo[b]);
            const int8_t *x = xq + 32 * b;
            for (int c = 0; c < 8; c++) {
                int32_t x4;
                __builtin_memcpy(&x4, x + 4 * c, 4);
                sum = _mm512_dpbusd_epi32(sum, _mm512_load_si512((const void *)(p + 64 + 64 * c)), _mm512_set1_epi32(x4));
            }
            __m512 scale = _mm512_mul_ps(_mm512_load_ps((const float *)p), _mm512_set1_ps(xd[b]));
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), scale, acc);
            p += 576;
        }
        intptr_t left = rows - first;
        __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        _mm512_mask_storeu_ps(y + first, mask, acc);
    }
}

// Per group of 16 rows and block of 32 columns (see the header): 16 f16 scales, for q4_1 16 f16 mins, then 4 × 64
// bytes of codes, chunk c holding each row's bytes 4c…4c+3 of its 16 code bytes (low nibbles: columns 4c…4c+3,
// high nibbles: columns 16+4c…16+4c+3). Eight `vpdpbusd` advance the 16 rows by a block; no horizontal sums.
VNNI512 static inline void q4_interleaved16(const uint8_t *p, intptr_t groups, int nb, int hasMin, const int8_t *xq,
                                            const float *xd, const float *xs, float *y) {
    const intptr_t blockBytes = hasMin ? 320 : 288, codes = hasMin ? 64 : 32;
    const __m512i low = _mm512_set1_epi8(0x0F);
    for (intptr_t g = 0; g < groups; g++) {
        __m512 acc = _mm512_setzero_ps(), corr = _mm512_setzero_ps();
        for (int b = 0; b < nb; b++) {
            const uint8_t *q = p + codes;
            int32_t x32[8];
            __builtin_memcpy(x32, xq + 32 * b, 32);
            __m512i sum = _mm512_setzero_si512();
            for (int c = 0; c < 4; c++) {
                __m512i v = _mm512_loadu_si512((const void *)(q + 64 * c));
                sum = _mm512_dpbusd_epi32(sum, _mm512_and_si512(v, low), _mm512_set1_epi32(x32[c]));
                sum = _mm512_dpbusd_epi32(sum, _mm512_and_si512(_mm512_srli_epi16(v, 4), low), _mm512_set1_epi32(x32[4 + c]));
            }
            __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(d, _mm512_set1_ps(xd[b])), acc);
            __m512 c = hasMin ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 32))) : d;
            corr = _mm512_fmadd_ps(c, _mm512_set1_ps(xs[b]), corr);
            p += blockBytes;
        }
        // q4_0 codes carry an offset of 8: its correction is −8 · Σ d·xs.
        _mm512_storeu_ps(y + 16 * g, hasMin ? _mm512_add_ps(acc, corr) : _mm512_fmadd_ps(corr, _mm512_set1_ps(-8.0f), acc));
    }
}

VNNI512 void sieve_q4_1_interleaved16_vnni(const void *packed, intptr_t groups, int nb, const int8_t *xq, const float *xd,
                                           const float *xs, float *y) {
    q4_interleaved16((const uint8_t *)packed, groups, nb, 1, xq, xd, xs, y);
}

VNNI512 void sieve_q4_0_interleaved16_vnni(const void *packed, intptr_t groups, int nb, const int8_t *xq, const float *xd,
                                           const float *xs, float *y) {
    q4_interleaved16((const uint8_t *)packed, groups, nb, 0, xq, xd, xs, y);
}

int sieve_cpu_has_avx512_vnni(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}
#else
int sieve_cpu_has_avx512_vnni(void) { return 0; }
#endif
