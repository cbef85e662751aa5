import Foundation
import GRDB

/// API keys in the embedded database, made and checked by `APIKeySecret` (only a salted hash of
/// each secret is stored).
public struct SQLiteAPIKeyStore: APIKeyStore {
    /// The shared database (also used by `SQLiteJobStore`).
    public let database: SQLiteDatabase

    /// A key store over an open database.
    public init(database: SQLiteDatabase) {
        self.database = database
    }

    public func createKey(name: String, isAdmin: Bool, now: Date) async throws -> (key: APIKey, secret: String) {
        let (id, secret, salt, hash) = APIKeySecret.generate()
        let createdMS = StoredTime.milliseconds(now)
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO api_keys (id, name, salt, secret_hash, created_at, admin) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [id, name, salt, hash, createdMS, isAdmin])
        }
        return (APIKey(id: id, name: name, createdAt: StoredTime.date(createdMS), revokedAt: nil, isAdmin: isAdmin), secret)
    }

    public func verify(id: String, secret: String) async throws -> APIKey? {
        let stored = try await database.read { db -> (key: APIKey, salt: Data, hash: Data)? in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM api_keys WHERE id = ?", arguments: [id]) else {
                return nil
            }
            return (Self.key(row: row), row["salt"], row["secret_hash"])
        }
        guard let stored else {
            APIKeySecret.matchNothing(secret: secret)
            return nil
        }
        guard APIKeySecret.matches(secret: secret, salt: stored.salt, hash: stored.hash) else { return nil }
        return stored.key.revokedAt == nil ? stored.key : nil
    }

    public func listKeys() async throws -> [APIKey] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT id, name, created_at, revoked_at, admin FROM api_keys ORDER BY created_at DESC, rowid DESC")
                .map(Self.key(row:))
        }
    }

    public func revokeKey(id: String, now: Date) async throws -> Bool {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                arguments: [StoredTime.milliseconds(now), id])
            return db.changesCount > 0
        }
    }

    public func isActive(id: String) async throws -> Bool {
        try await database.read { db in
            try Bool.fetchOne(db, sql: "SELECT revoked_at IS NULL FROM api_keys WHERE id = ?", arguments: [id]) ?? false
        }
    }

    private static func key(row: Row) -> APIKey {
        let revoked: Int64? = row["revoked_at"]
        return APIKey(
            id: row["id"], name: row["name"], createdAt: StoredTime.date(row["created_at"]),
            revokedAt: revoked.map(StoredTime.date), isAdmin: row["admin"] ?? false)
    }
}
