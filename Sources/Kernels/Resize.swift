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

/// How output pixel coordinates map to source coordinates (ONNX `coordinate_transformation_mode`).
public enum ResizeCoordinates: Sendable, Hashable {
    /// `src = (dst + 0.5) * scale - 0.5`: PyTorch `align_corners=False` and ncnn Interp with
    /// `align_corner=0` for bilinear/bicubic; with nearest and the default rounding,
    /// `floor((dst + 0.5) * scale)` (PyTorch `nearest-exact`).
    case halfPixel
    /// As ``halfPixel``, but an output extent of 1 samples source 0 (ONNX `pytorch_half_pixel`).
    case pytorchHalfPixel
    /// `src = dst * (in - 1) / (out - 1)`: PyTorch `align_corners=True`, ncnn `align_corner=1`.
    case alignCorners
    /// `src = dst * scale`: PyTorch `nearest` and ncnn Interp's nearest.
    case asymmetric
}

/// How nearest-neighbour resizing rounds a fractional source coordinate (ONNX `nearest_mode`).
public enum NearestRounding: Sendable, Hashable {
    /// Round down.
    case floor
    /// Round up.
    case ceil
    /// Round to nearest, halves down.
    case roundPreferFloor
    /// Round to nearest, halves up.
    case roundPreferCeil

    func apply(_ c: Double) -> Int {
        switch self {
        case .floor: return Int(c.rounded(.down))
        case .ceil: return Int(c.rounded(.up))
        case .roundPreferCeil: return Int((c + 0.5).rounded(.down))
        case .roundPreferFloor: return c - c.rounded(.down) == 0.5 ? Int(c.rounded(.down)) : Int(c.rounded())
        }
    }
}

/// Resize options; the defaults match PyTorch `interpolate(..., mode, align_corners=False)`.
///
/// ncnn's Interp maps as: `resize_type` 1 (nearest) -> `.nearest` with `.asymmetric`;
/// 2 (bilinear) and 3 (bicubic) -> `.bilinear`/`.bicubic` with `.halfPixel`, or `.alignCorners`
/// when `align_corner=1`. When Interp is given scale factors instead of an output size it samples
/// with `1 / scale`: pass that as ``scale``. ONNX Resize maps its attributes one to one and
/// passes its scales as ``outputScale``.
public struct ResizeOptions: Sendable, Hashable {
    /// Sampling kernel.
    public var mode: ResizeMode
    /// Coordinate mapping.
    public var coordinates: ResizeCoordinates
    /// Source pixels per output pixel (y, x). Nil means `in / out`; set it to `1 / scale_factor`
    /// to match PyTorch's `scale_factor=` (without `recompute_scale_factor`) when the output size
    /// was rounded.
    public var scale: (y: Float, x: Float)?
    /// Output pixels per source pixel (y, x) as ONNX and PyTorch give scale factors: the source
    /// coordinate divides by it, in single precision as onnxruntime computes it (so nearest
    /// rounding agrees at exact boundaries). Takes precedence over ``scale``.
    public var outputScale: (y: Float, x: Float)?
    /// Rounding of nearest sampling; nil: the one matching the coordinate mapping's convention
    /// (`roundPreferCeil` for the half-pixel mappings, `floor` otherwise).
    public var nearestRounding: NearestRounding?
    /// The cubic convolution coefficient A (-0.75 as PyTorch and ncnn, -0.5 for Keys' original).
    public var cubicCoefficient: Float
    /// Whether cubic taps outside the image get weight 0 (and the rest renormalized) instead of
    /// repeating the border (ONNX `exclude_outside`).
    public var excludeOutside: Bool

    /// Creates options.
    public init(mode: ResizeMode, coordinates: ResizeCoordinates? = nil, scale: (y: Float, x: Float)? = nil,
                outputScale: (y: Float, x: Float)? = nil, nearestRounding: NearestRounding? = nil,
                cubicCoefficient: Float = -0.75, excludeOutside: Bool = false) {
        self.mode = mode
        self.coordinates = coordinates ?? (mode == .nearest ? .asymmetric : .halfPixel)
        self.scale = scale
        self.outputScale = outputScale
        self.nearestRounding = nearestRounding
        self.cubicCoefficient = cubicCoefficient
        self.excludeOutside = excludeOutside
    }

    /// Equal when every field is.
    public static func == (a: ResizeOptions, b: ResizeOptions) -> Bool {
        a.mode == b.mode && a.coordinates == b.coordinates && a.scale?.y == b.scale?.y && a.scale?.x == b.scale?.x
            && a.outputScale?.y == b.outputScale?.y && a.outputScale?.x == b.outputScale?.x
            && a.nearestRounding == b.nearestRounding && a.cubicCoefficient == b.cubicCoefficient && a.excludeOutside == b.excludeOutside
    }

