// AMX bf16 convolution for stride-1, dilation-1, single-group layers (the 3x3 64-channel body of
// the upscalers), as an implicit GEMM with no im2col:
//
// The input is converted once per call to bf16 in a "channel pairs innermost" layout
// buf[y][pair][x][2] (zero-padded), which is exactly AMX's VNNI layout for the B operand: the
// B tile for kernel tap (ky, kx), 16 channel pairs and 16 output pixels is 16 rows of 64 bytes at
// &buf[y + ky][pair][x + kx] with a row stride of one pair plane. Weights are packed at load into
// 16 x 32 A tiles per (oc block, ky, kx, 32-channel block). Each worker owns whole output rows and
// keeps a 32-oc x 32-pixel block of C in four tiles.
#include "internal.h"
#include <immintrin.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PG_AMX_TARGET PG_AVX512 ",avx512bf16,amx-tile,amx-bf16"

enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };

static int pg_amx_ok;
static pthread_once_t pg_amx_once = PTHREAD_ONCE_INIT;
static void pg_amx_init(void) {
    const pg_cpu_features *f = pg_cpu();
    if (!f->amx_bf16 || !f->avx512f) return;
    // Linux hands out the 8 KiB tile state only to processes that ask for it.
    pg_amx_ok = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

int pg_amx_available(void) {
    pthread_once(&pg_amx_once, pg_amx_init);
    return pg_amx_ok;
}

static int pg_round_up(int x, int m) { return (x + m - 1) / m * m; }

static uint16_t pg_bf16_scalar(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

void pg_amx_conv_geometry(int ic, int oc, int kh, int kw, int OH, int OW, pg_amx_geometry *g) {
    g->pairs = pg_round_up((ic + 1) / 2, 16);
    g->oc_padded = pg_round_up(oc, 32);
    g->hp = OH + kh - 1;
    g->wp = pg_round_up(OW, 32) + kw - 1;
}

size_t pg_amx_conv_weight_size(int oc, int ic, int kh, int kw) {
    pg_amx_geometry g;
    pg_amx_conv_geometry(ic, oc, kh, kw, 1, 1, &g);
    return (size_t)g.oc_padded * kh * kw * (size_t)g.pairs * 2;
}

void pg_amx_conv_pack_weights(const float *w, int oc, int ic, int kh, int kw, uint16_t *packed) {
    pg_amx_geometry g;
    pg_amx_conv_geometry(ic, oc, kh, kw, 1, 1, &g);
    int cblocks = g.pairs / 16;
    size_t idx = 0;
    for (int ob = 0; ob < g.oc_padded / 16; ob++)
        for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++)
                for (int cb = 0; cb < cblocks; cb++)
                    for (int r = 0; r < 16; r++)
                        for (int e = 0; e < 32; e++) {
                            int o = ob * 16 + r, c = cb * 32 + e;
                            float v = (o < oc && c < ic) ? w[(((size_t)o * ic + c) * kh + ky) * kw + kx] : 0.0f;
                            packed[idx++] = pg_bf16_scalar(v);
                        }
}

enum { PG_AMX_ROWS = 8 };  // output rows a worker claims at a time

size_t pg_amx_conv_scratch_size(const pg_amx_geometry *g, int kh) {
    return (size_t)(PG_AMX_ROWS + kh - 1) * g->pairs * g->wp * 2 + 64;
}

#pragma clang attribute push(__attribute__((target(PG_AMX_TARGET))), apply_to = function)

/// Converts padded input rows [yp0, yp0 + nrows) to bf16 in the pair layout dst[row][pair][x][2].
static void pg_amx_pack_rows(const float *in, int ic, int H, int W, int pt, int pl,
                             const pg_amx_geometry *g, int yp0, int nrows, uint16_t *dst) {
    const __m512i inter = _mm512_setr_epi32(
        0x00100000, 0x00110001, 0x00120002, 0x00130003, 0x00140004, 0x00150005, 0x00160006, 0x00170007,
        0x00180008, 0x00190009, 0x001a000a, 0x001b000b, 0x001c000c, 0x001d000d, 0x001e000e, 0x001f000f);
    int xa = pl, xe = pl + W;  // [xa, xe) of a buffer row holds image columns 0..W-1
    if (xe > g->wp) xe = g->wp;
    for (int r = 0; r < nrows; r++)
        for (int p = 0; p < g->pairs; p++) {
            uint16_t *d = dst + ((size_t)r * g->pairs + p) * g->wp * 2;
            int y = yp0 + r - pt, c0 = 2 * p, c1 = 2 * p + 1;
            if (y < 0 || y >= H || c0 >= ic) {
                memset(d, 0, sizeof(uint16_t) * 2 * (size_t)g->wp);
                continue;
            }
            const float *s0 = in + ((size_t)c0 * H + y) * W;
            const float *s1 = c1 < ic ? in + ((size_t)c1 * H + y) * W : NULL;
            memset(d, 0, sizeof(uint16_t) * 2 * (size_t)xa);
            int x = xa;
            for (; x + 16 <= xe; x += 16) {
                __m512 a = _mm512_loadu_ps(s0 + (x - pl));
                __m512 b = s1 ? _mm512_loadu_ps(s1 + (x - pl)) : _mm512_setzero_ps();
                __m512i ab = (__m512i)_mm512_cvtne2ps_pbh(b, a);  // low half a, high half b
                _mm512_storeu_si512(d + 2 * (size_t)x, _mm512_permutexvar_epi16(inter, ab));
            }
            for (; x < xe; x++) {
                d[2 * x] = pg_bf16_scalar(s0[x - pl]);
                d[2 * x + 1] = s1 ? pg_bf16_scalar(s1[x - pl]) : 0;
            }
            memset(d + 2 * (size_t)xe, 0, sizeof(uint16_t) * 2 * (size_t)(g->wp - xe));
        }
}

typedef struct {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} pg_tile_config;

void pg_amx_load_tiles_16x64(void) {
    pg_tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    _tile_loadconfig(&cfg);
}

/// What the epilogue needs: output geometry, bias and the activation reduced to one of three
/// shapes (clip, a negative-part slope covering none/ReLU/leaky/PReLU, or the scalar exp path).
typedef struct {
    float *out;
    int oc, OH, OW;
    const float *bias;
    const pg_activation *act;
    int slow, clip, leaky;
    float slope;
    const float *slopes;
    float lo, hi;
} pg_amx_epilogue_args;

static void pg_amx_epilogue_setup(pg_amx_epilogue_args *e, float *out, int oc, int OH, int OW,
                                  const float *bias, const pg_activation *act) {
    int kind = act ? act->kind : PG_ACT_NONE;
    e->out = out;
    e->oc = oc;
    e->OH = OH;
    e->OW = OW;
    e->bias = bias;
    e->act = act;
    e->slow = kind == PG_ACT_SIGMOID || kind == PG_ACT_SILU;
    e->clip = kind == PG_ACT_CLIP;
    e->leaky = kind == PG_ACT_RELU || kind == PG_ACT_LEAKY || kind == PG_ACT_PRELU;
    e->slope = kind == PG_ACT_LEAKY ? act->alpha : 0.0f;
    e->slopes = kind == PG_ACT_PRELU ? act->slopes : NULL;
    e->lo = e->clip ? act->alpha : 0.0f;
    e->hi = e->clip ? act->beta : 0.0f;
}

/// Bias, activation and store of one unit's four C tiles (32 channels x 32 pixels of row y).
static void pg_amx_epilogue(const pg_amx_epilogue_args *e, float c[4][16][16], int y, int obp, int x0) {
    size_t cstride = (size_t)e->OH * e->OW;
    for (int t = 0; t < 4; t++) {
        int xs = x0 + 16 * (t & 1);
        int n = e->OW - xs;
        if (n <= 0) continue;
        if (n > 16) n = 16;
        __mmask16 mk = (__mmask16)((1u << n) - 1u);
        int obase = obp * 32 + (t >> 1) * 16;
        int rows = e->oc - obase < 16 ? e->oc - obase : 16;
        float *dst = e->out + ((size_t)obase * e->OH + y) * e->OW + xs;
        int aligned = n == 16 && !e->slow && ((uintptr_t)dst & 63) == 0 && (cstride & 15) == 0;
        for (int r = 0; r < rows; r++, dst += cstride) {
            int o = obase + r;
            __m512 v = _mm512_add_ps(_mm512_load_ps(c[t][r]), _mm512_set1_ps(e->bias ? e->bias[o] : 0.0f));
            if (e->clip) {
                v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(e->lo)), _mm512_set1_ps(e->hi));
            } else if (e->leaky) {
                // none, ReLU, leaky and PReLU are all "negative part times a slope".
                __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
                v = _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(e->slopes ? e->slopes[o] : e->slope));
            }
            if (aligned)
                _mm512_stream_ps(dst, v);  // no read-for-ownership (see winograd43.c)
            else
                _mm512_mask_storeu_ps(dst, mk, v);
            if (e->slow) pg_bias_activation(dst, (size_t)n, 0, e->act, o);
        }
    }
}

