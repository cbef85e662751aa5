import Kernels
import Tensor

/// Glue from the rank-N tensor ops to the `Kernels` ops: arguments in the form each op wants,
/// results into the planned output buffer. No arithmetic of its own.
enum TensorOpKernels {
    static func run(_ node: Node, inputs: [Tensor], output: Tensor, pool: ComputePool) throws {
        let x = inputs.first
        switch node.op {
        case .unary(let u):
            try Ops.unary(u, x!, into: output, pool: pool)
        case .elementwise(let b):
            try Ops.binary(b, inputs[0], inputs[1], into: output, pool: pool)
        case .clip(let lo, let hi):
            try store(Ops.clip(x!, lower: lo, upper: hi, pool: pool), into: output)
        case .matMul:
            try Ops.matmul(inputs[0], inputs[1], into: output, pool: pool)
        case .gemm(let g):
            try store(Ops.gemm(inputs[0], inputs[1], c: inputs.count > 2 ? inputs[2] : nil, alpha: g.alpha, beta: g.beta,
                               transA: g.transA, transB: g.transB, pool: pool), into: output)
        case .attention(let scale):
            try Ops.attention(q: inputs[0], k: inputs[1], v: inputs[2], scale: scale, into: output, pool: pool)
        case .attentionFeatureMajor(let scale):
            try attentionFeatureMajor(q: inputs[0], k: inputs[1], v: inputs[2], scale: scale, output: output, pool: pool)
        case .attentionHeads(let heads, let scale):
            try Ops.attentionHeads(q: inputs[0], k: inputs[1], v: inputs[2], heads: heads, scale: scale, into: output, pool: pool)
        case .gatedGELU:
            try Ops.gatedGELU(x!, into: output, pool: pool)
        case .select:
            try store(Ops.select(inputs[0], inputs[1], inputs[2], pool: pool), into: output)
        case .expand:
            // x broadcast onto zeros of the output's shape: x + 0 is x.
            output.rawPointer.initializeMemory(as: UInt8.self, repeating: 0, count: output.byteCount)
            try Ops.binary(.add, x!, output, into: output, pool: pool)
        case .gather(let axis):
            try gather(x!, indices: inputs[1], axis: axis, node: node, output: output, pool: pool)
        case .softmax(let axis):
            try Ops.softmax(x!, axis: axis, into: output, pool: pool)
        case .normalization(let norm):
            let scale = inputs.count > 1 ? inputs[1].toArray() : nil
            let bias = inputs.count > 2 ? inputs[2].toArray() : nil
            let dims = x!.shape.dims
            switch norm {
            case .layer(let axis, let epsilon):
                let ax = axis < 0 ? axis + dims.count : axis
                try Ops.layerNorm(x!, normalizedCount: dims[ax...].reduce(1, *), gamma: scale, beta: bias, epsilon: epsilon,
                                  into: output, pool: pool)
            case .group(let groups, let epsilon):
                try Ops.groupNorm(x!, groups: groups, epsilon: epsilon, gamma: scale, beta: bias, into: output, pool: pool)
            case .instance(let epsilon):
                try Ops.groupNorm(x!, groups: dims[1], epsilon: epsilon, gamma: scale, beta: bias, into: output, pool: pool)
            case .channel(let epsilon):
                try Ops.channelNorm(x!, gamma: scale, beta: bias, epsilon: epsilon, into: output, pool: pool)
            case .groupChain(let groups, let epsilon, let activation, let residual):
                try Ops.groupNorm(x!, groups: groups, epsilon: epsilon, gamma: scale, beta: bias, activation: activation,
                                  residual: residual ? inputs[3] : nil, into: output, pool: pool)
            }
        case .concatenate(let axis):
            try store(Ops.concat(inputs, axis: axis, pool: pool), into: output)
        case .slice(let sl):
            guard let axes = sl.resolved(x!.shape.dims) else { throw GraphError(.invalidGraph, "slice \(node.name): malformed") }
            // An empty window writes nothing (and its bounds would not be a valid kernel range).
            if output.count == 0 { return }
            // Backward steps take the multi-axis kernel, which applies ONNX's clamping itself.
            if axes.contains(where: { $0.step < 0 }) {
                try store(Ops.slice(x!, starts: sl.starts, ends: sl.ends, axes: sl.axes, steps: sl.steps), into: output)
                return
            }
            var t = x!
            for a in axes where a.count != t.shape.dims[a.axis] || a.step != 1 {
                t = try Ops.slice(t, axis: a.axis, start: a.start, end: a.start + (a.count - 1) * a.step + 1, step: a.step, pool: pool)
            }
            try store(t, into: output)
        case .reshape:
            // Only when the memory plan could not make it a view (its input is a graph input or
            // constant, or its output is a graph output or sits in a concatenation).
            try store(x!, into: output)
        case .transpose(let perm):
            try store(Ops.transpose(x!, permutation: perm, pool: pool), into: output)
        case .reduce(let op, let axes, let keep):
            let all = axes.isEmpty ? Array(0..<x!.shape.rank) : axes
            try store(Ops.reduce(op, x!, axes: all, keepDimensions: keep, pool: pool), into: output)
        case .shapeOf(let start, let end):
            let dims = x!.shape.dims[Node.shapeRange(x!.shape.rank, start: start, end: end)]
            // Run-time values are f32 (the planned buffer); shapes are exact in f32 up to 2^24.
            for (i, d) in dims.enumerated() { output.floatPointer[i] = Float(d) }
        default:
            throw GraphError(.invalidGraph, "node \(node.name): \(node.op.name) is not a tensor op")
        }
    }

