import CKernels
import Foundation
import Tensor

extension Ops {
    /// Softmax along `axis` (negative counts from the end), max-subtracted for stability.
    public static func softmax(_ x: Tensor, axis: Int, pool: ComputePool) throws -> Tensor {
        let out = Tensor(uninitialized: x.shape)
        try softmax(x, axis: axis, into: out, pool: pool)
        return out
    }

    /// Softmax along `axis` into `output` (may be `x`).
    public static func softmax(_ x: Tensor, axis: Int, into out: Tensor, pool: ComputePool) throws {
        try checkF32(x, out, op: "softmax")
        let rank = x.shape.rank
        let ax = axis < 0 ? axis + rank : axis
        guard ax >= 0, ax < rank, out.count == x.count else {
            throw KernelError(.invalidParameter, "softmax: axis \(axis) of \(x.shape) into \(out.shape)")
        }
        let outer = x.shape.dims[0..<ax].reduce(1, *), len = x.shape.dims[ax]
        let inner = x.shape.dims[(ax + 1)...].reduce(1, *)
        let src = x.floatPointer, dst = out.floatPointer
        if inner == 1 {
            // Contiguous rows: the vector kernel (AVX-512 exp where the CPU has it).
            FastMath.softmaxRows(src, dst, count: x.count, len: len, pool: pool)
            return
        }
        pool.parallelFor(outer * inner, minimumPerPart: max(1, 4096 / max(len, 1))) { r in
            for i in r {
                let o = i / inner, j = i % inner
                let s = src + o * len * inner + j, d = dst + o * len * inner + j
                var m = -Float.infinity
                for k in 0..<len { m = max(m, s[k * inner]) }
                var sum: Float = 0
                for k in 0..<len { let e = Foundation.exp(s[k * inner] - m); d[k * inner] = e; sum += e }
                let inv = 1 / sum
                for k in 0..<len { d[k * inner] *= inv }
            }
        }
    }

    /// Group normalization of NCHW: each (sample, group of C/groups channels) is normalized to
    /// zero mean and unit variance (biased), then scaled by `gamma[c]` and shifted by `beta[c]`.
    /// Instance normalization is `groups == C`.
    /// - Throws: ``KernelError`` when channels do not divide or affine vectors have the wrong size.
    public static func groupNorm(_ x: Tensor, groups: Int, gamma: [Float]?, beta: [Float]?, epsilon: Float,
                                 pool: ComputePool) throws -> Tensor {
        let out = Tensor(uninitialized: x.shape)
        try groupNorm(x, groups: groups, epsilon: epsilon, gamma: gamma, beta: beta, into: out, pool: pool)
        return out
    }

