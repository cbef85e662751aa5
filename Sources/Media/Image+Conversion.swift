// Bit-depth and channel-layout conversions.

extension Image {
    /// This image at another bit depth.
    ///
    /// Widening multiplies by 257 (so 255 becomes 65535 exactly); narrowing rounds to nearest.
    public func converted(to bitDepth: BitDepth) -> Image {
        switch (samples, bitDepth) {
        case (.uint8, .eight), (.uint16, .sixteen):
            return self
        case (.uint8(let values), .sixteen):
            return Image(uncheckedWidth: width, height: height, channels: channels,
                         samples: .uint16(values.map { UInt16($0) &* 257 }))
        case (.uint16(let values), .eight):
            return Image(uncheckedWidth: width, height: height, channels: channels,
                         samples: .uint8(values.map { UInt8((UInt32($0) &* 255 &+ 32767) / 65535) }))
        }
    }

    /// This image with another channel layout.
    ///
    /// Gray becomes RGB by copying; RGB becomes gray by ITU-R BT.601 luma (0.299 R + 0.587 G +
    /// 0.114 B, as OpenCV and PIL do); alpha is dropped, or added as fully opaque.
    /// - Parameter channels: 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
    /// - Throws: `MediaError` with code `invalidArgument` for another channel count.
    public func converted(toChannels channels: Int) throws -> Image {
        guard (1...4).contains(channels) else {
            throw MediaError(.invalidArgument, "image: channels must be 1...4, got \(channels)")
        }
        if channels == self.channels { return self }
        switch samples {
        case .uint8(let values):
            return Image(uncheckedWidth: width, height: height, channels: channels,
                         samples: .uint8(Image.convertLayout(values, from: self.channels, to: channels, pixels: pixelCount)))
        case .uint16(let values):
            return Image(uncheckedWidth: width, height: height, channels: channels,
                         samples: .uint16(Image.convertLayout(values, from: self.channels, to: channels, pixels: pixelCount)))
        }
    }

    static func convertLayout<T: FixedWidthInteger & UnsignedInteger>(
        _ source: [T], from: Int, to: Int, pixels: Int
    ) -> [T] {
        let sourceColor = from >= 3 ? 3 : 1
        let targetColor = to >= 3 ? 3 : 1
        let sourceAlpha = from == 2 || from == 4
        let targetAlpha = to == 2 || to == 4
        return [T](unsafeUninitializedCapacity: pixels * to) { out, count in
            source.withUnsafeBufferPointer { src in
                for p in 0..<pixels {
                    let s = p * from
                    let d = p * to
                    if sourceColor == targetColor {
                        for c in 0..<targetColor { out[d + c] = src[s + c] }
                    } else if targetColor == 3 {
                        out[d] = src[s]
                        out[d + 1] = src[s]
                        out[d + 2] = src[s]
                    } else {
                        let luma = 0.299 * Double(src[s]) + 0.587 * Double(src[s + 1]) + 0.114 * Double(src[s + 2])
                        out[d] = T(min(luma.rounded(), Double(T.max)))
                    }
                    if targetAlpha {
                        out[d + targetColor] = sourceAlpha ? src[s + sourceColor] : T.max
                    }
                }
            }
            count = pixels * to
        }
    }
}
