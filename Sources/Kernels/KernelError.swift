/// An error from a kernel: the op and the shapes that did not fit.
public struct KernelError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure, open to new cases without breaking callers.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Value: Sendable, Hashable { case shapeMismatch, invalidParameter, unsupported }
        let value: Value
        /// Input, weight or output shapes disagree.
        public static let shapeMismatch = Code(value: .shapeMismatch)
        /// A parameter is out of range (a zero stride, channels not divisible by groups, ...).
        public static let invalidParameter = Code(value: .invalidParameter)
        /// The combination is valid but has no implementation (e.g. a dtype).
        public static let unsupported = Code(value: .unsupported)
        /// The case name.
        public var description: String { "\(value)" }
    }

    /// What went wrong.
    public var code: Code
    /// The op and the shapes involved.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}
