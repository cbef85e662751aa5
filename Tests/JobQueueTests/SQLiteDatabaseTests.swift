import Foundation
import GRDB
import Testing

@testable import JobQueue

@Suite("SQLiteDatabase")
struct SQLiteDatabaseTests {
    @Test func everyCommitIsFsyncedInWALMode() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-db-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let database = try SQLiteDatabase(path: directory.appendingPathComponent("jobs.sqlite").path)
        let (journal, synchronous) = try await database.write { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"))
        }
        #expect(journal == "wal")
        // 2 = FULL: the WAL is fsynced at every commit, so a returned enqueue survives power loss.
        #expect(synchronous == 2)
        // A commit allowed to skip the fsync (a lease) leaves the connection at FULL afterwards.
        let during = try await database.write(durable: false) { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(during == 1)
        let after = try await database.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(after == 2)
    }

    @Test func reopeningAMigratedFileKeepsTheSchema() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-db-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("jobs.sqlite").path
        try SQLiteDatabase(path: path).close()
        let reopened = try SQLiteDatabase(path: path)
        let applied = try reopened.pool.read { db in try SQLiteDatabase.migrator.appliedMigrations(db) }
        #expect(applied == SQLiteDatabase.migrator.migrations)
        #expect(applied.first == "v1: jobs, logs, webhook outbox, api keys")
    }

    @Test func leaseUsesTheQueuedIndex() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-db-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let database = try SQLiteDatabase(path: directory.appendingPathComponent("jobs.sqlite").path)
        let plan = try database.pool.read { db in
            try Row.fetchAll(db, sql: """
                EXPLAIN QUERY PLAN WITH \(SQLiteJobStore.fairOrderCTE(endpointCount: 2))
                SELECT seq FROM ranked ORDER BY \(SQLiteJobStore.fairOrder) LIMIT 4
                """, arguments: ["a/b", "c/d", "a/b", "c/d", 0]).map { $0["detail"] as String }
        }
        // The queued jobs come from the partial queue index, running counts from the key index:
        // no full table scan, however many finished jobs the table keeps.
        #expect(plan.contains { $0.contains("jobs_queued") })
        #expect(!plan.contains { $0 == "SCAN jobs" || $0 == "SCAN q" })
    }
}
