import APITypes
import Foundation
import ModelKit

/// Why a call of ``PeregrineClient`` failed: an HTTP answer outside 2xx (with fal's error body
/// read into ``detail``, ``errorType`` and ``validationIssues``), a transport failure, or an
/// answer that could not be read.
public struct ClientError: Error, Sendable, CustomStringConvertible {
    /// The class of failure; new classes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case badRequest = "bad_request"
            case unauthorized
            case forbidden
            case notFound = "not_found"
            case conflict
            case validation
            case tooLarge = "too_large"
            case rateLimited = "rate_limited"
            case clientError = "client_error"
            case requestTimeout = "request_timeout"
            case serverError = "server_error"
            case transport
            case invalidResponse = "invalid_response"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// 400 (a result asked for too early, an already finished request cancelled, ...).
        public static let badRequest = Code(.badRequest)
        /// 401: no key or a wrong one.
        public static let unauthorized = Code(.unauthorized)
        /// 403: the key may not do this (the admin API with a plain key).
        public static let forbidden = Code(.forbidden)
        /// 404: no such endpoint, request or file.
        public static let notFound = Code(.notFound)
        /// 409 (retried first).
        public static let conflict = Code(.conflict)
        /// 422: the input failed the model's schema; see ``ClientError/validationIssues``.
        public static let validation = Code(.validation)
        /// 413: a body or an upload over the server's limits or the key's quota.
        public static let tooLarge = Code(.tooLarge)
        /// 429: a rate or concurrency limit (retried first, honouring `Retry-After`).
        public static let rateLimited = Code(.rateLimited)
        /// Any other 4xx.
        public static let clientError = Code(.clientError)
        /// 504 with `X-Fal-Request-Timeout-Type: user`: the request's own `X-Fal-Request-Timeout`
        /// passed before it started. Never retried: the caller chose the deadline.
        public static let requestTimeout = Code(.requestTimeout)
        /// 5xx, other than a user timeout.
        public static let serverError = Code(.serverError)
        /// No HTTP answer: connection refused or reset, TLS failure, a deadline.
        public static let transport = Code(.transport)
        /// A 2xx answer whose body is not what the call expects.
        public static let invalidResponse = Code(.invalidResponse)

        public var description: String { base.rawValue }
    }

    /// The class of failure.
    public var code: Code
    /// HTTP status; `nil` for transport failures.
    public var status: Int?
    /// The raw answer body (empty for transport failures).
    public var body: Data
    /// fal's `error_type` (from the body or the `X-Fal-Error-Type` header), e.g. `request_timeout`.
    public var errorType: String?
    /// `x-fal-request-id` of the answer, when it named a request.
    public var requestID: String?
    /// Seconds the server asked to wait (`Retry-After`), when it said.
    public var retryAfter: Duration?
    /// Whether the request ran out of its own `X-Fal-Request-Timeout` (never retried).
    public var isUserTimeout: Bool
    /// The transport error, for ``Code-swift.struct/transport``.
    public var underlying: (any Error)?

    /// An HTTP answer outside 2xx, classified by its status and headers.
    /// - Parameters:
    ///   - status: the HTTP status.
    ///   - body: the answer body.
    ///   - headers: the answer headers (names are matched case-insensitively).
    public init(status: Int, body: Data, headers: [(String, String)] = []) {
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name }?.1 }
        self.status = status
        self.body = body
        requestID = header("x-fal-request-id")
        retryAfter = RetryPolicy.retryAfter(header("retry-after"))
        isUserTimeout = status == 504 && header("x-fal-request-timeout-type") != nil
        let parsed = try? JSONValue(parsing: body)
        errorType = parsed?["error_type"]?.stringValue ?? header("x-fal-error-type")
        underlying = nil
        switch status {
        case 400: code = .badRequest
        case 401: code = .unauthorized
        case 403: code = .forbidden
        case 404: code = .notFound
        case 409: code = .conflict
        case 413: code = .tooLarge
        case 422: code = .validation
        case 429: code = .rateLimited
        case 504 where isUserTimeout: code = .requestTimeout
        case 400..<500: code = .clientError
        default: code = .serverError
        }
    }

    /// A failure without an HTTP answer.
    /// - Parameters:
    ///   - code: ``Code-swift.struct/transport`` or ``Code-swift.struct/invalidResponse``.
    ///   - underlying: the error that caused it.
    ///   - body: what was received, if anything.
    public init(_ code: Code, underlying: (any Error)?, body: Data = Data()) {
        self.code = code
        status = nil
        self.body = body
        errorType = nil
        requestID = nil
        retryAfter = nil
        isUserTimeout = false
        self.underlying = underlying
    }

    /// `detail` of fal's error body as text (the validation issues joined), or the start of the
    /// body when it is not fal-shaped.
    public var detail: String {
        if let value = try? JSONValue(parsing: body), let detail = value["detail"] {
            if let text = detail.stringValue { return text }
            if !validationIssues.isEmpty {
                return validationIssues.map { "\($0.loc.map(\.description).joined(separator: ".")): \($0.msg)" }.joined(separator: "; ")
            }
            return String(decoding: detail.encoded(), as: UTF8.self)
        }
        if let underlying { return "\(underlying)" }
        return String(decoding: body.prefix(500), as: UTF8.self)
    }

    /// The issues of a 422 answer, each with its location (`["body", "prompt"]`).
    public var validationIssues: [ValidationIssue] {
        guard status == 422 else { return [] }
        return (try? JSONDecoder().decode(ValidationErrorBody.self, from: body))?.detail ?? []
    }

    public var description: String {
        let type = errorType.map { " [\($0)]" } ?? ""
        if let status { return "HTTP \(status)\(type): \(detail)" }
        return "\(code): \(detail)"
    }
}
