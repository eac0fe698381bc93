#include "CSieveChecksum.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define PCLMUL __attribute__((target("pclmul,sse2")))

int sieve_crc32_fold_available(void) { return __builtin_cpu_supports("pclmul"); }

// x^e mod P, reflected into the high half of 64 bits (coefficient of x^t at bit 63 - t), for the block's older
// 64 bits (e = 64 + D - 1) and its newer 64 bits (e = D - 1). The product's reflection is one bit short of the
// block's, which the exponent's -1 makes up. Computed by tools/crc32_fold_constants.py.
#define K575 0x653d982200000000ULL
#define K511 0xcad38e8f00000000ULL
#define K191 0x65673b4600000000ULL
#define K127 0x9ba54c6f00000000ULL

/// `x` moved forward by the distance whose constants `k` holds, added to `next`.
PCLMUL static inline __m128i fold(__m128i x, __m128i k, __m128i next) {
    __m128i older = _mm_clmulepi64_si128(x, k, 0x00);
    __m128i newer = _mm_clmulepi64_si128(x, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(older, newer), next);
}

PCLMUL void sieve_crc32_fold(uint32_t crc, const void *data, size_t count, void *out) {
    const uint8_t *p = (const uint8_t *)data;
    __m128i x0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)crc));
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    const __m128i k512 = _mm_set_epi64x((long long)K511, (long long)K575);
    for (size_t offset = 64; offset + 64 <= count; offset += 64) {
        const uint8_t *q = p + offset;
        x0 = fold(x0, k512, _mm_loadu_si128((const __m128i *)q));
        x1 = fold(x1, k512, _mm_loadu_si128((const __m128i *)(q + 16)));
        x2 = fold(x2, k512, _mm_loadu_si128((const __m128i *)(q + 32)));
        x3 = fold(x3, k512, _mm_loadu_si128((const __m128i *)(q + 48)));
    }
    const __m128i k128 = _mm_set_epi64x((long long)K127, (long long)K191);
    x0 = fold(x0, k128, x1);
    x0 = fold(x0, k128, x2);
    x0 = fold(x0, k128, x3);
    _mm_storeu_si128((__m128i *)out, x0);
}

#else

int sieve_crc32_fold_available(void) { return 0; }

void sieve_crc32_fold(uint32_t crc, const void *data, size_t count, void *out) {
    (void)crc; (void)data; (void)count; (void)out;
}

#endif
