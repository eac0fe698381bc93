#ifndef SIEVE_CSIEVEKERNELS_H
#define SIEVE_CSIEVEKERNELS_H
#include <stdint.h>

/// 1 when the CPU has AVX-512 VNNI (+ VL, BW, AVX2, FMA, F16C), so the *_vnni kernels may be called; 0 otherwise
/// (always 0 off x86-64).
int sieve_cpu_has_avx512_vnni(void);

/// 1 when the CPU has AVX2, FMA and F16C, so the *_avx2 kernels may be called; 0 otherwise (always 0 off x86-64).
int sieve_cpu_has_avx2(void);

/// A Swift closure `(Range<Int>, Int) -> Void` as its two machine words, for SieveKernels' thread pool.
typedef struct {
    void *function;
    void *context;
} SievePoolBody;

/// Calls the closure in `body` with the range `lower..<upper` and `thread` (Swift calling convention: the range's
/// two bounds and the thread index as arguments, the context in the Swift context register). The closure must
/// be alive. The words are stored by `sieve_pool_body_capture`, which Swift declares itself (ThreadPool.swift).
void sieve_pool_body_call(const SievePoolBody *body, intptr_t lower, intptr_t upper, intptr_t thread);

/// Asks the CPU to bring the cache lines of `bytes` bytes at `p` into the caches (a hint: no fault, no effect on
/// results). For rows read in an order the hardware prefetcher cannot guess: listed rows of a sparse layer.
/// Every line the bytes touch is asked for, the last one too when `p` is not at a line start.
static inline void sieve_prefetch(const void *p, intptr_t bytes) {
    const char *end = (const char *)p + bytes;
    for (const char *c = (const char *)((uintptr_t)p & ~(uintptr_t)63); c < end; c += 64) __builtin_prefetch(c, 0, 3);
}

/// f16 weights (HalfRows.c). `scaled[0..<n]` = `x[0..<n]` · 2^112, the activations the kernels below multiply with
/// their integer-converted halves; returns 0 (and the kernels must get no scaled activations) when some |x| is 2^16
/// or more, or not finite, where that product would overflow. Always 0 off x86-64.
int sieve_half_scale_activations(const float *x, intptr_t n, float *scaled);

#if defined(__x86_64__)
// Dot products of four rows of 32-element blocks (nb blocks each; r0…r3 point at the rows' first blocks) with
// one token's activations quantized to 8-bit blocks of 32 (ggml's q8_0/q8_1): xq holds 32·nb int8 codes, xd
// the per-block scales (x ≈ xd[b]·xq, f16-rounded values), xs a per-block sum: for q4_1 q8_1's s (the
// f16-rounded scale·Σxq, multiplied with the block min), for q4_0 xd[b]·Σxq (times the code offset −8).
// out[i] receives the dot product of row i. Each kernel exists twice, with the same integer block sums (the float
// accumulation order differs, so results agree to rounding): *_vnni (call only when sieve_cpu_has_avx512_vnni()
// returns 1) and *_avx2 (only when sieve_cpu_has_avx2() returns 1).
#define SIEVE_ROW_KERNELS(suffix) \
    /** Q4_1 rows (20-byte blocks: f16 scale, f16 min, 16 bytes of nibbles). */ \
    void sieve_q4_1_dot_rows4_##suffix(const void *r0, const void *r1, const void *r2, const void *r3, int nb, \
                                       const int8_t *xq, const float *xd, const float *xs, float *out); \
    /** Q4_0 rows (18-byte blocks: f16 scale, 16 bytes of nibbles with offset 8). */ \
    void sieve_q4_0_dot_rows4_##suffix(const void *r0, const void *r1, const void *r2, const void *r3, int nb, \
                                       const int8_t *xq, const float *xd, const float *xs, float *out); \
    /** Q5_0 rows (22-byte blocks: f16 scale, 32 fifth bits, 16 bytes of nibbles; offset 16; xs as for q4_0). */ \
    void sieve_q5_0_dot_rows4_##suffix(const void *r0, const void *r1, const void *r2, const void *r3, int nb, \
                                       const int8_t *xq, const float *xd, const float *xs, float *out); \
    /** Q5_1 rows (24-byte blocks: f16 scale, f16 min, 32 fifth bits, 16 bytes of nibbles; xs as for q4_1). */ \
    void sieve_q5_1_dot_rows4_##suffix(const void *r0, const void *r1, const void *r2, const void *r3, int nb, \
                                       const int8_t *xq, const float *xd, const float *xs, float *out); \
    /** Q8_0 rows (34-byte blocks: f16 scale, 32 int8 codes; xs is not needed) `rows[0..<count]` of the */ \
    /** matrix at `base` (`rowBytes` bytes per row), four at a time: */ \
    /** `y[rows[i]]` receives row `rows[i]`'s dot product (the loop stays in C: for short rows the per-call */ \
    /** cost of the four-row kernel is as large as the products). */ \
    void sieve_q8_0_dot_list_##suffix(const void *base, intptr_t rowBytes, const intptr_t *rows, intptr_t count, \
                                      int nb, const int8_t *xq, const float *xd, float *y);
