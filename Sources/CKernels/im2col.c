// Lowering helpers for convolutions that are not 3x3 stride 1: im2col for the GEMM path and a
// direct depthwise kernel (one input channel per group, where a GEMM would have K = kh*kw).
#include "internal.h"
#include <string.h>

void pg_im2col(const float *in, int C, int H, int W, int kh, int kw, int sy, int sx, int dy, int dx,
               int pt, int pl, int OW, long n0, int nw, float *col) {
    for (int c = 0; c < C; c++) {
        const float *src = in + (size_t)c * H * W;
        for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++) {
                float *dst = col + ((size_t)(c * kh + ky) * kw + kx) * nw;
                // Walk the block one output-row segment at a time: along a segment the source
                // column advances by sx, so the in-image span is one contiguous range.
                long j = 0;
                while (j < nw) {
                    long p = n0 + j, oy = p / OW, ox0 = p % OW;
                    long len = OW - ox0 < nw - j ? OW - ox0 : nw - j;
                    long iy = oy * sy - pt + (long)ky * dy;
                    float *d = dst + j;
                    if (iy < 0 || iy >= H) {
                        memset(d, 0, sizeof(float) * (size_t)len);
                    } else {
                        const float *srow = src + iy * W;
                        long off = (long)kx * dx - pl;  // ix = ox * sx + off
                        // ox in [lo, hi) has 0 <= ix < W
                        long lo = off >= 0 ? 0 : (-off + sx - 1) / sx;
                        long hi = (W - off + sx - 1) / sx;
                        if (lo < ox0) lo = ox0;
                        if (hi > ox0 + len) hi = ox0 + len;
                        if (hi < lo) hi = lo;
                        for (long ox = ox0; ox < lo; ox++) d[ox - ox0] = 0.0f;
                        if (sx == 1) {
                            if (hi > lo) memcpy(d + (lo - ox0), srow + lo + off, sizeof(float) * (size_t)(hi - lo));
                        } else {
                            for (long ox = lo; ox < hi; ox++) d[ox - ox0] = srow[ox * sx + off];
                        }
                        for (long ox = hi; ox < ox0 + len; ox++) d[ox - ox0] = 0.0f;
                    }
                    j += len;
                }
            }
    }
}

void pg_depthwise_conv(const float *in, int H, int W, float *out, int OH, int OW, int kh, int kw,
                       int sy, int sx, int dy, int dx, int pt, int pl, int multiplier,
                       const float *weights, const float *bias, const pg_activation *act,
                       int c0, int c1) {
    for (int o = c0; o < c1; o++) {
        const float *src = in + (size_t)(o / multiplier) * H * W;
        const float *w = weights + (size_t)o * kh * kw;
        float *dst = out + (size_t)o * OH * OW;
        for (int oy = 0; oy < OH; oy++) {
            float *drow = dst + (size_t)oy * OW;
            for (int ox = 0; ox < OW; ox++) drow[ox] = 0.0f;
            for (int ky = 0; ky < kh; ky++) {
                long iy = (long)oy * sy - pt + (long)ky * dy;
                if (iy < 0 || iy >= H) continue;
                const float *srow = src + iy * W;
                for (int kx = 0; kx < kw; kx++) {
                    float wv = w[ky * kw + kx];
                    long off = (long)kx * dx - pl;  // ix = ox * sx + off
                    // valid ox: 0 <= ox*sx + off < W
                    long lo = off >= 0 ? 0 : (-off + sx - 1) / sx;
                    long hi = (W - off + sx - 1) / sx;  // first invalid
                    if (hi > OW) hi = OW;
                    if (sx == 1) {
                        const float *s = srow + off;
                        for (long ox = lo; ox < hi; ox++) drow[ox] += wv * s[ox];
                    } else {
                        for (long ox = lo; ox < hi; ox++) drow[ox] += wv * srow[ox * sx + off];
                    }
                }
            }
            pg_bias_activation(drow, (size_t)OW, bias ? bias[o] : 0.0f, act, o);
        }
    }
}

void pg_col2im_add(const float *col, int C, int H, int W, int kh, int kw, int sy, int sx, int dy,
                   int dx, int pt, int pl, int OH, int OW, float *out) {
    // Deconvolution scatter: col holds (c, ky, kx) x (iy, ix) products of the input grid.
    for (int c = 0; c < C; c++) {
        float *dst = out + (size_t)c * OH * OW;
        for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++) {
                const float *src = col + ((size_t)(c * kh + ky) * kw + kx) * H * W;
                for (int iy = 0; iy < H; iy++) {
                    long oy = (long)iy * sy - pt + (long)ky * dy;
                    if (oy < 0 || oy >= OH) continue;
                    float *drow = dst + oy * OW;
                    const float *srow = src + (size_t)iy * W;
                    for (int ix = 0; ix < W; ix++) {
                        long ox = (long)ix * sx - pl + (long)kx * dx;
                        if (ox >= 0 && ox < OW) drow[ox] += srow[ix];
                    }
                }
            }
    }
}
