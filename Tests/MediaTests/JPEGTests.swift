import Testing
@testable import Media

@Suite("JPEG")
struct JPEGTests {
    @Test("gray and RGB survive encoding at quality 95 closely", arguments: [1, 3], [false, true])
    func roundTrip(channels: Int, progressive: Bool) throws {
        let image = TestImages.smooth(width: 48, height: 40, channels: channels, bitDepth: .eight)
        let file = try image.encoded(as: .jpeg(quality: 95, fullChroma: true, progressive: progressive))
        #expect(ImageFormat.sniff(file) == .jpeg)
        let decoded = try Image.decode(file)
        #expect(decoded.width == 48 && decoded.height == 40 && decoded.channels == channels && decoded.bitDepth == .eight)
        #expect(TestImages.maxDifference(decoded, image) <= 6)
        #expect(try Image.info(file).channels == channels)
    }

    @Test("quality changes the size: lower quality, smaller file")
    func qualityMatters() throws {
        let image = TestImages.noise(width: 64, height: 64, channels: 3, bitDepth: .eight, seed: 7)
        let low = try image.encoded(as: .jpeg(quality: 20))
        let high = try image.encoded(as: .jpeg(quality: 95))
        #expect(low.count < high.count)
    }

    @Test("alpha is dropped and 16-bit rounded to 8 bits")
    func adaptsLayouts() throws {
        let image = TestImages.smooth(width: 16, height: 16, channels: 4, bitDepth: .sixteen)
        let decoded = try Image.decode(try image.encoded(as: .jpeg(quality: 100, fullChroma: true)))
        #expect(decoded.channels == 3 && decoded.bitDepth == .eight)
        let expected = try image.converted(to: .eight).converted(toChannels: 3)
        #expect(TestImages.maxDifference(decoded, expected) <= 3)
    }

    @Test("Adobe CMYK is converted to RGB")
    func cmyk() throws {
        // Adobe's convention stores inverted ink: stored 255 = no ink. Cyan-free, magenta-free,
        // half yellow, no black → R = 255, G = 255, B ≈ 128.
        let stored = [255, 255, 128, 255]
        let values = (0..<(8 * 8)).flatMap { _ in stored }
        let image = TestImages.make(width: 8, height: 8, channels: 4, bitDepth: .eight, values: values)
        let file = try JPEGCodec.encode(image, quality: 100, fullChroma: true, progressive: false, cmyk: true)
        let decoded = try Image.decode(file)
        #expect(decoded.channels == 3)
        #expect(abs(decoded.sample(x: 3, y: 3, channel: 0) - 255) <= 2)
        #expect(abs(decoded.sample(x: 3, y: 3, channel: 1) - 255) <= 2)
        #expect(abs(decoded.sample(x: 3, y: 3, channel: 2) - 128) <= 3)
    }

    /// An APP1 segment holding a TIFF structure whose IFD0 has one tag: orientation.
    static func exifSegment(orientation: Int, bigEndian: Bool) -> [UInt8] {
        func u16(_ v: Int) -> [UInt8] { bigEndian ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func u32(_ v: Int) -> [UInt8] { bigEndian ? u16(v >> 16) + u16(v & 0xFFFF) : u16(v & 0xFFFF) + u16(v >> 16) }
        var tiff: [UInt8] = bigEndian ? [0x4D, 0x4D] : [0x49, 0x49]
        tiff += u16(42) + u32(8)
        // Two entries: an unrelated tag first (ImageDescription offset), then orientation.
        tiff += u16(2)
        tiff += u16(0x010E) + u16(2) + u32(4) + u32(0)
        tiff += u16(0x0112) + u16(3) + u32(1) + u16(orientation) + u16(0)
        tiff += u32(0)
        let body = Array("Exif".utf8) + [0, 0] + tiff
        let length = body.count + 2
        return [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + body
    }

    static func withEXIF(_ jpeg: [UInt8], orientation: Int, bigEndian: Bool = false) -> [UInt8] {
        Array(jpeg[0..<2]) + exifSegment(orientation: orientation, bigEndian: bigEndian) + Array(jpeg[2...])
    }

    @Test("EXIF orientation is applied on decode", arguments: ImageOrientation.allCases, [false, true])
    func exifOrientation(orientation: ImageOrientation, bigEndian: Bool) throws {
        let image = TestImages.smooth(width: 24, height: 16, channels: 3, bitDepth: .eight)
        let file = Self.withEXIF(try image.encoded(as: .jpeg(quality: 90)), orientation: orientation.rawValue, bigEndian: bigEndian)
        let stored = try Image.decode(file, options: ImageDecodingOptions(appliesOrientation: false))
        #expect(stored.width == 24 && stored.height == 16)
        let upright = try Image.decode(file)
        #expect(upright == stored.applying(orientation))
        let info = try Image.info(file)
        #expect(info.orientation == orientation)
        #expect(info.width == upright.width && info.height == upright.height)
        #expect(upright.width == (orientation.swapsDimensions ? 16 : 24))
    }

    @Test("orientation transforms move the corners where EXIF says")
    func orientationGeometry() throws {
        // 3x2 image, gray values 0...5 row-major: [0 1 2; 3 4 5].
        let image = TestImages.make(width: 3, height: 2, channels: 1, bitDepth: .eight, values: [0, 1, 2, 3, 4, 5])
        func rows(_ o: ImageOrientation) -> [[Int]] {
            let r = image.applying(o)
            return (0..<r.height).map { y in (0..<r.width).map { r.sample(x: $0, y: y, channel: 0) } }
        }
        #expect(rows(.up) == [[0, 1, 2], [3, 4, 5]])
        #expect(rows(.upMirrored) == [[2, 1, 0], [5, 4, 3]])
        #expect(rows(.down) == [[5, 4, 3], [2, 1, 0]])
        #expect(rows(.downMirrored) == [[3, 4, 5], [0, 1, 2]])
        #expect(rows(.leftMirrored) == [[0, 3], [1, 4], [2, 5]])
        #expect(rows(.right) == [[3, 0], [4, 1], [5, 2]])  // rotated 90° clockwise
        #expect(rows(.rightMirrored) == [[5, 2], [4, 1], [3, 0]])
        #expect(rows(.left) == [[2, 5], [1, 4], [0, 3]])  // rotated 90° counter-clockwise
    }

    @Test("malformed EXIF blocks are ignored, not fatal")
    func malformedEXIF() throws {
        let image = TestImages.smooth(width: 8, height: 8, channels: 3, bitDepth: .eight)
        let jpeg = try image.encoded(as: .jpeg())
        var segment = Self.exifSegment(orientation: 6, bigEndian: false)
        segment[14] = 0xFF  // IFD offset points far outside the block
        segment[15] = 0xFF
        let file = Array(jpeg[0..<2]) + segment + Array(jpeg[2...])
        let decoded = try Image.decode(file)
        #expect(decoded.width == 8)
        #expect(try Image.info(file).orientation == .up)
        #expect(try Image.decode(Self.withEXIF(jpeg, orientation: 9)).width == 8)  // out-of-range value
    }
}
