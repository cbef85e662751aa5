import Kernels
/// Data-movement operators: they rearrange elements of any type without arithmetic.
enum ONNXShapeOps {
    /// Applies a type-independent rearrangement to a tensor's elements.
    static func move(_ t: ONNXTensor, to shape: [Int], _ f: some ElementMover) -> ONNXTensor {
        var out = t
        out.shape = shape
        switch t.elements {
        case .float(let v): out.elements = .float(f.move(v))
        case .int64(let v): out.elements = .int64(f.move(v))
        case .bool(let v): out.elements = .bool(f.move(v))
        }
        return out
    }

    /// Numpy broadcast of `x` (shaped `from`) to `to`.
    static func expandValues<T>(_ x: [T], from: [Int], to: [Int]) -> [T] {
        Layout.expand(x, from: from, to: to)
    }

    static func transpose(_ x: ONNXTensor, perm: [Int]?) throws -> ONNXTensor {
        let rank = x.shape.count
        let p = perm ?? Array((0..<rank).reversed())
        guard p.count == rank, p.sorted() == Array(0..<rank) else {
            throw ONNXRuntimeError("perm \(p) is not a permutation of \(rank) axes")
        }
        struct Permute: ElementMover {
            let shape: [Int], perm: [Int]
            func move<T>(_ v: [T]) -> [T] { Layout.permute(v, shape: shape, perm: perm) }
        }
        return move(x, to: p.map { x.shape[$0] }, Permute(shape: x.shape, perm: p))
    }

    /// Cuts `x` along `axis` into consecutive parts of `sizes` extents.
    static func split(_ x: ONNXTensor, axis: Int, sizes: [Int]) throws -> [ONNXTensor] {
        guard let ax = Layout.axis(axis, rank: x.shape.count) else { throw ONNXRuntimeError("axis \(axis) out of range") }
        func shaped(_ size: Int) -> [Int] {
            var shape = x.shape
            shape[ax] = size
            return shape
        }
        switch x.elements {
        case .float(let v):
            return zip(try Layout.split(v, shape: x.shape, axis: ax, sizes: sizes), sizes).map {
                ONNXTensor(shape: shaped($1), floats: $0, type: x.elementType)
            }
        case .int64(let v):
            return zip(try Layout.split(v, shape: x.shape, axis: ax, sizes: sizes), sizes).map {
                ONNXTensor(shape: shaped($1), ints: $0, type: x.elementType)
            }
        case .bool(let v):
            return zip(try Layout.split(v, shape: x.shape, axis: ax, sizes: sizes), sizes).map { ONNXTensor(shape: shaped($1), bools: $0) }
        }
    }

    static func concat(_ xs: [ONNXTensor], axis: Int) throws -> ONNXTensor {
        guard let first = xs.first else { throw ONNXRuntimeError("Concat of no tensors") }
        let shapes = xs.map(\.shape)
        switch first.elements {
        case .float:
            guard xs.allSatisfy({ if case .float = $0.elements { true } else { false } }) else { throw ONNXRuntimeError("mixed element types") }
            let (v, shape) = try Layout.concat(xs.map(\.floats), shapes: shapes, axis: axis)
            return ONNXTensor(shape: shape, floats: v, type: first.elementType)
        case .int64:
            guard xs.allSatisfy({ if case .int64 = $0.elements { true } else { false } }) else { throw ONNXRuntimeError("mixed element types") }
            let (v, shape) = try Layout.concat(xs.map(\.ints), shapes: shapes, axis: axis)
            return ONNXTensor(shape: shape, ints: v, type: first.elementType)
        case .bool:
            let (v, shape) = try Layout.concat(xs.map(\.bools), shapes: shapes, axis: axis)
            return ONNXTensor(shape: shape, bools: v)
        }
    }

    /// Slice with numpy semantics (clamped starts/ends, negative steps).
    static func slice(_ x: ONNXTensor, starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) throws -> ONNXTensor {
        let window = try Layout.sliceWindow(shape: x.shape, starts: starts, ends: ends, axes: axes, steps: steps)
        struct Window: ElementMover {
            let shape: [Int], window: SliceWindow
            func move<T>(_ v: [T]) -> [T] { Layout.slice(v, shape: shape, window: window) }
        }
        return move(x, to: window.shape, Window(shape: x.shape, window: window))
    }

