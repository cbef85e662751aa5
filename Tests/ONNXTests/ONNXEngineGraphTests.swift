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
        // A run-time cast to f16 has no kernel yet.
        let dir = Goldens.directory.appendingPathComponent("ops/cast_f16")
        let model = try ONNXModel(contentsOf: dir.appendingPathComponent("model.onnx").path)
        let node = try #require(model.nodes.first { $0.opType == "Cast" })
        let inputs = try Goldens.tensors(in: dir, prefix: "input")
        do {
            _ = try model.engineGraph(inputShapes: Dictionary(uniqueKeysWithValues: inputs.map { ($0.name, $0.tensor.shape) }))
            Issue.record("lowered \(node.opType)")
        } catch let e as ModelFormatError {
            #expect(e.code == .unsupportedLayer)
            #expect(e.message.contains(node.opType))
            #expect(e.message.contains(node.name))
        }
    }
}
