@testable import ModelFormats

/// Small ONNX graphs built in code for executor tests (opset 18, float inputs).
enum ONNXTestGraph {
    /// A model with float graph inputs `inputs`, outputs `outputs`, and the given nodes and
    /// initializers.
    static func model(inputs: [String], outputs: [String], initializers: [ONNX.TensorProto] = [],
                      nodes: [ONNX.NodeProto]) -> ONNX.ModelProto {
        var m = ONNX.ModelProto()
        m.opsetImport = ["": 18]
        m.graph.inputs = inputs.map { name in
            var v = ONNX.ValueInfoProto()
            v.name = name
            v.elementType = 1
            return v
        }
        m.graph.outputs = outputs.map { name in
            var v = ONNX.ValueInfoProto()
            v.name = name
            return v
        }
        m.graph.initializers = initializers
        m.graph.nodes = nodes
        return m
    }

    /// A node named after its first output unless `name` is given.
    static func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String? = nil,
                     _ attributes: [ONNX.AttributeProto] = []) -> ONNX.NodeProto {
        var n = ONNX.NodeProto()
        n.name = name ?? outputs[0] + "_node"
        n.opType = op
        n.inputs = inputs
        n.outputs = outputs
        n.attributes = attributes
        return n
    }

    /// A float initializer, or an int64 one when `ints` is given.
    static func tensor(_ name: String, _ dims: [Int], floats: [Float] = [], ints: [Int64] = []) -> ONNX.TensorProto {
        var t = ONNX.TensorProto()
        t.name = name
        t.dims = dims.map(Int64.init)
        t.dataTypeRaw = ints.isEmpty ? 1 : 7
        t.floatData = floats
        t.int64Data = ints
        return t
    }

    /// An `ints` attribute.
    static func ints(_ name: String, _ values: [Int64]) -> ONNX.AttributeProto {
        var a = ONNX.AttributeProto()
        a.name = name
        a.kind = .ints
        a.ints = values
        return a
    }
}
