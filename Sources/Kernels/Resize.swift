import Foundation
import Tensor

/// How a resize samples the source.
public enum ResizeMode: Sendable, Hashable {
    /// The source pixel the mapped coordinate falls in (floor), clamped to the image.
    case nearest
    /// Linear in each direction over the 2 nearest source pixels, borders clamped.
    case bilinear
    /// Keys cubic convolution over 4 source pixels with A = -0.75 (PyTorch, ncnn), indices
    /// clamped to the border (replicate), no antialiasing.
    case bicubic
}

/// How output pixel coordinates map to source coordinates.
public enum ResizeCoordinates: Sendable, Hashable {
    /// `src = (dst + 0.5) * scale - 0.5`: PyTorch `align_corners=False` and ncnn Interp with
    /// `align_corner=0` for bilinear/bicubic; for nearest, `floor((dst + 0.5) * scale)`
    /// (PyTorch `nearest-exact`).
    case halfPixel
    /// `src = dst * (in - 1) / (out - 1)`: PyTorch `align_corners=True`, ncnn `align_corner=1`.
    case alignCorners
    /// `src = dst * scale`: PyTorch `nearest` and ncnn Interp's nearest.
    case asymmetric
}

/// Resize options; the defaults match PyTorch `interpolate(..., mode, align_corners=False)`.
///
/// ncnn's Interp maps as: `resize_type` 1 (nearest) -> `.nearest` with `.asymmetric`;
/// 2 (bilinear) and 3 (bicubic) -> `.bilinear`/`.bicubic` with `.halfPixel`, or `.alignCorners`
/// when `align_corner=1`. When Interp is given scale factors instead of an output size it samples
/// with `1 / scale`: pass that as ``scale``.
public struct ResizeOptions: Sendable, Hashable {
    /// Sampling kernel.
    public var mode: ResizeMode
    /// Coordinate mapping.
    public var coordinates: ResizeCoordinates
    /// Source pixels per output pixel (y, x). Nil means `in / out`; set it to `1 / scale_factor`
    /// to match PyTorch's `scale_factor=` (without `recompute_scale_factor`) when the output size
    /// was rounded.
    public var scale: (y: Float, x: Float)?

    /// Creates options.
    public init(mode: ResizeMode, coordinates: ResizeCoordinates? = nil, scale: (y: Float, x: Float)? = nil) {
        self.mode = mode
        self.coordinates = coordinates ?? (mode == .nearest ? .asymmetric : .halfPixel)
        self.scale = scale
    }

    /// Equal when every field is.
    public static func == (a: ResizeOptions, b: ResizeOptions) -> Bool {
        a.mode == b.mode && a.coordinates == b.coordinates && a.scale?.y == b.scale?.y && a.scale?.x == b.scale?.x
    }

    /// Hashes every field.
    public func hash(into h: inout Hasher) {
        h.combine(mode)
        h.combine(coordinates)
        h.combine(scale?.y)
        h.combine(scale?.x)
    }
}

/// Per-output-coordinate source taps along one axis: `taps` indices and weights per output.
struct ResizeAxis {
    var index: [Int32]
    var weight: [Float]
    let taps: Int

    init(input: Int, output: Int, scale explicit: Float?, options: ResizeOptions) {
        let scale: Double = explicit.map(Double.init) ?? Double(input) / Double(output)
        taps = options.mode == .nearest ? 1 : (options.mode == .bilinear ? 2 : 4)
        index = []
        weight = []
        index.reserveCapacity(output * taps)
        weight.reserveCapacity(output * taps)
        func clamp(_ i: Int) -> Int32 { Int32(min(max(i, 0), input - 1)) }
        for d in 0..<output {
            var src: Double
            switch options.coordinates {
            case .alignCorners: src = output > 1 ? Double(d) * Double(input - 1) / Double(output - 1) : 0
            case .asymmetric: src = Double(d) * scale
            case .halfPixel: src = options.mode == .nearest ? (Double(d) + 0.5) * scale : (Double(d) + 0.5) * scale - 0.5
            }
            switch options.mode {
            case .nearest:
                index.append(clamp(Int(Foundation.floor(Float(src)))))
                weight.append(1)
            case .bilinear:
                src = max(src, 0)
                let i0 = Int(Foundation.floor(src))
                let t = Float(src - Double(i0))
                index.append(clamp(i0))
                index.append(clamp(i0 + 1))
                weight.append(i0 >= input - 1 ? 1 : 1 - t)
                weight.append(i0 >= input - 1 ? 0 : t)
            case .bicubic:
                let i0 = Int(Foundation.floor(src))
                let t = Float(src - Double(i0))
                let c = ResizeAxis.cubicWeights(t)
                for k in 0..<4 {
                    index.append(clamp(i0 - 1 + k))
                    weight.append(c[k])
                }
            }
        }
    }

    /// Keys cubic weights for taps at -1, 0, 1, 2 with A = -0.75.
    static func cubicWeights(_ t: Float) -> [Float] {
        let a: Float = -0.75
        func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
        func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        return [far(t + 1), near(t), near(1 - t), far(2 - t)]
    }
}

extension Ops {
    /// Resizes the spatial dimensions of an NCHW tensor.
    /// - Parameters:
    ///   - x: `[N, C, H, W]` f32.
    ///   - height: output height.
    ///   - width: output width.
    ///   - options: sampling and coordinate mapping.
    ///   - pool: threads.
    public static func resize(_ x: Tensor, height: Int, width: Int, options: ResizeOptions, pool: ComputePool) throws -> Tensor {
        let out = Tensor(uninitialized: Shape(n: x.shape.n, c: x.shape.c, h: height, w: width))
        try resize(x, into: out, options: options, pool: pool)
        return out
    }

