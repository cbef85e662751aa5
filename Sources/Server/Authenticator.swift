import Crypto
import Foundation
import Hummingbird
import JobQueue
import NIOConcurrencyHelpers
import Platform

/// Who is calling: the API key id, or `nil` when auth is off.
struct Caller: Sendable, Equatable {
    var keyID: String?
    /// An admin key (may change runtime settings); everyone is when auth is off.
    var isAdmin = false
}

/// Which credentials a route accepts. API keys are accepted everywhere; the bearer tokens of
/// `POST /storage/auth/token` only by the upload routes, so a leaked upload token cannot
/// submit work, read results or mint more tokens.
enum CredentialScope: Sendable, Equatable {
    /// API keys only.
    case api
    /// API keys and storage tokens (the upload routes).
    case upload
}

/// Checks `Authorization: Key id:secret` against the key store and `Bearer <token>` against the
/// token signer. Verified credentials are cached briefly: key verification hashes the secret, and
/// clients poll status ten times a second per request. The cache is keyed by the header's SHA-256
/// (a fixed 32 bytes whatever the client sends) and holds successes only, so unauthenticated
/// traffic cannot grow it.
final class Authenticator: Sendable {
    private struct CacheEntry {
        var keyID: String
        var isAdmin: Bool
        var isStorageToken: Bool
        var expires: ContinuousClock.Instant
    }

    private let keys: (any APIKeyStore)?
    private let tokens: TokenSigner
    private let enabled: Bool
    private let cacheLifetime: Duration
    private let maxHeaderBytes: Int
    private let maxTokenLifetime: TimeInterval
    private let cache = NIOLockedValueBox<[SHA256.Digest: CacheEntry]>([:])
    private static let maxCacheEntries = 10_000

    /// - Parameters:
    ///   - keys: the key store (`nil` only with auth off).
    ///   - tokens: the storage token signer.
    ///   - enabled: whether credentials are required.
    ///   - cacheLifetime: seconds a verified credential is trusted without asking again.
    ///   - maxHeaderBytes: longest `Authorization` header looked at.
    ///   - maxTokenLifetime: tokens whose expiry lies further ahead are refused.
    init(
        keys: (any APIKeyStore)?, tokens: TokenSigner, enabled: Bool, cacheLifetime: TimeInterval,
        maxHeaderBytes: Int = ServerConfiguration().maxAuthorizationBytes,
        maxTokenLifetime: TimeInterval = ServerConfiguration.maxStorageTokenLifetime
    ) {
        self.keys = keys
        self.tokens = tokens
        self.enabled = enabled
        self.cacheLifetime = .seconds(min(max(0, cacheLifetime.isNaN ? 0 : cacheLifetime), 86_400))
        self.maxHeaderBytes = maxHeaderBytes
        self.maxTokenLifetime = maxTokenLifetime
    }

    /// The caller of `request`.
    /// - Parameter scope: which credentials the route accepts.
    /// - Throws: `APIError` 401 when auth is on and the credentials are missing, wrong, too
    ///   long, or a storage token on a route outside its scope.
    func authenticate(_ request: Request, scope: CredentialScope = .api) async throws -> Caller {
        // Without auth (local development) every caller may administer the server.
        guard enabled else { return Caller(keyID: nil, isAdmin: true) }
        // Refused before any hashing or copying: the length is the one thing known for free.
        guard let raw = request.headers[.authorization], raw.utf8.count <= maxHeaderBytes else {
            throw APIError.unauthorized
        }
        let header = raw.trimmingCharacters(in: .whitespaces)
        guard !header.isEmpty else { throw APIError.unauthorized }
        let digest = SHA256.hash(data: Data(header.utf8))
        let now = ContinuousClock.now
        let entry: CacheEntry
        if let hit = cache.withLockedValue({ $0[digest] }), hit.expires > now {
            entry = hit
        } else {
            guard let verified = try await verify(header) else { throw APIError.unauthorized }
            entry = CacheEntry(
                keyID: verified.id, isAdmin: verified.isAdmin, isStorageToken: verified.isStorageToken, expires: now + cacheLifetime)
            cache.withLockedValue { c in
                if c.count >= Self.maxCacheEntries { c = c.filter { $0.value.expires > now } }
                if c.count < Self.maxCacheEntries { c[digest] = entry }
            }
        }
        if entry.isStorageToken && scope != .upload { throw APIError.storageTokenOutOfScope }
        return Caller(keyID: entry.keyID, isAdmin: entry.isAdmin)
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
    func invalidate() { cache.withLockedValue { $0.removeAll() } }

    /// How many verified credentials are cached (for tests).
    var cachedCount: Int { cache.withLockedValue { $0.count } }

    /// Whether the credentials `header` are cached, looked up by digest (for tests).
    func isCached(_ header: String) -> Bool {
        let digest = SHA256.hash(data: Data(header.utf8))
        return cache.withLockedValue { $0[digest] != nil }
    }

    private func verify(_ header: String) async throws -> (id: String, isAdmin: Bool, isStorageToken: Bool)? {
        let scheme = header.prefix { $0 != " " }.lowercased()
        let credentials = header.drop { $0 != " " }.trimmingCharacters(in: .whitespaces)
        switch scheme {
        case "key":
            guard let colon = credentials.firstIndex(of: ":"), let keys else { return nil }
            let id = String(credentials[..<colon])
            let secret = String(credentials[credentials.index(after: colon)...])
            guard !id.isEmpty, !secret.isEmpty else { return nil }
            do {
                return try await keys.verify(id: id, secret: secret).map { ($0.id, $0.isAdmin, false) }
            } catch {
                throw Self.storeUnavailable
            }
        case "bearer":
            let now = Date()
            // A token claiming a longer life than any this server issues was not made here
            // under the current settings; one whose key is gone dies with it.
            guard let claims = tokens.verify(credentials, now: now), claims.scope == "storage",
                claims.expiresAt.timeIntervalSince(now) <= maxTokenLifetime, let keys
            else { return nil }
            do {
                guard try await keys.isActive(id: claims.subject) else { return nil }
            } catch {
                throw Self.storeUnavailable
            }
            // Storage tokens never carry admin rights.
            return (claims.subject, false, true)
        default:
            return nil
        }
    }

    private static let storeUnavailable = APIError.typed(.serviceUnavailable, "Credential store unavailable", type: "runner_scheduling_failure")
}
