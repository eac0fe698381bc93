#include "CSieveKernels.h"
#include <immintrin.h>

__attribute__((target("avx512vnni,avx512vl,avx2,fma,f16c"))) static inline float h2f(const uint8_t *p) { uint16_t h; __builtin_memcpy(&h, p, 2); return _cvtsh_ss(h); }
__attribute__((target("avx512vnni,avx512vl,avx2,fma,f16c"))) static inline float hsum256(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

__attribute__((target("avx512vnni,avx512vl,avx2,fma,f16c")))
void sieve_q4_1_dot_rows4_vnni(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2, const uint8_t *r3, int nb,
                      const int8_t *xq, const float *xd, const float *xs, float *out) {
    const uint8_t *r[4] = {r0, r1, r2, r3};
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float mins[4] = {0, 0, 0, 0};
    const __m256i mask = _mm256_set1_epi8(0x0F);
    for (int b = 0; b < nb; b++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
        float dx = xd[b], sx = xs[b];
        for (int i = 0; i < 4; i++) {
            const uint8_t *p = r[i] + 20 * b;
            __m128i q = _mm_loadu_si128((const __m128i *)(p + 4));
            __m256i w = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), mask);
            __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, x);
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(h2f(p) * dx), acc[i]);
            mins[i] += h2f(p + 2) * sx;
        }
    }
    for (int i = 0; i < 4; i++) out[i] = hsum256(acc[i]) + mins[i];
}

__attribute__((target("avx512vnni,avx512vl,avx2,fma,f16c")))
void sieve_q8_0_dot_rows4_vnni(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2, const uint8_t *r3, int nb,
                      const int8_t *xq, const float *xd, float *out) {
    const uint8_t *r[4] = {r0, r1, r2, r3};
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
        __m256i ax = _mm256_sign_epi8(x, x);  // |x| as unsigned
        float dx = xd[b];
        for (int i = 0; i < 4; i++) {
            const uint8_t *p = r[i] + 34 * b;
            __m256i w = _mm256_loadu_si256((const __m256i *)(p + 2));
            __m256i sw = _mm256_sign_epi8(w, x);  // w with x's sign
            __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sw);
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(h2f(p) * dx), acc[i]);
        }
    }
    for (int i = 0; i < 4; i++) out[i] = hsum256(acc[i]);
}

int sieve_cpu_has_avx512_vnni(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}
