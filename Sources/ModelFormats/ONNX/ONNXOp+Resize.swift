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
