#ifndef PEREGRINE_ONNX_ATTENTION_H
#define PEREGRINE_ONNX_ATTENTION_H
// Softmax attention as ONNX exporters spell it in UNets: Einsum(bct,bcs->bts) -> Softmax(s) ->
// Einsum(bts,bcs->bct), fused so that the T x S score matrix never leaves the cache.
#include <stddef.h>

/// Packs the transpose of row-major B (K x M, row stride ldb) the way pg_sgemm_pack_a packs an
/// M x K matrix (8-row panels, zero-padded), i.e. as the A operand of pg_sgemm_packed.
void pg_onnx_pack_transposed(const float *B, long ldb, int K, int M, float *packed);

/// Floats of scratch one worker needs for pg_onnx_attention_columns with S keys.
size_t pg_onnx_attention_scratch_size(int S);

/// Columns of the output block processed per pg_onnx_attention_columns call (at most).
#define PG_ONNX_ATTENTION_BLOCK 48

/// Output columns [t0, t0 + nt) (nt <= PG_ONNX_ATTENTION_BLOCK) of one head:
///   O[c, t] = sum_s softmax_s(sum_k Q[k, t] K[k, s]) V[c, s]
/// with Q (C x T, row stride ldq), K (C x S) given as `kt_packed` (pg_onnx_pack_transposed of K),
/// V (Cv x S) given as `v_packed` (pg_sgemm_pack_a), O (Cv x T, row stride ldo). `scratch` holds
/// pg_onnx_attention_scratch_size(S) floats, 64-byte aligned. Single-threaded.
void pg_onnx_attention_columns(const float *kt_packed, const float *q, long ldq, const float *v_packed,
                               int C, int Cv, int S, int t0, int nt, float *o, long ldo, float *scratch);
#endif
