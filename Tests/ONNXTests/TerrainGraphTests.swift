import Foundation
import Graph
import Kernels
@testable import ModelFormats
import Tensor
import Testing

/// The terrain UNet translated to the engine graph and run by ``GraphExecutor`` matches
/// onnxruntime at the same tolerance as the ONNX plan executor.
@Suite(.serialized) struct TerrainGraphTests {
    @Test func denoisedMatchesOnnxruntimeOnGraph() throws {
        let model = try ONNXModel(contentsOf: try TerrainModel.path())
        let dir = Goldens.directory.appendingPathComponent("terrain")
        let inputs = try Goldens.tensors(in: dir, prefix: "input")
        let want = try #require(try Goldens.tensors(in: dir, prefix: "output").first).tensor
        let byName = Dictionary(uniqueKeysWithValues: inputs.map { ($0.name, $0.tensor) })
        let graph = try model.engineGraph(inputShapes: byName.mapValues(\.shape))
        // Shape subgraphs are folded: no Shape op survives translation.
        #expect(!graph.nodes.contains { if case .shapeOf = $0.op { true } else { false } })
        let executor = try GraphExecutor(graph: graph, pool: ComputePool(threads: 2))
        let feeds = model.inputs.map { ONNXGraphBuilder.tensor(byName[$0.name]!) }
        let out = try #require(try executor.run(feeds).first)
        let got = ONNXTensor(out)
        let diff = try #require(Goldens.maxAbsDifference(got, want), "\(got) vs \(want)")
        #expect(diff <= TerrainModelTests.tolerance, "max abs error \(diff)")
    }
}
