import Tensor

/// Max or average pooling geometry (PyTorch `MaxPool2d`/`AvgPool2d` semantics).
public struct PoolingParameters: Sendable, Hashable {
    /// What a window reduces to.
    public enum Kind: Sendable, Hashable {
        /// Largest value; padding never wins.
        case max
        /// Mean over the window.
        case average
    }
    /// Max or average.
    public var kind: Kind
    /// Window (height, width).
    public var kernelHeight: Int
    /// Window width.
    public var kernelWidth: Int
    /// Vertical stride.
    public var strideY: Int
    /// Horizontal stride.
    public var strideX: Int
    /// Implicit padding.
    public var padding: Padding
    /// Output size rounds up (windows may start in the bottom/right padding, never past it).
    public var ceilMode: Bool
    /// Average divides by the window area including padding (PyTorch's `count_include_pad`,
    /// ncnn's `avgpool_count_include_pad`); otherwise by the in-image pixels.
    public var countIncludePad: Bool

    /// Creates pooling parameters; stride defaults to the kernel size.
    public init(kind: Kind, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: Padding = .zero,
                ceilMode: Bool = false, countIncludePad: Bool = true) {
        self.kind = kind
        kernelHeight = kernel.0
        kernelWidth = kernel.1
        strideY = stride?.0 ?? kernel.0
        strideX = stride?.1 ?? kernel.1
        self.padding = padding
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
    }

    /// Output (height, width) for an input of the given size.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        func size(_ n: Int, _ k: Int, _ s: Int, _ p0: Int, _ p1: Int) -> Int {
            let span = n + p0 + p1 - k
            var o = (ceilMode ? (span + s - 1) / s : span / s) + 1
            // A window must start inside the image or the leading padding.
            if ceilMode && (o - 1) * s >= n + p0 { o -= 1 }
            return o
        }
        return (size(height, kernelHeight, strideY, padding.top, padding.bottom),
                size(width, kernelWidth, strideX, padding.left, padding.right))
    }

    /// Window [start, end) along one axis, plus the padded end used for count_include_pad.
    @inline(__always)
    func window(_ o: Int, _ s: Int, _ k: Int, _ p0: Int, _ p1: Int, _ n: Int) -> (Int, Int, Int) {
        let start = o * s - p0
        let padEnd = min(start + k, n + p1)
        return (max(start, 0), min(start + k, n), padEnd - start)
    }
}

extension Ops {
    /// 2-D max/average pooling of an NCHW tensor.
    /// - Throws: ``KernelError`` when a parameter is not positive or the output would be empty.
    public static func pool2d(_ x: Tensor, _ p: PoolingParameters, pool: ComputePool) throws -> Tensor {
        try checkF32(x, op: "pool2d")
        let (n, c, h, w) = x.nchw
        let (oh, ow) = p.outputSize(height: h, width: w)
        guard p.kernelHeight > 0, p.kernelWidth > 0, p.strideY > 0, p.strideX > 0, oh > 0, ow > 0 else {
            throw KernelError(.invalidParameter, "pool2d: \(p) on \(x.shape)")
        }
        let out = Tensor(uninitialized: Shape(n: n, c: c, h: oh, w: ow))
        let src = x.floatPointer, dst = out.floatPointer
        pool.parallelFor(n * c * oh, minimumPerPart: 16) { r in
            for i in r {
                let plane = i / oh, oy = i % oh
                let s = src + plane * h * w, d = dst + i * ow
                let (y0, y1, ypad) = p.window(oy, p.strideY, p.kernelHeight, p.padding.top, p.padding.bottom, h)
                for ox in 0..<ow {
                    let (x0, x1, xpad) = p.window(ox, p.strideX, p.kernelWidth, p.padding.left, p.padding.right, w)
                    if p.kind == .max {
                        var m = -Float.infinity
                        for y in y0..<y1 { let row = s + y * w; for xx in x0..<x1 { m = Swift.max(m, row[xx]) } }
                        d[ox] = m
                    } else {
                        var sum: Float = 0
                        for y in y0..<y1 { let row = s + y * w; for xx in x0..<x1 { sum += row[xx] } }
                        let count = p.countIncludePad ? ypad * xpad : (y1 - y0) * (x1 - x0)
                        d[ox] = sum / Float(Swift.max(count, 1))
                    }
                }
            }
        }
        return out
    }

    /// Global max/average pooling: `[N, C, H, W]` to `[N, C, 1, 1]`.
    public static func globalPool(_ x: Tensor, kind: PoolingParameters.Kind, pool: ComputePool) throws -> Tensor {
        try checkF32(x, op: "globalPool")
        let (n, c, h, w) = x.nchw
        let out = Tensor(uninitialized: Shape(n: n, c: c, h: 1, w: 1))
        let src = x.floatPointer, dst = out.floatPointer, plane = h * w
        pool.parallelFor(n * c, minimumPerPart: max(1, 16384 / max(plane, 1))) { r in
            for i in r {
                let s = src + i * plane
                if kind == .max {
                    var m = -Float.infinity
                    for j in 0..<plane { m = Swift.max(m, s[j]) }
                    dst[i] = m
                } else {
                    // Four partial sums keep the loop vectorizable and the rounding error small.
                    var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
                    var j = 0
                    while j + 4 <= plane { a0 += s[j]; a1 += s[j + 1]; a2 += s[j + 2]; a3 += s[j + 3]; j += 4 }
                    while j < plane { a0 += s[j]; j += 1 }
                    dst[i] = (a0 + a1 + a2 + a3) / Float(plane)
                }
            }
        }
        return out
    }
}

extension Reference {
    /// Pooling by definition, windows computed directly from PyTorch's formulas.
    public static func pool2d(_ x: Tensor, _ p: PoolingParameters) -> Tensor {
        let (n, c, h, w) = x.nchw
        let (oh, ow) = p.outputSize(height: h, width: w)
        let out = Tensor(zeros: Shape(n: n, c: c, h: oh, w: ow))
        for b in 0..<n { for ch in 0..<c { for oy in 0..<oh { for ox in 0..<ow {
            let hs = oy * p.strideY - p.padding.top, ws = ox * p.strideX - p.padding.left
            let he = min(hs + p.kernelHeight, h + p.padding.bottom), we = min(ws + p.kernelWidth, w + p.padding.right)
            let area = (he - hs) * (we - ws)
            var m = -Float.infinity, s: Double = 0, cnt = 0
            for y in max(hs, 0)..<min(he, h) { for xx in max(ws, 0)..<min(we, w) {
                let v = x[b, ch, y, xx]
                m = max(m, v); s += Double(v); cnt += 1
            } }
            out[b, ch, oy, ox] = p.kind == .max ? m : Float(s / Double(p.countIncludePad ? area : max(cnt, 1)))
        } } } }
        return out
    }

    /// Global pooling by definition.
    public static func globalPool(_ x: Tensor, kind: PoolingParameters.Kind) -> Tensor {
        let (n, c, h, w) = x.nchw
        let v = x.toArray()
        var out = [Float]()
        for i in 0..<(n * c) {
            let plane = v[(i * h * w)..<((i + 1) * h * w)]
            out.append(kind == .max ? plane.max()! : Float(plane.reduce(0.0) { $0 + Double($1) } / Double(h * w)))
        }
        return Tensor(shape: Shape(n: n, c: c, h: 1, w: 1), values: out)
    }
}
