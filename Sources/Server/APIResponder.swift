import APITypes
import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import Platform

/// The whole HTTP API as one responder: fal's endpoint ids have a variable number of path
/// segments (`owner/alias[/path...]`) and fal answers wrong methods with 405, so routing is done
/// here on path segments rather than with a route trie. Authentication is `AuthMiddleware`,
/// in front of the dispatch; handlers find the caller in the call.
public struct APIResponder: HTTPResponder {
    public typealias Context = APIRequestContext

    let services: APIServices
    /// `https` on the TLS listener, `http` on the plain one.
    let scheme: String
    /// Honour `X-Forwarded-Proto`/`X-Forwarded-Host` (the plain listener behind a proxy).
    let trustForwardedHeaders: Bool

    /// - Parameters:
    ///   - services: shared state.
    ///   - scheme: the listener's scheme.
    ///   - trustForwardedHeaders: whether a proxy in front may set the public scheme and host.
    public init(services: APIServices, scheme: String, trustForwardedHeaders: Bool = false) {
        self.services = services
        self.scheme = scheme
        self.trustForwardedHeaders = trustForwardedHeaders
    }

    /// Answers one request (routing, auth, fal-shaped errors).
    public func respond(to request: Request, context: Context) async throws -> Response {
        try await answer(request, context: context)
    }

    /// Answers one request. Without a context (tests driving the API with bodies of their own
    /// making) the middleware's check runs on its own, so both ways authenticate the same.
    func answer(_ request: Request, context: Context? = nil) async throws -> Response {
        var request = request
        if ProxyRoute.handles(request.uri.path) {
            do {
                request = try ProxyRoute.rewrite(request)
            } catch let error as APIError {
                return JSON.response(error.body, status: error.status, headers: error.headers)
            }
        }
        // Shared with the call once dispatched, so an error answer carries the id it learned.
        let requestID = NIOLockedValueBox<String?>(nil)
        let middleware = AuthMiddleware(auth: services.auth)
        do {
            if let context {
                return try await middleware.handle(request, context: context) { request, context in
                    try await route(APICall(request: request, responder: self, caller: context.caller, requestID: requestID))
                }
            }
            let caller = try await middleware.caller(of: request)
            return try await route(APICall(request: request, responder: self, caller: caller, requestID: requestID))
        } catch let error as APIError {
            var headers = error.headers
            if let id = requestID.withLockedValue({ $0 }) { headers[.falRequestID] = id }
            return JSON.response(error.body, status: error.status, headers: headers)
        } catch {
            services.logger.error("unhandled error", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            var headers = HTTPFields()
            if let id = requestID.withLockedValue({ $0 }) { headers[.falRequestID] = id }
            return JSON.response(ErrorDetail("Internal server error"), status: .internalServerError, headers: headers)
        }
    }

    private func route(_ call: APICall) async throws -> Response {
        let s = call.segments
        switch s.first {
        case "health"?:
            return try await HealthRoutes.handle(call, services: services)
        case ".well-known"? where s.count == 2 && s[1] == "jwks.json":
            try call.allow(.get, .head)
            return JSON.response(services.jwks)
        case "models"?, "openapi"?:
            return try ModelRoutes.handle(call, services: services)
        case "metrics"? where s.count == 1:
            try call.allow(.get, .head)
            return await MetricsRoute.response(services: services)
        case "admin"?:
            return try await AdminRoutes.handle(call, services: services)
        case "queue"?:
            return try await QueueRoutes.handle(call, services: services)
        case "run"?:
            return try await RunRoutes.handle(call, services: services)
        case "storage"?:
            return try await StorageRoutes.handle(call, services: services)
        case "files"?:
            return try await FileRoutes.handle(call, services: services)
        case "v1"?:
            return try await HistoryRoutes.handle(call, services: services)
        case nil, "playground"?:
            return try PlaygroundRoutes.handle(call)
        default:
            throw APIError.detail(.notFound, "Not Found")
        }
    }

    /// `scheme://host[:port]` as the client reached this server.
    func publicBase(of request: Request) -> String {
        var scheme = self.scheme
        var host = request.head.authority ?? request.headers[HTTPField.Name("Host")!]
        if trustForwardedHeaders {
            if let p = request.headers[.forwardedProto]?.split(separator: ",").first { scheme = p.trimmingCharacters(in: .whitespaces) }
            if let h = request.headers[.forwardedHost]?.split(separator: ",").first { host = h.trimmingCharacters(in: .whitespaces) }
        }
        let fallback = "\(services.configuration.host.contains(":") ? "[\(services.configuration.host)]" : services.configuration.host):\(services.configuration.port)"
        let safeHost = host.flatMap { Self.isPlausibleHost($0) ? $0 : nil } ?? fallback
        return "\(scheme)://\(safeHost)"
    }

    /// Host header values that can go into URLs unchanged (no spaces, slashes or control bytes).
    static func isPlausibleHost(_ host: String) -> Bool {
        !host.isEmpty && host.utf8.count < 256
            && host.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || "0123456789.-:[]_".unicodeScalars.contains($0)) }
    }
}

/// One request being answered: its decoded path and the helpers handlers share.
struct APICall: Sendable {
    let request: Request
    let responder: APIResponder
    /// Percent-decoded path segments.
    let segments: [String]
    /// Who is calling, as `AuthMiddleware` authorized them (`nil` on routes without credentials).
    let caller: Caller?
    /// The request id to put in `x-fal-request-id` (also on error answers), once known.
    let requestID: NIOLockedValueBox<String?>

    init(request: Request, responder: APIResponder, caller: Caller?, requestID: NIOLockedValueBox<String?>) {
        self.request = request
        self.responder = responder
        self.caller = caller
        self.requestID = requestID
        segments = Self.segments(of: request)
    }

    /// The percent-decoded path segments of `request`.
    static func segments(of request: Request) -> [String] {
        request.uri.path.split(separator: "/", omittingEmptySubsequences: true).map { $0.removingPercentEncoding ?? String($0) }
    }

    /// The caller the middleware authorized. Every route that takes credentials has one; a
    /// route the middleware let through without them is refused rather than served anonymously.
    func authorizedCaller() throws -> Caller {
        guard let caller else { throw APIError.unauthorized }
        return caller
    }

    var method: HTTPRequest.Method { request.method }

    /// `scheme://host[:port]` as the client sees this server.
    var base: String { responder.publicBase(of: request) }

    /// Throws 405 unless the method is one of `methods`.
    func allow(_ methods: HTTPRequest.Method...) throws {
        guard !methods.contains(method) else { return }
        var headers = HTTPFields()
        headers[.allow] = methods.map(\.rawValue).joined(separator: ", ")
        throw APIError(status: .methodNotAllowed, body: JSON.encode(ErrorDetail("Method Not Allowed")), headers: headers)
    }

    /// The value of query parameter `name`, if present.
    func query(_ name: String) -> String? {
        request.uri.queryParameters[Substring(name)].map { String($0).removingPercentEncoding ?? String($0) }
    }

    /// Reads the body, refusing more than `limit` bytes with 413.
    func body(limit: Int) async throws -> ByteBuffer {
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw Self.tooLarge(limit)
        }
        var collected = ByteBuffer()
        for try await chunk in request.body {
            guard collected.readableBytes + chunk.readableBytes <= limit else { throw Self.tooLarge(limit) }
            var chunk = chunk
            collected.writeBuffer(&chunk)
        }
        return collected
    }

    static func tooLarge(_ limit: Int) -> APIError {
        APIError.typed(.contentTooLarge, "Request body too large (limit \(limit) bytes)", type: "request_too_large")
    }
}
