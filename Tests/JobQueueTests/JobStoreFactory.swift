import Foundation
import JobQueue
import Testing

/// How the conformance suite gets a store: every driver adds one factory to `all`, and the
/// suite runs unchanged against each.
struct JobStoreFactory: Sendable, CustomTestStringConvertible {
    /// A fresh, empty store plus a way to close it and open the same data again.
    struct Instance: Sendable {
        var store: any JobStore
        /// Releases the store's resources (connections, files); it is not used afterwards.
        var close: @Sendable () throws -> Void
        /// Opens the same persisted data as a new store, as a restarted process would.
        var reopen: @Sendable () throws -> Instance
    }

    var name: String
    var make: @Sendable () throws -> Instance

    var testDescription: String { name }

    /// Every driver under test.
    static let all: [JobStoreFactory] = [.sqlite]

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
}
