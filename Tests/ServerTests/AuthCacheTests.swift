import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import ModelKit
@testable import Server
@testable import Platform
import Testing

/// The credential cache holds only verified credentials, keyed by digest, and overlong headers
/// are refused before any work.
@Suite("Auth cache")
struct AuthCacheTests {
    @Test("failed credentials are never cached")
    func failuresNotCached() async throws {
        let h = try Harness.make { $0.authEnabled = true }
        try await h.test { client in
            let auth = h.services.auth
            for i in 0..<200 {
                let junk = "Key pk_\(i):" + String(repeating: "s", count: 1000 + i)
                let r = try await client.execute(uri: "/models", method: .get, headers: [.authorization: junk])
                #expect(r.status == .unauthorized)
                let bearer = try await client.execute(uri: "/models", method: .get, headers: [.authorization: "Bearer x.y.\(i)"])
                #expect(bearer.status == .unauthorized)
            }
            #expect(auth.cachedCount == 0)
        }
    }

    @Test("a verified key is cached under the digest of its header")
    func digestKeyed() async throws {
        let h = try Harness.make { $0.authEnabled = true }
        try await h.test { client in
            let auth = h.services.auth
            let (key, secret) = try await h.platform.keys.createKey(name: "k", now: Date())
            let header = "Key \(key.id):\(secret)"
            #expect(try await client.execute(uri: "/models", method: .get, headers: [.authorization: header]).status == .ok)
            #expect(try await client.execute(uri: "/models", method: .get, headers: [.authorization: header]).status == .ok)
            #expect(auth.cachedCount == 1)
            #expect(auth.isCached(header))
            #expect(!auth.isCached("Key \(key.id):wrong"))
        }
    }

    @Test("an Authorization header over the limit is refused, even with a valid key")
    func oversizeRefused() async throws {
        let h = try Harness.make {
            $0.authEnabled = true
            $0.maxAuthorizationBytes = 64
        }
        try await h.test { client in
            let auth = h.services.auth
            let (key, secret) = try await h.platform.keys.createKey(name: "k", now: Date())
            let header = "Key \(key.id):\(secret)"
            try #require(header.utf8.count > 64)
            let r = try await client.execute(uri: "/models", method: .get, headers: [.authorization: header])
            #expect(r.status == .unauthorized)
            let huge = try await client.execute(uri: "/models", method: .get, headers: [.authorization: String(repeating: "A", count: 60_000)])
            #expect(huge.status == .unauthorized)
            #expect(auth.cachedCount == 0)
        }
    }

    @Test("a request header section over the configured limit is refused with 400 over a real socket")
    func headerSectionBound() async throws {
        let h = try Harness.make { $0.maxRequestHeaderBytes = 8192 }
        defer { try? FileManager.default.removeItem(at: h.platform.configuration.home) }
        let app = Application(
            responder: APIResponder(services: h.services, scheme: "http"),
            server: PeregrineServer.http1(for: h.platform.configuration),
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)))
        let pad = HTTPField.Name("X-Pad")!
        try await app.test(.live) { client in
            let small = try await client.execute(uri: "/health/live", method: .get, headers: [pad: String(repeating: "a", count: 4000)])
            #expect(small.status == .ok)
        }
        try await app.test(.live) { client in
            let big = try await client.execute(uri: "/health/live", method: .get, headers: [pad: String(repeating: "a", count: 9000)])
            #expect(big.status == .badRequest)
        }
    }
}
