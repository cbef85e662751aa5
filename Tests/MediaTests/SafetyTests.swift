import Tensor
import Testing
@testable import Media

@Suite("Decoding untrusted input")
struct SafetyTests {
    static func sample(_ format: ImageFormat) throws -> [UInt8] {
        let image = TestImages.smooth(width: 40, height: 30, channels: format == .jpeg ? 3 : 4, bitDepth: .eight)
        switch format {
        case .png: return try image.encoded(as: .png())
        case .jpeg: return try image.encoded(as: .jpeg(quality: 80, progressive: true))
        case .webp: return try image.encoded(as: .webp(quality: 80))
        }
    }

    static func code(_ body: () throws -> Image) -> MediaError.Code? {
        do {
            _ = try body()
            return nil
        } catch let error as MediaError {
            return error.code
        } catch {
            Issue.record("not a MediaError: \(error)")
            return nil
        }
    }

    @Test("the format comes from the bytes, and unknown formats are named")
    func sniffing() throws {
        #expect(ImageFormat.sniff(try Self.sample(.png)) == .png)
        #expect(ImageFormat.sniff(Array("GIF89a......".utf8)) == nil)
        do {
            _ = try Image.decode(Array("GIF89a\u{1}\u{0}\u{1}\u{0}".utf8))
            Issue.record("a GIF decoded")
        } catch let error as MediaError {
            #expect(error.code == .unsupportedFormat)
            #expect(error.message.contains("GIF"))
        }
        #expect(Self.code { try Image.decode([UInt8]()) } == .unsupportedFormat)
        #expect(ImageFormat(mimeType: "image/JPG; q=1") == .jpeg)
    }

    @Test("a PNG header claiming 100,000 × 100,000 pixels is refused before allocating")
    func pngBomb() throws {
        let writer = TestPNGWriter(width: 2, height: 2, colorType: .rgb, bitDepth: 8) { _, _ in [1, 2, 3] }
        let file = writer.data(declaredWidth: 100_000, declaredHeight: 100_000)
        #expect(Self.code { try Image.decode(file) } == .tooLarge)
        #expect(try Image.info(file).width == 100_000)
        // PNG's largest width on one row: refused before libpng would size a row buffer for it.
        let row = writer.data(declaredWidth: 0x7FFF_FFFF, declaredHeight: 1)
        #expect(Self.code { try Image.decode(row) } == .tooLarge)
        // Within the side limit but over the pixel limit.
        let wide = writer.data(declaredWidth: 9000, declaredHeight: 9000)
        #expect(Self.code { try Image.decode(wide) } == .tooLarge)
    }

    @Test("a JPEG frame header claiming 60,000 × 60,000 pixels is refused")
    func jpegBomb() throws {
        var file = try Self.sample(.jpeg)
        // Patch every SOF (0xFFC0...0xFFC2) height and width fields.
        var i = 2
        while i + 9 < file.count {
            if file[i] == 0xFF, (0xC0...0xC2).contains(file[i + 1]) {
                file[i + 5] = 0xEA; file[i + 6] = 0x60  // height 60000
                file[i + 7] = 0xEA; file[i + 8] = 0x60  // width 60000
                break
            }
            i += 1
        }
        #expect(Self.code { try Image.decode(file) } == .tooLarge)
    }

    @Test("a progressive JPEG with more scans than allowed is refused")
    func scanLimit() throws {
        let file = try Self.sample(.jpeg)  // libjpeg's simple progression writes 10 scans
        #expect(Self.code { try Image.decode(file, options: ImageDecodingOptions(maxJPEGScans: 3)) } == .corrupt)
        #expect(try Image.decode(file, options: ImageDecodingOptions(maxJPEGScans: 10)).width == 40)
    }

    @Test("limits are configurable", arguments: ImageFormat.allCases)
    func configurableLimit(format: ImageFormat) throws {
        let file = try Self.sample(format)
        #expect(Self.code { try Image.decode(file, options: ImageDecodingOptions(maxPixels: 40 * 30 - 1)) } == .tooLarge)
        #expect(Self.code { try Image.decode(file, options: ImageDecodingOptions(maxDimension: 39)) } == .tooLarge)
        #expect(try Image.decode(file, options: ImageDecodingOptions(maxPixels: 40 * 30)).width == 40)
    }

    @Test("truncated files fail with `truncated`", arguments: ImageFormat.allCases)
    func truncated(format: ImageFormat) throws {
        let file = try Self.sample(format)
        for fraction in [0.3, 0.6, 0.9] {
            let cut = Array(file.prefix(Int(Double(file.count) * fraction)))
            #expect(Self.code { try Image.decode(cut) } == .truncated, "\(format) cut to \(fraction)")
        }
    }

    @Test("damaged headers fail with `corrupt`")
    func corruptHeaders() throws {
        var png = try Self.sample(.png)
        png[16] ^= 0x40  // IHDR width changes, CRC no longer matches
        #expect(Self.code { try Image.decode(png) } == .corrupt)
        var jpeg = try Self.sample(.jpeg)
        jpeg[3] = 0x02  // an invalid marker right after SOI
        #expect(Self.code { try Image.decode(jpeg) } == .corrupt)
        var webp = try Self.sample(.webp)
        for i in 12..<20 { webp[i] = 0x55 }  // destroy the first chunk header
        let code = Self.code { try Image.decode(webp) }
        #expect(code == .corrupt || code == .truncated)
    }

    @Test("random truncations and bit flips never crash", arguments: ImageFormat.allCases)
    func fuzz(format: ImageFormat) throws {
        let file = try Self.sample(format)
        var generator = SplitMix64(seed: 0xF00D + UInt64(ImageFormat.allCases.firstIndex(of: format)!))
        var failures = 0
        for round in 0..<300 {
            var mutated = file
            if round % 3 == 0 {
                mutated = Array(mutated.prefix(Int.random(in: 0..<file.count, using: &generator)))
            } else {
                for _ in 0..<Int.random(in: 1...8, using: &generator) {
                    let at = Int.random(in: 0..<mutated.count, using: &generator)
                    mutated[at] ^= UInt8(1) << UInt8.random(in: 0...7, using: &generator)
                }
            }
            do {
                let image = try Image.decode(mutated, options: ImageDecodingOptions(maxPixels: 1 << 20))
                #expect(image.samples.count == image.width * image.height * image.channels)
            } catch is MediaError {
                failures += 1
            }
            _ = try? Image.info(mutated)
        }
        #expect(failures > 0)  // the mutations did reach the decoders' error paths
    }
}
