import Tensor

/// Transposed convolution by scattering each input row into the output rows it touches.
/// Work is split by output channel, so workers never write the same element.
struct DirectDeconvolution: Sendable {
    let deconv: Deconvolution

    func run(input: FloatPointer, inShape: Shape, output: FloatPointer, outShape: Shape, parallel: Parallel) {
        let d = deconv
        let (ih, iw, oh, ow) = (inShape.h, inShape.w, outShape.h, outShape.w)
        let (oc, ic, kh, kw) = (d.outChannels, d.inChannels, d.kernel.h, d.kernel.w)
        d.weights.withUnsafeBufferPointer { wbuf in
            let weights = FloatPointer(wbuf.baseAddress!)
            for n in 0..<outShape.n {
                let inBase = n * ic * ih * iw, outBase = n * oc * oh * ow
                parallel.run(oc) { o in
                    let plane = output.advanced(by: outBase + o * oh * ow)
                    let bias = d.bias.isEmpty ? 0 : d.bias[o]
                    for i in 0..<oh * ow { plane[i] = bias }
                    for i in 0..<ic {
                        for y in 0..<ih {
                            let irow = input.advanced(by: inBase + (i * ih + y) * iw)
                            for ky in 0..<kh {
                                let oy = y * d.stride.h + ky * d.dilation.h - d.padding.top
                                if oy < 0 || oy >= oh { continue }
                                let orow = plane + oy * ow
                                for kx in 0..<kw {
                                    let wv = weights[((o * ic + i) * kh + ky) * kw + kx]
                                    let ox0 = kx * d.dilation.w - d.padding.left
                                    let sw = d.stride.w
                                    let xs = ox0 >= 0 ? 0 : (-ox0 + sw - 1) / sw
                                    let last = ow - 1 - ox0
                                    let xe = last < 0 ? 0 : min(iw, last / sw + 1)
                                    if xs >= xe { continue }
                                    for x in xs..<xe { orow[x * sw + ox0] += wv * irow[x] }
                                }
                            }
                        }
                    }
                    for y in 0..<oh {
                        Epilogue(activation: d.activation, residual: nil).apply(plane + y * ow, count: ow, channel: o, residual: nil)
                    }
                }
            }
        }
    }
}
