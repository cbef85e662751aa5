import Kernels
/// A value's type and extents at plan time, and its contents when they are known (folded).
struct ValueMeta: Sendable {
    var shape: [Int]
    var type: ONNX.DataType
    var constant: ONNXTensor?

    init(shape: [Int], type: ONNX.DataType, constant: ONNXTensor? = nil) {
        self.shape = shape
        self.type = type
        self.constant = constant
    }

    init(_ t: ONNXTensor) {
        self.init(shape: t.shape, type: t.elementType, constant: t)
    }

    /// A zero tensor standing in for this value when an op's shape is found by running it.
    var placeholder: ONNXTensor {
        if let constant { return constant }
        let n = shape.reduce(1, *)
        switch type {
        case .bool: return ONNXTensor(shape: shape, bools: [Bool](repeating: false, count: n))
        case let t where t.isFloatingPoint: return ONNXTensor(shape: shape, floats: [Float](repeating: 0, count: n), type: t)
        default: return ONNXTensor(shape: shape, ints: [Int64](repeating: 0, count: n), type: type)
        }
    }
}

extension ONNXOp {
    /// Output types and shapes from input types and shapes (and the values of shape-defining inputs).
    func inferOutputs(_ ins: [ValueMeta?], outputCount: Int, pool: ComputePool) throws -> [ValueMeta] {
        func meta(_ i: Int) throws -> ValueMeta {
            guard i < ins.count, let m = ins[i] else { throw ONNXRuntimeError("input \(i) is missing") }
            return m
        }
        func same(_ type: ONNX.DataType? = nil) throws -> [ValueMeta] {
            let m = try meta(0)
            return [ValueMeta(shape: m.shape, type: type ?? m.type)]
        }
        switch self {
        case .unary(let k): return try same(k == .not ? .bool : nil)
        case .binary(let k):
            let a = try meta(0), b = try meta(1)
            guard let s = Layout.broadcast([a.shape, b.shape]) else { throw ONNXRuntimeError("shapes \(a.shape) and \(b.shape) do not broadcast") }
            return [ValueMeta(shape: s, type: k.isComparison || k.isLogical ? .bool : a.type)]
        case .clip, .softmax, .instanceNorm, .groupNorm, .layerNorm: return try same()
        case .cast(let t): return try same(t)
        case .whereSelect:
            let c = try meta(0), x = try meta(1), y = try meta(2)
            guard let s = Layout.broadcast([c.shape, x.shape, y.shape]) else { throw ONNXRuntimeError("Where shapes do not broadcast") }
            return [ValueMeta(shape: s, type: x.type)]
        case .conv(let a):
            let x = try meta(0), w = try meta(1)
            return [ValueMeta(shape: try ONNXConv.convShape(x.shape, w.shape, a), type: x.type)]
        case .convTranspose(let a):
            let x = try meta(0), w = try meta(1)
            return [ValueMeta(shape: try ONNXConv.convTransposeShape(x.shape, w.shape, a), type: x.type)]
        case .pool(let p):
            let x = try meta(0)
            return [ValueMeta(shape: try ONNXConv.poolShape(x.shape, p), type: x.type)]
        case .gemm(_, _, let ta, let tb):
            let a = try meta(0), b = try meta(1)
            guard a.shape.count == 2, b.shape.count == 2 else { throw ONNXRuntimeError("Gemm needs matrices") }
            return [ValueMeta(shape: [ta ? a.shape[1] : a.shape[0], tb ? b.shape[0] : b.shape[1]], type: a.type)]
        case .matMul:
            let a = try meta(0), b = try meta(1)
            guard !a.shape.isEmpty, !b.shape.isEmpty else { throw ONNXRuntimeError("MatMul of a scalar") }
            let aS = a.shape.count == 1 ? [1, a.shape[0]] : a.shape, bS = b.shape.count == 1 ? [b.shape[0], 1] : b.shape
            guard aS.last == bS[bS.count - 2], let batch = Layout.broadcast([Array(aS.dropLast(2)), Array(bS.dropLast(2))]) else {
                throw ONNXRuntimeError("shapes \(a.shape) × \(b.shape) do not multiply")
            }
            var s = batch + [aS[aS.count - 2], bS[bS.count - 1]]
            if a.shape.count == 1 { s.remove(at: s.count - 2) }
            if b.shape.count == 1 { s.removeLast() }
            return [ValueMeta(shape: s, type: a.type)]
        case .einsum(let eq):
            let ms = try ins.map { try $0.orThrow("Einsum operand missing") }
            let shape = try eq.outputShape(ms.map(\.shape))
            return [ValueMeta(shape: shape, type: ms[0].type)]
        case .resize(let r):
            let x = try meta(0)
            let scales = ins.count > r.scalesInput ? ins[r.scalesInput]?.constant?.floats : nil
            let sizes = r.scalesInput == 2 && ins.count > 3 ? ins[3]?.constant?.ints.map { Int($0) } : nil
            let s = try ONNXResize.outputShape(x.shape, scales: (scales?.isEmpty ?? true) ? nil : scales, sizes: sizes)
            return [ValueMeta(shape: s, type: x.type)]
        default:
            // Data movement and shape ops: run them on zero stand-ins; cheap, and the shapes then
            // follow from the very code that executes them.
            return try execute(ins.map { $0?.placeholder }, outputCount: outputCount, pool: pool).map {
                ValueMeta(shape: $0.shape, type: $0.elementType)
            }
        }
    }
}
