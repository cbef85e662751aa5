#ifndef PEREGRINE_CKERNELS_H
#define PEREGRINE_CKERNELS_H
// Optimized CPU kernels with per-function ISA targets, chosen at run time from cpuid.
// Every entry point that computes is single-threaded over a range the caller gives it; the
// caller (Swift `ComputePool`) splits work by index (ith of nth), so kernels take no locks.
#include <stdint.h>
#include <stddef.h>
#include "vmath.h"
#include "attention.h"
#include "normalization.h"

/// CPU features relevant to kernel selection.
typedef struct {
    int avx2_fma;
    int avx512f;
    int avx512fp16;
    int amx_bf16;
    int avx512bf16;
} pg_cpu_features;

/// Detects the features of the running CPU (cpuid + OS support).
pg_cpu_features pg_detect_cpu(void);

/// Writes the CPU's brand string (cpuid leaves 0x80000002-4, NUL-terminated, possibly padded with
/// spaces), or an empty string when the CPU does not report one.
void pg_cpu_model_name(char out[49]);

// MARK: Thread pool

/// A fixed set of dedicated worker threads (the caller counts as worker 0).
typedef struct pg_pool pg_pool;
/// One worker's share of a task: worker `ith` of `nth`.
typedef void (*pg_task_fn)(void *ctx, int ith, int nth);
/// Starts `nthreads - 1` worker threads.
pg_pool *pg_pool_create(int nthreads);
/// Stops and joins the workers.
void pg_pool_destroy(pg_pool *pool);
/// Number of threads including the caller.
int pg_pool_threads(const pg_pool *pool);
/// Runs `fn(ctx, ith, nth)` for ith in [0, nth) on distinct threads and returns when all are done.
/// Concurrent callers are serialized.
void pg_pool_run(pg_pool *pool, pg_task_fn fn, void *ctx, int nth);

// MARK: Activations (fused into kernel epilogues)

enum {
    PG_ACT_NONE = 0,
    PG_ACT_RELU = 1,
    PG_ACT_LEAKY = 2,   // x < 0 ? alpha * x : x
    PG_ACT_PRELU = 3,   // per-channel slope from `slopes` (one per output channel / row)
    PG_ACT_CLIP = 4,    // min(max(x, alpha), beta)
    PG_ACT_SIGMOID = 5,
    PG_ACT_SILU = 6,    // x * sigmoid(x)
};

/// An activation applied per output channel after bias.
typedef struct {
    int kind;
    float alpha;
    float beta;
    const float *slopes;
} pg_activation;

/// Adds `bias` (may be 0) and applies `act` to `n` values of channel `channel`.
void pg_bias_activation(float *x, size_t n, float bias, const pg_activation *act, int channel);

// MARK: SGEMM

/// Rows per packed A panel.
#define PG_SGEMM_MR 8
/// Floats needed to pack an M x K matrix for `pg_sgemm_packed`.
size_t pg_sgemm_packed_size(int M, int K);
/// Packs row-major A (M x K, row stride lda) into MR-row panels, zero-padding the last panel.
void pg_sgemm_pack_a(const float *A, long lda, int M, int K, float *packed);
/// The inverse of pg_sgemm_pack_a: writes the M x K matrix held in `packed` to A (row stride lda),
/// exactly (packing only moves values), so a layer need not keep its unpacked weights as well.
void pg_sgemm_unpack_a(const float *packed, int M, int K, float *A, long lda);
/// C[M x N] = packedA * B[K x N] (+ C if accumulate), then per row m: + bias[m] and activation
/// with channel m (bias and act may be NULL). Row strides ldb/ldc. Single-threaded: callers split N.
void pg_sgemm_packed(int M, int N, int K, const float *packedA, const float *B, long ldb,
                     float *C, long ldc, const float *bias, const pg_activation *act, int accumulate);

/// The portable (plain C) path of pg_sgemm_packed, callable directly so that it can be tested on
/// machines where the dispatcher would pick AVX-512.
void pg_sgemm_packed_portable(int M, int N, int K, const float *packedA, const float *B, long ldb,
                              float *C, long ldc, const float *bias, const pg_activation *act,
                              int accumulate);

