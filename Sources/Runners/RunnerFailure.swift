/// An infrastructure outcome the pool reports to the caller with fal's `error_type` (for
/// example `startup_timeout`, 504): not the model's own verdict, and not retried.
public struct RunnerFailure: Error, Sendable, CustomStringConvertible {
    /// fal's `error_type`.
    public var errorType: String
    /// HTTP status of the result endpoint.
    public var status: Int
    /// Human-readable message, safe to show to the caller.
    public var message: String

    /// - Parameters:
    ///   - errorType: fal's `error_type`.
    ///   - status: HTTP status of the result.
    ///   - message: what happened.
    public init(errorType: String, status: Int, message: String) {
        self.errorType = errorType
        self.status = status
        self.message = message
    }

    public var description: String { "\(errorType): \(message)" }
}
