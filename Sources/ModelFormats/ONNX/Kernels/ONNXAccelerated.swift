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
        enum Path: Sendable {
            /// The engine's Conv2D (Winograd, packed SGEMM, depthwise).
            case engine(Conv2D)
            /// One im2col + SGEMM over the whole image (small maps, see ``ONNXConvGEMM``).
            case gemm(ONNXConvGEMM)
            /// One SGEMM per kernel tap on the padded image (small maps, stride 1, see ``ONNXConvTaps``).
            case taps(ONNXConvTaps)
        }
        let path: Path
        let spatial: Int

        /// Whether the path can add its result to the output's contents (a fused residual Add).
        var accumulates: Bool {
            switch path {
            case .gemm, .taps: return true
            case .engine: return false
            }
        }
    }

    /// Largest map (output pixels) that the whole-image GEMM paths take for 3x3 layers (1x1
    /// layers always take them: the same SGEMM as Conv2D's, plus a fusable residual): below
    /// this Winograd's 4x4 tiles leave lanes and threads idle (measured on the terrain UNet:
    /// 8x8 to 32x32 maps run 3-10x faster as one GEMM).
    static let gemmMaxPixels = 32 * 32

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
        let (oh, ow) = p.convolutionOutputSize(height: spatial == 2 ? input[2] : 1, width: input[input.count - 1])
        let pointwise = kh == 1 && kw == 1 && g.stride == (1, 1) && g.pads == (0, 0, 0, 0)
        if a.group == 1, oh > 0, ow > 0, weights.shape[1] == input[1],
           pointwise || (kh == 3 && kw == 3 && oh * ow <= gemmMaxPixels && input[1] >= 8) {
            // 1x1 layers read the input in place (no padded copy).
            if ONNXConvTaps.accepts(g) && !pointwise {
                let taps = ONNXConvTaps(weights: weights.floats, bias: bias?.floats, inputChannels: input[1],
                                        outputChannels: weights.shape[0], geometry: g)
                return PreparedConv(path: .taps(taps), spatial: spatial)
            }
            let gemm = ONNXConvGEMM(weights: weights.floats, bias: bias?.floats, inputChannels: input[1],
                                    outputChannels: weights.shape[0], geometry: g)
            return PreparedConv(path: .gemm(gemm), spatial: spatial)
        }
        let conv = try Conv2D(weights: weights.floats, bias: bias?.floats, parameters: p)
        return PreparedConv(path: .engine(conv), spatial: spatial)
    }

    /// Runs a prepared convolution into a fresh buffer (no copy of the input or the output).
    static func run(_ prepared: PreparedConv, _ x: ONNXTensor, outputShape: [Int]) throws -> ONNXTensor {
        var none: [Float]? = nil
        return try run(prepared, x, outputShape: outputShape, residual: &none)
    }

    /// Runs a prepared convolution; with `residual` (values of the output's shape, moved out of
    /// the caller so that they are written in place; only for paths that
    /// ``PreparedConv/accumulates``) the result is added to them.
    static func run(_ prepared: PreparedConv, _ x: ONNXTensor, outputShape: [Int], residual: inout [Float]?) throws -> ONNXTensor {
        let dims = prepared.spatial == 2 ? x.shape : [x.shape[0], x.shape[1], 1, x.shape[2]]
        let outDims = prepared.spatial == 2 ? outputShape : [outputShape[0], outputShape[1], 1, outputShape[2]]
        guard outDims.count == 4, dims.count == 4 else { throw ONNXRuntimeError("conv shapes \(x.shape) -> \(outputShape)") }
        let count = outDims.reduce(1, *)
        guard case .float(let values) = x.elements else { throw ONNXRuntimeError("Conv input must be float") }
        var out: [Float]
        let accumulate = residual != nil
        if let r = residual {
            guard r.count == count, prepared.accumulates else { throw ONNXRuntimeError("residual of \(r.count) values for \(outputShape)") }
            out = r
            residual = nil
        } else {
            out = [Float](unsafeUninitializedCapacity: count) { _, n in n = count }
        }
        try values.withUnsafeBufferPointer { input in
            try out.withUnsafeMutableBufferPointer { output in
                let src = input.baseAddress!, dst = output.baseAddress!
                switch prepared.path {
                case .gemm(let gemm):
                    let inPer = dims[1] * dims[2] * dims[3], outPer = outDims[1] * outDims[2] * outDims[3]
                    for img in 0..<dims[0] {
                        gemm.run(src + img * inPer, h: dims[2], w: dims[3], dst + img * outPer, oh: outDims[2], ow: outDims[3],
                                 accumulate: accumulate, pool: pool)
                    }
                case .taps(let taps):
                    let inPer = dims[1] * dims[2] * dims[3], outPer = outDims[1] * outDims[2] * outDims[3]
                    for img in 0..<dims[0] {
                        taps.run(src + img * inPer, h: dims[2], w: dims[3], dst + img * outPer, oh: outDims[2], ow: outDims[3],
                                 accumulate: accumulate, pool: pool)
                    }
                case .engine(let conv):
                    // Both buffers are viewed in place for the duration of the call.
                    let inStorage = TensorStorage(borrowing: UnsafeMutableRawPointer(mutating: src),
                                                  byteCount: input.count * 4, isWritable: false)
                    let outStorage = TensorStorage(borrowing: UnsafeMutableRawPointer(dst), byteCount: count * 4)
                    try conv(try Tensor(shape: Shape(dims), storage: inStorage),
                             into: try Tensor(shape: Shape(outDims), storage: outStorage), pool: pool)
                }
            }
        }
        return ONNXTensor(shape: outputShape, floats: out, type: x.elementType)
    }

    /// Softmax along one axis on the compute pool.
    static func softmax(_ x: ONNXTensor, axis: Int) throws -> ONNXTensor {
        let y = try Ops.softmax(Tensor(shape: Shape(x.shape), values: x.floats), axis: axis, pool: pool)
        return ONNXTensor(shape: x.shape, floats: y.toArray(), type: x.elementType)
    }
}
