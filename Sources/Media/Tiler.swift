// Running a network over a large image tile by tile and stitching the outputs so that they equal
// one pass over the whole image: the schemes of the upstream ncnn tools (Real-ESRGAN-ncnn-vulkan,
// waifu2x-ncnn-vulkan) and of Real-ESRGAN's Python tile mode.

import Tensor

/// A rectangle in pixels: columns `x..<x+width`, rows `y..<y+height`. Window rectangles may
/// reach outside the image (negative `x`, `y`); those pixels read the nearest edge pixel.
public struct TileRegion: Sendable, Hashable, CustomStringConvertible {
    /// First column.
    public var x: Int
    /// First row.
    public var y: Int
    /// Columns.
    public var width: Int
    /// Rows.
    public var height: Int

    /// Creates a region.
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    /// `x,y widthxheight`.
    public var description: String { "\(x),\(y) \(width)x\(height)" }
}

/// One tile of a plan.
public struct Tile: Sendable, Hashable {
    /// Position in the plan, row-major from 0.
    public var index: Int
    /// The input pixels this tile is responsible for.
    public var core: TileRegion
    /// The input window fed to the network: `core` with its context (and alignment padding).
    public var window: TileRegion
    /// The part of the network's output for `window` that is the core's output.
    public var outputCrop: TileRegion
    /// Where the core's output goes in the whole output.
    public var outputCore: TileRegion
}

/// Splits NCHW images into tiles with context, runs a network on each window, and stitches the
/// cores' outputs.
///
/// - Valid-convolution networks (waifu2x) shrink their input by the context: each tile is fed
///   `context` extra pixels per side, read with edge clamping (the image border is replicated),
///   and the output is exactly the tile's. This is waifu2x-ncnn-vulkan's scheme and is seamless.
/// - Zero-padded networks (Real-ESRGAN) see the image with `borderPad` replicated pixels around
///   it (the tool's prepadding). Each tile takes `context` pixels of that padded image around
///   its core (fewer at the padded image's edge) and keeps its core's output, so with a context
///   covering the receptive field the stitched result equals one pass over the padded image.
///
/// Memory: the output plus one window and one network output at a time. ``run(_:beforeTile:network:)``
/// runs tiles one after another (the engine parallelises inside each); a caller that wants tiles
/// in flight at once schedules ``plan(height:width:)``'s tiles on its own compute pool with
/// ``window(of:for:)`` and ``stitch(_:of:into:image:)``: the tiler never starts threads.
public struct Tiler: Sendable {
    /// Largest core tile side, in input pixels (a multiple of `alignment`).
    public let tileSize: Int
    /// Context pixels on each side.
    public let context: Int
    /// The network needs input extents that are multiples of this (after removing context);
    /// the last tile in each direction is padded up with replicated pixels.
    public let alignment: Int
    /// Output pixels per input pixel.
    public let scale: Int
    /// Whether the network shrinks its input by the context (valid convolutions, waifu2x).
    public let shrinksByContext: Bool
    /// Replicated pixels around the image for zero-padded networks (the tool's prepadding).
    public let borderPad: Int

    /// Bounds on the parameters: generous for any real network, small enough that window and
    /// output coordinates of any image Media can hold cannot overflow.
    static let maxContext = 4096
    static let maxScale = 64
    static let maxAlignment = 1024

