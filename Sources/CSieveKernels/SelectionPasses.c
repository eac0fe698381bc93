#include "CSieveKernels.h"

// The passes of UnitSelection's top-k over ordered keys (see UnitSelection.swift), with AVX2: eight keys per
// instruction, unsigned comparisons as max(a, t) == a, and index masks from movemask. The Swift versions are the
// portable reference; both give identical results (integer work only).

#if defined(__x86_64__)
#include <immintrin.h>

#define SELECTION_TARGET __attribute__((target("avx2,bmi,popcnt")))
#define SELECTION_INLINE static inline __attribute__((always_inline, target("avx2,bmi,popcnt")))

/// All ones where a ≥ t (unsigned), zero elsewhere.
SELECTION_INLINE __m256i at_least(__m256i a, __m256i t) { return _mm256_cmpeq_epi32(_mm256_max_epu32(a, t), a); }

SELECTION_INLINE uint32_t min_lanes(__m256i v) {
    __m128i m = _mm_min_epu32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    m = _mm_min_epu32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_min_epu32(m, _mm_shuffle_epi32(m, 0xB1));
    return (uint32_t)_mm_cvtsi128_si32(m);
}

SELECTION_INLINE uint32_t max_lanes(__m256i v) {
    __m128i m = _mm_max_epu32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0xB1));
    return (uint32_t)_mm_cvtsi128_si32(m);
}

/// Lanes are counted by subtracting the all-ones masks (−1 each).
SELECTION_INLINE intptr_t count_lanes(__m256i negativeCounts) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(negativeCounts), _mm256_extracti128_si256(negativeCounts, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return -(intptr_t)(int32_t)_mm_cvtsi128_si32(s);
}

SELECTION_INLINE uint32_t ordered_key(uint32_t bits) { return bits ^ ((bits & 0x80000000u) ? 0xFFFFFFFFu : 0x80000000u); }

SELECTION_TARGET intptr_t sieve_selection_store_keys_avx2(const float *scores, uint32_t *keys, intptr_t n, uint32_t t,
                                                          uint32_t *smallest, uint32_t *largest) {
    const __m256i sign = _mm256_set1_epi32((int)0x80000000u), vt = _mm256_set1_epi32((int)t);
    __m256i counts = _mm256_setzero_si256(), low = _mm256_set1_epi32(-1), high = _mm256_setzero_si256();
    intptr_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i bits = _mm256_loadu_si256((const __m256i *)(scores + i));
        __m256i v = _mm256_xor_si256(bits, _mm256_or_si256(_mm256_srai_epi32(bits, 31), sign));
        _mm256_storeu_si256((__m256i *)(keys + i), v);
        counts = _mm256_add_epi32(counts, at_least(v, vt));
        low = _mm256_min_epu32(low, v);
        high = _mm256_max_epu32(high, v);
    }
    intptr_t c = count_lanes(counts);
    uint32_t lo = min_lanes(low), hi = max_lanes(high);
    for (; i < n; i++) {
        uint32_t bits;
        __builtin_memcpy(&bits, scores + i, 4);
        uint32_t key = ordered_key(bits);
        keys[i] = key;
        c += key >= t;
        lo = key < lo ? key : lo;
        hi = key > hi ? key : hi;
    }
    *smallest = lo;
    *largest = hi;
    return c;
}

SELECTION_TARGET intptr_t sieve_selection_count_avx2(const uint32_t *keys, intptr_t n, uint32_t t) {
    const __m256i vt = _mm256_set1_epi32((int)t);
    __m256i c0 = _mm256_setzero_si256(), c1 = _mm256_setzero_si256();
    intptr_t i = 0;
    for (; i + 16 <= n; i += 16) {
        c0 = _mm256_add_epi32(c0, at_least(_mm256_loadu_si256((const __m256i *)(keys + i)), vt));
        c1 = _mm256_add_epi32(c1, at_least(_mm256_loadu_si256((const __m256i *)(keys + i + 8)), vt));
    }
    intptr_t c = count_lanes(_mm256_add_epi32(c0, c1));
    for (; i < n; i++) c += keys[i] >= t;
    return c;
}

