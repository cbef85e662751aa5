import Foundation
import Media
@testable import Models
import Tensor
import Testing

/// Network outputs turned into image samples: a NaN must become a sample, not a trap in
/// `UInt8(_:)` / `UInt16(_:)` (clamping with `min`/`max` lets NaN through).
@Suite struct NonFiniteSampleTests {
    @Test func rgbBytesFromATensorWithNaNAndInfinities() {
        let values: [Float] = [.nan, .infinity, -.infinity, 0.5]
        let t = Tensor(shape: Shape(n: 1, c: 3, h: 1, w: 4), values: values + values + values)
        let bytes = ImageTensor.rgb(t)
        #expect(Array(bytes[0..<3]) == [0, 0, 0])
        #expect(Array(bytes[3..<6]) == [255, 255, 255])
        #expect(Array(bytes[6..<9]) == [0, 0, 0])
        #expect(bytes[9] == 128)
    }

    @Test func byteClampsAndMapsNaNToZero() {
        #expect(ImageTensor.byte(.nan) == 0)
        #expect(ImageTensor.byte(-3) == 0 && ImageTensor.byte(300) == 255 && ImageTensor.byte(.infinity) == 255)
        #expect(ImageTensor.byte(17.9) == 17)
    }

    @Test func terrainFromNaNModelValuesStillEncodes() throws {
        let raw: [Float] = [.nan, -1, 0, 1, .infinity, -.infinity, .nan, 0.5, 0.25]
        let heights = TerrainRelief.heights(fromModel: raw)
        #expect(heights.allSatisfy { $0.isFinite })
        let map = try TerrainRelief.heightmap(heights, width: 3, height: 3)
        #expect(map.width == 3)
        // Direct callers with NaN heights, too.
        _ = try TerrainRelief.heightmap([.nan, 1, 2, 3], width: 2, height: 2)
        let preview = try TerrainRelief.preview(heights, width: 3, height: 3)
        #expect(preview.channels == 3)
    }
}
