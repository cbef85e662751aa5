import Testing
import Tensor
@testable import Media

@Suite("Image, tensors, alpha and resizing")
struct TensorConversionTests {
    @Test("image → tensors → image is exact", arguments: [1, 2, 3, 4], Image.BitDepth.allCases)
    func roundTrip(channels: Int, bitDepth: Image.BitDepth) throws {
        let image = TestImages.noise(width: 7, height: 5, channels: channels, bitDepth: bitDepth, seed: 9)
        let planes = image.tensors(expandingGray: false)
        #expect(planes.color.shape == Shape(n: 1, c: channels >= 3 ? 3 : 1, h: 5, w: 7))
        #expect((planes.alpha != nil) == image.hasAlpha)
        let back = try Image(color: planes.color, alpha: planes.alpha, bitDepth: bitDepth)
        #expect(back == image)
    }

    @Test("gray expands to three equal planes; values are sample / max")
    func grayExpansion() throws {
        let image = TestImages.make(width: 2, height: 1, channels: 2, bitDepth: .eight, values: [0, 255, 51, 102])
        let planes = image.tensors()
        #expect(planes.color.shape == Shape(n: 1, c: 3, h: 1, w: 2))
        for c in 0..<3 { #expect(planes.color[0, c, 0, 1] == Float(51) / 255) }
        #expect(planes.alpha?[0, 0, 0, 0] == 1)
        #expect(planes.alpha?[0, 0, 0, 1] == Float(102) / 255)
    }

    @Test("out-of-range values are clamped and rounded")
    func clamping() throws {
        let color = Tensor(shape: Shape(n: 1, c: 1, h: 1, w: 4), values: [-0.5, 0.5, 1.7, .nan])
        let image = try Image(color: color)
        #expect((0..<4).map { image.sample(x: $0, y: 0, channel: 0) } == [0, 128, 255, 0])
        #expect(throws: MediaError.self) { try Image(color: Tensor(zeros: Shape(n: 1, c: 2, h: 1, w: 1))) }
    }

    @Test("split and join alpha are inverses")
    func splitJoin() throws {
        let image = TestImages.noise(width: 6, height: 3, channels: 4, bitDepth: .sixteen, seed: 4)
        let (color, alpha) = image.splitAlpha()
        #expect(color.channels == 3 && alpha?.channels == 1)
        #expect(try Image.joining(color: color, alpha: alpha!) == image)
        #expect(TestImages.smooth(width: 2, height: 2, channels: 3, bitDepth: .eight).splitAlpha().alpha == nil)
    }

    @Test("resizing to the same size is the identity", arguments: ResizeFilter.allCases)
    func identityResize(filter: ResizeFilter) throws {
        let values: [Float] = (0..<(3 * 5 * 4)).map { (i: Int) -> Float in Float(i * 37 % 17) / 16 }
        let t = Tensor(shape: Shape(n: 1, c: 3, h: 5, w: 4), values: values)
        let r = try PlaneResize.resize(t, width: 4, height: 5, filter: filter)
        let resized: [Float] = r.toArray()
        var worst: Float = 0
        for i in 0..<values.count { worst = max(worst, abs(resized[i] - values[i])) }
        #expect(worst < 1e-6)
    }

    @Test("bilinear ×2 matches OpenCV's half-pixel convention")
    func bilinearKnownValues() throws {
        let t = Tensor(shape: Shape(n: 1, c: 1, h: 1, w: 2), values: [0, 1])
        let r = try PlaneResize.resize(t, width: 4, height: 2, filter: .bilinear)
        // Output x centres map to source -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped).
        #expect(r.toArray() == [0, 0.25, 0.75, 1, 0, 0.25, 0.75, 1])
    }

    @Test("bicubic keeps constants and linear ramps inside, interpolates between samples")
    func bicubicProperties() throws {
        let constant = Tensor(shape: Shape(n: 1, c: 1, h: 3, w: 3), repeating: 0.4)
        #expect(try PlaneResize.resize(constant, width: 7, height: 5, filter: .bicubic).toArray().allSatisfy { abs($0 - 0.4) < 1e-6 })
        // Downscale ×0.5: output centres fall midway between source pixels 2k and 2k+1.
        let ramp = Tensor(shape: Shape(n: 1, c: 1, h: 1, w: 8), values: (0..<8).map { Float($0) })
        let half = try PlaneResize.resize(ramp, width: 4, height: 1, filter: .bicubic).toArray()
        #expect(abs(half[1] - 2.5) < 1e-5 && abs(half[2] - 4.5) < 1e-5)
        #expect(PlaneResize.cubic(0) == 1 && PlaneResize.cubic(1) == 0 && PlaneResize.cubic(2) == 0)
    }
}
