#ifndef PEREGRINE_CKERNELS_H
#define PEREGRINE_CKERNELS_H
// Optimized CPU kernels with per-function ISA targets, chosen at run time from cpuid.
#include <stdint.h>
#include <stddef.h>

/// CPU features relevant to kernel selection.
typedef struct {
    int avx2_fma;
    int avx512f;
    int avx512fp16;
    int amx_bf16;
} pg_cpu_features;

/// Detects the features of the running CPU (cpuid + OS support).
pg_cpu_features pg_detect_cpu(void);

#endif
