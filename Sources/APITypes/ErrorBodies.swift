import ModelKit

/// `{"detail": "..."}`: fal's plain error body (401, 404, 400 "still in progress", 413, ...).
public struct ErrorDetail: Sendable, Codable, Equatable {
    /// Human-readable message (or the validation issues).
    public var detail: String

    /// - Parameter detail: the message.
    public init(_ detail: String) { self.detail = detail }
}

/// `{"detail": "...", "error_type": "..."}`: a typed error (model failures, timeouts,
/// infrastructure), also sent as the `X-Fal-Error-Type` header.
public struct TypedErrorDetail: Sendable, Codable, Equatable {
    /// Human-readable message (or the validation issues).
    public var detail: String
    /// fal's `error_type`.
    public var errorType: String

    /// - Parameters:
    ///   - detail: the message.
    ///   - errorType: fal's `error_type`, e.g. `request_timeout`.
    public init(_ detail: String, errorType: String) {
        self.detail = detail
        self.errorType = errorType
    }

    enum CodingKeys: String, CodingKey {
        case detail
        case errorType = "error_type"
    }
}

/// 422 `{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`: input validation failures.
public struct ValidationErrorBody: Sendable, Codable, Equatable {
    /// Human-readable message (or the validation issues).
    public var detail: [ValidationIssue]

    /// - Parameter detail: the issues, each with its location.
    public init(_ detail: [ValidationIssue]) { self.detail = detail }
}