    /// Hashes every field.
    public func hash(into h: inout Hasher) {
        h.combine(mode)
        h.combine(coordinates)
        h.combine(scale?.y)
        h.combine(scale?.x)
        h.combine(outputScale?.y)
        h.combine(outputScale?.x)
        h.combine(nearestRounding)
        h.combine(cubicCoefficient)
        h.combine(excludeOutside)
    }

    /// The rounding nearest sampling uses.
    var rounding: NearestRounding {
        nearestRounding ?? (coordinates == .halfPixel || coordinates == .pytorchHalfPixel ? .roundPreferCeil : .floor)
    }

    /// The source coordinate of output position `d` along an axis of `input` -> `output` pixels.
    func source(_ d: Int, input: Int, output: Int, scale explicit: Float?, outputScale factor: Float?) -> Double {
        if let factor {
            // As onnxruntime: single precision throughout.
            let x = Float(d)
            switch coordinates {
            case .asymmetric: return Double(x / factor)
            case .alignCorners: return output == 1 ? 0 : Double(x * Float(input - 1) / Float(output - 1))
            case .pytorchHalfPixel: return output > 1 ? Double((x + 0.5) / factor - 0.5) : 0
            case .halfPixel: return Double((x + 0.5) / factor - 0.5)
            }
        }
        let scale: Double = explicit.map(Double.init) ?? Double(input) / Double(output)
        switch coordinates {
        case .alignCorners: return output > 1 ? Double(d) * Double(input - 1) / Double(output - 1) : 0
        case .asymmetric: return Double(d) * scale
        case .pytorchHalfPixel: return output > 1 ? (Double(d) + 0.5) * scale - 0.5 : 0
        case .halfPixel: return (Double(d) + 0.5) * scale - 0.5
        }
    }

    /// (index, weight) pairs along one axis for output coordinate `d`: indices clamped into the
    /// image, weights of a cubic renormalized when ``excludeOutside`` drops taps.
    func taps(_ d: Int, input: Int, output: Int, scale explicit: Float?, outputScale factor: Float?) -> [(Int, Float)] {
        let raw = source(d, input: input, output: output, scale: explicit, outputScale: factor)
        // Degenerate scales map far outside the image; every index is clamped anyway.
        let c = raw.isNaN ? 0 : min(max(raw, -1e9), 1e9)
        func clamp(_ i: Int) -> Int { min(max(i, 0), input - 1) }
        switch mode {
        case .nearest:
            return [(clamp(rounding.apply(factor == nil ? c : Double(Float(c)))), 1)]
        case .bilinear:
            let cc = min(max(c, 0), Double(input - 1))
            let i0 = Int(cc.rounded(.down)), t = Float(cc - Double(i0))
            return [(i0, 1 - t), (clamp(i0 + 1), t)]
        case .bicubic:
            let i0 = Int(c.rounded(.down)), t = Float(c - Double(i0)), a = cubicCoefficient
            var w = [t + 1, t, 1 - t, 2 - t].map { s -> Float in
                s <= 1 ? ((a + 2) * s - (a + 3)) * s * s + 1 : ((a * s - 5 * a) * s + 8 * a) * s - 4 * a
            }
            let idx = [i0 - 1, i0, i0 + 1, i0 + 2]
            if excludeOutside {
                for k in 0..<4 where idx[k] < 0 || idx[k] >= input { w[k] = 0 }
                let sum = w.reduce(0, +)
                if sum != 0 { w = w.map { $0 / sum } }
            }
            return (0..<4).map { (clamp(idx[$0]), w[$0]) }
        }
    }
}

/// Per-output-coordinate source taps along one axis: `taps` indices and weights per output.
struct ResizeAxis {
    var index: [Int32]
    var weight: [Float]
    let taps: Int

