import Kernels
import Tensor

/// Pooling and fully connected layers.
enum ReductionKernels {
    static func pooling(_ p: Pooling, input: FloatPointer, inShape: Shape, output: FloatPointer, outShape: Shape, parallel: Parallel) {
        let (ih, iw, oh, ow) = (inShape.h, inShape.w, outShape.h, outShape.w)
        parallel.run(inShape.n * inShape.c) { t in
            let src = input.advanced(by: t * ih * iw), dst = output.advanced(by: t * oh * ow)
            if p.global {
                if p.kind == .average {
                    var sum: Float = 0
                    for i in 0..<ih * iw { sum += src[i] }
                    dst[0] = sum / Float(ih * iw)
                } else {
                    var m = -Float.infinity
                    for i in 0..<ih * iw { m = max(m, src[i]) }
                    dst[0] = m
                }
                return
            }
            // Windows are clamped to the plane once per row/column, so the inner loops carry no
            // bounds tests and no per-element kind test; the average divides by the full window
            // (padding counted), as ncnn does by default.
            let (kh, kw, sh, sw) = (p.kernel.h, p.kernel.w, p.stride.h, p.stride.w)
            let (top, left) = (p.padding.top, p.padding.left)
            let isMax = p.kind == .max
            let area = Float(kh * kw)
            for y in 0..<oh {
                let y0 = max(y * sh - top, 0), y1 = min(y * sh - top + kh, ih)
                let row = dst.advanced(by: y * ow)
                if kh == 2, kw == 2, sh == 2, sw == 2, top == 0, left == 0, y1 - y0 == 2, 2 * ow <= iw {
                    // The downsampling pool of UNets: two source rows, pairs of columns.
                    let r0 = src.advanced(by: y0 * iw), r1 = r0.advanced(by: iw)
                    if isMax {
                        for x in 0..<ow { row[x] = max(max(r0[2 * x], r0[2 * x + 1]), max(r1[2 * x], r1[2 * x + 1])) }
                    } else {
                        for x in 0..<ow { row[x] = (r0[2 * x] + r0[2 * x + 1] + r1[2 * x] + r1[2 * x + 1]) / 4 }
                    }
                    continue
                }
                for x in 0..<ow {
                    let x0 = max(x * sw - left, 0), x1 = min(x * sw - left + kw, iw)
                    if isMax {
                        var acc = -Float.infinity
                        for sy in y0..<max(y0, y1) { let r = src.advanced(by: sy * iw); for sx in x0..<max(x0, x1) { acc = max(acc, r[sx]) } }
                        row[x] = acc
                    } else {
                        var acc: Float = 0
                        for sy in y0..<max(y0, y1) { let r = src.advanced(by: sy * iw); for sx in x0..<max(x0, x1) { acc += r[sx] } }
                        row[x] = acc / area
                    }
                }
            }
        }
    }

    static func innerProduct(_ ip: FullyConnected, input: FloatPointer, output: FloatPointer, batch: Int) {
        ip.weights.withUnsafeBufferPointer { w in
            for n in 0..<batch {
                let x = input.advanced(by: n * ip.inFeatures)
                for o in 0..<ip.outFeatures {
                    var acc: Float = ip.bias.isEmpty ? 0 : ip.bias[o]
                    let row = w.baseAddress! + o * ip.inFeatures
                    for i in 0..<ip.inFeatures { acc += row[i] * x[i] }
                    output[n * ip.outFeatures + o] = ip.activation.apply(acc, channel: o)
                }
            }
        }
    }
}
