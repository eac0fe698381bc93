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
#include "CSieveGrids.h"

// The row kernels, once with AVX-512 VNNI (256-bit `vpdpbusd`, `vpdpwssd`) and once with AVX2 alone (horizontal adds).
#define KERNEL_TARGET __attribute__((target("avx512vnni,avx512vl,avx2,fma,f16c")))
#define KERNEL(name) name##_vnni
#define DOT_U8_S8(u, s) _mm256_dpbusd_epi32(_mm256_setzero_si256(), (u), (s))
#define DOT_I16_ADD(acc, a, b) _mm256_dpwssd_epi32((acc), (a), (b))
#include "QuantizedDotRows.h"
#include "KQuantDotRows.h"
#include "IQuantDotRows.h"
#define GRID_TARGET __attribute__((target("avx512vnni,avx512vl,avx512bw,avx2,fma,f16c")))
#include "GridDotRows.h"
#include "PanelRows.h"
#undef GRID_TARGET
#undef KERNEL_TARGET
#undef KERNEL
#undef DOT_U8_S8
#undef DOT_I16_ADD

#define KERNEL_TARGET __attribute__((target("avx2,fma,f16c")))
#define KERNEL(name) name##_avx2
#define KERNEL_HADD_ROWS
#define DOT_I16_ADD(acc, a, b) _mm256_add_epi32((acc), _mm256_madd_epi16((a), (b)))
#include "QuantizedDotRows.h"
#include "KQuantDotRows.h"
#include "IQuantDotRows.h"
#define GRID_TARGET KERNEL_TARGET
#include "GridDotRows.h"
#undef GRID_TARGET
#undef KERNEL_TARGET
#undef KERNEL
#undef KERNEL_HADD_ROWS
#undef DOT_I16_ADD

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
// A group's block is split into nibbles once for up to eight tokens (prefill); each token's sums and float
// operations are those of a call with that token alone, so prefill equals decode bit for bit.
//
// iq4_nl (`nonLinear`) has q4_0's layout, its nibbles indexing the code book (ggml's kvalues_iq4nl), which `vpshufb`
// looks up stored + 128 (unsigned, 1…241) for `vpdpbusd`; each token's sums start at −128 · the activation block's
// code sum (`xsum`), which takes the offset back: the integer sums are exactly Σ value·code (at most
// 32·241·127 in magnitude), and there is no correction term.
//
// q5_0 and q5_1 (`fiveBit`) store each row's 32 fifth bits (qh, one int32 per lane) as a chunk before the nibbles.
// For code chunk c, the byte of qh holding elements 4c…4c+3 (low nibbles: byte c/2; high nibbles 16 + 4c…: byte
// 2 + c/2) is copied to the lane's four bytes (`vpshufb`), each byte tested against its element's bit, and 16 added
// where it is set; q5_0's offset is 16 (q4_0's 8).
VNNI512 static inline void q4_interleaved16_tokens(const uint8_t *p, intptr_t groups, int nb, int hasMin, int fiveBit,
                                                   int nonLinear, int tokens, const int8_t *xq, intptr_t xStride,
                                                   const float *xd, const float *xs, const int32_t *xsum,
                                                   intptr_t bStride, float *y, intptr_t yStride) {
    const intptr_t codes = (hasMin ? 64 : 32) + (fiveBit ? 64 : 0), blockBytes = codes + 256;
    const float offset = fiveBit ? 16.0f : 8.0f;
    const __m512i low = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(16);
    // The bit of each of a lane's four bytes in a qh byte: its low four bits (even chunks), its high four (odd).
    const __m512i bitsEven = _mm512_set1_epi32(0x08040201), bitsOdd = _mm512_set1_epi32((int)0x80402010);
    const __m512i book = _mm512_broadcast_i32x4(_mm_setr_epi8(1, 24, 45, 63, 79, 93, 106, 118, (char)129, (char)141,
                                                              (char)153, (char)166, (char)181, (char)197, (char)217,
                                                              (char)241));
    for (intptr_t g = 0; g < groups; g++) {
        __m512 acc[8], corr[8];
        for (int t = 0; t < 8; t++) acc[t] = corr[t] = _mm512_setzero_ps();
        for (int b = 0; b < nb; b++) {
            const uint8_t *q = p + codes;
            __m512i lo[4], hi[4];
            for (int c = 0; c < 4; c++) {
                __m512i v = _mm512_loadu_si512((const void *)(q + 64 * c));
                lo[c] = _mm512_and_si512(v, low);
                hi[c] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
                if (fiveBit) {
                    const __m512i qh = _mm512_loadu_si512((const void *)(q - 64));
                    const __m512i bits = (c & 1) ? bitsOdd : bitsEven;
                    const int l = (c / 2) * 0x01010101, h = (2 + c / 2) * 0x01010101, lane = 0x04040404;
                    const __m512i spreadLow = _mm512_broadcast_i32x4(_mm_setr_epi32(l, l + lane, l + 2 * lane, l + 3 * lane));
                    const __m512i spreadHigh = _mm512_broadcast_i32x4(_mm_setr_epi32(h, h + lane, h + 2 * lane, h + 3 * lane));
                    lo[c] = _mm512_mask_add_epi8(lo[c], _mm512_test_epi8_mask(_mm512_shuffle_epi8(qh, spreadLow), bits), lo[c], sixteen);
                    hi[c] = _mm512_mask_add_epi8(hi[c], _mm512_test_epi8_mask(_mm512_shuffle_epi8(qh, spreadHigh), bits), hi[c], sixteen);
                }
                if (nonLinear) {
                    lo[c] = _mm512_shuffle_epi8(book, lo[c]);
                    hi[c] = _mm512_shuffle_epi8(book, hi[c]);
                }
            }
            __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
            __m512 m = hasMin ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 32))) : d;
            for (int t = 0; t < 8; t++) {
                if (t >= tokens) break;
                int32_t x32[8];
                __builtin_memcpy(x32, xq + t * xStride + 32 * b, 32);
                __m512i sum = nonLinear ? _mm512_set1_epi32(-128 * xsum[t * bStride + b]) : _mm512_setzero_si512();
                for (int c = 0; c < 4; c++) {
                    sum = _mm512_dpbusd_epi32(sum, lo[c], _mm512_set1_epi32(x32[c]));
                    sum = _mm512_dpbusd_epi32(sum, hi[c], _mm512_set1_epi32(x32[4 + c]));
                }
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(d, _mm512_set1_ps(xd[t * bStride + b])), acc[t]);
                if (!nonLinear) corr[t] = _mm512_fmadd_ps(m, _mm512_set1_ps(xs[t * bStride + b]), corr[t]);
            }
            p += blockBytes;
        }
        // q4_0 codes carry an offset of 8 (q5_0's 16): its correction is −8 · Σ d·xs.
        for (int t = 0; t < 8; t++) {
            if (t >= tokens) break;
            _mm512_storeu_ps(y + t * yStride + 16 * g, nonLinear ? acc[t]
                                                       : hasMin ? _mm512_add_ps(acc[t], corr[t])
                                                                : _mm512_fmadd_ps(corr[t], _mm512_set1_ps(-offset), acc[t]));
        }
    }
}

