import CKernels
import Kernels

/// A stride-1, dilation-1, single-group convolution as one accumulating SGEMM per kernel tap on
/// a zero-padded copy of the input, for small feature maps (see ``ONNXConvGEMM`` for why not
/// Winograd there).
///
/// In the padded image (row width `Wp`), output pixel `(y, x)` of tap `(ky, kx)` reads channel
/// plane offset `y*Wp + x + ky*Wp + kx`: over the columns `j = y*Wp + x` every tap's operand is
/// the padded planes themselves, shifted, with row stride the plane size. So no im2col matrix is
/// built (it would be `kh*kw` times the input); the products land in a `Wp`-wide buffer whose
/// columns past the output width are discarded when rows are copied out.
struct ONNXConvTaps: Sendable {
    let inputChannels: Int
    let outputChannels: Int
    let kernelHeight: Int, kernelWidth: Int
    /// top, left, bottom, right.
    let pads: (Int, Int, Int, Int)
    /// Per tap `(ky, kx)`, the `outputChannels x inputChannels` weights packed by `pg_sgemm_pack_a`.
    let packed: [Float]
    let tapStride: Int
    /// One value per output channel, or empty.
    let bias: [Float]

    /// Whether the geometry is one this path computes.
    static func accepts(_ g: ONNXConv.Geometry) -> Bool {
        g.stride == (1, 1) && g.dilation == (1, 1)
    }

    /// Packs `(oc, ic, kh, kw)` weights per tap.
    init(weights: [Float], bias: [Float]?, inputChannels ic: Int, outputChannels oc: Int, geometry g: ONNXConv.Geometry) {
        precondition(Self.accepts(g), "ONNXConvTaps: stride and dilation must be 1")
        inputChannels = ic
        outputChannels = oc
        (kernelHeight, kernelWidth) = g.kernel
        pads = g.pads
        let taps = g.kernel.0 * g.kernel.1
        let stride = pg_sgemm_packed_size(Int32(oc), Int32(ic))
        tapStride = stride
        var p = [Float](repeating: 0, count: stride * taps)
        var tap = [Float](repeating: 0, count: oc * ic)
        for t in 0..<taps {
            for o in 0..<oc {
                for c in 0..<ic { tap[o * ic + c] = weights[(o * ic + c) * taps + t] }
            }
            tap.withUnsafeBufferPointer { w in
                p.withUnsafeMutableBufferPointer {
                    pg_sgemm_pack_a(w.baseAddress!, ic, Int32(oc), Int32(ic), $0.baseAddress! + t * stride)
                }
            }
        }
        packed = p
        self.bias = bias ?? []
    }

    /// Convolves one image `(inputChannels, h, w)` into `dst` `(outputChannels, oh, ow)`
    /// (`oh = h + pads.top + pads.bottom - kh + 1`, likewise `ow`).
    /// - Parameter accumulate: add to `dst` instead of overwriting it.
    func run(_ src: UnsafePointer<Float>, h: Int, w: Int, _ dst: UnsafeMutablePointer<Float>, oh: Int, ow: Int,
             accumulate: Bool, pool: ComputePool) {
        let hp = h + pads.0 + pads.2, wp = w + pads.1 + pads.3
        precondition(oh == hp - kernelHeight + 1 && ow == wp - kernelWidth + 1, "ONNXConvTaps: output \(oh)x\(ow)")
        // The last tap of the last column reads kw - 1 floats past the padded plane.
        let plane = (hp * wp + kernelWidth + 15) / 16 * 16
        let m = outputChannels, n = oh * wp, ic = inputChannels
        let split = ONNXGEMMSplit(m: m, n: n, flops: m * ic * kernelHeight * kernelWidth * n, pool: pool)
        let parts = split.parts
        let padded = ic * plane
        ONNXScratch.shared.with(floats: padded * parts + m * n) { scratch in
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
