/// A failure of a blob store.
public struct BlobStoreError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case notFound = "not_found"
            case tooLarge = "too_large"
            case invalidID = "invalid_id"
            case invalidPart = "invalid_part"
            case storage = "storage"
            case quotaExceeded = "quota_exceeded"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// No such blob or upload.
        public static let notFound = Code(.notFound)
        /// Over a configured size limit (map to 413).
        public static let tooLarge = Code(.tooLarge)
        /// A malformed blob or upload id (never touches the filesystem).
        public static let invalidID = Code(.invalidID)
        /// A multipart part number, order or etag is wrong.
        public static let invalidPart = Code(.invalidPart)
        /// The owner's quota of stored bytes is used up (map to 413).
        public static let quotaExceeded = Code(.quotaExceeded)
        /// The underlying storage failed.
        public static let storage = Code(.storage)
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// A message safe to log.
    public var message: String
    /// The error that caused this one, if any.
    public var underlying: (any Error)?

    /// Creates an error.
    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { "BlobStoreError.\(code): \(message)" }
}
