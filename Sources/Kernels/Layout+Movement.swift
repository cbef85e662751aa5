import Tensor

/// A strided window of a row-major array: where each axis starts, its step and extent.
public struct SliceWindow: Sendable, Equatable {
    /// First index along every axis.
    public var begin: [Int]
    /// Step along every axis (negative walks backwards).
    public var step: [Int]
    /// Extent of the result along every axis.
    public var shape: [Int]
}

extension Layout {
    /// NumPy broadcast of `x` (shaped `from`) to `to` (which `from` must broadcast to).
    @inlinable
    public static func expand<T>(_ x: [T], from: [Int], to: [Int]) -> [T] {
        if from == to { return x }
        let total = to.reduce(1, *)
        var out = [T]()
        out.reserveCapacity(total)
        x.withUnsafeBufferPointer { px in
            forEachRow(outShape: to, operandShapes: [from]) { _, offs, inner, st in
                var i = offs[0]
                for _ in 0..<inner {
                    out.append(px[i])
                    i += st[0]
                }
            }
        }
        return out
    }

    /// Cuts `x` (shaped `shape`) along `axis` into consecutive parts of `sizes` extents.
    /// - Throws: ``KernelError`` when the axis is out of range or the sizes do not add up.
    @inlinable
    public static func split<T>(_ x: [T], shape: [Int], axis: Int, sizes: [Int]) throws -> [[T]] {
        guard let ax = self.axis(axis, rank: shape.count) else { throw KernelError(.invalidParameter, "split: axis \(axis) of \(shape)") }
        guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == shape[ax] else {
            throw KernelError(.invalidParameter, "split: sizes \(sizes) do not add up to extent \(shape[ax])")
        }
        let outer = shape[..<ax].reduce(1, *), inner = shape[(ax + 1)...].reduce(1, *), extent = shape[ax]
        var start = 0
        return sizes.map { size in
            var out = [T]()
            out.reserveCapacity(outer * size * inner)
            for o in 0..<outer {
                let base = (o * extent + start) * inner
                out.append(contentsOf: x[base..<(base + size * inner)])
            }
            start += size
            return out
        }
    }

    /// Joins `parts` (shaped `shapes`, equal outside `axis`) along `axis`.
    /// - Throws: ``KernelError`` when there are no parts or their shapes differ outside the axis.
    @inlinable
    public static func concat<T>(_ parts: [[T]], shapes: [[Int]], axis: Int) throws -> (values: [T], shape: [Int]) {
        guard let first = shapes.first, parts.count == shapes.count else { throw KernelError(.invalidParameter, "concat: no inputs") }
        let rank = first.count
        guard let ax = self.axis(axis, rank: rank) else { throw KernelError(.invalidParameter, "concat: axis \(axis) of \(first)") }
        for (p, s) in zip(parts, shapes) {
            guard s.count == rank, (0..<rank).allSatisfy({ $0 == ax || s[$0] == first[$0] }), p.count == s.reduce(1, *) else {
                throw KernelError(.shapeMismatch, "concat: shapes \(shapes) differ outside axis \(ax)")
            }
        }
        var shape = first
        shape[ax] = shapes.reduce(0) { $0 + $1[ax] }
        let outer = first[..<ax].reduce(1, *), inner = first[(ax + 1)...].reduce(1, *)
        var out = [T]()
        out.reserveCapacity(shape.reduce(1, *))
        for o in 0..<outer {
            for (p, s) in zip(parts, shapes) {
                let n = s[ax] * inner
                out.append(contentsOf: p[(o * n)..<((o + 1) * n)])
            }
        }
        return (out, shape)
    }

