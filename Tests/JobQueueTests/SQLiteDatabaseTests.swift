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
                EXPLAIN QUERY PLAN SELECT seq FROM jobs
                WHERE state = 'queued' AND endpoint_id IN ('a/b', 'c/d') AND (start_deadline IS NULL OR start_deadline > 0)
                ORDER BY priority, enqueued_at, seq LIMIT 4
                """).map { $0["detail"] as String }
        }
        #expect(plan.contains { $0.contains("jobs_queued") })
    }
}
