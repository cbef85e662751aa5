import Testing
@testable import Media

@Suite("PNG")
struct PNGTests {
    @Test("encode then decode is exact for every layout and bit depth", arguments: [1, 2, 3, 4], Image.BitDepth.allCases)
    func roundTrip(channels: Int, bitDepth: Image.BitDepth) throws {
        let image = TestImages.noise(width: 37, height: 19, channels: channels, bitDepth: bitDepth, seed: UInt64(channels * 100 + bitDepth.rawValue))
        let file = try image.encoded(as: .png())
        #expect(ImageFormat.sniff(file) == .png)
        let decoded = try Image.decode(file)
        #expect(decoded == image)
        let info = try Image.info(file)
        #expect(info == ImageInfo(format: .png, width: 37, height: 19, channels: channels, bitDepth: bitDepth, frameCount: 1, orientation: .up))
    }

    @Test("palette with transparency expands to RGBA")
    func paletteWithAlpha() throws {
        let palette: [(UInt8, UInt8, UInt8)] = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (10, 20, 30)]
        let writer = TestPNGWriter(width: 5, height: 3, colorType: .palette, bitDepth: 2, palette: palette,
                                   transparency: [255, 128, 0]) { x, y in [(x + y) % 4] }
        let image = try Image.decode(writer.data())
        #expect(image.channels == 4 && image.bitDepth == .eight)
        for y in 0..<3 {
            for x in 0..<5 {
                let index = (x + y) % 4
                let expected = [Int(palette[index].0), Int(palette[index].1), Int(palette[index].2), [255, 128, 0, 255][index]]
                #expect((0..<4).map { image.sample(x: x, y: y, channel: $0) } == expected)
            }
        }
    }

    @Test("palette without transparency is RGB")
    func paletteOpaque() throws {
        let writer = TestPNGWriter(width: 9, height: 2, colorType: .palette, bitDepth: 8, palette: [(1, 2, 3), (4, 5, 6)]) { x, _ in [x % 2] }
        let image = try Image.decode(writer.data())
        #expect(image.channels == 3)
        #expect(image.sample(x: 1, y: 1, channel: 2) == 6)
        #expect(image.sample(x: 0, y: 0, channel: 0) == 1)
    }

    @Test("1/2/4-bit gray is scaled to 8 bits", arguments: [1, 2, 4])
    func lowBitGray(bitDepth: Int) throws {
        let levels = 1 << bitDepth
        let writer = TestPNGWriter(width: 11, height: 3, colorType: .gray, bitDepth: bitDepth) { x, y in [(x + y) % levels] }
        let image = try Image.decode(writer.data())
        #expect(image.channels == 1 && image.bitDepth == .eight)
        for y in 0..<3 {
            for x in 0..<11 {
                #expect(image.sample(x: x, y: y, channel: 0) == (x + y) % levels * 255 / (levels - 1))
            }
        }
    }

    @Test("gray with a transparent colour key gets an alpha channel")
    func grayColorKey() throws {
        let writer = TestPNGWriter(width: 4, height: 1, colorType: .gray, bitDepth: 16, transparency: [0x12, 0x34]) { x, _ in
            [x == 2 ? 0x1234 : x * 1000]
        }
        let image = try Image.decode(writer.data())
        #expect(image.channels == 2 && image.bitDepth == .sixteen)
        #expect(image.sample(x: 2, y: 0, channel: 1) == 0)
        #expect(image.sample(x: 3, y: 0, channel: 0) == 3000)
        #expect(image.sample(x: 3, y: 0, channel: 1) == 65535)
    }

    @Test("Adam7 interlaced files decode to the same pixels", arguments: [TestPNGWriter.ColorType.rgb, .grayAlpha, .rgba], [8, 16])
    func interlaced(colorType: TestPNGWriter.ColorType, bitDepth: Int) throws {
        var writer = TestPNGWriter(width: 13, height: 10, colorType: colorType, bitDepth: bitDepth) { x, y in
            let channels = colorType == .rgb ? 3 : (colorType == .rgba ? 4 : 2)
            return (0..<channels).map { c in (x * 31 + y * 17 + c * 5) % (bitDepth == 8 ? 256 : 65536) }
        }
        let plain = try Image.decode(writer.data())
        writer.interlaced = true
        let interlaced = try Image.decode(writer.data())
        #expect(interlaced == plain)
        #expect(plain.sample(x: 12, y: 9, channel: 1) == (12 * 31 + 9 * 17 + 5) % (bitDepth == 8 ? 256 : 65536))
    }
}
