import Foundation
import Media

/// Turns the network's output into heights and pictures, following `TerrainGenerator` of
/// adaptive-terrain-diffusion 0.4.2 for the heights.
enum TerrainRelief {
    /// Height of the tallest possible terrain in metres (the package's `height_range`).
    static let heightRange: Float = 22.16864013671875
    /// Scale of the asinh height compression the model was trained with (`asinh_scale`).
    static let asinhScale: Float = 0.1

    /// Heights in metres from model-space values: `unit = clamp((v + 1) / 2, 0, 1)`,
    /// `h = 0.1·sinh(unit·asinh(22.1686 / 0.1))`, clamped to [0, 22.1686], then shifted so the
    /// lowest point is 0 (the package's `zero_floor=True`, its default).
    static func heights(fromModel values: [Float]) -> [Float] {
        let normalizer = Foundation.asinh(heightRange / asinhScale)
        var h = values.map { v -> Float in
            // NaN (which min/max pass through) would trap in the conversions to samples below.
            let unit = v.isNaN ? 0 : min(max((v + 1) * 0.5, 0), 1)
            return min(max(asinhScale * Foundation.sinh(unit * normalizer), 0), heightRange)
        }
        let floor = h.min() ?? 0
        for k in h.indices { h[k] -= floor }
        return h
    }

    /// The 16-bit heightmap: sample = round(h / 22.1686 m · 65535), so one step is about
    /// 0.34 mm and the full range of the model maps onto the full range of the PNG (the image is
    /// not stretched per terrain, so heights compare across images).
    static func heightmap(_ heights: [Float], width: Int, height: Int) throws -> Image {
        let samples = heights.map { $0.isNaN ? 0 : UInt16((min(max($0 / heightRange, 0), 1) * 65535).rounded()) }
        return try Image(width: width, height: height, channels: 1, samples: .uint16(samples))
    }

    /// A shaded relief picture: Lambertian hillshade lit from the north-west, 45° above the
    /// horizon, from central-difference gradients (edges clamped), tinted from green (low) to
    /// pale brown (high). Terrains span from centimetres to metres, so the vertical scale is
    /// exaggerated per terrain until its height span equals half the image width in pixels:
    /// every preview shows its shape, and the heightmap carries the true heights.
    static func preview(_ heights: [Float], width: Int, height: Int) throws -> Image {
        let top = max(heights.max() ?? 0, 1e-6)
        let zFactor = 0.5 * Float(width) / top
        let azimuth = Float.pi * 315 / 180, altitude = Float.pi / 4
        let light = (x: cos(altitude) * sin(azimuth), y: -cos(altitude) * cos(azimuth), z: sin(altitude))
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        func at(_ x: Int, _ y: Int) -> Float { heights[min(max(y, 0), height - 1) * width + min(max(x, 0), width - 1)] }
        for y in 0..<height {
            for x in 0..<width {
                let dx = (at(x + 1, y) - at(x - 1, y)) * 0.5 * zFactor
                let dy = (at(x, y + 1) - at(x, y - 1)) * 0.5 * zFactor
                let norm = (dx * dx + dy * dy + 1).squareRoot()
                let shade = max(0, (-dx * light.x - dy * light.y + light.z) / norm)
                let t = at(x, y) / top
                let base: (Float, Float, Float) = (0.35 + 0.5 * t, 0.55 + 0.25 * t, 0.30 + 0.55 * t)
                let lit = 0.25 + 0.75 * shade
                let o = (y * width + x) * 3
                rgb[o] = ImageTensor.byte((base.0 * lit * 255).rounded())
                rgb[o + 1] = ImageTensor.byte((base.1 * lit * 255).rounded())
                rgb[o + 2] = ImageTensor.byte((base.2 * lit * 255).rounded())
            }
        }
        return try Image(width: width, height: height, channels: 3, samples: .uint8(rgb))
    }
}
