import Foundation

/// One unfinished request in `GET /admin/requests` (and the answer of
/// `GET /admin/requests/{id}`, which also knows finished ones and can carry the logs): what
/// `peregrine ps` and `peregrine logs` show.
public struct RequestSummary: Sendable, Codable, Equatable {
    /// The request id.
    public var requestID: String
    /// Full endpoint id `owner/alias[/path]`.
    public var endpointID: String
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    public var state: String
    /// Jobs ahead of it, while queued.
    public var queuePosition: Int?
    /// `normal` or `low`.
    public var priority: String
    /// Attempts started so far.
    public var attempt: Int
    /// When it was submitted (ISO-8601).
    public var enqueuedAt: String
    /// When its current attempt started (ISO-8601), while running or finished.
    public var startedAt: String?
    /// The API key id that submitted it, if auth was on.
    public var apiKeyID: String?
    /// Its log lines, when asked for (`?logs=1` on `GET /admin/requests/{id}`).
    public var logs: [LogLine]?

    /// - Parameters: the request's fields, as stored.
    public init(
        requestID: String, endpointID: String, state: String, queuePosition: Int?, priority: String, attempt: Int,
        enqueuedAt: Date, startedAt: Date?, apiKeyID: String?
    ) {
        self.requestID = requestID
        self.endpointID = endpointID
        self.state = state
        self.queuePosition = queuePosition
        self.priority = priority
        self.attempt = attempt
        self.enqueuedAt = ISO8601.string(from: enqueuedAt)
        self.startedAt = startedAt.map(ISO8601.string(from:))
        self.apiKeyID = apiKeyID
    }

    enum CodingKeys: String, CodingKey {
        case state, priority, attempt
        case requestID = "request_id"
        case endpointID = "endpoint_id"
        case queuePosition = "queue_position"
        case enqueuedAt = "enqueued_at"
        case startedAt = "started_at"
        case apiKeyID = "api_key_id"
        case logs
    }

    /// Whether the request has finished (completed, failed or cancelled).
    public var isFinished: Bool { ["completed", "failed", "cancelled"].contains(state) }
}

/// `GET /admin/requests`: `{"requests": [...]}`, running first, then queued in submit order.
public struct RequestList: Sendable, Codable, Equatable {
    /// The unfinished requests (at most the `limit` asked for).
    public var requests: [RequestSummary]

    /// - Parameter requests: the requests.
    public init(requests: [RequestSummary]) { self.requests = requests }
}

/// One model in `GET /admin/residency`: whether it is in memory and its load.
public struct ModelResidency: Sendable, Codable, Equatable {
    /// Endpoint id.
    public var endpointID: String
    /// `unloaded`, `loading` or `loaded`.
    public var phase: String
    /// Bytes it holds (or reserves while loading) against the memory budget.
    public var bytes: Int
    /// Requests waiting for it in this process.
    public var queued: Int
    /// Requests it is running.
    public var running: Int

    /// - Parameters: the model's residency fields.
    public init(endpointID: String, phase: String, bytes: Int, queued: Int, running: Int) {
        self.endpointID = endpointID
        self.phase = phase
        self.bytes = bytes
        self.queued = queued
        self.running = running
    }

    enum CodingKeys: String, CodingKey {
        case phase, bytes, queued, running
        case endpointID = "endpoint_id"
    }
}

/// `GET /admin/residency`: the runner pool's models and memory.
public struct ResidencyReport: Sendable, Codable, Equatable {
    /// Every served model, resident ones first.
    public var models: [ModelResidency]
    /// Bytes resident models hold.
    public var residentBytes: Int
    /// The memory budget.
    public var budgetBytes: Int

    /// - Parameters: the pool's figures.
    public init(models: [ModelResidency], residentBytes: Int, budgetBytes: Int) {
        self.models = models
        self.residentBytes = residentBytes
        self.budgetBytes = budgetBytes
    }

    enum CodingKeys: String, CodingKey {
        case models
        case residentBytes = "resident_bytes"
        case budgetBytes = "budget_bytes"
    }
}
