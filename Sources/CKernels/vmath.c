// Vectorized exp, sigmoid, SiLU and row softmax (see vmath.h).
//
// exp(x): clamp x to [-87.3, 88.376], n = round(x / ln 2), r = x - n ln 2 (ln 2 split in a high
// part exact in float and a low correction), e^r by a degree-6 polynomial, times 2^n built in
// the exponent bits. The portable path runs the same steps in scalar C so that both paths agree
// to rounding.
#include "internal.h"
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define EXP_LO (-87.3f)
#define EXP_HI 88.3762626647949f  // the largest x whose n = round(x / ln 2) is 127
#define LOG2E 1.44269504f
#define LN2_HI 0.693359375f
#define LN2_LO (-2.12194440e-4f)
#define P0 1.98756915e-4f
#define P1 1.39819995e-3f
#define P2 8.33345190e-3f
#define P3 4.16657959e-2f
#define P4 1.66666655e-1f
#define P5 5.00000012e-1f

// GELU(x) = x (1 + erf(x / sqrt 2)) / 2 with erf(z) = 1 - q(z), q(z) = poly(t) e^(-z^2),
// t = 1 / (1 + p z) for z >= 0 (Abramowitz-Stegun 7.1.26). For x < 0, 1 + erf = q(|z|) directly,
// with no cancellation against 1 (the tail stays small and non-negative).
#define ERF_P 0.3275911f
#define ERF_A1 0.254829592f
#define ERF_A2 (-0.284496736f)
#define ERF_A3 1.421413741f
#define ERF_A4 (-1.453152027f)
#define ERF_A5 1.061405429f
#define RSQRT2 0.70710678118654752f

// MARK: Portable

static inline float exp_scalar(float x) {
    x = x < EXP_LO ? EXP_LO : (x > EXP_HI ? EXP_HI : x);
    float n = nearbyintf(x * LOG2E);
    float r = x - n * LN2_HI;
    r = r - n * LN2_LO;
    float p = P0;
    p = p * r + P1;
    p = p * r + P2;
    p = p * r + P3;
    p = p * r + P4;
    p = p * r + P5;
    p = p * (r * r) + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

void pg_vexp_portable(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = exp_scalar(x[i]);
}

void pg_vsigmoid_portable(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + exp_scalar(-x[i]));
}

void pg_vsilu_portable(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + exp_scalar(-x[i]));
}

static inline float gelu_scalar(float x) {
    float z = fabsf(x) * RSQRT2;
    float t = 1.0f / (1.0f + ERF_P * z);
    float poly = ((((ERF_A5 * t + ERF_A4) * t + ERF_A3) * t + ERF_A2) * t + ERF_A1) * t;
    float q = poly * exp_scalar(-z * z);
    return 0.5f * x * (x >= 0 ? 2.0f - q : q);
}

void pg_geglu_rows_portable(const float *x, float *y, size_t rows, size_t n) {
    for (size_t r = 0; r < rows; r++) {
        const float *a = x + r * 2 * n, *g = a + n;
        float *d = y + r * n;
        for (size_t i = 0; i < n; i++) d[i] = a[i] * gelu_scalar(g[i]);
    }
}

