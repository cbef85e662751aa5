import Testing
@testable import Media

@Suite("WebP")
struct WebPTests {
    @Test("lossless round trip is exact for RGB and RGBA", arguments: [3, 4])
    func lossless(channels: Int) throws {
        let image = TestImages.noise(width: 33, height: 21, channels: channels, bitDepth: .eight, seed: 11)
        let file = try image.encoded(as: .webp(quality: 50, lossless: true))
        #expect(ImageFormat.sniff(file) == .webp)
        #expect(try Image.decode(file) == image)
        #expect(try Image.info(file).channels == channels)
    }

    @Test("lossy round trip is close", arguments: [3, 4])
    func lossy(channels: Int) throws {
        let image = TestImages.smooth(width: 64, height: 48, channels: channels, bitDepth: .eight)
        let file = try image.encoded(as: .webp(quality: 95))
        let decoded = try Image.decode(file)
        #expect(decoded.channels == channels)
        #expect(TestImages.maxDifference(decoded, image) <= 12)
    }

    @Test("gray and 16-bit inputs are stored as 8-bit RGB(A)")
    func adaptsLayouts() throws {
        let gray = TestImages.noise(width: 10, height: 10, channels: 2, bitDepth: .sixteen, seed: 3)
        let decoded = try Image.decode(try gray.encoded(as: .webp(lossless: true)))
        #expect(decoded == (try gray.converted(to: .eight).converted(toChannels: 4)))
    }

    @Test("animated WebP decodes to its first frame and reports its frame count")
    func animated() throws {
        let first = TestImages.noise(width: 12, height: 9, channels: 4, bitDepth: .eight, seed: 1)
        let second = TestImages.noise(width: 12, height: 9, channels: 4, bitDepth: .eight, seed: 2)
        let third = TestImages.noise(width: 12, height: 9, channels: 4, bitDepth: .eight, seed: 3)
        let file = try WebPCodec.encodeAnimation([first, second, third], frameMilliseconds: 100, quality: 100, lossless: true)
        let info = try Image.info(file)
        #expect(info.frameCount == 3)
        #expect(info.width == 12 && info.height == 9)
        #expect { try Image.decode(file, options: ImageDecodingOptions(maxPixels: 12 * 9 - 1)) } throws: {
            ($0 as? MediaError)?.code == .tooLarge
        }
        let decoded = try Image.decode(file)
        // The animation encoder may change colour under fully transparent pixels; compare the
        // visible ones exactly.
        for y in 0..<9 {
            for x in 0..<12 where first.sample(x: x, y: y, channel: 3) > 0 {
                for c in 0..<4 { #expect(decoded.sample(x: x, y: y, channel: c) == first.sample(x: x, y: y, channel: c)) }
            }
        }
    }

    @Test("sides over WebP's limit are refused when encoding")
    func tooWide() throws {
        let image = try Image(width: 16_384, height: 1, channels: 3, bitDepth: .eight)
        #expect { try image.encoded(as: .webp()) } throws: { ($0 as? MediaError)?.code == .invalidArgument }
    }
}
