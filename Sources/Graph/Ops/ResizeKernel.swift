import Kernels
import Tensor

/// A graph `Resize` node on the engine's one resize kernel (``Ops/resize(_:into:options:pool:)``),
/// with ncnn's `Interp` conventions: nearest samples `floor(dst / scale)` (asymmetric, the factor
/// as given); bilinear and bicubic use half-pixel centers, source `(dst + 0.5) * in/out - 0.5`,
/// bicubic A = -0.75, borders clamped.
struct ResizeKernel: Sendable {
    let options: ResizeOptions

    init(resize: Resize) {
        if let given = resize.options {
            options = given
            return
        }
        switch resize.mode {
        case .nearest:
            options = ResizeOptions(mode: .nearest, coordinates: .asymmetric, scale: (1 / resize.scaleH, 1 / resize.scaleW))
        case .bilinear, .bicubic:
            options = ResizeOptions(mode: resize.mode, coordinates: .halfPixel)
        }
    }

    func callAsFunction(_ input: Tensor, into output: Tensor, pool: ComputePool) throws {
        try Ops.resize(input, into: output, options: options, pool: pool)
    }
}
