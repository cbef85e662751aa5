import Foundation
import Tensor

extension Ops {
    /// Softmax along `axis` (negative counts from the end), max-subtracted for stability.
    public static func softmax(_ x: Tensor, axis: Int, pool: ComputePool) throws -> Tensor {
        try checkF32(x, op: "softmax")
        let rank = x.shape.rank
        let ax = axis < 0 ? axis + rank : axis
        guard ax >= 0, ax < rank else { throw KernelError(.invalidParameter, "softmax: axis \(axis) of \(x.shape)") }
        let outer = x.shape.dims[0..<ax].reduce(1, *), len = x.shape.dims[ax]
        let inner = x.shape.dims[(ax + 1)...].reduce(1, *)
        let out = Tensor(uninitialized: x.shape)
        let src = x.floatPointer, dst = out.floatPointer
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
        return out
    }

    /// Group normalization of NCHW: each (sample, group of C/groups channels) is normalized to
    /// zero mean and unit variance (biased), then scaled by `gamma[c]` and shifted by `beta[c]`.
    /// Instance normalization is `groups == C`.
    /// - Throws: ``KernelError`` when channels do not divide or affine vectors have the wrong size.
    public static func groupNorm(_ x: Tensor, groups: Int, gamma: [Float]?, beta: [Float]?, epsilon: Float,
                                 pool: ComputePool) throws -> Tensor {
        try checkF32(x, op: "groupNorm")
        let (n, c, h, w) = x.nchw
        guard groups > 0, c % groups == 0, gamma.map({ $0.count == c }) ?? true, beta.map({ $0.count == c }) ?? true else {
            throw KernelError(.invalidParameter, "groupNorm: \(groups) groups, affine \(gamma?.count ?? 0)/\(beta?.count ?? 0) on \(x.shape)")
        }
        let out = Tensor(uninitialized: x.shape)
        let cg = c / groups, plane = h * w, len = cg * plane
        let src = x.floatPointer, dst = out.floatPointer
        pool.parallelFor(n * groups) { r in
            for i in r {
                let s = src + i * len, d = dst + i * len
                // Two passes in Double: the mean first, then the variance around it (no cancellation).
                var sum: Double = 0
                for k in 0..<len { sum += Double(s[k]) }
                let mean = sum / Double(len)
                var sq: Double = 0
                for k in 0..<len { let t = Double(s[k]) - mean; sq += t * t }
                let inv = Float(1 / (sq / Double(len) + Double(epsilon)).squareRoot())
                let mf = Float(mean)
                for cc in 0..<cg {
                    let ch = (i % groups) * cg + cc
                    let a = inv * (gamma?[ch] ?? 1), b = (beta?[ch] ?? 0) - mf * a
                    let sp = s + cc * plane, dp = d + cc * plane
                    for k in 0..<plane { dp[k] = sp[k] * a + b }
                }
            }
        }
        return out
    }

    /// Instance normalization: ``groupNorm(_:groups:gamma:beta:epsilon:pool:)`` with one group per channel.
    public static func instanceNorm(_ x: Tensor, gamma: [Float]?, beta: [Float]?, epsilon: Float,
                                    pool: ComputePool) throws -> Tensor {
        try groupNorm(x, groups: x.shape.c, gamma: gamma, beta: beta, epsilon: epsilon, pool: pool)
    }

    /// Layer normalization over the last `normalizedCount` elements of each row (the trailing
    /// dimensions whose product is `normalizedCount`), with per-element `gamma`/`beta` of that size.
    public static func layerNorm(_ x: Tensor, normalizedCount: Int, gamma: [Float]?, beta: [Float]?, epsilon: Float,
                                 pool: ComputePool) throws -> Tensor {
        try checkF32(x, op: "layerNorm")
        guard normalizedCount > 0, x.count % normalizedCount == 0,
              gamma.map({ $0.count == normalizedCount }) ?? true, beta.map({ $0.count == normalizedCount }) ?? true else {
            throw KernelError(.invalidParameter, "layerNorm: \(normalizedCount) on \(x.shape)")
        }
        let out = Tensor(uninitialized: x.shape)
        let rows = x.count / normalizedCount, len = normalizedCount
        let src = x.floatPointer, dst = out.floatPointer
        pool.parallelFor(rows, minimumPerPart: max(1, 4096 / len)) { r in
            for i in r {
                let s = src + i * len, d = dst + i * len
                var sum: Double = 0
                for k in 0..<len { sum += Double(s[k]) }
                let mean = sum / Double(len)
                var sq: Double = 0
                for k in 0..<len { let t = Double(s[k]) - mean; sq += t * t }
                let inv = Float(1 / (sq / Double(len) + Double(epsilon)).squareRoot())
                let mf = Float(mean)
                for k in 0..<len { d[k] = (s[k] - mf) * inv * (gamma?[k] ?? 1) + (beta?[k] ?? 0) }
            }
        }
        return out
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

    /// Group normalization by definition.
    public static func groupNorm(_ x: Tensor, groups: Int, gamma: [Float]?, beta: [Float]?, epsilon: Float) -> Tensor {
        let (n, c, h, w) = x.nchw
        let cg = c / groups, len = cg * h * w
        let v = x.toArray()
        var out = v
        for i in 0..<(n * groups) {
            let seg = v[(i * len)..<((i + 1) * len)].map(Double.init)
            let mean = seg.reduce(0, +) / Double(len)
            let variance = seg.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(len)
            for k in 0..<len {
                let ch = (i % groups) * cg + k / (h * w)
                let norm = (seg[k] - mean) / (variance + Double(epsilon)).squareRoot()
                out[i * len + k] = Float(norm * Double(gamma?[ch] ?? 1) + Double(beta?[ch] ?? 0))
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