SIEVE_ROW_KERNELS(vnni)
SIEVE_ROW_KERNELS(avx2)

// Dot products of four rows of 256-element K-quant super-blocks (nsb each, ggml's layouts) with one token's
// activations quantized to q8_K: xq holds 256·nsb int8 codes, xd the per-super-block scales, bsums the sums of
// each 16 consecutive codes (16 per super-block). out[i] receives row i's dot product. Each kernel exists as *_vnni
// and *_avx2 with the same integer sums per super-block (call only where sieve_cpu_has_avx512_vnni(), respectively
// sieve_cpu_has_avx2(), returns 1).
#define SIEVE_K_ROW_KERNELS(suffix) \
    /** Q4_K rows (144-byte super-blocks: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128 of nibbles). */ \
    void sieve_q4_K_dot_rows4_##suffix(const void *r0, const void *r1, const void *r2, const void *r3, int nsb, \
                                       const int8_t *xq, const float *xd, const int16_t *bsums, float *out); \
    /** Q5_K rows (176 bytes: as q4_K, with 32 bytes of fifth bits before the nibbles). */ \
    void sieve_q5_K_dot_rows4_##suffix(const void *r0, const void *r1, const void *r2, const void *r3, int nsb, \
                                       const int8_t *xq, const float *xd, const int16_t *bsums, float *out); \
    /** Q4_K and Q5_K rows with `tokens` tokens' activations (for prefill), each row's super-blocks unpacked once */ \
    /** per 16 tokens: token t's codes, scales and block sums at xq + 256·nsb·t, xd + nsb·t, bsums + 16·nsb·t */ \
    /** (each as for one token); row i's product with token t goes to out[outStride·t + i]. Bit for bit the */ \
    /** results of one sieve_q4_K_dot_rows4 (q5_K) call per token. Made for tiles of 1…16 tokens (more are */ \
    /** split into tiles of 16; tokens ≤ 0 writes nothing). */ \
    void sieve_q4_K_dot_rows4_tokens_##suffix(const void *r0, const void *r1, const void *r2, const void *r3, int nsb, \
                                              int tokens, const int8_t *xq, const float *xd, const int16_t *bsums, \
                                              float *out, intptr_t outStride); \
    void sieve_q5_K_dot_rows4_tokens_##suffix(const void *r0, const void *r1, const void *r2, const void *r3, int nsb, \
                                              int tokens, const int8_t *xq, const float *xd, const int16_t *bsums, \
                                              float *out, intptr_t outStride); \
    /** Q6_K rows (210 bytes: 128 of low nibbles, 64 of high bit pairs, 16 int8 scales, f16 d). */ \
    void sieve_q6_K_dot_rows4_##suffix(const void *r0, const void *r1, const void *r2, const void *r3, int nsb, \
                                       const int8_t *xq, const float *xd, const int16_t *bsums, float *out); \
    /** Q2_K rows (84 bytes: 16 bytes of 4-bit scales and mins, 64 of 2-bit codes, f16 d, f16 dmin). */ \
    void sieve_q2_K_dot_rows4_##suffix(const void *r0, const void *r1, const void *r2, const void *r3, int nsb, \
                                       const int8_t *xq, const float *xd, const int16_t *bsums, float *out); \
    /** Q3_K rows (110 bytes: 32 of high bits, 64 of low 2-bit codes, 12 of 6-bit scales, f16 d). */ \
    void sieve_q3_K_dot_rows4_##suffix(const void *r0, const void *r1, const void *r2, const void *r3, int nsb, \
                                       const int8_t *xq, const float *xd, const int16_t *bsums, float *out);
