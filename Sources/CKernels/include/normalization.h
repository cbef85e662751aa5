#ifndef PEREGRINE_NORMALIZATION_H
#define PEREGRINE_NORMALIZATION_H
// Normalization statistics and a per-channel affine map with optional SiLU, so that a norm and
// the per-channel steps after it cost one pass for the statistics and one that writes the result.
#include <stddef.h>

/// Mean and 1 / sqrt(variance + epsilon) (biased variance, accumulated in double) of each of
/// `rows` contiguous rows of `len` floats.
void pg_row_moments(const float *x, size_t rows, size_t len, float epsilon, float *mean, float *rstd);

/// y = alpha[c] * x + beta[c] over each channel plane c in [c0, c1) (planes of `plane` floats,
/// contiguous), then SiLU (x * sigmoid(x)) when `silu` is non-zero. x and y may alias.
void pg_channel_affine(const float *x, float *y, size_t plane, const float *alpha, const float *beta,
                            int c0, int c1, int silu);

/// Layer normalization over the channels at each position (ConvNeXt's LayerNorm2d, a
/// transformer block's LayerNorm with features as rows): x and y are C x P (row stride P);
/// for each column p in [p0, p1), y[c, p] = (x[c, p] - mean_p) / sqrt(var_p + epsilon) *
/// scale[c] + bias[c] (scale, bias may be NULL), mean and biased variance over the C values of
/// column p, accumulated in float in two passes. x and y may alias.
void pg_channel_norm(const float *x, float *y, int C, long P, long p0, long p1, float epsilon, const float *scale,
                     const float *bias);
/// The portable path of pg_channel_norm (tests compare both).
void pg_channel_norm_portable(const float *x, float *y, int C, long P, long p0, long p1, float epsilon,
                              const float *scale, const float *bias);
#endif
