// Helpers shared by the kernels that read and write bf16 NHWC activations (pg_nhwc_layout):
// the AMX kernel (amx_nhwc.c) and the AVX512-BF16 dot-product kernel (bf16dot.c). Both keep a
// 32-pixel x 32-output-channel block of fp32 sums per unit and finish it with the same epilogue.
#ifndef PEREGRINE_CKERNELS_NHWC_H
#define PEREGRINE_CKERNELS_NHWC_H
#include "internal.h"
#include <immintrin.h>
#include <math.h>
#include <stdatomic.h>

/// What the shared helpers need: AVX-512 and the bf16 conversions, no AMX (so the AVX512-BF16
/// kernel can inline them on CPUs without tiles).
#define PG_NHWC_BASE PG_AVX512 ",avx512bf16"

static inline int pg_nhwc_round_up(int x, int m) { return (x + m - 1) / m * m; }

#pragma clang attribute push(__attribute__((target(PG_NHWC_BASE))), apply_to = function)

/// Transposes a 16 x 16 float block held in 16 registers: at each level b (8, 4, 2, 1) rows i
/// and i + b exchange their off-diagonal b-wide blocks, which swaps bit b of row and column.
static inline void pg_transpose16(__m512 r[16]) {
    for (int b = 8; b >= 1; b >>= 1) {
        int lo[16], hi[16];
        for (int j = 0; j < 16; j++) {
            lo[j] = (j & b) == 0 ? j : 16 + j - b;
            hi[j] = (j & b) == 0 ? j + b : 16 + j;
        }
        __m512i ilo = _mm512_loadu_si512(lo), ihi = _mm512_loadu_si512(hi);
        for (int i = 0; i < 16; i++) {
            if (i & b) continue;
            __m512 a = r[i], c = r[i + b];
            r[i] = _mm512_permutex2var_ps(a, ilo, c);
            r[i + b] = _mm512_permutex2var_ps(a, ihi, c);
        }
    }
}

/// Where and how one layer's epilogue writes.
typedef struct {
    int oc, H, W;
    const float *bias;
    const pg_activation *act;
    uint16_t *out_nhwc;
    const pg_nhwc_layout *ol;
    float *out_nchw;
} pg_nhwc_epilogue;

/// Bias, activation and the activation's parameters of 16 output channels as vectors.
typedef struct {
    __m512 bias, slope, lo, hi;
    __mmask16 valid;
} pg_nhwc_channels;

static inline pg_nhwc_channels pg_nhwc_load_channels(const pg_nhwc_epilogue *e, int o0) {
    pg_nhwc_channels ch;
    int n = e->oc - o0;
    ch.valid = n <= 0 ? 0 : (n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u));
    ch.bias = e->bias ? _mm512_maskz_loadu_ps(ch.valid, e->bias + o0) : _mm512_setzero_ps();
    int kind = e->act ? e->act->kind : PG_ACT_NONE;
    if (kind == PG_ACT_PRELU)
        ch.slope = _mm512_maskz_loadu_ps(ch.valid, e->act->slopes + o0);
    else
        ch.slope = _mm512_set1_ps(kind == PG_ACT_LEAKY ? e->act->alpha : (kind == PG_ACT_RELU ? 0.0f : 1.0f));
    ch.lo = _mm512_set1_ps(kind == PG_ACT_CLIP ? e->act->alpha : -INFINITY);
    ch.hi = _mm512_set1_ps(kind == PG_ACT_CLIP ? e->act->beta : INFINITY);
    return ch;
}

static inline __m512 pg_nhwc_activate(__m512 v, const pg_nhwc_channels *ch) {
    v = _mm512_add_ps(v, ch->bias);
    // none, ReLU, leaky and PReLU are all "negative part times a slope" (1 for none).
    __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
    v = _mm512_mask_mul_ps(v, neg, v, ch->slope);
    return _mm512_min_ps(_mm512_max_ps(v, ch->lo), ch->hi);
}

/// Epilogue of one unit: tiles c[pb * 2 + ob] hold 16 pixels (rows) x 16 channels of pixel
/// block pb (x0 + 16 pb) and channel block ob (32 obp + 16 ob).
static inline void pg_nhwc_epilogue_run(const pg_nhwc_epilogue *e, float c[4][16][16], int y, int obp, int x0,
                                 const pg_nhwc_channels ch[2]) {
    for (int pb = 0; pb < 2; pb++) {
        int xs = x0 + 16 * pb, n = e->W - xs;
        if (n <= 0) continue;
        if (n > 16) n = 16;
        if (e->out_nhwc) {
            const pg_nhwc_layout *l = e->ol;
            uint16_t *d = e->out_nhwc + ((size_t)(y + l->border) * l->row_pixels + xs + l->border) * l->channels_padded + obp * 32;
            for (int m = 0; m < n; m++, d += l->channels_padded) {
                __m512 v0 = _mm512_maskz_mov_ps(ch[0].valid, pg_nhwc_activate(_mm512_load_ps(c[pb * 2][m]), &ch[0]));
                __m512 v1 = _mm512_maskz_mov_ps(ch[1].valid, pg_nhwc_activate(_mm512_load_ps(c[pb * 2 + 1][m]), &ch[1]));
                _mm512_store_si512(d, (__m512i)_mm512_cvtne2ps_pbh(v1, v0));
            }
        } else {
            __mmask16 mk = (__mmask16)((1u << n) - 1u);
            size_t plane = (size_t)e->H * e->W;
            for (int ob = 0; ob < 2; ob++) {
                int o0 = obp * 32 + ob * 16;
                if (o0 >= e->oc) break;
                __m512 r[16];
                for (int m = 0; m < 16; m++) r[m] = pg_nhwc_activate(_mm512_load_ps(c[pb * 2 + ob][m]), &ch[ob]);
                // Bias and activation go on before the transpose, while channels are lanes.
                pg_transpose16(r);
                int rows = e->oc - o0 < 16 ? e->oc - o0 : 16;
                float *d = e->out_nchw + ((size_t)o0 * e->H + y) * e->W + xs;
                for (int r0 = 0; r0 < rows; r0++, d += plane) _mm512_mask_storeu_ps(d, mk, r[r0]);
            }
        }
    }
}

enum { PG_NHWC_ROWS = 4 };  // output rows a worker claims at a time

/// The next row group for worker ith, or -1 when all are taken. Worker j's share is the j-th
/// contiguous range of groups, claimed front to back through counters[j]: consecutive groups
/// share kh - 1 input rows, which are then still in this core's L2 (about 5% faster per layer
/// than interleaving groups between workers). A worker done with its share takes groups from
/// the others' (`*owner` walks the shares from its own on), so a worker the OS delays does not
/// hold up the layer. With counters NULL each worker does its own share (`*owner` then counts
/// the groups done).
static inline int pg_nhwc_claim(int *counters, int ngroups, int ith, int nth, int *owner) {
    if (!counters) {
        int g = (int)((long)ngroups * ith / nth) + (*owner)++;
        return g < (int)((long)ngroups * (ith + 1) / nth) ? g : -1;
    }
    for (; *owner < ith + nth; ++*owner) {
        int j = *owner % nth;
        int g0 = (int)((long)ngroups * j / nth), g1 = (int)((long)ngroups * (j + 1) / nth);
        int g = g0 + atomic_fetch_add((_Atomic int *)&counters[j], 1);
        if (g < g1) return g;
    }
    return -1;
}

#pragma clang attribute pop
#endif
