import Testing
import Tensor
@testable import Media

@Suite("Tiling")
struct TilerTests {
    static func input(n: Int = 1, c: Int = 3, h: Int, w: Int, seed: UInt64 = 1) -> Tensor {
        var generator = SplitMix64(seed: seed)
        return Tensor(shape: Shape(n: n, c: c, h: h, w: w), values: (0..<(n * c * h * w)).map { _ in Float.random(in: 0..<1, using: &generator) })
    }

    /// Pointwise: every element transformed alone.
    static func pointwise(_ t: Tensor) -> Tensor {
        Tensor(shape: t.shape, values: t.toArray().map { $0 * 2 + 1 })
    }

    /// A 3×3 filter changing 3 → 2 channels (receptive-field radius 1). `valid` drops the
    /// outermost ring (a valid convolution, the output shrinks by 1 per side); otherwise reads
    /// past the border are clamped to the edge.
    static func blur(_ t: Tensor, valid: Bool = false) -> Tensor {
        let (n, c, h, w) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
        let r = valid ? 1 : 0
        let out = Tensor(zeros: Shape(n: n, c: 2, h: h - 2 * r, w: w - 2 * r))
        for b in 0..<n {
            for k in 0..<2 {
                for y in r..<(h - r) {
                    for x in r..<(w - r) {
                        var sum: Float = 0
                        for dy in -1...1 {
                            for dx in -1...1 {
                                let yy = min(max(y + dy, 0), h - 1), xx = min(max(x + dx, 0), w - 1)
                                sum += t[b, k % c, yy, xx] * Float(dy + 2) + t[b, (k + 1) % c, yy, xx] * Float(dx + 2)
                            }
                        }
                        out[b, k, y - r, x - r] = sum
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

    /// The image with `pad` replicated pixels on every side.
    static func replicatePadded(_ t: Tensor, _ pad: Int) -> Tensor {
        let (n, c, h, w) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
        let out = Tensor(zeros: Shape(n: n, c: c, h: h + 2 * pad, w: w + 2 * pad))
        for b in 0..<n {
            for k in 0..<c {
                for y in 0..<(h + 2 * pad) {
                    for x in 0..<(w + 2 * pad) { out[b, k, y, x] = t[b, k, min(max(y - pad, 0), h - 1), min(max(x - pad, 0), w - 1)] }
                }
            }
        }
        return out
    }

    /// The centre of `t`, `crop` pixels in from every side.
    static func cropped(_ t: Tensor, _ crop: Int) -> Tensor {
        let (n, c, h, w) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
        let out = Tensor(zeros: Shape(n: n, c: c, h: h - 2 * crop, w: w - 2 * crop))
        for b in 0..<n { for k in 0..<c { for y in 0..<(h - 2 * crop) { for x in 0..<(w - 2 * crop) { out[b, k, y, x] = t[b, k, y + crop, x + crop] } } } }
        return out
    }

    @Test("a pointwise function tiles exactly, with or without context", arguments: [0, 3])
    func pointwiseExact(context: Int) throws {
        let x = Self.input(n: 2, h: 23, w: 31)
        let tiler = try Tiler(tileSize: 8, context: context, scale: 1)
        #expect(try tiler.run(x, network: Self.pointwise).toArray() == Self.pointwise(x).toArray())
    }

    @Test("a 3×3 receptive field tiles exactly when context ≥ 1", arguments: [(5, 1), (7, 2), (16, 4), (100, 1), (1, 1)])
    func localExact(tileSize: Int, context: Int) throws {
        let x = Self.input(h: 19, w: 26, seed: 2)
        let tiled = try Tiler(tileSize: tileSize, context: context, scale: 1).run(x) { Self.blur($0) }
        #expect(tiled.shape == Shape(n: 1, c: 2, h: 19, w: 26))
        #expect(tiled.toArray() == Self.blur(x).toArray())
    }

    @Test("without context the seams show (the exactness test can fail)")
    func seamsWithoutContext() throws {
        let x = Self.input(h: 12, w: 12, seed: 3)
        let tiled = try Tiler(tileSize: 5, context: 0, scale: 1).run(x) { Self.blur($0) }
        #expect(tiled.toArray() != Self.blur(x).toArray())
    }

    @Test("integer scales: blur then ×s upscale stitches exactly", arguments: [2, 3, 4])
    func upscaleExact(scale: Int) throws {
        let x = Self.input(h: 13, w: 17, seed: 4)
        let model: (Tensor) -> Tensor = { Self.nearest(Self.blur($0), scale) }
        let tiled = try Tiler(tileSize: 6, context: 1, scale: scale).run(x, network: model)
        #expect(tiled.shape == Shape(n: 1, c: 2, h: 13 * scale, w: 17 * scale))
        #expect(tiled.toArray() == model(x).toArray())
    }

    @Test("border padding: the result equals one pass over the replicate-padded image, cropped",
          arguments: [(5, 2, 2), (4, 3, 1), (32, 2, 3)])
    func borderPadExact(tileSize: Int, borderPad: Int, scale: Int) throws {
        let x = Self.input(h: 11, w: 14, seed: 6)
        let model: (Tensor) -> Tensor = { Self.nearest(Self.blur($0), scale) }
        let tiled = try Tiler(tileSize: tileSize, context: 2, scale: scale, borderPad: borderPad).run(x, network: model)
        let whole = Self.cropped(model(Self.replicatePadded(x, borderPad)), borderPad * scale)
        #expect(tiled.shape == whole.shape)
        #expect(tiled.toArray() == whole.toArray())
    }

    @Test("valid-convolution networks: windows read clamped pixels, aligned tiles are padded up",
          arguments: [(4, 1), (6, 2), (5, 4), (64, 2)])
    func shrinkingExact(tileSize: Int, alignment: Int) throws {
        // Alignment: the network only takes core extents that are multiples of `alignment`
        // (the last tiles are padded with replicated pixels), and its output drops the context.
        let x = Self.input(n: 2, h: 13, w: 18, seed: 7)
        let model: (Tensor) throws -> Tensor = { window in
            let core = (window.shape[2] - 2, window.shape[3] - 2)
            #expect(core.0 % alignment == 0 && core.1 % alignment == 0)
            return Self.nearest(Self.blur(window, valid: true), 2)
        }
        let tiler = try Tiler(tileSize: tileSize, context: 1, alignment: alignment, scale: 2, shrinksByContext: true)
        let tiled = try tiler.run(x, network: model)
        #expect(tiled.toArray() == Self.nearest(Self.blur(x), 2).toArray())
    }

    @Test("the plan covers the image once; windows hold the core and its context")
    func planCoverage() throws {
        let tiler = try Tiler(tileSize: 10, context: 3, scale: 2)
        let tiles = tiler.plan(height: 25, width: 31)
        #expect(tiles.count == 3 * 4 && tiler.tileCount(height: 25, width: 31) == 12)
        var covered = [Int](repeating: 0, count: 25 * 31)
        for tile in tiles {
            #expect(tile.window.width <= 16 && tile.window.height <= 16)
            #expect(tile.window.x >= 0 && tile.window.y >= 0 && tile.window.x + tile.window.width <= 31 && tile.window.y + tile.window.height <= 25)
            #expect(tile.outputCrop.x == (tile.core.x - tile.window.x) * 2 && tile.outputCore.width == tile.core.width * 2)
            for y in tile.core.y..<(tile.core.y + tile.core.height) {
                for x in tile.core.x..<(tile.core.x + tile.core.width) { covered[y * 31 + x] += 1 }
            }
        }
        #expect(covered.allSatisfy { $0 == 1 })
    }

    @Test("tiles run through a caller's own schedule (any order) stitch to the same result")
    func callerScheduled() throws {
        let x = Self.input(h: 21, w: 30, seed: 8)
        let tiler = try Tiler(tileSize: 6, context: 2, scale: 2)
        let model: (Tensor) -> Tensor = { Self.nearest(Self.blur($0), 2) }
        var output: Tensor?
        for tile in tiler.plan(height: 21, width: 30).reversed() {
            try tiler.stitch(model(tiler.window(of: x, for: tile)), of: tile, into: &output, image: x.shape)
        }
        #expect(try #require(output).toArray() == model(x).toArray())
    }

    @Test("beforeTile sees every tile, and throwing stops before the next one")
    func progressAndCancel() throws {
        struct Stop: Error {}
        let x = Self.input(h: 20, w: 20)
        let tiler = try Tiler(tileSize: 5, context: 1, scale: 1)
        var seen: [Int] = []
        _ = try tiler.run(x, beforeTile: { index, total in seen.append(index); #expect(total == 16) }, network: Self.pointwise)
        #expect(seen == Array(0..<16))
        var calls = 0
        #expect(throws: Stop.self) {
            try tiler.run(x, beforeTile: { index, _ in if index == 3 { throw Stop() } }) { calls += 1; return Self.pointwise($0) }
        }
        #expect(calls == 3)
    }

    @Test("a network returning the wrong shape is an error, not a crash")
    func wrongShape() throws {
        let x = Self.input(h: 10, w: 10)
        // ×2 declared, ×1 returned: the output does not cover the core.
        #expect { try Tiler(tileSize: 4, context: 1, scale: 2).run(x, network: Self.pointwise) } throws: {
            ($0 as? MediaError)?.code == .invalidArgument
        }
        // Channels change between tiles.
        var call = 0
        #expect {
            try Tiler(tileSize: 4, context: 0, scale: 1).run(x) { window in
                call += 1
                return call == 1 ? window : Tensor(zeros: Shape(n: 1, c: 1, h: window.shape[2], w: window.shape[3]))
            }
        } throws: { ($0 as? MediaError)?.code == .invalidArgument }
        #expect { try Tiler(tileSize: 4, context: 0, scale: 1).run(Tensor(zeros: Shape(n: 1, c: 3, h: 0, w: 4))) { $0 } } throws: {
            ($0 as? MediaError)?.code == .invalidArgument
        }
    }

    @Test("parameters out of range are refused", arguments: [
        (0, 0, 1, 1, 0), (-5, 0, 1, 1, 0), (8, -1, 1, 1, 0), (8, 5000, 1, 1, 0), (8, 0, 0, 1, 0), (8, 0, 2000, 1, 0),
        (8, 0, 1, 0, 0), (8, 0, 1, 65, 0), (8, 0, 1, Int.max, 0), (8, 0, 1, 1, -1), (8, 0, 1, 1, Int.max),
    ])
    func badParameters(tileSize: Int, context: Int, alignment: Int, scale: Int, borderPad: Int) {
        #expect { try Tiler(tileSize: tileSize, context: context, alignment: alignment, scale: scale, borderPad: borderPad) } throws: {
            ($0 as? MediaError)?.code == .invalidArgument
        }
    }

    @Test("the tile size is rounded down to the alignment, never below it")
    func tileSizeRounding() throws {
        #expect(try Tiler(tileSize: 37, context: 0, alignment: 4, scale: 1).tileSize == 36)
        #expect(try Tiler(tileSize: 3, context: 0, alignment: 4, scale: 1).tileSize == 4)
    }
}
