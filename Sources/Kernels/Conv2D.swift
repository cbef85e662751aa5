import CKernels
import Tensor

/// A 2-D convolution with its weights packed once, at load, for the fastest path this CPU has.
///
/// Weights are laid out `(outputChannels, inputChannels / groups, kernelHeight, kernelWidth)`
/// (PyTorch and ncnn). Build one per layer when a model loads, then call it per input:
///
/// ```swift
/// let conv = try Conv2D(weights: w, bias: b, parameters: p, activation: .prelu(slopes: s))
/// let y = try conv(x, pool: pool)            // allocates the output
/// try conv(x, into: y, pool: pool)          // reuses a buffer the graph planned
/// ```
///
/// Paths, chosen at init from the geometry and the CPU:
/// - 3x3, stride 1, dilation 1, one group, >= 8 channels, AVX-512: Winograd F(4x4, 3x3);
/// - `.bf16` precision on stride-1 single-group layers with AMX: bf16 tiles, fp32 accumulation;
///   without AMX but with AVX512-BF16, "same"-padded stride-1 layers with >= 16 input channels
///   that fp32 would not run with Winograd (5x5, ...) run `vdpbf16ps` dot products as a
///   one-layer ``ConvolutionChain`` (runs of such layers, 1x1 included, are faster as one
///   chain, which keeps activations in bf16 between them); Winograd-eligible layers and lone
///   1x1 layers stay fp32 there, which is as fast or faster
///   (``KernelPath/bf16KernelBeatsFP32(winogradEligible:pointwise:chained:)``);
/// - depthwise (one input channel per group): a direct kernel;
/// - everything else: im2col (none for 1x1 stride 1) + packed SGEMM (AVX-512, else AVX2 + FMA,
///   else plain C).
/// Bias and activation are fused into each path's epilogue. fp32 paths agree with
/// ``Reference/conv2d(_:weights:bias:parameters:activation:)`` to within about 1e-5 of the
/// output's largest magnitude (Winograd's transforms add a little rounding); `.bf16` stays
/// within 2^-7 * sum|w*x| of it.
public struct Conv2D: Sendable {
    /// Geometry.
    public let parameters: ConvolutionParameters
    /// Activation fused after the bias.
    public let activation: Activation
    let bias: Tensor?
    let plan: Plan
    /// AMX-packed bf16 weights, when the layer and CPU allow that path.
    let amxWeights: Tensor?
    /// Restricts the instruction sets the layer may use (tests force `.avx2` and `.portable` to
    /// cover the fallbacks on machines that have AVX-512).
    let isa: InstructionSets
    /// The kernel family the layer was packed for (``KernelPath/current`` unless a test forces
    /// another supported one).
    public let path: KernelPath
    /// The AVX512-BF16 path of a `.bf16` call: this layer alone as a chain (bf16 NHWC in and out
    /// of the dot-product kernel). Set last in init, since it holds a copy of the layer.
    private(set) var bf16Chain: ConvolutionChain?

    enum InstructionSets: Sendable {
        /// Whatever the CPU has.
        case best
        /// AVX2 + FMA SGEMM paths only (no Winograd, no AMX); needs a CPU with AVX2.
        case avx2
        /// Plain C only.
        case portable
    }

    enum Plan: Sendable {
        case winograd(Tensor)
        case gemm(Tensor, groupStride: Int)
        case depthwise(Tensor)
    }

    /// Packs weights for repeated calls.
    /// - Parameters:
    ///   - weights: `outputChannels * inputChannels/groups * kh * kw` values in (out, in/g, kh, kw)
    ///     order, any shape with that count, any dtype (converted to f32 once).
    ///   - bias: `outputChannels` values, or nil.
    ///   - parameters: geometry.
    ///   - activation: fused activation.
    /// - Throws: ``KernelError`` when counts or parameters do not fit.
    public init(weights: Tensor, bias: Tensor?, parameters: ConvolutionParameters,
                activation: Activation = .none) throws {
        try self.init(weights: weights, bias: bias, parameters: parameters, activation: activation, path: .current)
    }

    init(weights: Tensor, bias: Tensor?, parameters: ConvolutionParameters, activation: Activation,
         isa: InstructionSets) throws {
        let path: KernelPath = switch isa {
        case .best: .current
        case .avx2: .avx2
        case .portable: .portable
        }
        try self.init(weights: weights, bias: bias, parameters: parameters, activation: activation, path: path)
    }

