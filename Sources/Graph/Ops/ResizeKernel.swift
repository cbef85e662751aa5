import Kernels
import Tensor

/// Nearest, bilinear and bicubic resizing with ncnn's `Interp` conventions: half-pixel centers,
/// source coordinate `(dst + 0.5) * in/out - 0.5`, bicubic A = -0.75, borders clamped.
struct ResizeKernel: Sendable {
    let resize: Resize

    func run(input: FloatPointer, inShape: Shape, output: FloatPointer, outShape: Shape, parallel: Parallel) {
        let (ih, iw, oh, ow) = (inShape.h, inShape.w, outShape.h, outShape.w)
        let planes = inShape.n * inShape.c
        switch resize.mode {
        case .nearest:
            // ncnn: sx = min(Int(dx * (1/scale)), w-1), scale as the float factor.
            let fy = 1 / resize.scaleH, fx = 1 / resize.scaleW
            let xs = (0..<ow).map { min(Int(Float($0) * fx), iw - 1) }
            parallel.run(planes) { p in
                let src = input.advanced(by: p * ih * iw), dst = output.advanced(by: p * oh * ow)
                for y in 0..<oh {
                    let srow = src + min(Int(Float(y) * fy), ih - 1) * iw
                    let drow = dst + y * ow
                    for x in 0..<ow { drow[x] = srow[xs[x]] }
                }
            }
        case .bilinear:
            let tx = Self.linearTaps(inSize: iw, outSize: ow), ty = Self.linearTaps(inSize: ih, outSize: oh)
            parallel.run(planes) { p in
                let src = input.advanced(by: p * ih * iw), dst = output.advanced(by: p * oh * ow)
                for y in 0..<oh {
                    let (y0, y1, wy) = ty[y]
                    let r0 = src + y0 * iw, r1 = src + y1 * iw
                    for x in 0..<ow {
                        let (x0, x1, wx) = tx[x]
                        let top = r0[x0] * (1 - wx) + r0[x1] * wx
                        let bottom = r1[x0] * (1 - wx) + r1[x1] * wx
                        dst[y * ow + x] = top * (1 - wy) + bottom * wy
                    }
                }
            }
        case .bicubic:
            let (xIndex, xWeight) = Self.cubicTaps(inSize: iw, outSize: ow)
            let (yIndex, yWeight) = Self.cubicTaps(inSize: ih, outSize: oh)
            xIndex.withUnsafeBufferPointer { xi in xWeight.withUnsafeBufferPointer { xw in
            yIndex.withUnsafeBufferPointer { yi in yWeight.withUnsafeBufferPointer { yw in
                let taps = CubicTaps(xi: xi.baseAddress!, xw: xw.baseAddress!, yi: yi.baseAddress!, yw: yw.baseAddress!)
                parallel.run(planes * oh) { task in
                    let p = task / oh, y = task % oh
                    let src = input.advanced(by: p * ih * iw), drow = output.advanced(by: (p * oh + y) * ow)
                    let r0 = src + taps.yi[4 * y] * iw, r1 = src + taps.yi[4 * y + 1] * iw
                    let r2 = src + taps.yi[4 * y + 2] * iw, r3 = src + taps.yi[4 * y + 3] * iw
                    let (w0, w1, w2, w3) = (taps.yw[4 * y], taps.yw[4 * y + 1], taps.yw[4 * y + 2], taps.yw[4 * y + 3])
                    for x in 0..<ow {
                        let k = 4 * x
                        let (a, b, c, d) = (taps.xi[k], taps.xi[k + 1], taps.xi[k + 2], taps.xi[k + 3])
                        let (u0, u1, u2, u3) = (taps.xw[k], taps.xw[k + 1], taps.xw[k + 2], taps.xw[k + 3])
                        // Horizontal pass on the four source rows, then the vertical combination.
                        let h0 = r0[a] * u0 + r0[b] * u1 + r0[c] * u2 + r0[d] * u3
                        let h1 = r1[a] * u0 + r1[b] * u1 + r1[c] * u2 + r1[d] * u3
                        let h2 = r2[a] * u0 + r2[b] * u1 + r2[c] * u2 + r2[d] * u3
                        let h3 = r3[a] * u0 + r3[b] * u1 + r3[c] * u2 + r3[d] * u3
                        drow[x] = h0 * w0 + h1 * w1 + h2 * w2 + h3 * w3
                    }
                }
            } }
            } }
        }
    }

    static func linearTaps(inSize: Int, outSize: Int) -> [(Int, Int, Float)] {
        let scale = Double(inSize) / Double(outSize)
        return (0..<outSize).map { d in
            var f = Float((Double(d) + 0.5) * scale - 0.5)
            var s = Int(f.rounded(.down))
            f -= Float(s)
            if s < 0 { s = 0; f = 0 }
            if s >= inSize - 1 { s = inSize - 1; f = 0 }
            return (s, min(s + 1, inSize - 1), f)
        }
    }

    /// Four source indices (clamped) and four weights per destination index, flattened.
    static func cubicTaps(inSize: Int, outSize: Int) -> ([Int], [Float]) {
        let scale = Double(inSize) / Double(outSize)
        var index = [Int](repeating: 0, count: 4 * outSize)
        var weight = [Float](repeating: 0, count: 4 * outSize)
        let a: Float = -0.75
        for d in 0..<outSize {
            var f = Float((Double(d) + 0.5) * scale - 0.5)
            let s = Int(f.rounded(.down))
            f -= Float(s)
            let x0 = 1 + f, x1 = f, x2 = 1 - f
            let w0 = ((a * (x0 - 5) * x0 + 8 * a) * x0 - 4 * a)
            let w1 = ((a + 2) * x1 - (a + 3)) * x1 * x1 + 1
            let w2 = ((a + 2) * x2 - (a + 3)) * x2 * x2 + 1
            weight[4 * d] = w0
            weight[4 * d + 1] = w1
            weight[4 * d + 2] = w2
            weight[4 * d + 3] = 1 - w0 - w1 - w2
            for k in 0..<4 { index[4 * d + k] = min(max(s - 1 + k, 0), inSize - 1) }
        }
        return (index, weight)
    }
}

/// Tap tables shared by the resize workers (read-only while they run).
private struct CubicTaps: @unchecked Sendable {
    let xi: UnsafePointer<Int>, xw: UnsafePointer<Float>, yi: UnsafePointer<Int>, yw: UnsafePointer<Float>
}
