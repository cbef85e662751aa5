import Foundation
import Hummingbird

/// `/proxy` and `/api/fal/proxy`: the JS client's proxy mode (`proxyUrl: {url, when: "always"}`) sends every call here
/// with the fal URL it meant in `x-fal-target-url`; the call is answered as if it had been made
/// to this server's own route for that URL.
enum ProxyRoute {
    static let targetHeader = HTTPField.Name("x-fal-target-url")!

    /// Whether `path` is the proxy: `/proxy`, or `/api/fal/proxy`, where fal's server proxies
    /// (`@fal-ai/server-proxy`) and the JS client's examples put it.
    static func handles(_ path: String) -> Bool {
        path == "/proxy" || path.hasPrefix("/proxy/") || path == "/api/fal/proxy" || path.hasPrefix("/api/fal/proxy/")
    }

    /// The request rewritten to the local route its target URL names.
    /// - Throws: 422 when the header is missing or not a URL.
    static func rewrite(_ request: Request) throws -> Request {
        guard let raw = request.headers[targetHeader] else {
            throw APIError.validation([.key("header"), .key("x-fal-target-url")], "field required", type: "value_error.missing")
        }
        guard let url = URLComponents(string: raw), let host = url.host?.lowercased(),
            url.scheme == "https" || url.scheme == "http"
        else {
            throw APIError.validation([.key("header"), .key("x-fal-target-url")], "invalid or missing URL scheme", type: "value_error.url")
        }
        let path = url.percentEncodedPath.isEmpty ? "/" : url.percentEncodedPath
        let prefix: String
        if host.hasPrefix("queue.") {
            prefix = "/queue"
        } else if host == "fal.run" || host.hasSuffix(".fal.run") {
            prefix = "/run"
        } else if (host == "fal.ai" || host.hasSuffix(".fal.ai")) && path.hasPrefix("/api/openapi/") {
            return with(request, path: String(path.dropFirst(4)), query: url.percentEncodedQuery)
        } else {
            // rest.fal.ai (storage), *.fal.media (files) and this server's own URLs map one to one.
            prefix = ""
        }
        let local = prefix + path
        if handles(local) {
            throw APIError.validation([.key("header"), .key("x-fal-target-url")], "the target may not be the proxy itself", type: "value_error.url")
        }
        return with(request, path: local, query: url.percentEncodedQuery)
    }

    private static func with(_ request: Request, path: String, query: String?) -> Request {
        var head = request.head
        head.path = path + (query.map { "?\($0)" } ?? "")
        head.headerFields[targetHeader] = nil
        return Request(head: head, body: request.body)
    }
}
