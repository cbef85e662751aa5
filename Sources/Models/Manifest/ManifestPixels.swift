import Media
import ModelKit
import Tensor

/// The pixel vocabulary of a manifest: images to graph tensors and back.
///
/// The engine side is always `[1, C, H, W]` planes in [0, 1] (RGB order); a mapping turns them
/// into what the graph was trained on: a value range, then per-channel `(x − mean) / std`, then
/// the channel order and layout. The inverse mapping of an output undoes all of it.
enum ManifestPixels {
    /// `(scale, offset)` of a range: `x·scale + offset` maps [0, 1] onto it.
    static func rangeTransform(_ range: PixelRange) -> (Float, Float) {
        switch range {
        case .symmetric: return (2, -1)
        case .byte: return (255, 0)
        case .unit: return (1, 0)
        }
    }

    /// The image as `[1, C, H, W]` planes in [0, 1], with the channels the mapping asks for
    /// (gray by BT.601 luma, gray to RGB by copying; alpha dropped).
    static func planes(_ image: Image, channels: Int) throws -> Tensor {
        let color = try image.converted(toChannels: channels)
        return color.tensors(expandingGray: false).color
    }

    /// Planes in [0, 1] → graph values (NCHW planes in, the mapping's layout out).
    static func forward(_ planes: Tensor, _ m: ONNXManifest.PixelMapping) -> (shape: [Int], values: [Float]) {
        let c = planes.shape.c, h = planes.shape.h, w = planes.shape.w, plane = h * w
        let (scale, offset) = rangeTransform(m.range)
        var out = [Float](repeating: 0, count: c * plane)
        let src = planes.floatPointer
        for k in 0..<c {
            // Channel k of the tensor holds source channel k, or 2 − k for BGR.
            let s = m.channels == .bgr ? c - 1 - k : k
            let mean = Float(m.mean.count == 1 ? m.mean[0] : m.mean[k])
            let inv = 1 / Float(m.std.count == 1 ? m.std[0] : m.std[k])
            for p in 0..<plane {
                let v = (src[s * plane + p] * scale + offset - mean) * inv
                if m.layout == "NHWC" { out[p * c + k] = v } else { out[k * plane + p] = v }
            }
        }
        return (m.layout == "NHWC" ? [1, h, w, c] : [1, c, h, w], out)
    }

    /// Graph values → `[1, C, H, W]` planes in [0, 1] (RGB order), clamped.
    /// - Throws: `ModelError` (500) when the tensor's shape does not fit the mapping.
    static func inverse(_ values: [Float], shape: [Int], _ m: ONNXManifest.PixelMapping, name: String) throws -> Tensor {
        let nhwc = m.layout == "NHWC"
        guard shape.count == 4 || shape.count == 3 else {
            throw ModelError(.internalError, "output '\(name)' has shape \(shape); an image output needs rank 3 or 4")
        }
        let dims = shape.count == 3 ? [1] + shape : shape
        let (c, h, w) = nhwc ? (dims[3], dims[1], dims[2]) : (dims[1], dims[2], dims[3])
        guard dims[0] == 1, c == m.channelCount, h > 0, w > 0 else {
            throw ModelError(.internalError, "output '\(name)' has shape \(shape); the manifest expects batch 1 and \(m.channelCount) \(m.channels) channels in \(m.layout)")
        }
        let (scale, offset) = rangeTransform(m.range)
        let plane = h * w
        let out = Tensor(zeros: Shape(n: 1, c: c, h: h, w: w))
        let dst = out.floatPointer
        for k in 0..<c {
            let d = m.channels == .bgr ? c - 1 - k : k
            let mean = Float(m.mean.count == 1 ? m.mean[0] : m.mean[k])
            let std = Float(m.std.count == 1 ? m.std[0] : m.std[k])
            for p in 0..<plane {
                let v = nhwc ? values[p * c + k] : values[k * plane + p]
                let x = ((v * std + mean) - offset) / scale
                // NaN becomes 0 rather than reaching the encoder.
                dst[d * plane + p] = x.isNaN ? 0 : min(max(x, 0), 1)
            }
        }
        return out
    }

    /// The top-left `height`×`width` of NCHW planes.
    static func cropped(_ t: Tensor, height: Int, width: Int) -> Tensor {
        let s = t.shape
        guard height < s.h || width < s.w else { return t }
        let out = Tensor(zeros: Shape(n: s.n, c: s.c, h: height, w: width))
        let src = t.floatPointer, dst = out.floatPointer
        for plane in 0..<(s.n * s.c) {
            for y in 0..<height {
                (dst + (plane * height + y) * width).update(from: src + (plane * s.h + y) * s.w, count: width)
            }
        }
        return out
    }
}
