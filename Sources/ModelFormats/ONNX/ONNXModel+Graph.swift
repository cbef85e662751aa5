import Graph
import Kernels
import Tensor

extension ONNXModel {
    /// Translates the model, specialized to `inputShapes`, to the engine's graph IR, which
    /// ``GraphExecutor`` runs (fusions, memory plan, the `Kernels` ops).
    ///
    /// Initializers become graph constants; shape subgraphs (Shape → Gather → Concat → Reshape
    /// and friends) are folded by ``Graph/foldConstants(inputShapes:pool:)`` as the translation
    /// goes, which is how a Reshape's target or a Slice's bounds become static: the importer
    /// itself computes nothing. The result is optimized (``Graph/optimize(inputShapes:)``).
    /// Graph inputs and outputs keep the model's order.
    /// - Throws: ``ModelFormatError`` `.unsupportedLayer` naming the node and op that has no
    ///   graph equivalent (or whose shape-deciding inputs are not constant), `.malformed` when
    ///   inputs do not fit.
    public func engineGraph(inputShapes: [String: [Int]]) throws -> Graph {
        var builder = ONNXGraphBuilder(model: self)
        return try builder.build(inputShapes: inputShapes)
    }
}

/// The translation state: graph so far, the value of each ONNX name, and the shapes known.
struct ONNXGraphBuilder {
    let model: ONNXModel
    var graph = Graph()
    var ids: [String: ValueID] = [:]
    var shapes: [ValueID: Shape] = [:]
    var inputShapes: [Shape] = []

    init(model: ONNXModel) { self.model = model }

    mutating func build(inputShapes given: [String: [Int]]) throws -> Graph {
        for (name, t) in model.initializers.sorted(by: { $0.key < $1.key }) {
            let v = graph.addConstant(named: name, Self.tensor(t))
            ids[name] = v
            shapes[v] = Shape(t.shape)
        }
        for info in model.inputs {
            guard let shape = given[info.name] else {
                throw ModelFormatError(.malformed, "onnx: no shape given for input '\(info.name)'")
            }
            if let declared = info.shape {
                guard declared.count == shape.count, zip(declared, shape).allSatisfy({ d, s in
                    if case .value(let v) = d { return Int(v) == s }
                    return true
                }) else {
                    throw ModelFormatError(.malformed, "onnx: input '\(info.name)' is declared \(declared), got \(shape)")
                }
            }
            guard shape.allSatisfy({ $0 >= 0 }), Graph.boundedCount(shape) != nil else {
                throw ModelFormatError(.malformed, "onnx: input '\(info.name)' shape \(shape) is out of range")
            }
            let v = graph.addValue(named: info.name)
            graph.inputs.append(v)
            ids[info.name] = v
            shapes[v] = Shape(shape)
            inputShapes.append(Shape(shape))
        }
        for name in given.keys where !model.inputs.contains(where: { $0.name == name }) {
            throw ModelFormatError(.malformed, "onnx: the model has no input '\(name)'")
        }
        for node in model.nodes {
            do {
                try translate(node)
            } catch let e as ModelFormatError {
                throw e
            } catch {
                let ins = node.inputs.map { n in ids[n].flatMap { shapes[$0] }.map(\.description) ?? "-" }.joined(separator: ", ")
                throw ModelFormatError(.malformed, "onnx: \(node.opType) '\(node.name)': \(error) (inputs \(ins))")
            }
        }
        for o in model.outputs {
            guard let v = ids[o.name] else { throw ModelFormatError(.malformed, "onnx: graph output '\(o.name)' is never produced") }
            graph.outputs.append(v)
        }
        try graph.foldConstants(inputShapes: inputShapes)
        // The fusions that need shapes (attention, norm chains, residual adds into
        // convolutions) can check them here, where the input shapes are known.
        graph.optimize(inputShapes: inputShapes)
        return graph
    }

