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

    /// Inserts the jobs in one transaction, each in its own savepoint so a duplicate id or a full
    /// per-key queue fails only that job. Runs to completion even if the leading caller is cancelled: the other callers'
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
                    } catch let error as JobStoreError where error.code == .queueLimit {
                        return .failure(error)
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

    /// Inserts one job inside the caller's transaction, enforcing the per-key queue limit.
    static func insert(_ job: NewJob, enqueuedAt: Int64, _ db: Database) throws -> Job? {
        if let limit = job.maxQueuedForKey, let key = job.apiKeyID {
            let queued = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM jobs WHERE api_key_id = ? AND state = 'queued'", arguments: [key]) ?? 0
            if queued >= limit {
                throw JobStoreError(.queueLimit, "this key already has \(queued) queued requests (limit \(limit))")
            }
        }
        return try Row.fetchOne(db, sql: """
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
        try await database.read { db in try Self.jobWithoutPayloads(db, id: id) }
    }

    /// Every column of `jobs` but `input` and `result_body`.
    static let payloadFreeColumns = """
        seq, id, endpoint_id, priority, state, attempt, max_attempts, enqueued_at, started_at,
        finished_at, start_deadline, lease_owner, lease_token, lease_expires_at, cancel_requested, webhook_url,
        store_io, runner_hint, api_key_id, object_lifetime, result_status, error_message, error_type,
        inference_time, version
        """

    /// `jobWithoutPayloads(id:)` inside the caller's transaction.
    static func jobWithoutPayloads(_ db: Database, id: String) throws -> Job? {
        try Row.fetchOne(db, sql: "SELECT \(payloadFreeColumns) FROM jobs WHERE id = ?", arguments: [id]).map(Job.init(row:))
    }

    public func queuePosition(id: String) async throws -> Int? {
        try await database.read { db in
            guard let row = try Row.fetchOne(
                db, sql: "SELECT endpoint_id FROM jobs WHERE id = ? AND state = 'queued'", arguments: [id])
            else { return nil }
            let endpoint: String = row["endpoint_id"]
            // Counts the queued jobs of the same endpoint that sort before this one in the fair
            // lease order, so position 0 is the next job leased.
            return try Int.fetchOne(db, sql: """
                WITH \(Self.fairOrderCTE(endpointCount: 1))
                SELECT COUNT(*) FROM ranked o, ranked me
                WHERE me.id = ? AND (o.priority, o.turn, o.served, o.enqueued_at, o.seq)
                    < (me.priority, me.turn, me.served, me.enqueued_at, me.seq)
                """, arguments: [endpoint, endpoint, StoredTime.milliseconds(Date()), id]) ?? 0
        }
    }

    /// The common table expressions `running` and `ranked` of the fair lease order over the
    /// queued jobs of some endpoints. Arguments, in order: the endpoint ids (for `running`), the
    /// endpoint ids again and the start-deadline cut-off in milliseconds (for `ranked`).
    ///
    /// `turn` is the number of jobs the job's key has running on these endpoints plus its rank
    /// among that key's queued jobs of the same priority; `served` is when the key was last
    /// served on the job's endpoint (0: never). Ordering by priority, turn, served, enqueue time
    /// and insertion order serves keys in turn.
    static func fairOrderCTE(endpointCount: Int) -> String {
        let placeholders = Array(repeating: "?", count: endpointCount).joined(separator: ", ")
        return """
            running AS (
                SELECT COALESCE(api_key_id, '') AS key, COUNT(*) AS n FROM jobs
                WHERE state = 'running' AND endpoint_id IN (\(placeholders))
                GROUP BY key),
            ranked AS (
                SELECT q.seq, q.id, q.priority, q.enqueued_at, q.endpoint_id, COALESCE(q.api_key_id, '') AS key,
                    ROW_NUMBER() OVER (PARTITION BY q.priority, COALESCE(q.api_key_id, '')
                                       ORDER BY q.enqueued_at, q.seq) - 1
                    + COALESCE((SELECT n FROM running r WHERE r.key = COALESCE(q.api_key_id, '')), 0) AS turn,
                    COALESCE((SELECT t.last_served FROM key_turns t
                              WHERE t.endpoint_id = q.endpoint_id AND t.key = COALESCE(q.api_key_id, '')), 0) AS served
                FROM jobs q
                WHERE q.state = 'queued' AND q.endpoint_id IN (\(placeholders))
                  AND (q.start_deadline IS NULL OR q.start_deadline > ?))
            """
    }

    /// The fair lease order over `ranked` (see `fairOrderCTE`).
    static let fairOrder = "priority, turn, served, enqueued_at, seq"

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
