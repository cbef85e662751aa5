import Kernels
/// Conv and ConvTranspose over NCHW (1-D inputs run as height 1): im2col / col2im around the
/// shared matrix multiply.
enum ONNXConv {
    /// Spatial geometry after resolving defaults and `auto_pad`.
    struct Geometry {
        var kernel: (Int, Int), stride: (Int, Int), dilation: (Int, Int)
        /// top, left, bottom, right.
        var pads: (Int, Int, Int, Int)
    }

    /// Reads 1-D or 2-D attribute lists as (height, width) pairs.
    static func pair(_ v: [Int]?, _ fallback: Int, spatial: Int) throws -> (Int, Int) {
        guard let v else { return (fallback, fallback) }
        guard v.count == spatial else { throw ONNXRuntimeError("expected \(spatial) values, got \(v)") }
        return spatial == 1 ? (1, v[0]) : (v[0], v[1])
    }

    static func geometry(_ a: ConvAttributes, input: [Int], kernel: (Int, Int)) throws -> Geometry {
        let spatial = input.count - 2
        guard spatial == 1 || spatial == 2 else { throw ONNXRuntimeError("only 1-D and 2-D convolutions are supported, input \(input)") }
        if let k = a.kernel {
            let kk = try pair(k, 1, spatial: spatial)
            guard kk == kernel else { throw ONNXRuntimeError("kernel_shape \(k) does not match the weights") }
        }
        var g = Geometry(kernel: kernel, stride: try pair(a.strides, 1, spatial: spatial),
                         dilation: try pair(a.dilations, 1, spatial: spatial), pads: (0, 0, 0, 0))
        if let p = a.pads {
            guard p.count == 2 * spatial else { throw ONNXRuntimeError("pads \(p) for \(spatial) spatial axes") }
            g.pads = spatial == 1 ? (0, p[0], 0, p[1]) : (p[0], p[1], p[2], p[3])
        }
        if a.autoPad == "SAME_UPPER" || a.autoPad == "SAME_LOWER" {
            let h = spatial == 1 ? 1 : input[2], w = input[input.count - 1]
            func same(_ n: Int, _ s: Int, _ k: Int, _ d: Int) -> (Int, Int) {
                let out = (n + s - 1) / s
                let total = max(0, (out - 1) * s + (k - 1) * d + 1 - n)
                return a.autoPad == "SAME_UPPER" ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
            }
            let ph = same(h, g.stride.0, kernel.0, g.dilation.0), pw = same(w, g.stride.1, kernel.1, g.dilation.1)
            g.pads = (ph.0, pw.0, ph.1, pw.1)
        } else if a.autoPad == "VALID" {
            g.pads = (0, 0, 0, 0)
        }
        guard g.stride.0 > 0, g.stride.1 > 0, g.dilation.0 > 0, g.dilation.1 > 0, kernel.0 > 0, kernel.1 > 0,
              g.pads.0 >= 0, g.pads.1 >= 0, g.pads.2 >= 0, g.pads.3 >= 0 else {
            throw ONNXRuntimeError("invalid geometry: kernel \(kernel), strides \(g.stride), dilations \(g.dilation), pads \(g.pads)")
        }
        return g
    }
}
