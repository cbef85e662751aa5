import Tensor

/// Runs an upscaling network over an image tile by tile, reproducing the upstream ncnn tools'
/// whole-image results (Real-ESRGAN-ncnn-vulkan, waifu2x-ncnn-vulkan).
///
/// - Valid-convolution networks (waifu2x) shrink their input by the context: each tile is fed
///   `context` extra pixels per side, read with edge clamping (the image border is replicated),
///   and the output is exactly the tile's. This is waifu2x-ncnn-vulkan's scheme and is seamless.
/// - Zero-padded networks (Real-ESRGAN) see the image with `borderPad` replicated pixels around
///   it (the tool's prepadding). Each tile takes `context` pixels of that padded image around
///   its core (fewer at the padded image's edge) and keeps its core's output, so with a context
///   covering the receptive field the stitched result equals one pass over the padded image.
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
    /// Whether the network shrinks its input by the context (valid convolutions, waifu2x).
    let shrinksByContext: Bool
    /// Replicated pixels around the image for zero-padded networks (the tool's prepadding).
    let borderPad: Int

    init(tileSize: Int, context: Int, alignment: Int = 1, scale: Int, shrinksByContext: Bool, borderPad: Int = 0) {
        self.borderPad = borderPad
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
                // Window in image coordinates (outside the image: replicated edge pixels).
                let wy0: Int, wy1: Int, wx0: Int, wx1: Int
                if shrinksByContext {
                    (wy0, wy1) = (y0 - context, y1 + context + extraH)
                    (wx0, wx1) = (x0 - context, x1 + context + extraW)
                } else {
                    (wy0, wy1) = (max(y0 - context, -borderPad), min(y1 + context, h + borderPad))
                    (wx0, wx1) = (max(x0 - context, -borderPad), min(x1 + context, w + borderPad))
                }
                let window = Self.clampedWindow(image, y0: wy0, x0: wx0, height: wy1 - wy0, width: wx1 - wx0)
                let result = try network(window)
                let (offY, offX) = shrinksByContext ? (0, 0) : ((y0 - wy0) * scale, (x0 - wx0) * scale)
                let out = output ?? Tensor(zeros: Shape(n: 1, c: result.shape.c, h: h * scale, w: w * scale))
                output = out
                Self.copy(result, fromY: offY, fromX: offX, into: out, toY: y0 * scale, toX: x0 * scale,
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