VNNI512 void sieve_q4_1_interleaved16_tokens_vnni(const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq,
                                                  intptr_t xStride, const float *xd, const float *xs, intptr_t bStride,
                                                  float *y, intptr_t yStride) {
    q4_interleaved16_tokens((const uint8_t *)packed, groups, nb, 1, 0, 0, tokens, xq, xStride, xd, xs, NULL, bStride, y, yStride);
}

VNNI512 void sieve_q4_0_interleaved16_tokens_vnni(const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq,
                                                  intptr_t xStride, const float *xd, const float *xs, intptr_t bStride,
                                                  float *y, intptr_t yStride) {
    q4_interleaved16_tokens((const uint8_t *)packed, groups, nb, 0, 0, 0, tokens, xq, xStride, xd, xs, NULL, bStride, y, yStride);
}

VNNI512 void sieve_q5_0_interleaved16_tokens_vnni(const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq,
                                                  intptr_t xStride, const float *xd, const float *xs, intptr_t bStride,
                                                  float *y, intptr_t yStride) {
    q4_interleaved16_tokens((const uint8_t *)packed, groups, nb, 0, 1, 0, tokens, xq, xStride, xd, xs, NULL, bStride, y, yStride);
}

VNNI512 void sieve_q5_1_interleaved16_tokens_vnni(const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq,
                                                  intptr_t xStride, const float *xd, const float *xs, intptr_t bStride,
                                                  float *y, intptr_t yStride) {
    q4_interleaved16_tokens((const uint8_t *)packed, groups, nb, 1, 1, 0, tokens, xq, xStride, xd, xs, NULL, bStride, y, yStride);
}

VNNI512 void sieve_iq4_nl_interleaved16_tokens_vnni(const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq,
                                                    intptr_t xStride, const float *xd, const int32_t *xsum, intptr_t bStride,
                                                    float *y, intptr_t yStride) {
    q4_interleaved16_tokens((const uint8_t *)packed, groups, nb, 0, 0, 1, tokens, xq, xStride, xd, NULL, xsum, bStride, y, yStride);
}

// iq4_xs in the 16-row layout: per group of 16 rows and super-block of 256 columns, the rows' f16 d (32 bytes), their
// scales_h (32), their scales_l (64, one int32 per lane), then 32 chunks of 64 code bytes, sub-block j's in chunks
// 4j…4j+3 as an iq4_nl block's. Per super-block the lanes' eight 6-bit scales are unpacked once for every token and
// each sub-block's codes split and looked up (book + 128) once; a token's sub-block sum (starting at −128 · its code
// sum, from the two bsums of its 16-code halves) is multiplied by the scale and the eight added in int32, exactly
// (at most 8·32·32·127·127 < 2^31), then scaled by d and the token's super-block scale as the row kernel does.
VNNI512 void sieve_iq4_xs_interleaved16_tokens_vnni(const void *packed, intptr_t groups, int nsb, int tokens,
                                                    const int8_t *xq, intptr_t xStride, const float *xd,
                                                    const int16_t *bsums, intptr_t bStride, float *y, intptr_t yStride) {
    const uint8_t *p = (const uint8_t *)packed;
    const __m512i low = _mm512_set1_epi8(0x0F), fifteen = _mm512_set1_epi32(15), three = _mm512_set1_epi32(3);
    const __m512i thirtyTwo = _mm512_set1_epi32(32);
    const __m512i book = _mm512_broadcast_i32x4(_mm_setr_epi8(1, 24, 45, 63, 79, 93, 106, 118, (char)129, (char)141,
                                                              (char)153, (char)166, (char)181, (char)197, (char)217,
                                                              (char)241));
    for (intptr_t g = 0; g < groups; g++) {
        __m512 acc[8];
        for (int t = 0; t < 8; t++) acc[t] = _mm512_setzero_ps();
        for (int sb = 0; sb < nsb; sb++) {
            const __m512i sh = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p + 32)));
            const __m512i sl = _mm512_loadu_si512((const void *)(p + 64));
            __m512i total[8];
            for (int t = 0; t < 8; t++) total[t] = _mm512_setzero_si512();
            for (int j = 0; j < 8; j++) {
                const __m512i ls = _mm512_sub_epi32(
                    _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(sl, 4 * j), fifteen),
                                    _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(sh, 2 * j), three), 4)),
                    thirtyTwo);
                const uint8_t *q = p + 128 + 256 * j;
                __m512i lo[4], hi[4];
                for (int c = 0; c < 4; c++) {
                    const __m512i v = _mm512_loadu_si512((const void *)(q + 64 * c));
                    lo[c] = _mm512_shuffle_epi8(book, _mm512_and_si512(v, low));
                    hi[c] = _mm512_shuffle_epi8(book, _mm512_and_si512(_mm512_srli_epi16(v, 4), low));
                }
                for (int t = 0; t < 8; t++) {
                    if (t >= tokens) break;
                    int32_t x32[8];
                    __builtin_memcpy(x32, xq + t * xStride + 256 * sb + 32 * j, 32);
                    const int16_t *s = bsums + 16 * (t * bStride + sb) + 2 * j;
                    __m512i sum = _mm512_set1_epi32(-128 * ((int32_t)s[0] + s[1]));
                    for (int c = 0; c < 4; c++) {
                        sum = _mm512_dpbusd_epi32(sum, lo[c], _mm512_set1_epi32(x32[c]));
                        sum = _mm512_dpbusd_epi32(sum, hi[c], _mm512_set1_epi32(x32[4 + c]));
                    }
                    total[t] = _mm512_add_epi32(total[t], _mm512_mullo_epi32(sum, ls));
                }
            }
            const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
            for (int t = 0; t < 8; t++) {
                if (t >= tokens) break;
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[t]), _mm512_mul_ps(d, _mm512_set1_ps(xd[t * bStride + sb])), acc[t]);
            }
            p += 2176;
        }
        for (int t = 0; t < 8; t++) {
            if (t >= tokens) break;
            _mm512_storeu_ps(y + t * yStride + 16 * g, acc[t]);
        }
    }
}

