import Kernels

/// Resize over the last two axes (nearest, linear, cubic) on the engine's resize kernel.
enum ONNXResize {
    /// The output extents: from `sizes`, or `floor(in * scale)`.
    static func outputShape(_ input: [Int], scales: [Float]?, sizes: [Int]?) throws -> [Int] {
        if let sizes, !sizes.isEmpty {
            guard sizes.count == input.count, sizes.allSatisfy({ $0 >= 0 && $0 < 1 << 31 }) else {
                throw ONNXRuntimeError("sizes \(sizes) for rank \(input.count)")
            }
            return sizes
        }
        guard let scales, scales.count == input.count,
              zip(input, scales).allSatisfy({ $1.isFinite && $1 > 0 && Float($0) * $1 < Float(1 << 31) }) else {
            throw ONNXRuntimeError("scales \(scales ?? []) for input \(input)")
        }
        return zip(input, scales).map { Int((Float($0) * $1).rounded(.down)) }
    }

    static func resize(_ x: ONNXTensor, scales: [Float]?, sizes: [Int]?, _ r: ResizeAttributes, pool: ComputePool) throws -> ONNXTensor {
        let rank = x.shape.count
        let outShape = try outputShape(x.shape, scales: scales, sizes: sizes)
        guard rank >= 2 else { throw ONNXRuntimeError("Resize of rank \(rank)") }
        for i in 0..<(rank - 2) where outShape[i] != x.shape[i] {
            throw ONNXRuntimeError("only the last two axes may be resized (\(x.shape) to \(outShape))")
        }
        let planes = x.shape.dropLast(2).reduce(1, *)
        let ih = x.shape[rank - 2], iw = x.shape[rank - 1], oh = outShape[rank - 2], ow = outShape[rank - 1]
        let count = planes * oh * ow
        guard count > 0, ih > 0, iw > 0 else {
            return ONNXTensor(shape: outShape, floats: [Float](repeating: 0, count: count), type: x.elementType)
        }
        // Given scales are divided by as given (single precision, as onnxruntime); sizes give out / in.
        let useScales = scales.map { !$0.isEmpty } ?? false && (sizes?.isEmpty ?? true)
        let factor = { (axis: Int) in useScales ? scales![axis] : Float(outShape[axis]) / Float(x.shape[axis]) }
        let options = ResizeOptions(
            mode: r.mode == "nearest" ? .nearest : r.mode == "cubic" ? .bicubic : .bilinear,
            coordinates: Self.coordinates(r.coordinateMode), outputScale: (factor(rank - 2), factor(rank - 1)),
            nearestRounding: Self.rounding(r.nearestMode), cubicCoefficient: r.cubicA, excludeOutside: r.excludeOutside)
        var out = [Float](unsafeUninitializedCapacity: count) { _, k in k = count }
        try x.floats.withTensorView(shape: [planes, 1, ih, iw]) { input in
            try out.withMutableTensorView(shape: [planes, 1, oh, ow]) { output in
                try Ops.resize(input, into: output, options: options, pool: pool)
            }
        }
        return ONNXTensor(shape: outShape, floats: out, type: x.elementType)
    }

    static func coordinates(_ mode: String) -> ResizeCoordinates {
        switch mode {
        case "asymmetric": return .asymmetric
        case "align_corners": return .alignCorners
        case "pytorch_half_pixel": return .pytorchHalfPixel
        default: return .halfPixel
        }
    }

    static func rounding(_ mode: String) -> NearestRounding {
        switch mode {
        case "floor": return .floor
        case "ceil": return .ceil
        case "round_prefer_ceil": return .roundPreferCeil
        default: return .roundPreferFloor
        }
    }
}
