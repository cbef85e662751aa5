import CKernels
import Tensor

/// A single-group convolution as one SGEMM over the whole image: 1x1 stride-1 layers read the
/// input in place, other layers are lowered by im2col first. Work is split over output-channel
/// panels, or column blocks on wide images.
///
/// Small feature maps (8x8 to 32x32) are where Winograd's 4x4 output tiles come in groups too few
/// and too narrow to fill the vector lanes and the threads: a 16x16 map has 16 tiles, one tile
/// row per unit. Here the whole map is one GEMM of `N = OH*OW` columns, so both threads get work
/// and no lane is idle. With `accumulate` the product is added to the output's contents: a
/// following residual add is fused by filling the output with the other operand first.
public struct GEMMConvolution: Sendable {
    /// The layer's geometry (one group).
    public let parameters: ConvolutionParameters
    /// Weights as `pg_sgemm_pack_a` lays out the `outputChannels x (inputChannels*kh*kw)` matrix.
    let packed: [Float]
    /// One value per output channel, or empty.
    let bias: [Float]

    /// Largest map (output pixels) for which the whole-image GEMM paths (this and
    /// ``TapConvolution``) beat ``Conv2D`` on 3x3 layers (1x1 layers always take them: the same
    /// SGEMM as Conv2D's, plus a fusable residual): below this Winograd's 4x4 tiles leave lanes
    /// and threads idle (measured on a diffusion UNet: 8x8 to 32x32 maps run 3-10x faster as one GEMM).
    public static let maximumPixels = 32 * 32

    /// Whether a whole-image GEMM path (this, or ``TapConvolution`` where it accepts the geometry)
    /// is the faster choice for a layer with this output size.
    public static func isPreferred(for p: ConvolutionParameters, outputHeight oh: Int, outputWidth ow: Int) -> Bool {
        guard p.groups == 1, oh > 0, ow > 0 else { return false }
        let pointwise = p.kernelHeight == 1 && p.kernelWidth == 1 && p.strideY == 1 && p.strideX == 1 && p.padding == .zero
        return pointwise || (p.kernelHeight == 3 && p.kernelWidth == 3 && oh * ow <= maximumPixels && p.inputChannels >= 8)
    }

    /// Packs `(outputChannels, inputChannels, kh, kw)` weights.
    /// - Throws: ``KernelError`` when the layer has groups or the weight or bias counts do not fit.
    public init(weights: [Float], bias: [Float]?, parameters p: ConvolutionParameters) throws {
        let k = p.inputChannels * p.kernelHeight * p.kernelWidth, oc = p.outputChannels
        guard p.groups == 1, oc > 0, k > 0, weights.count == oc * k, bias.map({ $0.count == oc }) ?? true else {
            throw KernelError(.invalidParameter, "GEMMConvolution: \(weights.count) weights, \(bias?.count ?? 0) biases for \(p)")
        }
        parameters = p
        var packed = [Float](repeating: 0, count: pg_sgemm_packed_size(Int32(oc), Int32(k)))
        weights.withUnsafeBufferPointer { w in
            packed.withUnsafeMutableBufferPointer { pg_sgemm_pack_a(w.baseAddress!, k, Int32(oc), Int32(k), $0.baseAddress!) }
        }
        self.packed = packed
        self.bias = bias ?? []
    }

    /// The `(outputChannels, inputChannels, kh, kw)` weights the layer was made from, recovered
    /// exactly from the packed panels (a caller keeps no unpacked copy of its own).
    public var weights: [Float] {
        let k = parameters.inputChannels * parameters.kernelHeight * parameters.kernelWidth, oc = parameters.outputChannels
        var out = [Float](repeating: 0, count: oc * k)
        packed.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { pg_sgemm_unpack_a(src.baseAddress!, Int32(oc), Int32(k), $0.baseAddress!, k) }
        }
        return out
    }

    /// Bytes held by the packed weights and the bias.
    public var weightBytes: Int { (packed.count + bias.count) * MemoryLayout<Float>.size }

    /// Whether the layer reads its input in place (1x1, stride 1, no padding): no im2col.
    var isPointwise: Bool {
        parameters.kernelHeight == 1 && parameters.kernelWidth == 1 && parameters.strideY == 1 && parameters.strideX == 1
            && parameters.padding.top == 0 && parameters.padding.left == 0
    }

    /// Convolves NCHW `input` into `output` (shaped as the geometry says).
    /// - Parameter accumulate: add to `output`'s contents (a fused residual) instead of overwriting them.
    /// - Throws: ``KernelError`` when the shapes do not fit the geometry.
    public func callAsFunction(_ input: Tensor, into output: Tensor, accumulate: Bool = false, pool: ComputePool) throws {
        try checkF32(input, output, op: "GEMMConvolution")
        let (n, c, h, w) = input.nchw
        let (oh, ow) = parameters.convolutionOutputSize(height: h, width: w)
        guard c == parameters.inputChannels, oh > 0, ow > 0, output.nchw == (n, parameters.outputChannels, oh, ow) else {
            throw KernelError(.shapeMismatch, "GEMMConvolution: \(input.shape) -> \(output.shape) for \(parameters)")
        }
        for img in 0..<n {
            run(input.floatPointer + img * c * h * w, height: h, width: w,
                output.floatPointer + img * parameters.outputChannels * oh * ow, accumulate: accumulate, pool: pool)
        }
    }

    /// Convolves one image `(inputChannels, h, w)` into `dst` `(outputChannels, oh, ow)`.
    /// - Parameter accumulate: add to `dst` instead of overwriting it.
    public func run(_ src: UnsafePointer<Float>, height h: Int, width w: Int, _ dst: UnsafeMutablePointer<Float>,
                    accumulate: Bool, pool: ComputePool) {
        let p = parameters
        let (oh, ow) = p.convolutionOutputSize(height: h, width: w)
        let k = p.inputChannels * p.kernelHeight * p.kernelWidth, n = oh * ow, m = p.outputChannels
        // Split by columns, each thread lowers only its columns; by panels, each lowers the whole
        // image, which is cheap next to its share of the product.
        let split = GEMMSplit(m: m, n: n, flops: m * k * n, pool: pool)
        let parts = split.parts
        let perThread = isPointwise ? 0 : k * (split.byColumns ? split.columnsPerPart : n)
        let pointwise = isPointwise
        pool.withWorkspace(bytes: 4 * perThread * parts) { raw in
            let scratch = raw.assumingMemoryBound(to: Float.self)
            packed.withUnsafeBufferPointer { pa in
                bias.withUnsafeBufferPointer { pb in
                    // An empty array may still hand out a non-nil address: no bias means nil.
                    let a = pa.baseAddress!, bias = pb.isEmpty ? nil : pb.baseAddress
                    pool.run(parts: parts) { ith, nth in
                        let col = scratch + ith * perThread
                        let (m0, rows, n0, nw) = split.share(ith, nth)
                        guard nw > 0, rows > 0 else { return }
                        let b: UnsafePointer<Float>, ldb: Int
                        if pointwise {
                            b = src + n0
                            ldb = n
                        } else {
                            pg_im2col(src, Int32(p.inputChannels), Int32(h), Int32(w), Int32(p.kernelHeight), Int32(p.kernelWidth),
                                      Int32(p.strideY), Int32(p.strideX), Int32(p.dilationY), Int32(p.dilationX), Int32(p.padding.top),
                                      Int32(p.padding.left), Int32(ow), n0, Int32(nw), col)
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
