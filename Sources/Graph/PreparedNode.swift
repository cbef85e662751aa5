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
        case narrowConvolution(NarrowConvolution)
        case deconvolution(Deconv2D)
        case resize(ResizeKernel)
        case other
    }

    let kernel: Kernel
    let weightBytes: Int
    let precision: ComputePrecision

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
            let conv: Conv2D?
            if smallOnly {
                try p.validate(op: "Conv2D")
                try c.activation.validate(channels: p.outputChannels, op: "Conv2D")
                conv = nil
            } else {
                conv = try Conv2D(weights: c.weights, bias: c.bias.isEmpty ? nil : c.bias, parameters: p, activation: c.activation)
            }
            if narrow {
                kernel = .narrowConvolution(NarrowConvolution(conv: c))
            } else {
                // The residual term runs as a row pass after the packed kernel's own bias+activation.
                kernel = .convolution(conv, c.residual.map { Epilogue(activation: .none, residual: $0) }, small)
            }
            let copies = (conv.map { $0.hasBF16Path ? 2 : 1 } ?? 0) + (small == nil ? 0 : 1)
            weightBytes = (c.weights.count + c.bias.count) * 4 * copies
        case .deconvolution(let d):
            let p = ConvolutionParameters(inputChannels: d.inChannels, outputChannels: d.outChannels, kernel: (d.kernel.h, d.kernel.w),
                                          stride: (d.stride.h, d.stride.w), dilation: (d.dilation.h, d.dilation.w),
                                          padding: d.padding, groups: d.groups)
            kernel = .deconvolution(try Deconv2D(weights: d.weights, bias: d.bias.isEmpty ? nil : d.bias, parameters: p,
                                                 outputPadding: (d.outputPadding.h, d.outputPadding.w), activation: d.activation))
            weightBytes = (d.weights.count + d.bias.count) * 4
        case .resize(let r):
            kernel = .resize(ResizeKernel(resize: r))
            weightBytes = 0
        case .innerProduct(let ip):
            kernel = .other
            weightBytes = (ip.weights.count + ip.bias.count) * 4
        default:
            kernel = .other
            weightBytes = 0
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
        case (.convolution, .convolution(_, _, let small?)) where small.isPreferred(outputHeight: outShape.h, outputWidth: outShape.w):
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
            try conv(inputs[0], into: output, precision: precision, pool: parallel.pool)
            if let epilogue {
                let plane = outShape.h * outShape.w
                let residual = ins[1], second = ins.count > 2 ? ins[2] : nil
                parallel.run(outShape.n * outShape.c) { t in
                    epilogue.apply(out.advanced(by: t * plane), count: plane, channel: t % outShape.c,
                                   residual: residual.advanced(by: t * plane), second: second?.advanced(by: t * plane))
                }
            }
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