    static func gather(_ x: ONNXTensor, _ indices: ONNXTensor, axis: Int) throws -> ONNXTensor {
        guard let ax = Layout.axis(axis, rank: x.shape.count) else { throw ONNXRuntimeError("axis \(axis) out of range") }
        let idx = indices.ints.map { Int(clamping: $0) }
        let shape = Array(x.shape[..<ax]) + indices.shape + Array(x.shape[(ax + 1)...])
        switch x.elements {
        case .float(let v): return ONNXTensor(shape: shape, floats: try Layout.gather(v, shape: x.shape, axis: ax, indices: idx), type: x.elementType)
        case .int64(let v): return ONNXTensor(shape: shape, ints: try Layout.gather(v, shape: x.shape, axis: ax, indices: idx), type: x.elementType)
        case .bool(let v): return ONNXTensor(shape: shape, bools: try Layout.gather(v, shape: x.shape, axis: ax, indices: idx))
        }
    }

    static func expand(_ x: ONNXTensor, to target: [Int]) throws -> ONNXTensor {
        guard let shape = Layout.broadcast([x.shape, target]) else {
            throw ONNXRuntimeError("cannot expand \(x.shape) to \(target)")
        }
        struct Broadcast: ElementMover {
            let from: [Int], to: [Int]
            func move<T>(_ v: [T]) -> [T] { ONNXShapeOps.expandValues(v, from: from, to: to) }
        }
        return move(x, to: shape, Broadcast(from: x.shape, to: shape))
    }

    /// The output shape of Reshape (0 copies the input extent unless `allowZero`; -1 is inferred).
    static func reshapeTarget(_ input: [Int], _ spec: [Int64], allowZero: Bool) throws -> [Int] {
        var out = spec.enumerated().map { i, d -> Int in
            d == 0 && !allowZero && i < input.count ? input[i] : Int(d)
        }
        let count = input.reduce(1, *)
        let inferred = out.indices.filter { out[$0] == -1 }
        guard inferred.count <= 1, out.allSatisfy({ $0 >= -1 }) else { throw ONNXRuntimeError("invalid shape \(spec)") }
        if let i = inferred.first {
            let known = out.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
            guard known > 0, count % known == 0 else { throw ONNXRuntimeError("cannot reshape \(input) to \(spec)") }
            out[i] = count / known
        }
        guard out.reduce(1, *) == count else { throw ONNXRuntimeError("cannot reshape \(input) to \(spec)") }
        return out
    }

    static func unsqueezeShape(_ shape: [Int], axes: [Int]) throws -> [Int] {
        let rank = shape.count + axes.count
        let normalized = try axes.map { a -> Int in
            guard let n = Layout.axis(a, rank: rank) else { throw ONNXRuntimeError("axis \(a) out of range") }
            return n
        }
        guard Set(normalized).count == normalized.count else { throw ONNXRuntimeError("repeated axes \(axes)") }
        var out = [Int]()
        var it = shape.makeIterator()
        for i in 0..<rank { out.append(normalized.contains(i) ? 1 : it.next()!) }
        return out
    }

    static func squeezeShape(_ shape: [Int], axes: [Int]?) throws -> [Int] {
        guard let axes else { return shape.filter { $0 != 1 } }
        let normalized = try axes.map { a -> Int in
            guard let n = Layout.axis(a, rank: shape.count), shape[n] == 1 else {
                throw ONNXRuntimeError("axis \(a) of \(shape) cannot be squeezed")
            }
            return n
        }
        return shape.enumerated().filter { !normalized.contains($0.offset) }.map(\.element)
    }

    /// Element count of a Range, refusing absurd sizes (a malformed model must not exhaust memory).
    static func rangeCount(_ steps: Double) throws -> Int {
        guard steps.isFinite, steps <= Double(ONNXPlan.maximumElements) else { throw ONNXRuntimeError("Range of \(steps) elements") }
        return max(0, Int(steps.rounded(.up)))
    }

    static func range(_ start: ONNXTensor, _ limit: ONNXTensor, _ delta: ONNXTensor) throws -> ONNXTensor {
        switch start.elements {
        case .float:
            let s = start.floats[0], l = limit.floats[0], d = delta.floats[0]
            guard d != 0 else { throw ONNXRuntimeError("Range with delta 0") }
            let n = try rangeCount(Double(l - s) / Double(d))
            return ONNXTensor(shape: [n], floats: (0..<n).map { s + Float($0) * d }, type: start.elementType)
        default:
            let s = start.ints[0], l = limit.ints[0], d = delta.ints[0]
            guard d != 0 else { throw ONNXRuntimeError("Range with delta 0") }
            let n = try rangeCount((Double(l) - Double(s)) / Double(d))
            return ONNXTensor(shape: [n], ints: (0..<n).map { s + Int64($0) * d }, type: start.elementType)
        }
    }
}

/// A rearrangement of elements that does not depend on their type.
protocol ElementMover {
    func move<T>(_ v: [T]) -> [T]
}