SELECTION_TARGET intptr_t sieve_selection_probe_avx2(const uint32_t *keys, intptr_t n, uint32_t t, uint32_t *above,
                                                     uint32_t *below) {
    const __m256i vt = _mm256_set1_epi32((int)t), ones = _mm256_set1_epi32(-1);
    __m256i counts = _mm256_setzero_si256(), up = ones, down = _mm256_setzero_si256();
    intptr_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(keys + i));
        __m256i ge = at_least(v, vt);
        counts = _mm256_add_epi32(counts, ge);
        up = _mm256_min_epu32(up, _mm256_or_si256(v, _mm256_xor_si256(ge, ones)));
        down = _mm256_max_epu32(down, _mm256_andnot_si256(ge, v));
    }
    intptr_t c = count_lanes(counts);
    uint32_t lo = min_lanes(up), hi = max_lanes(down);
    for (; i < n; i++) {
        uint32_t key = keys[i];
        if (key >= t) { c++; lo = key < lo ? key : lo; } else { hi = key > hi ? key : hi; }
    }
    *above = lo;
    *below = hi;
    return c;
}

SELECTION_TARGET uint32_t sieve_selection_smallest_at_least_avx2(const uint32_t *keys, intptr_t n, uint32_t t) {
    const __m256i vt = _mm256_set1_epi32((int)t), ones = _mm256_set1_epi32(-1);
    __m256i up = ones;
    intptr_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(keys + i));
        up = _mm256_min_epu32(up, _mm256_or_si256(v, _mm256_xor_si256(at_least(v, vt), ones)));
    }
    uint32_t lo = min_lanes(up);
    for (; i < n; i++) if (keys[i] >= t && keys[i] < lo) lo = keys[i];
    return lo;
}