void pg_softmax_rows_portable(const float *x, float *y, size_t rows, size_t len) {
    for (size_t r = 0; r < rows; r++) {
        const float *s = x + r * len;
        float *d = y + r * len;
        float m = -INFINITY;
        for (size_t i = 0; i < len; i++) m = s[i] > m ? s[i] : m;
        float sum = 0;
        for (size_t i = 0; i < len; i++) {
            float e = exp_scalar(s[i] - m);
            d[i] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        for (size_t i = 0; i < len; i++) d[i] *= inv;
    }
}

void pg_normalize_rows_portable(const float *x, float *y, size_t rows, size_t len, float epsilon,
                                const float *scale, const float *bias) {
    for (size_t r = 0; r < rows; r++) {
        const float *s = x + r * len;
        float *d = y + r * len;
        double sum = 0, sq = 0;
        for (size_t i = 0; i < len; i++) sum += s[i];
        double mean = sum / (double)len;
        for (size_t i = 0; i < len; i++) {
            double t = s[i] - mean;
            sq += t * t;
        }
        float inv = (float)(1.0 / sqrt(sq / (double)len + epsilon));
        float m = (float)mean;
        float sc = scale ? scale[r] : 1.0f, bi = bias ? bias[r] : 0.0f;
        for (size_t i = 0; i < len; i++) d[i] = (s[i] - m) * inv * sc + bi;
    }
}

// MARK: AVX-512

#pragma clang attribute push(__attribute__((target(PG_AVX512))), apply_to = function)

static inline __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(EXP_LO)), _mm512_set1_ps(EXP_HI));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
    __m512 p = _mm512_set1_ps(P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P5));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

enum { VEXP, VSIGMOID, VSILU };

static inline __m512 apply16(__m512 v, int kind) {
    const __m512 one = _mm512_set1_ps(1.0f);
    switch (kind) {
    case VEXP: return exp16(v);
    case VSIGMOID: return _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), v))));
    default: return _mm512_div_ps(v, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), v))));
    }
}

static void map_avx512(const float *x, float *y, size_t n, int kind) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 a = apply16(_mm512_loadu_ps(x + i), kind);
        __m512 b = apply16(_mm512_loadu_ps(x + i + 16), kind);
        _mm512_storeu_ps(y + i, a);
        _mm512_storeu_ps(y + i + 16, b);
    }
    for (; i < n; i += 16) {
        size_t left = n - i;
        __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        _mm512_mask_storeu_ps(y + i, m, apply16(_mm512_maskz_loadu_ps(m, x + i), kind));
    }
}

static inline __m512 gelu16(__m512 x) {
    __m512 z = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(RSQRT2));
    __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(_mm512_set1_ps(ERF_P), z, _mm512_set1_ps(1.0f)));
    __m512 poly = _mm512_fmadd_ps(_mm512_set1_ps(ERF_A5), t, _mm512_set1_ps(ERF_A4));
    poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(ERF_A3));
    poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(ERF_A2));
    poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(ERF_A1));
    poly = _mm512_mul_ps(poly, t);
    __m512 q = _mm512_mul_ps(poly, exp16(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(z, z))));
    __mmask16 positive = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ);
    __m512 onePlusErf = _mm512_mask_sub_ps(q, positive, _mm512_set1_ps(2.0f), q);
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), onePlusErf);
}

static void geglu_avx512(const float *x, float *y, size_t rows, size_t n) {
    for (size_t r = 0; r < rows; r++) {
        const float *a = x + r * 2 * n, *g = a + n;
        float *d = y + r * n;
        for (size_t i = 0; i < n; i += 16) {
            size_t left = n - i;
            __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, a + i), gelu16(_mm512_maskz_loadu_ps(m, g + i)));
            _mm512_mask_storeu_ps(d + i, m, v);
        }
    }
}

static void softmax_avx512(const float *x, float *y, size_t rows, size_t len) {
    for (size_t r = 0; r < rows; r++) {
        const float *s = x + r * len;
        float *d = y + r * len;
        __m512 vm = _mm512_set1_ps(-INFINITY);
        size_t i = 0;
        for (; i + 16 <= len; i += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(s + i));
        if (i < len) {
            __mmask16 m = (__mmask16)((1u << (len - i)) - 1);
            vm = _mm512_mask_max_ps(vm, m, vm, _mm512_maskz_loadu_ps(m, s + i));
        }
        __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vm));
        __m512 vs = _mm512_setzero_ps();
        for (i = 0; i + 16 <= len; i += 16) {
            __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(s + i), mx));
            _mm512_storeu_ps(d + i, e);
            vs = _mm512_add_ps(vs, e);
        }
        if (i < len) {
            __mmask16 m = (__mmask16)((1u << (len - i)) - 1);
            __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + i), mx));
            _mm512_mask_storeu_ps(d + i, m, e);
            vs = _mm512_mask_add_ps(vs, m, vs, e);
        }
        __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vs));
        for (i = 0; i + 16 <= len; i += 16) _mm512_storeu_ps(d + i, _mm512_mul_ps(_mm512_loadu_ps(d + i), inv));
        if (i < len) {
            __mmask16 m = (__mmask16)((1u << (len - i)) - 1);
            _mm512_mask_storeu_ps(d + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, d + i), inv));
        }
    }
}

