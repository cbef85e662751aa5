import Foundation
import Hummingbird
import JobQueue

/// Who is calling: the API key id, or `nil` when auth is off.
struct Caller: Sendable, Equatable {
    var keyID: String?
}

/// Checks `Authorization: Key id:secret` against the key store and `Bearer <token>` against the
/// token signer. Verified keys are cached briefly: key verification hashes the secret, and
/// clients poll status ten times a second per request.
final class Authenticator: Sendable {
    private struct CacheEntry {
        var keyID: String?
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
        guard enabled else { return Caller(keyID: nil) }
        guard let header = request.headers[.authorization]?.trimmingCharacters(in: .whitespaces), !header.isEmpty else {
            throw APIError.unauthorized
        }
        let now = ContinuousClock.now
        if let hit = cache.withLock({ $0[header] }), hit.expires > now {
            guard let id = hit.keyID else { throw APIError.unauthorized }
            return Caller(keyID: id)
        }
        let keyID = try await verify(header)
        cache.withLock { c in
            if c.count >= Self.maxCacheEntries { c = c.filter { $0.value.expires > now } }
            if c.count < Self.maxCacheEntries { c[header] = CacheEntry(keyID: keyID, expires: now + cacheLifetime) }
        }
        guard let keyID else { throw APIError.unauthorized }
        return Caller(keyID: keyID)
    }

    /// Drops cached verdicts (after a key is revoked in this process).
    func invalidate() { cache.withLock { $0.removeAll() } }

    private func verify(_ header: String) async throws -> String? {
        let scheme = header.prefix { $0 != " " }.lowercased()
        let credentials = header.drop { $0 != " " }.trimmingCharacters(in: .whitespaces)
        switch scheme {
        case "key":
            guard let colon = credentials.firstIndex(of: ":"), let keys else { return nil }
            let id = String(credentials[..<colon])
            let secret = String(credentials[credentials.index(after: colon)...])
            guard !id.isEmpty, !secret.isEmpty else { return nil }
            do {
                return try await keys.verify(id: id, secret: secret)?.id
            } catch {
                throw APIError.typed(.serviceUnavailable, "Credential store unavailable", type: "runner_scheduling_failure")
            }
        case "bearer":
            return tokens.verify(credentials)?.subject
        default:
            return nil
        }
    }
}
