// EXIF orientation: the eight ways a camera's stored pixels map to what should be shown.

/// How stored pixels must be turned to display upright, as the EXIF/TIFF orientation tag
/// (0x0112) says. The raw values are the tag's values.
public enum ImageOrientation: Int, Sendable, CaseIterable {
    /// 1: stored upright.
    case up = 1
    /// 2: mirrored left-right.
    case upMirrored = 2
    /// 3: rotated 180°.
    case down = 3
    /// 4: mirrored top-bottom.
    case downMirrored = 4
    /// 5: mirrored along the main diagonal (transpose).
    case leftMirrored = 5
    /// 6: must be rotated 90° clockwise to display.
    case right = 6
    /// 7: mirrored along the anti-diagonal (transverse).
    case rightMirrored = 7
    /// 8: must be rotated 90° counter-clockwise to display.
    case left = 8

    /// Whether displaying swaps width and height.
    public var swapsDimensions: Bool { rawValue >= 5 }
}

extension Image {
    /// The image turned upright for a stored `orientation` (what a viewer shows).
    public func applying(_ orientation: ImageOrientation) -> Image {
        if orientation == .up { return self }
        let w = width, h = height
        let outWidth = orientation.swapsDimensions ? h : w
        let outHeight = orientation.swapsDimensions ? w : h
        // For each output pixel (x, y), the source pixel it comes from.
        let source: (Int, Int) -> (Int, Int)
        switch orientation {
        case .up: source = { x, y in (x, y) }
        case .upMirrored: source = { x, y in (w - 1 - x, y) }
        case .down: source = { x, y in (w - 1 - x, h - 1 - y) }
        case .downMirrored: source = { x, y in (x, h - 1 - y) }
        case .leftMirrored: source = { x, y in (y, x) }
        case .right: source = { x, y in (y, h - 1 - x) }
        case .rightMirrored: source = { x, y in (w - 1 - y, h - 1 - x) }
        case .left: source = { x, y in (w - 1 - y, x) }
        }
        func remap<T>(_ values: [T]) -> [T] {
            let c = channels
            return [T](unsafeUninitializedCapacity: values.count) { out, count in
                values.withUnsafeBufferPointer { src in
                    for y in 0..<outHeight {
                        for x in 0..<outWidth {
                            let (sx, sy) = source(x, y)
                            let s = (sy * w + sx) * c
                            let d = (y * outWidth + x) * c
                            for k in 0..<c { (out.baseAddress! + d + k).initialize(to: src[s + k]) }
                        }
                    }
                }
                count = values.count
            }
        }
        switch samples {
        case .uint8(let values):
            return Image(uncheckedWidth: outWidth, height: outHeight, channels: channels, samples: .uint8(remap(values)))
        case .uint16(let values):
            return Image(uncheckedWidth: outWidth, height: outHeight, channels: channels, samples: .uint16(remap(values)))
        }
    }
}
