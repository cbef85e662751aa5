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
        if from == to { return x }
        let total = to.reduce(1, *)
        var out = [T]()
        out.reserveCapacity(total)
        x.withUnsafeBufferPointer { px in
            Layout.forEachRow(outShape: to, operandShapes: [from]) { _, offs, inner, st in
                var i = offs[0]
                for _ in 0..<inner {
                    out.append(px[i])
                    i += st[0]
                }
            }
        }
        return out
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

    /// Copies blocks along `axis`: output `i` takes `sizes[i]` consecutive slices from `starts[i]`.
    static func split(_ x: ONNXTensor, axis: Int, sizes: [Int]) throws -> [ONNXTensor] {
        guard let ax = Layout.axis(axis, rank: x.shape.count) else { throw ONNXRuntimeError("axis \(axis) out of range") }
        guard sizes.reduce(0, +) == x.shape[ax], sizes.allSatisfy({ $0 >= 0 }) else {
            throw ONNXRuntimeError("split sizes \(sizes) do not add up to extent \(x.shape[ax])")
        }
        let outer = x.shape[..<ax].reduce(1, *), inner = x.shape[(ax + 1)...].reduce(1, *)
        var start = 0
        return sizes.map { size in
            struct Cut: ElementMover {
                let outer: Int, inner: Int, extent: Int, start: Int, size: Int
                func move<T>(_ v: [T]) -> [T] {
                    var out = [T]()
                    out.reserveCapacity(outer * size * inner)
                    for o in 0..<outer {
                        let base = (o * extent + start) * inner
                        out.append(contentsOf: v[base..<(base + size * inner)])
                    }
                    return out
                }
            }
            var shape = x.shape
            shape[ax] = size
            let t = move(x, to: shape, Cut(outer: outer, inner: inner, extent: x.shape[ax], start: start, size: size))
            start += size
            return t
        }
    }

    static func concat(_ xs: [ONNXTensor], axis: Int) throws -> ONNXTensor {
        guard let first = xs.first else { throw ONNXRuntimeError("Concat of no tensors") }
        let rank = first.shape.count
        guard let ax = Layout.axis(axis, rank: rank) else { throw ONNXRuntimeError("axis \(axis) out of range") }
        for x in xs {
            guard x.shape.count == rank,
                  (0..<rank).allSatisfy({ $0 == ax || x.shape[$0] == first.shape[$0] }) else {
                throw ONNXRuntimeError("shapes \(xs.map(\.shape)) differ outside axis \(ax)")
            }
        }
        var shape = first.shape
        shape[ax] = xs.reduce(0) { $0 + $1.shape[ax] }
        let outer = first.shape[..<ax].reduce(1, *)
        let inner = first.shape[(ax + 1)...].reduce(1, *)
        func join<T>(_ parts: [[T]]) -> [T] {
            var out = [T]()
            out.reserveCapacity(shape.reduce(1, *))
            for o in 0..<outer {
                for (p, x) in zip(parts, xs) {
                    let n = x.shape[ax] * inner
                    out.append(contentsOf: p[(o * n)..<((o + 1) * n)])
                }
            }
            return out
        }
        switch first.elements {
        case .float:
            guard xs.allSatisfy({ if case .float = $0.elements { true } else { false } }) else { throw ONNXRuntimeError("mixed element types") }
            return ONNXTensor(shape: shape, floats: join(xs.map(\.floats)), type: first.elementType)
        case .int64:
            guard xs.allSatisfy({ if case .int64 = $0.elements { true } else { false } }) else { throw ONNXRuntimeError("mixed element types") }
            return ONNXTensor(shape: shape, ints: join(xs.map(\.ints)), type: first.elementType)
        case .bool:
            return ONNXTensor(shape: shape, bools: join(xs.map(\.bools)))
        }
    }

    /// Slice with numpy semantics (clamped starts/ends, negative steps).
    static func slice(_ x: ONNXTensor, starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) throws -> ONNXTensor {
        let rank = x.shape.count
        let axes = axes ?? Array(0..<starts.count)
        let steps = steps ?? [Int](repeating: 1, count: starts.count)
        guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
            throw ONNXRuntimeError("starts, ends, axes and steps differ in length")
        }
        var begin = [Int](repeating: 0, count: rank)
        var step = [Int](repeating: 1, count: rank)
        var shape = x.shape
        for i in 0..<axes.count {
            guard let a = Layout.axis(axes[i], rank: rank) else { throw ONNXRuntimeError("axis \(axes[i]) out of range") }
            let dim = x.shape[a]
            guard steps[i] != 0 else { throw ONNXRuntimeError("step 0") }
            // A step longer than the axis selects one element either way; clamping keeps offsets small.
            let s = max(min(steps[i], max(dim, 1)), -max(dim, 1))
            guard ends[i] > Int.min / 2, starts[i] > Int.min / 2 else { throw ONNXRuntimeError("slice bounds out of range") }
            var st = starts[i] < 0 ? starts[i] + dim : starts[i]
            var en = ends[i] < 0 ? ends[i] + dim : ends[i]
            if s > 0 {
                st = min(max(st, 0), dim)
                en = min(max(en, 0), dim)
                shape[a] = en > st ? (en - st - 1) / s + 1 : 0
            } else {
                st = min(max(st, -1), dim - 1)
                en = min(max(en, -1), dim - 1)
                shape[a] = st > en ? (st - en - 1) / (-s) + 1 : 0
            }
            begin[a] = st
            step[a] = s
        }
        struct Window: ElementMover {
            let inShape: [Int], outShape: [Int], begin: [Int], step: [Int]
            func move<T>(_ v: [T]) -> [T] {
                let total = outShape.reduce(1, *)
                guard total > 0 else { return [] }
                let st = Layout.strides(inShape)
                let rank = outShape.count
                guard rank > 0 else { return v }
                var out = [T]()
                out.reserveCapacity(total)
                var counter = [Int](repeating: 0, count: rank)
                var offset = zip(begin, st).reduce(0) { $0 + $1.0 * $1.1 }
                let inner = outShape[rank - 1], innerStep = st[rank - 1] * step[rank - 1]
                var produced = 0
                while produced < total {
                    var o = offset
                    for _ in 0..<inner { out.append(v[o]); o += innerStep }
                    produced += inner
                    var d = rank - 2
                    while d >= 0 {
                        counter[d] += 1
                        offset += st[d] * step[d]
                        if counter[d] < outShape[d] { break }
                        offset -= st[d] * step[d] * outShape[d]
                        counter[d] = 0
                        d -= 1
                    }
                }
                return out
            }
        }
        return move(x, to: shape, Window(inShape: x.shape, outShape: shape, begin: begin, step: step))
    }

    static func gather(_ x: ONNXTensor, _ indices: ONNXTensor, axis: Int) throws -> ONNXTensor {
        guard let ax = Layout.axis(axis, rank: x.shape.count) else { throw ONNXRuntimeError("axis \(axis) out of range") }
        let dim = x.shape[ax]
        let idx = try indices.ints.map { i -> Int in
            let j = Int(i) < 0 ? Int(i) + dim : Int(i)
            guard j >= 0 && j < dim else { throw ONNXRuntimeError("index \(i) out of range for extent \(dim)") }
            return j
        }
        let outer = x.shape[..<ax].reduce(1, *), inner = x.shape[(ax + 1)...].reduce(1, *)
        struct Pick: ElementMover {
            let outer: Int, inner: Int, dim: Int, idx: [Int]
            func move<T>(_ v: [T]) -> [T] {
                var out = [T]()
                out.reserveCapacity(outer * idx.count * inner)
                for o in 0..<outer {
                    for j in idx {
                        let base = (o * dim + j) * inner
                        out.append(contentsOf: v[base..<(base + inner)])
                    }
                }
                return out
            }
        }
        let shape = Array(x.shape[..<ax]) + indices.shape + Array(x.shape[(ax + 1)...])
        return move(x, to: shape, Pick(outer: outer, inner: inner, dim: dim, idx: idx))
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
