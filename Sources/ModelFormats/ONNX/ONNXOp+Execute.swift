import Kernels
extension ONNXOp {
    /// Runs the op. `inputs[i]` is nil for an omitted optional input.
    /// - Parameters:
    ///   - outputCount: how many outputs the node declares.
    ///   - pool: the threads the kernels run on.
    /// - Throws: ``ONNXRuntimeError`` when the inputs do not fit the op.
    func execute(_ inputs: [ONNXTensor?], outputCount: Int, pool: ComputePool) throws -> [ONNXTensor] {
        func input(_ i: Int) throws -> ONNXTensor {
            guard i < inputs.count, let t = inputs[i] else { throw ONNXRuntimeError("input \(i) is missing") }
            return t
        }
        func optional(_ i: Int) -> ONNXTensor? { i < inputs.count ? inputs[i] : nil }
        func intList(_ i: Int) -> [Int]? { optional(i).map { $0.ints.map { Int($0) } } }

        switch self {
        case .unary(let k): return [try ONNXElementwise.unary(k, try input(0), pool: pool)]
        case .binary(let k): return [try ONNXElementwise.binary(k, try input(0), try input(1), pool: pool)]
        case .clip: return [try ONNXElementwise.clip(try input(0), optional(1), optional(2), pool: pool)]
        case .whereSelect: return [try ONNXElementwise.select(try input(0), try input(1), try input(2), pool: pool)]
        case .conv(let a): return [try ONNXConv.conv(try input(0), try input(1), optional(2), a, pool: pool)]
        case .convTranspose(let a): return [try ONNXConv.convTranspose(try input(0), try input(1), optional(2), a, pool: pool)]
        case .gemm(let alpha, let beta, let ta, let tb):
            return [try ONNXMatrix.gemm(try input(0), try input(1), optional(2), alpha: alpha, beta: beta, transA: ta, transB: tb, pool: pool)]
        case .matMul: return [try ONNXMatrix.matMul(try input(0), try input(1), pool: pool)]
        case .einsum(let eq): return [try eq.evaluate(try inputs.map { try $0.orThrow("Einsum operand missing") }, pool: pool)]
        case .softmax(let axis, let flat):
            return [try ONNXNormalization.softmax(try input(0), axis: axis, flattened: flat, pool: pool)]
        case .instanceNorm(let eps):
            return [try ONNXNormalization.instanceNorm(try input(0), try input(1), try input(2), epsilon: eps, pool: pool)]
        case .groupNorm(let groups, let eps):
            return [try ONNXNormalization.groupNorm(try input(0), try input(1), try input(2), groups: groups, epsilon: eps, pool: pool)]
        case .layerNorm(let axis, let eps):
            return [try ONNXNormalization.layerNorm(try input(0), try input(1), optional(2), axis: axis, epsilon: eps, pool: pool)]
        case .resize(let r):
            let scales = optional(r.scalesInput).map(\.floats).flatMap { $0.isEmpty ? nil : $0 }
            let sizes = r.scalesInput == 2 ? intList(3) : nil
            return [try ONNXResize.resize(try input(0), scales: scales, sizes: sizes, r, pool: pool)]
        case .pool(let p): return [try ONNXConv.pool(try input(0), p, pool: pool)]
        case .reshape(let allowZero):
            let x = try input(0)
            return [x.reshaped(try ONNXShapeOps.reshapeTarget(x.shape, try input(1).ints, allowZero: allowZero))]
        case .transpose(let perm): return [try ONNXShapeOps.transpose(try input(0), perm: perm)]
        case .split(let axis, let sizes, let outputs):
            let x = try input(0)
            guard let ax = Layout.axis(axis, rank: x.shape.count) else { throw ONNXRuntimeError("axis \(axis) out of range") }
            var s = sizes ?? intList(1)
            if s == nil {
                // Equal parts; the last one smaller when the extent does not divide (opset 18).
                let n = max(outputs, outputCount), d = x.shape[ax]
                let part = (d + n - 1) / n
                s = (0..<n).map { min(part, max(0, d - $0 * part)) }
            }
            return try ONNXShapeOps.split(x, axis: axis, sizes: s!)
        case .concat(let axis): return [try ONNXShapeOps.concat(try inputs.map { try $0.orThrow("Concat input missing") }, axis: axis)]
        case .slice(let attributes):
            let x = try input(0)
            if let attributes {
                return [try ONNXShapeOps.slice(x, starts: attributes.starts, ends: attributes.ends, axes: attributes.axes, steps: nil)]
            }
            return [try ONNXShapeOps.slice(x, starts: try intList(1).orThrow("starts missing"), ends: try intList(2).orThrow("ends missing"),
                                           axes: intList(3), steps: intList(4))]
        case .gather(let axis): return [try ONNXShapeOps.gather(try input(0), try input(1), axis: axis)]
        case .unsqueeze(let axes):
            let x = try input(0)
            return [x.reshaped(try ONNXShapeOps.unsqueezeShape(x.shape, axes: try (axes ?? intList(1)).orThrow("axes missing")))]
        case .squeeze(let axes):
            let x = try input(0)
            return [x.reshaped(try ONNXShapeOps.squeezeShape(x.shape, axes: axes ?? intList(1)))]
        case .expand:
            let target = try input(1).ints.map { Int($0) }
            guard target.allSatisfy({ $0 >= 0 && $0 <= ONNXPlan.maximumElements }),
                  target.reduce(1, { min($0 * $1, ONNXPlan.maximumElements + 1) }) <= ONNXPlan.maximumElements else {
                throw ONNXRuntimeError("extents \(target) out of range")
            }
            return [try ONNXShapeOps.expand(try input(0), to: target)]
        case .constant(let t): return [t]
        case .constantOfShape(let value):
            let shape = try input(0).ints.map { Int($0) }
            guard shape.allSatisfy({ $0 >= 0 && $0 <= ONNXPlan.maximumElements }),
                  shape.reduce(1, { min($0 * $1, ONNXPlan.maximumElements + 1) }) <= ONNXPlan.maximumElements else {
                throw ONNXRuntimeError("extents \(shape) out of range")
            }
            let v = value ?? ONNXTensor(shape: [1], floats: [0])
            let n = shape.reduce(1, *)
            switch v.elements {
            case .float(let f): return [ONNXTensor(shape: shape, floats: [Float](repeating: f.first ?? 0, count: n), type: v.elementType)]
            case .int64(let i): return [ONNXTensor(shape: shape, ints: [Int64](repeating: i.first ?? 0, count: n), type: v.elementType)]
            case .bool(let b): return [ONNXTensor(shape: shape, bools: [Bool](repeating: b.first ?? false, count: n))]
            }
        case .shape(let start, let end):
            let s = try input(0).shape
            let r = s.count
            let lo = min(max(start < 0 ? start + r : start, 0), r)
            let hi = min(max((end ?? r) < 0 ? (end ?? r) + r : (end ?? r), 0), r)
            let dims = lo < hi ? Array(s[lo..<hi]) : []
            return [ONNXTensor(shape: [dims.count], ints: dims.map { Int64($0) })]
        case .cast(let type): return [ONNXElementwise.cast(try input(0), to: type)]
        case .range: return [try ONNXShapeOps.range(try input(0), try input(1), try input(2))]
        case .flatten(let axis):
            let x = try input(0)
            let r = x.shape.count
            let ax = axis < 0 ? axis + r : axis
            guard ax >= 0 && ax <= r else { throw ONNXRuntimeError("axis \(axis) out of range") }
            return [x.reshaped([x.shape[..<ax].reduce(1, *), x.shape[ax...].reduce(1, *)])]
        case .reduce(let kind, let axes, let keepDims, let noop):
            let x = try input(0)
            let ax = axes ?? intList(1)
            if (ax == nil || ax!.isEmpty) && noop { return [x] }
            return [try ONNXNormalization.reduce(x, kind, axes: (ax?.isEmpty ?? true) ? nil : ax, keepDims: keepDims, pool: pool)]
        }
    }

    /// Inputs whose values (not only shapes) decide the output shape; shape inference needs them constant.
    var shapeDefiningInputs: [Int] {
        switch self {
        case .reshape, .expand: return [1]
        case .slice(let a): return a == nil ? [1, 2, 3, 4] : []
        case .split(_, let sizes, _): return sizes == nil ? [1] : []
        case .unsqueeze(let axes), .squeeze(let axes): return axes == nil ? [1] : []
        case .resize(let r): return r.scalesInput == 2 ? [2, 3] : [1]
        case .constantOfShape: return [0]
        case .range: return [0, 1, 2]
        case .reduce(_, let axes, _, _): return axes == nil ? [1] : []
        default: return []
        }
    }
}

extension Optional {
    func orThrow(_ message: String) throws -> Wrapped {
        guard let self else { throw ONNXRuntimeError(message) }
        return self
    }
}
