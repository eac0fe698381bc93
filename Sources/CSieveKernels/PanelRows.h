// Prefill products of the super-block types whose values decode to small signed integers with an integer scale per
// 16 or 32 elements — the grid i-quants (GridDotRows.h) and q2_K, q3_K and q6_K (KQuantDotRows.h) — with AVX-512
// VNNI, compiled once by QuantizedDot.c after those headers (KERNEL, GRID_TARGET).
//
// Their row kernels multiply one row's super-block with a token 32 codes at a time (`vpmaddubsw`, `vpdpwssd`):
// about 4 ns per row, token and super-block for the grid types. Here a super-block of eight rows is decoded once
// into signed bytes (`PanelRows`: values with their signs and offsets applied, integer scales per 16 elements, d)
// and multiplied with 16 tokens at once: `sieve_q8K_token_panels` lays the tokens' codes out, + 128 as unsigned
// bytes, as 64 groups of four columns of 16 tokens × 4 bytes, so that one `vpdpbusd` takes a group of 16 tokens and
// one row's four values (broadcast from memory). Σ value·(x + 128) − 128·Σ value is Σ value·x, and the correction
// Σ_j sc_j·Σ value over the sub-blocks j is the row's alone: one constant per row and super-block, found when
// decoding. Each sub-block's sum is scaled by its integer scale in int32 (`vpmulld`); q2_K's mins take the tokens'
// block sums in pairs (`vpdpwssd`). A row's super-block sums are thus the same exact integers as in the row kernels,
// followed by the same float operations (one conversion and multiply-add by d·dx per row, token and super-block, in
// super-block order): the same bits.
//
// Eight rows give eight independent `vpdpbusd` chains: four rows took 13.9 ms for 2048×5632 × 128 tokens of iq2_xxs
// on one Zen 4 core, eight 10.1 (the row kernel 24.9).

/// Rows decoded and multiplied together.
#define SIEVE_PANEL_ROWS 8
/// Token tiles of 16 multiplied per decoded super-block (at most 128 tokens; their accumulators, 8 KB, stay in L1).
#define SIEVE_PANEL_TILES 8

/// Eight rows' super-block decoded for `panel_rows`: each row's 256 signed values, its integer scales per 16
/// elements, q2_K's mins per 16 elements, the correction Σ_j sc_j·Σ value, d and q2_K's dmin.
typedef struct {
    _Alignas(64) int8_t w[SIEVE_PANEL_ROWS][256];
    int32_t scale[SIEVE_PANEL_ROWS][16];
    int16_t mins[SIEVE_PANEL_ROWS][16];
    int32_t corr[SIEVE_PANEL_ROWS];
    float d[SIEVE_PANEL_ROWS];
    float dmin[SIEVE_PANEL_ROWS];
} PanelRows;

/// Kinds of rows `panel_rows` decodes: the grid types (their `SieveGridType` values), then q2_K, q3_K and q6_K.
typedef enum {
    PANEL_Q2_K = 7,
    PANEL_Q3_K = 8,
    PANEL_Q6_K = 9,
} PanelKind;

/// Row i's correction Σ_j sc_j·Σ value over its 16 sub-blocks j of 16 (its values and scales written).
GRID_TARGET static inline void KERNEL(panelCorrection)(PanelRows *p, int i) {
    const __m256i ones = _mm256_set1_epi8(1);
    __m256i sum = _mm256_setzero_si256();
    #pragma clang loop unroll(full)
    for (int v = 0; v < 8; v++) {
        const __m256i pairs = _mm256_maddubs_epi16(ones, _mm256_load_si256((const __m256i *)(p->w[i] + 32 * v)));
        const __m256i sc = _mm256_set_m128i(_mm_set1_epi16((short)p->scale[i][2 * v + 1]), _mm_set1_epi16((short)p->scale[i][2 * v]));
        sum = _mm256_dpwssd_epi32(sum, pairs, sc);
    }
    const __m128i c = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    const __m128i c2 = _mm_add_epi32(c, _mm_shuffle_epi32(c, 0x4E));
    p->corr[i] = _mm_cvtsi128_si32(_mm_add_epi32(c2, _mm_shuffle_epi32(c2, 0xB1)));
}

