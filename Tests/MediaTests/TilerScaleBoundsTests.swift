@testable import Media
import Testing

/// A tiler's scale is bounded, so that output sizes computed as `Int(size × scale)` cannot trap.
@Suite struct TilerScaleBoundsTests {
    @Test(arguments: [1e300, 1e19, 2048.0, Double.infinity, Double.nan, 0, -2])
    func outOfRangeScalesAreRejected(scale: Double) {
        #expect(throws: MediaError.self) { _ = try Tiler(tileSize: 64, overlap: 0, scale: scale) }
    }

    @Test func largeButBoundedScaleComputesSizes() throws {
        let tiler = try Tiler(tileSize: 64, overlap: 0, scale: 1024)
        #expect(tiler.outputSize(height: 3, width: 5) == (3072, 5120))
    }
}
