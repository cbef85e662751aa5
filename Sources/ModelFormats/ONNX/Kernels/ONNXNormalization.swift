import CKernels
import Foundation

/// Softmax, the normalizations (instance, group, layer) and reductions.
enum ONNXNormalization {
    /// Softmax over `axis` (opset ≥ 13), or over the flattened trailing axes from `axis` (older opsets).
    static func softmax(_ x: ONNXTensor, axis: Int, flattened: Bool) throws -> ONNXTensor {
        let rank = x.shape.count
        guard let ax = ONNXLayout.axis(axis, rank: max(rank, 1)) else { throw ONNXRuntimeError("axis \(axis) out of range") }
        let outer = x.shape[..<ax].reduce(1, *)
        let len = flattened ? x.shape[ax...].reduce(1, *) : x.shape[ax]
        let inner = flattened ? 1 : x.shape[(ax + 1)...].reduce(1, *)
        var v = x.floats
        v.withUnsafeMutableBufferPointer { p in
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * len * inner + i
                    var m = -Float.infinity
                    for j in 0..<len { m = max(m, p[base + j * inner]) }
                    var s: Float = 0
                    for j in 0..<len {
                        let e = Foundation.exp(p[base + j * inner] - m)
                        p[base + j * inner] = e
                        s += e
                    }
                    let r = 1 / s
                    for j in 0..<len { p[base + j * inner] *= r }
                }
            }
        }
        return ONNXTensor(shape: x.shape, floats: v, type: x.elementType)
    }

    /// Normalizes each of `blocks` consecutive blocks of `len` elements to zero mean and unit
    /// variance (biased), in place, then `scale[b]`, `bias[b]` per block when given; statistics
    /// accumulate in double. Blocks are split across the compute pool.
    static func normalizeBlocks(_ p: UnsafeMutableBufferPointer<Float>, blocks: Int, len: Int, epsilon: Float,
                                scale: [Float]? = nil, bias: [Float]? = nil) {
        guard blocks > 0, len > 0 else { return }
        let base = p.baseAddress!
        let io = ONNXGemm.Operands(a: base, b: base, c: base)
        scale.withUnsafeBufferPointerOrNil { sp in
            bias.withUnsafeBufferPointerOrNil { bp in
                let affine = ONNXGemm.Operands(a: sp ?? UnsafePointer(base), b: bp ?? UnsafePointer(base), c: base)
                let hasAffine = sp != nil && bp != nil
                ONNXAccelerated.pool.parallelFor(blocks, minimumPerPart: max(1, 16384 / len)) { r in
                    let off = r.lowerBound * len
                    pg_normalize_rows(io.a + off, io.c + off, r.count, len, epsilon,
                                      hasAffine ? affine.a + r.lowerBound : nil, hasAffine ? affine.b + r.lowerBound : nil)
                }
            }
        }
    }

    /// InstanceNormalization: per (image, channel) over the spatial axes, then `scale[c]`, `bias[c]`.
    static func instanceNorm(_ x: ONNXTensor, _ scale: ONNXTensor, _ bias: ONNXTensor, epsilon: Float) throws -> ONNXTensor {
        var v = x.floats
        try instanceNormInPlace(&v, shape: x.shape, scale, bias, epsilon: epsilon)
        return ONNXTensor(shape: x.shape, floats: v, type: x.elementType)
    }

    /// InstanceNormalization of `v` (shaped `shape`) in its own buffer.
    static func instanceNormInPlace(_ v: inout [Float], shape: [Int], _ scale: ONNXTensor, _ bias: ONNXTensor, epsilon: Float) throws {
        guard shape.count >= 2 else { throw ONNXRuntimeError("input \(shape) has no channel axis") }
        let n = shape[0], c = shape[1], len = shape[2...].reduce(1, *)
        let s = scale.floats, b = bias.floats
        guard s.count == c, b.count == c else { throw ONNXRuntimeError("scale/bias of \(s.count)/\(b.count) for \(c) channels") }
        // The identity affine of the GroupNorm export pattern (scale 1, bias 0) is skipped.
        let identity = s.allSatisfy { $0 == 1 } && b.allSatisfy { $0 == 0 }
        let rowScale = identity ? nil : (0..<(n * c)).map { s[$0 % c] }
        let rowBias = identity ? nil : (0..<(n * c)).map { b[$0 % c] }
        v.withUnsafeMutableBufferPointer { p in
            normalizeBlocks(p, blocks: n * c, len: len, epsilon: epsilon, scale: rowScale, bias: rowBias)
        }
    }

    /// GroupNormalization: statistics per (image, group); scale and bias per channel (opset 21)
    /// or per group (opset 18).
    static func groupNorm(_ x: ONNXTensor, _ scale: ONNXTensor, _ bias: ONNXTensor, groups: Int, epsilon: Float) throws -> ONNXTensor {
        guard x.shape.count >= 2 else { throw ONNXRuntimeError("input \(x.shape) has no channel axis") }
        let n = x.shape[0], c = x.shape[1], len = x.shape[2...].reduce(1, *)
        guard c % groups == 0 else { throw ONNXRuntimeError("\(c) channels in \(groups) groups") }
        let s = scale.floats, b = bias.floats
        guard (s.count == c || s.count == groups) && b.count == s.count else {
            throw ONNXRuntimeError("scale/bias of \(s.count)/\(b.count) for \(c) channels in \(groups) groups")
        }
        let perGroup = c / groups
        var v = x.floats
        v.withUnsafeMutableBufferPointer { p in
            normalizeBlocks(p, blocks: n * groups, len: perGroup * len, epsilon: epsilon)
            for i in 0..<(n * c) {
                let ch = i % c
                let k = s.count == c ? ch : ch / perGroup
                let base = p.baseAddress! + i * len
                for j in 0..<len { base[j] = base[j] * s[k] + b[k] }
            }
        }
        return ONNXTensor(shape: x.shape, floats: v, type: x.elementType)
    }

    /// LayerNormalization over the axes from `axis` on; scale and bias broadcast over those axes.
    static func layerNorm(_ x: ONNXTensor, _ scale: ONNXTensor, _ bias: ONNXTensor?, axis: Int, epsilon: Float) throws -> ONNXTensor {
        guard let ax = ONNXLayout.axis(axis, rank: x.shape.count) else { throw ONNXRuntimeError("axis \(axis) out of range") }
        let outer = x.shape[..<ax].reduce(1, *), len = x.shape[ax...].reduce(1, *)
        let normShape = Array(x.shape[ax...])
        let s = ONNXShapeOps.expandValues(scale.floats, from: scale.shape, to: normShape)
        let b = bias.map { ONNXShapeOps.expandValues($0.floats, from: $0.shape, to: normShape) }
        guard s.count == len, b == nil || b!.count == len else { throw ONNXRuntimeError("scale \(scale.shape) for axes \(normShape)") }
        var v = x.floats
        v.withUnsafeMutableBufferPointer { p in
            normalizeBlocks(p, blocks: outer, len: len, epsilon: epsilon)
            for o in 0..<outer {
                let base = p.baseAddress! + o * len
                if let b {
                    for j in 0..<len { base[j] = base[j] * s[j] + b[j] }
                } else {
                    for j in 0..<len { base[j] *= s[j] }
                }
            }
        }
        return ONNXTensor(shape: x.shape, floats: v, type: x.elementType)
    }

    /// ReduceMean / Sum / Max / Min / Prod over `axes` (all axes when nil).
    static func reduce(_ x: ONNXTensor, _ kind: ONNXOp.ReduceKind, axes: [Int]?, keepDims: Bool) throws -> ONNXTensor {
        let rank = x.shape.count
        let ax = try Set((axes ?? Array(0..<rank)).map { a -> Int in
            guard let n = ONNXLayout.axis(a, rank: rank) else { throw ONNXRuntimeError("axis \(a) out of range") }
            return n
        })
        let kept = x.shape.enumerated().map { ax.contains($0.offset) ? 1 : $0.element }
        // Move reduced axes last, then reduce contiguous rows.
        let perm = (0..<rank).filter { !ax.contains($0) } + (0..<rank).filter { ax.contains($0) }
        let moved = ONNXLayout.permute(x.floats, shape: x.shape, perm: perm)
        let len = ax.reduce(1) { $0 * x.shape[$1] }
        let rows = len == 0 ? 0 : moved.count / len
        var out = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            let s = moved[(r * len)..<((r + 1) * len)]
            switch kind {
            case .sum: out[r] = s.reduce(0, +)
            case .mean: out[r] = s.reduce(0, +) / Float(len)
            case .max: out[r] = s.max() ?? -.infinity
            case .min: out[r] = s.min() ?? .infinity
            case .prod: out[r] = s.reduce(1, *)
            }
        }
        let shape = keepDims ? kept : x.shape.enumerated().filter { !ax.contains($0.offset) }.map(\.element)
        return ONNXTensor(shape: shape, floats: out, type: x.elementType)
    }
}

extension Optional where Wrapped == [Float] {
    /// The array's elements, or nil, for the duration of `body`.
    func withUnsafeBufferPointerOrNil<R>(_ body: (UnsafePointer<Float>?) throws -> R) rethrows -> R {
        switch self {
        case .some(let a): return try a.withUnsafeBufferPointer { try body($0.baseAddress) }
        case .none: return try body(nil)
        }
    }
}
