import CKernels
import Tensor

/// A stride-1, dilation-1, single-group convolution as one accumulating SGEMM per kernel tap on
/// a zero-padded copy of the input, for small feature maps (see ``GEMMConvolution`` for why not
/// Winograd there).
///
/// In the padded image (row width `Wp`), output pixel `(y, x)` of tap `(ky, kx)` reads channel
/// plane offset `y*Wp + x + ky*Wp + kx`: over the columns `j = y*Wp + x` every tap's operand is
/// the padded planes themselves, shifted, with row stride the plane size. So no im2col matrix is
/// built (it would be `kh*kw` times the input); the products land in a `Wp`-wide buffer whose
/// columns past the output width are discarded when rows are copied out.
public struct TapConvolution: Sendable {
    /// The layer's geometry.
    public let parameters: ConvolutionParameters
    /// Per tap `(ky, kx)`, the `outputChannels x inputChannels` weights packed by `pg_sgemm_pack_a`.
    let packed: [Float]
    let tapStride: Int
    /// One value per output channel, or empty.
    let bias: [Float]

    /// Whether the geometry is one this path computes (one group, stride and dilation 1).
    public static func accepts(_ p: ConvolutionParameters) -> Bool {
        p.groups == 1 && p.strideY == 1 && p.strideX == 1 && p.dilationY == 1 && p.dilationX == 1
    }

    /// Packs `(outputChannels, inputChannels, kh, kw)` weights per tap.
    /// - Throws: ``KernelError`` when ``accepts(_:)`` refuses the geometry or the counts do not fit.
    public init(weights: [Float], bias: [Float]?, parameters p: ConvolutionParameters) throws {
        let ic = p.inputChannels, oc = p.outputChannels, taps = p.kernelHeight * p.kernelWidth
        guard Self.accepts(p), ic > 0, oc > 0, taps > 0, weights.count == oc * ic * taps,
              bias.map({ $0.count == oc }) ?? true else {
            throw KernelError(.invalidParameter, "TapConvolution: \(weights.count) weights, \(bias?.count ?? 0) biases for \(p)")
        }
        parameters = p
        let stride = pg_sgemm_packed_size(Int32(oc), Int32(ic))
        tapStride = stride
        var packed = [Float](repeating: 0, count: stride * taps)
        var tap = [Float](repeating: 0, count: oc * ic)
        for t in 0..<taps {
            for o in 0..<oc {
                for c in 0..<ic { tap[o * ic + c] = weights[(o * ic + c) * taps + t] }
            }
            tap.withUnsafeBufferPointer { w in
                packed.withUnsafeMutableBufferPointer {
                    pg_sgemm_pack_a(w.baseAddress!, ic, Int32(oc), Int32(ic), $0.baseAddress! + t * stride)
                }
            }
        }
        self.packed = packed
        self.bias = bias ?? []
    }

    /// The `(outputChannels, inputChannels, kh, kw)` weights the layer was made from, recovered
    /// exactly from the per-tap panels (a caller keeps no unpacked copy of its own).
    public var weights: [Float] {
        let ic = parameters.inputChannels, oc = parameters.outputChannels, taps = parameters.kernelHeight * parameters.kernelWidth
        var out = [Float](repeating: 0, count: oc * ic * taps)
        var tap = [Float](repeating: 0, count: oc * ic)
        for t in 0..<taps {
            packed.withUnsafeBufferPointer { src in
                tap.withUnsafeMutableBufferPointer {
                    pg_sgemm_unpack_a(src.baseAddress! + t * tapStride, Int32(oc), Int32(ic), $0.baseAddress!, ic)
                }
            }
            for o in 0..<oc {
                for c in 0..<ic { out[(o * ic + c) * taps + t] = tap[o * ic + c] }
            }
        }
        return out
    }

    /// Bytes held by the packed weights and the bias.
    public var weightBytes: Int { (packed.count + bias.count) * MemoryLayout<Float>.size }

    /// Convolves NCHW `input` into `output` (shaped as the geometry says).
    /// - Parameter accumulate: add to `output`'s contents (a fused residual) instead of overwriting them.
    /// - Throws: ``KernelError`` when the shapes do not fit the geometry.
    public func callAsFunction(_ input: Tensor, into output: Tensor, accumulate: Bool = false, pool: ComputePool) throws {
        try checkF32(input, output, op: "TapConvolution")
        let (n, c, h, w) = input.nchw
        let (oh, ow) = parameters.convolutionOutputSize(height: h, width: w)
        guard c == parameters.inputChannels, oh > 0, ow > 0, output.nchw == (n, parameters.outputChannels, oh, ow) else {
            throw KernelError(.shapeMismatch, "TapConvolution: \(input.shape) -> \(output.shape) for \(parameters)")
        }
        for img in 0..<n {
            run(input.floatPointer + img * c * h * w, height: h, width: w,
                output.floatPointer + img * parameters.outputChannels * oh * ow, accumulate: accumulate, pool: pool)
        }
    }