SIEVE_K_ROW_KERNELS(vnni)
SIEVE_K_ROW_KERNELS(avx2)

/// Q2_K, Q3_K and Q6_K rows with `tokens` tokens' activations, laid out and computed as the Q4_K one: bit for bit
/// the results of one sieve_q2_K_dot_rows4_avx2 (q3_K, q6_K) call per token. AVX2 only: with VNNI their prefill
/// runs in sieve_k16_panel_rows_vnni.
#define SIEVE_K16_TOKEN_KERNELS(suffix) \
    void sieve_q2_K_dot_rows4_tokens_##suffix(const void *r0, const void *r1, const void *r2, const void *r3, int nsb, \
                                              int tokens, const int8_t *xq, const float *xd, const int16_t *bsums, \
                                              float *out, intptr_t outStride); \
    void sieve_q3_K_dot_rows4_tokens_##suffix(const void *r0, const void *r1, const void *r2, const void *r3, int nsb, \
                                              int tokens, const int8_t *xq, const float *xd, const int16_t *bsums, \
                                              float *out, intptr_t outStride); \
    void sieve_q6_K_dot_rows4_tokens_##suffix(const void *r0, const void *r1, const void *r2, const void *r3, int nsb, \
                                              int tokens, const int8_t *xq, const float *xd, const int16_t *bsums, \
                                              float *out, intptr_t outStride);
SIEVE_K16_TOKEN_KERNELS(avx2)

// Dot products of four rows of ggml's iq4 formats, whose 4-bit codes index the 16 int8 values of one code book,
// with one token's activations: iq4_nl as the q4_0 kernels above (q8_0 activations, no xs), iq4_xs as the K-quant
// kernels (q8_K activations; bsums is not read). out[i] receives row i's dot product. Each kernel exists as *_vnni
// and *_avx2 with the same integer sums per block (call only where sieve_cpu_has_avx512_vnni(), respectively
// sieve_cpu_has_avx2(), returns 1).
#define SIEVE_IQ_ROW_KERNELS(suffix) \
    /** IQ4_NL rows (18-byte blocks of 32: f16 d, 16 bytes of nibbles ordered as q4_0's). */ \
    void sieve_iq4_nl_dot_rows4_##suffix(const void *r0, const void *r1, const void *r2, const void *r3, int nb, \
                                         const int8_t *xq, const float *xd, float *out); \
    /** MXFP4 rows (17-byte blocks of 32: an E8M0 byte e, then 16 bytes of nibbles ordered as q4_0's indexing */ \
    /** ggml's kvalues_mxfp4; d = 2^(e − 128)), with q8_0 activations as IQ4_NL's. */ \
    void sieve_mxfp4_dot_rows4_##suffix(const void *r0, const void *r1, const void *r2, const void *r3, int nb, \
                                        const int8_t *xq, const float *xd, float *out); \
    /** IQ4_XS rows (136-byte super-blocks: f16 d, u16 scales_h, 4 bytes scales_l, 128 bytes of nibbles; 8 */ \
    /** sub-blocks of 32 with 6-bit scales − 32, each's nibbles as an IQ4_NL block). */ \
    void sieve_iq4_xs_dot_rows4_##suffix(const void *r0, const void *r1, const void *r2, const void *r3, int nsb, \
                                         const int8_t *xq, const float *xd, const int16_t *bsums, float *out); \
    /** IQ4_XS rows with `tokens` tokens' activations, laid out and computed as sieve_q4_K_dot_rows4_tokens: bit */ \
    /** for bit the results of one sieve_iq4_xs_dot_rows4 call per token. */ \
    void sieve_iq4_xs_dot_rows4_tokens_##suffix(const void *r0, const void *r1, const void *r2, const void *r3, \
                                                int nsb, int tokens, const int8_t *xq, const float *xd, \
                                                const int16_t *bsums, float *out, intptr_t outStride);
