#ifndef PEREGRINE_VMATH_H
#define PEREGRINE_VMATH_H
// Vectorized exp and the activations built on it, for the element-wise ops that dominate a
// UNet after its convolutions (SiLU, sigmoid, attention softmax). Single-threaded over the
// range the caller gives; AVX-512 where the CPU has it, else a portable path of the same
// algorithm (relative error about 2 ulp for exp over the float range).
#include <stddef.h>

/// y[i] = exp(x[i]) for i < n (x and y may alias). Inputs are clamped to [-87.3, 88.376] (n = 127 at most).
void pg_vexp(const float *x, float *y, size_t n);
/// y[i] = 1 / (1 + exp(-x[i])) (x and y may alias).
void pg_vsigmoid(const float *x, float *y, size_t n);
/// y[i] = x[i] / (1 + exp(-x[i])) (x and y may alias).
void pg_vsilu(const float *x, float *y, size_t n);
/// Softmax of each of `rows` contiguous rows of `len` values: y = exp(x - max) / sum (x and y
/// may alias).
void pg_softmax_rows(const float *x, float *y, size_t rows, size_t len);
/// Normalizes each of `rows` contiguous rows of `len` values to zero mean and unit (biased)
/// variance, statistics accumulated in double: y = (x - mean) / sqrt(var + epsilon), then
/// y * scale[r] + bias[r] when `scale` and `bias` (one per row) are given (x and y may alias).
void pg_normalize_rows(const float *x, float *y, size_t rows, size_t len, float epsilon,
                       const float *scale, const float *bias);
/// GEGLU over `rows` contiguous rows of `2 n` values: y[r, i] = x[r, i] · gelu(x[r, n + i]) for
/// i < n (y has rows of n values, written densely), with the exact (erf) GELU; erf by
/// Abramowitz-Stegun 7.1.26 on the vector exp (absolute error below 2e-7). x and y must not overlap.
void pg_geglu_rows(const float *x, float *y, size_t rows, size_t n);

/// The portable paths of the five kernels above, callable directly so that tests compare both
/// paths on machines where the dispatcher picks AVX-512.
void pg_vexp_portable(const float *x, float *y, size_t n);
void pg_vsigmoid_portable(const float *x, float *y, size_t n);
void pg_vsilu_portable(const float *x, float *y, size_t n);
void pg_softmax_rows_portable(const float *x, float *y, size_t rows, size_t len);
void pg_normalize_rows_portable(const float *x, float *y, size_t rows, size_t len, float epsilon,
                                const float *scale, const float *bias);
void pg_geglu_rows_portable(const float *x, float *y, size_t rows, size_t n);
#endif
