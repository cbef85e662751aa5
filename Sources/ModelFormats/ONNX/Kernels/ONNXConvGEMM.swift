import CKernels
import Kernels

/// A single-group convolution as one SGEMM over the whole image: 1x1 stride-1 layers read the
/// input in place, other small-map layers that ``ONNXConvTaps`` does not take (strided,
/// dilated) are lowered by im2col first. Work is split over output-channel panels, or column
/// blocks on wide images.
///
/// Small feature maps (8x8 to 32x32) are where Winograd's 4x4 output tiles come in groups too few
/// and too narrow to fill the vector lanes and the threads: a 16x16 map has 16 tiles, one tile
/// row per unit. Here the whole map is one GEMM of `N = OH*OW` columns, so both threads get work
/// and no lane is idle. With `accumulate` the product is added to the output's contents: a
/// following residual `Add` is fused by filling the output with the other operand first.
struct ONNXConvGEMM: Sendable {
    let inputChannels: Int
    let outputChannels: Int
    let kernelHeight: Int, kernelWidth: Int
    let strideY: Int, strideX: Int
    let dilationY: Int, dilationX: Int
    let padTop: Int, padLeft: Int
    /// Weights as `pg_sgemm_pack_a` lays out the `outputChannels x (inputChannels*kh*kw)` matrix.
    let packed: [Float]
    /// One value per output channel, or empty.
    let bias: [Float]

    /// Packs `(oc, ic, kh, kw)` weights.
    init(weights: [Float], bias: [Float]?, inputChannels ic: Int, outputChannels oc: Int, geometry g: ONNXConv.Geometry) {
        inputChannels = ic
        outputChannels = oc
        (kernelHeight, kernelWidth) = g.kernel
        (strideY, strideX) = g.stride
        (dilationY, dilationX) = g.dilation
        (padTop, padLeft) = (g.pads.0, g.pads.1)
        let k = ic * g.kernel.0 * g.kernel.1
        var p = [Float](repeating: 0, count: pg_sgemm_packed_size(Int32(oc), Int32(k)))
        weights.withUnsafeBufferPointer { w in
            p.withUnsafeMutableBufferPointer { pg_sgemm_pack_a(w.baseAddress!, k, Int32(oc), Int32(k), $0.baseAddress!) }
        }
        packed = p
        self.bias = bias ?? []
    }

    /// Whether the layer reads its input in place (1x1, stride 1, no padding): no im2col.
    var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideY == 1 && strideX == 1 && padTop == 0 && padLeft == 0
    }

    /// Convolves one image `(inputChannels, h, w)` into `dst` `(outputChannels, oh, ow)`.
    /// - Parameter accumulate: add to `dst` instead of overwriting it.
    func run(_ src: UnsafePointer<Float>, h: Int, w: Int, _ dst: UnsafeMutablePointer<Float>, oh: Int, ow: Int,
             accumulate: Bool, pool: ComputePool) {
        let k = inputChannels * kernelHeight * kernelWidth, n = oh * ow, m = outputChannels
        // Split by columns, each thread lowers only its columns; by panels, each lowers the whole
        // image, which is cheap next to its share of the product.
        let split = ONNXGEMMSplit(m: m, n: n, flops: m * k * n, pool: pool)
        let parts = split.parts
        let perThread = isPointwise ? 0 : k * (split.byColumns ? split.columnsPerPart : n)
        ONNXScratch.shared.with(floats: perThread * parts) { scratch in
            packed.withUnsafeBufferPointer { pa in
                bias.withUnsafeBufferPointer { pb in
                    // An empty array may still hand out a non-nil address: no bias means nil.
                    let a = pa.baseAddress!, bias = pb.isEmpty ? nil : pb.baseAddress
                    pool.run(parts: parts) { ith, nth in
                        let col = scratch + ith * perThread
                        let (m0, rows, n0, nw) = split.share(ith, nth)
                        guard nw > 0, rows > 0 else { return }
                        let b: UnsafePointer<Float>, ldb: Int
                        if isPointwise {
                            b = src + n0
                            ldb = n
                        } else {
                            pg_im2col(src, Int32(inputChannels), Int32(h), Int32(w), Int32(kernelHeight), Int32(kernelWidth),
                                      Int32(strideY), Int32(strideX), Int32(dilationY), Int32(dilationX), Int32(padTop),
                                      Int32(padLeft), Int32(ow), n0, Int32(nw), col)
                            b = UnsafePointer(col)
                            ldb = nw
                        }
                        pg_sgemm_packed(Int32(rows), Int32(nw), Int32(k), a + m0 * k, b, ldb, dst + m0 * n + n0, n,
                                        bias.map { $0 + m0 }, nil, accumulate ? 1 : 0)
                    }
                }
            }
        }
    }
}