SIEVE_IQ_ROW_KERNELS(vnni)
SIEVE_IQ_ROW_KERNELS(avx2)

/// ggml's grid i-quant types (super-blocks of 256 elements whose indices pick entries of the grids in CSieveGrids.h,
/// with sign bits and integer scales 2s + 1 per 16 or 32 elements; iq1_s and iq1_m add a shift δ = ±1/8 per 32 or 8
/// elements), for `sieve_grid_dot_rows4` and `sieve_grid_dot_rows4_tokens`.
typedef enum {
    /** 66-byte super-blocks: f16 d; per 32 elements 4 index bytes and a word of four 7-bit sign indices and s; d/8·(2s + 1) per 32. */
    SIEVE_GRID_IQ2_XXS = 0,
    /** 74 bytes: f16 d, 32 words of a 9-bit index and a 7-bit sign index, 8 bytes of 4-bit s; d/8·(2s + 1) per 16. */
    SIEVE_GRID_IQ2_XS = 1,
    /** 82 bytes: f16 d, 32 low index bytes, 32 sign bytes, 8 bytes of index bits 8…9, 8 of 4-bit s; d/8·(2s + 1) per 16. */
    SIEVE_GRID_IQ2_S = 2,
    /** 98 bytes: f16 d, 64 index bytes (4 elements each), per 32 elements a word of four 7-bit sign indices and s; d/4·(2s + 1) per 32. */
    SIEVE_GRID_IQ3_XXS = 3,
    /** 110 bytes: f16 d, 64 low index bytes, 8 bytes of index bit 8, 32 sign bytes, 4 bytes of 4-bit s; d·(2s + 1) per 32. */
    SIEVE_GRID_IQ3_S = 4,
    /** 50 bytes: f16 d, 32 low index bytes, per 32 elements a word of index bits 8…10, 3-bit s and δ's sign; d·(2s + 1)·(g + δ). */
    SIEVE_GRID_IQ1_S = 5,
    /** 56 bytes: 32 low index bytes, a nibble per 8 elements (index bits 8…10, δ's sign), 3-bit s per 16, the f16 d in the top nibbles of the scale words. */
    SIEVE_GRID_IQ1_M = 6,
} SieveGridType;

// Dot products of four rows of a grid i-quant type (`SieveGridType`; nsb super-blocks each, ggml's layouts) with
// q8_K activations as the K-quant kernels above (bsums are not needed). Each super-block is decoded to signed grid
// values and integer scales, whose products with the codes are summed exactly in int32. Each kernel exists as *_vnni
// (signs applied with AVX-512 BW masks, `vpdpwssd`) and *_avx2 (`vpsignb`), with the same integer sums and float
// operations, hence the same results (call only where sieve_cpu_has_avx512_vnni(), respectively sieve_cpu_has_avx2(),
// returns 1).
#define SIEVE_GRID_ROW_KERNELS(suffix) \
    /** Four rows of `type`: out[i] receives row i's dot product with one token's activations. */ \
    void sieve_grid_dot_rows4_##suffix(SieveGridType type, const void *r0, const void *r1, const void *r2, const void *r3, \
                                       int nsb, const int8_t *xq, const float *xd, float *out);
