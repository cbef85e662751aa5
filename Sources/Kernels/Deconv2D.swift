import CKernels
import Tensor

/// A 2-D transposed convolution (ncnn Deconvolution / DeconvolutionDepthWise, PyTorch
/// ConvTranspose2d) with weights packed once.
///
/// **Weight layout: `(outputChannels, inputChannels / groups, kh, kw)`**, which is how ncnn stores
/// Deconvolution weights. PyTorch's ConvTranspose2d stores `(inputChannels, outputChannels /
/// groups, kh, kw)`: transpose the first two axes (per group) before passing them here.
///
/// Output size: `(in - 1) * stride + dilation * (k - 1) + 1 - padBefore - padAfter + outputPadding`,
/// where `parameters.padding` crops the full output and `outputPadding` extends it bottom/right.
/// Computed as a GEMM `(out*kh*kw) x in` times the input, then a col2im scatter, bias and activation.
public struct Deconv2D: Sendable {
    /// Geometry; `padding` crops the full transposed-convolution output.
    public let parameters: ConvolutionParameters
    /// Extra (rows, columns) at the bottom/right (PyTorch `output_padding`).
    public let outputPadding: (Int, Int)
    /// Activation after the bias.
    public let activation: Activation
    let packed: Tensor
    let groupStride: Int
    let bias: Tensor?

    /// Packs weights laid out `(out, in/groups, kh, kw)`.
    /// - Throws: ``KernelError`` when counts or parameters do not fit.
    public init(weights: Tensor, bias: Tensor?, parameters p: ConvolutionParameters, outputPadding: (Int, Int) = (0, 0),
                activation: Activation = .none) throws {
        try p.validate(op: "Deconv2D")
        try activation.validate(channels: p.outputChannels, op: "Deconv2D")
        let icg = p.inputChannelsPerGroup, ocg = p.outputChannelsPerGroup, kk = p.kernelHeight * p.kernelWidth
        guard weights.count == p.outputChannels * icg * kk, bias.map({ $0.count == p.outputChannels }) ?? true,
              outputPadding.0 >= 0, outputPadding.1 >= 0 else {
            throw KernelError(.shapeMismatch, "Deconv2D: weights \(weights.shape) bias \(bias?.shape.description ?? "none") for \(p)")
        }
        parameters = p
        self.outputPadding = outputPadding
        self.activation = activation
        self.bias = bias.map { $0.dtype == .f32 ? $0 : $0.converted(to: .f32) }
        let w = (weights.dtype == .f32 ? weights : weights.converted(to: .f32)).toArray()
        // A_g[(o, ky, kx)][i] = W[g*ocg + o][i][ky][kx]
        let rows = ocg * kk
        groupStride = pg_sgemm_packed_size(Int32(rows), Int32(icg))
        packed = Tensor(zeros: [groupStride * p.groups])
        var a = [Float](repeating: 0, count: rows * icg)
        for g in 0..<p.groups {
            for o in 0..<ocg { for i in 0..<icg { for k in 0..<kk {
                a[(o * kk + k) * icg + i] = w[((g * ocg + o) * icg + i) * kk + k]
            } } }
            pg_sgemm_pack_a(a, icg, Int32(rows), Int32(icg), packed.floatPointer + g * groupStride)
        }
    }

    /// Packs weights given as arrays (see ``init(weights:bias:parameters:outputPadding:activation:)``).
    public init(weights: [Float], bias: [Float]?, parameters: ConvolutionParameters, outputPadding: (Int, Int) = (0, 0),
                activation: Activation = .none) throws {
        try self.init(weights: Tensor(shape: [weights.count], values: weights),
                      bias: bias.map { Tensor(shape: [$0.count], values: $0) }, parameters: parameters,
                      outputPadding: outputPadding, activation: activation)
    }

    /// The output shape for an NCHW input shape.
    public func outputShape(for input: Shape) throws -> Shape {
        guard input.c == parameters.inputChannels else {
            throw KernelError(.shapeMismatch, "Deconv2D: input \(input) for \(parameters.inputChannels) channels")
        }
        let (h, w) = parameters.deconvolutionOutputSize(height: input.h, width: input.w)
        guard h + outputPadding.0 > 0, w + outputPadding.1 > 0 else {
            throw KernelError(.shapeMismatch, "Deconv2D: empty output for \(input)")
        }
        return Shape(n: input.n, c: parameters.outputChannels, h: h + outputPadding.0, w: w + outputPadding.1)
    }

    /// Transposed convolution into a new tensor.
    public func callAsFunction(_ input: Tensor, pool: ComputePool) throws -> Tensor {
        let out = Tensor(uninitialized: try outputShape(for: input.shape))
        try self(input, into: out, pool: pool)
        return out
    }

    /// Transposed convolution into a caller-provided output (not overlapping the input).
    public func callAsFunction(_ input: Tensor, into output: Tensor, pool: ComputePool) throws {
        try checkF32(input, output, op: "Deconv2D")
        let shape = try outputShape(for: input.shape)
        guard output.count == shape.count else {
            throw KernelError(.shapeMismatch, "Deconv2D: output \(output.shape) for \(shape)")
        }
        let p = parameters
        let (h, w) = (input.shape.h, input.shape.w), (oh, ow) = (shape.h, shape.w)
        let icg = p.inputChannelsPerGroup, ocg = p.outputChannelsPerGroup, kk = p.kernelHeight * p.kernelWidth
        let rows = ocg * kk, hw = h * w
        let col = Tensor(uninitialized: [rows * hw])
        let cp = col.floatPointer, ap = packed.floatPointer
        let biasPtr = bias?.floatPointer
        activation.withC(channels: p.outputChannels) { act in
            for n in 0..<shape.n {
                let src = input.floatPointer + n * p.inputChannels * hw
                let dst = output.floatPointer + n * p.outputChannels * oh * ow
                for g in 0..<p.groups {
                    let gin = src + g * icg * hw, gout = dst + g * ocg * oh * ow
                    let ga = ap + g * groupStride
                    let blocks = (hw + 191) / 192
                    pool.parallelFor(blocks) { r in
                        let n0 = r.lowerBound * 192, n1 = min(hw, r.upperBound * 192)
                        pg_sgemm_packed(Int32(rows), Int32(n1 - n0), Int32(icg), ga, gin + n0, hw, cp + n0, hw, nil, nil, 0)
                    }
                    pool.parallelFor(ocg) { r in
                        for o in r {
                            let d = gout + o * oh * ow
                            d.initialize(repeating: 0, count: oh * ow)
                            pg_col2im_add(cp + o * kk * hw, 1, Int32(h), Int32(w), Int32(p.kernelHeight), Int32(p.kernelWidth),
                                          Int32(p.strideY), Int32(p.strideX), Int32(p.dilationY), Int32(p.dilationX),
                                          Int32(p.padding.top), Int32(p.padding.left), Int32(oh), Int32(ow), d)
                            let ch = g * ocg + o
                            pg_bias_activation(d, oh * ow, biasPtr?[ch] ?? 0, act, Int32(ch))
                        }
                    }
                }
            }
        }
    }
}
