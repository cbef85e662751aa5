import CKernels
import Tensor

/// Pointers shared by the attention workers. `@unchecked Sendable`: workers only read `q`, `k`
/// and `v` and each writes its own column blocks of `o` and its own slice of `scratch`.
private struct AttentionBuffers: @unchecked Sendable {
    let q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>
    let packed: UnsafeMutablePointer<Float>
    let scratch: UnsafeMutablePointer<Float>
    let o: UnsafeMutablePointer<Float>
}

extension Ops {
    /// Fused softmax attention `softmax(q kᵀ · scale) v` over `q [batch..., T, D]`,
    /// `k [batch..., S, D]`, `v [batch..., S, Dv]` into `output [batch..., T, Dv]` (batch extents
    /// equal). The `T x S` scores never leave the cache (see ``attentionFeatureMajor(q:k:v:into:pool:)``).
    /// - Throws: ``KernelError`` when the shapes do not fit.
    public static func attention(q: Tensor, k: Tensor, v: Tensor, scale: Float, into output: Tensor, pool: ComputePool) throws {
        try checkF32(q, k, v, output, op: "attention")
        let r = q.shape.rank
        guard r >= 2, k.shape.rank == r, v.shape.rank == r, output.shape.rank == r,
              q.shape.dims.dropLast(2) == k.shape.dims.dropLast(2), k.shape.dims.dropLast(2) == v.shape.dims.dropLast(2),
              q.shape.dims[r - 1] == k.shape.dims[r - 1], k.shape.dims[r - 2] == v.shape.dims[r - 2],
              output.shape.dims == Array(q.shape.dims.dropLast()) + [v.shape.dims[r - 1]] else {
            throw KernelError(.shapeMismatch, "attention: q \(q.shape), k \(k.shape), v \(v.shape), output \(output.shape)")
        }
        let heads = q.shape.dims.dropLast(2).reduce(1, *)
        let t = q.shape.dims[r - 2], d = q.shape.dims[r - 1], s = k.shape.dims[r - 2], dv = v.shape.dims[r - 1]
        guard heads * t * dv > 0 else { return }
        // The fused kernel reads features as rows: transpose q (scaled), k and v per head, then the output back.
        let perm = Array(0..<(r - 2)) + [r - 1, r - 2]
        let qt = try transpose(q, permutation: perm, pool: pool)
        if scale != 1 {
            let p = qt.floatPointer
            pool.parallelFor(qt.count, minimumPerPart: 16384) { range in for i in range { p[i] *= scale } }
        }
        let flat = { (x: Tensor, a: Int, b: Int) in try x.reshaped(Shape([heads, a, b])) }
        let ot = Tensor(uninitialized: Shape([heads, dv, t]))
        try attentionFeatureMajor(q: flat(qt, d, t), k: flat(try transpose(k, permutation: perm, pool: pool), d, s),
                                  v: flat(try transpose(v, permutation: perm, pool: pool), dv, s), into: ot, pool: pool)
        let back = try transpose(ot, permutation: [0, 2, 1], pool: pool)
        output.floatPointer.update(from: back.floatPointer, count: back.count)
    }

    /// Fused softmax attention with features as rows (how exported UNets lay it out):
    /// `O[b, c, t] = Σ_s P[b, t, s] V[b, c, s]` with `P = softmax_s(Σ_k Q[b, k, t] K[b, k, s])`
    /// over `q [B, C, T]`, `k [B, C, S]`, `v [B, Cv, S]` into `output [B, Cv, T]`. Blocks of query
    /// columns run through `pg_attention_columns`, so the `T x S` score matrix is never written
    /// to memory. Any scale is folded into `q` by the caller.
    /// - Throws: ``KernelError`` when the shapes do not fit.
    public static func attentionFeatureMajor(q: Tensor, k: Tensor, v: Tensor, into output: Tensor, pool: ComputePool) throws {
        try checkF32(q, k, v, output, op: "attention")
        let qs = q.shape.dims, ks = k.shape.dims, vs = v.shape.dims
        guard qs.count == 3, ks.count == 3, vs.count == 3, qs[0] == ks[0], ks[0] == vs[0], qs[1] == ks[1], ks[2] == vs[2],
              output.shape.dims == [qs[0], vs[1], qs[2]] else {
            throw KernelError(.shapeMismatch, "attention: q \(q.shape), k \(k.shape), v \(v.shape), output \(output.shape)")
        }
        attentionFeatureMajor(q: q.floatPointer, k: k.floatPointer, v: v.floatPointer, output: output.floatPointer,
                              heads: qs[0], channels: qs[1], queries: qs[2], keys: ks[2], valueChannels: vs[1], pool: pool)
    }

