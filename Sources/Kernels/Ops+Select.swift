import Tensor

extension Ops {
    /// `condition ? a : b` per element (non-zero is true) with three-way NumPy broadcasting
    /// (ONNX Where, `torch.where`).
    /// - Throws: ``KernelError`` when the shapes do not broadcast.
    public static func select(_ condition: Tensor, _ a: Tensor, _ b: Tensor, pool: ComputePool) throws -> Tensor {
        try checkF32(condition, a, b, op: "select")
        guard let dims = Layout.broadcast([condition.shape.dims, a.shape.dims, b.shape.dims]) else {
            throw KernelError(.shapeMismatch, "select: shapes \(condition.shape), \(a.shape), \(b.shape) do not broadcast")
        }
        let out = Tensor(uninitialized: Shape(dims))
        let pc = condition.floatPointer, pa = a.floatPointer, pb = b.floatPointer, po = out.floatPointer
        Layout.forEachRow(outShape: dims, operandShapes: [condition.shape.dims, a.shape.dims, b.shape.dims]) { o, offs, inner, st in
            var ic = offs[0], ia = offs[1], ib = offs[2]
            for j in 0..<inner {
                po[o + j] = pc[ic] != 0 ? pa[ia] : pb[ib]
                ic += st[0]
                ia += st[1]
                ib += st[2]
            }
        }
        return out
    }

    /// Clamps every element to `[lower, upper]` (ONNX Clip; NaN stays NaN).
    public static func clip(_ x: Tensor, lower: Float = -.infinity, upper: Float = .infinity, pool: ComputePool) throws -> Tensor {
        try checkF32(x, op: "clip")
        let out = Tensor(uninitialized: x.shape)
        let src = x.floatPointer, dst = out.floatPointer
        pool.parallelFor(x.count, minimumPerPart: 16384) { r in
            for i in r { dst[i] = src[i].isNaN ? src[i] : Swift.min(Swift.max(src[i], lower), upper) }
        }
        return out
    }
}

extension Reference {
    /// `select` by definition: each output index mapped back to each operand.
    public static func select(_ condition: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let shape = try broadcastShape(try broadcastShape(condition.shape, a.shape, op: "select"), b.shape, op: "select")
        let ones = Tensor(shape: shape, repeating: 1)
        let c = try binary(.mul, ones, condition).toArray(), x = try binary(.mul, ones, a).toArray()
        let y = try binary(.mul, ones, b).toArray()
        return Tensor(shape: shape, values: c.indices.map { c[$0] != 0 ? x[$0] : y[$0] })
    }

    /// `clip` by definition.
    public static func clip(_ x: Tensor, lower: Float, upper: Float) -> Tensor {
        Tensor(shape: x.shape, values: x.toArray().map { $0.isNaN ? $0 : Swift.min(Swift.max($0, lower), upper) })
    }
}
