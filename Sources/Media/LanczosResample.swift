import Foundation

/// Lanczos-3 resampling of 8-bit images exactly as Pillow's `Image.resize(size, Image.LANCZOS)`
/// computes it, which is how diffusers' image processor sizes an input image: so an image-to-image
/// request whose image is not the output size starts from the same pixels as the reference.
///
/// Pillow's algorithm: a separable filter, horizontal pass first when the width changes, vertical
/// after when the height changes, each rounding to 8 bits. Per output pixel the taps cover
/// `3 * max(1, in/out)` source pixels on each side of `(x + 0.5) * in/out`, weights `sinc(t)sinc(t/3)`
/// at `t = (i - center + 0.5) / max(1, in/out)`, normalized to sum 1 and then to 22-bit fixed
/// point, accumulated from a rounding half and shifted back with clamping.
public enum LanczosResample {
    /// Bits after the point of the fixed-point weights (Pillow's `PRECISION_BITS`: 32 - 8 - 2).
    static let precisionBits = 22

    /// Returns `image` resized to `width` × `height`, every channel filtered on its own (Pillow
    /// premultiplies alpha first: drop or flatten it before calling this to match Pillow on images
    /// with alpha).
    /// - Throws: `MediaError(.invalidArgument)` for a 16-bit image or an output size outside
    ///   1...65536 on a side.
    public static func resize(_ image: Image, width: Int, height: Int) throws -> Image {
        guard case .uint8(let samples) = image.samples else {
            throw MediaError(.invalidArgument, "Lanczos resampling takes 8-bit images")
        }
        guard (1...65536).contains(width), (1...65536).contains(height) else {
            throw MediaError(.invalidArgument, "Lanczos resampling: output must be 1...65536 on a side, got \(width)x\(height)")
        }
        let channels = image.channels
        var pixels = samples, currentWidth = image.width
        if width != image.width {
            let taps = Taps(input: image.width, output: width)
            var out = [UInt8](repeating: 0, count: width * image.height * channels)
            for y in 0..<image.height {
                for x in 0..<width {
                    let (start, weights) = taps[x]
                    for c in 0..<channels {
                        var sum = 1 << (precisionBits - 1)
                        for (i, w) in weights.enumerated() {
                            sum += Int(pixels[(y * image.width + start + i) * channels + c]) * w
                        }
                        out[(y * width + x) * channels + c] = clip(sum)
                    }
                }
            }
            pixels = out
            currentWidth = width
        }
        if height != image.height {
            let taps = Taps(input: image.height, output: height)
            var out = [UInt8](repeating: 0, count: currentWidth * height * channels)
            for y in 0..<height {
                let (start, weights) = taps[y]
                for x in 0..<currentWidth {
                    for c in 0..<channels {
                        var sum = 1 << (precisionBits - 1)
                        for (i, w) in weights.enumerated() {
                            sum += Int(pixels[((start + i) * currentWidth + x) * channels + c]) * w
                        }
                        out[(y * currentWidth + x) * channels + c] = clip(sum)
                    }
                }
            }
            pixels = out
        }
        return try Image(width: width, height: height, channels: channels, samples: .uint8(pixels))
    }

    /// The accumulated sum back to 8 bits: shifted, clamped to 0...255.
    static func clip(_ sum: Int) -> UInt8 {
        UInt8(clamping: sum >> precisionBits)
    }

    /// The Lanczos-3 kernel: `sinc(x) sinc(x/3)` on `[-3, 3)`.
    static func lanczos(_ x: Double) -> Double {
        func sinc(_ x: Double) -> Double {
            if x == 0 { return 1 }
            let px = x * Double.pi
            return sin(px) / px
        }
        return -3 <= x && x < 3 ? sinc(x) * sinc(x / 3) : 0
    }

    /// Each output index's first source index and fixed-point weights along one axis.
    struct Taps {
        let starts: [Int]
        let weights: [[Int]]

        init(input: Int, output: Int) {
            let scale = Double(input) / Double(output)
            let filterScale = max(1, scale)
            let support = 3 * filterScale
            var starts: [Int] = [], weights: [[Int]] = []
            starts.reserveCapacity(output)
            weights.reserveCapacity(output)
            for o in 0..<output {
                let center = (Double(o) + 0.5) * scale
                let first = max(0, Int(center - support + 0.5))
                let last = min(input, Int(center + support + 0.5))
                var w = (first..<max(first, last)).map { lanczos((Double($0) - center + 0.5) / filterScale) }
                let total = w.reduce(0, +)
                if total != 0 { w = w.map { $0 / total } }
                let one = Double(1 << LanczosResample.precisionBits)
                // Pillow truncates toward zero after adding a half away from zero.
                weights.append(w.map { Int($0 < 0 ? -0.5 + $0 * one : 0.5 + $0 * one) })
                starts.append(first)
            }
            self.starts = starts
            self.weights = weights
        }

        subscript(index: Int) -> (start: Int, weights: [Int]) { (starts[index], weights[index]) }
    }
}
