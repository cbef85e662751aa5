/// An error from creating or viewing a tensor; the message names the operation and the shapes.
public struct TensorError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure, open to new cases without breaking callers.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Value: Sendable, Hashable {
            case shapeMismatch, dtypeMismatch, outOfBounds, io
        }
        let value: Value
        /// The element counts or extents do not agree.
        public static let shapeMismatch = Code(value: .shapeMismatch)
        /// The operation needs a different element type.
        public static let dtypeMismatch = Code(value: .dtypeMismatch)
        /// A view or a file range falls outside its storage.
        public static let outOfBounds = Code(value: .outOfBounds)
        /// Opening or mapping a file failed.
        public static let io = Code(value: .io)
        /// The case name.
        public var description: String { "\(value)" }
    }

    /// What went wrong.
    public var code: Code
    /// Which operation and which shapes.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}
