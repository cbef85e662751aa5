import CKernels
import Tensor

/// Pointers that matrix-product workers read and write. `@unchecked Sendable` because each
/// worker writes only its own disjoint columns of `c`; `a` and `b` are only read.
struct GEMMOperands: @unchecked Sendable {
    let a: UnsafePointer<Float>
    let b: UnsafePointer<Float>
    let c: UnsafeMutablePointer<Float>
}

extension Ops {
    /// Row-major single-precision matrix multiply `C[m, n] (+)= Σ_k A[m, k] B[k, n]` on the
    /// packed SGEMM: A is packed into panels once, then column blocks of B run in parallel.
    /// - Parameters:
    ///   - lda, ldb, ldc: row strides of the three matrices.
    ///   - accumulate: add to `c` instead of overwriting it.
    public static func sgemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false, pool: ComputePool) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        let packedSize = pg_sgemm_packed_size(Int32(m), Int32(k))
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: packedSize)
        defer { packed.deallocate() }
        pg_sgemm_pack_a(a, lda, Int32(m), Int32(k), packed)
        let ops = GEMMOperands(a: UnsafePointer(packed), b: b, c: c)
        let block = 256
        let blocks = (n + block - 1) / block
        pool.parallelFor(blocks, minimumPerPart: max(1, (1 << 18) / max(1, m * k * block))) { r in
            for j in r {
                let n0 = j * block, nw = min(block, n - n0)
                pg_sgemm_packed(Int32(m), Int32(nw), Int32(k), ops.a, ops.b + n0, ldb, ops.c + n0, ldc,
                                nil, nil, accumulate ? 1 : 0)
            }
        }
    }

    /// The shape of numpy's `matmul(a, b)`: batch extents broadcast, a 1-D `a` is a row and a
    /// 1-D `b` a column (their unit axis dropped from the result).
    /// - Throws: ``KernelError`` when the inner extents differ or the batches do not broadcast.
    public static func matmulShape(_ a: Shape, _ b: Shape) throws -> Shape {
        try MatMulShapes(a, b).output
    }

    /// numpy `matmul(a, b)` with batch broadcasting (rank ≥ 1 each).
    /// - Throws: ``KernelError`` when the shapes do not fit.
    public static func matmul(_ a: Tensor, _ b: Tensor, pool: ComputePool) throws -> Tensor {
        let out = Tensor(uninitialized: try matmulShape(a.shape, b.shape))
        try matmul(a, b, into: out, pool: pool)
        return out
    }

    /// numpy `matmul(a, b)` into `output` (shaped ``matmulShape(_:_:)``).
    /// - Throws: ``KernelError`` when the shapes do not fit.
    public static func matmul(_ a: Tensor, _ b: Tensor, into output: Tensor, pool: ComputePool) throws {
        try checkF32(a, b, output, op: "matmul")
        let s = try MatMulShapes(a.shape, b.shape)
        guard output.shape == s.output else {
            throw KernelError(.shapeMismatch, "matmul: output \(output.shape) for \(a.shape) × \(b.shape), expected \(s.output)")
        }
        let count = s.batch.reduce(1, *), m = s.m, n = s.n, k = s.k
        guard count * m * n > 0 else { return }
        guard k > 0 else {
            output.floatPointer.update(repeating: 0, count: output.count)
            return
        }
        let aStr = Layout.broadcastStrides(s.aBatch, to: s.batch), bStr = Layout.broadcastStrides(s.bBatch, to: s.batch)
        // Each batch's operand offsets (in matrices), then every distinct left matrix packed once.
        var offsets = [(Int, Int)](repeating: (0, 0), count: count)
        for idx in 0..<count {
            var rem = idx, ai = 0, bi = 0
            for d in stride(from: s.batch.count - 1, through: 0, by: -1) {
                let coord = rem % s.batch[d]
                rem /= s.batch[d]
                ai += coord * aStr[d]
                bi += coord * bStr[d]
            }
            offsets[idx] = (ai, bi)
        }
        let aCount = s.aBatch.reduce(1, *)
        let packedSize = pg_sgemm_packed_size(Int32(m), Int32(k))
        // Both buffers are written completely (packing zero-fills its padding rows).
        let packed = Tensor(uninitialized: [packedSize * aCount])
        for i in 0..<aCount {
            pg_sgemm_pack_a(a.floatPointer + i * m * k, k, Int32(m), Int32(k), packed.floatPointer + i * packedSize)
        }
        let pp = packed.floatPointer, bp = b.floatPointer, op = output.floatPointer
        // Batches and column blocks are split together, so many small products fill the threads too.
        let block = 192
        let blocks = (n + block - 1) / block
        offsets.withUnsafeBufferPointer { off in
            pool.parallelFor(count * blocks, minimumPerPart: max(1, (1 << 17) / max(1, m * k * min(n, block)))) { r in
                for job in r {
                    let bi = job / blocks, n0 = (job % blocks) * block, nw = min(block, n - n0)
                    let (ai, bj) = off[bi]
                    pg_sgemm_packed(Int32(m), Int32(nw), Int32(k), pp + ai * packedSize, bp + bj * k * n + n0, n,
                                    op + bi * m * n + n0, n, nil, nil, 0)
                }
            }
        }
    }

    /// BLAS/ONNX Gemm: `alpha · op(a) · op(b) + beta · c` for matrices `a`, `b` (`op` transposes
    /// when asked) and an optional `c` that broadcasts to `[m, n]`.
    /// - Throws: ``KernelError`` when the shapes do not fit.
    public static func gemm(_ a: Tensor, _ b: Tensor, c: Tensor?, alpha: Float = 1, beta: Float = 1,
                            transA: Bool = false, transB: Bool = false, pool: ComputePool) throws -> Tensor {
        try checkF32(a, b, op: "gemm")
        guard a.shape.rank == 2, b.shape.rank == 2 else {
            throw KernelError(.shapeMismatch, "gemm: needs matrices, got \(a.shape), \(b.shape)")
        }
        let ad = a.shape.dims, bd = b.shape.dims
        let m = transA ? ad[1] : ad[0], k = transA ? ad[0] : ad[1]
        let k2 = transB ? bd[1] : bd[0], n = transB ? bd[0] : bd[1]
        guard k == k2 else { throw KernelError(.shapeMismatch, "gemm: inner extents differ: \(a.shape) × \(b.shape)") }
        if let c {
            try checkF32(c, op: "gemm")
            guard (try? broadcastShape(c.shape, Shape([m, n]), op: "gemm")) == Shape([m, n]) else {
                throw KernelError(.shapeMismatch, "gemm: C \(c.shape) does not broadcast to [\(m), \(n)]")
            }
        }
        let y = Tensor(uninitialized: Shape([m, n]))
        if m == 1 && transB && !transA && n > 0 && k > 0 {
            // A row vector times Bᵀ (linear layers at batch 1): yᵀ = B aᵀ, with B (n x k,
            // row-major) packed as the SGEMM's left operand and a read in place as a k x 1
            // column; no transposed copy of B.
            sgemm(m: n, n: 1, k: k, a: b.floatPointer, lda: k, b: a.floatPointer, ldb: 1, c: y.floatPointer, ldc: 1, pool: pool)
        } else {
            let aa = transA ? try transpose(a, permutation: [1, 0], pool: pool) : a
            let bb = transB ? try transpose(b, permutation: [1, 0], pool: pool) : b
            sgemm(m: m, n: n, k: k, a: aa.floatPointer, lda: k, b: bb.floatPointer, ldb: n, c: y.floatPointer, ldc: n, pool: pool)
        }
        let p = y.floatPointer
        if alpha != 1 { for i in 0..<(m * n) { p[i] *= alpha } }
        if let c, beta != 0 {
            let st = broadcastStrides(c.shape, to: Shape([m, n]))
            let cv = c.floatPointer
            for i in 0..<m { for j in 0..<n { p[i * n + j] += beta * cv[i * st[0] + j * st[1]] } }
        }
        return y
    }
}