    /// The window NumPy's `x[start:end:step]` selects on the given axes (others whole): negative
    /// indices count from the end, bounds are clamped, steps may be negative.
    /// - Throws: ``KernelError`` on an axis out of range, a zero step or lists of different lengths.
    public static func sliceWindow(shape: [Int], starts: [Int], ends: [Int], axes: [Int]? = nil, steps: [Int]? = nil) throws -> SliceWindow {
        let rank = shape.count
        let axes = axes ?? Array(0..<starts.count)
        let steps = steps ?? [Int](repeating: 1, count: starts.count)
        guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
            throw KernelError(.invalidParameter, "slice: starts, ends, axes and steps differ in length")
        }
        var window = SliceWindow(begin: [Int](repeating: 0, count: rank), step: [Int](repeating: 1, count: rank), shape: shape)
        for i in 0..<axes.count {
            guard let a = axis(axes[i], rank: rank) else { throw KernelError(.invalidParameter, "slice: axis \(axes[i]) of \(shape)") }
            let dim = shape[a]
            guard steps[i] != 0 else { throw KernelError(.invalidParameter, "slice: step 0") }
            // A step longer than the axis selects one element either way; clamping keeps offsets small.
            let s = max(min(steps[i], max(dim, 1)), -max(dim, 1))
            guard ends[i] > Int.min / 2, starts[i] > Int.min / 2 else { throw KernelError(.invalidParameter, "slice: bounds out of range") }
            var st = starts[i] < 0 ? starts[i] + dim : starts[i]
            var en = ends[i] < 0 ? ends[i] + dim : ends[i]
            if s > 0 {
                st = min(max(st, 0), dim)
                en = min(max(en, 0), dim)
                window.shape[a] = en > st ? (en - st - 1) / s + 1 : 0
            } else {
                st = min(max(st, -1), dim - 1)
                en = min(max(en, -1), dim - 1)
                window.shape[a] = st > en ? (st - en - 1) / (-s) + 1 : 0
            }
            window.begin[a] = st
            window.step[a] = s
        }
        return window
    }

    /// The elements of `x` (shaped `shape`) inside `window`, row-major.
    @inlinable
    public static func slice<T>(_ x: [T], shape: [Int], window: SliceWindow) -> [T] {
        let outShape = window.shape, rank = outShape.count
        let total = outShape.reduce(1, *)
        guard total > 0 else { return [] }
        guard rank > 0 else { return x }
        let st = strides(shape)
        var out = [T]()
        out.reserveCapacity(total)
        var counter = [Int](repeating: 0, count: rank)
        var offset = zip(window.begin, st).reduce(0) { $0 + $1.0 * $1.1 }
        let inner = outShape[rank - 1], innerStep = st[rank - 1] * window.step[rank - 1]
        var produced = 0
        x.withUnsafeBufferPointer { v in
            while produced < total {
                var o = offset
                for _ in 0..<inner { out.append(v[o]); o += innerStep }
                produced += inner
                var d = rank - 2
                while d >= 0 {
                    counter[d] += 1
                    offset += st[d] * window.step[d]
                    if counter[d] < outShape[d] { break }
                    offset -= st[d] * window.step[d] * outShape[d]
                    counter[d] = 0
                    d -= 1
                }
            }
        }
        return out
    }

    /// Takes the slices at `indices` (negative counts from the end) along `axis` of `x` (shaped
    /// `shape`): the result is shaped `shape[..<axis] + indicesShape + shape[(axis+1)...]`.
    /// - Throws: ``KernelError`` on an axis or index out of range.
    @inlinable
    public static func gather<T>(_ x: [T], shape: [Int], axis: Int, indices: [Int]) throws -> [T] {
        guard let ax = self.axis(axis, rank: shape.count) else { throw KernelError(.invalidParameter, "gather: axis \(axis) of \(shape)") }
        let dim = shape[ax]
        let idx = try indices.map { i -> Int in
            let j = i < 0 ? i + dim : i
            guard j >= 0 && j < dim else { throw KernelError(.invalidParameter, "gather: index \(i) out of range for extent \(dim)") }
            return j
        }
        let outer = shape[..<ax].reduce(1, *), inner = shape[(ax + 1)...].reduce(1, *)
        var out = [T]()
        out.reserveCapacity(outer * idx.count * inner)
        for o in 0..<outer {
            for j in idx {
                let base = (o * dim + j) * inner
                out.append(contentsOf: x[base..<(base + inner)])
            }
        }
        return out
    }
}

extension Ops {
    /// NumPy `take(x, indices, axis)` (ONNX Gather).
    /// - Throws: ``KernelError`` on an axis or index out of range.
    public static func gather(_ x: Tensor, indices: [Int], indicesShape: [Int], axis: Int) throws -> Tensor {
        try checkF32(x, op: "gather")
        guard indicesShape.reduce(1, *) == indices.count, let ax = Layout.axis(axis, rank: x.shape.rank) else {
            throw KernelError(.invalidParameter, "gather: \(indices.count) indices shaped \(indicesShape), axis \(axis) of \(x.shape)")
        }
        let d = x.shape.dims
        let values = try Layout.gather(x.toArray(), shape: d, axis: ax, indices: indices)
        return Tensor(shape: Shape(Array(d[..<ax]) + indicesShape + Array(d[(ax + 1)...])), values: values)
    }

