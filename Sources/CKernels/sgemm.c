// Single-precision GEMM on a pre-packed A (weights, packed once at load) and a row-major B
// (activations, read in place). The AVX-512 micro-kernel holds an 8 x 48 block of C in 24 zmm
// accumulators; B rows are read straight from the caller's layout, so a 1x1 convolution needs no
// copy at all. The portable path keeps the same packing and loops in plain C.
#include "internal.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

enum { PG_KC = 384, PG_NR = 48 };

size_t pg_sgemm_packed_size(int M, int K) {
    size_t panels = ((size_t)M + PG_SGEMM_MR - 1) / PG_SGEMM_MR;
    return panels * PG_SGEMM_MR * (size_t)K;
}

void pg_sgemm_pack_a(const float *A, long lda, int M, int K, float *packed) {
    int panels = (M + PG_SGEMM_MR - 1) / PG_SGEMM_MR;
    for (int p = 0; p < panels; p++) {
        float *dst = packed + (size_t)p * PG_SGEMM_MR * K;
        for (int k = 0; k < K; k++)
            for (int i = 0; i < PG_SGEMM_MR; i++) {
                int m = p * PG_SGEMM_MR + i;
                dst[(size_t)k * PG_SGEMM_MR + i] = m < M ? A[(size_t)m * lda + k] : 0.0f;
            }
    }
}

#pragma clang attribute push(__attribute__((target(PG_AVX512))), apply_to = function)

static inline __attribute__((always_inline)) __m512 pg_act512(__m512 v, const pg_activation *act, int m) {
    switch (act->kind) {
    case PG_ACT_RELU: return _mm512_max_ps(v, _mm512_setzero_ps());
    case PG_ACT_LEAKY: {
        __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
        return _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(act->alpha));
    }
    case PG_ACT_PRELU: {
        __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
        return _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(act->slopes[m]));
    }
    case PG_ACT_CLIP:
        return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(act->alpha)), _mm512_set1_ps(act->beta));
    default: return v;
    }
}

