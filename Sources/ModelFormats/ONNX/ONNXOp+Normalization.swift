import Kernels
import Tensor

/// Softmax, the normalizations (instance, group, layer) and reductions on the engine's ops.
enum ONNXNormalization {
    /// Softmax over `axis` (opset ≥ 13), or over the flattened trailing axes from `axis` (older opsets).
    static func softmax(_ x: ONNXTensor, axis: Int, flattened: Bool, pool: ComputePool) throws -> ONNXTensor {
        let rank = x.shape.count
        guard let ax = Layout.axis(axis, rank: max(rank, 1)) else { throw ONNXRuntimeError("axis \(axis) out of range") }
        guard rank > 0 else { return ONNXTensor(shape: x.shape, floats: x.floats.map { _ in 1 }, type: x.elementType) }
        let shape = flattened ? [x.shape[..<ax].reduce(1, *), x.shape[ax...].reduce(1, *)] : x.shape
        let y = try x.floats.withTensorView(shape: shape) { try Ops.softmax($0, axis: flattened ? 1 : ax, pool: pool) }
        return ONNXTensor(shape: x.shape, floats: y.toArray(), type: x.elementType)
    }

    /// InstanceNormalization: per (image, channel) over the spatial axes, then `scale[c]`, `bias[c]`.
    static func instanceNorm(_ x: ONNXTensor, _ scale: ONNXTensor, _ bias: ONNXTensor, epsilon: Float, pool: ComputePool) throws -> ONNXTensor {
        var v = x.floats
        try instanceNormInPlace(&v, shape: x.shape, scale, bias, epsilon: epsilon, pool: pool)
        return ONNXTensor(shape: x.shape, floats: v, type: x.elementType)
    }

    /// InstanceNormalization of `v` (shaped `shape`) in its own buffer.
    static func instanceNormInPlace(_ v: inout [Float], shape: [Int], _ scale: ONNXTensor, _ bias: ONNXTensor, epsilon: Float,
                                    pool: ComputePool) throws {
        guard shape.count >= 2 else { throw ONNXRuntimeError("input \(shape) has no channel axis") }
        let c = shape[1]
        let s = scale.floats, b = bias.floats
        guard s.count == c, b.count == c else { throw ONNXRuntimeError("scale/bias of \(s.count)/\(b.count) for \(c) channels") }
        // The identity affine of the GroupNorm export pattern (scale 1, bias 0) is skipped.
        let identity = s.allSatisfy { $0 == 1 } && b.allSatisfy { $0 == 0 }
        try v.withMutableTensorView(shape: shape) { t in
            try Ops.groupNorm(t, groups: c, epsilon: epsilon, gamma: identity ? nil : s, beta: identity ? nil : b, into: t, pool: pool)
        }
    }

    /// GroupNormalization: statistics per (image, group); scale and bias per channel (opset 21)
    /// or per group (opset 18).
    static func groupNorm(_ x: ONNXTensor, _ scale: ONNXTensor, _ bias: ONNXTensor, groups: Int, epsilon: Float,
                          pool: ComputePool) throws -> ONNXTensor {
        guard x.shape.count >= 2, groups > 0 else { throw ONNXRuntimeError("input \(x.shape) has no channel axis") }
        let c = x.shape[1]
        guard c % groups == 0 else { throw ONNXRuntimeError("\(c) channels in \(groups) groups") }
        let s = scale.floats, b = bias.floats
        guard (s.count == c || s.count == groups) && b.count == s.count else {
            throw ONNXRuntimeError("scale/bias of \(s.count)/\(b.count) for \(c) channels in \(groups) groups")
        }
        let perGroup = c / groups
        let gamma = s.count == c ? s : (0..<c).map { s[$0 / perGroup] }
        let beta = b.count == c ? b : (0..<c).map { b[$0 / perGroup] }
        var v = x.floats
        try v.withMutableTensorView(shape: x.shape) { t in
            try Ops.groupNorm(t, groups: groups, epsilon: epsilon, gamma: gamma, beta: beta, into: t, pool: pool)
        }
        return ONNXTensor(shape: x.shape, floats: v, type: x.elementType)
    }

    /// LayerNormalization over the axes from `axis` on; scale and bias broadcast over those axes.
    static func layerNorm(_ x: ONNXTensor, _ scale: ONNXTensor, _ bias: ONNXTensor?, axis: Int, epsilon: Float,
                          pool: ComputePool) throws -> ONNXTensor {
        guard let ax = Layout.axis(axis, rank: x.shape.count) else { throw ONNXRuntimeError("axis \(axis) out of range") }
        let len = x.shape[ax...].reduce(1, *)
        let normShape = Array(x.shape[ax...])
        guard Layout.broadcast([scale.shape, normShape]) == normShape,
              bias.map({ Layout.broadcast([$0.shape, normShape]) == normShape }) ?? true else {
            throw ONNXRuntimeError("scale \(scale.shape) for axes \(normShape)")
        }
        let s = ONNXShapeOps.expandValues(scale.floats, from: scale.shape, to: normShape)
        let b = bias.map { ONNXShapeOps.expandValues($0.floats, from: $0.shape, to: normShape) }
        var v = x.floats
        guard len > 0 else { return x }
        try v.withMutableTensorView(shape: x.shape) { t in
            try Ops.layerNorm(t, normalizedCount: len, gamma: s, beta: b, epsilon: epsilon, into: t, pool: pool)
        }
        return ONNXTensor(shape: x.shape, floats: v, type: x.elementType)
    }

    /// ReduceMean / Sum / Max / Min / Prod over `axes` (all axes when nil).
    static func reduce(_ x: ONNXTensor, _ kind: ONNXOp.ReduceKind, axes: [Int]?, keepDims: Bool, pool: ComputePool) throws -> ONNXTensor {
        let rank = x.shape.count
        let ax = try (axes ?? Array(0..<rank)).map { a -> Int in
            guard let n = Layout.axis(a, rank: rank) else { throw ONNXRuntimeError("axis \(a) out of range") }
            return n
        }
        let op: ReduceOp
        switch kind {
        case .mean: op = .mean
        case .sum: op = .sum
        case .max: op = .max
        case .min: op = .min
        case .prod: op = .prod
        }
        let y = try x.withTensorView { try Ops.reduce(op, $0, axes: Array(Set(ax)), keepDimensions: keepDims, pool: pool) }
        return ONNXTensor(shape: y.shape.dims, floats: y.toArray(), type: x.elementType)
    }
}
