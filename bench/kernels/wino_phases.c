// Times the phases of the Winograd and AMX convolutions on one thread (thread CPU time, so other
// load on the machine matters less). Build: see run.sh.
#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/mman.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/// Current core clock in GHz from a chain of dependent adds (one cycle each), so results can be
/// read as flops per cycle even when a shared machine changes its clock.
static double ghz(void) {
    long n = 200000000, x = 0;
    double a = now();
    for (long i = 0; i < n; i++) __asm__ volatile("add $1, %0" : "+r"(x));
    double b = now();
    return n / (b - a) / 1e9;
}

int main(int argc, char **argv) {
    printf("clock %.2f GHz (dependent-add probe)\n", ghz());
    int C = argc > 1 ? atoi(argv[1]) : 64, H = argc > 2 ? atoi(argv[2]) : 256, W = H;
    size_t bytes = ((sizeof(float) * C * H * W) + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
    float *in = aligned_alloc(2u << 20, bytes);
    float *out = aligned_alloc(2u << 20, bytes);
    if (getenv("HUGE")) {  // as TensorStorage does for large blocks
        madvise(in, bytes, MADV_HUGEPAGE);
        madvise(out, bytes, MADV_HUGEPAGE);
    }
    float *w = malloc(sizeof(float) * C * C * 9), *bias = calloc(C, sizeof(float));
    for (long i = 0; i < (long)C * H * W; i++) in[i] = (float)rand() / (float)RAND_MAX;
    for (long i = 0; i < (long)C * C * 9; i++) w[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    float *U = aligned_alloc(64, sizeof(float) * pg_wino43_weight_size(C, C));
    pg_wino43_transform_weights(w, C, C, U);
    float *scratch = aligned_alloc(64, sizeof(float) * pg_wino43_scratch_size(C, C));
    pg_activation act = {PG_ACT_RELU, 0, 0, 0};
    double flops = 2.0 * C * C * 9 * H * W;
    double best = 1e9;
    for (int rep = 0; rep < 8; rep++) {
        double t0 = now();
        pg_wino43_conv(in, C, H, W, out, C, H, W, 1, 1, U, bias, &act, scratch, NULL, 0, 1);
        double t1 = now();
        if (t1 - t0 < best) best = t1 - t0;
    }
    printf("wino fp32 1 thread: best %.4f s  %.1f GFLOP/s effective\n", best, flops / best / 1e9);
#ifdef PG_WINO_PROFILE
    {
        extern double pg_wino_profile[3];
        printf("  phases over 8 runs: input %.4f s, gemm %.4f s, output %.4f s (per run %.4f / %.4f / %.4f)\n",
               pg_wino_profile[0], pg_wino_profile[1], pg_wino_profile[2],
               pg_wino_profile[0] / 8, pg_wino_profile[1] / 8, pg_wino_profile[2] / 8);
    }
#endif
    {
        // A chain of layers ping-ponging between two maps, as a model runs them.
        double a = now();
        for (int l = 0; l < 8; l++)
            pg_wino43_conv(l % 2 ? out : in, C, H, W, l % 2 ? in : out, C, H, W, 1, 1, U, bias, &act, scratch, NULL, 0, 1);
        double b = now();
        printf("wino chain of 8 layers: %.4f s per layer, %.1f GFLOP/s effective\n", (b - a) / 8, 8 * flops / (b - a) / 1e9);
    }
    // GEMM alone at the Winograd shape: M=C, K=C, N=48, 36 positions per 48 tiles.
    int tiles = ((H + 3) / 4) * ((W + 3) / 4);
    float *V = aligned_alloc(64, sizeof(float) * 36 * C * 48), *M = aligned_alloc(64, sizeof(float) * 36 * C * 48);
    for (int i = 0; i < 36 * C * 48; i++) V[i] = 1.0f;
    size_t per = pg_sgemm_packed_size(C, C);
    double t0 = 0, t1 = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        double a = now();
        for (int u = 0; u < tiles / 48; u++)
            for (int pos = 0; pos < 36; pos++)
                pg_sgemm_packed(C, 48, C, U + pos * per, V + pos * C * 48, 48, M + pos * C * 48, 48, NULL, NULL, 0);
        double b = now();
        if (b - a < t1 - t0) { t0 = a; t1 = b; }
    }
    double gf = 2.0 * 36 * C * C * (double)(tiles / 48) * 48;
    printf("wino GEMMs only: %.4f s  %.1f GFLOP/s\n", t1 - t0, gf / (t1 - t0) / 1e9);
    {
        // 1024^3 SGEMM through the packed path (B read with a 4 KiB row stride).
        int n = 1024;
        float *A = malloc(sizeof(float) * n * n), *B = malloc(sizeof(float) * n * n), *Cm = malloc(sizeof(float) * n * n);
        for (int i = 0; i < n * n; i++) { A[i] = 1e-3f * (i % 7); B[i] = 1e-3f * (i % 5); }
        float *pa = aligned_alloc(64, sizeof(float) * pg_sgemm_packed_size(n, n));
        pg_sgemm_pack_a(A, n, n, n, pa);
        double bs = 1e9;
        for (int rep = 0; rep < 4; rep++) {
            double a = now();
            pg_sgemm_packed(n, n, n, pa, B, n, Cm, n, NULL, NULL, 0);
            double b = now();
            if (b - a < bs) bs = b - a;
        }
        printf("sgemm 1024 1 thread: best %.1f GFLOP/s\n", 2.0 * n * n * n / bs / 1e9);
    }
    if (pg_amx_available()) {
        pg_amx_geometry g;
        pg_amx_conv_geometry(C, C, 3, 3, H, W, &g);
        uint16_t *wb = aligned_alloc(64, 2 * pg_amx_conv_weight_size(C, C, 3, 3) + 64);
        pg_amx_conv_pack_weights(w, C, C, 3, 3, wb);
        uint16_t *scr = aligned_alloc(64, (2 * pg_amx_conv_scratch_size(&g, 3) + 63) / 64 * 64);
        double bc = 1e9;
        for (int rep = 0; rep < 8; rep++) {
            double a = now();
            pg_amx_conv(in, C, H, W, 1, 1, &g, wb, C, 3, 3, out, H, W, bias, &act, scr, NULL, 0, 1);
            double c = now();
            if (c - a < bc) bc = c - a;
        }
        printf("amx bf16 1 thread: best %.4f s, %.1f GFLOP/s effective\n", bc, flops / bc / 1e9);
    }
    printf("clock %.2f GHz (dependent-add probe)\n", ghz());
    return 0;
}
