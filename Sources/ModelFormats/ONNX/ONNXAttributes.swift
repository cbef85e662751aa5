/// Typed, checked access to a node's attributes; every failure names the node and its op.
struct ONNXAttributes {
    let node: ONNX.NodeProto
    /// Attribute names read so far; anything else present is unsupported.
    private(set) var used: Set<String> = []

    init(_ node: ONNX.NodeProto) { self.node = node }

    /// `Conv 'conv1'`.
    var label: String { "\(node.opType) '\(node.name)'" }

    func error(_ why: String) -> ModelFormatError {
        ModelFormatError(.unsupportedLayer, "onnx: \(label): \(why)")
    }

    private mutating func get(_ name: String, _ kind: ONNX.AttributeProto.Kind) throws -> ONNX.AttributeProto? {
        used.insert(name)
        guard let a = node.attribute(name) else { return nil }
        guard a.kind == kind else { throw error("attribute \(name) has type \(a.kind), expected \(kind)") }
        return a
    }

    mutating func int(_ name: String, _ fallback: Int) throws -> Int {
        try get(name, .int).map { Int($0.i) } ?? fallback
    }

    mutating func intOrNil(_ name: String) throws -> Int? {
        try get(name, .int).map { Int($0.i) }
    }

    mutating func float(_ name: String, _ fallback: Float) throws -> Float {
        try get(name, .float)?.f ?? fallback
    }

    mutating func ints(_ name: String) throws -> [Int]? {
        try get(name, .ints).map { $0.ints.map { Int($0) } }
    }

    mutating func floats(_ name: String) throws -> [Float]? {
        try get(name, .floats)?.floats
    }

    mutating func string(_ name: String, _ fallback: String) throws -> String {
        try get(name, .string)?.string ?? fallback
    }

    mutating func tensor(_ name: String) throws -> ONNX.TensorProto? {
        try get(name, .tensor)?.t
    }

    /// Requires `value` to be one of `allowed`.
    func require<T: Equatable>(_ name: String, _ value: T, in allowed: [T]) throws {
        guard allowed.contains(value) else { throw error("attribute \(name)=\(value) is not supported") }
    }

    /// Throws for any attribute present that the op's parser did not read.
    func checkAllUsed() throws {
        for a in node.attributes where !used.contains(a.name) {
            throw error("attribute \(a.name) is not supported")
        }
    }
}
