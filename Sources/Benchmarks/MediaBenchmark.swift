// Throughput of the image codecs, conversions, resizing and tiling, for `peregrine bench` and
// the engine benchmark tool. Prints nothing itself: it returns one JSON object.

import Media
import Tensor

/// Measures Media's operations on a generated photo-like image.
public enum MediaBenchmark {
    /// Runs every measurement on a `size` × `size` RGB image and returns a JSON object:
    /// `{"size":N,"results":[{"name","milliseconds","bytes"?}...]}` (best of `repeats` runs).
    public static func run(size: Int = 1024, repeats: Int = 3) throws -> String {
        let image = try photoLike(size: size)
        var results: [String] = []
        func measure(_ name: String, bytes: Int? = nil, _ body: () throws -> Void) rethrows {
            var best = Duration.seconds(1_000_000)
            let clock = ContinuousClock()
            for _ in 0..<max(repeats, 1) {
                let elapsed = try clock.measure(body)
                best = min(best, elapsed)
            }
            let ms = Double(best.components.seconds) * 1000 + Double(best.components.attoseconds) / 1e15
            let rounded = (ms * 1000).rounded() / 1000
            results.append("{\"name\":\"\(name)\",\"milliseconds\":\(rounded)" + (bytes.map { ",\"bytes\":\($0)" } ?? "") + "}")
        }
        let encodings: [(String, ImageEncoding)] = [
            ("png", .png()), ("jpeg-q90", .jpeg(quality: 90)), ("webp-q90", .webp(quality: 90)), ("webp-lossless", .webp(quality: 75, lossless: true)),
        ]
        for (name, encoding) in encodings {
            var file: [UInt8] = []
            try measure("encode-\(name)") { file = try image.encoded(as: encoding) }
            let encoded = file
            try measure("decode-\(name)", bytes: encoded.count) { _ = try Image.decode(encoded) }
        }
        var planes = image.tensors()
        measure("image-to-tensor") { planes = image.tensors() }
        let color = planes.color
        try measure("tensor-to-image") { _ = try Image(color: color) }
        let alpha = try PlaneResize.resize(color.batch(0).view(elementOffset: 0, shape: Shape(n: 1, c: 1, h: size, w: size)),
                                           width: size, height: size, filter: .nearest)
        try measure("resize-plane-bicubic-x4") { _ = try PlaneResize.resize(alpha, width: size * 4, height: size * 4, filter: .bicubic) }
        try measure("resize-plane-bilinear-x4") { _ = try PlaneResize.resize(alpha, width: size * 4, height: size * 4, filter: .bilinear) }
        let tiler = try Tiler(tileSize: 256, context: 10, scale: 1)
        try measure("tile-identity-256-context-10") { _ = try tiler.run(color) { $0 } }
        return "{\"size\":\(size),\"results\":[" + results.joined(separator: ",") + "]}"
    }

    /// Smooth gradients with mild deterministic texture: compresses like a photo, not like
    /// noise or a flat colour.
    static func photoLike(size: Int) throws -> Image {
        var state: UInt32 = 2_463_534_242
        var values = [UInt8](repeating: 0, count: size * size * 3)
        for y in 0..<size {
            for x in 0..<size {
                state ^= state << 13
                state ^= state >> 17
                state ^= state << 5
                let grain = Int(state % 9) - 4
                let base = [x * 255 / size, y * 255 / size, (x + y) * 255 / (2 * size)]
                for c in 0..<3 { values[(y * size + x) * 3 + c] = UInt8(clamping: base[c] + grain) }
            }
        }
        return try Image(width: size, height: size, channels: 3, samples: .uint8(values))
    }
}
