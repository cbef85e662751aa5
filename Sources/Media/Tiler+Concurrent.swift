// Running tiles on several threads at once, for models whose kernels leave cores idle on small
// tiles. Memory stays bounded: the output plus, per worker, one input tile and one output tile.

import Foundation
import Tensor

extension Tiler {
    /// Like `run(_:progress:body:)`, with up to `workers` tiles in flight on their own threads.
    ///
    /// Each worker takes the next tile of the plan, runs `body` on it, and stitches the result
    /// under a lock (copying is cheap next to a model). `progress` is called under that lock,
    /// once per finished tile, in completion order. After `.stop` or an error, workers take no
    /// new tiles; the first error (or `cancelled`) is thrown once all have returned.
    /// - Parameters:
    ///   - input: `[N, C, H, W]` f32.
    ///   - workers: threads to use, at least 1.
    ///   - progress: called after each tile; return `.stop` to cancel.
    ///   - body: the model, safe to call from several threads at once.
    public func runConcurrently(
        _ input: Tensor,
        workers: Int,
        progress: @escaping @Sendable (TileProgress) -> TileDecision = { _ in .proceed },
        body: @escaping @Sendable (Tensor) throws -> Tensor
    ) throws -> Tensor {
        let shape = input.shape
        guard input.dtype == .f32, shape.rank == 4, shape.count > 0 else {
            throw MediaError(.invalidArgument, "tiler: input must be a non-empty f32 [N, C, H, W], got \(shape) \(input.dtype)")
        }
        guard workers >= 1 else { throw MediaError(.invalidArgument, "tiler: workers must be at least 1, got \(workers)") }
        if Task.isCancelled { throw MediaError(.cancelled, "tiler: cancelled before the first tile") }
        let tiles = plan(height: shape[2], width: shape[3])
        let state = ConcurrentTiling(tiles: tiles, outputSize: outputSize(height: shape[2], width: shape[3]))
        let threads = min(workers, tiles.count)
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            while let tile = state.nextTile() {
                do {
                    let piece = Tensor(zeros: Shape(n: shape[0], c: shape[1], h: tile.padded.height, w: tile.padded.width))
                    Tiler.copy(from: input, region: tile.padded, to: piece, at: (0, 0), planes: shape[0] * shape[1])
                    let result = try body(piece)
                    try state.stitch(result, tile: tile, batch: shape[0], progress: progress)
                } catch {
                    state.fail(error)
                }
            }
        }
        return try state.result()
    }
}

/// The shared state of a concurrent run: which tile is next, the output, the first failure.
/// Every access holds `lock`, which is what makes the `@unchecked Sendable` sound.
private final class ConcurrentTiling: @unchecked Sendable {
    private let lock = NSLock()
    private let tiles: [Tile]
    private let outputSize: (height: Int, width: Int)
    private var next = 0
    private var completed = 0
    private var output: Tensor?
    private var failure: (any Error)?

    init(tiles: [Tile], outputSize: (height: Int, width: Int)) {
        self.tiles = tiles
        self.outputSize = outputSize
    }

    func nextTile() -> Tile? {
        lock.withLock {
            guard failure == nil, next < tiles.count else { return nil }
            defer { next += 1 }
            return tiles[next]
        }
    }

    func fail(_ error: any Error) {
        lock.withLock { if failure == nil { failure = error } }
    }

    func stitch(_ result: Tensor, tile: Tile, batch: Int, progress: (TileProgress) -> TileDecision) throws {
        try lock.withLock {
            let rs = result.shape
            guard result.dtype == .f32, rs.rank == 4, rs[0] == batch, rs[2] == tile.outputPadded.height, rs[3] == tile.outputPadded.width,
                  output == nil || rs[1] == output!.shape[1]
            else {
                throw MediaError(.invalidArgument,
                    "tiler: tile \(tile.index) \(tile.padded) returned \(rs) \(result.dtype), expected f32 [\(batch), \(output.map { String($0.shape[1]) } ?? "C"), \(tile.outputPadded.height), \(tile.outputPadded.width)]")
            }
            if output == nil { output = Tensor(zeros: Shape(n: batch, c: rs[1], h: outputSize.height, w: outputSize.width)) }
            let crop = TileRegion(x: tile.outputCore.x - tile.outputPadded.x, y: tile.outputCore.y - tile.outputPadded.y,
                                  width: tile.outputCore.width, height: tile.outputCore.height)
            Tiler.copy(from: result, region: crop, to: output!, at: (tile.outputCore.y, tile.outputCore.x), planes: batch * rs[1])
            completed += 1
            if failure == nil, progress(TileProgress(completed: completed, total: tiles.count, tile: tile.core)) == .stop, completed < tiles.count {
                failure = MediaError(.cancelled, "tiler: stopped after \(completed) of \(tiles.count) tiles")
            }
        }
    }

    func result() throws -> Tensor {
        try lock.withLock {
            if let failure { throw failure }
            return output!
        }
    }
}
