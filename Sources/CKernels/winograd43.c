// Winograd F(4x4, 3x3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016) on NCHW float32, for the 3x3 stride-1 layers where most of the time goes.
//
// A worker takes units of (one row of 4x4 output tiles, up to 48 tiles of it). Per unit:
//   1. input transform  V[36][ic][tiles] = B^T d B, vectorized over 16 tiles at a time: the 6x6
//      input windows of neighbouring tiles start 4 floats apart, so each input row is split into
//      its 4 phases with two permutes and a blend;
//   2. 36 small GEMMs   M[pos][oc][tiles] = U[pos][oc][ic] * V[pos][ic][tiles] (SGEMM micro-kernel);
//   3. output transform Y = A^T m A, + bias, activation, and a permute back to contiguous rows.
// V, M and U stay in L2 (about 1.5 MB for 64 -> 64 channels).
#include "internal.h"
#include <immintrin.h>
#include <stdatomic.h>
#include <string.h>

enum { PG_WINO_CHUNK = 48 };

#ifdef PG_WINO_PROFILE
// Phase timings for bench/kernels (thread CPU time); compiled out of the library.
#include <time.h>
double pg_wino_profile[3];
static double pg_wino_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
#define PG_WINO_MARK(i, t) do { double n_ = pg_wino_now(); pg_wino_profile[i] += n_ - (t); (t) = n_; } while (0)
#else
#define PG_WINO_MARK(i, t) ((void)0)
#endif

size_t pg_wino43_weight_size(int oc, int ic) { return 36 * pg_sgemm_packed_size(oc, ic); }

void pg_wino43_transform_weights(const float *w, int oc, int ic, float *U) {
    static const float G[6][3] = {
        {1.0f / 4, 0, 0},
        {-1.0f / 6, -1.0f / 6, -1.0f / 6},
        {-1.0f / 6, 1.0f / 6, -1.0f / 6},
        {1.0f / 24, 1.0f / 12, 1.0f / 6},
        {1.0f / 24, -1.0f / 12, 1.0f / 6},
        {0, 0, 1},
    };
    size_t per = pg_sgemm_packed_size(oc, ic);
    float *plain = __builtin_malloc(sizeof(float) * 36 * (size_t)oc * ic);
    for (int o = 0; o < oc; o++)
        for (int i = 0; i < ic; i++) {
            const float *g = w + ((size_t)o * ic + i) * 9;
            float tmp[6][3];
            for (int r = 0; r < 6; r++)
                for (int c = 0; c < 3; c++)
                    tmp[r][c] = G[r][0] * g[c] + G[r][1] * g[3 + c] + G[r][2] * g[6 + c];
            for (int r = 0; r < 6; r++)
                for (int c = 0; c < 6; c++)
                    plain[((size_t)(r * 6 + c) * oc + o) * ic + i] =
                        tmp[r][0] * G[c][0] + tmp[r][1] * G[c][1] + tmp[r][2] * G[c][2];
        }
    for (int pos = 0; pos < 36; pos++)
        pg_sgemm_pack_a(plain + (size_t)pos * oc * ic, ic, oc, ic, U + pos * per);
    __builtin_free(plain);
}

// Distance between the 36 transform positions in V and M. A plain ic*nb stride is a multiple of
// 4 KiB for 64 channels, which puts all 36 vectors of one tile group in the same L1 set; one
// extra cache line per position spreads them out.
static size_t pg_wino_pos_stride(int channels, int nb) { return (size_t)channels * nb + 16; }

size_t pg_wino43_scratch_size(int oc, int ic) {
    return 36 * pg_wino_pos_stride(ic, PG_WINO_CHUNK) +
           36 * pg_wino_pos_stride(oc, PG_WINO_CHUNK) + 64;
}

int pg_wino43_available(void) { return pg_cpu()->avx512f; }

#pragma clang attribute push(__attribute__((target(PG_AVX512))), apply_to = function)