SIEVE_GRID_ROW_KERNELS(vnni)
SIEVE_GRID_ROW_KERNELS(avx2)

/// The same four rows with `tokens` tokens' activations (for prefill; token t's codes at xq + 256·nsb·t, its scales at
/// xd + nsb·t), row i's product with token t to out[outStride·t + i]: each row's super-blocks are decoded once per 16
/// tokens. Bit for bit the results of one sieve_grid_dot_rows4_avx2 call per token. AVX2 only: with VNNI grid
/// prefill runs in sieve_grid_panel_rows_vnni.
void sieve_grid_dot_rows4_tokens_avx2(SieveGridType type, const void *r0, const void *r1, const void *r2, const void *r3,
                                      int nsb, int tokens, const int8_t *xq, const float *xd, float *out,
                                      intptr_t outStride);

/// Prefill tokens' q8_K activations laid out for the VNNI panel kernels (sieve_q8K_token_panels), in tiles of 16
/// tokens: for tile T and super-block sb (at = nsb·T + sb), at codes + 4096·at 64 groups of four columns, each the 16
/// tokens' four codes + 128 as unsigned bytes (64 bytes); at scales + 16·at the 16 tokens' scales; at sums + 128·at,
/// for j = 0…7, the 16 tokens' block sums 2j and 2j + 1 as two int16 in an int32 each. Buffers of 4096, 16 and 128
/// elements per tile and super-block.
typedef struct {
    uint8_t *codes;
    float *scales;
    int32_t *sums;
} SieveTokenPanels;

/// Lays out `tokens` tokens' q8_K activations (token t's codes at xq + 256·nsb·t, its scales at xd + nsb·t, its block
/// sums at bsums + 16·nsb·t) in `out`. Tokens past `tokens` in the last tile get codes 128 (zero), sums 0 and scale 0.
void sieve_q8K_token_panels(const int8_t *xq, const float *xd, const int16_t *bsums, int tokens, int nsb,
                            const SieveTokenPanels *out);

/// Rows 0…nrows−1 of a grid i-quant matrix (row r at rows + rowBytes·r, nsb super-blocks) times `tokens` tokens laid
/// out by sieve_q8K_token_panels, row r's product with token t to out[outStride·t + r]: each super-block of eight rows
/// is decoded once to signed bytes for up to 128 tokens and multiplied with 16 tokens per `vpdpbusd`. Bit for bit the
/// results of sieve_grid_dot_rows4_vnni per token (call only where sieve_cpu_has_avx512_vnni() returns 1).
void sieve_grid_panel_rows_vnni(SieveGridType type, const void *rows, intptr_t rowBytes, int nrows, int nsb, int tokens,
                                const SieveTokenPanels *x, float *out, intptr_t outStride);

/// sieve_grid_panel_rows_vnni for q2_K (`bits` 2), q3_K (3) or q6_K (6) rows: bit for bit the results of
/// sieve_q2_K_dot_rows4_vnni (…_q3_K_…, …_q6_K_…) per token.
void sieve_k16_panel_rows_vnni(int bits, const void *rows, intptr_t rowBytes, int nrows, int nsb, int tokens,
                               const SieveTokenPanels *x, float *out, intptr_t outStride);

/// `y[0..<rows]` = the products of a q8_0 matrix re-laid 16 rows at a time (`InterleavedQ8Matrix`, 64-byte
/// aligned) with one token's activations quantized to q8_0 (`xq` codes, `xd` block scales, `xo[b]` = −128 · the sum
/// of block b's codes). Per group of 16 rows and block of 32 columns: the 16 row scales (f32), then 8 × 64 bytes:
/// for columns 4c…4c+3, each of the 16 rows' four codes + 128 as unsigned bytes. Rows past `rows` in the last
/// group are computed but not stored.
void sieve_q8_0_interleaved16_vnni(const void *packed, intptr_t rows, int nb, const int8_t *xq, const float *xd,
                                   const int32_t *xo, float *y);
