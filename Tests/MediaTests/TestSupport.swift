// Deterministic test images and a random number generator for the Media tests.

@testable import Media
import Tensor

enum TestImages {
    /// A smooth image (gradients per channel) that lossy codecs reproduce closely.
    static func smooth(width: Int, height: Int, channels: Int, bitDepth: Image.BitDepth) -> Image {
        var values: [Int] = []
        values.reserveCapacity(width * height * channels)
        let maxValue = bitDepth.maxValue
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<channels {
                    let t: Double
                    switch c {
                    case 0: t = Double(x) / Double(max(width - 1, 1))
                    case 1: t = Double(y) / Double(max(height - 1, 1))
                    case 2: t = Double(x + y) / Double(max(width + height - 2, 1))
                    default: t = 1 - Double(x) / Double(max(width - 1, 1)) * 0.5
                    }
                    values.append(Int((t * Double(maxValue)).rounded()))
                }
            }
        }
        return make(width: width, height: height, channels: channels, bitDepth: bitDepth, values: values)
    }

    /// An image of uniformly random samples (every bit matters for lossless round trips).
    static func noise(width: Int, height: Int, channels: Int, bitDepth: Image.BitDepth, seed: UInt64) -> Image {
        var generator = SplitMix64(seed: seed)
        let values = (0..<(width * height * channels)).map { _ in Int.random(in: 0...bitDepth.maxValue, using: &generator) }
        return make(width: width, height: height, channels: channels, bitDepth: bitDepth, values: values)
    }

    static func make(width: Int, height: Int, channels: Int, bitDepth: Image.BitDepth, values: [Int]) -> Image {
        let samples: Image.Samples = bitDepth == .eight ? .uint8(values.map { UInt8($0) }) : .uint16(values.map { UInt16($0) })
        return try! Image(width: width, height: height, channels: channels, samples: samples)
    }

    /// The largest absolute difference between two images' samples (same size and layout).
    static func maxDifference(_ a: Image, _ b: Image) -> Int {
        precondition(a.width == b.width && a.height == b.height && a.channels == b.channels)
        var worst = 0
        for y in 0..<a.height {
            for x in 0..<a.width {
                for c in 0..<a.channels {
                    worst = max(worst, abs(a.sample(x: x, y: y, channel: c) - b.sample(x: x, y: y, channel: c)))
                }
            }
        }
        return worst
    }
}