// q4_K in the 16-row layout: per group of 16 rows and super-block of 256 columns, the rows' f16 d (32 bytes), f16
// dmin (32), their 12 bytes of 6-bit scales and mins as three int32 per row (3 × 64 bytes), then 32 chunks of 64 code
// bytes, chunk c holding each row's code bytes 4c…4c+3 (bytes 32k…32k+31 hold sub-block 2k in their low nibbles, 2k + 1
// in their high ones). Per super-block the lanes' scales and mins are unpacked once for every token, each sub-block's
// nibbles split once; a token's sub-block sums (unsigned codes, `vpdpbusd`) are multiplied by their scales and added
// in int32 (at most 8·63·32·15·127 < 2^31), the mins weighted by the activation's sub-block sums (pairs of its bsums)
// with `vpdpwssd`, then both scaled by d, dmin and the token's super-block scale. q5_K (`fiveBit`) has its 32 bytes of
// fifth bits (qh) as 8 chunks before the codes: for code chunk c the qh chunk c holds each element's bits, bit j for
// sub-block j, and 16 is added where it is set (codes at most 31: sums below 8·63·32·31·127 < 2^31).
#define SIEVE_QK_SCALE(u0, u2, j) ((j) < 4 ? _mm512_and_si512(_mm512_srli_epi32((u0), 8 * (j)), low6) \
    : _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32((u2), 8 * ((j) - 4)), low4), \
                      _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32((u0), 8 * ((j) - 4) + 6), low2), 4)))
#define SIEVE_QK_MIN(u1, u2, j) ((j) < 4 ? _mm512_and_si512(_mm512_srli_epi32((u1), 8 * (j)), low6) \
    : _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32((u2), 8 * ((j) - 4) + 4), low4), \
                      _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32((u1), 8 * ((j) - 4) + 6), low2), 4)))
VNNI512 static inline void qK_interleaved16_tokens(const uint8_t *p, intptr_t groups, int nsb, int fiveBit, int tokens,
                                                   const int8_t *xq, intptr_t xStride, const float *xd, const int16_t *bsums,
                                                   intptr_t bStride, float *y, intptr_t yStride) {
    const intptr_t codes = fiveBit ? 768 : 256, superBlockBytes = fiveBit ? 2816 : 2304;
    const __m512i sixteen = _mm512_set1_epi8(16);
    const __m512i low = _mm512_set1_epi8(0x0F), low6 = _mm512_set1_epi32(63), low4 = _mm512_set1_epi32(15);
    const __m512i low2 = _mm512_set1_epi32(3);
    for (intptr_t g = 0; g < groups; g++) {
        __m512 acc[8];
        for (int t = 0; t < 8; t++) acc[t] = _mm512_setzero_ps();
        for (int sb = 0; sb < nsb; sb++) {
            const __m512i u0 = _mm512_loadu_si512((const void *)(p + 64)), u1 = _mm512_loadu_si512((const void *)(p + 128));
            const __m512i u2 = _mm512_loadu_si512((const void *)(p + 192));
            __m512i total[8];
            for (int t = 0; t < 8; t++) total[t] = _mm512_setzero_si512();
            for (int j = 0; j < 8; j++) {
                const __m512i sc = SIEVE_QK_SCALE(u0, u2, j);
                const uint8_t *q = p + codes + 512 * (j / 2);
                __m512i v[8];
                for (int c = 0; c < 8; c++) {
                    const __m512i w = _mm512_loadu_si512((const void *)(q + 64 * c));
                    v[c] = _mm512_and_si512((j & 1) ? _mm512_srli_epi16(w, 4) : w, low);
                    if (fiveBit) {
                        // Bit j of each qh byte of elements 4c…4c+3 is bit 4 of their codes in sub-block j.
                        const __m512i qh = _mm512_loadu_si512((const void *)(p + 256 + 64 * c));
                        v[c] = _mm512_mask_add_epi8(v[c], _mm512_test_epi8_mask(qh, _mm512_set1_epi8((char)(1 << j))), v[c], sixteen);
                    }
                }
                for (int t = 0; t < 8; t++) {
                    if (t >= tokens) break;
                    int32_t x32[8];
                    __builtin_memcpy(x32, xq + t * xStride + 256 * sb + 32 * j, 32);
                    __m512i sum = _mm512_setzero_si512();
                    for (int c = 0; c < 8; c++) sum = _mm512_dpbusd_epi32(sum, v[c], _mm512_set1_epi32(x32[c]));
                    total[t] = _mm512_add_epi32(total[t], _mm512_mullo_epi32(sum, sc));
                }
            }
            // Mins in int16 pairs (m_2i, m_2i+1) per lane, against the pairs of the token's sub-block sums.
            __m512i mins[4];
            for (int i = 0; i < 4; i++) {
                mins[i] = _mm512_or_si512(SIEVE_QK_MIN(u1, u2, 2 * i), _mm512_slli_epi32(SIEVE_QK_MIN(u1, u2, 2 * i + 1), 16));
            }
            const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
            const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 32)));
            for (int t = 0; t < 8; t++) {
                if (t >= tokens) break;
                const int16_t *s = bsums + 16 * (t * bStride + sb);
                __m512i minSum = _mm512_setzero_si512();
                for (int i = 0; i < 4; i++) {
                    const uint32_t pair = (uint16_t)(s[4 * i] + s[4 * i + 1]) | ((uint32_t)(uint16_t)(s[4 * i + 2] + s[4 * i + 3]) << 16);
                    minSum = _mm512_dpwssd_epi32(minSum, mins[i], _mm512_set1_epi32((int32_t)pair));
                }
                const __m512 xdt = _mm512_set1_ps(xd[t * bStride + sb]);
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[t]), _mm512_mul_ps(d, xdt), acc[t]);
                acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(minSum), _mm512_mul_ps(dmin, xdt), acc[t]);
            }
            p += superBlockBytes;
        }
        for (int t = 0; t < 8; t++) {
            if (t >= tokens) break;
            _mm512_storeu_ps(y + t * yStride + 16 * g, acc[t]);
        }
    }
}
#undef SIEVE_QK_SCALE
#undef SIEVE_QK_MIN

VNNI512 void sieve_q4_K_interleaved16_tokens_vnni(const void *packed, intptr_t groups, int nsb, int tokens, const int8_t *xq,
                                                  intptr_t xStride, const float *xd, const int16_t *bsums, intptr_t bStride,
                                                  float *y, intptr_t yStride) {
    qK_interleaved16_tokens((const uint8_t *)packed, groups, nsb, 0, tokens, xq, xStride, xd, bsums, bStride, y, yStride);
}

VNNI512 void sieve_q5_K_interleaved16_tokens_vnni(const void *packed, intptr_t groups, int nsb, int tokens, const int8_t *xq,
                                                  intptr_t xStride, const float *xd, const int16_t *bsums, intptr_t bStride,
                                                  float *y, intptr_t yStride) {
    qK_interleaved16_tokens((const uint8_t *)packed, groups, nsb, 1, tokens, xq, xStride, xd, bsums, bStride, y, yStride);
}

