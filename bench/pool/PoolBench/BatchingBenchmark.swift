import Foundation
import Graph
import Kernels
import ModelFormats
import ModelKit
import Tensor

/// Does dynamic batching pay on the CPU engine? Runs realesr-animevideov3 on `batch` small
/// inputs one at a time and as one `[batch, 3, H, W]` tensor, same graph, same threads, and
/// reports both times and whether the outputs agree.
enum BatchingBenchmark {
    static func run(modelDirectory: URL, sizes: [Int], batch: Int, threads: Int, repeats: Int) throws -> JSONValue {
        let param = modelDirectory.appendingPathComponent("realesr-animevideov3/realesr-animevideov3-x4.param")
        let bin = modelDirectory.appendingPathComponent("realesr-animevideov3/realesr-animevideov3-x4.bin")
        let graph = try NCNNImporter.importGraph(paramURL: param, binURL: bin, outputs: ["output"])
        let executor = try GraphExecutor(graph: graph, pool: ComputePool(threads: max(1, threads)))
        var results: [JSONValue] = []
        for size in sizes {
            let singles = (0..<batch).map { k in
                Tensor(shape: Shape(n: 1, c: 3, h: size, w: size), values: (0..<(3 * size * size)).map { Float(($0 &* 7919 &+ k &* 104_729) % 251) / 250 })
            }
            var joined: [Float] = []
            for t in singles { joined += t.toArray() }
            let batched = Tensor(shape: Shape(n: batch, c: 3, h: size, w: size), values: joined)
            // Warm up both shapes (plans, caches).
            let reference = try singles.map { try executor.run([$0])[0].toArray() }
            let together = try executor.run([batched])[0].toArray()
            let flat = reference.flatMap { $0 }
            let maxDiff = zip(flat, together).map { abs($0 - $1) }.max() ?? .infinity
            var one: [Double] = []
            var all: [Double] = []
            for _ in 0..<repeats {
                var t0 = DispatchTime.now().uptimeNanoseconds
                for s in singles { _ = try executor.run([s]) }
                one.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                t0 = DispatchTime.now().uptimeNanoseconds
                _ = try executor.run([batched])
                all.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            let sequential = one.sorted()[one.count / 2]
            let batchedTime = all.sorted()[all.count / 2]
            results.append([
                "input": .string("\(size)x\(size)"),
                "batch": .int(Int64(batch)),
                "sequential_seconds_median": .double(round3(sequential)),
                "batched_seconds_median": .double(round3(batchedTime)),
                "speedup": .double(round3(sequential / batchedTime)),
                "outputs_match": .bool(together.count == flat.count && maxDiff < 1e-4),
                "max_abs_difference": .double(Double(maxDiff)),
            ])
        }
        return [
            "benchmark": "batching",
            "model": "realesr-animevideov3 x4 (graph only, no image coding)",
            "threads": .int(Int64(threads)),
            "repeats": .int(Int64(repeats)),
            "results": .array(results),
        ]
    }

    static func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
}
