import Foundation
import Hummingbird
import HummingbirdTesting
import ModelKit
@testable import Server
@testable import Platform
import Testing

/// Storage tokens from `POST /storage/auth/token` open the upload routes and nothing else.
@Suite("Storage token scope")
struct StorageTokenScopeTests {
    /// A key, its `Key` header, and a storage token issued to it.
    private static func credentials(_ h: Harness, _ client: some TestClientProtocol) async throws -> (keyID: String, key: HTTPFields, bearer: HTTPFields) {
        let (key, secret) = try await h.platform.keys.createKey(name: "py", now: Date())
        let keyHeaders: HTTPFields = [.authorization: "Key \(key.id):\(secret)"]
        let issued = try await client.send(.post, "/storage/auth/token?storage_type=fal-cdn-v3", raw: "", headers: keyHeaders)
        try #require(issued.status == .ok)
        let token = try #require(try issued.json["token"]?.stringValue)
        return (key.id, keyHeaders, [.authorization: "Bearer \(token)"])
    }

    @Test("a storage token cannot submit, read status or results, list models, or mint tokens")
    func refusedOutsideUploads() async throws {
        let h = try Harness.make { $0.authEnabled = true }
        try await h.test { client in
            let c = try await Self.credentials(h, client)
            let submit = try await client.send(.post, "/queue/test/echo", json: ["prompt": "x"], headers: c.bearer)
            #expect(submit.status == .unauthorized)
            #expect(try submit.json["detail"]?.stringValue?.contains("upload routes") == true)
            #expect(try await client.send(.post, "/run/test/echo", json: ["prompt": "x"], headers: c.bearer).status == .unauthorized)

            let mine = try await client.send(.post, "/queue/test/echo", json: ["prompt": "x"], headers: c.key)
            let id = try #require(try mine.json["request_id"]?.stringValue)
            for path in ["/queue/test/echo/requests/\(id)/status", "/queue/test/echo/requests/\(id)", "/models"] {
                #expect(try await client.execute(uri: path, method: .get, headers: c.bearer).status == .unauthorized, "\(path)")
            }
            let cancel = try await client.execute(uri: "/queue/test/echo/requests/\(id)/cancel", method: .put, headers: c.bearer)
            #expect(cancel.status == .unauthorized)
            let again = try await client.send(.post, "/storage/auth/token", raw: "", headers: c.bearer)
            #expect(again.status == .unauthorized, "a token must not renew itself")
            // The key itself still works for all of them.
            #expect(try await client.execute(uri: "/queue/test/echo/requests/\(id)/status", method: .get, headers: c.key).status != .unauthorized)
        }
    }

    @Test("a storage token uploads through /files and /storage")
    func uploads() async throws {
        let h = try Harness.make { $0.authEnabled = true }
        try await h.test { client in
            let c = try await Self.credentials(h, client)
            let uploaded = try await client.send(.post, "/files/upload", raw: "bytes", headers: c.bearer)
            #expect(uploaded.status == .ok)
            let access = try #require(try uploaded.json["access_url"]?.stringValue)
            #expect(try await client.execute(uri: pathOf(access), method: .get).text == "bytes")
            #expect(try await client.send(.post, "/files/upload/multipart", raw: "", headers: c.bearer).status == .ok)
            let initiated = try await client.send(.post, "/storage/upload/initiate", json: ["content_type": "text/plain"], headers: c.bearer)
            #expect(initiated.status == .ok)
        }
    }

    @Test("a token dies with the key that issued it")
    func revokedKey() async throws {
        // No cache: the revocation is seen on the next request.
        let h = try Harness.make {
            $0.authEnabled = true
            $0.authCacheLifetime = 0
        }
        try await h.test { client in
            let c = try await Self.credentials(h, client)
            #expect(try await client.send(.post, "/files/upload", raw: "a", headers: c.bearer).status == .ok)
            #expect(try await h.platform.keys.revokeKey(id: c.keyID, now: Date()))
            #expect(try await client.send(.post, "/files/upload", raw: "b", headers: c.bearer).status == .unauthorized)
        }
    }

    @Test("a revoked key's token is refused once cached verdicts are dropped")
    func revokedKeyCached() async throws {
        let h = try Harness.make { $0.authEnabled = true }
        try await h.test { client in
            let c = try await Self.credentials(h, client)
            #expect(try await client.send(.post, "/files/upload", raw: "a", headers: c.bearer).status == .ok)
            _ = try await h.platform.keys.revokeKey(id: c.keyID, now: Date())
            h.services.auth.invalidate()
            #expect(try await client.send(.post, "/files/upload", raw: "b", headers: c.bearer).status == .unauthorized)
        }
    }

    @Test("expired, overlong, foreign-scope and unknown-key tokens are refused")
    func badTokens() async throws {
        let h = try Harness.make { $0.authEnabled = true }
        try await h.test { client in
            let c = try await Self.credentials(h, client)
            let signer = h.services.tokens
            let tokens = [
                signer.issue(subject: c.keyID, scope: "storage", expiresAt: Date().addingTimeInterval(-1)),
                signer.issue(subject: c.keyID, scope: "storage", expiresAt: Date().addingTimeInterval(30 * 24 * 3600)),
                signer.issue(subject: c.keyID, scope: "admin", expiresAt: Date().addingTimeInterval(60)),
                signer.issue(subject: "pk_nobody", scope: "storage", expiresAt: Date().addingTimeInterval(60)),
            ]
            for token in tokens {
                let r = try await client.send(.post, "/files/upload", raw: "x", headers: [.authorization: "Bearer \(token)"])
                #expect(r.status == .unauthorized)
            }
            // A fresh one from the same signer works, so the refusals above are the claims'.
            let fresh = signer.issue(subject: c.keyID, scope: "storage", expiresAt: Date().addingTimeInterval(60))
            #expect(try await client.send(.post, "/files/upload", raw: "x", headers: [.authorization: "Bearer \(fresh)"]).status == .ok)
        }
    }

    @Test("issued tokens live as configured")
    func lifetime() async throws {
        let h = try Harness.make {
            $0.authEnabled = true
            $0.storageTokenLifetime = 120
        }
        try await h.test { client in
            let before = Date()
            let c = try await Self.credentials(h, client)
            let after = Date()
            let token = String(try #require(c.bearer[.authorization]).dropFirst("Bearer ".count))
            let claims = try #require(h.services.tokens.verify(token))
            // Issued between `before` and `after`, 120 s ahead (expiry kept in whole seconds).
            #expect(claims.expiresAt >= before.addingTimeInterval(120 - 1))
            #expect(claims.expiresAt <= after.addingTimeInterval(120))
        }
    }
}
