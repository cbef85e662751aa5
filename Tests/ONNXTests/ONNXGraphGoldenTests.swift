import Foundation
import Graph
import Kernels
@testable import ModelFormats
import Tensor
import Testing

/// The operator goldens again, translated to the engine graph and run by ``GraphExecutor``
/// (the engine's one executor), at the same tolerance.
@Suite struct ONNXGraphGoldenTests {
    /// Cases whose operators the graph cannot run yet (no kernel in `Kernels`, or an attribute
    /// combination the graph op lacks). The test fails when one of them starts passing, so
    /// that the list only shrinks.
    static let pending: Set<String> = []

    /// Runs a golden case through the graph; nil when translation or execution reports a
    /// missing op (`pending`).
    static func runOnGraph(_ name: String) throws -> [ONNXTensor]? {
        let dir = Goldens.directory.appendingPathComponent("ops").appendingPathComponent(name)
        let model = try ONNXModel(contentsOf: dir.appendingPathComponent("model.onnx").path)
        let inputs = try Goldens.tensors(in: dir, prefix: "input")
        let byName = Dictionary(uniqueKeysWithValues: inputs.map { ($0.name, $0.tensor) })
        let graph: Graph
        do {
            graph = try model.engineGraph(inputShapes: byName.mapValues(\.shape))
        } catch let e as ModelFormatError where e.code == .unsupportedLayer {
            return nil
        }
        let feeds = model.inputs.map { ONNXGraphBuilder.tensor(byName[$0.name]!).converted(to: .f32) }
        let outputs: [Tensor]
        do {
            outputs = try GraphExecutor(graph: graph, pool: ComputePool(threads: 2)).run(feeds)
        } catch let e as GraphError where e.message.contains("no kernel") || e.message.contains("not supported") {
            return nil
        }
        return zip(model.outputs, outputs).map { info, t in
            let type = ONNX.DataType(rawValue: info.elementType) ?? .float
            switch type {
            case .bool: return ONNXTensor(shape: t.shape.dims, bools: t.toArray().map { $0 != 0 })
            case let f where f.isFloatingPoint: return ONNXTensor(shape: t.shape.dims, floats: t.toArray(), type: f)
            default: return ONNXTensor(shape: t.shape.dims, ints: t.toInt64Array(), type: type)
            }
        }
    }

    @Test(arguments: Goldens.operatorCases())
    func operatorMatchesOnnxruntimeOnGraph(_ name: String) throws {
        let dir = Goldens.directory.appendingPathComponent("ops").appendingPathComponent(name)
        let expected = try Goldens.tensors(in: dir, prefix: "output")
        guard let result = try Self.runOnGraph(name) else {
            #expect(Self.pending.contains(name), "\(name) does not run on the graph")
            return
        }
        #expect(!Self.pending.contains(name), "\(name) runs on the graph now: take it off the pending list")
        #expect(result.count == expected.count)
        for (i, (got, want)) in zip(result, expected.map(\.tensor)).enumerated() {
            #expect(got.elementType == want.elementType, "\(name) output \(i) type")
            let scale = max(1, want.floats.map(abs).max() ?? 1)
            let diff = try #require(Goldens.maxAbsDifference(got, want), "\(name): \(got) vs \(want)")
            #expect(diff <= ONNXOperatorGoldenTests.tolerance * scale, "\(name) output \(i): max abs error \(diff)")
        }
    }
}