// q8_0 in the 16-row layout of model weights (`WeightMatrix.interleaved()`): per group block the 16 rows' f16 scales,
// then 8 × 64 bytes of codes, chunk c holding each row's codes 4c…4c+3. With VNNI the codes are made unsigned (+ 128,
// one `vpxor` per chunk, shared by the tokens) and each token's sums start at −128 · its block's code sum; eight
// `vpdpbusd` advance the 16 rows by a block. The codes of a block stay in registers for up to eight tokens, and
// each token's operations are those of a call with that token alone.
VNNI512 void sieve_q8_0_interleaved16_tokens_vnni(const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq,
                                                  intptr_t xStride, const float *xd, const int32_t *xsum, intptr_t bStride,
                                                  float *y, intptr_t yStride) {
    const uint8_t *p = (const uint8_t *)packed;
    const __m512i offset = _mm512_set1_epi8((char)0x80);
    for (intptr_t g = 0; g < groups; g++) {
        __m512 acc[8];
        for (int t = 0; t < 8; t++) acc[t] = _mm512_setzero_ps();
        for (int b = 0; b < nb; b++) {
            __m512i w[8];
            for (int c = 0; c < 8; c++) w[c] = _mm512_xor_si512(_mm512_loadu_si512((const void *)(p + 32 + 64 * c)), offset);
            __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
            for (int t = 0; t < 8; t++) {
                if (t >= tokens) break;
                int32_t x32[8];
                __builtin_memcpy(x32, xq + t * xStride + 32 * b, 32);
                __m512i sum = _mm512_set1_epi32(-128 * xsum[t * bStride + b]);
                for (int c = 0; c < 8; c++) sum = _mm512_dpbusd_epi32(sum, w[c], _mm512_set1_epi32(x32[c]));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(d, _mm512_set1_ps(xd[t * bStride + b])), acc[t]);
            }
            p += 544;
        }
        for (int t = 0; t < 8; t++) {
            if (t >= tokens) break;
            _mm512_storeu_ps(y + t * yStride + 16 * g, acc[t]);
        }
    }
}

// The same 16-row groups with AVX2 alone (`InterleavedQ8Matrix` stores the codes signed for it): per 4 columns,
// the activation's 4 codes are broadcast, their magnitudes multiplied with the codes carrying the activation's
// signs (`vpmaddubsw`: |x| ≤ 127 unsigned × signed codes, pairs of at most 2·127·127, no saturation), and the
// pairs widened to each row's int32 sum (`vpmaddwd` by ones). Rows 0–7 and 8–15 of a group are two vectors.
__attribute__((target("avx2,fma"))) void sieve_q8_0_interleaved16_avx2(const void *packed, intptr_t rows, int nb,
                                                                      const int8_t *xq, const float *xd, float *y) {
    const uint8_t *p = (const uint8_t *)packed;
    const __m256i ones = _mm256_set1_epi16(1);
    for (intptr_t first = 0; first < rows; first += 16) {
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++) {
            __m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
            const int8_t *x = xq + 32 * b;
            for (int c = 0; c < 8; c++) {
                int32_t x4;
                __builtin_memcpy(&x4, x + 4 * c, 4);
                const __m256i xs = _mm256_set1_epi32(x4), ax = _mm256_sign_epi8(xs, xs);
                const __m256i w0 = _mm256_load_si256((const __m256i *)(p + 64 + 64 * c));
                const __m256i w1 = _mm256_load_si256((const __m256i *)(p + 96 + 64 * c));
                sum0 = _mm256_add_epi32(sum0, _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(w0, xs)), ones));
                sum1 = _mm256_add_epi32(sum1, _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(w1, xs)), ones));
            }
            const __m256 d = _mm256_set1_ps(xd[b]);
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum0), _mm256_mul_ps(_mm256_load_ps((const float *)p), d), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum1), _mm256_mul_ps(_mm256_load_ps((const float *)p + 8), d), acc1);
            p += 576;
        }
        intptr_t left = rows - first;
        if (left >= 16) {
            _mm256_storeu_ps(y + first, acc0);
            _mm256_storeu_ps(y + first + 8, acc1);
        } else {
            float out[16];
            _mm256_storeu_ps(out, acc0);
            _mm256_storeu_ps(out + 8, acc1);
            for (intptr_t i = 0; i < left; i++) y[first + i] = out[i];
        }
    }
}

