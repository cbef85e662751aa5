// bf16 convolution with AVX512-BF16 dot products (`vdpbf16ps`) on bf16 NHWC activations, for
// CPUs that have AVX512-BF16 but no AMX tiles (AMD Zen 4/5, Intel Cooper Lake). It reads and
// writes exactly what the AMX chain kernel does (pg_nhwc_layout buffers, the same packed weights,
// the same epilogue), so a ConvolutionChain runs on either.
//
// Why this shape: `vdpbf16ps acc, a, b` adds a[2i] * b[2i] + a[2i+1] * b[2i+1] into lane i. The
// packed weights (AMX B-tile order) hold, per kernel tap and input-channel pair, 16 output
// channels x 2 channels = one 64-byte vector; the activation buffer holds a pixel's channel pair
// as 4 contiguous bytes, which broadcasts to all lanes. So lanes are output channels, each
// multiply-add covers two input channels, and a register block of 8 pixels x 32 output channels
// (16 accumulators) reuses every weight vector 8 times and every broadcast twice.
#include "nhwc.h"

int pg_avx512bf16_available(void) { return pg_cpu()->avx512bf16; }

#pragma clang attribute push(__attribute__((target(PG_NHWC_BASE))), apply_to = function)

enum { PG_BF16_PX = 8 };  // pixels per register block

/// Sums of PG_BF16_PX pixels starting at `a` (the first tap's first channel pair) for one or two
/// 16-channel blocks, into c[pixel][block] rows of the unit's 32 x 32 block.
static inline __attribute__((always_inline)) void pg_bf16_block(const uint16_t *a, int cp, int row_stride, int kh,
                                                                int kw, int cblocks, const uint16_t *wa,
                                                                const uint16_t *wb, int both, float c[4][16][16],
                                                                int px0) {
    __m512 acc0[PG_BF16_PX], acc1[PG_BF16_PX];
    for (int m = 0; m < PG_BF16_PX; m++) {
        acc0[m] = _mm512_setzero_ps();
        acc1[m] = _mm512_setzero_ps();
    }
    const uint16_t *w0 = wa, *w1 = wb;
    for (int ky = 0; ky < kh; ky++)
        for (int kx = 0; kx < kw; kx++)
            for (int cb = 0; cb < cblocks; cb++) {
                const uint16_t *p = a + ((size_t)ky * row_stride + kx) * cp + cb * 32;
                for (int pr = 0; pr < 16; pr++, w0 += 32, w1 += 32) {
                    __m512bh v0 = (__m512bh)_mm512_loadu_si512(w0);
                    if (both) {
                        __m512bh v1 = (__m512bh)_mm512_loadu_si512(w1);
                        for (int m = 0; m < PG_BF16_PX; m++) {
                            int32_t pair;
                            __builtin_memcpy(&pair, p + (size_t)m * cp + 2 * pr, 4);
                            __m512bh x = (__m512bh)_mm512_set1_epi32(pair);
                            acc0[m] = _mm512_dpbf16_ps(acc0[m], x, v0);
                            acc1[m] = _mm512_dpbf16_ps(acc1[m], x, v1);
                        }
                    } else {
                        for (int m = 0; m < PG_BF16_PX; m++) {
                            int32_t pair;
                            __builtin_memcpy(&pair, p + (size_t)m * cp + 2 * pr, 4);
                            acc0[m] = _mm512_dpbf16_ps(acc0[m], (__m512bh)_mm512_set1_epi32(pair), v0);
                        }
                    }
                }
            }
    for (int m = 0; m < PG_BF16_PX; m++) {
        int px = px0 + m;
        _mm512_store_ps(c[(px / 16) * 2][px % 16], acc0[m]);
        _mm512_store_ps(c[(px / 16) * 2 + 1][px % 16], both ? acc1[m] : _mm512_setzero_ps());
    }
}

void pg_bf16_nhwc_conv(const uint16_t *in, const pg_nhwc_layout *il, int H, int W, int pt, int pl,
                       const uint16_t *wpacked, int oc, int kh, int kw, const float *bias,
                       const pg_activation *act, uint16_t *out_nhwc, const pg_nhwc_layout *ol,
                       float *out_nchw, int *counters, int ith, int nth) {
    pg_nhwc_epilogue ep = {oc, H, W, bias, act, out_nhwc, ol, out_nchw};
    __attribute__((aligned(64))) float cbuf[4][16][16];
    int xblocks = (W + 31) / 32, obps = pg_nhwc_round_up(oc, 32) / 32;
    int cp = il->channels_padded, cblocks = cp / 32;
    size_t obstride = (size_t)kh * kw * cblocks * 512;  // bf16 elements per 16-channel block
    int ngroups = (H + PG_NHWC_ROWS - 1) / PG_NHWC_ROWS;
    int owner = counters ? ith : 0, gi;
    while ((gi = pg_nhwc_claim(counters, ngroups, ith, nth, &owner)) >= 0) {
        int ybase = gi * PG_NHWC_ROWS;
        int yend = H < ybase + PG_NHWC_ROWS ? H : ybase + PG_NHWC_ROWS;
        // Output-channel blocks outermost, as in the AMX kernel: one block's weights stay in L1
        // while the group's pixels stream past from L2.
        for (int obp = 0; obp < obps; obp++) {
            pg_nhwc_channels ch[2] = {pg_nhwc_load_channels(&ep, obp * 32), pg_nhwc_load_channels(&ep, obp * 32 + 16)};
            const uint16_t *wa = wpacked + (size_t)(2 * obp) * obstride;
            const uint16_t *wb = wa + obstride;
            // With an odd number of 16-channel blocks the last pair's second block is padding.
            int both = obp * 32 + 16 < oc;
            for (int y = ybase; y < yend; y++)
                for (int xb = 0; xb < xblocks; xb++) {
                    int x0 = xb * 32;
                    for (int px0 = 0; px0 < 32; px0 += PG_BF16_PX) {
                        // Pixels past the row's end are read (the buffer's rows are padded to 32
                        // pixels plus the border) but never written: skip whole blocks of them.
                        if (x0 + px0 >= W) {
                            for (int m = px0; m < 32; m++) {
                                _mm512_store_ps(cbuf[(m / 16) * 2][m % 16], _mm512_setzero_ps());
                                _mm512_store_ps(cbuf[(m / 16) * 2 + 1][m % 16], _mm512_setzero_ps());
                            }
                            break;
                        }
                        const uint16_t *a = in + ((size_t)(y - pt + il->border) * il->row_pixels + x0 + px0 - pl + il->border) * cp;
                        if (both)
                            pg_bf16_block(a, cp, il->row_pixels, kh, kw, cblocks, wa, wb, 1, cbuf, px0);
                        else
                            pg_bf16_block(a, cp, il->row_pixels, kh, kw, cblocks, wa, wb, 0, cbuf, px0);
                    }
                    pg_nhwc_epilogue_run(&ep, cbuf, y, obp, x0, ch);
                }
        }
    }
}

#pragma clang attribute pop