/// The same product with AVX2 alone (call only when sieve_cpu_has_avx2() returns 1), on the same layout but with
/// the codes stored as they are (signed bytes, not + 128), so no offset sums are needed.
void sieve_q8_0_interleaved16_avx2(const void *packed, intptr_t rows, int nb, const int8_t *xq, const float *xd, float *y);

/// `y[t·yStride ..< t·yStride + 16·groups]` = the products of `groups` groups of 16 q4_1 (or q4_0) rows re-laid 16
/// rows at a time (the interleaved `WeightMatrix` layout) with the 8-bit activations of token t (`xq`, `xd`, and `xs`
/// as for the row kernels above, token t's at `xq + t·xStride`, `xd + t·bStride`, `xs + t·bStride`), for `tokens`
/// (1…8) tokens: one token is a decode product, more a prefill tile, each token's results bit for bit those of a
/// call with it alone. Per group and block of 32 columns: the 16 rows' f16 scales, for q4_1 their 16 f16 mins, then
/// 4 × 64 bytes of codes: chunk c holds, for each of the 16 rows in turn, its code bytes 4c…4c+3 as in the row
/// layout (so a group block is exactly 16 blocks' bytes: 320 for q4_1, 288 for q4_0). The `_avx2` forms need
/// sieve_cpu_has_avx2() to return 1.
void sieve_q4_1_interleaved16_tokens_vnni(const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq,
                                          intptr_t xStride, const float *xd, const float *xs, intptr_t bStride, float *y,
                                          intptr_t yStride);
void sieve_q4_0_interleaved16_tokens_vnni(const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq,
                                          intptr_t xStride, const float *xd, const float *xs, intptr_t bStride, float *y,
                                          intptr_t yStride);
void sieve_q4_1_interleaved16_tokens_avx2(const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq,
                                          intptr_t xStride, const float *xd, const float *xs, intptr_t bStride, float *y,
                                          intptr_t yStride);
void sieve_q4_0_interleaved16_tokens_avx2(const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq,
                                          intptr_t xStride, const float *xd, const float *xs, intptr_t bStride, float *y,
                                          intptr_t yStride);

/// The products of q5_0 (q5_1) rows re-laid 16 at a time: per group block the 16 f16 scales (q5_1: then the 16 f16
/// mins), the 16 rows' 32-bit fifth bits (qh, 64 bytes), then the nibbles as q4_0's (q4_1's); `xs` as for q4_0
/// (q4_1). For `tokens` (1…8) tokens laid out as above; one token is the decode product.
void sieve_q5_0_interleaved16_tokens_vnni(const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq,
                                          intptr_t xStride, const float *xd, const float *xs, intptr_t bStride, float *y,
                                          intptr_t yStride);
void sieve_q5_1_interleaved16_tokens_vnni(const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq,
                                          intptr_t xStride, const float *xd, const float *xs, intptr_t bStride, float *y,
                                          intptr_t yStride);
void sieve_q5_0_interleaved16_tokens_avx2(const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq,
                                          intptr_t xStride, const float *xd, const float *xs, intptr_t bStride, float *y,
                                          intptr_t yStride);
void sieve_q5_1_interleaved16_tokens_avx2(const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq,
                                          intptr_t xStride, const float *xd, const float *xs, intptr_t bStride, float *y,
                                          intptr_t yStride);

/// The products of iq4_nl rows re-laid as q4_0's (16 f16 scales, then the codes), for `tokens` (1…8) tokens laid out
/// as above; `xsum[t·bStride + b]` is the sum of token t's codes in block b (VNNI offsets the book by 128 and takes it
/// back from it; AVX2 does not read it). One token is the decode product.
void sieve_iq4_nl_interleaved16_tokens_vnni(const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq,
                                            intptr_t xStride, const float *xd, const int32_t *xsum, intptr_t bStride,
                                            float *y, intptr_t yStride);