// One 16-row q4 (q5) group and one token with AVX2 alone: per chunk of codes, rows 0–7 and 8–15 are two 32-byte halves; the low and
// high nibbles (unsigned, at most 15) are multiplied with the activation's 4 codes of their columns (`vpmaddubsw`:
// pairs of at most 2·15·128 in magnitude, no saturation; the two nibbles' pairs added stay below 2^15) and widened to each row's
// int32 sum (`vpmaddwd` by ones). Scales, mins and the q4_0/q5_0 offset are applied as in the VNNI kernel. q5_0 and
// q5_1 (`fiveBit`) add their fifth bits as the VNNI kernel does, with a compare for the bit test (5-bit codes: pairs
// of at most 2·31·127, the two nibbles' 15748).
__attribute__((target("avx2,fma,f16c"))) static inline void q4_group16_avx2(const uint8_t *p, int nb, int hasMin, int fiveBit,
                                                                            const int8_t *xq, const float *xd, const float *xs,
                                                                            float *y) {
    const intptr_t codes = (hasMin ? 64 : 32) + (fiveBit ? 64 : 0), blockBytes = codes + 256;
    const __m256i low = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1), sixteen = _mm256_set1_epi8(16);
    const __m256i bitsEven = _mm256_set1_epi32(0x08040201), bitsOdd = _mm256_set1_epi32((int)0x80402010);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 corr0 = _mm256_setzero_ps(), corr1 = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *q = p + codes;
        int32_t x32[8];
        __builtin_memcpy(x32, xq + 32 * b, 32);
        __m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i v0 = _mm256_loadu_si256((const __m256i *)(q + 64 * c));
            const __m256i v1 = _mm256_loadu_si256((const __m256i *)(q + 64 * c + 32));
            const __m256i xl = _mm256_set1_epi32(x32[c]), xh = _mm256_set1_epi32(x32[4 + c]);
            __m256i l0 = _mm256_and_si256(v0, low), h0 = _mm256_and_si256(_mm256_srli_epi16(v0, 4), low);
            __m256i l1 = _mm256_and_si256(v1, low), h1 = _mm256_and_si256(_mm256_srli_epi16(v1, 4), low);
            if (fiveBit) {
                const __m256i bits = (c & 1) ? bitsOdd : bitsEven;
                const int l = (c / 2) * 0x01010101, h = (2 + c / 2) * 0x01010101, lane = 0x04040404;
                const __m256i spreadLow = _mm256_setr_epi32(l, l + lane, l + 2 * lane, l + 3 * lane, l, l + lane, l + 2 * lane, l + 3 * lane);
                const __m256i spreadHigh = _mm256_setr_epi32(h, h + lane, h + 2 * lane, h + 3 * lane, h, h + lane, h + 2 * lane, h + 3 * lane);
                const __m256i qh0 = _mm256_loadu_si256((const __m256i *)(q - 64)), qh1 = _mm256_loadu_si256((const __m256i *)(q - 32));
#define SIEVE_FIFTH(v, qh, spread) _mm256_add_epi8((v), _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8((qh), (spread)), bits), bits), sixteen))
                l0 = SIEVE_FIFTH(l0, qh0, spreadLow);
                h0 = SIEVE_FIFTH(h0, qh0, spreadHigh);
                l1 = SIEVE_FIFTH(l1, qh1, spreadLow);
                h1 = SIEVE_FIFTH(h1, qh1, spreadHigh);
#undef SIEVE_FIFTH
            }
            const __m256i p0 = _mm256_add_epi16(_mm256_maddubs_epi16(l0, xl), _mm256_maddubs_epi16(h0, xh));
            const __m256i p1 = _mm256_add_epi16(_mm256_maddubs_epi16(l1, xl), _mm256_maddubs_epi16(h1, xh));
            sum0 = _mm256_add_epi32(sum0, _mm256_madd_epi16(p0, ones));
            sum1 = _mm256_add_epi32(sum1, _mm256_madd_epi16(p1, ones));
        }
        const __m256 xdb = _mm256_set1_ps(xd[b]), xsb = _mm256_set1_ps(xs[b]);
        const __m256 d0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        const __m256 d1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16)));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum0), _mm256_mul_ps(d0, xdb), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum1), _mm256_mul_ps(d1, xdb), acc1);
        const __m256 c0 = hasMin ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 32))) : d0;
        const __m256 c1 = hasMin ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 48))) : d1;
        corr0 = _mm256_fmadd_ps(c0, xsb, corr0);
        corr1 = _mm256_fmadd_ps(c1, xsb, corr1);
        p += blockBytes;
    }
    if (hasMin) {
        _mm256_storeu_ps(y, _mm256_add_ps(acc0, corr0));
        _mm256_storeu_ps(y + 8, _mm256_add_ps(acc1, corr1));
    } else {
        const __m256 minusOffset = _mm256_set1_ps(fiveBit ? -16.0f : -8.0f);
        _mm256_storeu_ps(y, _mm256_fmadd_ps(corr0, minusOffset, acc0));
        _mm256_storeu_ps(y + 8, _mm256_fmadd_ps(corr1, minusOffset, acc1));
    }
}

// One block of a 16-row group with AVX2 alone: the int32 sums of rows 0–7 and 8–15 times the 16 rows' f16 scales at
// `p` and the activation's block scale, added to the two accumulators.
__attribute__((target("avx2,fma,f16c"))) static inline void scaleGroupBlock_avx2(const uint8_t *p, float xd, __m256i sum0,
                                                                                 __m256i sum1, __m256 *acc0, __m256 *acc1) {
    const __m256 xdb = _mm256_set1_ps(xd);
    const __m256 d0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    const __m256 d1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16)));
    *acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum0), _mm256_mul_ps(d0, xdb), *acc0);
    *acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum1), _mm256_mul_ps(d1, xdb), *acc1);
}

// The int32 sums of rows 0–7 and 8–15 of one 16-row iq4_nl block (its 4 code chunks at `q`, q4_0's arrangement) with
// the 32 activation codes at `x`, AVX2 alone: the book's signed values (|v| ≤ 127) are looked up with `vpshufb`, given
// the activation codes' signs and multiplied with their magnitudes (`vpmaddubsw`: pairs of at most 2·127·127, no
// saturation), widened by `vpmaddwd`.
__attribute__((target("avx2,fma,f16c"))) static inline void iq4_block16_avx2(const uint8_t *q, const int8_t *x, __m256i *s0,
                                                                             __m256i *s1) {
    const __m256i low = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    const __m256i book = _mm256_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
                                          -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
    int32_t x32[8];
    __builtin_memcpy(x32, x, 32);
    __m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i v0 = _mm256_loadu_si256((const __m256i *)(q + 64 * c));
            const __m256i v1 = _mm256_loadu_si256((const __m256i *)(q + 64 * c + 32));
            const __m256i xl = _mm256_set1_epi32(x32[c]), xh = _mm256_set1_epi32(x32[4 + c]);
            const __m256i al = _mm256_sign_epi8(xl, xl), ah = _mm256_sign_epi8(xh, xh);
            const __m256i l0 = _mm256_shuffle_epi8(book, _mm256_and_si256(v0, low));
            const __m256i h0 = _mm256_shuffle_epi8(book, _mm256_and_si256(_mm256_srli_epi16(v0, 4), low));
            const __m256i l1 = _mm256_shuffle_epi8(book, _mm256_and_si256(v1, low));
            const __m256i h1 = _mm256_shuffle_epi8(book, _mm256_and_si256(_mm256_srli_epi16(v1, 4), low));
            sum0 = _mm256_add_epi32(sum0, _mm256_madd_epi16(_mm256_maddubs_epi16(al, _mm256_sign_epi8(l0, xl)), ones));
            sum0 = _mm256_add_epi32(sum0, _mm256_madd_epi16(_mm256_maddubs_epi16(ah, _mm256_sign_epi8(h0, xh)), ones));
            sum1 = _mm256_add_epi32(sum1, _mm256_madd_epi16(_mm256_maddubs_epi16(al, _mm256_sign_epi8(l1, xl)), ones));
            sum1 = _mm256_add_epi32(sum1, _mm256_madd_epi16(_mm256_maddubs_epi16(ah, _mm256_sign_epi8(h1, xh)), ones));
        }
    *s0 = sum0;
    *s1 = sum1;
}

// iq4_nl's 16-row groups (q4_0's layout) with AVX2 alone, one group and one token, block by block
// (`iq4_block16_avx2`); rows 0–7 and 8–15 of the group are the two 32-byte halves of each code chunk.
__attribute__((target("avx2,fma,f16c"))) static inline void iq4_nl_group16_avx2(const uint8_t *p, int nb, const int8_t *xq,
                                                                                const float *xd, float *y) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i sum0, sum1;
        iq4_block16_avx2(p + 32, xq + 32 * b, &sum0, &sum1);
        scaleGroupBlock_avx2(p, xd[b], sum0, sum1, &acc0, &acc1);
        p += 288;
    }
    _mm256_storeu_ps(y, acc0);
    _mm256_storeu_ps(y + 8, acc1);
}

