import Foundation
import Graph
import Media
import Tensor

/// Conversions between images and the `[-1, 1]` NCHW tensors autoencoders take and produce,
/// rounding as diffusers' `VaeImageProcessor` does so outputs match the reference byte for byte.
public enum DiffusionImage {
    /// RGB8 images from decoder output `[N, 3, H, W]` in about [-1, 1]:
    /// `round(clamp(x * 0.5 + 0.5, 0, 1) * 255)`, ties to even (`postprocess` then
    /// `numpy_to_pil`'s `(images * 255).round()`).
    /// - Throws: `GraphError` `.invalidInput` when the tensor is not f32 `[N, 3, H, W]`.
    public static func rgb8(fromDecoded decoded: Tensor) throws -> [Image] {
        let s = decoded.shape
        guard decoded.dtype == .f32, s.rank == 4, s[1] == 3, s[2] > 0, s[3] > 0 else {
            throw GraphError(.invalidInput, "decoded images must be f32 [N, 3, H, W], got \(decoded)")
        }
        let (height, width) = (s[2], s[3])
        let plane = height * width
        let src = decoded.floatPointer
        return try (0..<s[0]).map { n in
            let base = n * 3 * plane
            let samples = [UInt8](unsafeUninitializedCapacity: plane * 3) { out, initialized in
                for p in 0..<plane {
                    for c in 0..<3 {
                        let x = src[base + c * plane + p]
                        // NaN fails both comparisons and lands on 0.
                        let v = x * 0.5 + 0.5
                        let clamped: Float = v > 1 ? 1 : (v >= 0 ? v : 0)
                        out[p * 3 + c] = UInt8((clamped * 255).rounded(.toNearestOrEven))
                    }
                }
                initialized = plane * 3
            }
            return try Image(width: width, height: height, channels: 3, samples: .uint8(samples))
        }
    }

    /// An encoder input `[N, 3, H, W]` in [-1, 1] from same-sized images: `2 · (sample / 255) - 1`
    /// (`VaeImageProcessor.preprocess`); gray is copied into three planes, alpha dropped.
    /// - Throws: `GraphError` `.invalidInput` when the list is empty, sizes differ or an image
    ///   is 16-bit.
    public static func encoderInput(from images: [Image]) throws -> Tensor {
        guard let first = images.first else { throw GraphError(.invalidInput, "no images to encode") }
        let (width, height) = (first.width, first.height)
        let plane = width * height
        let out = Tensor(uninitialized: Shape([images.count, 3, height, width]))
        let dst = out.floatPointer
        for (n, image) in images.enumerated() {
            guard image.width == width, image.height == height else {
                throw GraphError(.invalidInput, "images of \(width)x\(height) and \(image.width)x\(image.height) in one batch")
            }
            guard case .uint8(let samples) = image.samples else {
                throw GraphError(.invalidInput, "the autoencoder takes 8-bit images")
            }
            let colors = image.colorChannels
            for p in 0..<plane {
                for c in 0..<3 {
                    let v = Float(samples[p * image.channels + (colors == 1 ? 0 : c)]) / 255
                    dst[(n * 3 + c) * plane + p] = 2 * v - 1
                }
            }
        }
        return out
    }
}
