import Foundation
import Kernels
import Tensor

/// A node with its weights in the form its kernel wants, prepared once per executor:
/// convolutions and deconvolutions are packed by the Kernels target (Winograd, AMX bf16, SGEMM
/// panels), so a run does no weight work at all.
struct PreparedNode: Sendable {
    enum Kernel: Sendable {
        /// The packed convolution with its residual row pass, and the whole-image GEMM form that
        /// small maps take instead (chosen per run from the output size). No packed convolution
        /// when the small-map form serves every size.
        case convolution(Conv2D?, Epilogue?, SmallMapConvolution?)
        /// An fp32 layer with a small-map form, whose packed convolution is made from that form's
        /// weights the first time a larger map needs it (``DeferredConvolution``).
        case deferredConvolution(DeferredConvolution, Epilogue?, SmallMapConvolution)
        case narrowConvolution(NarrowConvolution)
        case deconvolution(Deconv2D)
        case resize(ResizeKernel)
        case other
    }

    let kernel: Kernel
    /// Bytes of the kinds whose size is known when prepared (deconvolutions, inner products).
    private let fixedBytes: Int
    let precision: ComputePrecision

    /// Bytes held by the prepared weights (a deferred convolution's once it is made).
    var weightBytes: Int {
        switch kernel {
        case .convolution(let conv, _, let small): (conv?.weightBytes ?? 0) + (small?.weightBytes ?? 0)
        case .deferredConvolution(let deferred, _, let small): deferred.weightBytes + small.weightBytes
        default: fixedBytes
        }
    }

    /// Whether the prepared kernel recovers the layer's weights exactly (``convolutionWeights``),
    /// so the executor's graph need not keep them too.
    var holdsConvolutionWeights: Bool {
        switch kernel {
        case .convolution(_, _, .some), .deferredConvolution: true
        default: false
        }
    }

    /// The layer's `(out, in/groups, kh, kw)` weights recovered from its small-map form, or nil
    /// when ``holdsConvolutionWeights`` is false.
    var convolutionWeights: [Float]? {
        switch kernel {
        case .convolution(_, _, let small?), .deferredConvolution(_, _, let small): small.weights
        default: nil
        }
    }

    init(node: Node, precision: ComputePrecision) throws {
        self.precision = precision
        switch node.op {
        case .convolution(let c):
            let p = ConvolutionParameters(inputChannels: c.inChannels, outputChannels: c.outChannels, kernel: (c.kernel.h, c.kernel.w),
                                          stride: (c.stride.h, c.stride.w), dilation: (c.dilation.h, c.dilation.w),
                                          padding: c.padding, groups: c.groups)
            // The small-map form is preferred at every output size for pointwise layers: at fp32
            // the packed convolution (and its bf16 copy) would never run, so it is not built.
            let narrow = NarrowConvolution.handles(c)
            let small = precision == .fp32 && !narrow ? try SmallMapConvolution(c, parameters: p) : nil
            let smallOnly = small?.isPreferred(outputHeight: 1 << 16, outputWidth: 1 << 16) ?? false
            // The residual term runs as a row pass after the packed kernel's own bias+activation.
            let epilogue = c.residual.map { Epilogue(activation: .none, residual: $0) }
            fixedBytes = 0
            if narrow {
                kernel = .narrowConvolution(NarrowConvolution(conv: c))
            } else if let small {
                try p.validate(op: "Conv2D")
                try c.activation.validate(channels: p.outputChannels, op: "Conv2D")
                kernel = smallOnly ? .convolution(nil, epilogue, small)
                    : .deferredConvolution(DeferredConvolution(small: small, bias: c.bias, activation: c.activation), epilogue, small)
            } else {
                let conv = try Conv2D(weights: c.weights, bias: c.bias.isEmpty ? nil : c.bias, parameters: p, activation: c.activation,
                                      bf16Forms: precision == .bf16)
                kernel = .convolution(conv, epilogue, nil)
            }
        case .deconvolution(let d):
            let p = ConvolutionParameters(inputChannels: d.inChannels, outputChannels: d.outChannels, kernel: (d.kernel.h, d.kernel.w),
                                          stride: (d.stride.h, d.stride.w), dilation: (d.dilation.h, d.dilation.w),
                                          padding: d.padding, groups: d.groups)
            kernel = .deconvolution(try Deconv2D(weights: d.weights, bias: d.bias.isEmpty ? nil : d.bias, parameters: p,
                                                 outputPadding: (d.outputPadding.h, d.outputPadding.w), activation: d.activation))
            fixedBytes = (d.weights.count + d.bias.count) * 4
        case .resize(let r):
            kernel = .resize(ResizeKernel(resize: r))
            fixedBytes = 0
        case .innerProduct(let ip):
            kernel = .other
            fixedBytes = (ip.weights.count + ip.bias.count) * 4
        default:
            kernel = .other
            fixedBytes = 0
        }
    }

