import Foundation

/// Where a job is in its life. Every transition is guarded in the store.
///
/// `queued → running → completed | failed | cancelled`; an infrastructure failure or an expired
/// lease sends a running job back to `queued` until its attempts run out.
public enum JobState: String, Sendable, Codable, CaseIterable {
    case queued, running, completed, failed, cancelled

    /// True for `completed`, `failed` and `cancelled`.
    public var isTerminal: Bool { self == .completed || self == .failed || self == .cancelled }
}

/// Queue priority: `normal` jobs are leased before `low` ones, FIFO within a priority.
public enum JobPriority: Int, Sendable, Codable, CaseIterable {
    case normal = 0
    case low = 1
}

/// What the submit path hands to the store.
public struct NewJob: Sendable, Equatable {
    /// Request id (UUID string), chosen by the caller so it can be logged before the insert.
    public var id: String
    /// Full endpoint id `owner/alias[/path]`.
    public var endpointID: String
    /// The validated request body (JSON bytes).
    public var input: Data
    public var priority: JobPriority
    /// Deadline to *start* (`X-Fal-Request-Timeout`); a job still queued then ends with 504.
    public var startDeadline: Date?
    /// Attempts allowed (1 with `X-Fal-No-Retry`).
    public var maxAttempts: Int
    /// `fal_webhook` target, if any.
    public var webhookURL: String?
    /// False with `X-Fal-Store-IO: 0`: input and result payloads are dropped after delivery.
    public var storeIO: Bool
    /// `X-Fal-Runner-Hint`.
    public var runnerHint: String?
    /// The API key that submitted the job (for fairness and ownership), if auth is on.
    public var apiKeyID: String?
    /// Lifetime of output files (`X-Fal-Object-Lifecycle-Preference`), if the caller chose one.
    public var objectLifetime: TimeInterval?
    /// The most queued jobs `apiKeyID` may have, this one included; beyond it the insert fails
    /// with `JobStoreError.Code.queueLimit`. Checked in the insert's transaction, so concurrent
    /// submits cannot overshoot. `nil` (or no key): no limit.
    public var maxQueuedForKey: Int?

    public init(
        id: String, endpointID: String, input: Data, priority: JobPriority = .normal,
        startDeadline: Date? = nil, maxAttempts: Int = 3, webhookURL: String? = nil, storeIO: Bool = true,
        runnerHint: String? = nil, apiKeyID: String? = nil, objectLifetime: TimeInterval? = nil,
        maxQueuedForKey: Int? = nil
    ) {
        self.id = id
        self.endpointID = endpointID
        self.input = input
        self.priority = priority
        self.startDeadline = startDeadline
        self.maxAttempts = maxAttempts
        self.webhookURL = webhookURL
        self.storeIO = storeIO
        self.runnerHint = runnerHint
        self.apiKeyID = apiKeyID
        self.objectLifetime = objectLifetime
        self.maxQueuedForKey = maxQueuedForKey
    }
}

/// The outcome of a finished job, exactly as the result endpoint answers it.
public struct JobResult: Sendable, Equatable {
    /// HTTP status of the result endpoint (200, or the model's 4xx/5xx, or 504 for a start timeout).
    public var status: Int
    /// Response body (JSON bytes): the model's output or a `{"detail",...}` error body.
    public var body: Data
    /// Error message for failed/cancelled jobs (status body `error`).
    public var errorMessage: String?
    /// fal `error_type` for failed/cancelled jobs.
    public var errorType: String?
    /// Seconds of inference (status `metrics.inference_time`).
    public var inferenceTime: Double?

    public init(status: Int, body: Data, errorMessage: String? = nil, errorType: String? = nil, inferenceTime: Double? = nil) {
        self.status = status
        self.body = body
        self.errorMessage = errorMessage
        self.errorType = errorType
        self.inferenceTime = inferenceTime
    }
}

