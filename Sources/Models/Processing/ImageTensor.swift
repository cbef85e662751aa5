import Tensor

/// Conversions between 8-bit RGB pixels and the networks' [0, 1] NCHW tensors, and the edge
/// padding the upscalers apply before running a graph.
public enum ImageTensor {
    /// `[1, 3, H, W]` floats `pixel / 255` from interleaved RGB bytes.
    public static func tensor(rgb: [UInt8], width: Int, height: Int) -> Tensor {
        precondition(rgb.count == width * height * 3, "ImageTensor: \(rgb.count) bytes for \(width)x\(height) RGB")
        let t = Tensor(zeros: Shape(n: 1, c: 3, h: height, w: width))
        let p = t.floatPointer
        let plane = width * height
        for i in 0..<plane {
            for c in 0..<3 { p[c * plane + i] = Float(rgb[i * 3 + c]) / 255 }
        }
        return t
    }

    /// A sample already scaled to [0, 255], clamped into a byte; NaN becomes 0. `UInt8(_:)` traps
    /// on NaN (clamping with `min`/`max` passes NaN through), and a network can produce one.
    @inline(__always) static func byte(_ v: Float) -> UInt8 { v.isNaN ? 0 : UInt8(min(max(v, 0), 255)) }

    /// Interleaved RGB bytes from the window (y0, x0, height, width) of a `[1, 3, H, W]` tensor:
    /// `v * 255 + 0.5`, truncated and clamped to [0, 255] (round half up, as the upstream
    /// post-processing does).
    public static func rgb(_ t: Tensor, y0: Int = 0, x0: Int = 0, height: Int? = nil, width: Int? = nil) -> [UInt8] {
        let h = height ?? t.shape.h - y0, w = width ?? t.shape.w - x0
        let p = t.floatPointer
        let (th, tw) = (t.shape.h, t.shape.w)
        var out = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                for c in 0..<3 {
                    let v = p[(c * th + y0 + y) * tw + x0 + x] * 255 + 0.5
                    out[(y * w + x) * 3 + c] = byte(v.rounded(.down))
                }
            }
        }
        return out
    }

    /// A copy of `t` with `top/left/bottom/right` extra rows and columns repeating the edge
    /// pixels (the waifu2x and Real-ESRGAN tools' border handling).
    public static func replicatePadded(_ t: Tensor, top: Int, left: Int, bottom: Int, right: Int) -> Tensor {
        let s = t.shape
        let oh = s.h + top + bottom, ow = s.w + left + right
        let out = Tensor(zeros: Shape(n: s.n, c: s.c, h: oh, w: ow))
        let src = t.floatPointer, dst = out.floatPointer
        for plane in 0..<(s.n * s.c) {
            for y in 0..<oh {
                let sy = min(max(y - top, 0), s.h - 1)
                let srow = src + (plane * s.h + sy) * s.w
                let drow = dst + (plane * oh + y) * ow
                for x in 0..<ow { drow[x] = srow[min(max(x - left, 0), s.w - 1)] }
            }
        }
        return out
    }
}
