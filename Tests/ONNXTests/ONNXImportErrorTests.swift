import Foundation
import Testing
@testable import ModelFormats

/// Unsupported operators and attributes are errors that name the node and the op.
@Suite struct ONNXImportErrorTests {
    func model(op: String, attributes: [ONNX.AttributeProto] = [], domain: String = "") -> ONNX.ModelProto {
        var node = ONNX.NodeProto()
        node.name = "the_node"
        node.opType = op
        node.domain = domain
        node.inputs = ["x"]
        node.outputs = ["y"]
        node.attributes = attributes
        var m = ONNX.ModelProto()
        m.opsetImport = ["": 18]
        var x = ONNX.ValueInfoProto()
        x.name = "x"
        x.elementType = 1
        x.shape = [.value(2), .value(3)]
        var y = ONNX.ValueInfoProto()
        y.name = "y"
        m.graph.inputs = [x]
        m.graph.outputs = [y]
        m.graph.nodes = [node]
        return m
    }

    func expectUnsupported(_ m: ONNX.ModelProto, mentioning words: [String]) {
        do {
            _ = try ONNXModel(model: m)
            Issue.record("import succeeded")
        } catch let e as ModelFormatError {
            #expect(e.code == .unsupportedLayer)
            for w in words { #expect(e.message.contains(w), "\(e.message) lacks \(w)") }
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func unknownOperator() {
        expectUnsupported(model(op: "NonMaxSuppression"), mentioning: ["the_node", "NonMaxSuppression"])
    }

    @Test func foreignDomain() {
        expectUnsupported(model(op: "FusedGemm", domain: "com.microsoft"), mentioning: ["the_node", "com.microsoft"])
    }

    @Test func unknownAttribute() {
        var a = ONNX.AttributeProto()
        a.name = "mystery"
        a.kind = .int
        expectUnsupported(model(op: "Sigmoid", attributes: [a]), mentioning: ["the_node", "Sigmoid", "mystery"])
    }

    @Test func unsupportedAttributeValue() {
        var a = ONNX.AttributeProto()
        a.name = "antialias"
        a.kind = .int
        a.i = 1
        expectUnsupported(model(op: "Resize", attributes: [a]), mentioning: ["the_node", "Resize", "antialias"])
    }

    @Test func runtimeShapeErrorNamesTheNode() throws {
        let m = try ONNXModel(model: model(op: "Softmax"))
        #expect(throws: ModelFormatError.self) { try ONNXGraphRunner(model: m, inputShapes: ["x": [2, 4]], pool: .shared) }
        let plan = try ONNXGraphRunner(model: m, inputShapes: ["x": [2, 3]], pool: .shared)
        do {
            _ = try plan.run(["x": ONNXTensor(shape: [3, 2], floats: [Float](repeating: 0, count: 6))])
            Issue.record("ran with a wrong shape")
        } catch let e as ModelFormatError {
            #expect(e.message.contains("x"))
        }
    }
}

@Suite struct ONNXSupportedOperatorTests {
    /// Every operator the issue lists is importable.
    @Test func coversTheRequiredOperators() {
        let required = ["Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum", "Softmax", "InstanceNormalization",
                        "GroupNormalization", "LayerNormalization", "Resize", "AveragePool", "MaxPool", "Sigmoid", "Mul",
                        "Tanh", "Erf", "Gelu", "Sin", "Cos", "Exp", "Log", "Sqrt", "Pow", "Add", "Sub", "Div", "Where",
                        "Reshape", "Transpose", "Split", "Concat", "Slice", "Gather", "Unsqueeze", "Squeeze", "Expand",
                        "Constant", "ConstantOfShape", "Shape", "Cast", "Range"]
        let missing = required.filter { !ONNXModel.supportedOperators.contains($0) }
        #expect(missing.isEmpty, "missing \(missing)")
    }

    /// Each supported operator type has at least one onnxruntime golden exercising it.
    @Test func everySupportedOperatorHasAGolden() throws {
        var covered = Set<String>()
        for name in Goldens.operatorCases() {
            let path = Goldens.directory.appendingPathComponent("ops/\(name)/model.onnx").path
            let proto = try ONNX.ModelProto(contentsOf: path)
            covered.formUnion(proto.graph.nodes.map(\.opType))
        }
        let uncovered = ONNXModel.supportedOperators.subtracting(covered)
        #expect(uncovered.isEmpty, "no golden for \(uncovered.sorted())")
    }
}
