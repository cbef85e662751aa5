import Tensor

/// A value (tensor) flowing between nodes, identified by its index in ``Graph/valueNames``.
public struct ValueID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Index into the graph's value table.
    public let index: Int

    /// Creates an id; only graphs hand these out.
    init(_ index: Int) { self.index = index }

    public static func < (a: ValueID, b: ValueID) -> Bool { a.index < b.index }

    /// `%12`.
    public var description: String { "%\(index)" }
}

/// One operation: reads `inputs`, writes one `output`.
public struct Node: Sendable {
    /// Name from the model file (for errors and profiles).
    public var name: String
    /// What it computes.
    public var op: Op
    /// Values it reads, in the op's order.
    public var inputs: [ValueID]
    /// The value it writes.
    public var output: ValueID

    /// Empties a convolution's weights (an executor whose packed form holds them).
    mutating func dropConvolutionWeights() {
        guard case .convolution(var conv) = op else { return }
        conv.weights = []
        op = .convolution(conv)
    }

    /// Creates a node.
    public init(name: String, op: Op, inputs: [ValueID], output: ValueID) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.output = output
    }
}

/// A dataflow graph over tensors, nodes in execution (topological) order.
///
/// Every value has exactly one producer (a node, a graph input or a constant); fan-out needs no
/// copy node because values are immutable once written. Values computed at run time are f32;
/// constants may also be `i64` (shapes and indices) or f16/bf16 storage.
public struct Graph: Sendable {
    /// Names of the values, by index (model-file blob names).
    public private(set) var valueNames: [String] = []
    /// Nodes in an order where every input is produced before it is read.
    public var nodes: [Node] = []
    /// Values the caller provides.
    public var inputs: [ValueID] = []
    /// Values the caller gets back.
    public var outputs: [ValueID] = []
    /// Values whose contents are known when the graph is built: weights and other initializers,
    /// and whatever ``foldConstants(inputShapes:)`` computed.
    public var constants: [ValueID: Tensor] = [:]

    /// Creates an empty graph.
    public init() {}

    /// Adds a value and returns its id.
    public mutating func addValue(named name: String) -> ValueID {
        valueNames.append(name)
        return ValueID(valueNames.count - 1)
    }

    /// Adds a constant value and returns its id.
    public mutating func addConstant(named name: String, _ tensor: Tensor) -> ValueID {
        let v = addValue(named: name)
        constants[v] = tensor
        return v
    }

    /// The value named `name`, if any (the last one when names repeat).
    public func value(named name: String) -> ValueID? {
        valueNames.lastIndex(of: name).map(ValueID.init)
    }

    /// How many nodes read each value (graph outputs count as one extra reader).
    public func consumerCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: valueNames.count)
        for node in nodes { for v in node.inputs { counts[v.index] += 1 } }
        for v in outputs { counts[v.index] += 1 }
        return counts
    }

    /// The index of the node producing each value (nil for graph inputs and unused values).
    public func producers() -> [Int?] {
        var p = [Int?](repeating: nil, count: valueNames.count)
        for (i, node) in nodes.enumerated() { p[node.output.index] = i }
        return p
    }

    /// Checks that the node order is executable and every read value is produced.
    /// - Throws: ``GraphError`` `.invalidGraph` naming the first node that reads an unknown value.
    public func validate() throws {
        var ready = Set(inputs).union(constants.keys)
        for node in nodes {
            for v in node.inputs where !ready.contains(v) {
                throw GraphError(.invalidGraph, "node \(node.name) reads \(valueNames[v.index]) before it is produced")
            }
            if constants[node.output] != nil {
                throw GraphError(.invalidGraph, "node \(node.name) writes the constant \(valueNames[node.output.index])")
            }
            ready.insert(node.output)
        }
        for v in outputs where !ready.contains(v) {
            throw GraphError(.invalidGraph, "graph output \(valueNames[v.index]) is never produced")
        }
    }
}