    /// Packs for a given kernel path (tests cover every path the CPU supports); a path the CPU
    /// cannot run is replaced by ``KernelPath/current``. `forceBF16Kernel` gives `.bf16` calls
    /// the AVX512-BF16 kernel on every layer it supports, Winograd-eligible ones included (tests
    /// of the kernel itself).
    /// `bf16Forms` false packs only the fp32 plan (a layer that is only ever called at `.fp32`).
    init(weights: Tensor, bias: Tensor?, parameters: ConvolutionParameters, activation: Activation,
         path requested: KernelPath, forceBF16Kernel: Bool = false, bf16Forms: Bool = true) throws {
        let p = parameters
        let path = requested.isSupported(by: .current) ? requested : KernelPath.current
        self.path = path
        switch path {
        case .amx, .avx512bf16, .avx512: isa = .best
        case .avx2: isa = .avx2
        case .portable: isa = .portable
        }
        let fast = isa == .best
        try p.validate(op: "Conv2D")
        try activation.validate(channels: p.outputChannels, op: "Conv2D")
        let icg = p.inputChannelsPerGroup, ocg = p.outputChannelsPerGroup
        let k = icg * p.kernelHeight * p.kernelWidth
        guard weights.count == p.outputChannels * k else {
            throw KernelError(.shapeMismatch,
                "Conv2D: weights \(weights.shape) have \(weights.count) values, expected \(p.outputChannels * k) for \(p)")
        }
        if let bias, bias.count != p.outputChannels {
            throw KernelError(.shapeMismatch, "Conv2D: bias \(bias.shape) for \(p.outputChannels) output channels")
        }
        let w = weights.dtype == .f32 ? weights : weights.converted(to: .f32)
        self.parameters = p
        self.activation = activation
        self.bias = bias.map { $0.dtype == .f32 ? $0 : $0.converted(to: .f32) }
        let unitGeometry = p.strideY == 1 && p.strideX == 1 && p.dilationY == 1 && p.dilationX == 1
        if p.kernelHeight == 3 && p.kernelWidth == 3 && unitGeometry && p.groups == 1
            && p.inputChannels >= 8 && p.outputChannels >= 8 && fast && pg_wino43_available() != 0 {
            let u = Tensor(zeros: [pg_wino43_weight_size(Int32(p.outputChannels), Int32(p.inputChannels))])
            pg_wino43_transform_weights(w.floatPointer, Int32(p.outputChannels), Int32(p.inputChannels), u.floatPointer)
            plan = .winograd(u)
        } else if icg == 1 && p.groups > 1 {
            plan = .depthwise(w.copy())
        } else {
            let per = pg_sgemm_packed_size(Int32(ocg), Int32(k))
            let packed = Tensor(zeros: [per * p.groups])
            for g in 0..<p.groups {
                pg_sgemm_pack_a(w.floatPointer + g * ocg * k, k, Int32(ocg), Int32(k), packed.floatPointer + g * per)
            }
            plan = .gemm(packed, groupStride: per)
        }
        if bf16Forms && unitGeometry && p.groups == 1 && p.inputChannels >= 16 && path == .amx {
            let aw = Tensor(zeros: [pg_amx_conv_weight_size(Int32(p.outputChannels), Int32(p.inputChannels),
                                                             Int32(p.kernelHeight), Int32(p.kernelWidth))], dtype: .bf16)
            pg_amx_conv_pack_weights(w.floatPointer, Int32(p.outputChannels), Int32(p.inputChannels),
                                     Int32(p.kernelHeight), Int32(p.kernelWidth), aw.halfPointer)
            amxWeights = aw
        } else {
            amxWeights = nil
        }
        if bf16Forms && path == .avx512bf16 && (forceBF16Kernel ? ConvolutionChain.supports(self) : ConvolutionChain.accepts(self, chained: false)) {
            bf16Chain = try ConvolutionChain([self], weights: [w])
        }
    }

    /// Packs weights given as arrays (see ``init(weights:bias:parameters:activation:)``).
    /// - Parameter bf16Forms: whether to pack the bf16 forms `.bf16` calls use (AMX tiles,
    ///   AVX512-BF16 panels); a layer only ever called at `.fp32` holds just its fp32 plan.
    public init(weights: [Float], bias: [Float]?, parameters: ConvolutionParameters,
                activation: Activation = .none, bf16Forms: Bool = true) throws {
        try self.init(weights: Tensor(shape: [weights.count], values: weights),
                      bias: bias.map { Tensor(shape: [$0.count], values: $0) },
                      parameters: parameters, activation: activation, path: .current, bf16Forms: bf16Forms)
    }