/// The AVX2 + FMA path of pg_sgemm_packed (CPUs without AVX-512). Requires avx2_fma.
void pg_sgemm_packed_avx2(int M, int N, int K, const float *packedA, const float *B, long ldb,
                          float *C, long ldc, const float *bias, const pg_activation *act,
                          int accumulate);

// MARK: Winograd F(4x4, 3x3) convolution, stride 1, dilation 1, one group

/// Floats of transformed weights for `oc` x `ic` 3x3 kernels.
size_t pg_wino43_weight_size(int oc, int ic);
/// Transforms and packs weights laid out (oc, ic, 3, 3).
void pg_wino43_transform_weights(const float *w, int oc, int ic, float *U);
/// Floats of per-thread scratch.
size_t pg_wino43_scratch_size(int oc, int ic);
/// Whether the Winograd kernel can run on this CPU (needs AVX-512).
int pg_wino43_available(void);
/// Worker `ith` of `nth` of a 3x3 stride-1 convolution of one image (ic x H x W) into
/// (oc x OH x OW), input padded by pad_top/pad_left (and implicitly zero beyond the bottom/right).
/// With `next_unit` (a zeroed counter shared by the workers) units are claimed one at a time, so
/// a worker that the OS delays does not hold up the others; with NULL, worker ith takes the ith
/// contiguous share.
void pg_wino43_conv(const float *in, int ic, int H, int W, float *out, int oc, int OH, int OW,
                    int pad_top, int pad_left, const float *U, const float *bias,
                    const pg_activation *act, float *scratch, int *next_unit, int ith, int nth);

// MARK: Lowering helpers

/// Writes columns [n0, n0 + nw) of the im2col matrix ((C*kh*kw) x (OH*OW), row stride nw) of one
/// group's C input channels.
void pg_im2col(const float *in, int C, int H, int W, int kh, int kw, int sy, int sx, int dy, int dx,
               int pt, int pl, int OW, long n0, int nw, float *col);
/// Depthwise convolution of output channels [c0, c1) (output o reads input o / multiplier);
/// weights (C*multiplier, kh, kw); bias may be NULL.
void pg_depthwise_conv(const float *in, int H, int W, float *out, int OH, int OW, int kh, int kw,
                       int sy, int sx, int dy, int dx, int pt, int pl, int multiplier,
                       const float *weights, const float *bias, const pg_activation *act,
                       int c0, int c1);
/// Adds col ((C*kh*kw) x (H*W)) into out (C x OH x OW) as a transposed convolution scatters it.
void pg_col2im_add(const float *col, int C, int H, int W, int kh, int kw, int sy, int sx, int dy,
                   int dx, int pt, int pl, int OH, int OW, float *out);

// MARK: AMX bf16 convolution (implicit GEMM)

/// Whether the AMX path can run (CPU support and the OS granted tile data; asks once).
int pg_amx_available(void);

/// Buffer geometry of an AMX convolution: channel pairs padded to 16, output channels padded to
/// 32, padded input rows and row width (in pixels).
typedef struct {
    int pairs;
    int oc_padded;
    int hp;
    int wp;
} pg_amx_geometry;

/// Fills `g` for a stride-1 convolution producing OH x OW.
void pg_amx_conv_geometry(int ic, int oc, int kh, int kw, int OH, int OW, pg_amx_geometry *g);
/// bf16 elements of packed weights.
size_t pg_amx_conv_weight_size(int oc, int ic, int kh, int kw);
/// Packs (oc, ic, kh, kw) float weights into bf16 A tiles (round to nearest even).
void pg_amx_conv_pack_weights(const float *w, int oc, int ic, int kh, int kw, uint16_t *packed);
/// bf16 elements of one worker's scratch (its converted input rows).
size_t pg_amx_conv_scratch_size(const pg_amx_geometry *g, int kh);
/// Worker ith of nth of a stride-1 convolution of one image (ic x H x W float, padded by pt/pl
/// and implicitly zero beyond the bottom/right) into out (oc x OH x OW), adding bias (may be
/// NULL) and the activation. Each worker converts the input rows it needs to bf16 in `scratch`
/// (its own, pg_amx_conv_scratch_size elements). With `next_group` (a zeroed counter shared by
/// the workers) row groups are claimed one at a time; with NULL worker ith takes the ith share.
void pg_amx_conv(const float *in, int ic, int H, int W, int pt, int pl, const pg_amx_geometry *g,
                 const uint16_t *wpacked, int oc, int kh, int kw, float *out, int OH, int OW,
                 const float *bias, const pg_activation *act, uint16_t *scratch, int *next_group,
                 int ith, int nth);

