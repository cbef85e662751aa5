import Tensor

/// A reduction over some axes.
public enum ReduceOp: Sendable, Hashable, CaseIterable {
    /// Sum of the elements.
    case sum
    /// Arithmetic mean.
    case mean
    /// Largest element.
    case max
    /// Smallest element.
    case min
    /// Product of the elements.
    case prod

    /// The result over no elements.
    public var identity: Float {
        switch self {
        case .sum: return 0
        case .mean: return .nan
        case .max: return -.infinity
        case .min: return .infinity
        case .prod: return 1
        }
    }
}

extension Ops {
    /// Permutes dimensions: output dimension `i` is input dimension `permutation[i]` (ONNX
    /// Transpose, `torch.permute`).
    /// - Throws: ``KernelError`` when `permutation` is not a permutation of the axes.
    public static func transpose(_ x: Tensor, permutation: [Int], pool: ComputePool) throws -> Tensor {
        try checkF32(x, op: "transpose")
        let rank = x.shape.rank
        guard permutation.count == rank, Set(permutation) == Set(0..<rank) else {
            throw KernelError(.invalidParameter, "transpose: \(permutation) for \(x.shape)")
        }
        let outShape = Shape(permutation.map { x.shape.dims[$0] })
        let out = Tensor(uninitialized: outShape)
        guard x.count > 0 else { return out }
        // Unit dimensions move no data: what is left is often no move at all, or a 2-D transpose.
        let kept = permutation.filter { x.shape.dims[$0] != 1 }, sorted = kept.sorted()
        if kept == sorted {
            out.floatPointer.update(from: x.floatPointer, count: x.count)
            return out
        }
        if kept.count == 2 {
            transpose2D(x.floatPointer, rows: x.shape.dims[sorted[0]], columns: x.shape.dims[sorted[1]], into: out.floatPointer, pool: pool)
            return out
        }
        let inStrides = x.shape.strides
        let srcStrides = permutation.map { inStrides[$0] }  // input stride of each output dim
        let dims = outShape.dims
        let inner = rank > 0 ? dims[rank - 1] : 1
        let innerStride = rank > 0 ? srcStrides[rank - 1] : 1
        let rows = x.count / max(inner, 1)
        let src = x.floatPointer, dst = out.floatPointer
        pool.parallelFor(rows, minimumPerPart: max(1, 16384 / max(inner, 1))) { r in
            for row in r {
                var rem = row, off = 0
                for d in stride(from: rank - 2, through: 0, by: -1) {
                    off += (rem % dims[d]) * srcStrides[d]
                    rem /= dims[d]
                }
                let s = src + off, o = dst + row * inner
                for i in 0..<inner { o[i] = s[i * innerStride] }
            }
        }
        return out
    }

    /// `out[c, r] = src[r, c]` in 32x32 blocks (both sides stay in cache), column blocks split over the pool.
    static func transpose2D(_ src: UnsafeMutablePointer<Float>, rows: Int, columns: Int, into dst: UnsafeMutablePointer<Float>,
                            pool: ComputePool) {
        let block = 32, blocks = (columns + block - 1) / block
        pool.parallelFor(blocks, minimumPerPart: max(1, 16384 / max(1, rows * block))) { r in
            for b in r {
                let c0 = b * block, c1 = min(columns, c0 + block)
                var r0 = 0
                while r0 < rows {
                    let r1 = min(rows, r0 + block)
                    for row in r0..<r1 {
                        let s = src + row * columns
                        for c in c0..<c1 { dst[c * rows + row] = s[c] }
                    }
                    r0 = r1
                }
            }
        }
    }