/// A job as stored.
public struct Job: Sendable, Equatable {
    public var id: String
    public var endpointID: String
    /// Request body; `nil` once dropped (`storeIO == false` after delivery, or swept).
    public var input: Data?
    public var priority: JobPriority
    public var state: JobState
    /// Attempts started so far (incremented by each lease).
    public var attempt: Int
    public var maxAttempts: Int
    public var enqueuedAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var startDeadline: Date?
    public var leaseOwner: String?
    /// Unique to one lease of the job (a fresh value per attempt), `nil` when not running. The
    /// runner passes it back to extend, finish or release the job: an owner name alone cannot
    /// tell a stale attempt from a later lease of the same job by the same owner.
    public var leaseToken: String?
    public var leaseExpiresAt: Date?
    /// Set by `cancel` on a running job; the runner checks it and stops cooperatively.
    public var cancelRequested: Bool
    public var webhookURL: String?
    public var storeIO: Bool
    public var runnerHint: String?
    public var apiKeyID: String?
    public var objectLifetime: TimeInterval?
    /// Present once the job is terminal (until swept).
    public var result: JobResult?
    /// Incremented on every change (state, logs, progress): waiters compare versions.
    public var version: Int64

    public init(
        id: String, endpointID: String, input: Data?, priority: JobPriority, state: JobState, attempt: Int,
        maxAttempts: Int, enqueuedAt: Date, startedAt: Date?, finishedAt: Date?, startDeadline: Date?,
        leaseOwner: String?, leaseToken: String? = nil, leaseExpiresAt: Date?, cancelRequested: Bool,
        webhookURL: String?, storeIO: Bool, runnerHint: String?, apiKeyID: String?, objectLifetime: TimeInterval?,
        result: JobResult?, version: Int64
    ) {
        self.id = id
        self.endpointID = endpointID
        self.input = input
        self.priority = priority
        self.state = state
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.enqueuedAt = enqueuedAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.startDeadline = startDeadline
        self.leaseOwner = leaseOwner
        self.leaseToken = leaseToken
        self.leaseExpiresAt = leaseExpiresAt
        self.cancelRequested = cancelRequested
        self.webhookURL = webhookURL
        self.storeIO = storeIO
        self.runnerHint = runnerHint
        self.apiKeyID = apiKeyID
        self.objectLifetime = objectLifetime
        self.result = result
        self.version = version
    }
}

/// One log line of a job, in fal's shape.
public struct JobLogLine: Sendable, Equatable {
    public var message: String
    /// `INFO|WARN|ERROR|DEBUG|STDOUT|STDERR`.
    public var level: String
    public var timestamp: Date

    public init(message: String, level: String, timestamp: Date) {
        self.message = message
        self.level = level
        self.timestamp = timestamp
    }
}

/// What `cancel` did.
public enum CancelOutcome: Sendable, Equatable {
    /// The job was queued and is now `cancelled` (terminal).
    case cancelled
    /// The job is running; `cancelRequested` is set and the runner will stop it.
    case requested
    /// The job had already finished.
    case alreadyCompleted
    /// No such job.
    case notFound
}

/// A webhook delivery waiting in the outbox.
public struct WebhookDelivery: Sendable, Equatable {
    public var id: Int64
    public var requestID: String
    public var url: String
    /// The exact bytes to POST (signed as-is).
    public var body: Data
    /// Delivery attempts made so far.
    public var attempts: Int
    public var nextAttemptAt: Date
    /// The user the job belonged to (its API key id), sent as `X-Fal-Webhook-User-Id`;
    /// `nil` when the job was submitted without a key.
    public var userID: String? = nil

    public init(id: Int64, requestID: String, url: String, body: Data, attempts: Int, nextAttemptAt: Date) {
        self.id = id
        self.requestID = requestID
        self.url = url
        self.body = body
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
    }
}

/// Something that changed in the store, for waiters (status polls, SSE, dispatchers).
public enum JobNotification: Sendable, Equatable {
    /// A job was enqueued (or re-queued) for this endpoint id.
    case enqueued(endpointID: String)
    /// A job's row changed (state, logs, progress, cancellation request).
    case changed(id: String)
    /// A webhook delivery became due.
    case webhookPending
}