// MARK: AMX bf16 convolution on bf16 NHWC activations (chains of layers)

/// A bf16 activation buffer in NHWC order with a zero border: pixel (y, x) channel c of an
/// H x W image lives at ((y + border) * row_pixels + x + border) * channels_padded + c. Rows are
/// padded to a multiple of 32 pixels and channels to a multiple of 32; everything outside the
/// image stays zero (allocate zeroed; kernels never write there).
typedef struct {
    int channels_padded;
    int border;
    int row_pixels;
    int rows;
} pg_nhwc_layout;

/// Fills `l` for `channels` x H x W with `border` zero pixels on every side.
void pg_nhwc_layout_make(int channels, int H, int W, int border, pg_nhwc_layout *l);
/// bf16 elements of a buffer with layout `l`.
size_t pg_nhwc_size(const pg_nhwc_layout *l);
/// Converts rows [y0, y1) of a float NCHW image (C x H x W) into `dst` (layout `l`, channels
/// beyond C written as zero). Needs AVX-512 BF16 (check pg_avx512bf16_available).
void pg_nhwc_pack(const float *in, int C, int H, int W, const pg_nhwc_layout *l, uint16_t *dst, int y0, int y1);
/// bf16 elements of weights packed for pg_amx_nhwc_conv.
size_t pg_amx_nhwc_weight_size(int oc, int ic, int kh, int kw);
/// Packs (oc, ic, kh, kw) float weights into bf16 B tiles (round to nearest even).
void pg_amx_nhwc_pack_weights(const float *w, int oc, int ic, int kh, int kw, uint16_t *packed);
/// Worker ith of nth of a stride-1 convolution whose output has the input's H x W (padding
/// pt/pl on the top/left, at most the input border; the bottom/right padding likewise), reading
/// `in` (layout `il`) and adding bias (may be NULL) and the activation (none, ReLU, leaky, PReLU
/// or clip). Writes bf16 into `out_nhwc` (layout `ol`, same H x W, must not be `in`) or, when
/// that is NULL, float NCHW into `out_nchw` (oc x H x W). Worker ith owns the ith contiguous
/// share of row groups; with `counters` (nth zeroed ints shared by the workers) a worker that
/// finishes its share takes groups left in the others'; with NULL each does only its own.
void pg_amx_nhwc_conv(const uint16_t *in, const pg_nhwc_layout *il, int H, int W, int pt, int pl,
                      const uint16_t *wpacked, int oc, int kh, int kw, const float *bias,
                      const pg_activation *act, uint16_t *out_nhwc, const pg_nhwc_layout *ol,
                      float *out_nchw, int *counters, int ith, int nth);

// MARK: AVX512-BF16 convolution on bf16 NHWC activations (chains of layers, no AMX)

/// Whether the CPU and OS support AVX512-BF16 (`vdpbf16ps`) with AVX-512.
int pg_avx512bf16_available(void);
/// pg_amx_nhwc_conv's contract (same layouts, weights packed by pg_amx_nhwc_pack_weights, same
/// work split), computed with AVX512-BF16 dot products. Requires pg_avx512bf16_available.
void pg_bf16_nhwc_conv(const uint16_t *in, const pg_nhwc_layout *il, int H, int W, int pt, int pl,
                       const uint16_t *wpacked, int oc, int kh, int kw, const float *bias,
                       const pg_activation *act, uint16_t *out_nhwc, const pg_nhwc_layout *ol,
                       float *out_nchw, int *counters, int ith, int nth);

#endif
