/// Resize over the last two axes (nearest, linear, cubic) as separable per-axis taps.
enum ONNXResize {
    /// One output position's source indices and weights along an axis.
    typealias Taps = [(index: Int, weight: Float)]

    /// The output extents: from `sizes`, or `floor(in * scale)`.
    static func outputShape(_ input: [Int], scales: [Float]?, sizes: [Int]?) throws -> [Int] {
        if let sizes, !sizes.isEmpty {
            guard sizes.count == input.count, sizes.allSatisfy({ $0 >= 0 && $0 < 1 << 31 }) else {
                throw ONNXRuntimeError("sizes \(sizes) for rank \(input.count)")
            }
            return sizes
        }
        guard let scales, scales.count == input.count,
              zip(input, scales).allSatisfy({ $1.isFinite && $1 > 0 && Float($0) * $1 < Float(1 << 31) }) else {
            throw ONNXRuntimeError("scales \(scales ?? []) for input \(input)")
        }
        return zip(input, scales).map { Int((Float($0) * $1).rounded(.down)) }
    }

    static func resize(_ x: ONNXTensor, scales: [Float]?, sizes: [Int]?, _ r: ResizeAttributes) throws -> ONNXTensor {
        let rank = x.shape.count
        let outShape = try outputShape(x.shape, scales: scales, sizes: sizes)
        guard rank >= 2 else { throw ONNXRuntimeError("Resize of rank \(rank)") }
        for i in 0..<(rank - 2) where outShape[i] != x.shape[i] {
            throw ONNXRuntimeError("only the last two axes may be resized (\(x.shape) to \(outShape))")
        }
        func scale(_ axis: Int) -> Float {
            if let scales, !scales.isEmpty, sizes == nil || sizes!.isEmpty { return scales[axis] }
            return Float(outShape[axis]) / Float(x.shape[axis])
        }
        let ty = taps(inSize: x.shape[rank - 2], outSize: outShape[rank - 2], scale: scale(rank - 2), r)
        let tx = taps(inSize: x.shape[rank - 1], outSize: outShape[rank - 1], scale: scale(rank - 1), r)
        let planes = x.shape.dropLast(2).reduce(1, *)
        let ih = x.shape[rank - 2], iw = x.shape[rank - 1], oh = outShape[rank - 2], ow = outShape[rank - 1]
        let xv = x.floats
        // Nearest-neighbour (every output reads one source value with weight 1): a gather per
        // row, rows repeated by copying.
        if planes * oh * ow > 0, ty.allSatisfy({ $0.count == 1 && $0[0].1 == 1 }) && tx.allSatisfy({ $0.count == 1 && $0[0].1 == 1 }) {
            let sy = ty.map { $0[0].0 }, sx = tx.map { $0[0].0 }
            var out = [Float](unsafeUninitializedCapacity: planes * oh * ow) { _, k in k = planes * oh * ow }
            xv.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    sx.withUnsafeBufferPointer { columns in
                        for p in 0..<planes {
                            let s = src.baseAddress! + p * ih * iw, d = dst.baseAddress! + p * oh * ow
                            for y in 0..<oh {
                                let row = d + y * ow
                                if y > 0 && sy[y] == sy[y - 1] {
                                    row.update(from: row - ow, count: ow)
                                    continue
                                }
                                let srow = s + sy[y] * iw
                                for x in 0..<ow { row[x] = srow[columns[x]] }
                            }
                        }
                    }
                }
            }
            return ONNXTensor(shape: outShape, floats: out, type: x.elementType)
        }
        var out = [Float](repeating: 0, count: planes * oh * ow)
        xv.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for p in 0..<planes {
                    let s = src.baseAddress! + p * ih * iw
                    let d = dst.baseAddress! + p * oh * ow
                    for y in 0..<oh {
                        for x in 0..<ow {
                            var acc: Float = 0
                            for (iy, wy) in ty[y] {
                                var row: Float = 0
                                for (ix, wx) in tx[x] { row += wx * s[iy * iw + ix] }
                                acc += wy * row
                            }
                            d[y * ow + x] = acc
                        }
                    }
                }
            }
        }
        return ONNXTensor(shape: outShape, floats: out, type: x.elementType)
    }

    /// Source coordinate of output position `x` under the coordinate transformation mode.
    static func sourceCoordinate(_ x: Int, inSize: Int, outSize: Int, scale: Float, _ mode: String) -> Float {
        let xf = Float(x)
        switch mode {
        case "asymmetric": return xf / scale
        case "align_corners": return outSize == 1 ? 0 : xf * Float(inSize - 1) / Float(outSize - 1)
        case "pytorch_half_pixel": return outSize > 1 ? (xf + 0.5) / scale - 0.5 : 0
        default: return (xf + 0.5) / scale - 0.5
        }
    }

    static func taps(inSize: Int, outSize: Int, scale: Float, _ r: ResizeAttributes) -> [Taps] {
        (0..<outSize).map { o in
            let raw = sourceCoordinate(o, inSize: inSize, outSize: outSize, scale: scale, r.coordinateMode)
            // Degenerate scales map far outside the image; every index is clamped anyway.
            let c = raw.isNaN ? 0 : min(max(raw, -1e9), 1e9)
            let clampIndex = { (i: Int) in min(max(i, 0), inSize - 1) }
            switch r.mode {
            case "nearest":
                let i: Int
                switch r.nearestMode {
                case "floor": i = Int(c.rounded(.down))
                case "ceil": i = Int(c.rounded(.up))
                case "round_prefer_ceil": i = Int((c + 0.5).rounded(.down))
                default: i = c - c.rounded(.down) == 0.5 ? Int(c.rounded(.down)) : Int(c.rounded())
                }
                return [(clampIndex(i), 1)]
            case "linear", "bilinear":
                let cc = min(max(c, 0), Float(inSize - 1))
                let i0 = Int(cc.rounded(.down)), t = cc - Float(i0)
                return [(i0, 1 - t), (clampIndex(i0 + 1), t)]
            default:
                let i0 = Int(c.rounded(.down)), t = c - Float(i0), a = r.cubicA
                let d = [t + 1, t, 1 - t, 2 - t]
                var w = d.map { s -> Float in
                    s <= 1 ? ((a + 2) * s - (a + 3)) * s * s + 1 : ((a * s - 5 * a) * s + 8 * a) * s - 4 * a
                }
                let idx = [i0 - 1, i0, i0 + 1, i0 + 2]
                if r.excludeOutside {
                    for k in 0..<4 where idx[k] < 0 || idx[k] >= inSize { w[k] = 0 }
                    let sum = w.reduce(0, +)
                    if sum != 0 { w = w.map { $0 / sum } }
                }
                return (0..<4).map { (clampIndex(idx[$0]), w[$0]) }
            }
        }
    }
}