static void normalize_avx512(const float *x, float *y, size_t rows, size_t len, float epsilon,
                             const float *scale, const float *bias) {
    for (size_t r = 0; r < rows; r++) {
        const float *s = x + r * len;
        float *d = y + r * len;
        __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
        size_t i = 0;
        for (; i + 16 <= len; i += 16) {
            __m512 v = _mm512_loadu_ps(s + i);
            s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
            s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
        }
        double sum = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
        for (; i < len; i++) sum += s[i];
        double mean = sum / (double)len;
        __m512d vm = _mm512_set1_pd(mean);
        s0 = _mm512_setzero_pd();
        s1 = _mm512_setzero_pd();
        for (i = 0; i + 16 <= len; i += 16) {
            __m512 v = _mm512_loadu_ps(s + i);
            __m512d a = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), vm);
            __m512d b = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))), vm);
            s0 = _mm512_fmadd_pd(a, a, s0);
            s1 = _mm512_fmadd_pd(b, b, s1);
        }
        double sq = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
        for (; i < len; i++) {
            double t = s[i] - mean;
            sq += t * t;
        }
        float inv = (float)(1.0 / sqrt(sq / (double)len + epsilon));
        float sc = scale ? scale[r] : 1.0f, bi = bias ? bias[r] : 0.0f;
        // (x - m) * inv * sc + bi in the portable path's order of operations.
        __m512 m = _mm512_set1_ps((float)mean), vi = _mm512_set1_ps(inv), vs = _mm512_set1_ps(sc), vb = _mm512_set1_ps(bi);
        for (i = 0; i < len; i += 16) {
            size_t left = len - i;
            __mmask16 k = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + i), m), vi), vs);
            _mm512_mask_storeu_ps(d + i, k, _mm512_add_ps(v, vb));
        }
    }
}

#pragma clang attribute pop

// MARK: Dispatch

void pg_vexp(const float *x, float *y, size_t n) {
    if (pg_cpu()->avx512f) map_avx512(x, y, n, VEXP); else pg_vexp_portable(x, y, n);
}

void pg_vsigmoid(const float *x, float *y, size_t n) {
    if (pg_cpu()->avx512f) map_avx512(x, y, n, VSIGMOID); else pg_vsigmoid_portable(x, y, n);
}

void pg_vsilu(const float *x, float *y, size_t n) {
    if (pg_cpu()->avx512f) map_avx512(x, y, n, VSILU); else pg_vsilu_portable(x, y, n);
}

void pg_softmax_rows(const float *x, float *y, size_t rows, size_t len) {
    if (len == 0) return;
    if (pg_cpu()->avx512f) softmax_avx512(x, y, rows, len); else pg_softmax_rows_portable(x, y, rows, len);
}

void pg_normalize_rows(const float *x, float *y, size_t rows, size_t len, float epsilon,
                       const float *scale, const float *bias) {
    if (len == 0) return;
    if (pg_cpu()->avx512f) normalize_avx512(x, y, rows, len, epsilon, scale, bias);
    else pg_normalize_rows_portable(x, y, rows, len, epsilon, scale, bias);
}

void pg_geglu_rows(const float *x, float *y, size_t rows, size_t n) {
    if (n == 0) return;
    if (pg_cpu()->avx512f) geglu_avx512(x, y, rows, n); else pg_geglu_rows_portable(x, y, rows, n);
}
