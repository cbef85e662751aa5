import Foundation
import Graph
import Kernels
import Tensor
import Testing

/// The executor's between-layer checkpoint: how cancellation stops a long tile early.
@Suite("Graph checkpoints")
struct GraphCheckpointTests {
    struct Stop: Error {}

    @Test("a throwing checkpoint stops the run between layers; the executor then runs normally", arguments: [ComputePrecision.fp32, .bf16])
    func checkpointStopsTheRun(precision: ComputePrecision) throws {
        let g = GraphTests.chain(depth: 6, channels: 16)
        let e = try GraphExecutor(graph: g, pool: ComputePool(threads: 2), precision: precision)
        let x = GraphTests.input(n: 1, c: 16, h: 12, w: 10, seed: 3)
        var steps = 0
        _ = try e.run([x], checkpoint: { steps += 1 })
        #expect(steps >= 1 && steps <= g.nodes.count)

        var calls = 0
        #expect(throws: Stop.self) {
            _ = try e.run([x], checkpoint: {
                calls += 1
                if calls == 2 { throw Stop() }
            })
        }
        #expect(calls == 2, "nothing runs after the checkpoint throws")

        let expected = try GraphExecutor(graph: g, pool: ComputePool(threads: 2), precision: precision).run([x])[0].toArray()
        #expect(try e.run([x])[0].toArray() == expected)
    }

    @Test("at fp32 every unfused layer is a step: a 6-layer chain is stopped after any layer")
    func everyLayerIsAStep() throws {
        let g = GraphTests.chain(depth: 6, channels: 8)
        let e = try GraphExecutor(graph: g, pool: ComputePool(threads: 1))
        let x = GraphTests.input(n: 1, c: 8, h: 7, w: 9, seed: 1)
        var steps = 0
        _ = try e.run([x], checkpoint: { steps += 1 })
        // Fusion folds each PReLU and the trailing residual add into the convolutions.
        #expect(steps == 6)
    }
}
