import Foundation

/// An API key as stored: the secret is kept only as a salted hash.
public struct APIKey: Sendable, Equatable {
    /// Public key id (the part before `:` in `Authorization: Key id:secret`).
    public var id: String
    public var name: String
    public var createdAt: Date
    public var revokedAt: Date?
    /// Admin keys may also change runtime settings (`/admin/...`).
    public var isAdmin: Bool

    public init(id: String, name: String, createdAt: Date, revokedAt: Date?, isAdmin: Bool = false) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.isAdmin = isAdmin
    }
}

/// API keys, stored hashed, never in plaintext.
public protocol APIKeyStore: Sendable {
    /// Creates a key (an admin key when `isAdmin`) and returns it with its secret (shown once).
    func createKey(name: String, isAdmin: Bool, now: Date) async throws -> (key: APIKey, secret: String)
    /// The key when `id` exists, is not revoked and `secret` matches; otherwise `nil`.
    /// Comparison is constant-time.
    func verify(id: String, secret: String) async throws -> APIKey?
    /// All keys, newest first.
    func listKeys() async throws -> [APIKey]
    /// Revokes a key; false when there is no such key.
    func revokeKey(id: String, now: Date) async throws -> Bool
    /// Whether key `id` exists and is not revoked (no secret needed: checks that credentials
    /// derived from a key, such as storage tokens, still stand).
    func isActive(id: String) async throws -> Bool
}

extension APIKeyStore {
    /// Creates an ordinary (non-admin) key and returns it with its secret (shown once).
    public func createKey(name: String, now: Date) async throws -> (key: APIKey, secret: String) {
        try await createKey(name: name, isAdmin: false, now: now)
    }
}
