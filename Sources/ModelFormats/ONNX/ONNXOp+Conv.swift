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

    static func conv(_ x: ONNXTensor, _ w: ONNXTensor, _ b: ONNXTensor?, _ a: ConvAttributes, pool: ComputePool) throws -> ONNXTensor {
        let spatial = x.shape.count - 2
        guard w.shape.count == x.shape.count else { throw ONNXRuntimeError("weights \(w.shape) for input \(x.shape)") }
        let n = x.shape[0], c = x.shape[1]
        let h = spatial == 2 ? x.shape[2] : 1, wd = x.shape[x.shape.count - 1]
        let oc = w.shape[0], icg = w.shape[1]
        let kh = spatial == 2 ? w.shape[2] : 1, kw = w.shape[w.shape.count - 1]
        let groups = a.group
        guard groups > 0, c == icg * groups, oc % groups == 0 else {
            throw ONNXRuntimeError("input channels \(c), weights \(w.shape), group \(groups) do not fit")
        }
        let g = try geometry(a, input: x.shape, kernel: (kh, kw))
        let oh = (h + g.pads.0 + g.pads.2 - g.dilation.0 * (kh - 1) - 1) / g.stride.0 + 1
        let ow = (wd + g.pads.1 + g.pads.3 - g.dilation.1 * (kw - 1) - 1) / g.stride.1 + 1
        guard oh > 0, ow > 0 else { throw ONNXRuntimeError("input \(x.shape) smaller than kernel \(kh)x\(kw)") }
        let bias = b?.floats ?? []
        guard bias.isEmpty || bias.count == oc else { throw ONNXRuntimeError("\(bias.count) biases for \(oc) outputs") }
        let ocg = oc / groups, kk = icg * kh * kw, plane = oh * ow
        let pointwise = kh == 1 && kw == 1 && g.stride == (1, 1) && g.pads == (0, 0, 0, 0)
        var out = [Float](repeating: 0, count: n * oc * plane)
        let xv = x.floats, wv = w.floats
        var col = [Float](repeating: 0, count: pointwise ? 0 : kk * plane)
        xv.withUnsafeBufferPointer { px in
            wv.withUnsafeBufferPointer { pw in
                out.withUnsafeMutableBufferPointer { po in
                    col.withUnsafeMutableBufferPointer { pc in
                        for img in 0..<n {
                            for grp in 0..<groups {
                                let src = px.baseAddress! + (img * c + grp * icg) * h * wd
                                let dst = po.baseAddress! + (img * oc + grp * ocg) * plane
                                let bMatrix: UnsafePointer<Float>
                                if pointwise {
                                    bMatrix = UnsafePointer(src)
                                } else {
                                    im2col(src, channels: icg, h: h, w: wd, kh: kh, kw: kw, g: g, oh: oh, ow: ow, col: pc.baseAddress!)
                                    bMatrix = UnsafePointer(pc.baseAddress!)
                                }
                                Ops.sgemm(m: ocg, n: plane, k: kk, a: pw.baseAddress! + grp * ocg * kk, lda: kk,
                                          b: bMatrix, ldb: plane, c: dst, ldc: plane, pool: pool)
                            }
                            if !bias.isEmpty {
                                for o in 0..<oc {
                                    let p = po.baseAddress! + (img * oc + o) * plane
                                    let bv = bias[o]
                                    for i in 0..<plane { p[i] += bv }
                                }
                            }
                        }
                    }
                }
            }
        }
        let shape = spatial == 2 ? [n, oc, oh, ow] : [n, oc, ow]
        return ONNXTensor(shape: shape, floats: out, type: x.elementType)
    }

    /// Unfolds the receptive fields: row `(c, ky, kx)`, column `(oy, ox)`.
    static func im2col(_ src: UnsafePointer<Float>, channels: Int, h: Int, w: Int, kh: Int, kw: Int,
                       g: Geometry, oh: Int, ow: Int, col: UnsafeMutablePointer<Float>) {
        var row = 0
        for ch in 0..<channels {
            let plane = src + ch * h * w
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let dst = col + row * oh * ow
                    for oy in 0..<oh {
                        let iy = oy * g.stride.0 - g.pads.0 + ky * g.dilation.0
                        let d = dst + oy * ow
                        if iy < 0 || iy >= h {
                            d.update(repeating: 0, count: ow)
                            continue
                        }
                        let srow = plane + iy * w
                        let x0 = -g.pads.1 + kx * g.dilation.1
                        if g.stride.1 == 1 {
                            // Contiguous run with zero borders.
                            let lo = max(0, -x0), hi = min(ow, w - x0)
                            if lo > 0 { d.update(repeating: 0, count: min(lo, ow)) }
                            if hi > lo { (d + lo).update(from: srow + x0 + lo, count: hi - lo) }
                            if hi < ow { (d + max(hi, 0)).update(repeating: 0, count: ow - max(hi, 0)) }
                        } else {
                            for ox in 0..<ow {
                                let ix = ox * g.stride.1 + x0
                                d[ox] = ix >= 0 && ix < w ? srow[ix] : 0
                            }
                        }
                    }
                    row += 1
                }
            }
        }
    }

    static func convTranspose(_ x: ONNXTensor, _ w: ONNXTensor, _ b: ONNXTensor?, _ a: ConvAttributes, pool: ComputePool) throws -> ONNXTensor {
        let spatial = x.shape.count - 2
        guard w.shape.count == x.shape.count else { throw ONNXRuntimeError("weights \(w.shape) for input \(x.shape)") }
        let n = x.shape[0], c = x.shape[1]
        let h = spatial == 2 ? x.shape[2] : 1, wd = x.shape[x.shape.count - 1]
        let groups = a.group
        let ocg = w.shape[1], oc = ocg * groups
        let kh = spatial == 2 ? w.shape[2] : 1, kw = w.shape[w.shape.count - 1]
        guard groups > 0, w.shape[0] == c, c % groups == 0 else {
            throw ONNXRuntimeError("input channels \(c), weights \(w.shape), group \(groups) do not fit")
        }
        let icg = c / groups
        let g = try geometry(a, input: x.shape, kernel: (kh, kw))
        let op = try pair(a.outputPadding, 0, spatial: spatial)
        let oh = (h - 1) * g.stride.0 - g.pads.0 - g.pads.2 + g.dilation.0 * (kh - 1) + 1 + op.0
        let ow = (wd - 1) * g.stride.1 - g.pads.1 - g.pads.3 + g.dilation.1 * (kw - 1) + 1 + op.1
        guard oh > 0, ow > 0 else { throw ONNXRuntimeError("empty output") }
        let bias = b?.floats ?? []
        guard bias.isEmpty || bias.count == oc else { throw ONNXRuntimeError("\(bias.count) biases for \(oc) outputs") }
        let rows = ocg * kh * kw, plane = h * wd
        var out = [Float](repeating: 0, count: n * oc * oh * ow)
        let xv = x.floats, wv = w.floats
        // Per group, the weights [icg, ocg*kh*kw] transposed to [ocg*kh*kw, icg].
        let wt = (0..<groups).map { grp in
            Layout.transpose2D(Array(wv[(grp * icg * rows)..<((grp + 1) * icg * rows)]), rows: icg, cols: rows)
        }
        var col = [Float](repeating: 0, count: rows * plane)
        for img in 0..<n {
            for grp in 0..<groups {
                let xs = Array(xv[((img * c + grp * icg) * plane)..<((img * c + (grp + 1) * icg) * plane)])
                wt[grp].withUnsafeBufferPointer { pa in
                    xs.withUnsafeBufferPointer { pb in
                        col.withUnsafeMutableBufferPointer { pc in
                            Ops.sgemm(m: rows, n: plane, k: icg, a: pa.baseAddress!, lda: icg, b: pb.baseAddress!, ldb: plane,
                                      c: pc.baseAddress!, ldc: plane, pool: pool)
                        }
                    }
                }
                out.withUnsafeMutableBufferPointer { po in
                    for o in 0..<ocg {
                        let dst = po.baseAddress! + (img * oc + grp * ocg + o) * oh * ow
                        for ky in 0..<kh {
                            for kx in 0..<kw {
                                let src = ((o * kh + ky) * kw + kx) * plane
                                for iy in 0..<h {
                                    let y = iy * g.stride.0 - g.pads.0 + ky * g.dilation.0
                                    guard y >= 0 && y < oh else { continue }
                                    for ix in 0..<wd {
                                        let xx = ix * g.stride.1 - g.pads.1 + kx * g.dilation.1
                                        if xx >= 0 && xx < ow { dst[y * ow + xx] += col[src + iy * wd + ix] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if !bias.isEmpty {
                for o in 0..<oc {
                    let base = (img * oc + o) * oh * ow
                    for i in 0..<(oh * ow) { out[base + i] += bias[o] }
                }
            }
        }
        let shape = spatial == 2 ? [n, oc, oh, ow] : [n, oc, ow]
        return ONNXTensor(shape: shape, floats: out, type: x.elementType)
    }

    static func pool(_ x: ONNXTensor, _ p: PoolAttributes, pool: ComputePool) throws -> ONNXTensor {
        let spatial = x.shape.count - 2
        guard spatial == 1 || spatial == 2 else { throw ONNXRuntimeError("only 1-D and 2-D pooling, input \(x.shape)") }
        let n = x.shape[0], c = x.shape[1]
        let h = spatial == 2 ? x.shape[2] : 1, w = x.shape[x.shape.count - 1]
        let xv = x.floats
        if p.global {
            var out = [Float](repeating: 0, count: n * c)
            for i in 0..<(n * c) {
                let s = xv[(i * h * w)..<((i + 1) * h * w)]
                out[i] = p.isMax ? (s.max() ?? 0) : s.reduce(0, +) / Float(h * w)
            }
            return ONNXTensor(shape: [n, c] + [Int](repeating: 1, count: spatial), floats: out, type: x.elementType)
        }
        let k = try pair(p.kernel, 1, spatial: spatial)
        let conv = ConvAttributes(kernel: p.kernel, strides: p.strides, dilations: p.dilations, pads: p.pads,
                                  outputPadding: nil, group: 1, autoPad: p.autoPad)
        let g = try geometry(conv, input: x.shape, kernel: k)
        let oh = poolExtent(h, g.pads.0, g.pads.2, k.0, g.stride.0, g.dilation.0, ceil: p.ceilMode)
        let ow = poolExtent(w, g.pads.1, g.pads.3, k.1, g.stride.1, g.dilation.1, ceil: p.ceilMode)
        guard oh > 0, ow > 0 else { throw ONNXRuntimeError("input \(x.shape) smaller than the window") }
        var out = [Float](repeating: 0, count: n * c * oh * ow)
        // Every window inside the image (no padding, none reaching past the edge in ceil mode):
        // no per-tap bounds checks, and the divisor is the window size.
        let inside = n * c > 0 && g.pads == (0, 0, 0, 0) && (oh - 1) * g.stride.0 + (k.0 - 1) * g.dilation.0 < h
            && (ow - 1) * g.stride.1 + (k.1 - 1) * g.dilation.1 < w
        if inside {
            let inverse = 1 / Float(k.0 * k.1)
            xv.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    let io = PoolBuffers(src: src.baseAddress!, dst: dst.baseAddress!)
                    // Planes split over the pool: a 32x128x128 map is a few hundred microseconds a thread.
                    pool.parallelFor(n * c, minimumPerPart: max(1, 16384 / max(1, h * w))) { r in
                        for plane in r {
                            let s = io.src + plane * h * w, d = io.dst + plane * oh * ow
                            if !p.isMax && k == (2, 2) && g.stride == (2, 2) && g.dilation == (1, 1) {
                                // The UNet's 2x downsampling: one tight loop.
                                for oy in 0..<oh {
                                    let r0 = s + 2 * oy * w, r1 = r0 + w, dr = d + oy * ow
                                    for ox in 0..<ow {
                                        dr[ox] = ((r0[2 * ox] + r0[2 * ox + 1]) + (r1[2 * ox] + r1[2 * ox + 1])) * inverse
                                    }
                                }
                                continue
                            }
                            for oy in 0..<oh {
                                for ox in 0..<ow {
                                    let corner = s + oy * g.stride.0 * w + ox * g.stride.1
                                    var acc: Float = p.isMax ? -.infinity : 0
                                    for ky in 0..<k.0 {
                                        let row = corner + ky * g.dilation.0 * w
                                        for kx in 0..<k.1 {
                                            let v = row[kx * g.dilation.1]
                                            acc = p.isMax ? max(acc, v) : acc + v
                                        }
                                    }
                                    d[oy * ow + ox] = p.isMax ? acc : acc * inverse
                                }
                            }
                        }
                    }
                }
            }
            let shape = spatial == 2 ? [n, c, oh, ow] : [n, c, ow]
            return ONNXTensor(shape: shape, floats: out, type: x.elementType)
        }
        for plane in 0..<(n * c) {
            let base = plane * h * w
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var acc: Float = p.isMax ? -.infinity : 0
                    var valid = 0, padded = 0
                    for ky in 0..<k.0 {
                        let y = oy * g.stride.0 - g.pads.0 + ky * g.dilation.0
                        for kx in 0..<k.1 {
                            let xx = ox * g.stride.1 - g.pads.1 + kx * g.dilation.1
                            if y >= 0 && y < h && xx >= 0 && xx < w {
                                let v = xv[base + y * w + xx]
                                if p.isMax { acc = max(acc, v) } else { acc += v }
                                valid += 1
                            } else if y < h + g.pads.2 && xx < w + g.pads.3 {
                                padded += 1
                            }
                        }
                    }
                    if !p.isMax { acc /= Float(max(1, p.countIncludePad ? valid + padded : valid)) }
                    out[(plane * oh + oy) * ow + ox] = acc
                }
            }
        }
        let shape = spatial == 2 ? [n, c, oh, ow] : [n, c, ow]
        return ONNXTensor(shape: shape, floats: out, type: x.elementType)
    }
}

/// The planes a pooling pass reads and writes. `@unchecked Sendable`: each worker writes only its
/// own planes of `dst`; `src` is only read.
private struct PoolBuffers: @unchecked Sendable {
    let src: UnsafePointer<Float>
    let dst: UnsafeMutablePointer<Float>
}