    /// A packed convolution, then its residual row pass.
    private func runPacked(_ conv: Conv2D, epilogue: Epilogue?, inputs: [Tensor], output: Tensor, parallel: Parallel) throws {
        try conv(inputs[0], into: output, precision: precision, pool: parallel.pool)
        guard let epilogue else { return }
        let outShape = output.shape, out = FloatPointer(output.floatPointer)
        let plane = outShape.h * outShape.w
        let residual = FloatPointer(inputs[1].floatPointer), second = inputs.count > 2 ? FloatPointer(inputs[2].floatPointer) : nil
        parallel.run(outShape.n * outShape.c) { t in
            epilogue.apply(out.advanced(by: t * plane), count: plane, channel: t % outShape.c,
                           residual: residual.advanced(by: t * plane), second: second?.advanced(by: t * plane))
        }
    }

    /// Runs the node; shapes were checked when the plan was made.
    func execute(node: Node, tensors: [Tensor?], parallel: Parallel) throws {
        let inputs = node.inputs.map { tensors[$0.index]! }
        let output = tensors[node.output.index]!
        if node.op.isTensorOp {
            // Rank-N ops take tensors (some read i64 constants: indices, shapes).
            try TensorOpKernels.run(node, inputs: inputs, output: output, pool: parallel.pool)
            return
        }
        let ins = inputs.map { FloatPointer($0.floatPointer) }
        let inShapes = inputs.map(\.shape)
        let out = FloatPointer(output.floatPointer)
        let outShape = output.shape
        switch (node.op, kernel) {
        case (.convolution, .convolution(_, _, let small?)) where small.isPreferred(outputHeight: outShape.h, outputWidth: outShape.w),
             (.convolution, .deferredConvolution(_, _, let small)) where small.isPreferred(outputHeight: outShape.h, outputWidth: outShape.w):
            try small.run(inputs[0], into: output, pool: parallel.pool)
            if let epilogue = small.epilogue {
                let plane = outShape.h * outShape.w
                let residual = ins.count > 1 ? ins[1] : nil, second = ins.count > 2 ? ins[2] : nil
                parallel.run(outShape.n * outShape.c) { t in
                    epilogue.apply(out.advanced(by: t * plane), count: plane, channel: t % outShape.c,
                                   residual: residual?.advanced(by: t * plane), second: second?.advanced(by: t * plane))
                }
            }
        case (.convolution, .convolution(let conv?, let epilogue, _)):
            try runPacked(conv, epilogue: epilogue, inputs: inputs, output: output, parallel: parallel)
        case (.convolution, .deferredConvolution(let deferred, let epilogue, _)):
            try runPacked(try deferred.convolution(), epilogue: epilogue, inputs: inputs, output: output, parallel: parallel)
        case (.convolution, .narrowConvolution(let k)):
            k.run(input: ins[0], inShape: inShapes[0], output: out, outShape: outShape,
                  residual: ins.count > 1 ? ins[1] : nil, second: ins.count > 2 ? ins[2] : nil, parallel: parallel)
        case (.deconvolution, .deconvolution(let deconv)):
            try deconv(inputs[0], into: output, pool: parallel.pool)
        case (.resize, .resize(let k)):
            try k(inputs[0], into: output, pool: parallel.pool)
        case (.activation(let act), _):
            ElementwiseKernels.activation(act, input: ins[0], output: out, shape: outShape, parallel: parallel)
        case (.pixelShuffle(let r), _):
            DataMovementKernels.pixelShuffle(r, input: ins[0], inShape: inShapes[0], residual: nil,
                                             output: out, outShape: outShape, parallel: parallel)
        case (.shuffleAdd(let r), _):
            DataMovementKernels.pixelShuffle(r, input: ins[0], inShape: inShapes[0], residual: ins[1],
                                             output: out, outShape: outShape, parallel: parallel)
        case (.binary(let kind), _):
            ElementwiseKernels.binary(kind, a: ins[0], aShape: inShapes[0], b: ins.count > 1 ? ins[1] : nil,
                                      bShape: inShapes.count > 1 ? inShapes[1] : nil,
                                      output: out, outShape: outShape, parallel: parallel)
        case (.eltwise(let e), _):
            ElementwiseKernels.eltwise(e, inputs: ins, output: out, count: outShape.count, parallel: parallel)
        case (.crop(let c), _):
            DataMovementKernels.crop(c, input: ins[0], inShape: inShapes[0], output: out, outShape: outShape, parallel: parallel)
        case (.concat, _):
            DataMovementKernels.concat(inputs: Array(zip(ins, inShapes)), output: out, outShape: outShape, parallel: parallel)
        case (.pooling(let p), _) where !p.isPlain:
            try TensorOpKernels.store(Ops.pool2d(inputs[0], p.parameters, pool: parallel.pool), into: output)
        case (.pooling(let p), _):
            ReductionKernels.pooling(p, input: ins[0], inShape: inShapes[0], output: out, outShape: outShape, parallel: parallel)
        case (.innerProduct(let ip), _):
            ReductionKernels.innerProduct(ip, input: ins[0], output: out, batch: outShape.n)
        case (.channelScale, _):
            ElementwiseKernels.channelScale(input: ins[0], scale: ins[1], output: out, shape: outShape, parallel: parallel)

        default:
            throw GraphError(.invalidGraph, "node \(node.name): no kernel prepared for \(node.op.name)")
        }
    }
}

