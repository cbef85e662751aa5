import APITypes
import Foundation
import Hummingbird
import ModelKit

/// An HTTP error answer in fal's shape; thrown by handlers, rendered by the responder.
struct APIError: Error {
    var status: HTTPResponse.Status
    var body: Data
    var headers: HTTPFields = [:]

    /// `{"detail": message}`.
    static func detail(_ status: HTTPResponse.Status, _ message: String) -> APIError {
        APIError(status: status, body: JSON.encode(ErrorDetail(message)))
    }

    /// `{"detail", "error_type"}` plus `X-Fal-Error-Type`.
    static func typed(_ status: HTTPResponse.Status, _ message: String, type: String) -> APIError {
        var headers = HTTPFields()
        headers[.falErrorType] = type
        return APIError(status: status, body: JSON.encode(TypedErrorDetail(message, errorType: type)), headers: headers)
    }

    /// 422 with one validation issue.
    static func validation(_ loc: [LocationComponent], _ msg: String, type: String) -> APIError {
        validation([ValidationIssue(loc: loc, msg: msg, type: type)])
    }

    /// 422 with validation issues.
    static func validation(_ issues: [ValidationIssue]) -> APIError {
        APIError(status: .unprocessableContent, body: JSON.encode(ValidationErrorBody(issues)))
    }

    static let unauthorized = APIError.detail(.unauthorized, "Missing or invalid credentials. Send 'Authorization: Key <id>:<secret>'.")
    /// A storage token sent to a route other than the uploads. 401 as for any credentials the
    /// route does not accept: fal's clients treat 401 as "fix the credentials", not "retry".
    static let storageTokenOutOfScope = APIError.detail(
        .unauthorized, "Storage tokens are accepted only by the upload routes. Send 'Authorization: Key <id>:<secret>'.")
    static let requestNotFound = APIError.detail(.notFound, "Request not found")
}

/// JSON encoding and responses.
enum JSON {
    static func encode<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        // Every type encoded here is a plain Codable struct: encoding cannot fail.
        return (try? encoder.encode(value)) ?? Data("{}".utf8)
    }

    /// A JSON response with `Content-Type: application/json`.
    static func response(_ data: Data, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = "application/json"
        h[.contentLength] = String(data.count)
        return Response(status: status, headers: h, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        response(encode(value), status: status, headers: headers)
    }
}

extension HTTPField.Name {
    static let falRequestID = HTTPField.Name("x-fal-request-id")!
    static let falErrorType = HTTPField.Name("X-Fal-Error-Type")!
    static let falRequestTimeoutType = HTTPField.Name("X-Fal-Request-Timeout-Type")!
    static let falQueuePriority = HTTPField.Name("X-Fal-Queue-Priority")!
    static let falRequestTimeout = HTTPField.Name("X-Fal-Request-Timeout")!
    static let falNoRetry = HTTPField.Name("X-Fal-No-Retry")!
    static let falStoreIO = HTTPField.Name("X-Fal-Store-IO")!
    /// `bypass` on a submit skips the result cache; answers say `hit`, `miss` or `bypass`.
    static let peregrineCache = HTTPField.Name("X-Peregrine-Cache")!
    static let falRunnerHint = HTTPField.Name("X-Fal-Runner-Hint")!
    static let falObjectLifecycle = HTTPField.Name("X-Fal-Object-Lifecycle-Preference")!
    static let falObjectLifecycleCDN = HTTPField.Name("X-Fal-Object-Lifecycle")!
    static let falFileName = HTTPField.Name("X-Fal-File-Name")!
    static let forwardedProto = HTTPField.Name("X-Forwarded-Proto")!
    static let forwardedHost = HTTPField.Name("X-Forwarded-Host")!
    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy")!
    static let contentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
}

/// Hummingbird re-exports `HTTPFields` but not its element type; this names it without adding a
/// direct dependency on swift-http-types.
typealias HTTPField = HTTPFields.Element