    /// Creates a tiler.
    /// - Parameters:
    ///   - tileSize: largest core side; rounded down to a multiple of `alignment` (at least one).
    ///   - context: pixels of context per side, at most 4096; at least the network's
    ///     receptive-field radius for a seamless result.
    ///   - alignment: input extents the network accepts are multiples of this, 1...1024.
    ///   - scale: output pixels per input pixel, 1...64.
    ///   - shrinksByContext: whether the network's output is its input less the context.
    ///   - borderPad: replicated pixels around the image for zero-padded networks, 0...4096.
    /// - Throws: `MediaError` with code `invalidArgument` naming the bad value.
    public init(tileSize: Int, context: Int, alignment: Int = 1, scale: Int, shrinksByContext: Bool = false, borderPad: Int = 0) throws {
        guard tileSize >= 1 else { throw MediaError(.invalidArgument, "tiler: tile size must be at least 1, got \(tileSize)") }
        guard (0...Self.maxContext).contains(context) else {
            throw MediaError(.invalidArgument, "tiler: context must be in 0...\(Self.maxContext), got \(context)")
        }
        guard (1...Self.maxAlignment).contains(alignment) else {
            throw MediaError(.invalidArgument, "tiler: alignment must be in 1...\(Self.maxAlignment), got \(alignment)")
        }
        guard (1...Self.maxScale).contains(scale) else {
            throw MediaError(.invalidArgument, "tiler: scale must be in 1...\(Self.maxScale), got \(scale)")
        }
        guard (0...Self.maxContext).contains(borderPad) else {
            throw MediaError(.invalidArgument, "tiler: border padding must be in 0...\(Self.maxContext), got \(borderPad)")
        }
        self.alignment = alignment
        self.tileSize = max(alignment, tileSize / alignment * alignment)
        self.context = context
        self.scale = scale
        self.shrinksByContext = shrinksByContext
        self.borderPad = borderPad
    }

    /// Number of tiles for an image.
    public func tileCount(height: Int, width: Int) -> Int {
        ((height + tileSize - 1) / tileSize) * ((width + tileSize - 1) / tileSize)
    }

    /// The tiles for a `height` × `width` image, row-major.
    public func plan(height: Int, width: Int) -> [Tile] {
        let rows = (height + tileSize - 1) / tileSize, columns = (width + tileSize - 1) / tileSize
        var tiles: [Tile] = []
        tiles.reserveCapacity(rows * columns)
        for ty in 0..<rows {
            for tx in 0..<columns {
                let y0 = ty * tileSize, y1 = min(height, y0 + tileSize)
                let x0 = tx * tileSize, x1 = min(width, x0 + tileSize)
                let extraH = (alignment - (y1 - y0) % alignment) % alignment
                let extraW = (alignment - (x1 - x0) % alignment) % alignment
                let wy0: Int, wy1: Int, wx0: Int, wx1: Int
                if shrinksByContext {
                    (wy0, wy1) = (y0 - context, y1 + context + extraH)
                    (wx0, wx1) = (x0 - context, x1 + context + extraW)
                } else {
                    (wy0, wy1) = (max(y0 - context, -borderPad), min(y1 + context, height + borderPad))
                    (wx0, wx1) = (max(x0 - context, -borderPad), min(x1 + context, width + borderPad))
                }
                let (offsetY, offsetX) = shrinksByContext ? (0, 0) : ((y0 - wy0) * scale, (x0 - wx0) * scale)
                tiles.append(Tile(
                    index: tiles.count,
                    core: TileRegion(x: x0, y: y0, width: x1 - x0, height: y1 - y0),
                    window: TileRegion(x: wx0, y: wy0, width: wx1 - wx0, height: wy1 - wy0),
                    outputCrop: TileRegion(x: offsetX, y: offsetY, width: (x1 - x0) * scale, height: (y1 - y0) * scale),
                    outputCore: TileRegion(x: x0 * scale, y: y0 * scale, width: (x1 - x0) * scale, height: (y1 - y0) * scale)))
            }
        }
        return tiles
    }

    /// Runs `network` on every tile of `image` and returns the stitched output.
    /// - Parameters:
    ///   - image: `[N, C, H, W]` f32.
    ///   - beforeTile: called before each tile with (index, total); throwing stops the run
    ///     (cancellation between tiles).
    ///   - network: maps a window to its output (`[N, C', ...]`, C' the same for every tile).
    /// - Returns: `[N, C', H·scale, W·scale]`.
    /// - Throws: `MediaError` `invalidArgument` when the image or a tile's output has the wrong
    ///   shape, or whatever `beforeTile` and `network` throw.
    public func run(_ image: Tensor, beforeTile: (Int, Int) throws -> Void = { _, _ in }, network: (Tensor) throws -> Tensor) throws -> Tensor {
        try Self.checkImage(image)
        let tiles = plan(height: image.shape[2], width: image.shape[3])
        var output: Tensor?
        for tile in tiles {
            try beforeTile(tile.index, tiles.count)
            try stitch(try network(window(of: image, for: tile)), of: tile, into: &output, image: image.shape)
        }
        return output!
    }

