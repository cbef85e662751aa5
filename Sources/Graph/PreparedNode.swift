import Tensor

/// A node with its weights in the form its kernel wants, prepared once per executor.
struct PreparedNode: Sendable {
    enum Kernel: Sendable {
        case direct(DirectConvolution)
        case deconvolution(DirectDeconvolution)
        case resize(ResizeKernel)
        case other
    }

    let kernel: Kernel
    let weightBytes: Int

    init(node: Node, precision: ComputePrecision) {
        switch node.op {
        case .convolution(let c):
            kernel = .direct(DirectConvolution(conv: c))
            weightBytes = (c.weights.count + c.bias.count) * 4
        case .deconvolution(let d):
            kernel = .deconvolution(DirectDeconvolution(deconv: d))
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
    func execute(node: Node, pointers: [FloatPointer?], shapes: [Shape?], parallel: Parallel) {
        let ins = node.inputs.map { pointers[$0.index]! }
        let inShapes = node.inputs.map { shapes[$0.index]! }
        let out = pointers[node.output.index]!
        let outShape = shapes[node.output.index]!
        switch (node.op, kernel) {
        case (.convolution, .direct(let k)):
            k.run(input: ins[0], inShape: inShapes[0], output: out, outShape: outShape,
                  residual: ins.count > 1 ? ins[1] : nil, parallel: parallel)
        case (.deconvolution, .deconvolution(let k)):
            k.run(input: ins[0], inShape: inShapes[0], output: out, outShape: outShape, parallel: parallel)
        case (.resize, .resize(let k)):
            k.run(input: ins[0], inShape: inShapes[0], output: out, outShape: outShape, parallel: parallel)
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
        case (.pooling(let p), _):
            ReductionKernels.pooling(p, input: ins[0], inShape: inShapes[0], output: out, outShape: outShape, parallel: parallel)
        case (.innerProduct(let ip), _):
            ReductionKernels.innerProduct(ip, input: ins[0], output: out, batch: outShape.n)
        case (.channelScale, _):
            ElementwiseKernels.channelScale(input: ins[0], scale: ins[1], output: out, shape: outShape, parallel: parallel)
        default:
            preconditionFailure("node \(node.name): no kernel prepared for \(node.op.name)")
        }
    }
}
