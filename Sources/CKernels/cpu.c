#include "CKernels.h"
#include "internal.h"
#include <cpuid.h>
#include <pthread.h>

static unsigned long long pg_xgetbv(unsigned idx) {
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(idx));
    return ((unsigned long long)edx << 32) | eax;
}

pg_cpu_features pg_detect_cpu(void) {
    pg_cpu_features f = {0, 0, 0, 0, 0};
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    int osxsave = (c >> 27) & 1;
    int fma = (c >> 12) & 1;
    if (!osxsave) return f;
    unsigned long long xcr0 = pg_xgetbv(0);
    int ymm_os = (xcr0 & 0x6) == 0x6;
    int zmm_os = (xcr0 & 0xe6) == 0xe6;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
    int avx2 = (b >> 5) & 1;
    f.avx2_fma = ymm_os && avx2 && fma;
    f.avx512f = zmm_os && ((b >> 16) & 1) && ((b >> 30) & 1) /* bw */ && ((b >> 31) & 1) /* vl */
        && ((b >> 17) & 1) /* dq */ && fma;
    f.avx512fp16 = f.avx512f && ((d >> 23) & 1);
    f.amx_bf16 = ((d >> 22) & 1) && ((d >> 24) & 1) && ((xcr0 >> 17) & 3) == 3;
    // AVX512_BF16 is leaf 7, subleaf 1, EAX bit 5.
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512bf16 = f.avx512f && ((a >> 5) & 1);
    return f;
}

static pg_cpu_features pg_cached_features;
static pthread_once_t pg_features_once = PTHREAD_ONCE_INIT;
static void pg_features_init(void) { pg_cached_features = pg_detect_cpu(); }

const pg_cpu_features *pg_cpu(void) {
    pthread_once(&pg_features_once, pg_features_init);
    return &pg_cached_features;
}

void pg_cpu_model_name(char out[49]) {
    unsigned regs[12] = {0};
    out[0] = 0;
    if (__get_cpuid_max(0x80000000u, 0) < 0x80000004u) return;
    for (unsigned i = 0; i < 3; i++)
        __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    __builtin_memcpy(out, regs, 48);
    out[48] = 0;
}

void pg_bias_activation(float *x, size_t n, float bias, const pg_activation *act, int channel) {
    for (size_t i = 0; i < n; i++) x[i] = pg_act_scalar(x[i] + bias, act, channel);
}
