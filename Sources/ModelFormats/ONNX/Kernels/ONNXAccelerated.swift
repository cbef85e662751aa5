import Kernels
import Tensor

/// The engine's optimized kernels (Kernels target) behind the ONNX operators that dominate
/// model time: convolution (Winograd / packed SGEMM / AMX) and softmax over inner axes.
enum ONNXAccelerated {
    /// The compute pool the ONNX executor runs its parallel kernels on: the engine's shared pool,
    /// or one of `PEREGRINE_THREADS` threads when that is set (benchmarks pin the thread count).
    static let pool: ComputePool = ONNXThreads.isPinned ? ComputePool(threads: ONNXThreads.count) : .shared

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
        let g = try ONNXConv.geometry(a, input: input, kernel: (kh, kw))
        let p = ConvolutionParameters(
            inputChannels: input[1], outputChannels: weights.shape[0], kernel: (kh, kw),
            stride: g.stride, dilation: g.dilation,
            padding: Padding(top: g.pads.0, left: g.pads.1, bottom: g.pads.2, right: g.pads.3), groups: a.group)
        let conv = try Conv2D(weights: weights.floats, bias: bias?.floats, parameters: p)
        return PreparedConv(conv: conv, spatial: spatial)
    }

    static func run(_ prepared: PreparedConv, _ x: ONNXTensor, outputShape: [Int]) throws -> ONNXTensor {
        let dims = prepared.spatial == 2 ? x.shape : [x.shape[0], x.shape[1], 1, x.shape[2]]
        let values = x.floats
        // The input is viewed in place (no copy) for the duration of the call.
        let y = try values.withUnsafeBufferPointer { buffer -> Tensor in
            let storage = TensorStorage(borrowing: UnsafeMutableRawPointer(mutating: buffer.baseAddress!),
                                        byteCount: buffer.count * 4, isWritable: false)
            return try prepared.conv(try Tensor(shape: Shape(dims), storage: storage), pool: pool)
        }
        return ONNXTensor(shape: outputShape, floats: y.toArray(), type: x.elementType)
    }

    /// Softmax along one axis on the compute pool.
    static func softmax(_ x: ONNXTensor, axis: Int) throws -> ONNXTensor {
        let y = try Ops.softmax(Tensor(shape: Shape(x.shape), values: x.floats), axis: axis, pool: pool)
        return ONNXTensor(shape: x.shape, floats: y.toArray(), type: x.elementType)
    }
}