    /// Bytes held by the packed forms (fp32 plan, bf16 copies) and the bias.
    public var weightBytes: Int {
        let planBytes = switch plan {
        case .winograd(let t), .gemm(let t, _), .depthwise(let t): t.byteCount
        }
        return planBytes + (bias?.byteCount ?? 0) + (amxWeights?.byteCount ?? 0) + (bf16Chain?.weightBytes ?? 0)
    }

    /// Whether fp32 calls run Winograd F(4x4, 3x3).
    public var runsWinograd: Bool {
        if case .winograd = plan { return true }
        return false
    }

    /// Whether `.bf16` calls compute in bf16, on AMX tiles or AVX512-BF16 dot products (otherwise
    /// they run the fp32 path).
    public var hasBF16Path: Bool { amxWeights != nil || bf16Chain != nil }

    /// The output shape for an NCHW input shape.
    /// - Throws: ``KernelError`` when the input's channels differ or the output would be empty.
    public func outputShape(for input: Shape) throws -> Shape {
        guard input.rank == 4 || input.rank == 3, input.c == parameters.inputChannels else {
            throw KernelError(.shapeMismatch, "Conv2D: input \(input) for \(parameters.inputChannels) input channels")
        }
        let (oh, ow) = parameters.convolutionOutputSize(height: input.h, width: input.w)
        guard oh > 0, ow > 0 else {
            throw KernelError(.shapeMismatch, "Conv2D: input \(input) too small for \(parameters)")
        }
        return Shape(n: input.n, c: parameters.outputChannels, h: oh, w: ow)
    }

    /// Convolves an NCHW f32 input into a new tensor.
    /// - Parameters:
    ///   - input: `[N, inputChannels, H, W]`.
    ///   - precision: `.bf16` computes in bf16 where ``hasBF16Path``; otherwise fp32.
    ///   - pool: threads to run on.
    /// - Throws: ``KernelError`` on shape mismatch.
    public func callAsFunction(_ input: Tensor, precision: ComputePrecision = .fp32, pool: ComputePool) throws -> Tensor {
        let out = Tensor(uninitialized: try outputShape(for: input.shape))
        try self(input, into: out, precision: precision, pool: pool)
        return out
    }

    /// Convolves into a caller-provided output (e.g. a buffer the graph's memory plan reuses).
    /// The output must not overlap the input.
    /// - Throws: ``KernelError`` when `output` does not have ``outputShape(for:)``'s element count.
    public func callAsFunction(_ input: Tensor, into output: Tensor, precision: ComputePrecision = .fp32,
                               pool: ComputePool) throws {
        let shape = try outputShape(for: input.shape)
        guard output.count == shape.count, output.dtype == .f32, input.dtype == .f32 else {
            throw KernelError(.shapeMismatch, "Conv2D: output \(output) for expected \(shape) f32 (input \(input))")
        }
        if precision == .bf16, let bf16Chain {
            return try bf16Chain(input, into: output, pool: pool)
        }
        let p = parameters
        let inPer = p.inputChannels * input.shape.h * input.shape.w
        let outPer = shape.c * shape.h * shape.w
        let biasPtr: UnsafePointer<Float>? = bias.map { UnsafePointer($0.floatPointer) }
        activation.withC(channels: p.outputChannels) { act in
            for n in 0..<shape.n {
                let src = input.floatPointer + n * inPer, dst = output.floatPointer + n * outPer
                let geom = Geometry(h: input.shape.h, w: input.shape.w, oh: shape.h, ow: shape.w)
                if precision == .bf16, let amxWeights {
                    runAMX(src, dst, geom, amxWeights, biasPtr, act, pool)
                    continue
                }
                switch plan {
                case .winograd(let u): runWinograd(src, dst, geom, u, biasPtr, act, pool)
                case .depthwise(let w): runDepthwise(src, dst, geom, w, biasPtr, act, pool)
                case .gemm(let a, let stride): runGEMM(src, dst, geom, a, stride, biasPtr, act, pool)
                }
            }
        }
    }

    struct Geometry {
        var h, w, oh, ow: Int
    }
}
