import Foundation
import Kernels

/// An imported ONNX model: its operators decoded and checked, its initializers loaded.
///
/// Import fails early, naming the node and op, for any operator or attribute outside the
/// supported set. To run, translate it for concrete input shapes to the engine graph
/// (``engineGraph(inputShapes:)``, shape subgraphs folded) and run that on ``GraphExecutor``:
/// ``ONNXGraphRunner`` does both and keeps the tensor names; ``run(_:pool:)`` runs once.
public struct ONNXModel: Sendable {
    /// One node after import.
    struct ImportedNode: Sendable {
        var name: String
        var opType: String
        var op: ONNXOp
        var inputs: [String]
        var outputs: [String]
    }

    /// The default-domain opset version the model was exported with.
    public let opset: Int
    /// The file's IR version.
    public let irVersion: Int
    /// Graph inputs the caller provides (initializers excluded), with their declared shapes.
    public let inputs: [ONNX.ValueInfoProto]
    /// Graph outputs, with their declared shapes.
    public let outputs: [ONNX.ValueInfoProto]
    /// Initializers by name.
    public let initializers: [String: ONNXTensor]
    let nodes: [ImportedNode]

    /// Reads and imports a `.onnx` file; external data files are looked up next to it.
    /// - Throws: ``ModelFormatError``: `.io`, `.malformed` (with field and byte offset), or
    ///   `.unsupportedLayer` naming the node and op.
    public init(contentsOf path: String) throws {
        let model = try ONNX.ModelProto(contentsOf: path)
        try self.init(model: model, baseDirectory: (path as NSString).deletingLastPathComponent)
    }

    /// Imports a decoded model.
    /// - Parameters:
    ///   - model: the decoded file.
    ///   - baseDirectory: where external tensor data lives.
    /// - Throws: ``ModelFormatError`` `.unsupportedLayer` naming the first unsupported node, op or
    ///   attribute; `.malformed` when a node reads a value nothing produces.
    public init(model: ONNX.ModelProto, baseDirectory: String? = nil) throws {
        guard let opset = model.opsetImport[""] else {
            throw ModelFormatError(.malformed, "onnx: the model imports no default-domain opset")
        }
        self.opset = Int(opset)
        irVersion = Int(model.irVersion)
        let graph = model.graph
        var inits: [String: ONNXTensor] = [:]
        for t in graph.initializers {
            inits[t.name] = try ONNXTensor(proto: t, baseDirectory: baseDirectory)
        }
        initializers = inits
        inputs = graph.inputs.filter { inits[$0.name] == nil }
        outputs = graph.outputs
        var known = Set(inits.keys).union(inputs.map(\.name))
        var imported: [ImportedNode] = []
        imported.reserveCapacity(graph.nodes.count)
        for (i, node) in graph.nodes.enumerated() {
            let name = node.name.isEmpty ? "#\(i)" : node.name
            var named = node
            named.name = name
            let op = try ONNXOp.parse(named, opset: Int(opset))
            for input in node.inputs where !input.isEmpty && !known.contains(input) {
                throw ModelFormatError(.malformed, "onnx: \(node.opType) '\(name)' reads '\(input)' before any node produces it")
            }
            known.formUnion(node.outputs.filter { !$0.isEmpty })
            imported.append(ImportedNode(name: name, opType: node.opType, op: op, inputs: node.inputs, outputs: node.outputs))
        }
        for o in outputs where !known.contains(o.name) {
            throw ModelFormatError(.malformed, "onnx: graph output '\(o.name)' is never produced")
        }
        nodes = imported
    }

    /// The default-domain operator types this importer implements (attributes are checked per node).
    public static var supportedOperators: Set<String> { ONNXOp.supportedTypes }

    /// How many nodes use each operator type.
    public var operatorCounts: [String: Int] {
        nodes.reduce(into: [:]) { $0[$1.opType, default: 0] += 1 }
    }

    /// Number of nodes.
    public var nodeCount: Int { nodes.count }
}