// q8_0's 16-row groups of model weights with AVX2 alone, one group and one token: the activation's 4 codes of each
// chunk broadcast, their magnitudes multiplied with the codes carrying their signs (`vpmaddubsw`, as
// `sieve_q8_0_interleaved16_avx2`), rows 0–7 and 8–15 in the chunk's two halves.
__attribute__((target("avx2,fma,f16c"))) static inline void q8_0_group16_avx2(const uint8_t *p, int nb, const int8_t *xq,
                                                                              const float *xd, float *y) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
        const int8_t *x = xq + 32 * b;
        for (int c = 0; c < 8; c++) {
            int32_t x4;
            __builtin_memcpy(&x4, x + 4 * c, 4);
            const __m256i xs = _mm256_set1_epi32(x4), ax = _mm256_sign_epi8(xs, xs);
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)(p + 32 + 64 * c));
            const __m256i w1 = _mm256_loadu_si256((const __m256i *)(p + 64 + 64 * c));
            sum0 = _mm256_add_epi32(sum0, _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(w0, xs)), ones));
            sum1 = _mm256_add_epi32(sum1, _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(w1, xs)), ones));
        }
        scaleGroupBlock_avx2(p, xd[b], sum0, sum1, &acc0, &acc1);
        p += 544;
    }
    _mm256_storeu_ps(y, acc0);
    _mm256_storeu_ps(y + 8, acc1);
}

// iq4_xs's 16-row groups with AVX2 alone, one group and one token: each sub-block as an iq4_nl block
// (`iq4_block16_avx2`), its rows' int32 sums multiplied by their 6-bit scales and added in int32 (exact, as the
// VNNI kernel), then scaled by d and the super-block's activation scale.
__attribute__((target("avx2,fma,f16c"))) static inline void iq4_xs_group16_avx2(const uint8_t *p, int nsb, const int8_t *xq,
                                                                                const float *xd, float *y) {
    const __m256i fifteen = _mm256_set1_epi32(15), three = _mm256_set1_epi32(3), thirtyTwo = _mm256_set1_epi32(32);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int sb = 0; sb < nsb; sb++) {
        const __m256i sh0 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + 32)));
        const __m256i sh1 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + 48)));
        const __m256i sl0 = _mm256_loadu_si256((const __m256i *)(p + 64)), sl1 = _mm256_loadu_si256((const __m256i *)(p + 96));
        __m256i total0 = _mm256_setzero_si256(), total1 = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
#define SIEVE_IQ4XS_SCALE(sl, sh) _mm256_sub_epi32(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32((sl), 4 * j), fifteen), \
    _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32((sh), 2 * j), three), 4)), thirtyTwo)
            const __m256i ls0 = SIEVE_IQ4XS_SCALE(sl0, sh0), ls1 = SIEVE_IQ4XS_SCALE(sl1, sh1);
#undef SIEVE_IQ4XS_SCALE
            __m256i sum0, sum1;
            iq4_block16_avx2(p + 128 + 256 * j, xq + 256 * sb + 32 * j, &sum0, &sum1);
            total0 = _mm256_add_epi32(total0, _mm256_mullo_epi32(sum0, ls0));
            total1 = _mm256_add_epi32(total1, _mm256_mullo_epi32(sum1, ls1));
        }
        scaleGroupBlock_avx2(p, xd[sb], total0, total1, &acc0, &acc1);
        p += 2176;
    }
    _mm256_storeu_ps(y, acc0);
    _mm256_storeu_ps(y + 8, acc1);
}

__attribute__((target("avx2,fma,f16c"))) void sieve_iq4_xs_interleaved16_tokens_avx2(
    const void *packed, intptr_t groups, int nsb, int tokens, const int8_t *xq, intptr_t xStride, const float *xd,
    const int16_t *bsums, intptr_t bStride, float *y, intptr_t yStride) {
    (void)bsums;
    const uint8_t *p = (const uint8_t *)packed;
    for (intptr_t g = 0; g < groups; g++) {
        for (int t = 0; t < tokens; t++) {
            iq4_xs_group16_avx2(p + g * (intptr_t)nsb * 2176, nsb, xq + t * xStride, xd + t * bStride, y + t * yStride + 16 * g);
        }
    }
}

// q4_K's (q5_K's, `fiveBit`: fifth bits added as the VNNI kernel does, with a compare) 16-row groups with AVX2 alone,
// one group and one token: per chunk the unsigned codes times the activation
// codes in pairs (`vpmaddubsw`, at most 2·15·127), weighted by the rows' sub-block scales as int16 (`vpmaddwd`: each
// row's int32 lane gains sc·(pair + pair)), the mins as in the VNNI kernel with `vpmaddwd`; rows 0–7 and 8–15 are
// the two halves of each chunk and of each scale word.
#define SIEVE_QK_SCALE8(u0, u2, j) ((j) < 4 ? _mm256_and_si256(_mm256_srli_epi32((u0), 8 * (j)), low6) \
    : _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32((u2), 8 * ((j) - 4)), low4), \
                      _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32((u0), 8 * ((j) - 4) + 6), low2), 4)))
#define SIEVE_QK_MIN8(u1, u2, j) ((j) < 4 ? _mm256_and_si256(_mm256_srli_epi32((u1), 8 * (j)), low6) \
    : _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32((u2), 8 * ((j) - 4) + 4), low4), \
                      _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32((u1), 8 * ((j) - 4) + 6), low2), 4)))