    /// `take(x, indices, axis)` as one slice per index joined along the axis (the elements
    /// come out in the output's order; the output shape only regroups the index dimensions).
    static func gather(_ x: Tensor, indices: Tensor, axis: Int, node: Node, output: Tensor, pool: ComputePool) throws {
        let rank = x.shape.rank
        let ax = axis < 0 ? axis + rank : axis
        let d = x.shape.dims[ax]
        let index = try indices.toInt64Array().map { i -> Int in
            let j = i < 0 ? Int(clamping: i) + d : Int(clamping: i)
            guard j >= 0, j < d else { throw GraphError(.invalidInput, "gather \(node.name): index \(i) out of range for extent \(d)") }
            return j
        }
        if output.count == 0 { return }
        let parts = try index.map { try Ops.slice(x, axis: ax, start: $0, end: $0 + 1, pool: pool) }
        try store(parts.count == 1 ? parts[0] : Ops.concat(parts, axis: ax, pool: pool), into: output)
    }

    /// Feature-major attention straight into the planned buffer: the heads are the leading
    /// extents flattened; a scale other than 1 goes into a scaled copy of the queries, since the
    /// kernel folds none itself.
    static func attentionFeatureMajor(q: Tensor, k: Tensor, v: Tensor, scale: Float, output: Tensor, pool: ComputePool) throws {
        let qd = q.shape.dims, r = qd.count
        let heads = qd.dropLast(2).reduce(1, *)
        let (d, t, s, dv) = (qd[r - 2], qd[r - 1], k.shape.dims[r - 1], v.shape.dims[r - 2])
        guard heads * t * dv > 0 else { return }
        var queries = q
        if scale != 1 {
            queries = Tensor(uninitialized: q.shape)
            let src = q.floatPointer, dst = queries.floatPointer
            pool.parallelFor(q.count, minimumPerPart: 16384) { range in for i in range { dst[i] = src[i] * scale } }
        }
        Ops.attentionFeatureMajor(q: queries.floatPointer, k: k.floatPointer, v: v.floatPointer, output: output.floatPointer,
                                  heads: heads, channels: d, queries: t, keys: s, valueChannels: dv, pool: pool)
    }

    /// Copies a kernel's result into the planned buffer (same element count, f32).
    static func store(_ result: Tensor, into output: Tensor) throws {
        guard result.count == output.count, result.dtype == .f32, output.dtype == .f32 else {
            throw GraphError(.invalidGraph, "kernel result \(result) does not fit the planned \(output)")
        }
        if result.rawPointer == output.rawPointer || result.count == 0 { return }
        output.rawPointer.copyMemory(from: result.rawPointer, byteCount: result.byteCount)
    }
}
