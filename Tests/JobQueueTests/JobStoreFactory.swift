import Foundation
import JobQueue
import PostgresStore
import PostgresTestSupport
import Testing
import TestSupport

/// How the conformance suite gets a store: every driver adds one factory to `all`, and the
/// suite runs unchanged against each.
struct JobStoreFactory: Sendable, CustomTestStringConvertible {
    /// A fresh, empty store plus a way to close it and open the same data again.
    struct Instance: Sendable {
        var store: any JobStore
        /// Releases the store's resources (connections, files); it is not used afterwards.
        var close: @Sendable () async throws -> Void
        /// Opens the same persisted data as a new store, as a restarted process would.
        var reopen: @Sendable () async throws -> Instance
    }

    var name: String
    var make: @Sendable () async throws -> Instance

    var testDescription: String { name }

    /// Every driver under test.
    static let all: [JobStoreFactory] = [.sqlite, .postgres]

    /// SQLite in a fresh temporary directory.
    static let sqlite = JobStoreFactory(name: "SQLite") {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("peregrine-jobstore-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try openSQLite(path: directory.appendingPathComponent("jobs.sqlite").path)
    }

    private static func openSQLite(path: String) throws -> Instance {
        let database = try SQLiteDatabase(path: path)
        return Instance(
            store: SQLiteJobStore(database: database),
            close: { try database.close() },
            reopen: { try openSQLite(path: path) })
    }

    /// PostgreSQL: a database of its own in the test cluster (see `PostgresTestCluster`).
    static let postgres = JobStoreFactory(name: "PostgreSQL") {
        try await openPostgres(try await PostgresTestCluster.shared.makeDatabase())
    }

    private static func openPostgres(_ configuration: ClusterDatabaseConfiguration) async throws -> Instance {
        let database = try await RunningClusterDatabase.open(configuration)
        return Instance(
            store: PostgresJobStore(database: database.database),
            close: { await database.stop() },
            reopen: { try await openPostgres(configuration) })
    }
}

/// A migrated `ClusterDatabase` whose `run()` runs in a task of its own until `stop()`, listening
/// before `open` returns (so a subscriber sees every later change, from any instance).
struct RunningClusterDatabase: Sendable {
    let database: ClusterDatabase
    private let task: Task<Void, Never>

    static func open(_ configuration: ClusterDatabaseConfiguration) async throws -> RunningClusterDatabase {
        let database = ClusterDatabase(configuration: configuration)
        try await database.migrate()
        let task = Task { await database.run() }
        await database.waitUntilListening()
        return RunningClusterDatabase(database: database, task: task)
    }

    private init(database: ClusterDatabase, task: Task<Void, Never>) {
        self.database = database
        self.task = task
    }

    /// Closes the pool and the listener.
    func stop() async {
        task.cancel()
        await task.value
    }
}