/// Row i of `p`: the super-block at `b` of `kind` (a `SieveGridType` or a `PanelKind`), decoded.
GRID_TARGET static inline __attribute__((always_inline)) void
KERNEL(panelRow)(int kind, const uint8_t *b, PanelRows *p, int i) {
    int8_t *w = p->w[i];
    if (kind < 7) {
        KERNEL(GridBlock) blk;
        KERNEL(gridDecode)((SieveGridType)kind, b, &blk);
        #pragma clang loop unroll(full)
        for (int k = 0; k < 8; k++) {
            _mm256_store_si256((__m256i *)(w + 32 * k),
                               _mm256_mask_sub_epi8(blk.u[k], (__mmask32)blk.neg[k], _mm256_setzero_si256(), blk.u[k]));
            p->scale[i][2 * k] = (int16_t)_mm256_extract_epi16(blk.sc[k], 0);
            p->scale[i][2 * k + 1] = (int16_t)_mm256_extract_epi16(blk.sc[k], 8);
        }
        p->d[i] = blk.d;
    } else {
        __m256i q[8];
        __m128i scales;
        int offset;
        uint16_t h[2];
        if (kind == PANEL_Q2_K) {
            const __m128i low = _mm_set1_epi8(0x0F), sm = _mm_loadu_si128((const __m128i *)b);
            KERNEL(crumbs4)(_mm256_loadu_si256((const __m256i *)(b + 16)), q);
            KERNEL(crumbs4)(_mm256_loadu_si256((const __m256i *)(b + 48)), q + 4);
            scales = _mm_and_si128(sm, low);
            _mm256_storeu_si256((__m256i *)p->mins[i], _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), low)));
            offset = 0;
            __builtin_memcpy(h, b + 80, 4);
        } else if (kind == PANEL_Q3_K) {
            const __m256i hm = _mm256_loadu_si256((const __m256i *)b);
            KERNEL(q3Codes)(b, 0, hm, q);
            KERNEL(q3Codes)(b, 1, hm, q + 4);
            scales = KERNEL(q3Scales)(b + 96);
            offset = 4;
            __builtin_memcpy(h, b + 108, 2);
        } else {
            KERNEL(q6Codes)(b, 0, q);
            KERNEL(q6Codes)(b, 1, q + 4);
            scales = _mm_loadu_si128((const __m128i *)(b + 192));
            offset = 32;
            __builtin_memcpy(h, b + 208, 2);
        }
        #pragma clang loop unroll(full)
        for (int v = 0; v < 8; v++) {
            _mm256_store_si256((__m256i *)(w + 32 * v), _mm256_sub_epi8(q[v], _mm256_set1_epi8((char)offset)));
        }
        // q2_K's scales are unsigned 4-bit, q3_K's and q6_K's signed bytes.
        const __m512i wide = kind == PANEL_Q2_K ? _mm512_cvtepu8_epi32(scales) : _mm512_cvtepi8_epi32(scales);
        _mm512_storeu_si512((void *)p->scale[i], wide);
        p->d[i] = _cvtsh_ss(h[0]);
        if (kind == PANEL_Q2_K) p->dmin[i] = _cvtsh_ss(h[1]);
    }
    KERNEL(panelCorrection)(p, i);
}

