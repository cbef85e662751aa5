// Fused softmax attention, scores kept in cache (see attention.h).
//
// Per block of output columns t: St = K^T Q[:, t-block] (S x nt, in cache), softmax down each
// column (over s), O[:, t-block] = V St, each column scaled by 1 / its softmax sum. Computing
// the transposed scores makes both products plain packed-A SGEMMs on row-major B (no transposes
// of the large matrix) and lets the column softmax run across the nt lanes without horizontal
// reductions.
#include "internal.h"
#include "attention.h"
#include <stdint.h>
#include <string.h>

void pg_pack_transposed(const float *B, long ldb, int K, int M, float *packed) {
    int panels = (M + PG_SGEMM_MR - 1) / PG_SGEMM_MR;
    for (int p = 0; p < panels; p++) {
        float *dst = packed + (size_t)p * PG_SGEMM_MR * K;
        int m0 = p * PG_SGEMM_MR, rows = M - m0 < PG_SGEMM_MR ? M - m0 : PG_SGEMM_MR;
        for (int k = 0; k < K; k++) {
            // Row k of B holds A's column k: 8 consecutive floats per panel.
            const float *src = B + (size_t)k * ldb + m0;
            float *d = dst + (size_t)k * PG_SGEMM_MR;
            for (int i = 0; i < rows; i++) d[i] = src[i];
            for (int i = rows; i < PG_SGEMM_MR; i++) d[i] = 0.0f;
        }
    }
}

size_t pg_attention_scratch_size(int S) {
    // The S x nt score block, then the column maxima and sums.
    return (size_t)S * PG_ATTENTION_BLOCK + 2 * PG_ATTENTION_BLOCK;
}

// exp(x) for x <= 0 (scores minus their column maximum): n = round(x / ln 2), r = x - n ln 2
// with ln 2 split in an exact high part and a correction, e^r by a degree-6 polynomial, times
// 2^n from the exponent bits; inputs below -87.3 are clamped (their exp is below float's normal
// range and contributes nothing next to the maximum's 1).
static inline __attribute__((always_inline)) float pg_attention_exp(float x) {
    x = x < -87.3f ? -87.3f : x;
    float n = __builtin_rintf(x * 1.44269504f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.98756915e-4f;
    p = p * r + 1.39819995e-3f;
    p = p * r + 8.33345190e-3f;
    p = p * r + 4.16657959e-2f;
    p = p * r + 1.66666655e-1f;
    p = p * r + 5.00000012e-1f;
    p = p * (r * r) + r + 1.0f;
    union { int32_t i; float f; } scale = { .i = ((int32_t)n + 127) << 23 };
    return p * scale.f;
}

// Softmax down the columns of the S x nt block, as plain loops over the nt lanes: one pass for
// the maxima, one that writes exp(x - max) and sums it. The same source is compiled for AVX-512
// (where the compiler vectorizes the lanes 16 wide) and for any CPU; 1 / sum goes to `sum`.
static inline __attribute__((always_inline)) void pg_attention_softmax_body(float *st, int S, int nt, float *mx,
                                                                            float *sum) {
    for (int j = 0; j < nt; j++) mx[j] = st[j];
    for (int s = 1; s < S; s++) {
        const float *row = st + (size_t)s * nt;
        for (int j = 0; j < nt; j++) mx[j] = row[j] > mx[j] ? row[j] : mx[j];
    }
    for (int j = 0; j < nt; j++) sum[j] = 0.0f;
    for (int s = 0; s < S; s++) {
        float *row = st + (size_t)s * nt;
        for (int j = 0; j < nt; j++) {
            float e = pg_attention_exp(row[j] - mx[j]);
            row[j] = e;
            sum[j] += e;
        }
    }
    for (int j = 0; j < nt; j++) sum[j] = 1.0f / sum[j];
}

__attribute__((target(PG_AVX512))) static void pg_attention_softmax_avx512(float *st, int S, int nt, float *mx,
                                                                            float *sum) {
    pg_attention_softmax_body(st, S, nt, mx, sum);
}

static void pg_attention_softmax_portable(float *st, int S, int nt, float *mx, float *sum) {
    pg_attention_softmax_body(st, S, nt, mx, sum);
}

void pg_attention_columns(const float *kt_packed, const float *q, long ldq, const float *v_packed,
                               int C, int Cv, int S, int t0, int nt, float *o, long ldo, float *scratch) {
    float *st = scratch, *mx = scratch + (size_t)S * PG_ATTENTION_BLOCK, *sum = mx + PG_ATTENTION_BLOCK;
    pg_sgemm_packed(S, nt, C, kt_packed, q + t0, ldq, st, nt, NULL, NULL, 0);
    if (pg_cpu()->avx512f)
        pg_attention_softmax_avx512(st, S, nt, mx, sum);
    else
        pg_attention_softmax_portable(st, S, nt, mx, sum);
    pg_sgemm_packed(Cv, nt, S, v_packed, st, nt, o + t0, ldo, NULL, NULL, 0);
    for (int c = 0; c < Cv; c++) {
        float *row = o + (size_t)c * ldo + t0;
        for (int j = 0; j < nt; j++) row[j] *= sum[j];
    }
}
