import Testing
import Tensor
@testable import Media

@Suite("Tiling")
struct TilerTests {
    static func input(n: Int = 1, c: Int = 3, h: Int, w: Int, seed: UInt64 = 1) -> Tensor {
        var generator = SeededGenerator(seed: seed)
        return Tensor(shape: Shape(n: n, c: c, h: h, w: w), values: (0..<(n * c * h * w)).map { _ in Float.random(in: 0..<1, using: &generator) })
    }

    /// Pointwise: every element transformed alone.
    static func pointwise(_ t: Tensor) -> Tensor {
        Tensor(shape: t.shape, values: t.toArray().map { $0 * 2 + 1 })
    }

    /// A 3×3 box filter with borders clamped (receptive-field radius 1), changing 3 → 2 channels.
    static func blur(_ t: Tensor) -> Tensor {
        let (n, c, h, w) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
        let out = Tensor(zeros: Shape(n: n, c: 2, h: h, w: w))
        for b in 0..<n {
            for k in 0..<2 {
                for y in 0..<h {
                    for x in 0..<w {
                        var sum: Float = 0
                        for dy in -1...1 {
                            for dx in -1...1 {
                                let yy = min(max(y + dy, 0), h - 1), xx = min(max(x + dx, 0), w - 1)
                                sum += t[b, k % c, yy, xx] * Float(dy + 2) + t[b, (k + 1) % c, yy, xx] * Float(dx + 2)
                            }
                        }
                        out[b, k, y, x] = sum
                    }
                }
            }
        }
        return out
    }

    /// Nearest-neighbour ×s upscale (an identity-like model with scale s).
    static func nearest(_ t: Tensor, _ s: Int) -> Tensor {
        let (n, c, h, w) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
        let out = Tensor(zeros: Shape(n: n, c: c, h: h * s, w: w * s))
        for b in 0..<n { for k in 0..<c { for y in 0..<(h * s) { for x in 0..<(w * s) { out[b, k, y, x] = t[b, k, y / s, x / s] } } } }
        return out
    }

    /// 2×2 average pooling: scale 0.5, receptive field inside one aligned 2×2 block.
    static func pool(_ t: Tensor) -> Tensor {
        let (n, c, h, w) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
        let oh = Int((Double(h) * 0.5).rounded()), ow = Int((Double(w) * 0.5).rounded())
        let out = Tensor(zeros: Shape(n: n, c: c, h: oh, w: ow))
        for b in 0..<n {
            for k in 0..<c {
                for y in 0..<oh {
                    for x in 0..<ow {
                        var sum: Float = 0
                        for dy in 0..<2 { for dx in 0..<2 { sum += t[b, k, min(2 * y + dy, h - 1), min(2 * x + dx, w - 1)] } }
                        out[b, k, y, x] = sum / 4
                    }
                }
            }
        }
        return out
    }

    @Test("a pointwise function tiles exactly, with or without overlap", arguments: [0, 3])
    func pointwiseExact(overlap: Int) throws {
        let x = Self.input(n: 2, h: 23, w: 31)
        let tiler = try Tiler(tileSize: 8, overlap: overlap)
        #expect(try tiler.run(x, body: Self.pointwise).toArray() == Self.pointwise(x).toArray())
    }

    @Test("a 3×3 receptive field tiles exactly when overlap ≥ 1", arguments: [(5, 1), (7, 2), (16, 4), (100, 1)])
    func localExact(tileSize: Int, overlap: Int) throws {
        let x = Self.input(h: 19, w: 26, seed: 2)
        let tiled = try Tiler(tileSize: tileSize, overlap: overlap).run(x, body: Self.blur)
        #expect(tiled.shape == Shape(n: 1, c: 2, h: 19, w: 26))
        #expect(tiled.toArray() == Self.blur(x).toArray())
    }

    @Test("without overlap the seams show (the exactness test can fail)")
    func seamsWithoutOverlap() throws {
        let x = Self.input(h: 12, w: 12, seed: 3)
        let tiled = try Tiler(tileSize: 5, overlap: 0).run(x, body: Self.blur)
        #expect(tiled.toArray() != Self.blur(x).toArray())
    }

    @Test("integer scales: blur then ×s upscale stitches exactly", arguments: [2, 3, 4])
    func upscaleExact(scale: Int) throws {
        let x = Self.input(h: 13, w: 17, seed: 4)
        let model: (Tensor) -> Tensor = { Self.nearest(Self.blur($0), scale) }
        let tiled = try Tiler(tileSize: 6, overlap: 1, scale: Double(scale)).run(x, body: model)
        #expect(tiled.shape == Shape(n: 1, c: 2, h: 13 * scale, w: 17 * scale))
        #expect(tiled.toArray() == model(x).toArray())
    }

    @Test("a fractional scale (×0.5) stitches exactly on aligned tiles")
    func downscaleExact() throws {
        let x = Self.input(c: 1, h: 15, w: 22, seed: 5)
        let tiler = try Tiler(tileSize: 7, overlap: 1, scale: 0.5)
        #expect(tiler.tileSize == 6 && tiler.overlap == 2 && tiler.granularity == 2)
        let tiled = try tiler.run(x, body: Self.pool)
        #expect(tiled.shape == Shape(n: 1, c: 1, h: 8, w: 11))
        #expect(tiled.toArray() == Self.pool(x).toArray())
    }

    @Test("the plan covers the image once and keeps tiles within bounds")
    func planCoverage() throws {
        let tiler = try Tiler(tileSize: 10, overlap: 3, scale: 2)
        let tiles = tiler.plan(height: 25, width: 31)
        #expect(tiles.count == 3 * 4)
        var covered = [Int](repeating: 0, count: 25 * 31)
        for tile in tiles {
            #expect(tile.padded.width <= 16 && tile.padded.height <= 16)
            #expect(tile.outputPadded.width == tile.padded.width * 2)
            for y in tile.core.y..<(tile.core.y + tile.core.height) {
                for x in tile.core.x..<(tile.core.x + tile.core.width) { covered[y * 31 + x] += 1 }
            }
        }
        #expect(covered.allSatisfy { $0 == 1 })
    }

    @Test("progress is reported per tile, and .stop cancels before the next tile")
    func progressAndCancel() throws {
        let x = Self.input(h: 20, w: 20)
        let tiler = try Tiler(tileSize: 5, overlap: 1)
        var seen: [Int] = []
        _ = try tiler.run(x, progress: { seen.append($0.completed); #expect($0.total == 16); return .proceed }, body: Self.pointwise)
        #expect(seen == Array(1...16))
        var calls = 0
        #expect {
            try tiler.run(x, progress: { $0.completed == 3 ? .stop : .proceed }) { calls += 1; return Self.pointwise($0) }
        } throws: { ($0 as? MediaError)?.code == .cancelled }
        #expect(calls == 3)
    }

    @Test("a tile function returning the wrong shape is an error, not a crash")
    func wrongShape() throws {
        let x = Self.input(h: 10, w: 10)
        #expect {
            try Tiler(tileSize: 4, overlap: 1, scale: 2).run(x, body: Self.pointwise)
        } throws: { ($0 as? MediaError)?.code == .invalidArgument }
        #expect(throws: MediaError.self) { try Tiler(tileSize: 4, overlap: 1, scale: 0.3333) }
        #expect(throws: MediaError.self) { try Tiler(tileSize: 0, overlap: 1) }
    }
}
