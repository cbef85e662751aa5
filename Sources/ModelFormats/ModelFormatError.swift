/// An error reading a model file: names the file, the line or layer, and what was wrong.
public struct ModelFormatError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; grows without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case malformed, unsupportedLayer = "unsupported_layer", weightsSize = "weights_size", io
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The text or bytes do not follow the format.
        public static let malformed = Code(.malformed)
        /// A layer type (or a parameter of one) the importer does not implement.
        public static let unsupportedLayer = Code(.unsupportedLayer)
        /// The weight file is shorter or longer than the layers need.
        public static let weightsSize = Code(.weightsSize)
        /// The file could not be read.
        public static let io = Code(.io)

        /// The code's name.
        public var description: String { base.rawValue }
    }

    /// What kind of failure.
    public var code: Code
    /// Where and what: file, line, layer name and type.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}
