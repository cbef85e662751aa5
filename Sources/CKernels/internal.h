// Shared between the kernel files; not part of the public header.
#ifndef PEREGRINE_CKERNELS_INTERNAL_H
#define PEREGRINE_CKERNELS_INTERNAL_H
#include "CKernels.h"

#define PG_AVX512 "avx512f,avx512bw,avx512vl,avx512dq,fma,f16c"

/// Cached CPU features (detected once).
const pg_cpu_features *pg_cpu(void);

/// AVX-512 packed SGEMM over a range of N (see pg_sgemm_packed).
void pg_sgemm_packed_avx512(int M, int N, int K, const float *packedA, const float *B, long ldb,
                            float *C, long ldc, const float *bias, const pg_activation *act,
                            int accumulate);

/// Loads AMX palette 1 with tiles 0-7 as 16 rows x 64 bytes, the shape every AMX kernel here
/// uses (the configuration stays loaded in the calling thread). Defined in amx.c.
void pg_amx_load_tiles_16x64(void);

static inline float pg_act_scalar(float x, const pg_activation *act, int channel) {
    if (!act) return x;
    switch (act->kind) {
    case PG_ACT_RELU: return x > 0 ? x : 0;
    case PG_ACT_LEAKY: return x < 0 ? x * act->alpha : x;
    case PG_ACT_PRELU: return x < 0 ? x * act->slopes[channel] : x;
    case PG_ACT_CLIP: return x < act->alpha ? act->alpha : (x > act->beta ? act->beta : x);
    case PG_ACT_SIGMOID: return 1.0f / (1.0f + __builtin_expf(-x));
    case PG_ACT_SILU: return x / (1.0f + __builtin_expf(-x));
    default: return x;
    }
}
#endif