    init(input: Int, output: Int, scale explicit: Float?, outputScale factor: Float?, options: ResizeOptions) {
        taps = options.mode == .nearest ? 1 : (options.mode == .bilinear ? 2 : 4)
        index = []
        weight = []
        index.reserveCapacity(output * taps)
        weight.reserveCapacity(output * taps)
        for d in 0..<output {
            for (i, w) in options.taps(d, input: input, output: output, scale: explicit, outputScale: factor) {
                index.append(Int32(i))
                weight.append(w)
            }
        }
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
        let ax = ResizeAxis(input: w, output: ow, scale: options.scale?.x, outputScale: options.outputScale?.x, options: options)
        let ay = ResizeAxis(input: h, output: oh, scale: options.scale?.y, outputScale: options.outputScale?.y, options: options)
        let src = x.floatPointer, dst = output.floatPointer
        let taps = ax.taps
        ax.index.withUnsafeBufferPointer { xi in
        ax.weight.withUnsafeBufferPointer { xw in
        ay.index.withUnsafeBufferPointer { yi in
        ay.weight.withUnsafeBufferPointer { yw in
            // A part below ~16k taps is not worth waking a thread for.
            pool.parallelFor(n * c * oh, minimumPerPart: max(16, 16384 / max(1, ow * taps))) { range in
                // Horizontal pass per needed source row into `rows`, then the vertical blend.
                var rows = [Float](repeating: 0, count: taps * ow)
                rows.withUnsafeMutableBufferPointer { rb in
                    for r in range {
                        let plane = r / oh, oy = r % oh
                        let s = src + plane * h * w
                        let d = dst + r * ow
                        if taps == 1 {
                            // Nearest: an output row that reads the same source row as the one
                            // above it (integer upscales) is a copy of it; others gather in place.
                            if r > range.lowerBound && oy > 0 && yi[oy] == yi[oy - 1] {
                                d.update(from: d - ow, count: ow)
                            } else {
                                let srow = s + Int(yi[oy]) * w
                                for ox in 0..<ow { d[ox] = srow[Int(xi[ox])] }
                            }
                            continue
                        }
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
        func source(_ d: Int, _ input: Int, _ output: Int, _ explicit: Float?, _ factor: Float?) -> Double {
            if let factor {
                let x = Float(d)
                switch options.coordinates {
                case .asymmetric: return Double(x / factor)
                case .alignCorners: return output == 1 ? 0 : Double(x * Float(input - 1) / Float(output - 1))
                case .pytorchHalfPixel: return output > 1 ? Double((x + 0.5) / factor - 0.5) : 0
                case .halfPixel: return Double((x + 0.5) / factor - 0.5)
                }
            }
            let scale = explicit.map(Double.init) ?? Double(input) / Double(output)
            switch options.coordinates {
            case .alignCorners: return output > 1 ? Double(d) * Double(input - 1) / Double(output - 1) : 0
            case .asymmetric: return Double(d) * scale
            case .halfPixel: return (Double(d) + 0.5) * scale - 0.5
            case .pytorchHalfPixel: return output > 1 ? (Double(d) + 0.5) * scale - 0.5 : 0
            }
        }
        /// (index, weight) pairs along one axis for output coordinate d.
        func taps(_ d: Int, _ input: Int, _ output: Int, _ explicit: Float?, _ factor: Float?) -> [(Int, Double)] {
            let f = source(d, input, output, explicit, factor)
            switch options.mode {
            case .nearest:
                let half = options.coordinates == .halfPixel || options.coordinates == .pytorchHalfPixel
                let i: Int
                switch options.nearestRounding ?? (half ? .roundPreferCeil : .floor) {
                case .floor: i = Int(f.rounded(.down))
                case .ceil: i = Int(f.rounded(.up))
                case .roundPreferCeil: i = f - f.rounded(.down) >= 0.5 ? Int(f.rounded(.up)) : Int(f.rounded(.down))
                case .roundPreferFloor: i = f - f.rounded(.down) > 0.5 ? Int(f.rounded(.up)) : Int(f.rounded(.down))
                }
                return [(min(max(i, 0), input - 1), 1)]
            case .bilinear:
                var sx = Int(f.rounded(.down)), fx = f - Double(sx)
                if sx < 0 { sx = 0; fx = 0 }
                if sx >= input - 1 { return [(input - 1, 1)] }
                return [(sx, 1 - fx), (sx + 1, fx)]
            case .bicubic:
                let sx = Int(f.rounded(.down)), t = f - Double(sx)
                let a = Double(options.cubicCoefficient)
                func k(_ x: Double) -> Double {
                    let x = abs(x)
                    if x <= 1 { return (a + 2) * x * x * x - (a + 3) * x * x + 1 }
                    if x < 2 { return a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a }
                    return 0
                }
                var pairs = (-1...2).map { o in (sx + o, k(Double(o) - t)) }
                if options.excludeOutside {
                    pairs = pairs.map { ($0.0, $0.0 < 0 || $0.0 >= input ? 0 : $0.1) }
                    let total = pairs.reduce(0) { $0 + $1.1 }
                    if total != 0 { pairs = pairs.map { ($0.0, $0.1 / total) } }
                }
                return pairs.map { (min(max($0.0, 0), input - 1), $0.1) }
            }
        }
        let out = Tensor(zeros: Shape(n: n, c: c, h: oh, w: ow))
        for b in 0..<n {
            for ch in 0..<c {
                for oy in 0..<oh {
                    let ty = taps(oy, h, oh, options.scale?.y, options.outputScale?.y)
                    for ox in 0..<ow {
                        var s: Double = 0
                        for (iy, wy) in ty {
                            for (ix, wx) in taps(ox, w, ow, options.scale?.x, options.outputScale?.x) {
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
