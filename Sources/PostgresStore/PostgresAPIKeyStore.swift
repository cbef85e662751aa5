import Foundation
import JobQueue
import PostgresNIO

/// API keys in the cluster database, made and checked by `APIKeySecret` (only a salted hash of
/// each secret is stored), so every node accepts the same keys.
public struct PostgresAPIKeyStore: APIKeyStore {
    /// The shared database.
    public let database: ClusterDatabase

    /// A key store over an open (migrated) database whose `run()` is running.
    public init(database: ClusterDatabase) {
        self.database = database
    }

    public func createKey(name: String, isAdmin: Bool, now: Date) async throws -> (key: APIKey, secret: String) {
        let (id, secret, salt, hash) = APIKeySecret.generate()
        let createdMS = StoredTime.milliseconds(now)
        try await database.rows("""
            INSERT INTO api_keys (id, name, salt, secret_hash, created_at, admin)
            VALUES (\(id), \(name), \(salt), \(hash), \(createdMS), \(isAdmin))
            """)
        return (APIKey(id: id, name: name, createdAt: StoredTime.date(createdMS), revokedAt: nil, isAdmin: isAdmin), secret)
    }

    public func verify(id: String, secret: String) async throws -> APIKey? {
        guard let row = try await database.rows(
            "SELECT id, name, created_at, revoked_at, admin, salt, secret_hash FROM api_keys WHERE id = \(id)"
        ).first else {
            APIKeySecret.matchNothing(secret: secret)
            return nil
        }
        let key = try Self.key(row: row)
        let (salt, hash) = try Self.decoding {
            let columns = row.makeRandomAccess()
            return (try columns["salt"].decode(Data.self), try columns["secret_hash"].decode(Data.self))
        }
        guard APIKeySecret.matches(secret: secret, salt: salt, hash: hash) else { return nil }
        return key.revokedAt == nil ? key : nil
    }

    public func listKeys() async throws -> [APIKey] {
        try await database.rows("SELECT id, name, created_at, revoked_at, admin FROM api_keys ORDER BY created_at DESC, seq DESC")
            .map(Self.key(row:))
    }

    public func revokeKey(id: String, now: Date) async throws -> Bool {
        try await !database.rows("""
            UPDATE api_keys SET revoked_at = COALESCE(revoked_at, \(StoredTime.milliseconds(now))) WHERE id = \(id)
            RETURNING 1
            """).isEmpty
    }

    public func isActive(id: String) async throws -> Bool {
        try await database.rows("SELECT revoked_at IS NULL FROM api_keys WHERE id = \(id)").first
            .map { row in try Self.decoding { try row.decode(Bool.self) } } ?? false
    }

    private static func key(row: PostgresRow) throws -> APIKey {
        try decoding {
            let columns = row.makeRandomAccess()
            return APIKey(
                id: try columns["id"].decode(String.self), name: try columns["name"].decode(String.self),
                createdAt: StoredTime.date(try columns["created_at"].decode(Int64.self)),
                revokedAt: try columns["revoked_at"].decode(Int64?.self).map(StoredTime.date),
                isAdmin: try columns["admin"].decode(Bool.self))
        }
    }

    static func decoding<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw JobStoreError(.corrupt, "undecodable api_keys row", underlying: error)
        }
    }
}