    /// The window of `image` for `tile`; coordinates outside the image read the nearest edge pixel.
    /// - Parameters:
    ///   - image: `[N, C, H, W]` f32, the image the plan was made for.
    ///   - tile: a tile of ``plan(height:width:)``.
    public func window(of image: Tensor, for tile: Tile) -> Tensor {
        let s = image.shape
        let (n, c, h, w) = (s[0], s[1], s[2], s[3])
        let region = tile.window
        let out = Tensor(zeros: Shape(n: n, c: c, h: region.height, w: region.width))
        let src = image.floatPointer, dst = out.floatPointer
        let xs = (0..<region.width).map { min(max(region.x + $0, 0), w - 1) }
        for plane in 0..<(n * c) {
            for y in 0..<region.height {
                let srow = src + (plane * h + min(max(region.y + y, 0), h - 1)) * w
                let drow = dst + (plane * region.height + y) * region.width
                for x in 0..<region.width { drow[x] = srow[xs[x]] }
            }
        }
        return out
    }

    /// Copies the core of a tile's network output into the whole output, creating the output
    /// (`[N, C', H·scale, W·scale]`, C' from the first result) when it is `nil`.
    /// - Parameters:
    ///   - result: the network's output for `tile`'s window.
    ///   - tile: the tile.
    ///   - output: the whole output, shared by every tile of one run.
    ///   - image: the shape of the image the plan was made for.
    /// - Throws: `MediaError` `invalidArgument` when `result` does not cover the core's output
    ///   or its batch or channels differ from the output's.
    public func stitch(_ result: Tensor, of tile: Tile, into output: inout Tensor?, image: Shape) throws {
        let rs = result.shape
        let expected = "f32 [\(image[0]), \(output.map { String($0.shape[1]) } ?? "C"), ≥\(tile.outputCrop.y + tile.outputCore.height), ≥\(tile.outputCrop.x + tile.outputCore.width)]"
        guard result.dtype == .f32, rs.rank == 4, rs[0] == image[0], rs[1] >= 1, output == nil || rs[1] == output!.shape[1],
              rs[2] >= tile.outputCrop.y + tile.outputCore.height, rs[3] >= tile.outputCrop.x + tile.outputCore.width
        else {
            throw MediaError(.invalidArgument, "tiler: tile \(tile.index) (window \(tile.window)) returned \(rs) \(result.dtype), expected \(expected)")
        }
        if output == nil { output = Tensor(zeros: Shape(n: image[0], c: rs[1], h: image[2] * scale, w: image[3] * scale)) }
        let out = output!
        let os = out.shape
        let sp = result.floatPointer, dp = out.floatPointer
        for plane in 0..<(rs[0] * rs[1]) {
            for y in 0..<tile.outputCore.height {
                (dp + (plane * os[2] + tile.outputCore.y + y) * os[3] + tile.outputCore.x)
                    .update(from: sp + (plane * rs[2] + tile.outputCrop.y + y) * rs[3] + tile.outputCrop.x, count: tile.outputCore.width)
            }
        }
    }

    /// The input must be a non-empty f32 `[N, C, H, W]`.
    static func checkImage(_ image: Tensor) throws {
        let s = image.shape
        guard image.dtype == .f32, s.rank == 4, s.count > 0 else {
            throw MediaError(.invalidArgument, "tiler: input must be a non-empty f32 [N, C, H, W], got \(s) \(image.dtype)")
        }
    }
}