/// Row m: the lanes of the set bits of the 8-bit mask m, in increasing order (then zeros). Generated; the table is
/// checked against the masks in UnitSelectionTests through `sieve_selection_collect_avx2`.
static const uint8_t set_lanes[256][8] = {
    {0,0,0,0,0,0,0,0}, {0,0,0,0,0,0,0,0}, {1,0,0,0,0,0,0,0}, {0,1,0,0,0,0,0,0}, {2,0,0,0,0,0,0,0}, {0,2,0,0,0,0,0,0}, {1,2,0,0,0,0,0,0}, {0,1,2,0,0,0,0,0},
    {3,0,0,0,0,0,0,0}, {0,3,0,0,0,0,0,0}, {1,3,0,0,0,0,0,0}, {0,1,3,0,0,0,0,0}, {2,3,0,0,0,0,0,0}, {0,2,3,0,0,0,0,0}, {1,2,3,0,0,0,0,0}, {0,1,2,3,0,0,0,0},
    {4,0,0,0,0,0,0,0}, {0,4,0,0,0,0,0,0}, {1,4,0,0,0,0,0,0}, {0,1,4,0,0,0,0,0}, {2,4,0,0,0,0,0,0}, {0,2,4,0,0,0,0,0}, {1,2,4,0,0,0,0,0}, {0,1,2,4,0,0,0,0},
    {3,4,0,0,0,0,0,0}, {0,3,4,0,0,0,0,0}, {1,3,4,0,0,0,0,0}, {0,1,3,4,0,0,0,0}, {2,3,4,0,0,0,0,0}, {0,2,3,4,0,0,0,0}, {1,2,3,4,0,0,0,0}, {0,1,2,3,4,0,0,0},
    {5,0,0,0,0,0,0,0}, {0,5,0,0,0,0,0,0}, {1,5,0,0,0,0,0,0}, {0,1,5,0,0,0,0,0}, {2,5,0,0,0,0,0,0}, {0,2,5,0,0,0,0,0}, {1,2,5,0,0,0,0,0}, {0,1,2,5,0,0,0,0},
    {3,5,0,0,0,0,0,0}, {0,3,5,0,0,0,0,0}, {1,3,5,0,0,0,0,0}, {0,1,3,5,0,0,0,0}, {2,3,5,0,0,0,0,0}, {0,2,3,5,0,0,0,0}, {1,2,3,5,0,0,0,0}, {0,1,2,3,5,0,0,0},
    {4,5,0,0,0,0,0,0}, {0,4,5,0,0,0,0,0}, {1,4,5,0,0,0,0,0}, {0,1,4,5,0,0,0,0}, {2,4,5,0,0,0,0,0}, {0,2,4,5,0,0,0,0}, {1,2,4,5,0,0,0,0}, {0,1,2,4,5,0,0,0},
    {3,4,5,0,0,0,0,0}, {0,3,4,5,0,0,0,0}, {1,3,4,5,0,0,0,0}, {0,1,3,4,5,0,0,0}, {2,3,4,5,0,0,0,0}, {0,2,3,4,5,0,0,0}, {1,2,3,4,5,0,0,0}, {0,1,2,3,4,5,0,0},
    {6,0,0,0,0,0,0,0}, {0,6,0,0,0,0,0,0}, {1,6,0,0,0,0,0,0}, {0,1,6,0,0,0,0,0}, {2,6,0,0,0,0,0,0}, {0,2,6,0,0,0,0,0}, {1,2,6,0,0,0,0,0}, {0,1,2,6,0,0,0,0},
    {3,6,0,0,0,0,0,0}, {0,3,6,0,0,0,0,0}, {1,3,6,0,0,0,0,0}, {0,1,3,6,0,0,0,0}, {2,3,6,0,0,0,0,0}, {0,2,3,6,0,0,0,0}, {1,2,3,6,0,0,0,0}, {0,1,2,3,6,0,0,0},
    {4,6,0,0,0,0,0,0}, {0,4,6,0,0,0,0,0}, {1,4,6,0,0,0,0,0}, {0,1,4,6,0,0,0,0}, {2,4,6,0,0,0,0,0}, {0,2,4,6,0,0,0,0}, {1,2,4,6,0,0,0,0}, {0,1,2,4,6,0,0,0},
    {3,4,6,0,0,0,0,0}, {0,3,4,6,0,0,0,0}, {1,3,4,6,0,0,0,0}, {0,1,3,4,6,0,0,0}, {2,3,4,6,0,0,0,0}, {0,2,3,4,6,0,0,0}, {1,2,3,4,6,0,0,0}, {0,1,2,3,4,6,0,0},
    {5,6,0,0,0,0,0,0}, {0,5,6,0,0,0,0,0}, {1,5,6,0,0,0,0,0}, {0,1,5,6,0,0,0,0}, {2,5,6,0,0,0,0,0}, {0,2,5,6,0,0,0,0}, {1,2,5,6,0,0,0,0}, {0,1,2,5,6,0,0,0},
    {3,5,6,0,0,0,0,0}, {0,3,5,6,0,0,0,0}, {1,3,5,6,0,0,0,0}, {0,1,3,5,6,0,0,0}, {2,3,5,6,0,0,0,0}, {0,2,3,5,6,0,0,0}, {1,2,3,5,6,0,0,0}, {0,1,2,3,5,6,0,0},
    {4,5,6,0,0,0,0,0}, {0,4,5,6,0,0,0,0}, {1,4,5,6,0,0,0,0}, {0,1,4,5,6,0,0,0}, {2,4,5,6,0,0,0,0}, {0,2,4,5,6,0,0,0}, {1,2,4,5,6,0,0,0}, {0,1,2,4,5,6,0,0},
    {3,4,5,6,0,0,0,0}, {0,3,4,5,6,0,0,0}, {1,3,4,5,6,0,0,0}, {0,1,3,4,5,6,0,0}, {2,3,4,5,6,0,0,0}, {0,2,3,4,5,6,0,0}, {1,2,3,4,5,6,0,0}, {0,1,2,3,4,5,6,0},
    {7,0,0,0,0,0,0,0}, {0,7,0,0,0,0,0,0}, {1,7,0,0,0,0,0,0}, {0,1,7,0,0,0,0,0}, {2,7,0,0,0,0,0,0}, {0,2,7,0,0,0,0,0}, {1,2,7,0,0,0,0,0}, {0,1,2,7,0,0,0,0},
    {3,7,0,0,0,0,0,0}, {0,3,7,0,0,0,0,0}, {1,3,7,0,0,0,0,0}, {0,1,3,7,0,0,0,0}, {2,3,7,0,0,0,0,0}, {0,2,3,7,0,0,0,0}, {1,2,3,7,0,0,0,0}, {0,1,2,3,7,0,0,0},
    {4,7,0,0,0,0,0,0}, {0,4,7,0,0,0,0,0}, {1,4,7,0,0,0,0,0}, {0,1,4,7,0,0,0,0}, {2,4,7,0,0,0,0,0}, {0,2,4,7,0,0,0,0}, {1,2,4,7,0,0,0,0}, {0,1,2,4,7,0,0,0},
    {3,4,7,0,0,0,0,0}, {0,3,4,7,0,0,0,0}, {1,3,4,7,0,0,0,0}, {0,1,3,4,7,0,0,0}, {2,3,4,7,0,0,0,0}, {0,2,3,4,7,0,0,0}, {1,2,3,4,7,0,0,0}, {0,1,2,3,4,7,0,0},
    {5,7,0,0,0,0,0,0}, {0,5,7,0,0,0,0,0}, {1,5,7,0,0,0,0,0}, {0,1,5,7,0,0,0,0}, {2,5,7,0,0,0,0,0}, {0,2,5,7,0,0,0,0}, {1,2,5,7,0,0,0,0}, {0,1,2,5,7,0,0,0},
    {3,5,7,0,0,0,0,0}, {0,3,5,7,0,0,0,0}, {1,3,5,7,0,0,0,0}, {0,1,3,5,7,0,0,0}, {2,3,5,7,0,0,0,0}, {0,2,3,5,7,0,0,0}, {1,2,3,5,7,0,0,0}, {0,1,2,3,5,7,0,0},
    {4,5,7,0,0,0,0,0}, {0,4,5,7,0,0,0,0}, {1,4,5,7,0,0,0,0}, {0,1,4,5,7,0,0,0}, {2,4,5,7,0,0,0,0}, {0,2,4,5,7,0,0,0}, {1,2,4,5,7,0,0,0}, {0,1,2,4,5,7,0,0},
    {3,4,5,7,0,0,0,0}, {0,3,4,5,7,0,0,0}, {1,3,4,5,7,0,0,0}, {0,1,3,4,5,7,0,0}, {2,3,4,5,7,0,0,0}, {0,2,3,4,5,7,0,0}, {1,2,3,4,5,7,0,0}, {0,1,2,3,4,5,7,0},
    {6,7,0,0,0,0,0,0}, {0,6,7,0,0,0,0,0}, {1,6,7,0,0,0,0,0}, {0,1,6,7,0,0,0,0}, {2,6,7,0,0,0,0,0}, {0,2,6,7,0,0,0,0}, {1,2,6,7,0,0,0,0}, {0,1,2,6,7,0,0,0},
    {3,6,7,0,0,0,0,0}, {0,3,6,7,0,0,0,0}, {1,3,6,7,0,0,0,0}, {0,1,3,6,7,0,0,0}, {2,3,6,7,0,0,0,0}, {0,2,3,6,7,0,0,0}, {1,2,3,6,7,0,0,0}, {0,1,2,3,6,7,0,0},
    {4,6,7,0,0,0,0,0}, {0,4,6,7,0,0,0,0}, {1,4,6,7,0,0,0,0}, {0,1,4,6,7,0,0,0}, {2,4,6,7,0,0,0,0}, {0,2,4,6,7,0,0,0}, {1,2,4,6,7,0,0,0}, {0,1,2,4,6,7,0,0},
    {3,4,6,7,0,0,0,0}, {0,3,4,6,7,0,0,0}, {1,3,4,6,7,0,0,0}, {0,1,3,4,6,7,0,0}, {2,3,4,6,7,0,0,0}, {0,2,3,4,6,7,0,0}, {1,2,3,4,6,7,0,0}, {0,1,2,3,4,6,7,0},
    {5,6,7,0,0,0,0,0}, {0,5,6,7,0,0,0,0}, {1,5,6,7,0,0,0,0}, {0,1,5,6,7,0,0,0}, {2,5,6,7,0,0,0,0}, {0,2,5,6,7,0,0,0}, {1,2,5,6,7,0,0,0}, {0,1,2,5,6,7,0,0},
    {3,5,6,7,0,0,0,0}, {0,3,5,6,7,0,0,0}, {1,3,5,6,7,0,0,0}, {0,1,3,5,6,7,0,0}, {2,3,5,6,7,0,0,0}, {0,2,3,5,6,7,0,0}, {1,2,3,5,6,7,0,0}, {0,1,2,3,5,6,7,0},
    {4,5,6,7,0,0,0,0}, {0,4,5,6,7,0,0,0}, {1,4,5,6,7,0,0,0}, {0,1,4,5,6,7,0,0}, {2,4,5,6,7,0,0,0}, {0,2,4,5,6,7,0,0}, {1,2,4,5,6,7,0,0}, {0,1,2,4,5,6,7,0},
    {3,4,5,6,7,0,0,0}, {0,3,4,5,6,7,0,0}, {1,3,4,5,6,7,0,0}, {0,1,3,4,5,6,7,0}, {2,3,4,5,6,7,0,0}, {0,2,3,4,5,6,7,0}, {1,2,3,4,5,6,7,0}, {0,1,2,3,4,5,6,7}
};

