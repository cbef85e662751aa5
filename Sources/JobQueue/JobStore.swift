import Foundation

/// The durable job queue. Drivers: SQLite (embedded default) and PostgreSQL (cluster); every
/// driver passes the same conformance suite.
///
/// All transitions out of `running` are guarded by the lease token, unique to each lease, so a
/// runner whose lease expired (and whose job was re-queued and leased again, by someone else or
/// by the same owner) cannot overwrite the new attempt's outcome. Methods that change a job bump its `version` and publish a
/// `JobNotification`.
public protocol JobStore: Sendable {
    /// Inserts a queued job, committed to disk before returning.
    /// - Throws: `JobStoreError` on a duplicate id or a storage failure.
    func enqueue(_ job: NewJob) async throws -> Job

    /// The job with this id, or `nil`.
    func job(id: String) async throws -> Job?

    /// The job without its payloads (`input` nil, result `body` empty), or `nil`: what status
    /// polls need, and cheap to read even when inputs or outputs are large data URIs.
    func jobWithoutPayloads(id: String) async throws -> Job?

    /// Number of queued jobs that will be leased before this one for the same endpoint
    /// (0 = next) if nothing else arrives, in the fair lease order, or `nil` when the job is not
    /// queued.
    func queuePosition(id: String) async throws -> Int?

    /// Leases up to `limit` queued jobs for the given endpoint ids in one transaction, marking
    /// them running with `attempt + 1` and a fresh `leaseToken` each.
    ///
    /// The order is fair between API keys: priority first; then each job's turn, which is the
    /// number of jobs its key has running on these endpoints plus the number of its key's queued
    /// jobs ahead of it (round robin between keys, so a key that floods the queue cannot starve
    /// another); then enqueue time, then insertion order. Jobs without a key share one turn
    /// sequence.
    /// - Parameters:
    ///   - endpointIDs: endpoints this runner serves.
    ///   - owner: id of the leasing runner (node + runner), kept for inspection; the guards use
    ///     the returned jobs' `leaseToken`.
    ///   - leaseDuration: lease length; the runner extends it while working.
    func lease(endpointIDs: [String], owner: String, limit: Int, leaseDuration: TimeInterval, now: Date) async throws -> [Job]

    /// Extends a lease; false when the job is no longer running under this lease.
    /// - Parameter leaseToken: the `leaseToken` of the job `lease` returned.
    func extendLease(id: String, leaseToken: String, until: Date) async throws -> Bool

    /// Ends a running job (`completed`, `failed` or `cancelled`) with its result, and, in the
    /// same transaction, writes the webhook outbox row when the job asked for one.
    /// - Parameter leaseToken: the `leaseToken` of the job `lease` returned.
    /// - Returns: false when the guard failed (not running under this lease).
    func finish(id: String, leaseToken: String, state: JobState, result: JobResult, now: Date) async throws -> Bool

    /// An infrastructure failure of a running job: back to `queued` when `retryable` and attempts
    /// remain, otherwise `failed` with `result`.
    /// - Parameter leaseToken: the `leaseToken` of the job `lease` returned.
    /// - Returns: the state the job is in now, or `nil` when the guard failed.
    func release(id: String, leaseToken: String, retryable: Bool, result: JobResult, now: Date) async throws -> JobState?

    /// Cancels a job: a queued one at once (terminal `cancelled`, webhook row written), a running
    /// one by setting `cancelRequested`.
    func cancel(id: String, now: Date) async throws -> CancelOutcome

    /// Appends log lines to a job (visible in status with `logs=1`).
    func appendLogs(id: String, lines: [JobLogLine]) async throws

    /// The job's log lines, oldest first.
    func logs(id: String) async throws -> [JobLogLine]

    /// Re-queues (or fails, when attempts ran out) running jobs whose lease expired.
    /// - Returns: the ids affected.
    func rescueExpiredLeases(now: Date) async throws -> [String]

    /// Ends queued jobs whose start deadline passed with a 504 `request_timeout` result.
    /// - Returns: the ids affected.
    func expireStartDeadlines(now: Date) async throws -> [String]

    /// Deletes terminal jobs finished before `finishedBefore` (and their logs).
    /// - Returns: the ids deleted, so their files can be removed too.
    func sweep(finishedBefore: Date) async throws -> [String]

    /// Drops input and result payloads of a job whose caller asked not to store them
    /// (`X-Fal-Store-IO: 0`), once the result was delivered.
    func dropPayloads(id: String) async throws

    /// Webhook deliveries due at `now`, oldest first.
    func dueWebhooks(now: Date, limit: Int) async throws -> [WebhookDelivery]

    /// Records the outcome of one delivery attempt: delivered (row done), or failed with the
    /// next attempt time (`nil` = give up, kept as dead for inspection).
    func recordWebhookAttempt(id: Int64, delivered: Bool, nextAttemptAt: Date?, error: String?, now: Date) async throws

    /// A stream of notifications from this store (all jobs); each call gets its own stream.
    func notifications() -> AsyncStream<JobNotification>
}

extension JobStore {
    /// Reads the whole job and drops the payloads; drivers override it with a leaner query.
    public func jobWithoutPayloads(id: String) async throws -> Job? {
        guard var job = try await job(id: id) else { return nil }
        job.input = nil
        job.result?.body = Data()
        return job
    }
}

/// A failure of the job store.
public struct JobStoreError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case duplicateID = "duplicate_id"
            case storage = "storage"
            case corrupt = "corrupt"
            case invalidArgument = "invalid_argument"
            case queueLimit = "queue_limit"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// A job with this id exists.
        public static let duplicateID = Code(.duplicateID)
        /// The database failed (I/O, locked, connection lost).
        public static let storage = Code(.storage)
        /// A row could not be decoded.
        public static let corrupt = Code(.corrupt)
        /// The call itself was wrong (a non-terminal state passed to `finish`, a negative limit).
        public static let invalidArgument = Code(.invalidArgument)
        /// The submitting key already has as many queued jobs as `NewJob.maxQueuedForKey` allows.
        public static let queueLimit = Code(.queueLimit)
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { "JobStoreError.\(code): \(message)" }
}