/// Lanes i of a 16-float load at column x that lie inside [0, W).
static inline __mmask16 pg_span_mask(int x, int W) {
    int lo = x < 0 ? -x : 0, hi = W - x;
    if (hi > 16) hi = 16;
    if (hi <= lo) return 0;
    return (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

/// Splits 64 floats (a, b, c, d) into their 4 phases: out[p][t] = q[4t + p].
static inline __attribute__((always_inline)) void pg_deinterleave4(__m512 a, __m512 b, __m512 c, __m512 d,
                                                                   __m512 out[4]) {
    for (int p = 0; p < 4; p++) {
        __m512i idx = _mm512_setr_epi32(p, p + 4, p + 8, p + 12, p + 16, p + 20, p + 24, p + 28,
                                        p, p + 4, p + 8, p + 12, p + 16, p + 20, p + 24, p + 28);
        __m512 lo = _mm512_permutex2var_ps(a, idx, b);
        __m512 hi = _mm512_permutex2var_ps(c, idx, d);
        out[p] = _mm512_mask_blend_ps(0xFF00, lo, hi);
    }
}

/// 1-D input transform B^T d over six vectors.
static inline __attribute__((always_inline)) void pg_bt6(const __m512 d[6], __m512 t[6]) {
    const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), five = _mm512_set1_ps(5);
    t[0] = _mm512_fnmadd_ps(five, d[2], _mm512_fmadd_ps(four, d[0], d[4]));
    t[1] = _mm512_fnmadd_ps(four, _mm512_add_ps(d[1], d[2]), _mm512_add_ps(d[3], d[4]));
    t[2] = _mm512_fmadd_ps(four, _mm512_sub_ps(d[1], d[2]), _mm512_sub_ps(d[4], d[3]));
    t[3] = _mm512_fmadd_ps(two, _mm512_sub_ps(d[3], d[1]), _mm512_sub_ps(d[4], d[2]));
    t[4] = _mm512_fnmadd_ps(two, _mm512_sub_ps(d[3], d[1]), _mm512_sub_ps(d[4], d[2]));
    t[5] = _mm512_fnmadd_ps(five, d[3], _mm512_fmadd_ps(four, d[1], d[5]));
}

/// 1-D output transform A^T m over six vectors.
static inline __attribute__((always_inline)) void pg_at6(const __m512 m[6], __m512 o[4]) {
    __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
    __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
    o[1] = _mm512_fmadd_ps(_mm512_set1_ps(2), d34, d12);
    o[2] = _mm512_fmadd_ps(_mm512_set1_ps(4), s34, s12);
    o[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8), d34, d12), m[5]);
}

static inline __attribute__((always_inline)) __m512 pg_wino_act(__m512 v, const pg_activation *act, int ch) {
    switch (act ? act->kind : PG_ACT_NONE) {
    case PG_ACT_RELU: return _mm512_max_ps(v, _mm512_setzero_ps());
    case PG_ACT_LEAKY: {
        __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
        return _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(act->alpha));
    }
    case PG_ACT_PRELU: {
        __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
        return _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(act->slopes[ch]));
    }
    case PG_ACT_CLIP:
        return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(act->alpha)), _mm512_set1_ps(act->beta));
    default: return v;
    }
}

