import Foundation
import GRDB
import Testing

@testable import JobQueue

@Suite("SQLiteAPIKeyStore")
struct SQLiteAPIKeyStoreTests {
    private func makeDatabase() throws -> SQLiteDatabase {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try SQLiteDatabase(path: directory.appendingPathComponent("keys.sqlite").path)
    }

    @Test func createVerifyAndRevoke() async throws {
        let store = SQLiteAPIKeyStore(database: try makeDatabase())
        let (key, secret) = try await store.createKey(name: "ci", now: t0)
        #expect(key.id.hasPrefix("pk_") && key.id.count > 10)
        #expect(key.name == "ci" && key.createdAt == t0 && key.revokedAt == nil)
        // 32 random bytes, base64url without padding.
        #expect(secret.count == 43)
        #expect(secret.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })

        #expect(try await store.verify(id: key.id, secret: secret) == key)
        #expect(try await store.verify(id: key.id, secret: secret + "x") == nil)
        #expect(try await store.verify(id: key.id, secret: "") == nil)
        #expect(try await store.verify(id: "pk_unknown", secret: secret) == nil)

        #expect(try await store.revokeKey(id: key.id, now: t0.addingTimeInterval(5)))
        #expect(try await store.verify(id: key.id, secret: secret) == nil)
        #expect(try await store.listKeys().first?.revokedAt == t0.addingTimeInterval(5))
        #expect(try await store.revokeKey(id: "pk_unknown", now: t0) == false)
    }

    @Test func keysAreDistinctAndListedNewestFirst() async throws {
        let store = SQLiteAPIKeyStore(database: try makeDatabase())
        let a = try await store.createKey(name: "a", now: t0)
        let b = try await store.createKey(name: "b", now: t0.addingTimeInterval(1))
        #expect(a.key.id != b.key.id && a.secret != b.secret)
        #expect(try await store.listKeys().map(\.name) == ["b", "a"])
        // Each key's secret opens only that key.
        #expect(try await store.verify(id: a.key.id, secret: b.secret) == nil)
    }

    @Test func secretIsStoredOnlyAsASaltedHash() async throws {
        let database = try makeDatabase()
        let store = SQLiteAPIKeyStore(database: database)
        let (key, secret) = try await store.createKey(name: "x", now: t0)
        let stored = try await database.read { db -> (salt: Data, hash: Data, texts: [String])? in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM api_keys WHERE id = ?", arguments: [key.id]) else {
                return nil
            }
            let texts = Array(row.columnNames).map { (row[$0] as DatabaseValue).description }
            return (row["salt"], row["secret_hash"], texts)
        }
        let (salt, hash, texts) = try #require(stored)
        #expect(salt.count == 16 && hash.count == 32)
        #expect(hash != Data(secret.utf8))
        #expect(hash == APIKeySecret.hash(secret: secret, salt: salt))
        #expect(texts.allSatisfy { !$0.contains(secret) })
    }
}
