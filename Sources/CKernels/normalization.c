// Normalization statistics and the fused per-channel affine (see normalization.h). The loops are
// plain C compiled twice: for AVX-512 (vectorized 8 doubles / 16 floats wide) and for any CPU.
#include "internal.h"
#include "normalization.h"
#include <math.h>

static inline __attribute__((always_inline)) void pg_moments_body(const float *x, size_t rows, size_t len,
                                                                  float epsilon, float *mean, float *rstd) {
    // Reassociating the double sums lets the compiler keep one partial sum per vector lane.
#pragma clang fp reassociate(on)
    for (size_t r = 0; r < rows; r++) {
        const float *p = x + r * len;
        double s = 0, q = 0;
        for (size_t i = 0; i < len; i++) {
            double v = p[i];
            s += v;
            q += v * v;
        }
        double m = s / (double)len, var = q / (double)len - m * m;
        mean[r] = (float)m;
        rstd[r] = (float)(1.0 / sqrt((var > 0 ? var : 0) + (double)epsilon));
    }
}

__attribute__((target(PG_AVX512))) static void pg_moments_avx512(const float *x, size_t rows, size_t len,
                                                                  float epsilon, float *mean, float *rstd) {
    pg_moments_body(x, rows, len, epsilon, mean, rstd);
}

static void pg_moments_portable(const float *x, size_t rows, size_t len, float epsilon, float *mean, float *rstd) {
    pg_moments_body(x, rows, len, epsilon, mean, rstd);
}

void pg_row_moments(const float *x, size_t rows, size_t len, float epsilon, float *mean, float *rstd) {
    if (pg_cpu()->avx512f)
        pg_moments_avx512(x, rows, len, epsilon, mean, rstd);
    else
        pg_moments_portable(x, rows, len, epsilon, mean, rstd);
}

#define PG_AFFINE_BODY                                                                           \
    for (int c = c0; c < c1; c++) {                                                              \
        const float *src = x + (size_t)c * plane;                                                \
        float *dst = y + (size_t)c * plane;                                                      \
        const float a = alpha[c], b = beta[c];                                                   \
        for (size_t i = 0; i < plane; i++) dst[i] = a * src[i] + b;                              \
        /* The plane is still in cache: SiLU right away. */                                      \
        if (silu) pg_vsilu(dst, dst, plane);                                                     \
    }

__attribute__((target(PG_AVX512))) static void pg_affine_avx512(const float *x, float *y, size_t plane,
                                                                 const float *alpha, const float *beta, int c0,
                                                                 int c1, int silu) {
    PG_AFFINE_BODY
}

static void pg_affine_portable(const float *x, float *y, size_t plane, const float *alpha, const float *beta,
                               int c0, int c1, int silu) {
    PG_AFFINE_BODY
}

void pg_channel_affine(const float *x, float *y, size_t plane, const float *alpha, const float *beta,
                            int c0, int c1, int silu) {
    if (pg_cpu()->avx512f)
        pg_affine_avx512(x, y, plane, alpha, beta, c0, c1, silu);
    else
        pg_affine_portable(x, y, plane, alpha, beta, c0, c1, silu);
}

// Channel layer norm: blocks of 64 columns, statistics in 64 lanes that the compiler vectorizes
// (the same source compiled for AVX-512 and for any CPU), three passes over the block's C rows
// (sum, squared deviations, output), which stay in L2 for the channel counts of a UNet.
static inline __attribute__((always_inline)) void pg_channel_norm_body(const float *x, float *y, int C, long P, long p0,
                                                                       long p1, float epsilon, const float *scale,
                                                                       const float *bias) {
    enum { B = 64 };
    float mean[B], rstd[B];
    const float inv = 1.0f / (float)C;
    for (long q0 = p0; q0 < p1; q0 += B) {
        int nb = p1 - q0 < B ? (int)(p1 - q0) : B;
        for (int j = 0; j < B; j++) mean[j] = 0.0f;
        for (int c = 0; c < C; c++) {
            const float *r = x + (size_t)c * P + q0;
            for (int j = 0; j < nb; j++) mean[j] += r[j];
        }
        for (int j = 0; j < B; j++) { mean[j] *= inv; rstd[j] = 0.0f; }
        for (int c = 0; c < C; c++) {
            const float *r = x + (size_t)c * P + q0;
            for (int j = 0; j < nb; j++) {
                float d = r[j] - mean[j];
                rstd[j] += d * d;
            }
        }
        for (int j = 0; j < nb; j++) rstd[j] = 1.0f / sqrtf(rstd[j] * inv + epsilon);
        for (int c = 0; c < C; c++) {
            const float *r = x + (size_t)c * P + q0;
            float *d = y + (size_t)c * P + q0;
            float g = scale ? scale[c] : 1.0f, b = bias ? bias[c] : 0.0f;
            for (int j = 0; j < nb; j++) d[j] = (r[j] - mean[j]) * rstd[j] * g + b;
        }
    }
}

__attribute__((target(PG_AVX512))) static void pg_channel_norm_avx512(const float *x, float *y, int C, long P, long p0,
                                                                       long p1, float epsilon, const float *scale,
                                                                       const float *bias) {
    pg_channel_norm_body(x, y, C, P, p0, p1, epsilon, scale, bias);
}

void pg_channel_norm_portable(const float *x, float *y, int C, long P, long p0, long p1, float epsilon,
                              const float *scale, const float *bias) {
    pg_channel_norm_body(x, y, C, P, p0, p1, epsilon, scale, bias);
}

void pg_channel_norm(const float *x, float *y, int C, long P, long p0, long p1, float epsilon, const float *scale,
                     const float *bias) {
    if (C <= 0 || p1 <= p0) return;
    if (pg_cpu()->avx512f) pg_channel_norm_avx512(x, y, C, P, p0, p1, epsilon, scale, bias);
    else pg_channel_norm_portable(x, y, C, P, p0, p1, epsilon, scale, bias);
}