    /// Resizes into `output`, whose height and width give the target size.
    public static func resize(_ x: Tensor, into output: Tensor, options: ResizeOptions, pool: ComputePool) throws {
        try checkF32(x, output, op: "resize")
        let (n, c, h, w) = x.nchw
        let (on, oc, oh, ow) = output.nchw
        guard on == n, oc == c, oh > 0, ow > 0, h > 0, w > 0 else {
            throw KernelError(.shapeMismatch, "resize: \(x.shape) into \(output.shape)")
        }
        let ax = ResizeAxis(input: w, output: ow, scale: options.scale?.x, options: options)
        let ay = ResizeAxis(input: h, output: oh, scale: options.scale?.y, options: options)
        let src = x.floatPointer, dst = output.floatPointer
        let taps = ax.taps
        ax.index.withUnsafeBufferPointer { xi in
        ax.weight.withUnsafeBufferPointer { xw in
        ay.index.withUnsafeBufferPointer { yi in
        ay.weight.withUnsafeBufferPointer { yw in
            pool.parallelFor(n * c * oh, minimumPerPart: 16) { range in
                // Horizontal pass per needed source row into `rows`, then the vertical blend.
                var rows = [Float](repeating: 0, count: taps * ow)
                rows.withUnsafeMutableBufferPointer { rb in
                    for r in range {
                        let plane = r / oh, oy = r % oh
                        let s = src + plane * h * w
                        let d = dst + r * ow
                        for t in 0..<taps {
                            let srow = s + Int(yi[oy * taps + t]) * w
                            let row = rb.baseAddress! + t * ow
                            if taps == 1 {
                                for ox in 0..<ow { row[ox] = srow[Int(xi[ox])] }
                            } else if taps == 2 {
                                for ox in 0..<ow {
                                    row[ox] = srow[Int(xi[2 * ox])] * xw[2 * ox] + srow[Int(xi[2 * ox + 1])] * xw[2 * ox + 1]
                                }
                            } else {
                                for ox in 0..<ow {
                                    let b = 4 * ox
                                    var v = srow[Int(xi[b])] * xw[b]
                                    v += srow[Int(xi[b + 1])] * xw[b + 1]
                                    v += srow[Int(xi[b + 2])] * xw[b + 2]
                                    v += srow[Int(xi[b + 3])] * xw[b + 3]
                                    row[ox] = v
                                }
                            }
                        }
                        if taps == 1 {
                            d.update(from: rb.baseAddress!, count: ow)
                        } else {
                            for ox in 0..<ow { d[ox] = 0 }
                            for t in 0..<taps {
                                let wv = yw[oy * taps + t]
                                let row = rb.baseAddress! + t * ow
                                for ox in 0..<ow { d[ox] += wv * row[ox] }
                            }
                        }
                    }
                }
            }
        }}}}
    }
}

extension Reference {
    /// Resize written the way ncnn's Interp and PyTorch describe it, independent of the
    /// optimized op's tap tables: bilinear clamps the source coordinate (ncnn: `sx < 0 -> 0`,
    /// `sx >= w-1 -> (w-2, fx = 1)`), bicubic folds out-of-range taps onto the border pixels.
    public static func resize(_ x: Tensor, height oh: Int, width ow: Int, options: ResizeOptions) -> Tensor {
        let (n, c, h, w) = x.nchw
        func source(_ d: Int, _ input: Int, _ output: Int, _ explicit: Float?) -> Double {
            let scale = explicit.map(Double.init) ?? Double(input) / Double(output)
            switch options.coordinates {
            case .alignCorners: return output > 1 ? Double(d) * Double(input - 1) / Double(output - 1) : 0
            case .asymmetric: return Double(d) * scale
            case .halfPixel: return (Double(d) + 0.5) * scale - (options.mode == .nearest ? 0 : 0.5)
            }
        }
        /// (index, weight) pairs along one axis for output coordinate d.
        func taps(_ d: Int, _ input: Int, _ output: Int, _ explicit: Float?) -> [(Int, Double)] {
            let f = source(d, input, output, explicit)
            switch options.mode {
            case .nearest:
                return [(min(max(Int(Float(f).rounded(.down)), 0), input - 1), 1)]
            case .bilinear:
                var sx = Int(f.rounded(.down)), fx = f - Double(sx)
                if sx < 0 { sx = 0; fx = 0 }
                if sx >= input - 1 { return [(input - 1, 1)] }
                return [(sx, 1 - fx), (sx + 1, fx)]
            case .bicubic:
                let sx = Int(f.rounded(.down)), t = f - Double(sx)
                let a = -0.75
                func k(_ x: Double) -> Double {
                    let x = abs(x)
                    if x <= 1 { return (a + 2) * x * x * x - (a + 3) * x * x + 1 }
                    if x < 2 { return a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a }
                    return 0
                }
                return (-1...2).map { o in (min(max(sx + o, 0), input - 1), k(Double(o) - t)) }
            }
        }
        let out = Tensor(zeros: Shape(n: n, c: c, h: oh, w: ow))
        for b in 0..<n {
            for ch in 0..<c {
                for oy in 0..<oh {
                    let ty = taps(oy, h, oh, options.scale?.y)
                    for ox in 0..<ow {
                        var s: Double = 0
                        for (iy, wy) in ty {
                            for (ix, wx) in taps(ox, w, ow, options.scale?.x) {
                                s += wy * wx * Double(x[b, ch, iy, ix])
                            }
                        }
                        out[b, ch, oy, ox] = Float(s)
                    }
                }
            }
        }
        return out
    }
}
