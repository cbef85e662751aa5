import Foundation
import Testing
@testable import ModelFormats

/// The real model: the reader agrees with the `onnx` package, and the executor with onnxruntime.
@Suite(.serialized) struct TerrainModelTests {
    /// Bound on |peregrine - onnxruntime| over the 128×128 output (values lie in [-1, 1]).
    static let tolerance: Float = 1e-3

    struct Inspect: Decodable {
        struct Initializer: Decodable {
            var name: String
            var data_type: Int32
            var dims: [Int]
            var sum: Double
            var sum_squares: Double
        }
        var node_count: Int
        var opset: [String: Int]
        var ir_version: Int
        var operators: [String: Int]
        var initializers: [Initializer]
    }

    @Test func readerAgreesWithOnnxPackage() throws {
        let inspect = try JSONDecoder().decode(Inspect.self, from: Data(contentsOf: Goldens.directory.appendingPathComponent("terrain-inspect.json")))
        let proto = try ONNX.ModelProto(contentsOf: try TerrainModel.path())
        #expect(Int(proto.irVersion) == inspect.ir_version)
        #expect(proto.opsetImport.mapValues { Int($0) } == inspect.opset)
        #expect(proto.graph.nodes.count == inspect.node_count)
        let histogram = proto.graph.nodes.reduce(into: [String: Int]()) { $0[$1.opType, default: 0] += 1 }
        #expect(histogram == inspect.operators)
        #expect(proto.graph.initializers.count == inspect.initializers.count)
        for (t, want) in zip(proto.graph.initializers, inspect.initializers) {
            #expect(t.name == want.name)
            #expect(t.dataTypeRaw == want.data_type)
            #expect(t.dims.map { Int($0) } == want.dims)
            let v = try ONNXTensor(proto: t).floats.map { Double($0) }
            let sum = v.reduce(0, +), sq = v.reduce(0) { $0 + $1 * $1 }
            #expect(abs(sum - want.sum) <= 1e-6 * max(1, want.sum_squares), "\(t.name) sum")
            #expect(abs(sq - want.sum_squares) <= 1e-9 * max(1, want.sum_squares), "\(t.name) sum of squares")
        }
        let noisy = try #require(proto.graph.inputs.first)
        #expect(noisy.shape == [.param("batch"), .value(1), .value(128), .value(128)])
    }

    @Test func denoisedMatchesOnnxruntime() throws {
        let model = try ONNXModel(contentsOf: try TerrainModel.path())
        let dir = Goldens.directory.appendingPathComponent("terrain")
        let inputs = try Goldens.tensors(in: dir, prefix: "input")
        let want = try #require(try Goldens.tensors(in: dir, prefix: "output").first).tensor
        let plan = try ONNXGraphRunner(model: model, inputShapes: Dictionary(uniqueKeysWithValues: inputs.map { ($0.name, $0.tensor.shape) }),
                                       pool: .shared)
        let got = try #require(try plan.run(Dictionary(uniqueKeysWithValues: inputs.map { ($0.name, $0.tensor) }))["denoised"])
        let diff = try #require(Goldens.maxAbsDifference(got, want))
        #expect(diff <= Self.tolerance, "max abs error \(diff)")
    }
}

extension TerrainModelTests {
    /// The symbolic batch folds for any batch size: shape subgraphs become constants per translation.
    @Test func plansForOtherBatchSizes() throws {
        let model = try ONNXModel(contentsOf: try TerrainModel.path())
        for batch in [2, 3] {
            let graph = try model.engineGraph(inputShapes: ["noisy": [batch, 1, 128, 128], "sigma": [batch], "difficulty": [batch]])
            // Every shape subgraph folded: no Shape op is left to run.
            #expect(!graph.nodes.contains { if case .shapeOf = $0.op { true } else { false } })
        }
        #expect(throws: ModelFormatError.self) {
            try model.engineGraph(inputShapes: ["noisy": [1, 1, 64, 128], "sigma": [1], "difficulty": [1]])
        }
    }
}