    /// NumPy slicing on several axes at once, with steps (ONNX Slice).
    /// - Throws: ``KernelError`` as ``Layout/sliceWindow(shape:starts:ends:axes:steps:)``.
    public static func slice(_ x: Tensor, starts: [Int], ends: [Int], axes: [Int]? = nil, steps: [Int]? = nil) throws -> Tensor {
        try checkF32(x, op: "slice")
        let window = try Layout.sliceWindow(shape: x.shape.dims, starts: starts, ends: ends, axes: axes, steps: steps)
        return Tensor(shape: Shape(window.shape), values: Layout.slice(x.toArray(), shape: x.shape.dims, window: window))
    }

    /// Cuts `x` along `axis` into parts of `sizes` extents (ONNX Split, `torch.split`).
    /// - Throws: ``KernelError`` when the sizes do not add up.
    public static func split(_ x: Tensor, axis: Int, sizes: [Int]) throws -> [Tensor] {
        try checkF32(x, op: "split")
        let d = x.shape.dims
        let parts = try Layout.split(x.toArray(), shape: d, axis: axis, sizes: sizes)
        let ax = Layout.axis(axis, rank: d.count)!
        return zip(parts, sizes).map { p, s in
            var dims = d
            dims[ax] = s
            return Tensor(shape: Shape(dims), values: p)
        }
    }

    /// NumPy `broadcast_to(x, shape)` (ONNX Expand: the result is the broadcast of both shapes).
    /// - Throws: ``KernelError`` when the shapes do not broadcast.
    public static func expand(_ x: Tensor, to shape: [Int]) throws -> Tensor {
        try checkF32(x, op: "expand")
        guard let out = Layout.broadcast([x.shape.dims, shape]) else {
            throw KernelError(.shapeMismatch, "expand: \(x.shape) does not broadcast to \(shape)")
        }
        return Tensor(shape: Shape(out), values: Layout.expand(x.toArray(), from: x.shape.dims, to: out))
    }
}

extension Reference {
    /// Gather by mapping every output index back to its source index.
    public static func gather(_ x: Tensor, indices: [Int], indicesShape: [Int], axis: Int) -> Tensor {
        let d = x.shape.dims, ax = axis < 0 ? axis + d.count : axis
        let outDims = Array(d[..<ax]) + indicesShape + Array(d[(ax + 1)...])
        let v = x.toArray(), inner = d[(ax + 1)...].reduce(1, *), count = indices.count
        let out = (0..<outDims.reduce(1, *)).map { flat -> Float in
            let i = flat % inner, j = (flat / inner) % max(count, 1), o = flat / inner / max(count, 1)
            let idx = indices[j] < 0 ? indices[j] + d[ax] : indices[j]
            return v[(o * d[ax] + idx) * inner + i]
        }
        return Tensor(shape: Shape(outDims), values: out)
    }

    /// Multi-axis slicing as repeated single-axis slices.
    public static func slice(_ x: Tensor, starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) -> Tensor {
        var t = x
        for i in starts.indices {
            let a = axes?[i] ?? i, ax = a < 0 ? a + x.shape.rank : a
            let dim = x.shape.dims[ax], step = steps?[i] ?? 1
            // NumPy's bounds, clamped per the step's direction.
            func resolve(_ v: Int, _ lo: Int, _ hi: Int) -> Int { min(max(v < 0 ? v + dim : v, lo), hi) }
            let s = step > 0 ? resolve(starts[i], 0, dim) : resolve(starts[i], -1, dim - 1)
            let e = step > 0 ? resolve(ends[i], 0, dim) : resolve(ends[i], -1, dim - 1)
            let picked = Swift.stride(from: s, to: e, by: step).map { $0 }
            let moved = transpose(t, permutation: [ax] + (0..<t.shape.rank).filter { $0 != ax })
            let rows = moved.toArray(), rowLen = moved.count / max(dim, 1)
            var values: [Float] = []
            for p in picked { values += rows[(p * rowLen)..<((p + 1) * rowLen)] }
            var dims = moved.shape.dims
            dims[0] = picked.count
            let back = (0..<t.shape.rank).map { $0 == ax ? 0 : ($0 < ax ? $0 + 1 : $0) }
            t = transpose(Tensor(shape: Shape(dims), values: values), permutation: back)
        }
        return t
    }
}
