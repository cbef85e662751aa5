import Kernels
import Tensor

/// Backward warping: every output pixel samples the source at its own position plus a flow
/// vector, bilinearly, with coordinates clamped to the border. This is RIFE's `warp`
/// (`grid_sample(mode="bilinear", padding_mode="border", align_corners=True)` over a grid of
/// pixel centres moved by the flow normalized by `(size - 1) / 2`), where the normalization
/// cancels out: the source position is exactly `(x + flow_x, y + flow_y)` in pixels.
enum BackwardWarp {
    /// Warps `image` (`[1, C, H, W]`) by `flow` (`[1, 2, H, W]`, x then y, in pixels; or the
    /// two channels at `flowChannel` of a larger tensor).
    /// - Throws: `ModelError`-free `KernelError` never; precondition on shapes (internal use).
    static func warp(_ image: Tensor, flow: Tensor, flowChannel: Int = 0, pool: ComputePool) -> Tensor {
        let s = image.shape
        let (c, h, w) = (s.c, s.h, s.w)
        precondition(flow.shape.h == h && flow.shape.w == w && flow.shape.c >= flowChannel + 2, "warp: flow \(flow.shape) for image \(s)")
        let out = Tensor(uninitialized: s)
        let plane = h * w
        let source = SendablePointer(image.floatPointer), destination = SendablePointer(out.floatPointer)
        let flowX = SendablePointer(flow.floatPointer + flowChannel * plane), flowY = SendablePointer(flow.floatPointer + (flowChannel + 1) * plane)
        pool.parallelFor(h) { rows in
            for y in rows {
                for x in 0..<w {
                    let i = y * w + x
                    let sx = min(max(Float(x) + flowX.pointer[i], 0), Float(w - 1))
                    let sy = min(max(Float(y) + flowY.pointer[i], 0), Float(h - 1))
                    let x0 = Int(sx), y0 = Int(sy)
                    let x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1)
                    let ax = sx - Float(x0), ay = sy - Float(y0)
                    for ch in 0..<c {
                        let p = source.pointer + ch * plane
                        let top = p[y0 * w + x0] * (1 - ax) + p[y0 * w + x1] * ax
                        let bottom = p[y1 * w + x0] * (1 - ax) + p[y1 * w + x1] * ax
                        destination.pointer[ch * plane + i] = top * (1 - ay) + bottom * ay
                    }
                }
            }
        }
        return out
    }
}

/// A tensor's storage pointer handed to the compute pool's threads. Safe because each thread
/// writes a disjoint range of rows and the tensors outlive the parallel loop.
struct SendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}
