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
    let enqueueGroup = EnqueueGroup()

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

    /// Concurrent enqueues share commits (see `EnqueueGroup`): each caller still returns only
    /// after the transaction holding its job was fsynced.
    public func enqueue(_ job: NewJob) async throws -> Job {
        guard job.maxAttempts >= 1 else {
            throw JobStoreError(.invalidArgument, "maxAttempts must be at least 1")
        }
        switch await enqueueGroup.arrive(job) {
        case .done(let result):
            return try result.get()
        case .lead:
            let waiters = enqueueGroup.takeWaiting()
            let results = await insertGroup([job] + waiters.map(\.job))
            for (waiter, result) in zip(waiters, results.dropFirst()) {
                waiter.continuation.resume(returning: .done(result))
            }
            enqueueGroup.handOff()
            broadcaster.publish(results.compactMap { try? $0.get() }.map { .enqueued(endpointID: $0.endpointID) })
            return try results[0].get()
        }
    }

    /// Inserts the jobs in one transaction, each in its own savepoint so a duplicate id fails only
    /// that job. Runs to completion even if the leading caller is cancelled: the other callers'
    /// jobs depend on it.
    private func insertGroup(_ jobs: [NewJob]) async -> [Result<Job, any Error>] {
        let enqueuedAt = StoredTime.milliseconds(Date())
        let outcome: Result<[Result<Job, any Error>], any Error> = await withCheckedContinuation { continuation in
            database.pool.asyncWrite({ db in
                try jobs.map { job -> Result<Job, any Error> in
                    do {
                        var inserted: Job?
                        try db.inSavepoint {
                            inserted = try Self.insert(job, enqueuedAt: enqueuedAt, db)
                            return .commit
                        }
                        guard let inserted else { throw JobStoreError(.storage, "insert returned no row") }
                        return .success(inserted)
                    } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                        return .failure(SQLiteDatabase.map(error))
                    }
                }
            }, completion: { _, result in continuation.resume(returning: result) })
        }
        switch outcome {
        case .success(let results):
            return results
        case .failure(let error):
            let mapped: any Error = (error as? DatabaseError).map(SQLiteDatabase.map) ?? error
            return jobs.map { _ in .failure(mapped) }
        }
    }

    private static func insert(_ job: NewJob, enqueuedAt: Int64, _ db: Database) throws -> Job? {
        try Row.fetchOne(db, sql: """
            INSERT INTO jobs (id, endpoint_id, input, priority, state, max_attempts, enqueued_at,
                start_deadline, webhook_url, store_io, runner_hint, api_key_id, object_lifetime)
            VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)
            RETURNING *
            """,
            arguments: [
                job.id, job.endpointID, job.input, job.priority.rawValue, job.maxAttempts, enqueuedAt,
                job.startDeadline.map(StoredTime.milliseconds), job.webhookURL, job.storeIO, job.runnerHint,
                job.apiKeyID, job.objectLifetime,
            ]
        ).map(Job.init(row:))
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
