import Foundation
import GRDB

/// The embedded job store: SQLite in WAL mode with `synchronous = FULL` (see `SQLiteDatabase`).
///
/// Every method commits before it returns and publishes its notifications only after the commit,
/// so a waiter woken by a notification always reads the new state.
public struct SQLiteJobStore: JobStore {
    /// The shared database (also used by `SQLiteAPIKeyStore`).
    public let database: SQLiteDatabase
    let broadcaster: JobNotificationBroadcaster

    /// A store over an open database.
    public init(database: SQLiteDatabase) {
        self.database = database
        self.broadcaster = JobNotificationBroadcaster()
    }

    /// Opens (creating and migrating if needed) the database file at `path`.
    /// - Throws: `JobStoreError.storage` when it cannot be opened.
    public init(path: String) throws {
        self.init(database: try SQLiteDatabase(path: path))
    }

    public func enqueue(_ job: NewJob) async throws -> Job {
        guard job.maxAttempts >= 1 else {
            throw JobStoreError(.invalidArgument, "maxAttempts must be at least 1")
        }
        let stored = try await database.write { db -> Job in
            let row = try Row.fetchOne(db, sql: """
                INSERT INTO jobs (id, endpoint_id, input, priority, state, max_attempts, enqueued_at,
                    start_deadline, webhook_url, store_io, runner_hint, api_key_id, object_lifetime)
                VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)
                RETURNING *
                """,
                arguments: [
                    job.id, job.endpointID, job.input, job.priority.rawValue, job.maxAttempts,
                    StoredTime.milliseconds(Date()), job.startDeadline.map(StoredTime.milliseconds),
                    job.webhookURL, job.storeIO, job.runnerHint, job.apiKeyID, job.objectLifetime,
                ])
            guard let row else { throw JobStoreError(.storage, "insert returned no row") }
            return try Job(row: row)
        }
        broadcaster.publish([.enqueued(endpointID: job.endpointID)])
        return stored
    }

    public func job(id: String) async throws -> Job? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]).map(Job.init(row:))
        }
    }

    /// Selects every column but `input` and `result_body`.
    public func jobWithoutPayloads(id: String) async throws -> Job? {
        try await database.read { db in
            try Row.fetchOne(db, sql: """
                SELECT seq, id, endpoint_id, priority, state, attempt, max_attempts, enqueued_at, started_at,
                    finished_at, start_deadline, lease_owner, lease_expires_at, cancel_requested, webhook_url,
                    store_io, runner_hint, api_key_id, object_lifetime, result_status, error_message, error_type,
                    inference_time, version
                FROM jobs WHERE id = ?
                """, arguments: [id]).map(Job.init(row:))
        }
    }

    public func queuePosition(id: String) async throws -> Int? {
        try await database.read { db in
            // Counts the queued jobs of the same endpoint that sort before this one in the lease
            // order (priority, enqueued_at, seq), so position 0 is the next job leased.
            try Int.fetchOne(db, sql: """
                SELECT (SELECT COUNT(*) FROM jobs o
                        WHERE o.state = 'queued' AND o.endpoint_id = j.endpoint_id
                          AND (o.priority < j.priority
                               OR (o.priority = j.priority
                                   AND (o.enqueued_at < j.enqueued_at
                                        OR (o.enqueued_at = j.enqueued_at AND o.seq < j.seq)))))
                FROM jobs j WHERE j.id = ? AND j.state = 'queued'
                """, arguments: [id])
        }
    }

    public func appendLogs(id: String, lines: [JobLogLine]) async throws {
        guard !lines.isEmpty else { return }
        // Log lines are not fsynced one by one: a line lost to power failure costs nothing the
        // durability rule protects.
        let changed = try await database.write(durable: false) { db -> Bool in
            try db.execute(sql: "UPDATE jobs SET version = version + 1 WHERE id = ?", arguments: [id])
            guard db.changesCount > 0 else { return false }
            let insert = try db.makeStatement(
                sql: "INSERT INTO job_logs (job_id, message, level, timestamp) VALUES (?, ?, ?, ?)")
            for line in lines {
                try insert.execute(arguments: [id, line.message, line.level, StoredTime.milliseconds(line.timestamp)])
            }
            return true
        }
        if changed { broadcaster.publish([.changed(id: id)]) }
    }

    public func logs(id: String) async throws -> [JobLogLine] {
        try await database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT message, level, timestamp FROM job_logs WHERE job_id = ? ORDER BY seq",
                arguments: [id]
            ).map { row in
                JobLogLine(message: row["message"], level: row["level"], timestamp: StoredTime.date(row["timestamp"]))
            }
        }
    }

    public func notifications() -> AsyncStream<JobNotification> {
        broadcaster.subscribe()
    }
}
