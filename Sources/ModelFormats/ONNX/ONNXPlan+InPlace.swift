import Kernels
extension ONNXPlan {
    /// Runs an element-wise float step in the buffer of its first input when this step is that
    /// value's last reader and the output has its shape: no fresh allocation (and no page faults)
    /// for the many Add/Mul/SiLU steps of a UNet.
    /// - Returns: false when the step does not qualify; the caller then runs it normally.
    func runInPlace(_ step: Step, _ values: inout [ONNXTensor?]) -> Bool {
        if runInPlaceOnFirst(step, &values) { return true }
        // Add and Mul commute: the second input's buffer may be the one free to reuse.
        guard case .binary(let kind) = step.op, kind == .add || kind == .mul, step.inputs.count == 2 else { return false }
        var swapped = step
        swapped.inputs.reverse()
        return runInPlaceOnFirst(swapped, &values)
    }

    private func runInPlaceOnFirst(_ step: Step, _ values: inout [ONNXTensor?]) -> Bool {
        guard let s0 = step.inputs.first ?? nil, step.release.contains(s0), step.outputs.count == 1,
              let outShape = expectedShapes[step.outputs[0]], var x = values[s0], x.shape == outShape,
              case .float = x.elements else { return false }
        switch step.op {
        case .binary(let kind) where [.add, .sub, .mul, .div].contains(kind):
            guard step.inputs.count == 2, let s1 = step.inputs[1], s1 != s0, let b = values[s1],
                  case .float(let bv) = b.elements, Layout.broadcast([x.shape, b.shape]) == x.shape else { return false }
            values[s0] = nil
            var v = x.takeFloats()
            let op: BinaryOp = kind == .add ? .add : kind == .sub ? .sub : kind == .mul ? .mul : .div
            // The shapes were checked above: the views and the broadcast cannot fail.
            try? v.withMutableTensorView(shape: x.shape) { a in
                try bv.withTensorView(shape: b.shape) { bt in try Ops.binary(op, a, bt, into: a, pool: pool) }
            }
            x.elements = .float(v)
        case .unary(let kind) where kind == .silu || kind == .sigmoid:
            values[s0] = nil
            var v = x.takeFloats()
            try? v.withMutableTensorView(shape: x.shape) { t in try Ops.unary(kind == .silu ? .silu : .sigmoid, t, into: t, pool: pool) }
            x.elements = .float(v)
        case .instanceNorm(let epsilon):
            guard step.inputs.count == 3, let ss = step.inputs[1], let bs = step.inputs[2], ss != s0, bs != s0,
                  let scale = values[ss], let bias = values[bs] else { return false }
            values[s0] = nil
            var v = x.takeFloats()
            do {
                try ONNXNormalization.instanceNormInPlace(&v, shape: x.shape, scale, bias, epsilon: epsilon, pool: pool)
            } catch {
                // Give the input back and let the normal path report the error with the node's name.
                x.elements = .float(v)
                values[s0] = x
                return false
            }
            x.elements = .float(v)
        case .softmax(let axis, false) where Layout.axis(axis, rank: x.shape.count) == x.shape.count - 1:
            values[s0] = nil
            var v = x.takeFloats()
            try? v.withMutableTensorView(shape: x.shape) { t in try Ops.softmax(t, axis: -1, into: t, pool: pool) }
            x.elements = .float(v)
        default:
            return false
        }
        values[step.outputs[0]] = x
        return true
    }
}

extension ONNXTensor {
    /// Moves the float elements out, leaving this tensor empty, so the caller holds the only
    /// reference and may write without a copy.
    mutating func takeFloats() -> [Float] {
        guard case .float(let v) = elements else { return floats }
        elements = .float([])
        return v
    }
}
