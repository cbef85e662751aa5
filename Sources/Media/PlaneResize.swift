// Resizing float planes, for alpha channels that are scaled beside a model's colour output.

import Tensor

/// The interpolation used by `PlaneResize`.
public enum ResizeFilter: String, Sendable, CaseIterable {
    /// The nearest source pixel.
    case nearest
    /// Linear in x and y: OpenCV's `INTER_LINEAR`, PyTorch's `bilinear` (align_corners=False).
    case bilinear
    /// Cubic convolution with A = −0.75: OpenCV's `INTER_CUBIC`, PyTorch's `bicubic`.
    case bicubic
}

/// Resizes every plane of an NCHW f32 tensor.
///
/// Conventions match OpenCV and PyTorch (align_corners=False): pixel centres at +0.5, source
/// coordinate `(x + 0.5) / scale - 0.5`, taps outside the image clamped to the border, no
/// antialiasing when shrinking. Bicubic can overshoot [0, 1]; `Image(color:alpha:)` clamps.
public enum PlaneResize {
    /// Returns `input` resized to `width` × `height`.
    /// - Parameters:
    ///   - input: `[N, C, H, W]` f32 (rank 3 or 4).
    ///   - width: output columns, at least 1.
    ///   - height: output rows, at least 1.
    ///   - filter: interpolation.
    /// - Throws: `MediaError` with code `invalidArgument` for a non-f32 tensor or bad sizes.
    public static func resize(_ input: Tensor, width: Int, height: Int, filter: ResizeFilter) throws -> Tensor {
        let shape = input.shape
        guard input.dtype == .f32, shape.rank >= 2, shape.h > 0, shape.w > 0 else {
            throw MediaError(.invalidArgument, "resize: need a non-empty f32 tensor [.., H, W], got \(shape) \(input.dtype)")
        }
        guard width > 0, height > 0 else {
            throw MediaError(.invalidArgument, "resize: output must be at least 1x1, got \(width)x\(height)")
        }
        let planes = shape.count / (shape.h * shape.w)
        var dims = shape.dims
        dims[dims.count - 1] = width
        dims[dims.count - 2] = height
        let output = Tensor(zeros: Shape(dims))
        let columns = taps(source: shape.w, target: width, filter: filter)
        let rows = taps(source: shape.h, target: height, filter: filter)
        let inWidth = shape.w, inHeight = shape.h
        // Horizontal pass into a scratch plane, then vertical: (taps × H × W') + (taps × H' × W').
        var scratch = [Float](repeating: 0, count: inHeight * width)
        let src = input.floatPointer, dst = output.floatPointer
        scratch.withUnsafeMutableBufferPointer { mid in
            for p in 0..<planes {
                let plane = src + p * inWidth * inHeight
                for y in 0..<inHeight {
                    let row = plane + y * inWidth
                    for x in 0..<width {
                        var sum: Float = 0
                        for t in columns.range(x) { sum += columns.weights[t] * row[columns.indices[t]] }
                        mid[y * width + x] = sum
                    }
                }
                let out = dst + p * width * height
                for y in 0..<height {
                    for x in 0..<width { out[y * width + x] = 0 }
                    for t in rows.range(y) {
                        let weight = rows.weights[t]
                        let base = rows.indices[t] * width
                        for x in 0..<width { out[y * width + x] += weight * mid[base + x] }
                    }
                }
            }
        }
        return output
    }

    /// For each output position, the source indices (clamped) and weights it reads.
    struct Taps {
        var perOutput: Int
        var indices: [Int]
        var weights: [Float]
        func range(_ i: Int) -> Range<Int> { (i * perOutput)..<((i + 1) * perOutput) }
    }

    static func taps(source: Int, target: Int, filter: ResizeFilter) -> Taps {
        let scale = Double(target) / Double(source)
        let perOutput = filter == .nearest ? 1 : (filter == .bilinear ? 2 : 4)
        var indices: [Int] = []
        var weights: [Float] = []
        indices.reserveCapacity(target * perOutput)
        weights.reserveCapacity(target * perOutput)
        func clamp(_ i: Int) -> Int { min(max(i, 0), source - 1) }
        for out in 0..<target {
            switch filter {
            case .nearest:
                // PyTorch's and OpenCV's `nearest`: floor(out / scale).
                indices.append(clamp(Int((Double(out) / scale).rounded(.down))))
                weights.append(1)
            case .bilinear:
                let center = max((Double(out) + 0.5) / scale - 0.5, 0)
                let left = Int(center.rounded(.down))
                let t = center - Double(left)
                indices += [clamp(left), clamp(left + 1)]
                weights += [Float(1 - t), Float(t)]
            case .bicubic:
                let center = (Double(out) + 0.5) / scale - 0.5
                let left = Int(center.rounded(.down))
                let t = center - Double(left)
                for k in -1...2 {
                    indices.append(clamp(left + k))
                    weights.append(Float(cubic(Double(k) - t)))
                }
            }
        }
        return Taps(perOutput: perOutput, indices: indices, weights: weights)
    }

    /// Keys' cubic convolution kernel with A = −0.75.
    static func cubic(_ x: Double) -> Double {
        let a = -0.75
        let d = abs(x)
        if d <= 1 { return ((a + 2) * d - (a + 3)) * d * d + 1 }
        if d < 2 { return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a }
        return 0
    }
}
