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

void pg_sgemm_unpack_a(const float *packed, int M, int K, float *A, long lda) {
    for (int m = 0; m < M; m++) {
        const float *src = packed + (size_t)(m / PG_SGEMM_MR) * PG_SGEMM_MR * K + m % PG_SGEMM_MR;
        float *dst = A + (size_t)m * lda;
        for (int k = 0; k < K; k++) dst[k] = src[(size_t)k * PG_SGEMM_MR];
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

// AVX2 + FMA path for CPUs without AVX-512 (e.g. AMD Zen 2/3 servers): 16 ymm registers hold a
// 4 x 24 block of C (12 accumulators, 3 B vectors, 1 broadcast); the packed A panel's 8 rows are
// taken as two halves.
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)

static inline __attribute__((always_inline)) __m256 pg_act256(__m256 v, const pg_activation *act, int m) {
    const __m256 zero = _mm256_setzero_ps();
    switch (act->kind) {
    case PG_ACT_RELU: return _mm256_max_ps(v, zero);
    case PG_ACT_LEAKY:
    case PG_ACT_PRELU: {
        __m256 s = _mm256_set1_ps(act->kind == PG_ACT_LEAKY ? act->alpha : act->slopes[m]);
        return _mm256_blendv_ps(v, _mm256_mul_ps(v, s), _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
    }
    case PG_ACT_CLIP:
        return _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(act->alpha)), _mm256_set1_ps(act->beta));
    default: return v;
    }
}

/// C block (4 rows from `half` of an 8-row panel x 24 columns) = a * b (+ C); only full blocks.
static inline __attribute__((always_inline)) void pg_mk4x24_avx2(
    int K, const float *a, const float *b, long ldb, float *c, long ldc, int rows, int m0,
    const float *bias, const pg_activation *act, int accumulate, int epilogue) {
    __m256 acc[4][3];
#pragma clang loop unroll(full)
    for (int i = 0; i < 4; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < 3; j++)
            acc[i][j] = (accumulate && i < rows) ? _mm256_loadu_ps(c + i * ldc + 8 * j) : _mm256_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m256 b0 = _mm256_loadu_ps(b + k * ldb), b1 = _mm256_loadu_ps(b + k * ldb + 8);
        __m256 b2 = _mm256_loadu_ps(b + k * ldb + 16);
#pragma clang loop unroll(full)
        for (int i = 0; i < 4; i++) {
            __m256 av = _mm256_broadcast_ss(a + k * 8 + i);
            acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
            acc[i][2] = _mm256_fmadd_ps(av, b2, acc[i][2]);
        }
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < 4; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < 3; j++) {
            __m256 v = acc[i][j];
            if (epilogue) {
                if (bias) v = _mm256_add_ps(v, _mm256_set1_ps(bias[m0 + i]));
                if (act && act->kind != PG_ACT_NONE) v = pg_act256(v, act, m0 + i);
            }
            if (i < rows) _mm256_storeu_ps(c + i * ldc + 8 * j, v);
        }
}

void pg_sgemm_packed_avx2(int M, int N, int K, const float *packedA, const float *B, long ldb,
                          float *C, long ldc, const float *bias, const pg_activation *act,
                          int accumulate) {
    int full = N / 24 * 24;
    int slow_act = act && (act->kind == PG_ACT_SIGMOID || act->kind == PG_ACT_SILU);
    const pg_activation *fast_act = slow_act ? NULL : act;
    for (int k0 = 0; k0 < K; k0 += PG_KC) {
        int kc = K - k0 < PG_KC ? K - k0 : PG_KC;
        int acc = accumulate || k0 > 0;
        int epi = k0 + kc == K;
        for (int n0 = 0; n0 < full; n0 += 24)
            for (int m0 = 0; m0 < M; m0 += 4) {
                int rows = M - m0 < 4 ? M - m0 : 4;
                const float *ap = packedA + (size_t)(m0 / 8) * 8 * K + (size_t)k0 * 8 + (m0 % 8);
                pg_mk4x24_avx2(kc, ap, B + (size_t)k0 * ldb + n0, ldb, C + (size_t)m0 * ldc + n0, ldc, rows, m0,
                               bias, fast_act, acc, epi);
            }
    }
    if (full < N)  // the last columns through the portable loops (they handle the whole K)
        pg_sgemm_packed_portable(M, N - full, K, packedA, B + full, ldb, C + full, ldc, bias, act, accumulate);
    if (slow_act)
        for (int m = 0; m < M; m++) pg_bias_activation(C + (size_t)m * ldc, (size_t)full, 0, act, m);
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
    else if (pg_cpu()->avx2_fma)
        pg_sgemm_packed_avx2(M, N, K, packedA, B, ldb, C, ldc, bias, act, accumulate);
    else
        pg_sgemm_packed_portable(M, N, K, packedA, B, ldb, C, ldc, bias, act, accumulate);
}
