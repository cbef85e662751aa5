import Kernels
import Tensor

extension ONNXPlan {
    /// A convolution with its weights packed once at plan time, on the engine's kernels.
    struct PreparedConv: Sendable {
        enum Path: Sendable {
            /// The engine's Conv2D (Winograd, packed SGEMM, depthwise).
            case engine(Conv2D)
            /// One im2col + SGEMM over the whole image (small maps).
            case gemm(GEMMConvolution)
            /// One SGEMM per kernel tap on the padded image (small maps, stride 1).
            case taps(TapConvolution)
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

    /// Packs a Conv node's constant weights for the engine's kernels, or returns nil when the
    /// geometry is outside what they handle (the reference path then runs it).
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
        if weights.shape[1] == input[1], GEMMConvolution.isPreferred(for: p, outputHeight: oh, outputWidth: ow) {
            let pointwise = kh == 1 && kw == 1 && g.stride == (1, 1) && g.pads == (0, 0, 0, 0)
            // 1x1 layers read the input in place (no padded copy).
            if TapConvolution.accepts(p) && !pointwise {
                return PreparedConv(path: .taps(try TapConvolution(weights: weights.floats, bias: bias?.floats, parameters: p)), spatial: spatial)
            }
            return PreparedConv(path: .gemm(try GEMMConvolution(weights: weights.floats, bias: bias?.floats, parameters: p)), spatial: spatial)
        }
        let conv = try Conv2D(weights: weights.floats, bias: bias?.floats, parameters: p)
        return PreparedConv(path: .engine(conv), spatial: spatial)
    }

    /// Runs a prepared convolution; with `residual` (values of the output's shape, moved out of
    /// the caller so that they are written in place; only for paths that
    /// ``PreparedConv/accumulates``) the result is added to them.
    func run(_ prepared: PreparedConv, _ x: ONNXTensor, outputShape: [Int], residual: inout [Float]?) throws -> ONNXTensor {
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
        try values.withTensorView(shape: dims) { input in
            try out.withMutableTensorView(shape: outDims) { output in
                switch prepared.path {
                case .gemm(let gemm): try gemm(input, into: output, accumulate: accumulate, pool: pool)
                case .taps(let taps): try taps(input, into: output, accumulate: accumulate, pool: pool)
                case .engine(let conv): try conv(input, into: output, pool: pool)
                }
            }
        }
        return ONNXTensor(shape: outputShape, floats: out, type: x.elementType)
    }
}

extension Array where Element == Float {
    /// The values viewed in place as an engine tensor of `shape` for the duration of `body`
    /// (the kernels only read it).
    func withTensorView<R>(shape: [Int], _ body: (Tensor) throws -> R) throws -> R {
        guard shape.reduce(1, *) == count else { throw ONNXRuntimeError("\(count) values for shape \(shape)") }
        return try withUnsafeBufferPointer { p in
            // An empty array may have no address; a one-float dummy keeps the view valid.
            var dummy: Float = 0
            return try withUnsafeMutablePointer(to: &dummy) { d in
                let base = UnsafeMutableRawPointer(mutating: p.baseAddress.map(UnsafeRawPointer.init) ?? UnsafeRawPointer(d))
                let storage = TensorStorage(borrowing: base, byteCount: Swift.max(count, 1) * 4, isWritable: false)
                return try body(try Tensor(shape: Shape(shape), storage: storage))
            }
        }
    }

    /// The values viewed in place as a writable engine tensor of `shape` for the duration of `body`.
    mutating func withMutableTensorView<R>(shape: [Int], _ body: (Tensor) throws -> R) throws -> R {
        guard shape.reduce(1, *) == count else { throw ONNXRuntimeError("\(count) values for shape \(shape)") }
        let n = count
        return try withUnsafeMutableBufferPointer { p in
            var dummy: Float = 0
            return try withUnsafeMutablePointer(to: &dummy) { d in
                let storage = TensorStorage(borrowing: UnsafeMutableRawPointer(p.baseAddress ?? d), byteCount: Swift.max(n, 1) * 4)
                return try body(try Tensor(shape: Shape(shape), storage: storage))
            }
        }
    }
}

extension ONNXTensor {
    /// The float values as an engine tensor viewed in place for the duration of `body`.
    func withTensorView<R>(_ body: (Tensor) throws -> R) throws -> R {
        try floats.withTensorView(shape: shape, body)
    }
}
