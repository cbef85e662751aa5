import Foundation
import Media
import Testing

/// `LanczosResample` against Pillow's `Image.resize(..., LANCZOS)` (the goldens of
/// scripts/diffusion/make_resample_goldens.py), byte for byte.
@Suite("Lanczos resampling")
struct LanczosResampleTests {
    struct Case: Decodable {
        var seed: UInt64
        var channels: Int
        var width: Int
        var height: Int
        var outputWidth: Int
        var outputHeight: Int
        var output: [UInt8]

        enum CodingKeys: String, CodingKey {
            case seed, channels, width, height, output
            case outputWidth = "output_width", outputHeight = "output_height"
        }
    }

    /// The script's LCG: the top byte of each state.
    static func pixels(seed: UInt64, count: Int) -> [UInt8] {
        var x = seed
        return (0..<count).map { _ in
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(x >> 56)
        }
    }

    @Test("matches Pillow's Lanczos byte for byte: shrinking, enlarging, one axis, grey and RGB")
    func matchesPillow() throws {
        let cases = try JSONDecoder().decode([Case].self, from: DiffusionFixtures.golden("resample.json"))
        #expect(cases.count == 8)
        for c in cases {
            let image = try Image(width: c.width, height: c.height, channels: c.channels,
                                  samples: .uint8(Self.pixels(seed: c.seed, count: c.width * c.height * c.channels)))
            let out = try LanczosResample.resize(image, width: c.outputWidth, height: c.outputHeight)
            #expect(out.width == c.outputWidth && out.height == c.outputHeight && out.channels == c.channels)
            guard case .uint8(let got) = out.samples else { Issue.record("not 8-bit"); continue }
            let differing = zip(got, c.output).filter { $0 != $1 }.count
            #expect(got.count == c.output.count && differing == 0,
                    "\(c.width)x\(c.height) -> \(c.outputWidth)x\(c.outputHeight): \(differing) bytes differ")
        }
    }

    @Test("refuses 16-bit images and empty or huge outputs")
    func refusesBadInput() throws {
        let wide = try Image(width: 4, height: 4, channels: 3, bitDepth: .sixteen)
        #expect(throws: MediaError.self) { try LanczosResample.resize(wide, width: 2, height: 2) }
        let image = try Image(width: 4, height: 4, channels: 3, bitDepth: .eight)
        #expect(throws: MediaError.self) { try LanczosResample.resize(image, width: 0, height: 2) }
        #expect(throws: MediaError.self) { try LanczosResample.resize(image, width: 2, height: 1 << 20) }
    }
}