void sieve_iq4_nl_interleaved16_tokens_avx2(const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq,
                                            intptr_t xStride, const float *xd, const int32_t *xsum, intptr_t bStride,
                                            float *y, intptr_t yStride);

/// iq4_xs groups in the 16-row layout (per group of 16 rows and super-block of 256 columns: the rows' f16 d, their
/// scales_h, their scales_l as one int32 per row, then 32 chunks of 64 code bytes, sub-block j's 16 bytes per row in
/// chunks 4j…4j+3 as an iq4_nl block's), for `tokens` (1…8) tokens with 8-bit super-block activations (q8_K):
/// token t's codes at `xq + t·xStride`, its scales at `xd[t·bStride + sb]`, its 16-code sums at
/// `bsums[16·(t·bStride + sb) + i]` (read by VNNI only). `nsb` super-blocks per row; one token is the decode product.
void sieve_iq4_xs_interleaved16_tokens_vnni(const void *packed, intptr_t groups, int nsb, int tokens, const int8_t *xq,
                                            intptr_t xStride, const float *xd, const int16_t *bsums, intptr_t bStride,
                                            float *y, intptr_t yStride);
void sieve_iq4_xs_interleaved16_tokens_avx2(const void *packed, intptr_t groups, int nsb, int tokens, const int8_t *xq,
                                            intptr_t xStride, const float *xd, const int16_t *bsums, intptr_t bStride,
                                            float *y, intptr_t yStride);

/// q4_K groups in the 16-row layout (per group of 16 rows and super-block: the rows' f16 d, their f16 dmin, their 12
/// bytes of scales and mins as three int32 per row, then 32 chunks of 64 code bytes, chunk c holding each row's code
/// bytes 4c…4c+3), with the activations of the iq4_xs kernels above (both kernels read the bsums).
void sieve_q4_K_interleaved16_tokens_vnni(const void *packed, intptr_t groups, int nsb, int tokens, const int8_t *xq,
                                          intptr_t xStride, const float *xd, const int16_t *bsums, intptr_t bStride,
                                          float *y, intptr_t yStride);
void sieve_q4_K_interleaved16_tokens_avx2(const void *packed, intptr_t groups, int nsb, int tokens, const int8_t *xq,
                                          intptr_t xStride, const float *xd, const int16_t *bsums, intptr_t bStride,
                                          float *y, intptr_t yStride);
/// q5_K groups: the same layout with each row's 32 bytes of fifth bits (qh) as 8 chunks between the scale words and
/// the codes.
void sieve_q5_K_interleaved16_tokens_vnni(const void *packed, intptr_t groups, int nsb, int tokens, const int8_t *xq,
                                          intptr_t xStride, const float *xd, const int16_t *bsums, intptr_t bStride,
                                          float *y, intptr_t yStride);
void sieve_q5_K_interleaved16_tokens_avx2(const void *packed, intptr_t groups, int nsb, int tokens, const int8_t *xq,
                                          intptr_t xStride, const float *xd, const int16_t *bsums, intptr_t bStride,
                                          float *y, intptr_t yStride);

/// The products of q8_0 rows re-laid 16 at a time as model weights (`WeightMatrix.interleaved()`: per group block the
/// 16 f16 scales, then 8 × 64 bytes, chunk c holding each row's codes 4c…4c+3), for `tokens` (1…8) tokens laid out
/// as above; `xsum` as for iq4_nl (read by VNNI only).
void sieve_q8_0_interleaved16_tokens_vnni(const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq,
                                          intptr_t xStride, const float *xd, const int32_t *xsum, intptr_t bStride,
                                          float *y, intptr_t yStride);
