// Splitting an image into colour and alpha, and joining them again.
//
// How an upscaler treats alpha (what Real-ESRGAN's inference script does, and what Peregrine's
// models should do):
//
//     let (color, alpha) = image.splitAlpha()
//     let planes = color.tensors()                    // RGB [1,3,H,W]; gray expanded to 3 planes
//     let upscaled = model(planes.color)              // [1,3,sH,sW]
//     var upAlpha: Tensor? = nil
//     if let alpha {
//         let a = alpha.tensors(expandingGray: false).color      // [1,1,H,W]
//         upAlpha = useModelForAlpha
//             ? model(gray-to-RGB copy of a) then plane 0           // alpha_upsampler == "realesrgan"
//             : PlaneResize.resize(a, width: sW, height: sH, filter: .bilinear)  // cv2 INTER_LINEAR
//     }
//     let result = try Image(color: upscaled, alpha: upAlpha, bitDepth: image.bitDepth)
//
// For a gray input the script also converts back at the end (`converted(toChannels: 1/2)`).
// Colour under transparent pixels is kept as stored: the model sees it, like upstream.

extension Image {
    /// The colour channels and, when there is one, the alpha channel as a 1-channel image.
    public func splitAlpha() -> (color: Image, alpha: Image?) {
        guard hasAlpha else { return (self, nil) }
        let colorCount = colorChannels
        func split<T>(_ values: [T]) -> ([T], [T]) {
            var color: [T] = []
            var alpha: [T] = []
            color.reserveCapacity(pixelCount * colorCount)
            alpha.reserveCapacity(pixelCount)
            for p in 0..<pixelCount {
                let s = p * channels
                for c in 0..<colorCount { color.append(values[s + c]) }
                alpha.append(values[s + colorCount])
            }
            return (color, alpha)
        }
        switch samples {
        case .uint8(let values):
            let (color, alpha) = split(values)
            return (Image(uncheckedWidth: width, height: height, channels: colorCount, samples: .uint8(color)),
                    Image(uncheckedWidth: width, height: height, channels: 1, samples: .uint8(alpha)))
        case .uint16(let values):
            let (color, alpha) = split(values)
            return (Image(uncheckedWidth: width, height: height, channels: colorCount, samples: .uint16(color)),
                    Image(uncheckedWidth: width, height: height, channels: 1, samples: .uint16(alpha)))
        }
    }

    /// Joins a gray or RGB image with a 1-channel alpha image of the same size; the alpha is
    /// converted to the colour image's bit depth.
    /// - Throws: `MediaError` with code `invalidArgument` when sizes or layouts do not fit.
    public static func joining(color: Image, alpha: Image) throws -> Image {
        guard !color.hasAlpha, alpha.channels == 1, color.width == alpha.width, color.height == alpha.height else {
            throw MediaError(.invalidArgument,
                "join alpha: need gray/RGB \(color.width)x\(color.height) and 1-channel alpha of that size, got \(color.channels) and \(alpha.width)x\(alpha.height)x\(alpha.channels)")
        }
        let alpha = alpha.converted(to: color.bitDepth)
        let channels = color.channels + 1
        func join<T>(_ colorValues: [T], _ alphaValues: [T]) -> [T] {
            var out: [T] = []
            out.reserveCapacity(color.pixelCount * channels)
            for p in 0..<color.pixelCount {
                for c in 0..<color.channels { out.append(colorValues[p * color.channels + c]) }
                out.append(alphaValues[p])
            }
            return out
        }
        switch (color.samples, alpha.samples) {
        case (.uint8(let c), .uint8(let a)):
            return Image(uncheckedWidth: color.width, height: color.height, channels: channels, samples: .uint8(join(c, a)))
        case (.uint16(let c), .uint16(let a)):
            return Image(uncheckedWidth: color.width, height: color.height, channels: channels, samples: .uint16(join(c, a)))
        default:
            throw MediaError(.invalidArgument, "join alpha: bit depths differ")
        }
    }
}
