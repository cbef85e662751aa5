import Foundation
import JobQueue
import Testing

@Suite("Model settings store and admin keys")
struct ModelSettingsStoreTests {
    private static func database() throws -> SQLiteDatabase {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-settings-\(UUID().uuidString).sqlite").path
        return try SQLiteDatabase(path: path)
    }

    @Test("overrides round-trip, replace the previous ones, and an empty override deletes the row")
    func roundTrip() async throws {
        let database = try Self.database()
        let store = SQLiteModelSettingsStore(database: database)
        #expect(try await store.override(for: "a/b").isEmpty)
        let first = ModelSettingsOverride(keepAlive: 12.5, minConcurrency: 1, maxConcurrency: 3, concurrencyBuffer: 2, startupTimeout: 90)
        try await store.setOverride(first, for: "a/b", now: Date())
        #expect(try await store.override(for: "a/b") == first)
        let second = ModelSettingsOverride(maxConcurrency: 2)
        try await store.setOverride(second, for: "a/b", now: Date())
        try await store.setOverride(ModelSettingsOverride(keepAlive: 1), for: "c/d", now: Date())
        #expect(try await store.allOverrides() == ["a/b": second, "c/d": ModelSettingsOverride(keepAlive: 1)])
        try await store.setOverride(ModelSettingsOverride(), for: "a/b", now: Date())
        #expect(try await store.allOverrides().keys.sorted() == ["c/d"])
        // Another connection to the same file sees the same rows (what a restart reads).
        let reopened = SQLiteModelSettingsStore(database: try SQLiteDatabase(path: database.path))
        #expect(try await reopened.override(for: "c/d").keepAlive == 1)
    }

    @Test("admin keys are marked as such and verify with their flag; ordinary keys are not admin")
    func adminKeys() async throws {
        let keys = SQLiteAPIKeyStore(database: try Self.database())
        let admin = try await keys.createKey(name: "ops", isAdmin: true, now: Date())
        let plain = try await keys.createKey(name: "app", now: Date())
        #expect(admin.key.isAdmin)
        #expect(!plain.key.isAdmin)
        #expect(try await keys.verify(id: admin.key.id, secret: admin.secret)?.isAdmin == true)
        #expect(try await keys.verify(id: plain.key.id, secret: plain.secret)?.isAdmin == false)
        let listed = try await keys.listKeys()
        #expect(listed.first { $0.id == admin.key.id }?.isAdmin == true)
        #expect(listed.first { $0.id == plain.key.id }?.isAdmin == false)
    }
}