    /// Reduces over `axes` (negative counts from the end); reduced dimensions stay as 1 when
    /// `keepDimensions`, else they are removed.
    /// - Throws: ``KernelError`` on an axis out of range.
    public static func reduce(_ op: ReduceOp, _ x: Tensor, axes: [Int], keepDimensions: Bool = true,
                              pool: ComputePool) throws -> Tensor {
        try checkF32(x, op: "reduce")
        let rank = x.shape.rank
        let ax = Set(axes.map { $0 < 0 ? $0 + rank : $0 })
        guard ax.allSatisfy({ $0 >= 0 && $0 < rank }) else {
            throw KernelError(.invalidParameter, "reduce: axes \(axes) of \(x.shape)")
        }
        // Move kept axes first and reduced axes last, then reduce contiguous rows.
        let kept = (0..<rank).filter { !ax.contains($0) }, reduced = (0..<rank).filter { ax.contains($0) }
        let moved = reduced.isEmpty || reduced == Array((rank - reduced.count)..<rank)
            ? x : try transpose(x, permutation: kept + reduced, pool: pool)
        let len = reduced.reduce(1) { $0 * x.shape.dims[$1] }
        let rows = len == 0 ? 0 : x.count / len
        let outDims = keepDimensions ? (0..<rank).map { ax.contains($0) ? 1 : x.shape.dims[$0] } : kept.map { x.shape.dims[$0] }
        let out = Tensor(uninitialized: Shape(outDims))
        let src = moved.floatPointer, dst = out.floatPointer
        if len == 0 { dst.update(repeating: op.identity, count: out.count) }
        pool.parallelFor(rows, minimumPerPart: max(1, 16384 / max(len, 1))) { r in
            for row in r {
                let s = src + row * len
                switch op {
                case .sum, .mean:
                    var acc: Double = 0
                    for i in 0..<len { acc += Double(s[i]) }
                    dst[row] = Float(op == .mean ? acc / Double(len) : acc)
                case .max:
                    var m = -Float.infinity
                    for i in 0..<len { m = Swift.max(m, s[i]) }
                    dst[row] = m
                case .min:
                    var m = Float.infinity
                    for i in 0..<len { m = Swift.min(m, s[i]) }
                    dst[row] = m
                case .prod:
                    var acc: Double = 1
                    for i in 0..<len { acc *= Double(s[i]) }
                    dst[row] = Float(acc)
                }
            }
        }
        return out
    }
}

extension Reference {
    /// Transpose by mapping every output index back to its input index.
    public static func transpose(_ x: Tensor, permutation: [Int]) -> Tensor {
        let outShape = Shape(permutation.map { x.shape.dims[$0] })
        let v = x.toArray(), inStrides = x.shape.strides, outStrides = outShape.strides
        var out = [Float](repeating: 0, count: x.count)
        for flat in 0..<x.count {
            var rem = flat, src = 0
            for d in 0..<outShape.rank {
                src += (rem / outStrides[d]) * inStrides[permutation[d]]
                rem %= outStrides[d]
            }
            out[flat] = v[src]
        }
        return Tensor(shape: outShape, values: out)
    }

    /// Reduction by visiting every element and adding it to its output cell.
    public static func reduce(_ op: ReduceOp, _ x: Tensor, axes: [Int], keepDimensions: Bool = true) -> Tensor {
        let rank = x.shape.rank
        let ax = Set(axes.map { $0 < 0 ? $0 + rank : $0 })
        let keptShape = Shape((0..<rank).map { ax.contains($0) ? 1 : x.shape.dims[$0] })
        let ks = keptShape.strides, xs = x.shape.strides, v = x.toArray()
        var acc = [Double](repeating: op == .max ? -.infinity : (op == .min ? .infinity : (op == .prod ? 1 : 0)), count: keptShape.count)
        var counts = [Int](repeating: 0, count: keptShape.count)
        for flat in 0..<x.count {
            var rem = flat, o = 0
            for d in 0..<rank {
                let i = rem / xs[d]
                rem %= xs[d]
                if !ax.contains(d) { o += i * ks[d] }
            }
            let e = Double(v[flat])
            switch op {
            case .sum, .mean: acc[o] += e
            case .max: acc[o] = max(acc[o], e)
            case .min: acc[o] = min(acc[o], e)
            case .prod: acc[o] *= e
            }
            counts[o] += 1
        }
        let values = acc.indices.map { Float(op == .mean ? (counts[$0] == 0 ? .nan : acc[$0] / Double(counts[$0])) : acc[$0]) }
        let dims = keepDimensions ? keptShape.dims : (0..<rank).filter { !ax.contains($0) }.map { x.shape.dims[$0] }
        return Tensor(shape: Shape(dims), values: values)
    }
}
