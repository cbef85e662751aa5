#ifndef PEREGRINE_ATTENTION_H
#define PEREGRINE_ATTENTION_H
// Softmax attention O = V softmax(K^T Q), fused per block of query columns so that the
// S x T score matrix never leaves the cache.
#include <stddef.h>

/// Packs the transpose of row-major B (K x M, row stride ldb) the way pg_sgemm_pack_a packs an
/// M x K matrix (8-row panels, zero-padded), i.e. as the A operand of pg_sgemm_packed.
void pg_pack_transposed(const float *B, long ldb, int K, int M, float *packed);

/// Floats of scratch one worker needs for pg_attention_columns with S keys.
size_t pg_attention_scratch_size(int S);

/// Columns of the output block processed per pg_attention_columns call (at most).
#define PG_ATTENTION_BLOCK 48

/// Output columns [t0, t0 + nt) (nt <= PG_ATTENTION_BLOCK) of one head:
///   O[c, t] = sum_s softmax_s(sum_k Q[k, t] K[k, s]) V[c, s]
/// with Q (C x T, row stride ldq), K (C x S) given as `kt_packed` (pg_pack_transposed of K),
/// V (Cv x S) given as `v_packed` (pg_sgemm_pack_a), O (Cv x T, row stride ldo). `scratch` holds
/// pg_attention_scratch_size(S) floats, 64-byte aligned. Single-threaded.
void pg_attention_columns(const float *kt_packed, const float *q, long ldq, const float *v_packed,
                               int C, int Cv, int S, int t0, int nt, float *o, long ldo, float *scratch);
#endif
