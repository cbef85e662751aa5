// Running a model over a large image tile by tile, with overlap, and stitching the outputs
// seamlessly: the scheme of Real-ESRGAN's tile mode. Each tile is fed with `overlap` extra
// pixels of context on every side that has a neighbour; only the output of the tile's own
// region is kept. When the overlap covers the model's receptive field, the stitched result
// equals running the model on the whole image.

import Tensor

/// A rectangle in pixels: columns `x..<x+width`, rows `y..<y+height`.
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
    /// The input region this tile is responsible for.
    public var core: TileRegion
    /// The input region fed to the function: `core` grown by the overlap, clipped to the image.
    public var padded: TileRegion
    /// Where the kept output goes in the full output.
    public var outputCore: TileRegion
    /// The output the function must return for `padded` (its height and width).
    public var outputPadded: TileRegion
}

/// Progress after a tile: how many are done of how many.
public struct TileProgress: Sendable, Equatable {
    /// Tiles finished.
    public var completed: Int
    /// Tiles in the plan.
    public var total: Int
    /// The tile just finished.
    public var tile: TileRegion
}

/// What a progress callback wants next.
public enum TileDecision: Sendable {
    /// Go on with the next tile.
    case proceed
    /// Stop: `Tiler.run` throws `MediaError` with code `cancelled` before the next tile.
    case stop
}

/// Splits NCHW tensors into overlapping tiles, runs a function on each, and stitches the results.
///
/// Memory: the output tensor plus one input tile and one output tile at a time. The function
/// maps a `[N, C, h, w]` tile to `[N, C', round(h·s), round(w·s)]` for the plan's scale `s`
/// (integer, like ×4 upscaling, or fractional, like ×0.5). For a fractional scale, tile edges
/// are aligned so that they fall on whole output pixels (multiples of the smallest `g` with
/// `g·s` whole).
public struct Tiler: Sendable {
    /// The largest core tile side (before overlap).
    public let tileSize: Int
    /// Context pixels added on each side of a tile that has a neighbour there.
    public let overlap: Int
    /// Output pixels per input pixel.
    public let scale: Double
    /// Tile edges fall on multiples of this (1 for integer scales).
    public let granularity: Int

    /// Creates a tiler.
    /// - Parameters:
    ///   - tileSize: the largest tile side, before overlap; at least 1.
    ///   - overlap: context on each side; at least the model's receptive-field radius for a
    ///     seamless result (Real-ESRGAN uses 10 by default).
    ///   - scale: output size / input size; positive, at most 1024, and a ratio of small integers.
    /// - Throws: `MediaError` with code `invalidArgument` for bad values.
    public init(tileSize: Int, overlap: Int, scale: Double = 1) throws {
        guard tileSize >= 1, overlap >= 0 else {
            throw MediaError(.invalidArgument, "tiler: tile size must be ≥ 1 and overlap ≥ 0, got \(tileSize) and \(overlap)")
        }
        // Bounded above so that output coordinates (`Int(size × scale)`) cannot overflow.
        guard scale > 0, scale <= 1024 else {
            throw MediaError(.invalidArgument, "tiler: scale must be in (0, 1024], got \(scale)")
        }
        guard let granularity = (1...1024).first(where: { g in
            let product = Double(g) * scale
            return abs(product - product.rounded()) < 1e-9 && product.rounded() >= 1
        }) else {
            throw MediaError(.invalidArgument, "tiler: scale \(scale) is not a ratio of small integers")
        }
        guard tileSize >= granularity else {
            throw MediaError(.invalidArgument, "tiler: tile size \(tileSize) is below \(granularity), the alignment scale \(scale) needs")
        }
        self.tileSize = tileSize / granularity * granularity
        self.overlap = (overlap + granularity - 1) / granularity * granularity
        self.scale = scale
        self.granularity = granularity
    }