    /// Group normalization fused with the per-channel steps that follow it in diffusion UNets:
    /// `x [N, C, spatial...]` normalized per (sample, group of C/groups channels), then
    /// `gamma * x + beta` per channel (`C` values, or `N*C` for a different affine per sample),
    /// then `activation`, then `+ residual` (same shape as `x`). Two passes over the tensor
    /// (statistics, then the mapped group while it is still in cache) instead of one or two per step.
    /// - Parameters:
    ///   - activation: applied after the affine map; SiLU runs in the vector kernel.
    ///   - output: may be `x` itself.
    /// - Throws: ``KernelError`` when channels do not divide or the vectors have the wrong size.
    public static func groupNorm(_ x: Tensor, groups: Int, epsilon: Float, gamma: [Float]?, beta: [Float]?,
                                 activation: UnaryOp? = nil, residual: Tensor? = nil, into output: Tensor,
                                 pool: ComputePool) throws {
        try checkF32(x, output, op: "groupNorm")
        let dims = x.shape.dims
        guard dims.count >= 2 else { throw KernelError(.invalidParameter, "groupNorm: \(x.shape) has no channel axis") }
        let n = dims[0], c = dims[1], plane = dims[2...].reduce(1, *)
        let sizes = [c, n * c]
        guard groups > 0, c % groups == 0, gamma.map({ sizes.contains($0.count) }) ?? true,
              beta.map({ sizes.contains($0.count) }) ?? true, output.count == x.count,
              residual.map({ $0.count == x.count && $0.dtype == .f32 }) ?? true else {
            throw KernelError(.invalidParameter,
                              "groupNorm: \(groups) groups, affine \(gamma?.count ?? 0)/\(beta?.count ?? 0) on \(x.shape)")
        }
        guard n * c * plane > 0 else { return }
        let perGroup = c / groups, len = perGroup * plane, rows = n * groups
        let src = x.floatPointer, dst = output.floatPointer, res = residual?.floatPointer
        let silu = activation == .silu
        let other = silu ? nil : activation
        let gammaAll = gamma ?? [], betaAll = beta ?? []
        pool.withWorkspace(bytes: 8 * n * c) { raw in
            let alpha = SharedPointer(base: raw.assumingMemoryBound(to: Float.self))
            let shift = SharedPointer(base: alpha.base + n * c)
            gammaAll.withUnsafeBufferPointer { g in
                betaAll.withUnsafeBufferPointer { b in
                    // One pass on the pool, a group at a time: its statistics, then its channels
                    // mapped while the group's values are still in cache.
                    pool.parallelFor(rows, minimumPerPart: max(1, 16384 / len)) { r in
                        for row in r {
                            var mean: Float = 0, rstd: Float = 0
                            pg_row_moments(src + row * len, 1, len, epsilon, &mean, &rstd)
                            let img = row / groups, c0 = img * c + (row % groups) * perGroup
                            for i in c0..<(c0 + perGroup) {
                                let gi = g.isEmpty ? 1 : g[g.count == c ? i % c : i]
                                let bi = b.isEmpty ? 0 : b[b.count == c ? i % c : i]
                                alpha.base[i] = rstd * gi
                                shift.base[i] = bi - mean * rstd * gi
                            }
                            pg_channel_affine(src, dst, plane, alpha.base, shift.base, Int32(c0), Int32(c0 + perGroup), silu ? 1 : 0)
                            let d = dst + c0 * plane
                            if let other { for k in 0..<len { d[k] = other.apply(d[k]) } }
                            if let res {
                                let rr = res + c0 * plane
                                for k in 0..<len { d[k] += rr[k] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Instance normalization: ``groupNorm(_:groups:gamma:beta:epsilon:pool:)`` with one group per channel.
    public static func instanceNorm(_ x: Tensor, gamma: [Float]?, beta: [Float]?, epsilon: Float,
                                    pool: ComputePool) throws -> Tensor {
        guard x.shape.rank >= 2 else { throw KernelError(.invalidParameter, "instanceNorm: \(x.shape) has no channel axis") }
        return try groupNorm(x, groups: x.shape.dims[1], gamma: gamma, beta: beta, epsilon: epsilon, pool: pool)
    }

    /// Layer normalization over the last `normalizedCount` elements of each row (the trailing
    /// dimensions whose product is `normalizedCount`), with per-element `gamma`/`beta` of that size.
    public static func layerNorm(_ x: Tensor, normalizedCount: Int, gamma: [Float]?, beta: [Float]?, epsilon: Float,
                                 pool: ComputePool) throws -> Tensor {
        let out = Tensor(uninitialized: x.shape)
        try layerNorm(x, normalizedCount: normalizedCount, gamma: gamma, beta: beta, epsilon: epsilon, into: out, pool: pool)
        return out
    }

    /// ``layerNorm(_:normalizedCount:gamma:beta:epsilon:pool:)`` into `output` (may be `x`).
    public static func layerNorm(_ x: Tensor, normalizedCount: Int, gamma: [Float]?, beta: [Float]?, epsilon: Float,
                                 into output: Tensor, pool: ComputePool) throws {
        try checkF32(x, output, op: "layerNorm")
        guard normalizedCount > 0, x.count % normalizedCount == 0, output.count == x.count,
              gamma.map({ $0.count == normalizedCount }) ?? true, beta.map({ $0.count == normalizedCount }) ?? true else {
            throw KernelError(.invalidParameter, "layerNorm: \(normalizedCount) on \(x.shape)")
        }
        let rows = x.count / normalizedCount, len = normalizedCount
        let src = x.floatPointer, dst = output.floatPointer
        let gammaAll = gamma ?? [], betaAll = beta ?? []
        gammaAll.withUnsafeBufferPointer { g in
            betaAll.withUnsafeBufferPointer { b in
                pool.parallelFor(rows, minimumPerPart: max(1, 4096 / len)) { r in
                    for i in r {
                        var mean: Float = 0, rstd: Float = 0
                        pg_row_moments(src + i * len, 1, len, epsilon, &mean, &rstd)
                        let s = src + i * len, d = dst + i * len
                        switch (g.isEmpty, b.isEmpty) {
                        case (false, false): for k in 0..<len { d[k] = (s[k] - mean) * rstd * g[k] + b[k] }
                        case (false, true): for k in 0..<len { d[k] = (s[k] - mean) * rstd * g[k] }
                        case (true, false): for k in 0..<len { d[k] = (s[k] - mean) * rstd + b[k] }
                        case (true, true): for k in 0..<len { d[k] = (s[k] - mean) * rstd }
                        }
                    }
                }
            }
        }
    }
}

extension Reference {
    /// Softmax by definition (in Double).
    public static func softmax(_ x: Tensor, axis: Int) -> Tensor {
        let rank = x.shape.rank
        let ax = axis < 0 ? axis + rank : axis
        let outer = x.shape.dims[0..<ax].reduce(1, *), len = x.shape.dims[ax]
        let inner = x.shape.dims[(ax + 1)...].reduce(1, *)
        let v = x.toArray()
        var out = v
        for o in 0..<outer { for j in 0..<inner {
            let idx = (0..<len).map { (o * len + $0) * inner + j }
            let m = idx.map { Double(v[$0]) }.max()!
            let e = idx.map { Foundation.exp(Double(v[$0]) - m) }
            let s = e.reduce(0, +)
            for (k, i) in idx.enumerated() { out[i] = Float(e[k] / s) }
        } }
        return Tensor(shape: x.shape, values: out)
    }

    /// Group normalization by definition, with the fused tail of
    /// ``Ops/groupNorm(_:groups:epsilon:gamma:beta:activation:residual:into:pool:)`` as separate steps.
    public static func groupNorm(_ x: Tensor, groups: Int, gamma: [Float]?, beta: [Float]?, epsilon: Float,
                                 activation: UnaryOp? = nil, residual: Tensor? = nil) -> Tensor {
        let dims = x.shape.dims
        let n = dims[0], c = dims[1], plane = dims[2...].reduce(1, *)
        let cg = c / groups, len = cg * plane
        let v = x.toArray(), r = residual?.toArray()
        var out = v
        for i in 0..<(n * groups) {
            let seg = v[(i * len)..<((i + 1) * len)].map(Double.init)
            let mean = seg.reduce(0, +) / Double(len)
            let variance = seg.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(len)
            for k in 0..<len {
                let ch = (i % groups) * cg + k / plane, img = i / groups
                let gi = gamma.map { $0.count == c ? $0[ch] : $0[img * c + ch] } ?? 1
                let bi = beta.map { $0.count == c ? $0[ch] : $0[img * c + ch] } ?? 0
                let norm = (seg[k] - mean) / (variance + Double(epsilon)).squareRoot()
                var y = Float(norm * Double(gi) + Double(bi))
                if let activation { y = activation.apply(y) }
                if let r { y += r[i * len + k] }
                out[i * len + k] = y
            }
        }
        return Tensor(shape: x.shape, values: out)
    }

    /// Layer normalization by definition.
    public static func layerNorm(_ x: Tensor, normalizedCount len: Int, gamma: [Float]?, beta: [Float]?, epsilon: Float) -> Tensor {
        let v = x.toArray()
        var out = v
        for i in 0..<(x.count / len) {
            let seg = v[(i * len)..<((i + 1) * len)].map(Double.init)
            let mean = seg.reduce(0, +) / Double(len)
            let variance = seg.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(len)
            for k in 0..<len {
                let norm = (seg[k] - mean) / (variance + Double(epsilon)).squareRoot()
                out[i * len + k] = Float(norm * Double(gamma?[k] ?? 1) + Double(beta?[k] ?? 0))
            }
        }
        return Tensor(shape: x.shape, values: out)
    }
}
