// AMX bf16 convolution on activations kept in bf16 between layers (padded NHWC), for chains of
// stride-1 "same" convolutions such as the upscalers' 64-channel bodies.
//
// Why NHWC and pixels as the A operand: with C[pixels x oc] += A[pixels x channels] * B[channels
// x oc], the A tile for kernel tap (ky, kx) and 32 input channels is 16 rows of 64 bytes at
// &buf[y + ky][x + kx][cb * 32] with a row stride of one pixel, so every tap's load is
// cache-line aligned (the planar layout puts two of three taps across line boundaries), and no
// per-layer conversion is needed: each layer's epilogue writes bf16 pixels (32 channels = one
// 64-byte store) straight into the zero-bordered buffer the next layer reads. Bias and the
// activation's slopes are per output channel, i.e. per column of C: one vector per tile.
#include "nhwc.h"
#include <string.h>

#define PG_NHWC_TARGET PG_AVX512 ",avx512bf16,amx-tile,amx-bf16"

void pg_nhwc_layout_make(int channels, int H, int W, int border, pg_nhwc_layout *l) {
    l->channels_padded = pg_nhwc_round_up(channels, 32);
    l->border = border;
    l->row_pixels = pg_nhwc_round_up(W, 32) + 2 * border;
    l->rows = H + 2 * border;
}

size_t pg_nhwc_size(const pg_nhwc_layout *l) {
    return (size_t)l->rows * l->row_pixels * l->channels_padded;
}

static uint16_t pg_nhwc_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

size_t pg_amx_nhwc_weight_size(int oc, int ic, int kh, int kw) {
    return (size_t)pg_nhwc_round_up(oc, 32) * kh * kw * pg_nhwc_round_up(ic, 32);
}

void pg_amx_nhwc_pack_weights(const float *w, int oc, int ic, int kh, int kw, uint16_t *packed) {
    int oblocks = pg_nhwc_round_up(oc, 32) / 16, cblocks = pg_nhwc_round_up(ic, 32) / 32;
    size_t idx = 0;
    // B tiles in VNNI order: [oc block][ky][kx][32-channel block][channel pair][oc][2].
    for (int ob = 0; ob < oblocks; ob++)
        for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++)
                for (int cb = 0; cb < cblocks; cb++)
                    for (int pr = 0; pr < 16; pr++)
                        for (int n = 0; n < 16; n++)
                            for (int e = 0; e < 2; e++) {
                                int o = ob * 16 + n, c = cb * 32 + 2 * pr + e;
                                float v = (o < oc && c < ic) ? w[(((size_t)o * ic + c) * kh + ky) * kw + kx] : 0.0f;
                                packed[idx++] = pg_nhwc_bf16(v);
                            }
}

__attribute__((target(PG_NHWC_BASE)))
void pg_nhwc_pack(const float *in, int C, int H, int W, const pg_nhwc_layout *l, uint16_t *dst, int y0, int y1) {
    int cp = l->channels_padded;
    for (int y = y0; y < y1; y++)
        for (int x0 = 0; x0 < W; x0 += 16) {
            int n = W - x0 < 16 ? W - x0 : 16;
            __mmask16 mk = (__mmask16)((1u << n) - 1u);
            uint16_t *d = dst + ((size_t)(y + l->border) * l->row_pixels + x0 + l->border) * cp;
            for (int cb = 0; cb < cp; cb += 32) {
                __m512 lo[16], hi[16];
                for (int i = 0; i < 16; i++) {
                    int c0 = cb + i, c1 = cb + 16 + i;
                    lo[i] = c0 < C ? _mm512_maskz_loadu_ps(mk, in + ((size_t)c0 * H + y) * W + x0) : _mm512_setzero_ps();
                    hi[i] = c1 < C ? _mm512_maskz_loadu_ps(mk, in + ((size_t)c1 * H + y) * W + x0) : _mm512_setzero_ps();
                }
                pg_transpose16(lo);
                pg_transpose16(hi);
                for (int m = 0; m < n; m++)
                    _mm512_storeu_si512(d + (size_t)m * cp + cb, (__m512i)_mm512_cvtne2ps_pbh(hi[m], lo[m]));
            }
        }
}

#pragma clang attribute push(__attribute__((target(PG_NHWC_TARGET))), apply_to = function)