/// acc[i] (16 tokens) += Σ (row i's super-block · the tokens' codes) · d_i·dx over one super-block, and for q2_K
/// (`mins`) low[i] += Σ_j m_j·Σx_j · dmin_i·dx: `x` the tokens' biased codes (64 groups × 16 tokens × 4 bytes), `xd`
/// their 16 scales, `xb` their block sums in pairs (8 × 16 tokens × two int16).
GRID_TARGET static inline __attribute__((always_inline)) void
KERNEL(panelTile)(const PanelRows *p, int per32, int mins, const uint8_t *x, const float *xd, const int32_t *xb,
                  __m512 acc[SIEVE_PANEL_ROWS], __m512 low[SIEVE_PANEL_ROWS]) {
    __m512i total[SIEVE_PANEL_ROWS];
    for (int i = 0; i < SIEVE_PANEL_ROWS; i++) total[i] = _mm512_set1_epi32(-128 * p->corr[i]);
    const int groups = per32 ? 8 : 4;
    #pragma clang loop unroll(full)
    for (int j = 0; j < 64 / groups; j++) {
        __m512i sub[SIEVE_PANEL_ROWS];
        for (int i = 0; i < SIEVE_PANEL_ROWS; i++) sub[i] = _mm512_setzero_si512();
        #pragma clang loop unroll(full)
        for (int g = j * groups; g < (j + 1) * groups; g++) {
            const __m512i codes = _mm512_loadu_si512((const void *)(x + 64 * g));
            #pragma clang loop unroll(full)
            for (int i = 0; i < SIEVE_PANEL_ROWS; i++) {
                int32_t four;
                __builtin_memcpy(&four, p->w[i] + 4 * g, 4);
                sub[i] = _mm512_dpbusd_epi32(sub[i], codes, _mm512_set1_epi32(four));
            }
        }
        const int s = per32 ? 2 * j : j;
        for (int i = 0; i < SIEVE_PANEL_ROWS; i++) {
            total[i] = _mm512_add_epi32(total[i], _mm512_mullo_epi32(sub[i], _mm512_set1_epi32(p->scale[i][s])));
        }
    }
    const __m512 dx = _mm512_loadu_ps(xd);
    for (int i = 0; i < SIEVE_PANEL_ROWS; i++) {
        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[i]), _mm512_mul_ps(_mm512_set1_ps(p->d[i]), dx), acc[i]);
    }
    if (mins) {
        for (int i = 0; i < SIEVE_PANEL_ROWS; i++) {
            __m512i m = _mm512_setzero_si512();
            #pragma clang loop unroll(full)
            for (int k = 0; k < 8; k++) {
                int32_t pair;
                __builtin_memcpy(&pair, p->mins[i] + 2 * k, 4);
                m = _mm512_dpwssd_epi32(m, _mm512_loadu_si512((const void *)(xb + 16 * k)), _mm512_set1_epi32(pair));
            }
            low[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(m), _mm512_mul_ps(_mm512_set1_ps(p->dmin[i]), dx), low[i]);
        }
    }
}

/// Rows 0…nrows−1 (row r at rows + rowBytes·r) of `kind` times `tokens` tokens laid out by `sieve_q8K_token_panels`,
/// row r's product with token t to out[outStride·t + r].
GRID_TARGET static inline __attribute__((always_inline)) void
KERNEL(panel_rows)(int kind, const uint8_t *rows, intptr_t rowBytes, int nrows, int nsb, int tokens, const uint8_t *xp,
                   const float *xdp, const int32_t *xbp, float *out, intptr_t outStride) {
    const int blockBytes = kind < 7 ? sieveGridBlockBytes[kind] : kind == PANEL_Q2_K ? 84 : kind == PANEL_Q3_K ? 110 : 210;
    const int per32 = kind == SIEVE_GRID_IQ2_XXS || kind == SIEVE_GRID_IQ3_XXS || kind == SIEVE_GRID_IQ3_S || kind == SIEVE_GRID_IQ1_S;
    const int mins = kind == PANEL_Q2_K;
    const int tiles = (tokens + 15) / 16;
    for (int r = 0; r < nrows; r += SIEVE_PANEL_ROWS) {
        // A group of fewer rows repeats its last row and stores only the real ones.
        const int valid = nrows - r < SIEVE_PANEL_ROWS ? nrows - r : SIEVE_PANEL_ROWS;
        const uint8_t *row[SIEVE_PANEL_ROWS];
        for (int i = 0; i < SIEVE_PANEL_ROWS; i++) row[i] = rows + rowBytes * (r + (i < valid ? i : valid - 1));
        for (int first = 0; first < tiles; first += SIEVE_PANEL_TILES) {
            const int n = tiles - first < SIEVE_PANEL_TILES ? tiles - first : SIEVE_PANEL_TILES;
            __m512 acc[SIEVE_PANEL_TILES][SIEVE_PANEL_ROWS], low[SIEVE_PANEL_TILES][SIEVE_PANEL_ROWS];
            for (int t = 0; t < n; t++) {
                for (int i = 0; i < SIEVE_PANEL_ROWS; i++) acc[t][i] = low[t][i] = _mm512_setzero_ps();
            }
            for (int sb = 0; sb < nsb; sb++) {
                PanelRows p;
                for (int i = 0; i < SIEVE_PANEL_ROWS; i++) KERNEL(panelRow)(kind, row[i] + (intptr_t)blockBytes * sb, &p, i);
                for (int t = 0; t < n; t++) {
                    const intptr_t at = (intptr_t)(first + t) * nsb + sb;
                    KERNEL(panelTile)(&p, per32, mins, xp + 4096 * at, xdp + 16 * at, xbp + 128 * at, acc[t], low[t]);
                }
            }
            for (int t = 0; t < n; t++) {
                const int firstToken = 16 * (first + t), count = tokens - firstToken < 16 ? tokens - firstToken : 16;
                for (int i = 0; i < valid; i++) {
                    float lanes[16];
                    _mm512_storeu_ps(lanes, mins ? _mm512_sub_ps(acc[t][i], low[t][i]) : acc[t][i]);
                    for (int k = 0; k < count; k++) out[outStride * (firstToken + k) + r + i] = lanes[k];
                }
            }
        }
    }
}

