import CKernels
import Kernels

/// Softmax attention fused from `Einsum(bct,bcs->bts) -> Softmax(last axis) -> Einsum(bts,bcs->bct)`
/// (how PyTorch exports a UNet's attention block): `O[b, c, t] = sum_s P[b, t, s] V[b, c, s]` with
/// `P = softmax_s(sum_k Q[b, k, t] K[b, k, s])`. Blocks of query columns run through
/// `pg_onnx_attention_columns`, so the `T x S` score matrix is never written to memory.
enum ONNXAttention {
    /// Pointers shared by the workers. `@unchecked Sendable`: workers only read `q`, `kt` and `v`
    /// and each writes its own column blocks of `o` and its own slice of `scratch`.
    private struct Buffers: @unchecked Sendable {
        let q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>
        let packed: UnsafeMutablePointer<Float>
        let scratch: UnsafeMutablePointer<Float>
        let o: UnsafeMutablePointer<Float>
    }

    /// Shape of the output for `q [B, C, T]`, `k [B, C, S]`, `v [B, Cv, S]`, or nil when the
    /// operands do not have that form.
    static func outputShape(q: [Int], k: [Int], v: [Int]) -> [Int]? {
        guard q.count == 3, k.count == 3, v.count == 3, q[0] == k[0], k[0] == v[0], q[1] == k[1], k[2] == v[2],
              q.allSatisfy({ $0 > 0 }), k.allSatisfy({ $0 > 0 }), v.allSatisfy({ $0 > 0 }) else { return nil }
        return [q[0], v[1], q[2]]
    }

    /// Runs the fused attention on the compute pool.
    static func run(q: ONNXTensor, k: ONNXTensor, v: ONNXTensor) throws -> ONNXTensor {
        guard let shape = outputShape(q: q.shape, k: k.shape, v: v.shape),
              case .float(let qv) = q.elements, case .float(let kv) = k.elements, case .float(let vv) = v.elements else {
            throw ONNXRuntimeError("attention operands \(q), \(k), \(v)")
        }
        let heads = q.shape[0], c = q.shape[1], t = q.shape[2], s = k.shape[2], cv = v.shape[1]
        let ktSize = pg_sgemm_packed_size(Int32(s), Int32(c)), vSize = pg_sgemm_packed_size(Int32(cv), Int32(s))
        let perHead = ktSize + vSize
        let pool = ONNXAccelerated.pool
        let scratchPer = (pg_onnx_attention_scratch_size(Int32(s)) + 15) / 16 * 16
        let block = Int(PG_ONNX_ATTENTION_BLOCK)
        let blocks = (t + block - 1) / block
        var out = [Float](unsafeUninitializedCapacity: heads * cv * t) { _, n in n = heads * cv * t }
        ONNXScratch.shared.with(floats: heads * perHead + pool.threadCount * scratchPer) { scratch in
            qv.withUnsafeBufferPointer { pq in
                kv.withUnsafeBufferPointer { pk in
                    vv.withUnsafeBufferPointer { pv in
                        out.withUnsafeMutableBufferPointer { po in
                            let buf = Buffers(q: pq.baseAddress!, k: pk.baseAddress!, v: pv.baseAddress!, packed: scratch,
                                              scratch: scratch + heads * perHead, o: po.baseAddress!)
                            // Pack K^T and V of every head once; all query blocks of the head share them.
                            pool.parallelFor(heads) { r in
                                for h in r {
                                    let dst = buf.packed + h * perHead
                                    pg_onnx_pack_transposed(buf.k + h * c * s, s, Int32(c), Int32(s), dst)
                                    pg_sgemm_pack_a(buf.v + h * cv * s, s, Int32(cv), Int32(s), dst + ktSize)
                                }
                            }
                            pool.run(parts: heads * blocks) { ith, nth in
                                let units = heads * blocks
                                let lo = units * ith / nth, hi = units * (ith + 1) / nth
                                let work = buf.scratch + ith * scratchPer
                                for u in lo..<hi {
                                    let h = u / blocks, t0 = (u % blocks) * block
                                    let packed = buf.packed + h * perHead
                                    pg_onnx_attention_columns(packed, buf.q + h * c * t, t, packed + ktSize, Int32(c), Int32(cv),
                                                              Int32(s), Int32(t0), Int32(min(block, t - t0)),
                                                              buf.o + h * cv * t, t, work)
                                }
                            }
                        }
                    }
                }
            }
        }
        return ONNXTensor(shape: shape, floats: out, type: q.elementType)
    }
}
