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
            let tx = Self.cubicTaps(inSize: iw, outSize: ow), ty = Self.cubicTaps(inSize: ih, outSize: oh)
            parallel.run(planes) { p in
                let src = input.advanced(by: p * ih * iw), dst = output.advanced(by: p * oh * ow)
                var rows = [Float](repeating: 0, count: 4 * ow)
                for y in 0..<oh {
                    let (yi, wy) = ty[y]
                    // Horizontal pass for the four source rows, then the vertical combination,
                    // in the same order of operations as ncnn.
                    for k in 0..<4 {
                        let srow = src + yi[k] * iw
                        for x in 0..<ow {
                            let (xi, wx) = tx[x]
                            rows[k * ow + x] = srow[xi[0]] * wx[0] + srow[xi[1]] * wx[1] + srow[xi[2]] * wx[2] + srow[xi[3]] * wx[3]
                        }
                    }
                    for x in 0..<ow {
                        dst[y * ow + x] = rows[x] * wy[0] + rows[ow + x] * wy[1] + rows[2 * ow + x] * wy[2] + rows[3 * ow + x] * wy[3]
                    }
                }
            }
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

    /// Four source indices (clamped) and weights per destination index.
    static func cubicTaps(inSize: Int, outSize: Int) -> [([Int], [Float])] {
        let scale = Double(inSize) / Double(outSize)
        return (0..<outSize).map { d in
            var f = Float((Double(d) + 0.5) * scale - 0.5)
            let s = Int(f.rounded(.down))
            f -= Float(s)
            let a: Float = -0.75
            let x0 = 1 + f, x1 = f, x2 = 1 - f
            var w = [Float](repeating: 0, count: 4)
            w[0] = ((a * (x0 - 5) * x0 + 8 * a) * x0 - 4 * a)
            w[1] = ((a + 2) * x1 - (a + 3)) * x1 * x1 + 1
            w[2] = ((a + 2) * x2 - (a + 3)) * x2 * x2 + 1
            w[3] = 1 - w[0] - w[1] - w[2]
            let idx = (0..<4).map { min(max(s - 1 + $0, 0), inSize - 1) }
            return (idx, w)
        }
    }
}
