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
                  case .float(let bv) = b.elements, ONNXLayout.broadcast([x.shape, b.shape]) == x.shape else { return false }
            values[s0] = nil
            var v = x.takeFloats()
            v.withUnsafeMutableBufferPointer { pa in
                bv.withUnsafeBufferPointer { pb in
                    Self.applyInPlace(kind, pa.baseAddress!, x.shape, pb.baseAddress!, b.shape)
                }
            }
            x.elements = .float(v)
        case .unary(let kind) where kind == .silu || kind == .sigmoid:
            values[s0] = nil
            var v = x.takeFloats()
            v.withUnsafeMutableBufferPointer { p in
                if !p.isEmpty { ONNXFastMath.map(p.baseAddress!, p.baseAddress!, p.count, kind == .silu ? .silu : .sigmoid) }
            }
            x.elements = .float(v)
        case .instanceNorm(let epsilon):
            guard step.inputs.count == 3, let ss = step.inputs[1], let bs = step.inputs[2], ss != s0, bs != s0,
                  let scale = values[ss], let bias = values[bs] else { return false }
            values[s0] = nil
            var v = x.takeFloats()
            do {
                try ONNXNormalization.instanceNormInPlace(&v, shape: x.shape, scale, bias, epsilon: epsilon)
            } catch {
                // Give the input back and let the normal path report the error with the node's name.
                x.elements = .float(v)
                values[s0] = x
                return false
            }
            x.elements = .float(v)
        case .softmax(let axis, false) where ONNXLayout.axis(axis, rank: x.shape.count) == x.shape.count - 1:
            values[s0] = nil
            var v = x.takeFloats()
            let len = x.shape[x.shape.count - 1]
            v.withUnsafeMutableBufferPointer { p in
                if !p.isEmpty, len > 0 { ONNXFastMath.softmaxRows(p.baseAddress!, p.baseAddress!, count: p.count, len: len) }
            }
            x.elements = .float(v)
        default:
            return false
        }
        values[step.outputs[0]] = x
        return true
    }

    /// `a (op)= b` with `b` broadcast to `a`'s shape.
    static func applyInPlace(_ kind: ONNXOp.BinaryKind, _ a: UnsafeMutablePointer<Float>, _ aShape: [Int],
                             _ b: UnsafePointer<Float>, _ bShape: [Int]) {
        // Same shapes (residual sums): contiguous unit-stride loops, split over the pool.
        if aShape == bShape {
            let count = aShape.reduce(1, *)
            let io = ONNXGemm.Operands(a: b, b: b, c: a)
            ONNXAccelerated.pool.parallelFor((count + 16383) / 16384, minimumPerPart: 4) { r in
                let lo = r.lowerBound * 16384, n = min(count, r.upperBound * 16384) - lo
                let pa = io.c + lo, pb = io.a + lo
                switch kind {
                case .add: for j in 0..<n { pa[j] += pb[j] }
                case .sub: for j in 0..<n { pa[j] -= pb[j] }
                case .mul: for j in 0..<n { pa[j] *= pb[j] }
                default: for j in 0..<n { pa[j] /= pb[j] }
                }
            }
            return
        }
        ONNXLayout.forEachRow(outShape: aShape, operandShapes: [bShape]) { o, offs, inner, st in
            let pa = a + o, ib = offs[0], sb = st[0]
            if sb == 0 {
                let bv = b[ib]
                switch kind {
                case .add: for j in 0..<inner { pa[j] += bv }
                case .sub: for j in 0..<inner { pa[j] -= bv }
                case .mul: for j in 0..<inner { pa[j] *= bv }
                default: for j in 0..<inner { pa[j] /= bv }
                }
            } else if sb == 1 {
                let pb = b + ib
                switch kind {
                case .add: for j in 0..<inner { pa[j] += pb[j] }
                case .sub: for j in 0..<inner { pa[j] -= pb[j] }
                case .mul: for j in 0..<inner { pa[j] *= pb[j] }
                default: for j in 0..<inner { pa[j] /= pb[j] }
                }
            } else {
                let pb = b + ib
                switch kind {
                case .add: for j in 0..<inner { pa[j] += pb[j * sb] }
                case .sub: for j in 0..<inner { pa[j] -= pb[j * sb] }
                case .mul: for j in 0..<inner { pa[j] *= pb[j * sb] }
                default: for j in 0..<inner { pa[j] /= pb[j * sb] }
                }
            }
        }
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
