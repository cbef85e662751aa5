import Foundation
import Graph
import Kernels
import Testing
@testable import ModelFormats
import Tensor

/// Convolutional ONNX models lower to the engine's graph IR and run on its executor.
@Suite struct ONNXEngineGraphTests {
    @Test func convolutionalModelRunsOnGraphExecutor() throws {
        let dir = Goldens.directory.appendingPathComponent("ops/cnn_engine_graph")
        let model = try ONNXModel(contentsOf: dir.appendingPathComponent("model.onnx").path)
        let input = try #require(try Goldens.tensors(in: dir, prefix: "input").first)
        let want = try #require(try Goldens.tensors(in: dir, prefix: "output").first).tensor
        let graph = try model.engineGraph(inputShapes: [input.name: input.tensor.shape])
        #expect(graph.nodes.contains { if case .deconvolution = $0.op { true } else { false } })
        let executor = try GraphExecutor(graph: graph, pool: ComputePool(threads: 1))
        let out = try #require(try executor.run([input.tensor.toTensor()]).first)
        #expect(out.shape.dims == want.shape)
        let got = ONNXTensor(out)
        let diff = try #require(Goldens.maxAbsDifference(got, want))
        #expect(diff <= 1e-4 * max(1, want.floats.map(abs).max() ?? 1), "max abs error \(diff)")
    }

    @Test func unsupportedNodeIsNamed() throws {
        // Range with a run-time start: its output shape would depend on a value.
        let model = try ONNXModel(model: ONNXTestGraph.model(
            inputs: ["start"], outputs: ["r"],
            initializers: [ONNXTestGraph.tensor("limit", [], floats: [8]), ONNXTestGraph.tensor("delta", [], floats: [1])],
            nodes: [ONNXTestGraph.node("Range", ["start", "limit", "delta"], ["r"], name: "runtime_range")]))
        do {
            _ = try model.engineGraph(inputShapes: ["start": []])
            Issue.record("lowered Range with a run-time start")
        } catch let e as ModelFormatError {
            #expect(e.code == .unsupportedLayer)
            #expect(e.message.contains("Range"))
            #expect(e.message.contains("runtime_range"))
        }
    }
}
