#ifndef SIEVE_CSIEVEKERNELS_H
#define SIEVE_CSIEVEKERNELS_H
#include <stdint.h>

/// 1 when the CPU has AVX-512 VNNI (+ VL, AVX2, FMA, F16C), so the *_vnni kernels may be called.
int sieve_cpu_has_avx512_vnni(void);

/// Dot products of four Q4_1 rows (nb blocks each) with activations quantized to 8-bit blocks of 32
/// (xq: int8 values, xd: per-block scales, xs: per-block scale * sum of the block's int8 values).
void sieve_q4_1_dot_rows4_vnni(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2, const uint8_t *r3, int nb,
                               const int8_t *xq, const float *xd, const float *xs, float *out);

/// Dot products of four Q8_0 rows (nb blocks each) with activations quantized to 8-bit blocks of 32.
void sieve_q8_0_dot_rows4_vnni(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2, const uint8_t *r3, int nb,
                               const int8_t *xq, const float *xd, float *out);
#endif