    /// An initializer or folded value as a graph constant: floats as f32, integers as i64,
    /// booleans as f32 0/1 (run-time values are f32).
    static func tensor(_ t: ONNXTensor) -> Tensor {
        switch t.elements {
        case .int64(let v): return Tensor(shape: Shape(t.shape), int64s: v)
        default: return Tensor(shape: Shape(t.shape), values: t.floats)
        }
    }

    // MARK: Emitting

    mutating func emit(_ op: Op, _ inputs: [ValueID], name: String) throws -> ValueID {
        let node = Node(name: name, op: op, inputs: inputs, output: graph.addValue(named: name))
        let ins = try inputs.map { v -> Shape in
            guard let s = shapes[v] else { throw GraphError(.invalidGraph, "value \(graph.valueNames[v.index]) has no shape") }
            return s
        }
        let out = try node.outputShape(ins)
        guard Graph.boundedCount(out.dims) != nil else { throw GraphError(.shapeMismatch, "output shape \(out) is out of range") }
        graph.nodes.append(node)
        shapes[node.output] = out
        return node.output
    }

    /// The contents of a value that decides a shape: a constant, possibly after folding what
    /// the translation emitted so far.
    mutating func constant(_ v: ValueID) throws -> Tensor? {
        if let t = graph.constants[v] { return t }
        try graph.foldConstants(inputShapes: inputShapes, dropUnread: false)
        return graph.constants[v]
    }
}