void pg_amx_nhwc_conv(const uint16_t *in, const pg_nhwc_layout *il, int H, int W, int pt, int pl,
                      const uint16_t *wpacked, int oc, int kh, int kw, const float *bias,
                      const pg_activation *act, uint16_t *out_nhwc, const pg_nhwc_layout *ol,
                      float *out_nchw, int *counters, int ith, int nth) {
    pg_amx_load_tiles_16x64();
    pg_nhwc_epilogue ep = {oc, H, W, bias, act, out_nhwc, ol, out_nchw};
    __attribute__((aligned(64))) float cbuf[2][4][16][16];
    int have_prev = 0, prev_y = 0, prev_obp = 0, prev_x0 = 0, cur = 0;
    pg_nhwc_channels prev_ch[2], cur_ch[2];
    int xblocks = (W + 31) / 32, obps = pg_nhwc_round_up(oc, 32) / 32;
    int cp = il->channels_padded, cblocks = cp / 32, nsteps = kh * kw * cblocks;
    size_t pstride = (size_t)cp * 2;  // bytes between pixels
    size_t obstride = (size_t)kh * kw * cblocks * 512;  // bf16 elements per 16-channel block
    int ngroups = (H + PG_NHWC_ROWS - 1) / PG_NHWC_ROWS;
    int owner = counters ? ith : 0, gi;
    while ((gi = pg_nhwc_claim(counters, ngroups, ith, nth, &owner)) >= 0) {
        int ybase = gi * PG_NHWC_ROWS;
        int yend = H < ybase + PG_NHWC_ROWS ? H : ybase + PG_NHWC_ROWS;
        // Output-channel blocks outermost: one block's weights (36 KB for 64 channels, 3x3)
        // stay in L1 while the group's pixels stream past from L2.
        for (int obp = 0; obp < obps; obp++) {
            cur_ch[0] = pg_nhwc_load_channels(&ep, obp * 32);
            cur_ch[1] = pg_nhwc_load_channels(&ep, obp * 32 + 16);
            const uint16_t *wa = wpacked + (size_t)(2 * obp) * obstride;
            const uint16_t *wb = wa + obstride;
            // With an odd number of 16-channel blocks the last pair's second block is all
            // padding: its multiplies are skipped (its tiles stay zero).
            int both = obp * 32 + 16 < oc;
            for (int y = ybase; y < yend; y++)
                for (int xb = 0; xb < xblocks; xb++) {
                    int x0 = xb * 32;
                    _tile_zero(0);
                    _tile_zero(1);
                    _tile_zero(2);
                    _tile_zero(3);
                    // K steps run over (ky, kx, 32-channel block) in the weights' order. Each
                    // operand tile is reloaded as soon as its last multiply of the step has been
                    // issued, so the next step's loads overlap this step's multiplies.
                    const uint16_t *base = in + ((size_t)(y - pt + il->border) * il->row_pixels + x0 - pl + il->border) * cp;
                    int cb = 0, kx = 0, ky = 0;
                    _tile_loadd(4, base, pstride);
                    _tile_loadd(6, wa, 64);
                    if (both) _tile_loadd(7, wb, 64);
                    _tile_loadd(5, base + 16 * (size_t)cp, pstride);
                    for (int st = 1; st <= nsteps; st++) {
                        _tile_dpbf16ps(0, 4, 6);
                        if (both) _tile_dpbf16ps(1, 4, 7);
                        if (st == nsteps) {
                            _tile_dpbf16ps(2, 5, 6);
                            if (both) _tile_dpbf16ps(3, 5, 7);
                            break;
                        }
                        if (++cb == cblocks) {
                            cb = 0;
                            if (++kx == kw) {
                                kx = 0;
                                ky++;
                            }
                        }
                        const uint16_t *a = base + ((size_t)ky * il->row_pixels + kx) * cp + cb * 32;
                        _tile_loadd(4, a, pstride);
                        _tile_dpbf16ps(2, 5, 6);
                        _tile_loadd(6, wa + (size_t)st * 512, 64);
                        if (both) {
                            _tile_dpbf16ps(3, 5, 7);
                            _tile_loadd(7, wb + (size_t)st * 512, 64);
                        }
                        _tile_loadd(5, a + 16 * (size_t)cp, pstride);
                    }
                    // The previous unit's epilogue runs while this unit's multiplies are in
                    // flight: the AVX-512 work overlaps the AMX work.
                    if (have_prev) pg_nhwc_epilogue_run(&ep, cbuf[cur ^ 1], prev_y, prev_obp, prev_x0, prev_ch);
                    _tile_stored(0, cbuf[cur][0], 64);
                    _tile_stored(1, cbuf[cur][1], 64);
                    _tile_stored(2, cbuf[cur][2], 64);
                    _tile_stored(3, cbuf[cur][3], 64);
                    have_prev = 1;
                    prev_y = y;
                    prev_obp = obp;
                    prev_x0 = x0;
                    prev_ch[0] = cur_ch[0];
                    prev_ch[1] = cur_ch[1];
                    cur ^= 1;
                }
        }
    }
    if (have_prev) pg_nhwc_epilogue_run(&ep, cbuf[cur ^ 1], prev_y, prev_obp, prev_x0, prev_ch);
    _tile_release();
}

#pragma clang attribute pop
