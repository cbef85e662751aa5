import Kernels
import Tensor

/// Direct convolution for layers with few output channels (the 64 -> 3 image heads), where a
/// GEMM has almost no rows to amortize its im2col over: each input row segment is loaded once
/// and accumulated into every output channel's row, which stays in L1.
struct NarrowConvolution: Sendable {
    /// Output channels this kernel takes (more go to the packed GEMM/Winograd paths).
    static let maxOutputChannels = 7

    let conv: Convolution

    /// Whether `conv` suits this kernel.
    static func handles(_ conv: Convolution) -> Bool {
        conv.groups == 1 && conv.outChannels <= maxOutputChannels && conv.stride == (1, 1) && conv.dilation == (1, 1)
            && conv.inChannels >= 8
    }

    func run(input: FloatPointer, inShape: Shape, output: FloatPointer, outShape: Shape, residual: FloatPointer?,
             second: FloatPointer?, parallel: Parallel) {
        let c = conv
        let (ih, iw, oh, ow) = (inShape.h, inShape.w, outShape.h, outShape.w)
        let (oc, ic, kh, kw) = (c.outChannels, c.inChannels, c.kernel.h, c.kernel.w)
        let epilogue = Epilogue(activation: c.activation, residual: c.residual)
        let src = input.p, dst = output.p
        c.weights.withUnsafeBufferPointer { wbuf in
            let weights = FloatPointer(wbuf.baseAddress!)
            for n in 0..<outShape.n {
                let inBase = n * ic * ih * iw, outBase = n * oc * oh * ow
                parallel.run(oh) { y in
                    for o in 0..<oc {
                        let row = dst + outBase + (o * oh + y) * ow
                        let b: Float = c.bias.isEmpty ? 0 : c.bias[o]
                        for x in 0..<ow { row[x] = b }
                    }
                    for i in 0..<ic {
                        for ky in 0..<kh {
                            let iy = y - c.padding.top + ky
                            if iy < 0 || iy >= ih { continue }
                            let irow = src + inBase + (i * ih + iy) * iw
                            for kx in 0..<kw {
                                let shift = kx - c.padding.left
                                let xs = max(0, -shift), xe = min(ow, iw - shift)
                                if xs >= xe { continue }
                                let s = irow + shift
                                for o in 0..<oc {
                                    let wv = weights[((o * ic + i) * kh + ky) * kw + kx]
                                    let row = dst + outBase + (o * oh + y) * ow
                                    for x in xs..<xe { row[x] += wv * s[x] }
                                }
                            }
                        }
                    }
                    for o in 0..<oc {
                        let off = outBase + (o * oh + y) * ow
                        epilogue.apply(dst + off, count: ow, channel: o, residual: residual.map { $0.p + off },
                                       second: second.map { $0.p + off })
                    }
                }
            }
        }
    }
}