/// C block (8 x 16*NV, last vector masked) = a[K][8] * b[K][ldb] (+ C), optional epilogue.
static inline __attribute__((always_inline)) void pg_mk8(
    const int NV, int K, const float *a, const float *b, long ldb, float *c, long ldc,
    int rows, __mmask16 last, int m0, const float *bias, const pg_activation *act, int accumulate,
    int epilogue) {
    // Every loop below has a constant trip count and is fully unrolled, so `acc` lives in 24 zmm
    // registers; any runtime index into it would force the compiler to keep it in memory.
    __m512 acc[8][3];
#pragma clang loop unroll(full)
    for (int i = 0; i < 8; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < NV; j++) {
            __mmask16 mk = j == NV - 1 ? last : 0xFFFF;
            acc[i][j] = (accumulate && i < rows) ? _mm512_maskz_loadu_ps(mk, c + i * ldc + 16 * j)
                                                 : _mm512_setzero_ps();
        }
    for (int k = 0; k < K; k++) {
        __m512 bv[3];
#pragma clang loop unroll(full)
        for (int j = 0; j < NV; j++) {
            __mmask16 mk = j == NV - 1 ? last : 0xFFFF;
            bv[j] = _mm512_maskz_loadu_ps(mk, b + k * ldb + 16 * j);
        }
#pragma clang loop unroll(full)
        for (int i = 0; i < 8; i++) {
            __m512 av = _mm512_set1_ps(a[k * 8 + i]);
#pragma clang loop unroll(full)
            for (int j = 0; j < NV; j++) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < 8; i++) {
#pragma clang loop unroll(full)
        for (int j = 0; j < NV; j++) {
            __mmask16 mk = j == NV - 1 ? last : 0xFFFF;
            __m512 v = acc[i][j];
            if (epilogue) {
                if (bias) v = _mm512_add_ps(v, _mm512_set1_ps(bias[m0 + i]));
                if (act && act->kind != PG_ACT_NONE) v = pg_act512(v, act, m0 + i);
            }
            if (i < rows) _mm512_mask_storeu_ps(c + i * ldc + 16 * j, mk, v);
        }
    }
}

void pg_sgemm_packed_avx512(int M, int N, int K, const float *packedA, const float *B, long ldb,
                            float *C, long ldc, const float *bias, const pg_activation *act,
                            int accumulate) {
    int slow_act = act && (act->kind == PG_ACT_SIGMOID || act->kind == PG_ACT_SILU);
    const pg_activation *fast_act = slow_act ? NULL : act;
    if (K == 0) {
        for (int m = 0; m < M; m++) {
            if (!accumulate) memset(C + (size_t)m * ldc, 0, sizeof(float) * (size_t)N);
            pg_bias_activation(C + (size_t)m * ldc, (size_t)N, bias ? bias[m] : 0, act, m);
        }
        return;
    }
    // B rows far apart (a 1x1 convolution reads whole image planes, ldb = H*W) map to the same
    // few L1 sets and TLB pages; copying each kc x 48 panel once, reused by all M/8 row panels,
    // keeps the micro-kernel's loads sequential.
    static __thread float *panel;
    int pack = ldb > 2 * PG_NR && M > PG_SGEMM_MR;
    if (pack && !panel) panel = aligned_alloc(64, sizeof(float) * PG_KC * PG_NR);
    for (int k0 = 0; k0 < K; k0 += PG_KC) {
        int kc = K - k0 < PG_KC ? K - k0 : PG_KC;
        int acc = accumulate || k0 > 0;
        int epi = k0 + kc == K;
        for (int n0 = 0; n0 < N; n0 += PG_NR) {
            int nw = N - n0 < PG_NR ? N - n0 : PG_NR;
            int nv = (nw + 15) / 16;
            int rem = nw - 16 * (nv - 1);
            __mmask16 last = (__mmask16)((1u << rem) - 1u);
            const float *bp = B + (size_t)k0 * ldb + n0;
            long lb = ldb;
            if (pack) {
                for (int k = 0; k < kc; k++)
                    memcpy(panel + (size_t)k * PG_NR, bp + (size_t)k * ldb, sizeof(float) * (size_t)nw);
                bp = panel;
                lb = PG_NR;
            }
            for (int m0 = 0; m0 < M; m0 += 8) {
                int rows = M - m0 < 8 ? M - m0 : 8;
                const float *ap = packedA + (size_t)m0 * K + (size_t)k0 * 8;
                float *cp = C + (size_t)m0 * ldc + n0;
                if (nv == 3) pg_mk8(3, kc, ap, bp, lb, cp, ldc, rows, last, m0, bias, fast_act, acc, epi);
                else if (nv == 2) pg_mk8(2, kc, ap, bp, lb, cp, ldc, rows, last, m0, bias, fast_act, acc, epi);
                else pg_mk8(1, kc, ap, bp, lb, cp, ldc, rows, last, m0, bias, fast_act, acc, epi);
            }
        }
    }
    if (slow_act)
        for (int m = 0; m < M; m++) pg_bias_activation(C + (size_t)m * ldc, (size_t)N, 0, act, m);
}

#pragma clang attribute pop

void pg_sgemm_packed_portable(int M, int N, int K, const float *packedA, const float *B, long ldb,
                              float *C, long ldc, const float *bias, const pg_activation *act,
                              int accumulate) {
    for (int m = 0; m < M; m++) {
        float *c = C + (size_t)m * ldc;
        if (!accumulate) memset(c, 0, sizeof(float) * (size_t)N);
        const float *a = packedA + (size_t)(m / PG_SGEMM_MR) * PG_SGEMM_MR * K + (m % PG_SGEMM_MR);
        for (int k = 0; k < K; k++) {
            float av = a[(size_t)k * PG_SGEMM_MR];
            const float *b = B + (size_t)k * ldb;
            for (int n = 0; n < N; n++) c[n] += av * b[n];
        }
        pg_bias_activation(c, (size_t)N, bias ? bias[m] : 0, act, m);
    }
}

void pg_sgemm_packed(int M, int N, int K, const float *packedA, const float *B, long ldb,
                     float *C, long ldc, const float *bias, const pg_activation *act, int accumulate) {
    if (M <= 0 || N <= 0) return;
    if (pg_cpu()->avx512f)
        pg_sgemm_packed_avx512(M, N, K, packedA, B, ldb, C, ldc, bias, act, accumulate);
    else
        pg_sgemm_packed_portable(M, N, K, packedA, B, ldb, C, ldc, bias, act, accumulate);
}
