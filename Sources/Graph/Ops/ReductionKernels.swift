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
            for y in 0..<oh {
                for x in 0..<ow {
                    var acc: Float = p.kind == .max ? -.infinity : 0
                    for ky in 0..<p.kernel.h {
                        let sy = y * p.stride.h - p.padding.top + ky
                        if sy < 0 || sy >= ih { continue }
                        for kx in 0..<p.kernel.w {
                            let sx = x * p.stride.w - p.padding.left + kx
                            if sx < 0 || sx >= iw { continue }
                            let v = src[sy * iw + sx]
                            if p.kind == .max { acc = max(acc, v) } else { acc += v }
                        }
                    }
                    // Average over the full window (padding counted), as ncnn does by default.
                    dst[y * ow + x] = p.kind == .max ? acc : acc / Float(p.kernel.h * p.kernel.w)
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