/// Input transform of one unit. The 6 input rows of each channel are read straight from the
/// image with masked loads: lanes left of column 0, right of column W-1 or in rows outside the
/// image read as zero, which is the convolution's zero padding (no staging copy).
static void pg_wino_input(const float *in, int ic, int H, int W, int y0, int x0, int nb, float *V) {
    const size_t vs = pg_wino_pos_stride(ic, nb);
    const int groups = nb / 16;
    // Masks of the 8 loads per 16-tile group: columns x0 + 64v + {0,16,32,48} and the same + 4.
    __mmask16 masks[PG_WINO_CHUNK / 16][8];
    for (int v = 0; v < groups; v++)
        for (int j = 0; j < 8; j++) masks[v][j] = pg_span_mask(x0 + 64 * v + 16 * (j & 3) + 4 * (j >> 2), W);
    int xa = x0 < 0 ? 0 : x0, xe = x0 + 4 * nb + 2 < W ? x0 + 4 * nb + 2 : W;
    for (int c = 0; c < ic; c++) {
        const float *src = in + (size_t)c * H * W;
        // The input planes come from memory (a 64-channel 256x256 map is 16 MiB): fetch a later
        // channel's rows while this one is transformed.
        if (c + 1 < ic && xe > xa)
            for (int k = 0; k < 6; k++) {
                int y = y0 + k;
                if (y < 0 || y >= H) continue;
                const char *p = (const char *)(src + (size_t)(c + 2 < ic ? 2 : 1) * H * W + (size_t)y * W + xa);
                for (int off = 0; off < (xe - xa) * 4; off += 64) _mm_prefetch(p + off, _MM_HINT_T1);
            }
        for (int v = 0; v < groups; v++) {
            __m512 t[6][6];
            const __mmask16 *mk = masks[v];
            for (int k = 0; k < 6; k++) {
                __m512 d[6], ph[4], sh[4];
                int y = y0 + k;
                if (y < 0 || y >= H) {
                    for (int i = 0; i < 6; i++) t[k][i] = _mm512_setzero_ps();
                    continue;
                }
                // Lanes outside the image are masked off, so the (possibly out-of-range) address
                // is never dereferenced for them.
                const float *q = src + (size_t)y * W + (x0 + 64 * v);
                pg_deinterleave4(_mm512_maskz_loadu_ps(mk[0], q), _mm512_maskz_loadu_ps(mk[1], q + 16),
                                 _mm512_maskz_loadu_ps(mk[2], q + 32), _mm512_maskz_loadu_ps(mk[3], q + 48), ph);
                pg_deinterleave4(_mm512_maskz_loadu_ps(mk[4], q + 4), _mm512_maskz_loadu_ps(mk[5], q + 20),
                                 _mm512_maskz_loadu_ps(mk[6], q + 36), _mm512_maskz_loadu_ps(mk[7], q + 52), sh);
                d[0] = ph[0]; d[1] = ph[1]; d[2] = ph[2]; d[3] = ph[3]; d[4] = sh[0]; d[5] = sh[1];
                pg_bt6(d, t[k]);
            }
            for (int col = 0; col < 6; col++) {
                __m512 d[6], r[6];
                for (int k = 0; k < 6; k++) d[k] = t[k][col];
                pg_bt6(d, r);
                for (int row = 0; row < 6; row++)
                    _mm512_storeu_ps(V + (size_t)(row * 6 + col) * vs + (size_t)c * nb + 16 * v, r[row]);
            }
        }
    }
}

static void pg_wino_output(const float *M, int oc, int nb, int nt, float *out, int OH, int OW,
                           int y0, int x0, const float *bias, const pg_activation *act) {
    int slow = act && (act->kind == PG_ACT_SIGMOID || act->kind == PG_ACT_SILU);
    const size_t ms = pg_wino_pos_stride(oc, nb);
    for (int o = 0; o < oc; o++) {
        float *dst = out + (size_t)o * OH * OW;
        __m512 bv = _mm512_set1_ps(bias ? bias[o] : 0.0f);
        for (int v = 0; v < nb / 16; v++) {
            int tiles_here = nt - 16 * v;
            if (tiles_here <= 0) break;
            __m512 rows[6][4];
            for (int r = 0; r < 6; r++) {
                __m512 m[6];
                for (int c = 0; c < 6; c++)
                    m[c] = _mm512_loadu_ps(M + (size_t)(r * 6 + c) * ms + (size_t)o * nb + 16 * v);
                pg_at6(m, rows[r]);
            }
            for (int j = 0; j < 4; j++) {
                __m512 m[6], y[4];
                for (int r = 0; r < 6; r++) m[r] = rows[r][j];
                pg_at6(m, y);
                for (int i = 0; i < 4; i++) rows[i][j] = y[i];  // rows[i][j] now holds Y[i][j]
            }
            for (int i = 0; i < 4; i++) {
                int yy = y0 + i;
                if (yy >= OH) break;
                __m512 Y[4];
                for (int j = 0; j < 4; j++) Y[j] = pg_wino_act(_mm512_add_ps(rows[i][j], bv), slow ? NULL : act, o);
                float *drow = dst + (size_t)yy * OW;
                int xbase = x0 + 64 * v;
                for (int qv = 0; qv < 4; qv++) {
                    int xs = xbase + 16 * qv;
                    int n = OW - xs;
                    if (n <= 0) break;
                    __m512i idx = _mm512_setr_epi32(
                        4 * qv + 0, 16 + 4 * qv + 0, 4 * qv + 0, 16 + 4 * qv + 0,
                        4 * qv + 1, 16 + 4 * qv + 1, 4 * qv + 1, 16 + 4 * qv + 1,
                        4 * qv + 2, 16 + 4 * qv + 2, 4 * qv + 2, 16 + 4 * qv + 2,
                        4 * qv + 3, 16 + 4 * qv + 3, 4 * qv + 3, 16 + 4 * qv + 3);
                    __m512 lo = _mm512_permutex2var_ps(Y[0], idx, Y[1]);
                    __m512 hi = _mm512_permutex2var_ps(Y[2], idx, Y[3]);
                    __m512 res = _mm512_mask_blend_ps(0xCCCC, lo, hi);
                    __mmask16 mk = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1u);
                    // Streaming stores skip the read-for-ownership of output lines that are not
                    // in cache anyway (measured ~15% per layer on a chain of 64-channel maps).
                    if (n >= 16 && !slow && ((uintptr_t)(drow + xs) & 63) == 0)
                        _mm512_stream_ps(drow + xs, res);
                    else
                        _mm512_mask_storeu_ps(drow + xs, mk, res);
                    if (slow) pg_bias_activation(drow + xs, (size_t)(n >= 16 ? 16 : n), 0, act, o);
                }
            }
        }
    }
}

