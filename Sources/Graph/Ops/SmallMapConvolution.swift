import Kernels
import Tensor

/// A convolution's whole-image GEMM form for small maps: one SGEMM per kernel tap
/// (``TapConvolution``) or one im2col SGEMM (``GEMMConvolution``). Below
/// ``GEMMConvolution/maximumPixels`` output pixels Winograd's 4x4 tiles leave lanes and threads
/// idle, so the deep, low-resolution layers of a UNet run 3-10x faster this way; the executor
/// picks it per run from the output size (``isPreferred(outputHeight:outputWidth:)``), so one
/// prepared node serves every input shape.
struct SmallMapConvolution: Sendable {
    enum Path: Sendable {
        case taps(TapConvolution)
        case gemm(GEMMConvolution)
    }

    let path: Path
    let parameters: ConvolutionParameters
    /// Activation and residual after the SGEMM (its bias is already added); nil when neither.
    let epilogue: Epilogue?

    /// Packs the layer's weights for the small-map path, or returns nil when no output size
    /// would prefer it (groups, kernels other than 1x1 and 3x3, few input channels).
    init?(_ c: Convolution, parameters p: ConvolutionParameters) throws {
        guard GEMMConvolution.isPreferred(for: p, outputHeight: 1, outputWidth: 1) else { return nil }
        let pointwise = p.kernelHeight == 1 && p.kernelWidth == 1
        let bias = c.bias.isEmpty ? nil : c.bias
        // 1x1 layers read the input in place (no padded copy); other stride-1 layers take taps.
        if TapConvolution.accepts(p) && !pointwise {
            path = .taps(try TapConvolution(weights: c.weights, bias: bias, parameters: p))
        } else {
            path = .gemm(try GEMMConvolution(weights: c.weights, bias: bias, parameters: p))
        }
        parameters = p
        epilogue = c.activation == .none && c.residual == nil ? nil : Epilogue(activation: c.activation, residual: c.residual)
    }

    /// The layer's `(out, in, kh, kw)` weights, recovered exactly from the packed form.
    var weights: [Float] {
        switch path {
        case .taps(let k): k.weights
        case .gemm(let k): k.weights
        }
    }

    /// Bytes held by the packed weights and the bias.
    var weightBytes: Int {
        switch path {
        case .taps(let k): k.weightBytes
        case .gemm(let k): k.weightBytes
        }
    }

    /// Whether this form beats the packed convolution for that output size.
    func isPreferred(outputHeight: Int, outputWidth: Int) -> Bool {
        GEMMConvolution.isPreferred(for: parameters, outputHeight: outputHeight, outputWidth: outputWidth)
    }

    /// Convolves `input` into `output` (bias included; the epilogue is the caller's).
    func run(_ input: Tensor, into output: Tensor, pool: ComputePool) throws {
        switch path {
        case .taps(let k): try k(input, into: output, pool: pool)
        case .gemm(let k): try k(input, into: output, pool: pool)
        }
    }
}