__attribute__((target("avx2,fma,f16c"))) static inline void qK_group16_avx2(const uint8_t *p, int nsb, int fiveBit, const int8_t *xq,
                                                                            const float *xd, const int16_t *bsums, float *y) {
    const intptr_t codes = fiveBit ? 768 : 256, superBlockBytes = fiveBit ? 2816 : 2304;
    const __m256i sixteen = _mm256_set1_epi8(16);
    const __m256i low = _mm256_set1_epi8(0x0F), low6 = _mm256_set1_epi32(63), low4 = _mm256_set1_epi32(15);
    const __m256i low2 = _mm256_set1_epi32(3);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int sb = 0; sb < nsb; sb++) {
        const __m256i u00 = _mm256_loadu_si256((const __m256i *)(p + 64)), u01 = _mm256_loadu_si256((const __m256i *)(p + 96));
        const __m256i u10 = _mm256_loadu_si256((const __m256i *)(p + 128)), u11 = _mm256_loadu_si256((const __m256i *)(p + 160));
        const __m256i u20 = _mm256_loadu_si256((const __m256i *)(p + 192)), u21 = _mm256_loadu_si256((const __m256i *)(p + 224));
        __m256i total0 = _mm256_setzero_si256(), total1 = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
            const __m256i s0 = SIEVE_QK_SCALE8(u00, u20, j), s1 = SIEVE_QK_SCALE8(u01, u21, j);
            const __m256i sc0 = _mm256_or_si256(s0, _mm256_slli_epi32(s0, 16)), sc1 = _mm256_or_si256(s1, _mm256_slli_epi32(s1, 16));
            const uint8_t *q = p + codes + 512 * (j / 2);
            const __m256i bit = _mm256_set1_epi8((char)(1 << j));
            int32_t x32[8];
            __builtin_memcpy(x32, xq + 256 * sb + 32 * j, 32);
            for (int c = 0; c < 8; c++) {
                const __m256i w0 = _mm256_loadu_si256((const __m256i *)(q + 64 * c));
                const __m256i w1 = _mm256_loadu_si256((const __m256i *)(q + 64 * c + 32));
                __m256i n0 = _mm256_and_si256((j & 1) ? _mm256_srli_epi16(w0, 4) : w0, low);
                __m256i n1 = _mm256_and_si256((j & 1) ? _mm256_srli_epi16(w1, 4) : w1, low);
                if (fiveBit) {
                    const __m256i h0 = _mm256_loadu_si256((const __m256i *)(p + 256 + 64 * c));
                    const __m256i h1 = _mm256_loadu_si256((const __m256i *)(p + 288 + 64 * c));
                    n0 = _mm256_add_epi8(n0, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h0, bit), bit), sixteen));
                    n1 = _mm256_add_epi8(n1, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h1, bit), bit), sixteen));
                }
                const __m256i x = _mm256_set1_epi32(x32[c]);
                total0 = _mm256_add_epi32(total0, _mm256_madd_epi16(_mm256_maddubs_epi16(n0, x), sc0));
                total1 = _mm256_add_epi32(total1, _mm256_madd_epi16(_mm256_maddubs_epi16(n1, x), sc1));
            }
        }
        const int16_t *s = bsums + 16 * sb;
        __m256i minSum0 = _mm256_setzero_si256(), minSum1 = _mm256_setzero_si256();
        for (int i = 0; i < 4; i++) {
            const __m256i m0 = _mm256_or_si256(SIEVE_QK_MIN8(u10, u20, 2 * i), _mm256_slli_epi32(SIEVE_QK_MIN8(u10, u20, 2 * i + 1), 16));
            const __m256i m1 = _mm256_or_si256(SIEVE_QK_MIN8(u11, u21, 2 * i), _mm256_slli_epi32(SIEVE_QK_MIN8(u11, u21, 2 * i + 1), 16));
            const uint32_t pair = (uint16_t)(s[4 * i] + s[4 * i + 1]) | ((uint32_t)(uint16_t)(s[4 * i + 2] + s[4 * i + 3]) << 16);
            const __m256i xs = _mm256_set1_epi32((int32_t)pair);
            minSum0 = _mm256_add_epi32(minSum0, _mm256_madd_epi16(m0, xs));
            minSum1 = _mm256_add_epi32(minSum1, _mm256_madd_epi16(m1, xs));
        }
        const __m256 xdb = _mm256_set1_ps(xd[sb]);
        const __m256 d0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        const __m256 d1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16)));
        const __m256 dmin0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 32)));
        const __m256 dmin1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 48)));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total0), _mm256_mul_ps(d0, xdb), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total1), _mm256_mul_ps(d1, xdb), acc1);
        acc0 = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(minSum0), _mm256_mul_ps(dmin0, xdb), acc0);
        acc1 = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(minSum1), _mm256_mul_ps(dmin1, xdb), acc1);
        p += superBlockBytes;
    }
    _mm256_storeu_ps(y, acc0);
    _mm256_storeu_ps(y + 8, acc1);
}
#undef SIEVE_QK_SCALE8
#undef SIEVE_QK_MIN8

__attribute__((target("avx2,fma,f16c"))) static inline void qK_interleaved16_tokens_avx2(
    const uint8_t *p, intptr_t groups, int nsb, int fiveBit, int tokens, const int8_t *xq, intptr_t xStride, const float *xd,
    const int16_t *bsums, intptr_t bStride, float *y, intptr_t yStride) {
    const intptr_t groupBytes = (intptr_t)nsb * (fiveBit ? 2816 : 2304);
    for (intptr_t g = 0; g < groups; g++) {
        for (int t = 0; t < tokens; t++) {
            qK_group16_avx2(p + g * groupBytes, nsb, fiveBit, xq + t * xStride, xd + t * bStride, bsums + 16 * t * bStride,
                            y + t * yStride + 16 * g);
        }
    }
}

__attribute__((target("avx2,fma,f16c"))) void sieve_q4_K_interleaved16_tokens_avx2(
    const void *packed, intptr_t groups, int nsb, int tokens, const int8_t *xq, intptr_t xStride, const float *xd,
    const int16_t *bsums, intptr_t bStride, float *y, intptr_t yStride) {
    qK_interleaved16_tokens_avx2((const uint8_t *)packed, groups, nsb, 0, tokens, xq, xStride, xd, bsums, bStride, y, yStride);
}

__attribute__((target("avx2,fma,f16c"))) void sieve_q5_K_interleaved16_tokens_avx2(
    const void *packed, intptr_t groups, int nsb, int tokens, const int8_t *xq, intptr_t xStride, const float *xd,
    const int16_t *bsums, intptr_t bStride, float *y, intptr_t yStride) {
    qK_interleaved16_tokens_avx2((const uint8_t *)packed, groups, nsb, 1, tokens, xq, xStride, xd, bsums, bStride, y, yStride);
}

// iq4_nl (`q8` 0) or q8_0 groups with AVX2 alone, several tokens: each group multiplied by every token in turn.
__attribute__((target("avx2,fma,f16c"))) static inline void signedGroups_tokens_avx2(
    int q8, const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq, intptr_t xStride, const float *xd,
    intptr_t bStride, float *y, intptr_t yStride) {
    const uint8_t *p = (const uint8_t *)packed;
    const intptr_t groupBytes = (intptr_t)nb * (q8 ? 544 : 288);
    for (intptr_t g = 0; g < groups; g++) {
        for (int t = 0; t < tokens; t++) {
            (q8 ? q8_0_group16_avx2 : iq4_nl_group16_avx2)(p + g * groupBytes, nb, xq + t * xStride, xd + t * bStride,
                                                          y + t * yStride + 16 * g);
        }
    }
}