void pg_wino43_conv(const float *in, int ic, int H, int W, float *out, int oc, int OH, int OW,
                    int pad_top, int pad_left, const float *U, const float *bias,
                    const pg_activation *act, float *scratch, int *next_unit, int ith, int nth) {
    int tiles_y = (OH + 3) / 4, tiles_x = (OW + 3) / 4;
    int chunks = (tiles_x + PG_WINO_CHUNK - 1) / PG_WINO_CHUNK;
    int units = tiles_y * chunks;
    _Atomic int *claim = (_Atomic int *)next_unit;
    float *V = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *M = V + 36 * pg_wino_pos_stride(ic, PG_WINO_CHUNK);
    size_t per = pg_sgemm_packed_size(oc, ic);
    // Units run chunk-major (consecutive tile rows of one column chunk) and are claimed in
    // groups of four, so neighbouring tile rows, which share two input rows, run back to back
    // on one thread and find those rows in cache more often.
    enum { GROUP = 4 };
    int groups = (units + GROUP - 1) / GROUP;
    int g0 = (int)((long)groups * ith / nth), g1 = (int)((long)groups * (ith + 1) / nth);
    for (int gi = claim ? atomic_fetch_add(claim, 1) : g0; gi < (claim ? groups : g1);
         gi = claim ? atomic_fetch_add(claim, 1) : gi + 1)
    for (int u = gi * GROUP; u < units && u < (gi + 1) * GROUP; u++) {
        int ch = u / tiles_y, ty = u % tiles_y;
        int t0 = ch * PG_WINO_CHUNK;
        int nt = tiles_x - t0 < PG_WINO_CHUNK ? tiles_x - t0 : PG_WINO_CHUNK;
        int nb = (nt + 15) / 16 * 16;
        int oy = 4 * ty, ox = 4 * t0;
#ifdef PG_WINO_PROFILE
        double t = pg_wino_now();
#endif
        pg_wino_input(in, ic, H, W, oy - pad_top, ox - pad_left, nb, V);
        PG_WINO_MARK(0, t);
        for (int pos = 0; pos < 36; pos++)
            pg_sgemm_packed_avx512(oc, nb, ic, U + pos * per, V + (size_t)pos * pg_wino_pos_stride(ic, nb), nb,
                                   M + (size_t)pos * pg_wino_pos_stride(oc, nb), nb, NULL, NULL, 0);
        PG_WINO_MARK(1, t);
        pg_wino_output(M, oc, nb, nt, out, OH, OW, oy, ox, bias, act);
        PG_WINO_MARK(2, t);
    }
    _mm_sfence();
}

#pragma clang attribute pop