GRID_TARGET void KERNEL(sieve_grid_panel_rows)(SieveGridType type, const void *rows, intptr_t rowBytes, int nrows, int nsb,
                                               int tokens, const SieveTokenPanels *x, float *out, intptr_t outStride) {
    switch (type) {
    case SIEVE_GRID_IQ2_XXS: KERNEL(panel_rows)(SIEVE_GRID_IQ2_XXS, rows, rowBytes, nrows, nsb, tokens, x->codes, x->scales, x->sums, out, outStride); break;
    case SIEVE_GRID_IQ2_XS: KERNEL(panel_rows)(SIEVE_GRID_IQ2_XS, rows, rowBytes, nrows, nsb, tokens, x->codes, x->scales, x->sums, out, outStride); break;
    case SIEVE_GRID_IQ2_S: KERNEL(panel_rows)(SIEVE_GRID_IQ2_S, rows, rowBytes, nrows, nsb, tokens, x->codes, x->scales, x->sums, out, outStride); break;
    case SIEVE_GRID_IQ3_XXS: KERNEL(panel_rows)(SIEVE_GRID_IQ3_XXS, rows, rowBytes, nrows, nsb, tokens, x->codes, x->scales, x->sums, out, outStride); break;
    case SIEVE_GRID_IQ3_S: KERNEL(panel_rows)(SIEVE_GRID_IQ3_S, rows, rowBytes, nrows, nsb, tokens, x->codes, x->scales, x->sums, out, outStride); break;
    case SIEVE_GRID_IQ1_S: KERNEL(panel_rows)(SIEVE_GRID_IQ1_S, rows, rowBytes, nrows, nsb, tokens, x->codes, x->scales, x->sums, out, outStride); break;
    case SIEVE_GRID_IQ1_M: KERNEL(panel_rows)(SIEVE_GRID_IQ1_M, rows, rowBytes, nrows, nsb, tokens, x->codes, x->scales, x->sums, out, outStride); break;
    }
}

GRID_TARGET void KERNEL(sieve_k16_panel_rows)(int bits, const void *rows, intptr_t rowBytes, int nrows, int nsb, int tokens,
                                              const SieveTokenPanels *x, float *out, intptr_t outStride) {
    switch (bits) {
    case 2: KERNEL(panel_rows)(PANEL_Q2_K, rows, rowBytes, nrows, nsb, tokens, x->codes, x->scales, x->sums, out, outStride); break;
    case 3: KERNEL(panel_rows)(PANEL_Q3_K, rows, rowBytes, nrows, nsb, tokens, x->codes, x->scales, x->sums, out, outStride); break;
    default: KERNEL(panel_rows)(PANEL_Q6_K, rows, rowBytes, nrows, nsb, tokens, x->codes, x->scales, x->sums, out, outStride); break;
    }
}
