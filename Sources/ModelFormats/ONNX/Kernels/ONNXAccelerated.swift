import Kernels
import Tensor

/// The engine's optimized kernels (Kernels target) behind the ONNX operators that dominate
/// model time: convolution (Winograd / packed SGEMM / AMX), softmax and sigmoid.
enum ONNXAccelerated {
    /// The compute pool the ONNX executor runs its parallel kernels on.
    static let pool = ComputePool(threads: ONNXThreads.count)

    /// A convolution with its weights packed once at plan time.
    struct PreparedConv: Sendable {
        let conv: Conv2D
        let spatial: Int
    }

    /// Packs a Conv node's constant weights for the engine's Conv2D, or returns nil when the
    /// geometry is outside what Conv2D handles (the reference path then runs it).
    static func prepareConv(_ a: ConvAttributes, input: [Int], weights: ONNXTensor, bias: ONNXTensor?) throws -> PreparedConv? {
        let spatial = input.count - 2
        guard spatial == 1 || spatial == 2, weights.shape.count == input.count else { return nil }
        let kh = spatial == 2 ? weights.shape[2] : 1, kw = weights.shape[weights.shape.count - 1]
        let g = try ONNXConv.geometry(a, input: input, kernel: (kh, kw), transposed: false)
        let p = ConvolutionParameters(
            inputChannels: input[1], outputChannels: weights.shape[0], kernel: (kh, kw),
            stride: g.stride, dilation: g.dilation,
            padding: Padding(top: g.pads.0, left: g.pads.1, bottom: g.pads.2, right: g.pads.3), groups: a.group)
        let conv = try Conv2D(weights: weights.floats, bias: bias?.floats, parameters: p)
        return PreparedConv(conv: conv, spatial: spatial)
    }

    static func run(_ prepared: PreparedConv, _ x: ONNXTensor, outputShape: [Int]) throws -> ONNXTensor {
        let dims = prepared.spatial == 2 ? x.shape : [x.shape[0], x.shape[1], 1, x.shape[2]]
        let y = try prepared.conv(Tensor(shape: Shape(dims), values: x.floats), pool: pool)
        return ONNXTensor(shape: outputShape, floats: y.toArray(), type: x.elementType)
    }

    /// Softmax along one axis on the compute pool.
    static func softmax(_ x: ONNXTensor, axis: Int) throws -> ONNXTensor {
        let y = try Ops.softmax(Tensor(shape: Shape(x.shape), values: x.floats), axis: axis, pool: pool)
        return ONNXTensor(shape: x.shape, floats: y.toArray(), type: x.elementType)
    }

    /// Sigmoid on the compute pool (the engine's C activation).
    static func sigmoid(_ x: ONNXTensor) throws -> ONNXTensor {
        let t = Tensor(shape: Shape(x.shape.isEmpty ? [1] : x.shape), values: x.floats)
        try Ops.activation(t, .sigmoid, into: t, pool: pool)
        return ONNXTensor(shape: x.shape, floats: t.toArray(), type: x.elementType)
    }
}
