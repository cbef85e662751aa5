// Converting between images and the engine's float32 NCHW tensors.

import Tensor

/// An image as the engine's models take it: colour planes and, separately, alpha.
public struct ImageTensors: Sendable {
    /// `[1, C, H, W]` f32 in [0, 1]: C = 3 (R, G, B) or 1 (gray when not expanded).
    public var color: Tensor
    /// `[1, 1, H, W]` f32 in [0, 1] when the image has alpha.
    public var alpha: Tensor?

    /// Pairs colour planes with an optional alpha plane.
    public init(color: Tensor, alpha: Tensor? = nil) {
        self.color = color
        self.alpha = alpha
    }
}

extension Image {
    /// The image as float32 NCHW planes in [0, 1] (sample / 255 or / 65535).
    ///
    /// Real-ESRGAN-style models take RGB, so gray is copied into three planes unless
    /// `expandingGray` is false. Alpha never goes into the colour tensor: a model that upscales
    /// colour handles alpha on its own (see `PlaneResize` and `Image.splitAlpha()`).
    public func tensors(expandingGray: Bool = true) -> ImageTensors {
        let planes = colorChannels == 1 && expandingGray ? 3 : colorChannels
        let color = Tensor(zeros: Shape(n: 1, c: planes, h: height, w: width))
        let alpha = hasAlpha ? Tensor(zeros: Shape(n: 1, c: 1, h: height, w: width)) : nil
        let plane = width * height
        let stride = channels
        let colorSource = colorChannels
        func fill<T: BinaryInteger>(_ values: [T], maxValue: Float) {
            let out = color.floatPointer
            let alphaOut = alpha?.floatPointer
            values.withUnsafeBufferPointer { src in
                for p in 0..<plane {
                    let s = p * stride
                    for c in 0..<planes {
                        out[c * plane + p] = Float(src[s + (colorSource == 1 ? 0 : c)]) / maxValue
                    }
                    if let alphaOut { alphaOut[p] = Float(src[s + stride - 1]) / maxValue }
                }
            }
        }
        switch samples {
        case .uint8(let values): fill(values, maxValue: 255)
        case .uint16(let values): fill(values, maxValue: 65535)
        }
        return ImageTensors(color: color, alpha: alpha)
    }

    /// Makes an image from float planes in [0, 1] (values outside are clamped, then scaled and
    /// rounded to the nearest sample, as Real-ESRGAN's `(x * 255).round()` does).
    /// - Parameters:
    ///   - color: `[1, 3, H, W]` or `[1, 1, H, W]` f32 (or `[3, H, W]`/`[1, H, W]`).
    ///   - alpha: optional `[1, 1, H, W]` f32 of the same height and width.
    ///   - bitDepth: the sample depth of the result.
    /// - Throws: `MediaError` with code `invalidArgument` when shapes or types do not fit.
    public init(color: Tensor, alpha: Tensor? = nil, bitDepth: BitDepth = .eight) throws {
        let shape = color.shape
        guard color.dtype == .f32, shape.rank >= 3, shape.n == 1, shape.c == 1 || shape.c == 3 else {
            throw MediaError(.invalidArgument, "image from tensor: colour must be f32 [1, 1|3, H, W], got \(color.shape) \(color.dtype)")
        }
        if let alpha {
            guard alpha.dtype == .f32, alpha.shape.n == 1, alpha.shape.c == 1, alpha.shape.h == shape.h, alpha.shape.w == shape.w else {
                throw MediaError(.invalidArgument, "image from tensor: alpha must be f32 [1, 1, \(shape.h), \(shape.w)], got \(alpha.shape) \(alpha.dtype)")
            }
        }
        let width = shape.w, height = shape.h
        let colorPlanes = shape.c
        let channels = colorPlanes + (alpha == nil ? 0 : 1)
        try Image.validate(width: width, height: height, channels: channels)
        let plane = width * height
        let count = plane * channels
        let source = color.floatPointer
        let alphaSource = alpha?.floatPointer
        func build<T: FixedWidthInteger & UnsignedInteger>(_: T.Type) -> [T] {
            let maxValue = Float(T.max)
            @inline(__always) func quantize(_ v: Float) -> T {
                // NaN fails both comparisons and lands on 0.
                let clamped = v > 1 ? 1 : (v >= 0 ? v : 0)
                // Half away from zero, as `rounded()`, without the libm call (clamped ≥ 0).
                return T(clamped * maxValue + 0.5)
            }
            return [T](unsafeUninitializedCapacity: count) { out, initialized in
                for p in 0..<plane {
                    let d = p * channels
                    for c in 0..<colorPlanes { out[d + c] = quantize(source[c * plane + p]) }
                    if let alphaSource { out[d + colorPlanes] = quantize(alphaSource[p]) }
                }
                initialized = count
            }
        }
        let samples: Samples = bitDepth == .eight ? .uint8(build(UInt8.self)) : .uint16(build(UInt16.self))
        self.init(uncheckedWidth: width, height: height, channels: channels, samples: samples)
    }
}
