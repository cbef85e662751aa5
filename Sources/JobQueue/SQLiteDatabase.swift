import Foundation
import GRDB

/// The embedded SQLite database behind `SQLiteJobStore` and `SQLiteAPIKeyStore`: one file in
/// WAL mode, opened once per process and shared by both stores.
///
/// Durability: the writer connection runs with `synchronous = FULL`, so each commit fsyncs the WAL
/// before returning. With `NORMAL`, a commit in WAL mode can be lost on power failure after the
/// call returned, which would break "a 200 on submit means the job is committed to disk".
public final class SQLiteDatabase: Sendable {
    /// The GRDB pool: one writer, several concurrent readers. Its closures run on GRDB's own
    /// dispatch queues, never on NIO event loops.
    let pool: DatabasePool
    /// The database file.
    public let path: String

    /// Opens (creating if needed) the database at `path` and migrates it to the current schema.
    /// - Parameters:
    ///   - path: the database file; its directory must exist.
    ///   - busyTimeout: how long a statement waits for a lock held by another process.
    /// - Throws: `JobStoreError.storage` when the file cannot be opened or migrated.
    public init(path: String, busyTimeout: TimeInterval = 5) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        self.path = path
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            // Set on the pool's one writer connection after GRDB's own WAL setup, which chooses
            // NORMAL (a `prepareDatabase` hook runs before that and would be overridden).
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            try Self.migrator.migrate(pool)
        } catch {
            throw JobStoreError(.storage, "cannot open database at \(path)", underlying: error)
        }
    }

    /// Closes the database; later calls through either store fail.
    public func close() throws {
        try pool.close()
    }

    /// Runs `body` in a write transaction off the caller's thread, mapping database errors.
    ///
    /// - Parameter durable: false for commits whose loss on power failure is harmless because the
    ///   queue is at-least-once anyway (a lease, a lease extension, a log line, a webhook claim):
    ///   those skip the fsync (`synchronous = NORMAL` for that one transaction). They still reach
    ///   the WAL in order, and the next durable commit's fsync covers them too. Everything that an
    ///   answer promises (enqueue, results, webhook rows, keys) is durable.
    func write<T: Sendable>(durable: Bool = true, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            if durable { return try await pool.write(body) }
            return try await pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                defer { try? db.execute(sql: "PRAGMA synchronous = FULL") }
                var result: T?
                try db.inTransaction {
                    result = try body(db)
                    return .commit
                }
                guard let result else { throw JobStoreError(.storage, "transaction produced no result") }
                return result
            }
        } catch let error as DatabaseError {
            throw Self.map(error)
        }
    }

    /// Runs `body` against a read-only snapshot off the caller's thread, mapping database errors.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(body)
        } catch let error as DatabaseError {
            throw Self.map(error)
        }
    }

    static func map(_ error: DatabaseError) -> JobStoreError {
        if error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE
            || error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY
        {
            return JobStoreError(.duplicateID, "a row with this id exists", underlying: error)
        }
        return JobStoreError(.storage, "database error \(error.resultCode)", underlying: error)
    }
}
