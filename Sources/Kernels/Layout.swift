import Tensor

/// Shape arithmetic and data movement over row-major arrays of any element type (floats, and the
/// integers and booleans of shape arithmetic and masks): broadcasting, axis normalization,
/// permutation. The `Ops` data-movement ops on ``Tensor`` run on these. The generic movers are
/// `@inlinable` so that callers in other modules get them specialized to their element type.
public enum Layout {
    /// Row-major strides of `shape` (non-negative extents), as ``Shape/strides``.
    public static func strides(_ shape: [Int]) -> [Int] {
        Shape(shape).strides
    }

    /// Numpy-style broadcast of several shapes, or nil when they do not broadcast.
    public static func broadcast(_ shapes: [[Int]]) -> [Int]? {
        let rank = shapes.map(\.count).max() ?? 0
        var out = [Int](repeating: 1, count: rank)
        for s in shapes {
            let off = rank - s.count
            for (i, d) in s.enumerated() {
                let o = out[off + i]
                if o == 1 { out[off + i] = d } else if d != 1 && d != o { return nil }
            }
        }
        return out
    }

    /// Strides for reading `shape` as if broadcast to `outShape` (0 along broadcast dimensions).
    public static func broadcastStrides(_ shape: [Int], to outShape: [Int]) -> [Int] {
        let s = strides(shape)
        let off = outShape.count - shape.count
        return (0..<outShape.count).map { i in
            i < off || shape[i - off] == 1 ? 0 : s[i - off]
        }
    }

    /// Merges adjacent dimensions where every operand steps uniformly across both, so the
    /// innermost loop runs as long as possible.
    public static func coalesce(_ shape: [Int], _ operandStrides: [[Int]]) -> (shape: [Int], strides: [[Int]]) {
        guard !shape.isEmpty else { return ([1], operandStrides.map { _ in [0] }) }
        var dims = [shape[0]]
        var st = operandStrides.map { [$0[0]] }
        for i in 1..<shape.count {
            let d = shape[i]
            if d == 1 { continue }
            let last = dims.count - 1
            let mergeable = dims[last] == 1 || operandStrides.indices.allSatisfy { st[$0][last] == operandStrides[$0][i] * d }
            if mergeable {
                if dims[last] == 1 {
                    dims[last] = d
                    for k in st.indices { st[k][last] = operandStrides[k][i] }
                } else {
                    dims[last] *= d
                    for k in st.indices { st[k][last] = operandStrides[k][i] }
                }
            } else {
                dims.append(d)
                for k in st.indices { st[k].append(operandStrides[k][i]) }
            }
        }
        return (dims, st)
    }

    /// Calls `body(outOffset, operandOffsets, innerCount, innerStrides)` for each innermost row of
    /// a broadcast iteration over `outShape`.
    public static func forEachRow(outShape: [Int], operandShapes: [[Int]],
                           _ body: (Int, [Int], Int, [Int]) -> Void) {
        let total = outShape.reduce(1, *)
        guard total > 0 else { return }
        let (dims, st) = coalesce(outShape, operandShapes.map { broadcastStrides($0, to: outShape) })
        let rank = dims.count
        let inner = dims[rank - 1]
        let innerStrides = st.map { $0[rank - 1] }
        var counter = [Int](repeating: 0, count: rank)
        var offsets = [Int](repeating: 0, count: st.count)
        var out = 0
        while out < total {
            body(out, offsets, inner, innerStrides)
            out += inner
            // Advance the outer counters (all dimensions but the innermost).
            var d = rank - 2
            while d >= 0 {
                counter[d] += 1
                for k in offsets.indices { offsets[k] += st[k][d] }
                if counter[d] < dims[d] { break }
                for k in offsets.indices { offsets[k] -= st[k][d] * dims[d] }
                counter[d] = 0
                d -= 1
            }
        }
    }

    /// An axis in `[-rank, rank)` as a non-negative index, or nil when out of range.
    public static func axis(_ a: Int, rank: Int) -> Int? {
        let r = a < 0 ? a + rank : a
        return r >= 0 && r < rank ? r : nil
    }

    /// Transposes a row-major `rows×cols` matrix.
    @inlinable
    public static func transpose2D<T>(_ x: [T], rows: Int, cols: Int) -> [T] {
        guard rows > 1, cols > 1 else { return x }
        return [T](unsafeUninitializedCapacity: x.count) { out, n in
            x.withUnsafeBufferPointer { src in
                let block = 32
                var r0 = 0
                while r0 < rows {
                    var c0 = 0
                    while c0 < cols {
                        for r in r0..<min(rows, r0 + block) {
                            for c in c0..<min(cols, c0 + block) {
                                (out.baseAddress! + c * rows + r).initialize(to: src[r * cols + c])
                            }
                        }
                        c0 += block
                    }
                    r0 += block
                }
            }
            n = x.count
        }
    }

    /// Permutes the axes of a row-major array: output axis `i` is input axis `perm[i]`.
    @inlinable
    public static func permute<T>(_ x: [T], shape: [Int], perm: [Int]) -> [T] {
        let rank = shape.count
        if perm == Array(0..<rank) { return x }
        let outShape = perm.map { shape[$0] }
        // Drop unit dimensions first: they do not move data and often reduce a permute to a 2-D transpose.
        let kept = perm.filter { shape[$0] != 1 }
        let keptSorted = kept.sorted()
        if kept == keptSorted { return x }
        if kept.count == 2 { return transpose2D(x, rows: shape[keptSorted[0]], cols: shape[keptSorted[1]]) }
        let inStrides = strides(shape)
        let st = perm.map { inStrides[$0] }
        var result = [T]()
        result.reserveCapacity(x.count)
        x.withUnsafeBufferPointer { src in
            var counter = [Int](repeating: 0, count: rank)
            var offset = 0
            let inner = outShape.last ?? 1
            let innerStride = st.last ?? 1
            let total = x.count
            var produced = 0
            while produced < total {
                var o = offset
                for _ in 0..<inner {
                    result.append(src[o])
                    o += innerStride
                }
                produced += inner
                var d = rank - 2
                while d >= 0 {
                    counter[d] += 1
                    offset += st[d]
                    if counter[d] < outShape[d] { break }
                    offset -= st[d] * outShape[d]
                    counter[d] = 0
                    d -= 1
                }
            }
        }
        return result
    }
}