/// The packed convolution of an fp32 layer that also has a small-map form: made from that form's
/// weights (recovered exactly) on the first call whose map is too large for it. The deep layers
/// of a UNet never see such a map at the usual sizes, and Winograd's packed weights are four
/// times the layer's, so packing them up front would multiply a model's memory for nothing.
final class DeferredConvolution: @unchecked Sendable {
    private let small: SmallMapConvolution
    private let bias: [Float]
    private let activation: Activation
    private let lock = NSLock()
    private var packed: Conv2D?

    init(small: SmallMapConvolution, bias: [Float], activation: Activation) {
        self.small = small
        self.bias = bias
        self.activation = activation
    }

    /// The packed convolution, made on the first call (callers on several executors sharing this
    /// node wait for one packing).
    func convolution() throws -> Conv2D {
        lock.lock(); defer { lock.unlock() }
        if let packed { return packed }
        let conv = try Conv2D(weights: small.weights, bias: bias.isEmpty ? nil : bias, parameters: small.parameters,
                              activation: activation, bf16Forms: false)
        packed = conv
        return conv
    }

    /// Bytes of the packed convolution once made, else 0.
    var weightBytes: Int {
        lock.lock(); defer { lock.unlock() }
        return packed?.weightBytes ?? 0
    }
}
