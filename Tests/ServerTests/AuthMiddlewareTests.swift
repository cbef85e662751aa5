import Foundation
import Hummingbird
import HummingbirdTesting
import ModelKit
import Platform
@testable import Server
import Testing

@Suite("Auth middleware in front of the dispatch")
struct AuthMiddlewareTests {
    @Test("each route's credentials are decided from its path alone", arguments: [
        ("/health/live", AuthMiddleware.Requirement.none),
        ("/.well-known/jwks.json", .none),
        ("/models", .credentials(.api)),
        ("/openapi/queue/openapi.json", .credentials(.api)),
        ("/metrics", .credentials(.api)),
        ("/queue/test/echo", .credentials(.api)),
        ("/queue/test/echo/requests/x/status", .credentials(.api)),
        ("/run/test/echo", .credentials(.api)),
        ("/admin/models", .admin),
        ("/storage/upload/initiate", .credentials(.upload)),
        ("/storage/upload/initiate-multipart", .credentials(.upload)),
        ("/storage/auth/token", .credentials(.api)),
        ("/storage/upload/0123456789abcdef0123456789abcdef", .none),
        ("/files/upload", .credentials(.upload)),
        ("/files/upload/multipart", .credentials(.upload)),
        ("/files/0123456789abcdef0123456789abcdef/out.png", .none),
        ("/nowhere", .none),
        ("/", .none),
        ("/playground/models/test/echo", .none),
        ("/playground/main.js", .none),
    ])
    func requirements(path: String, expected: AuthMiddleware.Requirement) {
        let segments = path.split(separator: "/").map(String.init)
        #expect(AuthMiddleware.requirement(for: segments) == expected, "\(path)")
    }

    @Test("with auth on, a route taking credentials answers 401 before its method or body is looked at; a key passes; a user key is 403 on the admin API")
    func refusedBeforeDispatch() async throws {
        let h = try Harness.make { $0.authEnabled = true }
        let user = try await h.platform.keys.createKey(name: "app", now: Date())
        let key: HTTPFields = [.authorization: "Key \(user.key.id):\(user.secret)"]
        try await h.test { client in
            let cases: [(HTTPRequest.Method, String, HTTPFields, HTTPResponse.Status)] = [
                (.get, "/health/live", [:], .ok),
                (.post, "/queue/test/echo", [:], .unauthorized),
                // A wrong method no longer tells an anonymous caller which routes exist.
                (.post, "/metrics", [:], .unauthorized),
                (.get, "/queue/test/echo/requests/x/status", [:], .unauthorized),
                (.get, "/metrics", key, .ok),
                (.post, "/metrics", key, .methodNotAllowed),
                (.post, "/queue/test/echo", key, .ok),
                (.get, "/admin/models", key, .forbidden),
            ]
            for (method, path, headers, expected) in cases {
                let response = try await client.send(method, path, json: ["prompt": "hi"], headers: headers)
                #expect(response.status == expected, "\(method) \(path) with\(headers.isEmpty ? "out" : "") a key")
            }
        }
    }
}