/// Extents of a numpy matmul: the batch shapes, the broadcast batch and `m`, `n`, `k`.
struct MatMulShapes {
    let aBatch: [Int], bBatch: [Int], batch: [Int]
    let m: Int, n: Int, k: Int
    let output: Shape

    init(_ a: Shape, _ b: Shape) throws {
        guard a.rank >= 1, b.rank >= 1 else { throw KernelError(.shapeMismatch, "matmul of a scalar: \(a) × \(b)") }
        let ad = a.rank == 1 ? [1, a.dims[0]] : a.dims
        let bd = b.rank == 1 ? [b.dims[0], 1] : b.dims
        m = ad[ad.count - 2]
        k = ad[ad.count - 1]
        n = bd[bd.count - 1]
        guard k == bd[bd.count - 2] else { throw KernelError(.shapeMismatch, "matmul: inner extents differ: \(a) × \(b)") }
        aBatch = Array(ad.dropLast(2))
        bBatch = Array(bd.dropLast(2))
        guard let batch = Layout.broadcast([aBatch, bBatch]) else {
            throw KernelError(.shapeMismatch, "matmul: batch extents \(aBatch) and \(bBatch) do not broadcast")
        }
        self.batch = batch
        var dims = batch + [m, n]
        if a.rank == 1 { dims.remove(at: dims.count - 2) }
        if b.rank == 1 { dims.removeLast() }
        output = Shape(dims)
    }
}

/// The constant right-hand side of `x · W` (a linear layer's weights `W [k, n]`), packed once
/// as the SGEMM's left operand `Wᵀ`: each product is then `(Wᵀ xᵀ)ᵀ`, with no per-call packing
/// of the weights.
public struct MatMulWeights: Sendable {
    /// Inner extent (rows of `W`).
    public let k: Int
    /// Output extent (columns of `W`).
    public let n: Int
    let packed: [Float]

