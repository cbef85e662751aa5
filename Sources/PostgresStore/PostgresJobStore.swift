import Foundation
import JobQueue
import PostgresNIO

/// The cluster job store: every node's runners lease from one PostgreSQL, with
/// `FOR UPDATE SKIP LOCKED`, and learn of other nodes' changes through `LISTEN/NOTIFY`.
///
/// Same semantics as `SQLiteJobStore` (both pass one conformance suite): every method commits
/// before it returns; its notifications are announced in the same transaction (delivered to other
/// nodes on commit) and published to this node's subscribers after the commit. PostgreSQL commits
/// with `synchronous_commit` as the server is configured (on by default: an answered submit is on
/// disk).
public struct PostgresJobStore: JobStore, QueuedJobCounting {
    /// The shared database (also used by the key and settings stores).
    public let database: ClusterDatabase

    /// A store over an open (migrated) database whose `run()` is running.
    public init(database: ClusterDatabase) {
        self.database = database
    }

    /// The namespace of the transaction-level advisory locks that serialize one key's submits
    /// while its queue limit is checked.
    static let queueLimitLock: Int32 = 0x5051_4C4D  // "PQLM"

    public func enqueue(_ job: NewJob) async throws -> Job {
        guard job.maxAttempts >= 1 else {
            throw JobStoreError(.invalidArgument, "maxAttempts must be at least 1")
        }
        let enqueuedAt = StoredTime.milliseconds(Date())
        let notifications: [JobNotification] = [.enqueued(endpointID: job.endpointID)]
        let payloads = ClusterDatabase.payloads(notifications, origin: database.origin)
        let insert: PostgresQuery = try """
            WITH inserted AS (
                INSERT INTO jobs (id, endpoint_id, input, priority, state, max_attempts, enqueued_at,
                    start_deadline, webhook_url, store_io, runner_hint, api_key_id, object_lifetime)
                VALUES (\(job.id), \(job.endpointID), \(job.input), \(job.priority.rawValue), 'queued', \(job.maxAttempts),
                    \(enqueuedAt), \(job.startDeadline.map(StoredTime.milliseconds)), \(job.webhookURL), \(job.storeIO),
                    \(job.runnerHint), \(job.apiKeyID), \(job.objectLifetime))
                RETURNING *)
            SELECT inserted.*, (SELECT COUNT(pg_notify(\(ClusterDatabase.channel), p)) FROM unnest(\(payloads)::text[]) AS p) AS notified
            FROM inserted
            """
        let row: PostgresRow?
        if let limit = job.maxQueuedForKey, let key = job.apiKeyID {
            row = try await database.transaction { connection in
                // Submits of one key take turns here, so concurrent ones cannot overshoot its limit.
                try await connection.query(
                    "SELECT pg_advisory_xact_lock(\(Self.queueLimitLock), hashtext(\(key)))", logger: database.logger)
                let queued = try await connection.query(
                    "SELECT COUNT(*) FROM jobs WHERE api_key_id = \(key) AND state = 'queued'", logger: database.logger
                ).decode(Int.self).gather().first ?? 0
                if queued >= limit {
                    throw JobStoreError(.queueLimit, "this key already has \(queued) queued requests (limit \(limit))")
                }
                return try await connection.query(insert, logger: database.logger).collect().first
            }
        } else {
            // One statement: the insert and its announcement commit together, in one round trip.
            row = try await database.rows(insert).first
        }
        guard let row else { throw JobStoreError(.storage, "insert returned no row") }
        let inserted = try Job(postgres: row)
        database.publish(notifications)
        return inserted
    }

    public func job(id: String) async throws -> Job? {
        try await database.rows("SELECT * FROM jobs WHERE id = \(id)").first.map(Job.init(postgres:))
    }

    /// Selects every column but `input` and `result_body` (read as NULL).
    public func jobWithoutPayloads(id: String) async throws -> Job? {
        try await database.rows("""
            SELECT seq, id, endpoint_id, priority, state, attempt, max_attempts, enqueued_at, started_at,
                finished_at, start_deadline, lease_owner, lease_token, lease_expires_at, cancel_requested, webhook_url,
                store_io, runner_hint, api_key_id, object_lifetime, result_status, error_message, error_type,
                inference_time, version, NULL::bytea AS input, NULL::bytea AS result_body
            FROM jobs WHERE id = \(id)
            """).first.map(Job.init(postgres:))
    }