extension ONNXGraphBuilder {
    mutating func translate(_ node: ONNXModel.ImportedNode) throws {
        func unsupported(_ why: String) -> ModelFormatError {
            ModelFormatError(.unsupportedLayer, "onnx: \(node.opType) '\(node.name)': \(why) in the engine graph")
        }
        func input(_ i: Int) throws -> ValueID {
            guard i < node.inputs.count, !node.inputs[i].isEmpty, let v = ids[node.inputs[i]] else {
                throw ModelFormatError(.malformed, "onnx: \(node.opType) '\(node.name)': input \(i) is missing")
            }
            return v
        }
        func optional(_ i: Int) -> ValueID? {
            i < node.inputs.count && !node.inputs[i].isEmpty ? ids[node.inputs[i]] : nil
        }
        func shape(_ v: ValueID) -> [Int] { shapes[v]?.dims ?? [] }
        /// A shape-deciding input's integers (it must be constant).
        func ints(_ i: Int) throws -> [Int]? {
            guard let v = optional(i) else { return nil }
            guard let t = try constant(v) else {
                throw unsupported("input \(i) ('\(node.inputs[i])') decides the output shape but is not a constant")
            }
            return t.toInt64Array().map { Int(clamping: $0) }
        }
        func floats(_ i: Int) throws -> [Float]? {
            guard let v = optional(i) else { return nil }
            guard let t = try constant(v) else { throw unsupported("input \(i) ('\(node.inputs[i])') must be a constant") }
            return t.toArray()
        }
        let name = node.name
        var out: ValueID
        switch node.op {
        case .unary(let k):
            let map: [ONNXOp.UnaryKind: UnaryOp] = [
                .sigmoid: .sigmoid, .tanh: .tanh, .erf: .erf, .sin: .sin, .cos: .cos, .exp: .exp, .log: .log, .sqrt: .sqrt,
                .reciprocal: .reciprocal, .neg: .neg, .abs: .abs, .relu: .relu, .floor: .floor, .ceil: .ceil, .gelu: .gelu,
                .softplus: .softplus, .silu: .silu, .geluTanh: .geluTanh,
            ]
            if k == .identity { out = try input(0); break }
            if k == .not {
                // Booleans run as f32 0/1: Not is `x == 0`.
                out = try emit(.elementwise(.equal), [try input(0), scalar(0, name: name + "/zero")], name: name)
                break
            }
            guard let u = map[k] else { throw unsupported("\(k) has no kernel") }
            out = try emit(.unary(u), [try input(0)], name: name)
        case .binary(let k):
            let map: [ONNXOp.BinaryKind: BinaryOp] = [
                .add: .add, .sub: .sub, .mul: .mul, .div: .div, .pow: .pow, .max: .max, .min: .min, .mod: .mod, .fmod: .fmod,
                .equal: .equal, .less: .less, .greater: .greater, .lessOrEqual: .lessOrEqual, .greaterOrEqual: .greaterOrEqual,
            ]
            // Booleans run as f32 0/1: And is the product, Or the maximum, Xor `|a - b|`.
            switch k {
            case .and: out = try emit(.elementwise(.mul), [try input(0), try input(1)], name: name)
            case .or: out = try emit(.elementwise(.max), [try input(0), try input(1)], name: name)
            case .xor:
                let d = try emit(.elementwise(.sub), [try input(0), try input(1)], name: name + "/difference")
                out = try emit(.unary(.abs), [d], name: name)
            default:
                guard let b = map[k] else { throw unsupported("\(k) has no kernel") }
                out = try emit(.elementwise(b), [try input(0), try input(1)], name: name)
            }
        case .clip:
            let lo = try floats(1)?.first ?? -.infinity, hi = try floats(2)?.first ?? .infinity
            out = try emit(.clip(min: lo, max: hi), [try input(0)], name: name)
        case .whereSelect:
            out = try emit(.select, [try input(0), try input(1), try input(2)], name: name)
        case .conv(let a):
            out = try convolution(a, node: node, x: try input(0), w: try input(1), b: optional(2), unsupported: unsupported)
        case .convTranspose(let a):
            out = try deconvolution(a, node: node, x: try input(0), w: try input(1), b: optional(2), unsupported: unsupported)
        case .gemm(let alpha, let beta, let ta, let tb):
            var ins = [try input(0), try input(1)]
            if let c = optional(2) { ins.append(c) }
            out = try emit(.gemm(Gemm(alpha: alpha, beta: beta, transA: ta, transB: tb)), ins, name: name)
        case .matMul:
            out = try emit(.matMul, [try input(0), try input(1)], name: name)
        case .einsum(let eq):
            out = try einsum(eq, node: node, operands: try node.inputs.indices.map(input), unsupported: unsupported)
        case .softmax(let axis, let flattened):
            let x = try input(0)
            let dims = shape(x)
            guard let ax = Self.axis(axis, rank: dims.count) else { throw unsupported("axis \(axis)") }
            if flattened && ax != dims.count - 1 {
                let rows = try emit(.reshape([dims[..<ax].reduce(1, *), dims[ax...].reduce(1, *)]), [x], name: name + "/rows")
                let s = try emit(.softmax(axis: -1), [rows], name: name + "/softmax")
                out = try emit(.reshape(dims), [s], name: name)
            } else {
                out = try emit(.softmax(axis: ax), [x], name: name)
            }
        case .instanceNorm(let eps):
            out = try emit(.normalization(.instance(epsilon: eps)), [try input(0), try input(1), try input(2)], name: name)
        case .groupNorm(let groups, let eps):
            let x = try input(0)
            let c = shape(x).count > 1 ? shape(x)[1] : 0
            // Opset 18 gives one scale and bias per group; the graph op takes one per channel.
            var affine: [ValueID] = []
            for i in 1...2 {
                let v = try input(i)
                if shape(v) == [groups], groups != c, groups > 0, c % groups == 0 {
                    let perGroup = try emit(.reshape([groups, 1]), [v], name: name + "/affine\(i)")
                    let expanded = try emit(.expand([groups, c / groups]), [perGroup], name: name + "/expand\(i)")
                    affine.append(try emit(.reshape([c]), [expanded], name: name + "/channels\(i)"))
                } else {
                    affine.append(v)
                }
            }
            out = try emit(.normalization(.group(groups: groups, epsilon: eps)), [x] + affine, name: name)
        case .layerNorm(let axis, let eps):
            var ins = [try input(0), try input(1)]
            if let b = optional(2) { ins.append(b) }
            out = try emit(.normalization(.layer(axis: axis, epsilon: eps)), ins, name: name)
        case .resize(let r):
            let scales = try floats(r.scalesInput).flatMap { $0.isEmpty ? nil : $0 }
            let sizes = r.scalesInput == 2 ? try ints(3) : nil
            out = try resize(r, node: node, x: try input(0), scales: scales, sizes: sizes, unsupported: unsupported)
        case .pool(let p):
            out = try pool(p, node: node, x: try input(0), unsupported: unsupported)
        case .reshape(let allowZero):
            let target = try ints(1) ?? []
            if allowZero && target.contains(0) { throw unsupported("allowzero with a 0 extent") }
            out = try emit(.reshape(target), [try input(0)], name: name)
        case .transpose(let perm):
            let x = try input(0)
            out = try emit(.transpose(perm ?? Array((0..<shape(x).count).reversed())), [x], name: name)
        case .split(let axis, let sizes, let count):
            let x = try input(0)
            let dims = shape(x)
            guard let ax = Self.axis(axis, rank: dims.count) else { throw unsupported("axis \(axis)") }
            var parts = try sizes ?? ints(1)
            if parts == nil {
                let n = max(count, node.outputs.count), d = dims[ax]
                let part = n > 0 ? (d + n - 1) / n : 0
                parts = (0..<n).map { min(part, max(0, d - $0 * part)) }
            }
            guard let parts, parts.count == node.outputs.count, parts.allSatisfy({ $0 >= 0 }), parts.reduce(0, +) == dims[ax] else {
                throw ModelFormatError(.malformed, "onnx: Split '\(name)': sizes \(parts ?? []) do not split \(dims[ax])")
            }
            var start = 0
            for (k, (o, size)) in zip(node.outputs, parts).enumerated() {
                let v = try emit(.slice(Slice(starts: [start], ends: [start + size], axes: [ax])), [x], name: "\(name)/\(k)")
                if !o.isEmpty { ids[o] = v }
                start += size
            }
            return
        case .concat(let axis):
            out = try emit(.concatenate(axis: axis), try node.inputs.indices.map(input), name: name)
        case .slice(let attributes):
            let x = try input(0)
            let starts = try attributes?.starts ?? ints(1) ?? [], ends = try attributes?.ends ?? ints(2) ?? []
            let axes = try attributes?.axes ?? ints(3), steps = try attributes == nil ? ints(4) : nil
            out = try emit(.slice(Slice(starts: starts, ends: ends, axes: axes, steps: steps)), [x], name: name)
        case .gather(let axis):
            out = try emit(.gather(axis: axis), [try input(0), try input(1)], name: name)
        case .unsqueeze(let axesAttribute):
            let x = try input(0)
            let axes = try axesAttribute ?? ints(1) ?? []
            let rank = shape(x).count + axes.count
            let set = Set(axes.map { $0 < 0 ? $0 + rank : $0 })
            guard set.count == axes.count, set.allSatisfy({ $0 >= 0 && $0 < rank }) else { throw unsupported("axes \(axes)") }
            var rest = shape(x).makeIterator()
            out = try emit(.reshape((0..<rank).map { set.contains($0) ? 1 : rest.next()! }), [x], name: name)
        case .squeeze(let axesAttribute):
            let x = try input(0)
            let dims = shape(x)
            let axes = try axesAttribute ?? ints(1)
            let set = Set((axes ?? dims.indices.filter { dims[$0] == 1 }).map { $0 < 0 ? $0 + dims.count : $0 })
            guard set.allSatisfy({ $0 >= 0 && $0 < dims.count && dims[$0] == 1 }) else { throw unsupported("axes \(axes ?? [])") }
            out = try emit(.reshape(dims.indices.filter { !set.contains($0) }.map { dims[$0] }), [x], name: name)
        case .flatten(let axis):
            let x = try input(0)
            let dims = shape(x)
            let ax = axis < 0 ? axis + dims.count : axis
            guard ax >= 0, ax <= dims.count else { throw unsupported("axis \(axis)") }
            out = try emit(.reshape([dims[..<ax].reduce(1, *), dims[ax...].reduce(1, *)]), [x], name: name)
        case .expand:
            out = try emit(.expand(try ints(1) ?? []), [try input(0)], name: name)
        case .constant(let t):
            out = graph.addConstant(named: name, Self.tensor(t))
            shapes[out] = Shape(t.shape)
        case .constantOfShape(let value):
            let dims = try ints(0) ?? []
            guard dims.allSatisfy({ $0 >= 0 }), let n = Graph.boundedCount(dims) else { throw unsupported("extents \(dims)") }
            let v = value ?? ONNXTensor(shape: [1], floats: [0])
            let t: ONNXTensor
            switch v.elements {
            case .int64(let i): t = ONNXTensor(shape: dims, ints: [Int64](repeating: i.first ?? 0, count: n))
            default: t = ONNXTensor(shape: dims, floats: [Float](repeating: v.floats.first ?? 0, count: n))
            }
            out = graph.addConstant(named: name, Self.tensor(t))
            shapes[out] = Shape(dims)
        case .shape(let start, let end):
            out = try emit(.shapeOf(start: start, end: end), [try input(0)], name: name)
        case .cast(let type):
            let x = try input(0)
            if let t = try constant(x) {
                out = graph.addConstant(named: name, type.isFloatingPoint ? t.converted(to: .f32) : t.converted(to: .i64))
                shapes[out] = t.shape
            } else if type == .float || type == .double {
                out = x
            } else if type == .float16 || type == .bfloat16 {
                // Values stay f32, rounded to what the narrower type can hold.
                out = try emit(.unary(type == .float16 ? .roundToFloat16 : .roundToBFloat16), [x], name: name)
            } else if type == .bool {
                // `x != 0` as f32 0/1.
                let zero = scalar(0, name: name + "/zero")
                let isZero = try emit(.elementwise(.equal), [x, zero], name: name + "/is_zero")
                out = try emit(.elementwise(.equal), [isZero, zero], name: name)
            } else if [.int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64].contains(type) {
                // To an integer: truncation toward zero (run-time values stay f32, exact below 2^24).
                let zero = scalar(0, name: name + "/zero")
                let negative = try emit(.elementwise(.less), [x, zero], name: name + "/negative")
                let up = try emit(.unary(.ceil), [x], name: name + "/ceil")
                let down = try emit(.unary(.floor), [x], name: name + "/floor")
                out = try emit(.select, [negative, up, down], name: name)
            } else {
                throw unsupported("a run-time cast to \(type)")
            }
        case .range:
            // Bounded first, so that the element count below cannot overflow.
            guard let s = try ints(0)?.first, let l = try ints(1)?.first, let d = try ints(2)?.first, d != 0,
                  [s, l, d].allSatisfy({ $0.magnitude <= 1 << 40 }) else {
                throw unsupported("Range needs constant integer start, limit and delta within ±2^40")
            }
            let n = max(0, (l - s + d + (d > 0 ? -1 : 1)) / d)
            guard n <= Graph.maximumElements else { throw unsupported("\(n) elements") }
            out = graph.addConstant(named: name, Tensor(shape: [n], int64s: (0..<n).map { Int64(s + $0 * d) }))
            shapes[out] = [n]
        case .reduce(let kind, let axesAttribute, let keep, let noop):
            let x = try input(0)
            let axes = try axesAttribute ?? ints(1) ?? []
            if axes.isEmpty && noop { out = x; break }
            let map: [ONNXOp.ReduceKind: ReduceOp] = [.mean: .mean, .sum: .sum, .max: .max, .min: .min, .prod: .prod]
            guard let r = map[kind] else { throw unsupported("Reduce\(kind) has no kernel") }
            out = try emit(.reduce(r, axes: axes, keepDimensions: keep), [x], name: name)
        }
        if let o = node.outputs.first, !o.isEmpty { ids[o] = out }
    }

    /// A one-element f32 constant (broadcast by the element-wise ops).
    mutating func scalar(_ value: Float, name: String) -> ValueID {
        let v = graph.addConstant(named: name, Tensor(shape: [1], values: [value]))
        shapes[v] = [1]
        return v
    }

    static func axis(_ a: Int, rank: Int) -> Int? {
        let r = a < 0 ? a + rank : a
        return r >= 0 && r < rank ? r : nil
    }
}