    /// Convolves one image `(inputChannels, h, w)` into `dst` `(outputChannels, oh, ow)`
    /// (`oh = h + pads.top + pads.bottom - kh + 1`, likewise `ow`).
    /// - Parameter accumulate: add to `dst` instead of overwriting it.
    public func run(_ src: UnsafePointer<Float>, height h: Int, width w: Int, _ dst: UnsafeMutablePointer<Float>,
                    accumulate: Bool, pool: ComputePool) {
        let kernelHeight = parameters.kernelHeight, kernelWidth = parameters.kernelWidth
        let pads = (parameters.padding.top, parameters.padding.left, parameters.padding.bottom, parameters.padding.right)
        let hp = h + pads.0 + pads.2, wp = w + pads.1 + pads.3
        let oh = hp - kernelHeight + 1, ow = wp - kernelWidth + 1
        guard oh > 0, ow > 0 else { return }
        // The last tap of the last column reads kw - 1 floats past the padded plane.
        let plane = (hp * wp + kernelWidth + 15) / 16 * 16
        let m = parameters.outputChannels, n = oh * wp, ic = parameters.inputChannels
        let split = GEMMSplit(m: m, n: n, flops: m * ic * kernelHeight * kernelWidth * n, pool: pool)
        let parts = split.parts
        let padded = ic * plane
        let tapStride = tapStride
        pool.withWorkspace(bytes: 4 * (padded * parts + m * n)) { raw in
            let scratch = raw.assumingMemoryBound(to: Float.self)
            let product = scratch + padded * parts
            packed.withUnsafeBufferPointer { pa in
                bias.withUnsafeBufferPointer { pb in
                    // An empty array may still hand out a non-nil address: no bias means nil.
                    let a = pa.baseAddress!, bias = pb.isEmpty ? nil : pb.baseAddress
                    // One pass on the pool: each thread makes its own padded copy (small next to
                    // its share of the product; no second wait for the slowest thread), runs its
                    // columns (or output-channel panels) through every tap, then copies its part
                    // out without the padding columns.
                    pool.run(parts: parts) { ith, nth in
                        let (m0, rows, n0, nw) = split.share(ith, nth)
                        guard nw > 0, rows > 0 else { return }
                        let input = scratch + ith * padded
                        for c in 0..<ic {
                            let p = input + c * plane, s = src + c * h * w
                            p.update(repeating: 0, count: pads.0 * wp)
                            for y in 0..<h {
                                let row = p + (y + pads.0) * wp
                                row.update(repeating: 0, count: pads.1)
                                (row + pads.1).update(from: s + y * w, count: w)
                                (row + pads.1 + w).update(repeating: 0, count: pads.3)
                            }
                            (p + (h + pads.0) * wp).update(repeating: 0, count: plane - (h + pads.0) * wp)
                        }
                        let taps = kernelHeight * kernelWidth
                        for t in 0..<taps {
                            let offset = (t / kernelWidth) * wp + t % kernelWidth
                            pg_sgemm_packed(Int32(rows), Int32(nw), Int32(ic), a + t * tapStride + m0 * ic,
                                            input + offset + n0, plane, product + m0 * n + n0, n,
                                            t == taps - 1 ? bias.map { $0 + m0 } : nil, nil, t == 0 ? 0 : 1)
                        }
                        // Copy out columns [n0, n0 + nw) of rows [m0, m0 + rows).
                        for o in m0..<(m0 + rows) {
                            let from = product + o * n, to = dst + o * oh * ow
                            var j = n0
                            while j < n0 + nw {
                                let y = j / wp, x = j % wp
                                let end = min(n0 + nw, (y + 1) * wp)
                                let count = min(end - j, max(0, ow - x))
                                if count > 0 {
                                    let d = to + y * ow + x, s = from + j
                                    if accumulate {
                                        for i in 0..<count { d[i] += s[i] }
                                    } else {
                                        d.update(from: s, count: count)
                                    }
                                }
                                j = end
                            }
                        }
                    }
                }
            }
        }
    }
}
