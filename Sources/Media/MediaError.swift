// Errors of the Media target.

/// An error from decoding, encoding, data URIs or tiling.
///
/// The `code` says what kind of failure it was (so callers can map it, e.g. to an HTTP 4xx for
/// bad input); the `message` names the format and what was wrong, in words fit for a user.
public struct MediaError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. New codes may be added; switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case unsupportedFormat, unsupportedFeature, tooLarge, truncated, corrupt
            case invalidArgument, encodingFailed, invalidDataURI, cancelled, outOfMemory, io, timedOut
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The bytes are not a format Media reads (or writes).
        public static let unsupportedFormat = Code(.unsupportedFormat)
        /// A known format uses a feature Media does not handle.
        public static let unsupportedFeature = Code(.unsupportedFeature)
        /// The image (or payload) is larger than the configured limit.
        public static let tooLarge = Code(.tooLarge)
        /// The data ends before the image does.
        public static let truncated = Code(.truncated)
        /// The data is damaged or not what its header claims.
        public static let corrupt = Code(.corrupt)
        /// An argument is out of range or inconsistent (dimensions, channels, tile sizes).
        public static let invalidArgument = Code(.invalidArgument)
        /// An encoder failed.
        public static let encodingFailed = Code(.encodingFailed)
        /// A `data:` URI is malformed.
        public static let invalidDataURI = Code(.invalidDataURI)
        /// The caller asked to stop (a progress callback returned `.stop`).
        public static let cancelled = Code(.cancelled)
        /// A native library could not allocate memory.
        public static let outOfMemory = Code(.outOfMemory)
        /// Reading or writing a file or a pipe failed.
        public static let io = Code(.io)
        /// A child program (ffmpeg) ran past its deadline and was killed.
        public static let timedOut = Code(.timedOut)

        /// The code's name, e.g. `truncated`.
        public var description: String { String(describing: base) }
    }

    /// What kind of failure this is.
    public let code: Code
    /// What went wrong, naming the format and the problem.
    public let message: String
    /// The error that caused this one, if any.
    public let underlying: (any Error)?

    /// Creates an error.
    /// - Parameters:
    ///   - code: the kind of failure.
    ///   - message: a sentence naming the format and the problem.
    ///   - underlying: the error that caused this one.
    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    /// `code: message`, plus the underlying error when there is one.
    public var description: String {
        if let underlying { return "\(code): \(message) (\(underlying))" }
        return "\(code): \(message)"
    }
}
