/// An error building, checking or running a graph; messages name the node and the shapes.
public struct GraphError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; grows without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidGraph = "invalid_graph", shapeMismatch = "shape_mismatch", invalidInput = "invalid_input"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The graph's structure is inconsistent.
        public static let invalidGraph = Code(.invalidGraph)
        /// An op's input shapes do not fit together.
        public static let shapeMismatch = Code(.shapeMismatch)
        /// The caller's tensors do not fit the graph's inputs.
        public static let invalidInput = Code(.invalidInput)

        /// The code's name.
        public var description: String { base.rawValue }
    }

    /// What kind of failure.
    public var code: Code
    /// Which node and which shapes.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}
