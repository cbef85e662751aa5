import Foundation
import JobQueue
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import ServiceLifecycle

/// The cluster's PostgreSQL database behind `PostgresJobStore`, `PostgresAPIKeyStore` and
/// `PostgresModelSettingsStore`: a bounded connection pool for queries, plus one connection of
/// its own that LISTENs for the changes other nodes make.
///
/// A `Service`: `run()` drives the pool and the listener and must be running while the stores are
/// used (first in the service group, so it stops last). `open` migrates the schema before it
/// returns, so a node never serves on an old schema.
public final class ClusterDatabase: Service, Sendable {
    /// Where the server is.
    public let configuration: ClusterDatabaseConfiguration
    let client: PostgresClient
    let logger: Logger
    /// Fans notifications out to this process's subscribers, local and remote alike.
    let broadcaster = JobNotificationBroadcaster()
    /// Tags this instance's NOTIFY payloads, so its listener skips what it already published.
    let origin: String = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(12).description
    private let listening = ListenerReadiness()

    func listeningStarted() { listening.set() }

    /// The channel every store change is announced on.
    static let channel = "peregrine_jobs"

    /// A database over `configuration`; nothing connects until `run()` starts or `migrate()` is called.
    public init(configuration: ClusterDatabaseConfiguration, logger: Logger = Logger(label: "peregrine.postgres")) {
        self.configuration = configuration
        self.logger = logger
        client = PostgresClient(configuration: configuration.clientConfiguration(), backgroundLogger: logger)
    }

    /// Opens the database at `url` and migrates it (safe when several nodes start at once).
    /// - Throws: `JobStoreError` when the URL is wrong or the server cannot be reached or migrated.
    public static func open(url: String, logger: Logger = Logger(label: "peregrine.postgres")) async throws -> ClusterDatabase {
        let database = ClusterDatabase(configuration: try ClusterDatabaseConfiguration(url: url), logger: logger)
        try await database.migrate()
        return database
    }

    /// Runs the connection pool and the listener until cancelled or shut down gracefully.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask { await cancelWhenGracefulShutdown { await self.listen() } }
        }
        // Nobody waits for a listener that will not start any more.
        listening.set()
    }

    /// Waits until the listener receives other nodes' notifications (a subscriber that starts
    /// after this sees every change committed after it).
    public func waitUntilListening() async {
        await listening.wait()
    }

    // MARK: Queries

    /// Runs `body` in a transaction on a pooled connection, committing when it returns and
    /// rolling back when it throws; database errors become `JobStoreError`.
    ///
    /// - Parameter durable: false for commits whose loss on a crash is harmless because the queue
    ///   is at-least-once anyway (a log line), as in `SQLiteDatabase.write(durable:)`: the commit
    ///   does not wait for its WAL flush (`synchronous_commit = off` for this transaction only).
    ///   It still reaches the WAL in order, so a later durable commit's flush covers it.
    func transaction<T: Sendable>(durable: Bool = true, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { connection in
                try await connection.query("BEGIN", logger: logger)
                do {
                    if !durable { try await connection.query("SET LOCAL synchronous_commit = off", logger: logger) }
                    let value = try await body(connection)
                    try await connection.query("COMMIT", logger: logger)
                    return value
                } catch {
                    do {
                        try await connection.query("ROLLBACK", logger: logger)
                    } catch {
                        // A connection whose state is unknown must not go back to the pool.
                        try? await connection.close()
                    }
                    throw error
                }
            }
        } catch {
            throw Self.map(error)
        }
    }

    /// Selected or returned by a single-statement transaction (a lease, a lease extension, a
    /// webhook claim) whose commit need not wait for its WAL flush: what `transaction(durable:
    /// false)` does, inside the statement itself. It must be evaluated for the statement to
    /// write anything (it rides along with the rows the statement returns).
    static let notDurable = "set_config('synchronous_commit', 'off', true)"

    /// Runs one statement (atomic on its own) and collects its rows.
    @discardableResult
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        do {
            return try await client.query(query, logger: logger).collect()
        } catch {
            throw Self.map(error)
        }
    }

    /// `JobStoreError` for a database error: unique violations are `duplicateID`.
    static func map(_ error: any Error) -> any Error {
        if error is JobStoreError || error is CancellationError { return error }
        if let error = error as? PSQLError, let state = error.serverInfo?[.sqlState] {
            if state == "23505" { return JobStoreError(.duplicateID, "a row with this id exists", underlying: error) }
            return JobStoreError(.storage, "database error \(state): \(error.serverInfo?[.message] ?? "")", underlying: error)
        }
        return JobStoreError(.storage, "database unavailable", underlying: error)
    }
}

/// Lets callers wait until the listener has subscribed; once set it stays set (a reconnect
/// re-subscribes before delivering again).
final class ListenerReadiness: Sendable {
    private let state = NIOLockedValueBox<(ready: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { continuation in
            let ready = state.withLockedValue { state -> Bool in
                if state.ready { return true }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    func set() {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.ready = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

extension AsyncSequence {
    /// Every element, in order (decoded row sequences have no `collect()` of their own).
    func gather() async throws -> [Element] {
        var elements: [Element] = []
        for try await element in self { elements.append(element) }
        return elements
    }
}
