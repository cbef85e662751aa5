import Foundation
import Hummingbird
import JobQueue

/// Who is calling: the API key id, or `nil` when auth is off.
struct Caller: Sendable, Equatable {
    var keyID: String?
    /// An admin key (may change runtime settings); everyone is when auth is off.
    var isAdmin = false
}

/// Checks `Authorization: Key id:secret` against the key store and `Bearer <token>` against the
/// token signer. Verified keys are cached briefly: key verification hashes the secret, and
/// clients poll status ten times a second per request.
final class Authenticator: Sendable {
    private struct CacheEntry {
        var keyID: String?
        var isAdmin: Bool
        var expires: ContinuousClock.Instant
    }

    private let keys: (any APIKeyStore)?
    private let tokens: TokenSigner
    private let enabled: Bool
    private let cacheLifetime: Duration
    private let cache = Locked<[String: CacheEntry]>([:])
    private static let maxCacheEntries = 10_000

    init(keys: (any APIKeyStore)?, tokens: TokenSigner, enabled: Bool, cacheLifetime: TimeInterval) {
        self.keys = keys
        self.tokens = tokens
        self.enabled = enabled
        self.cacheLifetime = .milliseconds(Int64(cacheLifetime * 1000))
    }

    /// The caller of `request`.
    /// - Throws: `APIError` 401 when auth is on and the credentials are missing or wrong.
    func authenticate(_ request: Request) async throws -> Caller {
        // Without auth (local development) every caller may administer the server.
        guard enabled else { return Caller(keyID: nil, isAdmin: true) }
        guard let header = request.headers[.authorization]?.trimmingCharacters(in: .whitespaces), !header.isEmpty else {
            throw APIError.unauthorized
        }
        let now = ContinuousClock.now
        if let hit = cache.withLock({ $0[header] }), hit.expires > now {
            guard let id = hit.keyID else { throw APIError.unauthorized }
            return Caller(keyID: id, isAdmin: hit.isAdmin)
        }
        let verified = try await verify(header)
        cache.withLock { c in
            if c.count >= Self.maxCacheEntries { c = c.filter { $0.value.expires > now } }
            if c.count < Self.maxCacheEntries {
                c[header] = CacheEntry(keyID: verified?.id, isAdmin: verified?.isAdmin ?? false, expires: now + cacheLifetime)
            }
        }
        guard let verified else { throw APIError.unauthorized }
        return Caller(keyID: verified.id, isAdmin: verified.isAdmin)
    }

    /// The caller of `request`, who must hold an admin key.
    /// - Throws: `APIError` 401 without valid credentials, 403 for a non-admin key.
    func authenticateAdmin(_ request: Request) async throws -> Caller {
        let caller = try await authenticate(request)
        guard caller.isAdmin else {
            throw APIError.detail(.forbidden, "This call needs an admin API key (peregrine keys create --admin).")
        }
        return caller
    }

    /// Drops cached verdicts (after a key is revoked in this process).
    func invalidate() { cache.withLock { $0.removeAll() } }

    private func verify(_ header: String) async throws -> (id: String, isAdmin: Bool)? {
        let scheme = header.prefix { $0 != " " }.lowercased()
        let credentials = header.drop { $0 != " " }.trimmingCharacters(in: .whitespaces)
        switch scheme {
        case "key":
            guard let colon = credentials.firstIndex(of: ":"), let keys else { return nil }
            let id = String(credentials[..<colon])
            let secret = String(credentials[credentials.index(after: colon)...])
            guard !id.isEmpty, !secret.isEmpty else { return nil }
            do {
                return try await keys.verify(id: id, secret: secret).map { ($0.id, $0.isAdmin) }
            } catch {
                throw APIError.typed(.serviceUnavailable, "Credential store unavailable", type: "runner_scheduling_failure")
            }
        case "bearer":
            // Storage tokens never carry admin rights.
            return tokens.verify(credentials).map { ($0.subject, false) }
        default:
            return nil
        }
    }
}