void pg_amx_conv(const float *in, int ic, int H, int W, int pt, int pl, const pg_amx_geometry *g,
                 const uint16_t *wpacked, int oc, int kh, int kw, float *out, int OH, int OW,
                 const float *bias, const pg_activation *act, uint16_t *scratch, int *next_group,
                 int ith, int nth) {
    pg_amx_load_tiles_16x64();
    __attribute__((aligned(64))) float cbuf[2][4][16][16];
    int have_prev = 0, prev_y = 0, prev_obp = 0, prev_x0 = 0, cur = 0;
    int xblocks = (OW + 31) / 32;
    // A worker claims PG_AMX_ROWS output rows, converts the kh - 1 + PG_AMX_ROWS input rows they
    // read into its own bf16 buffer (L2-resident), then computes them; within a row the 32-channel
    // weight slab (36 KB for 64 input channels, 3x3) stays in L1 while pixel blocks stream past.
    int ngroups = (OH + PG_AMX_ROWS - 1) / PG_AMX_ROWS;
    int g0 = (int)((long)ngroups * ith / nth), g1 = (int)((long)ngroups * (ith + 1) / nth);
    int cblocks = g->pairs / 16;
    size_t bstride = (size_t)g->wp * 4;  // bytes between channel pairs
    size_t plane = (size_t)g->pairs * g->wp * 2;  // bf16 elements per padded row
    size_t obstride = (size_t)kh * kw * cblocks * 512;  // bf16 elements per 16-oc block
    pg_amx_epilogue_args ep;
    pg_amx_epilogue_setup(&ep, out, oc, OH, OW, bias, act);
    uint16_t *buf = (uint16_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    _Atomic int *claim = (_Atomic int *)next_group;
    for (int gi = claim ? atomic_fetch_add(claim, 1) : g0; gi < (claim ? ngroups : g1);
         gi = claim ? atomic_fetch_add(claim, 1) : gi + 1) {
    int ybase = gi * PG_AMX_ROWS;
    int ny = OH - ybase < PG_AMX_ROWS ? OH - ybase : PG_AMX_ROWS;
    pg_amx_pack_rows(in, ic, H, W, pt, pl, g, ybase, ny + kh - 1, buf);
    for (int y = ybase; y < ybase + ny; y++)
    for (int obp = 0; obp < g->oc_padded / 32; obp++)
        for (int xb = 0; xb < xblocks; xb++) {
            int x0 = xb * 32;
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            const uint16_t *wa = wpacked + (size_t)(2 * obp) * obstride;
            const uint16_t *wb = wa + obstride;
            for (int ky = 0; ky < kh; ky++) {
                const uint16_t *row = buf + (size_t)(y - ybase + ky) * plane;
                for (int kx = 0; kx < kw; kx++)
                    for (int cb = 0; cb < cblocks; cb++) {
                        const uint16_t *bp = row + (size_t)cb * 16 * g->wp * 2 + 2 * (size_t)(x0 + kx);
                        size_t widx = ((size_t)(ky * kw + kx) * cblocks + cb) * 512;
                        _tile_loadd(6, bp, bstride);
                        _tile_loadd(7, bp + 32, bstride);
                        _tile_loadd(4, wa + widx, 64);
                        _tile_loadd(5, wb + widx, 64);
                        _tile_dpbf16ps(0, 4, 6);
                        _tile_dpbf16ps(1, 4, 7);
                        _tile_dpbf16ps(2, 5, 6);
                        _tile_dpbf16ps(3, 5, 7);
                    }
            }
            // The previous unit's epilogue runs here, after this unit's tile multiplies were
            // issued and before its results are stored: the AVX-512 work overlaps the AMX work.
            if (have_prev) pg_amx_epilogue(&ep, cbuf[cur ^ 1], prev_y, prev_obp, prev_x0);
            _tile_stored(0, cbuf[cur][0], 64);
            _tile_stored(1, cbuf[cur][1], 64);
            _tile_stored(2, cbuf[cur][2], 64);
            _tile_stored(3, cbuf[cur][3], 64);
            have_prev = 1;
            prev_y = y;
            prev_obp = obp;
            prev_x0 = x0;
            cur ^= 1;
        }
    }
    if (have_prev) pg_amx_epilogue(&ep, cbuf[cur ^ 1], prev_y, prev_obp, prev_x0);
    _mm_sfence();
    _tile_release();
}

#pragma clang attribute pop
