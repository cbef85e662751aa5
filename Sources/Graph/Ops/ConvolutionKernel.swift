import Tensor

/// Direct convolution for any kernel size, stride, dilation and grouping, with the bias,
/// activation and residual epilogue. It serves the layers without a specialized kernel
/// (2x2 stride-2 downsampling, 1x1, grouped); 3x3 stride-1 layers go to the packed kernels.
struct DirectConvolution: Sendable {
    let conv: Convolution

    /// Computes `output` (shape `outShape`) from `input` (shape `inShape`).
    func run(input: FloatPointer, inShape: Shape, output: FloatPointer, outShape: Shape,
             residual: FloatPointer?, parallel: Parallel) {
        let c = conv
        let (ih, iw, oh, ow) = (inShape.h, inShape.w, outShape.h, outShape.w)
        let oc = c.outChannels, ic = c.inChannels
        let icPerGroup = ic / c.groups, ocPerGroup = oc / c.groups
        let (kh, kw) = (c.kernel.h, c.kernel.w)
        let rowBlocks = oc >= 2 * parallel.threads ? 1 : max(1, min(oh, 8))
        let rowsPerBlock = (oh + rowBlocks - 1) / rowBlocks
        c.weights.withUnsafeBufferPointer { wbuf in
            let weights = FloatPointer(wbuf.baseAddress!)
            for n in 0..<outShape.n {
                let inBase = n * ic * ih * iw, outBase = n * oc * oh * ow
                parallel.run(oc * rowBlocks) { task in
                    let o = task / rowBlocks, yb = task % rowBlocks
                    let g = o / ocPerGroup
                    let bias = c.bias.isEmpty ? 0 : c.bias[o]
                    let y0 = yb * rowsPerBlock, y1 = min(oh, y0 + rowsPerBlock)
                    guard y0 < y1 else { return }
                    for y in y0..<y1 {
                        let orow = output.advanced(by: outBase + (o * oh + y) * ow)
                        for x in 0..<ow { orow[x] = bias }
                        for j in 0..<icPerGroup {
                            let i = g * icPerGroup + j
                            for ky in 0..<kh {
                                let iy = y * c.stride.h - c.padding.top + ky * c.dilation.h
                                if iy < 0 || iy >= ih { continue }
                                let irow = input.advanced(by: inBase + (i * ih + iy) * iw)
                                for kx in 0..<kw {
                                    let wv = weights[((o * icPerGroup + j) * kh + ky) * kw + kx]
                                    let ix0 = kx * c.dilation.w - c.padding.left
                                    let sw = c.stride.w
                                    // x range with 0 <= x*sw + ix0 < iw.
                                    let xs = ix0 >= 0 ? 0 : (-ix0 + sw - 1) / sw
                                    let last = iw - 1 - ix0
                                    let xe = last < 0 ? 0 : min(ow, last / sw + 1)
                                    if xs >= xe { continue }
                                    if sw == 1 {
                                        let src = irow + ix0
                                        for x in xs..<xe { orow[x] += wv * src[x] }
                                    } else {
                                        for x in xs..<xe { orow[x] += wv * irow[x * sw + ix0] }
                                    }
                                }
                            }
                        }
                        Epilogue(activation: c.activation, residual: c.residual)
                            .apply(orow, count: ow, channel: o,
                                   residual: residual.map { $0.advanced(by: outBase + (o * oh + y) * ow) })
                    }
                }
            }
        }
    }
}

/// The element-wise tail of a layer: activation, then an optional scaled residual.
struct Epilogue {
    let activation: Activation
    let residual: Residual?

    @inline(__always)
    func apply(_ p: UnsafeMutablePointer<Float>, count: Int, channel: Int, residual r: UnsafeMutablePointer<Float>?) {
        switch activation {
        case .none: break
        case .relu: for x in 0..<count { p[x] = max(p[x], 0) }
        case .leakyReLU(let s): for x in 0..<count { let v = p[x]; p[x] = v < 0 ? v * s : v }
        case .prelu(let slopes):
            let s = slopes[slopes.count == 1 ? 0 : channel]
            for x in 0..<count { let v = p[x]; p[x] = v < 0 ? v * s : v }
        default: for x in 0..<count { p[x] = activation.apply(p[x], channel: channel) }
        }
        if let res = residual, let r {
            let a = res.scale, b = res.residualScale
            for x in 0..<count { p[x] = a * p[x] + b * r[x] }
        }
    }
}