    /// Two statements, each on its own snapshot (a transaction would not change that at READ
    /// COMMITTED): a job leased in between counts as position 0, which it just was.
    public func queuePosition(id: String) async throws -> Int? {
        guard let row = try await database.rows("SELECT endpoint_id FROM jobs WHERE id = \(id) AND state = 'queued'").first
        else { return nil }
        let endpoint = try row.decode(String.self)
        // The queued jobs of the same endpoint that sort before this one in the fair lease
        // order, so position 0 is the next job leased.
        var binds = PostgresBindings()
        binds.append([endpoint])
        binds.append(StoredTime.milliseconds(Date()))
        binds.append(id)
        let query = PostgresQuery(unsafeSQL: """
            WITH \(Self.fairOrderCTE)
            SELECT COUNT(*) FROM ranked o, ranked me
            WHERE me.id = $3 AND (o.priority, o.turn, o.served, o.enqueued_at, o.seq)
                < (me.priority, me.turn, me.served, me.enqueued_at, me.seq)
            """, binds: binds)
        return try await database.rows(query).first?.decode(Int.self) ?? 0
    }

    /// The common table expressions `running` and `ranked` of the fair lease order over the
    /// queued jobs of some endpoints, exactly as `SQLiteJobStore.fairOrderCTE`: `$1` is the
    /// endpoint ids (`text[]`), `$2` the start-deadline cut-off in milliseconds.
    ///
    /// `turn` is the number of jobs the job's key has running on these endpoints plus its rank
    /// among that key's queued jobs of the same priority; `served` is when the key was last
    /// served on the job's endpoint (0: never).
    static let fairOrderCTE = """
        running AS (
            SELECT COALESCE(api_key_id, '') AS key, COUNT(*) AS n FROM jobs
            WHERE state = 'running' AND endpoint_id = ANY($1::text[])
            GROUP BY 1),
        ranked AS MATERIALIZED (
            SELECT q.seq, q.id, q.priority, q.enqueued_at, q.endpoint_id, COALESCE(q.api_key_id, '') AS key,
                ROW_NUMBER() OVER (PARTITION BY q.priority, COALESCE(q.api_key_id, '')
                                   ORDER BY q.enqueued_at, q.seq) - 1
                + COALESCE((SELECT n FROM running r WHERE r.key = COALESCE(q.api_key_id, '')), 0) AS turn,
                COALESCE((SELECT t.last_served FROM key_turns t
                          WHERE t.endpoint_id = q.endpoint_id AND t.key = COALESCE(q.api_key_id, '')), 0) AS served
            FROM jobs q
            WHERE q.state = 'queued' AND q.endpoint_id = ANY($1::text[])
              AND (q.start_deadline IS NULL OR q.start_deadline > $2))
        """

    public func appendLogs(id: String, lines: [JobLogLine]) async throws {
        guard !lines.isEmpty else { return }
        let notifications: [JobNotification] = [.changed(id: id)]
        // Log lines are not flushed one by one: a line lost to a crash costs nothing the
        // durability rule protects.
        let changed = try await database.transaction(durable: false) { connection -> Bool in
            let updated = try await connection.query(
                "UPDATE jobs SET version = version + 1 WHERE id = \(id) RETURNING 1", logger: database.logger
            ).collect()
            guard !updated.isEmpty else { return false }
            try await connection.query("""
                INSERT INTO job_logs (job_id, message, level, timestamp)
                SELECT \(id), l.message, l.level, l.ts
                FROM unnest(\(lines.map(\.message))::text[], \(lines.map(\.level))::text[],
                            \(lines.map { StoredTime.milliseconds($0.timestamp) })::int8[])
                    WITH ORDINALITY AS l(message, level, ts, n)
                ORDER BY l.n
                """, logger: database.logger)
            try await database.announce(notifications, on: connection)
            return true
        }
        if changed { database.publish(notifications) }
    }

    public func logs(id: String) async throws -> [JobLogLine] {
        try await database.rows("SELECT message, level, timestamp FROM job_logs WHERE job_id = \(id) ORDER BY seq")
            .map { row in
                let (message, level, timestamp) = try row.decode((String, String, Int64).self)
                return JobLogLine(message: message, level: level, timestamp: StoredTime.date(timestamp))
            }
    }

    /// Bindings of non-optional values, in order (`$1`, `$2`, ...), for statements whose text
    /// is assembled from constants.
    static func binds(_ values: any PostgresNonThrowingEncodable...) -> PostgresBindings {
        var binds = PostgresBindings()
        for value in values { binds.append(value) }
        return binds
    }

    public func notifications() -> AsyncStream<JobNotification> {
        database.notifications()
    }

    /// Queued (not yet leased) jobs per endpoint id, for metrics; endpoints with none are absent.
    public func queuedCounts() async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try await database.rows("SELECT endpoint_id, COUNT(*) FROM jobs WHERE state = 'queued' GROUP BY endpoint_id") {
            let (endpoint, n) = try row.decode((String, Int).self)
            counts[endpoint] = n
        }
        return counts
    }
}
