import Tensor

extension Ops {
    /// Depth-to-space in PyTorch's channel order:
    /// `out[n][c][y*r + i][x*r + j] = in[n][c*r*r + i*r + j][y][x]`.
    /// - Throws: ``KernelError`` when channels are not divisible by `factor²`.
    public static func pixelShuffle(_ x: Tensor, factor r: Int, pool: ComputePool) throws -> Tensor {
        let (n, c, h, w) = x.nchw
        guard r > 0, c % (r * r) == 0 else {
            throw KernelError(.invalidParameter, "pixelShuffle: \(x.shape) channels not divisible by \(r)²")
        }
        let out = Tensor(uninitialized: Shape(n: n, c: c / (r * r), h: h * r, w: w * r))
        try pixelShuffle(x, factor: r, into: out, pool: pool)
        return out
    }

    /// Depth-to-space into a caller-provided output of shape `[N, C/r², H*r, W*r]`.
    public static func pixelShuffle(_ x: Tensor, factor r: Int, into output: Tensor, pool: ComputePool) throws {
        try checkF32(x, output, op: "pixelShuffle")
        let (n, c, h, w) = x.nchw
        guard r > 0, c % (r * r) == 0, output.count == x.count else {
            throw KernelError(.shapeMismatch, "pixelShuffle: \(x.shape) by \(r) into \(output.shape)")
        }
        let oc = c / (r * r), ow = w * r
        let src = x.floatPointer, dst = output.floatPointer
        // One part per output row: reads r planes' rows, writes one contiguous row.
        pool.parallelFor(n * oc * h * r, minimumPerPart: 64) { range in
            for row in range {
                let oy = row % (h * r), nc = row / (h * r)
                let y = oy / r, i = oy % r
                let d = dst + row * ow
                for j in 0..<r {
                    let s = src + ((nc * r * r + i * r + j) * h + y) * w
                    var ox = j
                    for xx in 0..<w {
                        d[ox] = s[xx]
                        ox += r
                    }
                }
            }
        }
    }
}

extension Reference {
    /// Depth-to-space by definition (PyTorch channel order).
    public static func pixelShuffle(_ x: Tensor, factor r: Int) -> Tensor {
        let (n, c, h, w) = x.nchw
        let oc = c / (r * r)
        let out = Tensor(zeros: Shape(n: n, c: oc, h: h * r, w: w * r))
        for b in 0..<n {
            for ch in 0..<oc {
                for y in 0..<(h * r) {
                    for xx in 0..<(w * r) {
                        out[b, ch, y, xx] = x[b, ch * r * r + (y % r) * r + (xx % r), y / r, xx / r]
                    }
                }
            }
        }
        return out
    }
}