    /// The output size for an input size.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        (outputCoordinate(height, end: height), outputCoordinate(width, end: width))
    }

    /// Aligned coordinates map exactly; the image's far edge is rounded.
    private func outputCoordinate(_ value: Int, end: Int) -> Int {
        if value == end { return Int((Double(end) * scale).rounded()) }
        return value / granularity * Int((Double(granularity) * scale).rounded())
    }

    /// The tiles for an input of `height` × `width`, row-major.
    public func plan(height: Int, width: Int) -> [Tile] {
        func spans(_ size: Int) -> [(core: Range<Int>, padded: Range<Int>)] {
            stride(from: 0, to: size, by: tileSize).map { start in
                let end = min(start + tileSize, size)
                return (start..<end, max(start - overlap, 0)..<min(end + overlap, size))
            }
        }
        let rows = spans(height), columns = spans(width)
        var tiles: [Tile] = []
        for row in rows {
            for column in columns {
                func out(_ r: Range<Int>, _ size: Int) -> Range<Int> {
                    outputCoordinate(r.lowerBound, end: size)..<outputCoordinate(r.upperBound, end: size)
                }
                let oy = out(row.core, height), ox = out(column.core, width)
                let py = out(row.padded, height), px = out(column.padded, width)
                tiles.append(Tile(
                    index: tiles.count,
                    core: TileRegion(x: column.core.lowerBound, y: row.core.lowerBound, width: column.core.count, height: row.core.count),
                    padded: TileRegion(x: column.padded.lowerBound, y: row.padded.lowerBound,
                                       width: column.padded.count, height: row.padded.count),
                    outputCore: TileRegion(x: ox.lowerBound, y: oy.lowerBound, width: ox.count, height: oy.count),
                    outputPadded: TileRegion(x: px.lowerBound, y: py.lowerBound, width: px.count, height: py.count)))
            }
        }
        return tiles
    }

    /// Runs `body` on every tile of `input` and returns the stitched output.
    ///
    /// Tiles run one after another (the engine parallelises inside each); between tiles,
    /// `progress` is told what is done and may stop the run, and the surrounding task's
    /// cancellation is checked.
    /// - Parameters:
    ///   - input: `[N, C, H, W]` f32.
    ///   - progress: called after each tile; return `.stop` to cancel.
    ///   - body: the model: `[N, C, h, w]` tile → `[N, C', round(h·s), round(w·s)]` f32,
    ///     C' the same for every tile.
    /// - Throws: `MediaError` with `cancelled` when stopped, `invalidArgument` when the input
    ///   or a tile's output has the wrong shape, or whatever `body` throws.
    public func run(
        _ input: Tensor,
        progress: (TileProgress) -> TileDecision = { _ in .proceed },
        body: (Tensor) throws -> Tensor
    ) throws -> Tensor {
        let shape = input.shape
        guard input.dtype == .f32, shape.rank == 4, shape.count > 0 else {
            throw MediaError(.invalidArgument, "tiler: input must be a non-empty f32 [N, C, H, W], got \(shape) \(input.dtype)")
        }
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let tiles = plan(height: h, width: w)
        let outSize = outputSize(height: h, width: w)
        var output: Tensor?
        for tile in tiles {
            if Task.isCancelled { throw MediaError(.cancelled, "tiler: cancelled before tile \(tile.index + 1) of \(tiles.count)") }
            let piece = Tensor(zeros: Shape(n: n, c: c, h: tile.padded.height, w: tile.padded.width))
            Tiler.copy(from: input, region: tile.padded, to: piece, at: (0, 0), planes: n * c)
            let result = try body(piece)
            let rs = result.shape
            guard result.dtype == .f32, rs.rank == 4, rs[0] == n, rs[2] == tile.outputPadded.height, rs[3] == tile.outputPadded.width,
                  output == nil || rs[1] == output!.shape[1]
            else {
                throw MediaError(.invalidArgument,
                    "tiler: tile \(tile.index) \(tile.padded) returned \(rs) \(result.dtype), expected f32 [\(n), \(output.map { String($0.shape[1]) } ?? "C"), \(tile.outputPadded.height), \(tile.outputPadded.width)]")
            }
            if output == nil { output = Tensor(zeros: Shape(n: n, c: rs[1], h: outSize.height, w: outSize.width)) }
            let crop = TileRegion(x: tile.outputCore.x - tile.outputPadded.x, y: tile.outputCore.y - tile.outputPadded.y,
                                  width: tile.outputCore.width, height: tile.outputCore.height)
            Tiler.copy(from: result, region: crop, to: output!, at: (tile.outputCore.y, tile.outputCore.x), planes: n * rs[1])
            if progress(TileProgress(completed: tile.index + 1, total: tiles.count, tile: tile.core)) == .stop, tile.index + 1 < tiles.count {
                throw MediaError(.cancelled, "tiler: stopped after tile \(tile.index + 1) of \(tiles.count)")
            }
        }
        return output!
    }

    /// Copies `region` of every plane of `source` into `target` at `(row, column)`.
    static func copy(from source: Tensor, region: TileRegion, to target: Tensor, at origin: (Int, Int), planes: Int) {
        let sw = source.shape[3], sh = source.shape[2]
        let tw = target.shape[3], th = target.shape[2]
        let src = source.floatPointer, dst = target.floatPointer
        for p in 0..<planes {
            for row in 0..<region.height {
                let from = src + (p * sh + region.y + row) * sw + region.x
                let to = dst + (p * th + origin.0 + row) * tw + origin.1
                to.update(from: from, count: region.width)
            }
        }
    }
}
