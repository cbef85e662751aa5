/// An error a model wants its caller to see, with the HTTP status of fal's result endpoint.
public struct ModelError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; grows without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidInput = "invalid_input"
            case fileDownloadError = "file_download_error"
            case unsupportedMedia = "unsupported_media"
            case weightsMissing = "weights_missing"
            case weightsInvalid = "weights_invalid"
            case internalError = "internal_error"
            case runnerDisconnected = "runner_disconnected"
            case startupTimeout = "startup_timeout"
            case runnerStartFailed = "runner_start_failed"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The input is well-formed JSON but unusable (e.g. image too large): 422.
        public static let invalidInput = Code(.invalidInput)
        /// A file input could not be fetched or decoded: 422.
        public static let fileDownloadError = Code(.fileDownloadError)
        /// Bytes are not an image/video the model can read: 422 (or 415).
        public static let unsupportedMedia = Code(.unsupportedMedia)
        /// The model's weights are not in the cache (`peregrine models pull`): 503.
        public static let weightsMissing = Code(.weightsMissing)
        /// The model's weights are corrupt or do not match: 500.
        public static let weightsInvalid = Code(.weightsInvalid)
        /// Anything else inside the model: 500.
        public static let internalError = Code(.internalError)
        /// The separate process serving the model went away mid-request: 503.
        public static let runnerDisconnected = Code(.runnerDisconnected)
        /// The model's runner process did not answer its health check in time: 503.
        public static let startupTimeout = Code(.startupTimeout)
        /// The model's runner process exited or refused to set up while starting: 503.
        public static let runnerStartFailed = Code(.runnerStartFailed)

        /// fal's `error_type` string.
        public var description: String { base.rawValue }
    }

    public var code: Code
    /// Human-readable message, safe to show to the caller.
    public var message: String
    /// HTTP status of the result endpoint.
    public var status: Int
    /// The input field the error concerns (fal `loc` path), if any.
    public var field: [String]?

    public init(_ code: Code, _ message: String, status: Int? = nil, field: [String]? = nil) {
        self.code = code
        self.message = message
        self.field = field
        if let status {
            self.status = status
        } else {
            switch code {
            case .invalidInput, .fileDownloadError, .unsupportedMedia: self.status = 422
            case .weightsMissing, .runnerDisconnected, .startupTimeout, .runnerStartFailed: self.status = 503
            default: self.status = 500
            }
        }
    }

    public var description: String { "\(code): \(message)" }
}
