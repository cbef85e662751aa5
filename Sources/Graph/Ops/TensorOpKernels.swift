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
            try Ops.activation(x!, .clip(min: lo, max: hi), into: output, pool: pool)
        case .softmax(let axis):
            try store(Ops.softmax(x!, axis: axis, pool: pool), into: output)
        case .normalization(let norm):
            let scale = inputs.count > 1 ? inputs[1].toArray() : nil
            let bias = inputs.count > 2 ? inputs[2].toArray() : nil
            let dims = x!.shape.dims
            switch norm {
            case .layer(let axis, let epsilon):
                let ax = axis < 0 ? axis + dims.count : axis
                try store(Ops.layerNorm(x!, normalizedCount: dims[ax...].reduce(1, *), gamma: scale, beta: bias,
                                        epsilon: epsilon, pool: pool), into: output)
            case .group(let groups, let epsilon):
                try store(Ops.groupNorm(try channelsView(x!), groups: groups, gamma: scale, beta: bias, epsilon: epsilon,
                                        pool: pool), into: output)
            case .instance(let epsilon):
                try store(Ops.instanceNorm(try channelsView(x!), gamma: scale, beta: bias, epsilon: epsilon, pool: pool),
                          into: output)
            }
        case .concatenate(let axis):
            try store(Ops.concat(inputs, axis: axis, pool: pool), into: output)
        case .slice(let sl):
            guard let axes = sl.resolved(x!.shape.dims) else { throw GraphError(.invalidGraph, "slice \(node.name): malformed") }
            // An empty window writes nothing (and its bounds would not be a valid kernel range).
            if output.count == 0 { return }
            var t = x!
            for a in axes where a.count != t.shape.dims[a.axis] || a.step != 1 {
                guard a.step > 0 else {
                    throw GraphError(.invalidGraph, "slice \(node.name): negative steps are not supported")
                }
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
        case .matMul, .gemm, .attention, .select, .gather, .expand:
            throw GraphError(.invalidGraph, "\(node.op.name) \(node.name): no kernel in this build")
        default:
            throw GraphError(.invalidGraph, "node \(node.name): \(node.op.name) is not a tensor op")
        }
    }

    /// `[N, C, ...]` viewed as `[N, C, rest, 1]`, the NCHW form the channel normalizations read.
    static func channelsView(_ x: Tensor) throws -> Tensor {
        let d = x.shape.dims
        return try x.reshaped(Shape([d[0], d[1], d.dropFirst(2).reduce(1, *), 1]))
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
