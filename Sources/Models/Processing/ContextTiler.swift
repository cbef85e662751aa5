import Tensor

/// Runs an upscaling network over an image tile by tile, the way the upstream ncnn tools
/// (Real-ESRGAN-ncnn-vulkan, waifu2x-ncnn-vulkan) do: each tile is fed with `context` extra
/// pixels on every side, taken from the image with edge clamping (so the image border is
/// replicated), and only the tile's own output is kept. With enough context the stitched output
/// equals one pass over the whole image, and one tile reproduces the tools' whole-image result.
struct ContextTiler: Sendable {
    /// Largest core tile side, in input pixels (a multiple of `alignment`).
    let tileSize: Int
    /// Context pixels on each side.
    let context: Int
    /// The network needs input extents that are multiples of this (after removing context);
    /// the last tile in each direction is padded up with replicated pixels.
    let alignment: Int
    /// Output pixels per input pixel.
    let scale: Int
    /// Whether the network shrinks its input by the context (valid convolutions, waifu2x): then
    /// a window's output starts at the core; otherwise (zero-padded convolutions) the core's
    /// output starts `context * scale` pixels in.
    let shrinksByContext: Bool

    init(tileSize: Int, context: Int, alignment: Int = 1, scale: Int, shrinksByContext: Bool) {
        self.alignment = max(1, alignment)
        self.tileSize = max(self.alignment, tileSize / self.alignment * self.alignment)
        self.context = context
        self.scale = scale
        self.shrinksByContext = shrinksByContext
    }

    /// Number of tiles for an image.
    func tileCount(height: Int, width: Int) -> Int {
        ((height + tileSize - 1) / tileSize) * ((width + tileSize - 1) / tileSize)
    }

    /// Upscales `image` (`[1, C, H, W]`) to `[1, C', H*scale, W*scale]`.
    /// - Parameters:
    ///   - image: the input planes.
    ///   - beforeTile: called before each tile with (index, total); throwing stops the run
    ///     (cancellation between tiles).
    ///   - network: maps a window to its output.
    func run(_ image: Tensor, beforeTile: (Int, Int) throws -> Void, network: (Tensor) throws -> Tensor) throws -> Tensor {
        let (h, w) = (image.shape.h, image.shape.w)
        var output: Tensor?
        let rows = (h + tileSize - 1) / tileSize, cols = (w + tileSize - 1) / tileSize
        for ty in 0..<rows {
            for tx in 0..<cols {
                try beforeTile(ty * cols + tx, rows * cols)
                let y0 = ty * tileSize, y1 = min(h, y0 + tileSize)
                let x0 = tx * tileSize, x1 = min(w, x0 + tileSize)
                let extraH = (alignment - (y1 - y0) % alignment) % alignment
                let extraW = (alignment - (x1 - x0) % alignment) % alignment
                let window = Self.clampedWindow(image, y0: y0 - context, x0: x0 - context,
                                                height: y1 - y0 + 2 * context + extraH,
                                                width: x1 - x0 + 2 * context + extraW)
                let result = try network(window)
                let offset = shrinksByContext ? 0 : context * scale
                let out = output ?? Tensor(zeros: Shape(n: 1, c: result.shape.c, h: h * scale, w: w * scale))
                output = out
                Self.copy(result, fromY: offset, fromX: offset, into: out, toY: y0 * scale, toX: x0 * scale,
                          height: (y1 - y0) * scale, width: (x1 - x0) * scale)
            }
        }
        return output!
    }

    /// The window of `image` at (y0, x0) of the given size; coordinates outside the image read
    /// the nearest edge pixel.
    static func clampedWindow(_ image: Tensor, y0: Int, x0: Int, height: Int, width: Int) -> Tensor {
        let s = image.shape
        let out = Tensor(zeros: Shape(n: 1, c: s.c, h: height, w: width))
        let src = image.floatPointer, dst = out.floatPointer
        let xs = (0..<width).map { min(max(x0 + $0, 0), s.w - 1) }
        for c in 0..<s.c {
            for y in 0..<height {
                let srow = src + (c * s.h + min(max(y0 + y, 0), s.h - 1)) * s.w
                let drow = dst + (c * height + y) * width
                for x in 0..<width { drow[x] = srow[xs[x]] }
            }
        }
        return out
    }

    static func copy(_ src: Tensor, fromY: Int, fromX: Int, into dst: Tensor, toY: Int, toX: Int, height: Int, width: Int) {
        let s = src.shape, d = dst.shape
        precondition(fromY + height <= s.h && fromX + width <= s.w, "tile output \(s) smaller than \(height)x\(width) at \(fromY),\(fromX)")
        let sp = src.floatPointer, dp = dst.floatPointer
        for c in 0..<min(s.c, d.c) {
            for y in 0..<height {
                (dp + (c * d.h + toY + y) * d.w + toX).update(from: sp + (c * s.h + fromY + y) * s.w + fromX, count: width)
            }
        }
    }
}