SELECTION_TARGET intptr_t sieve_selection_collect_avx2(const uint32_t *keys, intptr_t n, uint32_t t, intptr_t k,
                                                       intptr_t *selected) {
    const __m256i vt = _mm256_set1_epi32((int)t);
    intptr_t j = 0, i = 0;
    // Eight keys at a time without a branch per index: the group's mask picks its set lanes from the table, and
    // all eight slots are written (j + 8 ≤ k, so nothing past selected[k − 1]); the next group overwrites the
    // slots past the ones it kept.
    for (; i + 8 <= n && j + 8 <= k; i += 8) {
        uint32_t mask = (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(at_least(_mm256_loadu_si256((const __m256i *)(keys + i)), vt)));
        __m256i lanes = _mm256_add_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)set_lanes[mask])),
                                         _mm256_set1_epi32((int)i));
        _mm256_storeu_si256((__m256i *)(selected + j), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(lanes)));
        _mm256_storeu_si256((__m256i *)(selected + j + 4), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(lanes, 1)));
        j += __builtin_popcount(mask);
    }
    // The last few: one index at a time.
    for (; i + 8 <= n && j < k; i += 8) {
        uint32_t mask = (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(at_least(_mm256_loadu_si256((const __m256i *)(keys + i)), vt)));
        while (mask != 0 && j < k) {
            selected[j++] = i + (intptr_t)__builtin_ctz(mask);
            mask &= mask - 1;
        }
    }
    for (; i < n && j < k; i++) {
        if (keys[i] >= t) selected[j++] = i;
    }
    return j;
}

#endif
