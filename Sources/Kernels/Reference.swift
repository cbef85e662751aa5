import Tensor

/// Plain, obviously-correct implementations of every op, used as the oracle in tests.
///
/// Each function mirrors an optimized op's semantics with direct loops over the definition: no
/// packing, no threads, no vector code. They are slow by design.
public enum Reference {}

extension Reference {
    /// Direct convolution by its definition. Weights (out, in/groups, kh, kw).
    /// - Throws: ``KernelError`` on inconsistent shapes.
    public static func conv2d(_ input: Tensor, weights: Tensor, bias: Tensor?, parameters p: ConvolutionParameters,
                              activation: Activation = .none) throws -> Tensor {
        try p.validate(op: "Reference.conv2d")
        let x = input.toArray(), w = weights.toArray(), b = bias?.toArray()
        let (n, c, h, wd) = (input.shape.n, input.shape.c, input.shape.h, input.shape.w)
        guard c == p.inputChannels else { throw KernelError(.shapeMismatch, "Reference.conv2d: input \(input.shape)") }
        let (oh, ow) = p.convolutionOutputSize(height: h, width: wd)
        let icg = p.inputChannelsPerGroup, ocg = p.outputChannelsPerGroup
        var out = [Float](repeating: 0, count: n * p.outputChannels * oh * ow)
        for b0 in 0..<n {
            for o in 0..<p.outputChannels {
                let g = o / ocg
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var s: Double = 0
                        for i in 0..<icg {
                            let ci = g * icg + i
                            for ky in 0..<p.kernelHeight {
                                let iy = oy * p.strideY - p.padding.top + ky * p.dilationY
                                if iy < 0 || iy >= h { continue }
                                for kx in 0..<p.kernelWidth {
                                    let ix = ox * p.strideX - p.padding.left + kx * p.dilationX
                                    if ix < 0 || ix >= wd { continue }
                                    let wv = w[((o * icg + i) * p.kernelHeight + ky) * p.kernelWidth + kx]
                                    s += Double(wv) * Double(x[((b0 * c + ci) * h + iy) * wd + ix])
                                }
                            }
                        }
                        let v = Float(s) + (b?[o] ?? 0)
                        out[((b0 * p.outputChannels + o) * oh + oy) * ow + ox] = activation.apply(v, channel: o)
                    }
                }
            }
        }
        return Tensor(shape: Shape(n: n, c: p.outputChannels, h: oh, w: ow), values: out)
    }

    /// Transposed convolution by its definition (each input pixel scatters its kernel-weighted
    /// value). Weights laid out (out, in/groups, kh, kw) as ncnn's Deconvolution stores them;
    /// `padding` crops the full output, `outputPadding` adds rows/columns at the bottom/right.
    /// - Throws: ``KernelError`` on inconsistent shapes.
    public static func deconv2d(_ input: Tensor, weights: Tensor, bias: Tensor?, parameters p: ConvolutionParameters,
                                outputPadding: (Int, Int) = (0, 0), activation: Activation = .none) throws -> Tensor {
        try p.validate(op: "Reference.deconv2d")
        let x = input.toArray(), w = weights.toArray(), b = bias?.toArray()
        let (n, c, h, wd) = (input.shape.n, input.shape.c, input.shape.h, input.shape.w)
        guard c == p.inputChannels else { throw KernelError(.shapeMismatch, "Reference.deconv2d: input \(input.shape)") }
        let base = p.deconvolutionOutputSize(height: h, width: wd)
        let oh = base.height + outputPadding.0, ow = base.width + outputPadding.1
        let icg = p.inputChannelsPerGroup, ocg = p.outputChannelsPerGroup
        var acc = [Double](repeating: 0, count: n * p.outputChannels * oh * ow)
        for b0 in 0..<n {
            for ci in 0..<c {
                let g = ci / icg, i = ci % icg
                for iy in 0..<h {
                    for ix in 0..<wd {
                        let xv = Double(x[((b0 * c + ci) * h + iy) * wd + ix])
                        for oo in 0..<ocg {
                            let o = g * ocg + oo
                            for ky in 0..<p.kernelHeight {
                                let oy = iy * p.strideY + ky * p.dilationY - p.padding.top
                                if oy < 0 || oy >= oh { continue }
                                for kx in 0..<p.kernelWidth {
                                    let ox = ix * p.strideX + kx * p.dilationX - p.padding.left
                                    if ox < 0 || ox >= ow { continue }
                                    let wv = w[((o * icg + i) * p.kernelHeight + ky) * p.kernelWidth + kx]
                                    acc[((b0 * p.outputChannels + o) * oh + oy) * ow + ox] += Double(wv) * xv
                                }
                            }
                        }
                    }
                }
            }
        }
        var out = [Float](repeating: 0, count: acc.count)
        for i in 0..<acc.count {
            let o = (i / (oh * ow)) % p.outputChannels
            out[i] = activation.apply(Float(acc[i]) + (b?[o] ?? 0), channel: o)
        }
        return Tensor(shape: Shape(n: n, c: p.outputChannels, h: oh, w: ow), values: out)
    }
}
