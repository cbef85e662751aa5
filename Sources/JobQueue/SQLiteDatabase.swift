import Foundation
import GRDB

/// The embedded SQLite database behind `SQLiteJobStore` and `SQLiteAPIKeyStore`: one file in
/// WAL mode, opened once per process and shared by both stores.
///
/// Durability: every connection runs with `synchronous = FULL`, so each commit fsyncs the WAL
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
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        self.path = path
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
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
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.write(body)
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

    private static func map(_ error: DatabaseError) -> JobStoreError {
        if error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE
            || error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY
        {
            return JobStoreError(.duplicateID, "a row with this id exists", underlying: error)
        }
        return JobStoreError(.storage, "database error \(error.resultCode)", underlying: error)
    }
}