    /// Packs `W` (`k x n`, row-major).
    /// - Throws: ``KernelError`` when the count does not fit.
    public init(_ weights: [Float], k: Int, n: Int) throws {
        guard k > 0, n > 0, weights.count == k * n else {
            throw KernelError(.invalidParameter, "MatMulWeights: \(weights.count) values for \(k) x \(n)")
        }
        self.k = k
        self.n = n
        var packed = [Float](repeating: 0, count: pg_sgemm_packed_size(Int32(n), Int32(k)))
        weights.withUnsafeBufferPointer { w in
            packed.withUnsafeMutableBufferPointer { pg_pack_transposed(w.baseAddress!, n, Int32(k), Int32(n), $0.baseAddress!) }
        }
        self.packed = packed
    }

    /// `x · W` for `x [..., k]` into `output [..., n]`.
    /// - Throws: ``KernelError`` when the shapes do not fit.
    public func multiply(_ x: Tensor, into output: Tensor, pool: ComputePool) throws {
        try checkF32(x, output, op: "matmul")
        guard x.shape.rank >= 1, x.shape.dims.last == k, output.shape.dims == Array(x.shape.dims.dropLast()) + [n] else {
            throw KernelError(.shapeMismatch, "matmul: \(x.shape) × [\(k), \(n)] into \(output.shape)")
        }
        let m = x.count / k
        guard m > 0 else { return }
        // yᵀ (n x m) = Wᵀ xᵀ: xᵀ and yᵀ are the rows of x and y read as columns; a single row needs
        // no transposes at all.
        let xt = m == 1 ? x : try Ops.transpose(x.reshaped(Shape([m, k])), permutation: [1, 0], pool: pool)
        let yt = m == 1 ? output : Tensor(uninitialized: Shape([n, m]))
        let ops = GEMMOperands(a: xt.floatPointer, b: xt.floatPointer, c: yt.floatPointer)
        packed.withUnsafeBufferPointer { pw in
            let w = GEMMOperands(a: pw.baseAddress!, b: pw.baseAddress!, c: yt.floatPointer)
            let block = 256, blocks = (m + block - 1) / block
            pool.parallelFor(blocks, minimumPerPart: max(1, (1 << 18) / max(1, n * k * block))) { r in
                for j in r {
                    let m0 = j * block, mw = min(block, m - m0)
                    pg_sgemm_packed(Int32(n), Int32(mw), Int32(k), w.a, ops.b + m0, m, ops.c + m0, m, nil, nil, 0)
                }
            }
        }
        if m > 1 {
            let y = try Ops.transpose(yt, permutation: [1, 0], pool: pool)
            output.floatPointer.update(from: y.floatPointer, count: y.count)
        }
    }
}

extension Reference {
    /// numpy `matmul` by definition (double accumulation).
    /// - Precondition: the shapes fit (``Ops/matmulShape(_:_:)`` does not throw).
    public static func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
        guard let s = try? MatMulShapes(a.shape, b.shape) else { preconditionFailure("matmul: \(a.shape) × \(b.shape)") }
        let aStr = Layout.broadcastStrides(s.aBatch, to: s.batch), bStr = Layout.broadcastStrides(s.bBatch, to: s.batch)
        let va = a.toArray(), vb = b.toArray()
        let count = s.batch.reduce(1, *)
        var out = [Float](repeating: 0, count: count * s.m * s.n)
        for idx in 0..<count {
            var rem = idx, ai = 0, bi = 0
            for d in stride(from: s.batch.count - 1, through: 0, by: -1) {
                let coord = rem % s.batch[d]
                rem /= s.batch[d]
                ai += coord * aStr[d]
                bi += coord * bStr[d]
            }
            for i in 0..<s.m {
                for j in 0..<s.n {
                    var acc: Double = 0
                    for p in 0..<s.k { acc += Double(va[ai * s.m * s.k + i * s.k + p]) * Double(vb[bi * s.k * s.n + p * s.n + j]) }
                    out[(idx * s.m + i) * s.n + j] = Float(acc)
                }
            }
        }
        return Tensor(shape: s.output, values: out)
    }

    /// Gemm by definition.
    public static func gemm(_ a: Tensor, _ b: Tensor, c: Tensor?, alpha: Float, beta: Float, transA: Bool, transB: Bool) throws -> Tensor {
        let aa = transA ? transpose(a, permutation: [1, 0]) : a
        let bb = transB ? transpose(b, permutation: [1, 0]) : b
        let p = matmul(aa, bb)
        var y = p.toArray().map { $0 * alpha }
        if let c, beta != 0 {
            let cb = try binary(.add, Tensor(shape: p.shape, repeating: 0), c).toArray()
            for i in y.indices { y[i] += beta * cb[i] }
        }
        return Tensor(shape: p.shape, values: y)
    }
}
