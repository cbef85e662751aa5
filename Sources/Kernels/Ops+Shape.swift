import Tensor

extension Ops {
    /// Joins tensors along `axis` (negative counts from the end); other extents must agree.
    /// - Throws: ``KernelError`` when ranks or extents differ.
    public static func concat(_ tensors: [Tensor], axis: Int, pool: ComputePool) throws -> Tensor {
        guard let first = tensors.first else { throw KernelError(.invalidParameter, "concat: no inputs") }
        let rank = first.shape.rank
        let ax = axis < 0 ? axis + rank : axis
        guard ax >= 0, ax < rank else { throw KernelError(.invalidParameter, "concat: axis \(axis) of rank \(rank)") }
        var dims = first.shape.dims
        dims[ax] = 0
        for t in tensors {
            try checkF32(t, op: "concat")
            guard t.shape.rank == rank, (0..<rank).allSatisfy({ $0 == ax || t.shape.dims[$0] == first.shape.dims[$0] }) else {
                throw KernelError(.shapeMismatch, "concat: \(tensors.map { $0.shape }) along axis \(ax)")
            }
            dims[ax] += t.shape.dims[ax]
        }
        let out = Tensor(uninitialized: Shape(dims))
        let outer = dims[0..<ax].reduce(1, *), inner = dims[(ax + 1)...].reduce(1, *)
        let outRow = dims[ax] * inner
        let dst = out.floatPointer
        var offset = 0
        for t in tensors {
            let run = t.shape.dims[ax] * inner, src = t.floatPointer, off = offset
            pool.parallelFor(outer, minimumPerPart: max(1, 65536 / max(run, 1))) { r in
                for o in r { (dst + o * outRow + off).update(from: src + o * run, count: run) }
            }
            offset += run
        }
        return out
    }

    /// Elements `start..<end` stepping by `step` along `axis` (ends clamp to the extent, negative
    /// starts/ends count from the end, like Python slicing with a positive step).
    public static func slice(_ x: Tensor, axis: Int, start: Int, end: Int, step: Int = 1, pool: ComputePool) throws -> Tensor {
        try checkF32(x, op: "slice")
        let rank = x.shape.rank
        let ax = axis < 0 ? axis + rank : axis
        guard ax >= 0, ax < rank, step > 0 else {
            throw KernelError(.invalidParameter, "slice: axis \(axis) step \(step) of \(x.shape)")
        }
        let e = x.shape.dims[ax]
        let s = min(max(start < 0 ? start + e : start, 0), e)
        let t = min(max(end < 0 ? end + e : end, 0), e)
        let count = t > s ? (t - s + step - 1) / step : 0
        var dims = x.shape.dims
        dims[ax] = count
        let out = Tensor(uninitialized: Shape(dims))
        let outer = dims[0..<ax].reduce(1, *), inner = dims[(ax + 1)...].reduce(1, *)
        let src = x.floatPointer, dst = out.floatPointer
        pool.parallelFor(outer * count, minimumPerPart: max(1, 65536 / max(inner, 1))) { r in
            for i in r {
                let o = i / count, k = i % count
                (dst + i * inner).update(from: src + (o * e + s + k * step) * inner, count: inner)
            }
        }
        return out
    }

    /// The spatial window `[top, top + height) x [left, left + width)` of an NCHW tensor.
    /// - Throws: ``KernelError`` when the window leaves the image.
    public static func crop(_ x: Tensor, top: Int, left: Int, height: Int, width: Int, pool: ComputePool) throws -> Tensor {
        let (n, c, h, w) = x.nchw
        guard top >= 0, left >= 0, height >= 0, width >= 0, top + height <= h, left + width <= w else {
            throw KernelError(.invalidParameter, "crop: window (\(top), \(left), \(height)x\(width)) of \(x.shape)")
        }
        try checkF32(x, op: "crop")
        let out = Tensor(uninitialized: Shape(n: n, c: c, h: height, w: width))
        let src = x.floatPointer, dst = out.floatPointer
        pool.parallelFor(n * c * height, minimumPerPart: 64) { r in
            for i in r {
                let plane = i / height, y = i % height
                (dst + i * width).update(from: src + (plane * h + top + y) * w + left, count: width)
            }
        }
        return out
    }
}

extension Reference {
    /// Concatenation by copying element by element.
    public static func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
        let rank = tensors[0].shape.rank
        let ax = axis < 0 ? axis + rank : axis
        var dims = tensors[0].shape.dims
        dims[ax] = tensors.reduce(0) { $0 + $1.shape.dims[ax] }
        let shape = Shape(dims)
        var out = [Float](repeating: 0, count: shape.count)
        let strides = shape.strides
        var base = 0
        for t in tensors {
            let v = t.toArray(), ts = t.shape.strides
            for flat in 0..<t.count {
                var rem = flat, o = 0
                for d in 0..<rank {
                    let i = rem / ts[d]
                    rem %= ts[d]
                    o += (d == ax ? i + base : i) * strides[d]
                }
                out[o] = v[flat]
            }
            base += t.shape.dims[ax]
        }
        return Tensor(shape: shape, values: out)
    }

    /// Slicing by enumerating the kept indices.
    public static func slice(_ x: Tensor, axis: Int, start: Int, end: Int, step: Int = 1) -> Tensor {
        let rank = x.shape.rank
        let ax = axis < 0 ? axis + rank : axis
        let e = x.shape.dims[ax]
        let s = min(max(start < 0 ? start + e : start, 0), e), t = min(max(end < 0 ? end + e : end, 0), e)
        let kept = Array(stride(from: s, to: t, by: step))
        var dims = x.shape.dims
        dims[ax] = kept.count
        let shape = Shape(dims), v = x.toArray(), xs = x.shape.strides, os = shape.strides
        var out = [Float](repeating: 0, count: shape.count)
        for flat in 0..<shape.count {
            var rem = flat, src = 0
            for d in 0..<rank {
                let i = rem / os[d]
                rem %= os[d]
                src += (d == ax ? kept[i] : i) * xs[d]
            }
            out[flat] = v[src]
        }
        return Tensor(shape: shape, values: out)
    }

    /// Spatial crop by indexing.
    public static func crop(_ x: Tensor, top: Int, left: Int, height: Int, width: Int) -> Tensor {
        let (n, c, _, _) = x.nchw
        let out = Tensor(zeros: Shape(n: n, c: c, h: height, w: width))
        for b in 0..<n { for ch in 0..<c { for y in 0..<height { for xx in 0..<width {
            out[b, ch, y, xx] = x[b, ch, top + y, left + xx]
        } } } }
        return out
    }
}