void sieve_q8_0_interleaved16_tokens_avx2(const void *packed, intptr_t groups, int nb, int tokens, const int8_t *xq,
                                          intptr_t xStride, const float *xd, const int32_t *xsum, intptr_t bStride,
                                          float *y, intptr_t yStride);

/// `y[rows[i]]` = the dot product of f16 row `rows[i]` (of `n` values; `rowBytes` apart from `base`) with `x`, for
/// `i` in `0..<count`, four rows at a time. `xs` is `x` scaled by `sieve_half_scale_activations`, or NULL: the sums
/// are the same either way (bit for bit), `xs` only makes them faster. With `prefetch`, rows are prefetched two
/// groups ahead (for selected rows, whose order the hardware prefetcher cannot guess). Call only when
/// sieve_cpu_has_avx2() returns 1.
void sieve_f16_dot_list_avx2(const void *base, intptr_t rowBytes, const intptr_t *rows, intptr_t count, intptr_t n,
                             const float *x, const float *xs, int prefetch, float *y);

/// `y[first ..< first + columns]` = Σ_i a[r]·W[r, first ..< first + columns] over the rows r of the selection in
/// order (row i: `blocks[i / blockRows]·blockRows + i % blockRows`, or i when `blocks` is NULL; `count` rows),
/// skipping rows with a[r] = 0, each column summed with fused multiply-adds from zero in row order (the non-zero
/// rows added four at a time). Rows of a selection are prefetched ahead. With `mixed` non-zero, half of the values
/// of four rows whose |a| < 2^16 are converted with integer instructions (same sums). Call only when
/// sieve_cpu_has_avx2() returns 1.
void sieve_f16_accumulate_avx2(const void *base, intptr_t rowBytes, const intptr_t *blocks, intptr_t blockRows,
                               intptr_t count, const float *a, intptr_t first, intptr_t columns, float *y, int mixed);

// The passes of `UnitSelection`'s top-k over ordered 32-bit keys (SelectionPasses.c), with AVX2 (call only when
// sieve_cpu_has_avx2() returns 1); each gives exactly what its Swift version in UnitSelection.swift gives.

/// `nb` MXFP4 blocks (17 bytes: an E8M0 byte e, 16 bytes of nibbles as q4_0's) decoded to 32·nb floats, each code's
/// value in ggml's kvalues_mxfp4 times 2^(e − 128), bit for bit as QuantizedCodecs' reference (call only when
/// sieve_cpu_has_avx2() returns 1).
void sieve_mxfp4_decode_avx2(const void *blocks, intptr_t nb, float *out);

/// Stores the ordered keys of `scores[0..<n]` in `keys`; returns how many are ≥ `t`, with the smallest and the
/// largest key in `*smallest` and `*largest`.
intptr_t sieve_selection_store_keys_avx2(const float *scores, uint32_t *keys, intptr_t n, uint32_t t,
                                         uint32_t *smallest, uint32_t *largest);
/// How many of `keys[0..<n]` are ≥ `t`.
intptr_t sieve_selection_count_avx2(const uint32_t *keys, intptr_t n, uint32_t t);
/// How many of `keys[0..<n]` are ≥ `t`; `*above`: the smallest of those (UINT32_MAX if none), `*below`: the
/// largest of the others (0 if none).
intptr_t sieve_selection_probe_avx2(const uint32_t *keys, intptr_t n, uint32_t t, uint32_t *above, uint32_t *below);
/// The smallest of `keys[0..<n]` that is ≥ `t` (UINT32_MAX if none).
uint32_t sieve_selection_smallest_at_least_avx2(const uint32_t *keys, intptr_t n, uint32_t t);
/// Writes the indices of the keys ≥ `t`, ascending, into `selected` until `k` are written (nothing past
/// `selected[k − 1]`); returns how many were written.
intptr_t sieve_selection_collect_avx2(const uint32_t *keys, intptr_t n, uint32_t t, intptr_t k, intptr_t *selected);
#endif
#endif