__attribute__((target("avx2,fma,f16c"))) void sieve_iq4_nl_interleaved16_tokens_avx2(
    const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq, intptr_t xStride, const float *xd,
    const int32_t *xsum, intptr_t bStride, float *y, intptr_t yStride) {
    (void)xsum;
    signedGroups_tokens_avx2(0, packed, groups, nb, tokens, xq, xStride, xd, bStride, y, yStride);
}

__attribute__((target("avx2,fma,f16c"))) void sieve_q8_0_interleaved16_tokens_avx2(
    const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq, intptr_t xStride, const float *xd,
    const int32_t *xsum, intptr_t bStride, float *y, intptr_t yStride) {
    (void)xsum;
    signedGroups_tokens_avx2(1, packed, groups, nb, tokens, xq, xStride, xd, bStride, y, yStride);
}

// Several tokens with AVX2: each group of 16 rows is multiplied by every token in turn (its bytes, 18 KB at 2048
// columns, then come from L1), each token exactly as alone.
__attribute__((target("avx2,fma,f16c"))) static inline void q4_interleaved16_tokens_avx2(
    const uint8_t *p, intptr_t groups, int nb, int hasMin, int fiveBit, int tokens, const int8_t *xq, intptr_t xStride,
    const float *xd, const float *xs, intptr_t bStride, float *y, intptr_t yStride) {
    const intptr_t groupBytes = (intptr_t)nb * ((hasMin ? 320 : 288) + (fiveBit ? 64 : 0));
    for (intptr_t g = 0; g < groups; g++) {
        for (int t = 0; t < tokens; t++) {
            q4_group16_avx2(p + g * groupBytes, nb, hasMin, fiveBit, xq + t * xStride, xd + t * bStride, xs + t * bStride,
                                  y + t * yStride + 16 * g);
        }
    }
}

__attribute__((target("avx2,fma,f16c"))) void sieve_q4_1_interleaved16_tokens_avx2(
    const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq, intptr_t xStride, const float *xd,
    const float *xs, intptr_t bStride, float *y, intptr_t yStride) {
    q4_interleaved16_tokens_avx2((const uint8_t *)packed, groups, nb, 1, 0, tokens, xq, xStride, xd, xs, bStride, y, yStride);
}

__attribute__((target("avx2,fma,f16c"))) void sieve_q4_0_interleaved16_tokens_avx2(
    const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq, intptr_t xStride, const float *xd,
    const float *xs, intptr_t bStride, float *y, intptr_t yStride) {
    q4_interleaved16_tokens_avx2((const uint8_t *)packed, groups, nb, 0, 0, tokens, xq, xStride, xd, xs, bStride, y, yStride);
}

__attribute__((target("avx2,fma,f16c"))) void sieve_q5_1_interleaved16_tokens_avx2(
    const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq, intptr_t xStride, const float *xd,
    const float *xs, intptr_t bStride, float *y, intptr_t yStride) {
    q4_interleaved16_tokens_avx2((const uint8_t *)packed, groups, nb, 1, 1, tokens, xq, xStride, xd, xs, bStride, y, yStride);
}

__attribute__((target("avx2,fma,f16c"))) void sieve_q5_0_interleaved16_tokens_avx2(
    const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq, intptr_t xStride, const float *xd,
    const float *xs, intptr_t bStride, float *y, intptr_t yStride) {
    q4_interleaved16_tokens_avx2((const uint8_t *)packed, groups, nb, 0, 1, tokens, xq, xStride, xd, xs, bStride, y, yStride);
}



void sieve_q8K_token_panels(const int8_t *xq, const float *xd, const int16_t *bsums, int tokens, int nsb,
                            const SieveTokenPanels *out) {
    const int tiles = (tokens + 15) / 16;
    for (int tile = 0; tile < tiles; tile++) {
        for (int sb = 0; sb < nsb; sb++) {
            const intptr_t at = (intptr_t)nsb * tile + sb;
            uint8_t *panel = out->codes + 4096 * at;
            float *scales = out->scales + 16 * at;
            int32_t *sums = out->sums + 128 * at;
            for (int k = 0; k < 16; k++) {
                const int t = 16 * tile + k;
                if (t >= tokens) {
                    for (int g = 0; g < 64; g++) __builtin_memset(panel + 64 * g + 4 * k, 128, 4);
                    for (int j = 0; j < 8; j++) sums[16 * j + k] = 0;
                    scales[k] = 0;
                    continue;
                }
                const int8_t *codes = xq + (intptr_t)256 * nsb * t + 256 * sb;
                for (int g = 0; g < 64; g++) {
                    uint32_t four;
                    __builtin_memcpy(&four, codes + 4 * g, 4);
                    four ^= 0x80808080u;
                    __builtin_memcpy(panel + 64 * g + 4 * k, &four, 4);
                }
                const int16_t *b = bsums + (intptr_t)16 * nsb * t + 16 * sb;
                for (int j = 0; j < 8; j++) __builtin_memcpy(sums + 16 * j + k, b + 2 * j, 4);
                scales[k] = xd[(intptr_t)nsb * t + sb];
            }
        }
    }
}

// MXFP4 blocks decoded to floats: the codes looked up in the doubled E2M1 book with `vpshufb`, widened to int32,
// converted and multiplied by the block's power of two 2^(e − 128) (built as float bits, ggml's subnormals for e < 2).
__attribute__((target("avx2,fma,f16c"))) void sieve_mxfp4_decode_avx2(const void *blocks, intptr_t nb, float *out) {
    const __m128i book = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12), low = _mm_set1_epi8(0x0F);
    const uint8_t *p = blocks;
    for (intptr_t b = 0; b < nb; b++, p += 17, out += 32) {
        const uint32_t e = p[0], bits = e < 2 ? 0x00200000u << e : (e - 1) << 23;
        float d;
        __builtin_memcpy(&d, &bits, 4);
        const __m256 scale = _mm256_set1_ps(d);
        const __m128i q = _mm_loadu_si128((const __m128i *)(p + 1));
        const __m128i v[2] = {_mm_shuffle_epi8(book, _mm_and_si128(q, low)), _mm_shuffle_epi8(book, _mm_and_si128(_mm_srli_epi16(q, 4), low))};
        for (int h = 0; h < 2; h++) {
            _mm256_storeu_ps(out + 16 * h, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v[h])), scale));
            _mm256_storeu_ps(out + 16 * h + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(v[h], 8))), scale));
        }
    }
}

int sieve_cpu_has_avx512_vnni(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
           sieve_cpu_has_avx2();
}

int sieve_cpu_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}
#else
int sieve_cpu_has_avx512_vnni(void) { return 0; }
int sieve_cpu_has_avx2(void) { return 0; }
#endif
