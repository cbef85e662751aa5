import Kernels
import Tensor
import Testing

/// The one resize kernel over every mode the importers use (nearest with each rounding, linear,
/// cubic with its coefficient and exclude_outside, × every coordinate mapping, sizes or scale
/// factors) against the reference, on seeded random sizes up and down. Tolerance 1e-4 relative.
@Suite("Resize, every mode")
struct ResizeModesTests {
    static let coordinates: [ResizeCoordinates] = [.halfPixel, .pytorchHalfPixel, .alignCorners, .asymmetric]
    static let roundings: [NearestRounding?] = [nil, .floor, .ceil, .roundPreferFloor, .roundPreferCeil]

    @Test(arguments: 0..<48)
    func matchesReference(_ seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed) &+ 314)
        let h = Int.random(in: 1...13, using: &rng), w = Int.random(in: 1...17, using: &rng)
        let mode = [ResizeMode.nearest, .bilinear, .bicubic][seed % 3]
        let coordinates = Self.coordinates[(seed / 3) % 4]
        // Integer factors (the upscalers'), fractional ones, and downscales.
        let factors: [Float] = [2, 4, 1.5, 0.5, 3, 0.75]
        let fy = factors[seed % factors.count], fx = factors[(seed / 2) % factors.count]
        let oh = max(1, Int(Float(h) * fy)), ow = max(1, Int(Float(w) * fx))
        let given = seed % 4 < 2
        let options = ResizeOptions(mode: mode, coordinates: coordinates, outputScale: given ? (fy, fx) : nil,
                                    nearestRounding: Self.roundings[seed % Self.roundings.count],
                                    cubicCoefficient: seed % 2 == 0 ? -0.75 : -0.5, excludeOutside: seed % 5 == 1)
        let x = randomTensor([seed % 7 == 0 ? 2 : 1, 3, h, w], seed: UInt64(seed))
        expectClose(try Ops.resize(x, height: oh, width: ow, options: options, pool: testPool),
                    Reference.resize(x, height: oh, width: ow, options: options))
    }

    /// The nearest roundings on a coordinate that lands exactly half-way (2x down, half-pixel:
    /// source 0.5, 2.5, ...): floor and round-prefer-floor take the lower pixel, ceil and
    /// round-prefer-ceil the upper one.
    @Test func nearestRoundingsSplitHalves() throws {
        let x = Tensor(shape: [1, 1, 1, 4], values: [0, 1, 2, 3])
        for (rounding, expected) in [(NearestRounding.floor, [Float(0), 2]), (.roundPreferFloor, [0, 2]), (.ceil, [1, 3]), (.roundPreferCeil, [1, 3])] {
            let options = ResizeOptions(mode: .nearest, coordinates: .halfPixel, outputScale: (1, 0.5), nearestRounding: rounding)
            #expect(try Ops.resize(x, height: 1, width: 2, options: options, pool: testPool).toArray() == expected, "\(rounding)")
        }
    }
}