    /// ``attentionFeatureMajor(q:k:v:into:pool:)`` on raw row-major buffers.
    public static func attentionFeatureMajor(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                             output: UnsafeMutablePointer<Float>, heads: Int, channels c: Int, queries t: Int,
                                             keys s: Int, valueChannels cv: Int, pool: ComputePool) {
        guard heads > 0, t > 0, cv > 0 else { return }
        guard c > 0, s > 0 else {
            // No keys: softmax over nothing; no features: uniform weights. Both by definition.
            for h in 0..<heads {
                for ch in 0..<cv {
                    let mean = s == 0 ? Float.nan : (0..<s).reduce(Float(0)) { $0 + v[(h * cv + ch) * s + $1] } / Float(s)
                    (output + (h * cv + ch) * t).update(repeating: mean, count: t)
                }
            }
            return
        }
        let ktSize = pg_sgemm_packed_size(Int32(s), Int32(c)), vSize = pg_sgemm_packed_size(Int32(cv), Int32(s))
        let perHead = ktSize + vSize
        let scratchPer = (pg_attention_scratch_size(Int32(s)) + 15) / 16 * 16
        let block = Int(PG_ATTENTION_BLOCK)
        let blocks = (t + block - 1) / block
        pool.withWorkspace(bytes: 4 * (heads * perHead + pool.threadCount * scratchPer)) { raw in
            let scratch = raw.assumingMemoryBound(to: Float.self)
            let buf = AttentionBuffers(q: q, k: k, v: v, packed: scratch, scratch: scratch + heads * perHead, o: output)
            // Pack K^T and V of every head once; all query blocks of the head share them.
            pool.parallelFor(heads) { r in
                for h in r {
                    let dst = buf.packed + h * perHead
                    pg_pack_transposed(buf.k + h * c * s, s, Int32(c), Int32(s), dst)
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
                    pg_attention_columns(packed, buf.q + h * c * t, t, packed + ktSize, Int32(c), Int32(cv),
                                         Int32(s), Int32(t0), Int32(min(block, t - t0)), buf.o + h * cv * t, t, work)
                }
            }
        }
    }
}

extension Ops {
    /// Fused softmax attention with the heads interleaved in the last dimension, the layout
    /// linear projections produce: `q [N, T, H·D]`, `k [N, S, H·D]`, `v [N, S, H·Dv]` give
    /// `output [N, T, H·Dv]` with head `h` in features `h·D..<(h+1)·D` (`h·Dv..<(h+1)·Dv` for
    /// values and output). Each head's keys and values are packed straight from their strided
    /// rows and each block of queries is gathered (scaled) and its result scattered by the
    /// worker, so the heads are never split or merged by whole-tensor transposes.
    /// - Throws: ``KernelError`` when the shapes do not fit or `heads` does not divide the features.
    public static func attentionHeads(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float, into output: Tensor,
                                      pool: ComputePool) throws {
        try checkF32(q, k, v, output, op: "attention")
        let qs = q.shape.dims, ks = k.shape.dims, vs = v.shape.dims
        guard heads > 0, qs.count == 3, ks.count == 3, vs.count == 3, qs[0] == ks[0], ks[0] == vs[0], ks[1] == vs[1],
              qs[2] == ks[2], qs[2] % heads == 0, vs[2] % heads == 0, output.shape.dims == [qs[0], qs[1], vs[2]] else {
            throw KernelError(.shapeMismatch, "attention (\(heads) heads): q \(q.shape), k \(k.shape), v \(v.shape), output \(output.shape)")
        }
        let n = qs[0], t = qs[1], s = ks[1], d = qs[2] / heads, dv = vs[2] / heads
        let hd = qs[2], hdv = vs[2]
        guard n * t * hdv > 0 else { return }
        let qp = q.floatPointer, kp = k.floatPointer, vp = v.floatPointer, op = output.floatPointer
        guard d > 0, s > 0 else {
            // No keys: softmax over nothing; no features: uniform weights. Both by definition.
            for b in 0..<n {
                for h in 0..<heads {
                    for c in 0..<dv {
                        var mean = Float.nan
                        if s > 0 { mean = (0..<s).reduce(Float(0)) { $0 + vp[(b * s + $1) * hdv + h * dv + c] } / Float(s) }
                        for j in 0..<t { op[(b * t + j) * hdv + h * dv + c] = mean }
                    }
                }
            }
            return
        }
        let ktSize = pg_sgemm_packed_size(Int32(s), Int32(d)), vSize = pg_sgemm_packed_size(Int32(dv), Int32(s))
        let perHead = ktSize + vSize
        let block = Int(PG_ATTENTION_BLOCK)
        let round16 = { (x: Int) in (x + 15) / 16 * 16 }
        let attentionScratch = round16(pg_attention_scratch_size(Int32(s)))
        let scratchPer = attentionScratch + round16(block * d) + round16(block * dv)
        let blocks = (t + block - 1) / block
        let units = n * heads
        pool.withWorkspace(bytes: 4 * (units * perHead + pool.threadCount * scratchPer)) { raw in
            let scratch = raw.assumingMemoryBound(to: Float.self)
            let buf = AttentionBuffers(q: qp, k: kp, v: vp, packed: scratch, scratch: scratch + units * perHead, o: op)
            // Per head: the keys' rows are the first product's left operand as they stand; the
            // values are packed transposed (features as rows).
            pool.parallelFor(units) { r in
                for u in r {
                    let b = u / heads, h = u % heads
                    let dst = buf.packed + u * perHead
                    pg_sgemm_pack_a(buf.k + b * s * hd + h * d, hd, Int32(s), Int32(d), dst)
                    pg_pack_transposed(buf.v + b * s * hdv + h * dv, hdv, Int32(s), Int32(dv), dst + ktSize)
                }
            }
            pool.run(parts: units * blocks) { ith, nth in
                let all = units * blocks
                let lo = all * ith / nth, hi = all * (ith + 1) / nth
                let work = buf.scratch + ith * scratchPer
                let qBlock = work + attentionScratch, oBlock = qBlock + round16(block * d)
                for w in lo..<hi {
                    let u = w / blocks, t0 = (w % blocks) * block, nt = min(block, t - t0)
                    let b = u / heads, h = u % heads
                    // The block's queries as a D x nt matrix, scaled.
                    for j in 0..<nt {
                        let row = buf.q + (b * t + t0 + j) * hd + h * d
                        for c in 0..<d { qBlock[c * nt + j] = row[c] * scale }
                    }
                    let packed = buf.packed + u * perHead
                    pg_attention_columns(packed, qBlock, nt, packed + ktSize, Int32(d), Int32(dv), Int32(s), 0, Int32(nt),
                                         oBlock, nt, work)
                    for j in 0..<nt {
                        let row = buf.o + (b * t + t0 + j) * hdv + h * dv
                        for c in 0..<dv { row[c] = oBlock[c * nt + j] }
                    }
                }
            }
        }
    }
}

extension Reference {
    /// Softmax attention unfused: `softmax(q kᵀ · scale) v` as a matrix product, a softmax over the
    /// last axis and a second matrix product (shapes as ``Ops/attention(q:k:v:scale:into:pool:)``).
    public static func attention(q: Tensor, k: Tensor, v: Tensor, scale: Float) throws -> Tensor {
        let r = k.shape.rank
        let kt = transpose(k, permutation: Array(0..<(r - 2)) + [r - 1, r - 2])
        var scores = matmul(q, kt)
        if scale != 1 { scores = Tensor(shape: scores.shape, values: scores.toArray().map { $0 * scale }) }
        return matmul(softmax(scores, axis: -1), v)
    }

    /// ``Ops/attentionHeads(q:k:v:heads:scale:into:pool:)`` by definition: the heads split out
    /// by reshape and transpose, unfused attention per head, merged back.
    public static func attentionHeads(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float) throws -> Tensor {
        let split = { (x: Tensor) throws -> Tensor in
            let d = x.shape.dims
            return transpose(try x.reshaped(Shape([d[0], d[1], heads, d[2] / heads])), permutation: [0, 2, 1, 3])
        }
        let o = try attention(q: split(q), k: split(k), v: split(v), scale: scale)
        let od = o.shape.dims
        return try transpose(o, permutation: [0, 2, 1, 3]).reshaped(Shape([od[0], od[2], od[1] * od[3]]))
    }
}
