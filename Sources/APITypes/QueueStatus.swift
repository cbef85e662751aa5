import Foundation

/// The three public states of a request. fal's clients know no others: the Python client raises
/// on anything else and the JS client polls forever.
public enum QueueStatusKind: String, Sendable, Codable, Equatable {
    case inQueue = "IN_QUEUE"
    case inProgress = "IN_PROGRESS"
    case completed = "COMPLETED"
}

/// Whether and how the `logs` key appears in a status body.
///
/// The key must be present (`null` or an array) once a request is in progress or completed,
/// and is left out while it is queued.
public enum StatusLogs: Sendable, Equatable {
    /// No `logs` key at all (queued requests).
    case absent
    /// `"logs": null` (logs not asked for).
    case null
    /// `"logs": [...]`.
    case lines([LogLine])
}

/// `metrics` of a completed request.
public struct StatusMetrics: Sendable, Codable, Equatable {
    /// Seconds the model ran.
    public var inferenceTime: Double?

    /// - Parameter inferenceTime: seconds the model ran, when known.
    public init(inferenceTime: Double?) { self.inferenceTime = inferenceTime }

    enum CodingKeys: String, CodingKey { case inferenceTime = "inference_time" }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        // fal sends the key even when it has no number, so clients can read it unconditionally.
        try c.encode(inferenceTime, forKey: .inferenceTime)
    }
}

/// The body of `GET .../requests/{id}/status` and of each event of `status/stream`.
public struct QueueStatus: Sendable, Equatable {
    /// `IN_QUEUE`, `IN_PROGRESS` or `COMPLETED`.
    public var status: QueueStatusKind
    /// The request id.
    public var requestID: String
    /// `GET` here for the result.
    public var responseURL: String
    /// `GET` here for the status.
    public var statusURL: String
    /// `PUT` here to cancel.
    public var cancelURL: String
    /// Jobs ahead of this one (0 = next); required while `IN_QUEUE`.
    public var queuePosition: Int?
    /// Whether and how `logs` appears.
    public var logs: StatusLogs
    /// Present when `COMPLETED`.
    public var metrics: StatusMetrics?
    /// Message of a failed or cancelled request.
    public var error: String?
    /// fal `error_type` of a failed or cancelled request.
    public var errorType: String?
    /// Predicted start of a queued request (ISO-8601, like log timestamps), when the model has
    /// latency history. A Peregrine extension; fal's clients ignore keys they do not know.
    public var etaStart: String?
    /// Predicted finish of a queued or running request (ISO-8601), when the model has history.
    public var etaFinish: String?

    /// A queued request.
    public static func inQueue(requestID: String, urls: RequestURLs, position: Int) -> QueueStatus {
        QueueStatus(status: .inQueue, requestID: requestID, urls: urls, queuePosition: position, logs: .absent)
    }

    /// A running request; `logs` is `nil` when not asked for.
    public static func inProgress(requestID: String, urls: RequestURLs, logs: [LogLine]?) -> QueueStatus {
        QueueStatus(status: .inProgress, requestID: requestID, urls: urls, logs: logs.map { .lines($0) } ?? .null)
    }

    /// A finished request (successful, failed or cancelled).
    public static func completed(
        requestID: String, urls: RequestURLs, logs: [LogLine]?, inferenceTime: Double?, error: String? = nil,
        errorType: String? = nil
    ) -> QueueStatus {
        QueueStatus(
            status: .completed, requestID: requestID, urls: urls, logs: logs.map { .lines($0) } ?? .null,
            metrics: StatusMetrics(inferenceTime: inferenceTime), error: error, errorType: errorType)
    }

    /// Memberwise initializer; prefer the `inQueue`/`inProgress`/`completed` factories.
    public init(
        status: QueueStatusKind, requestID: String, urls: RequestURLs, queuePosition: Int? = nil,
        logs: StatusLogs, metrics: StatusMetrics? = nil, error: String? = nil, errorType: String? = nil
    ) {
        self.status = status
        self.requestID = requestID
        self.responseURL = urls.response
        self.statusURL = urls.status
        self.cancelURL = urls.cancel
        self.queuePosition = queuePosition
        self.logs = logs
        self.metrics = metrics
        self.error = error
        self.errorType = errorType
    }
}

extension QueueStatus: Codable {
    enum CodingKeys: String, CodingKey {
        case status
        case requestID = "request_id"
        case responseURL = "response_url"
        case statusURL = "status_url"
        case cancelURL = "cancel_url"
        case queuePosition = "queue_position"
        case logs, metrics, error
        case errorType = "error_type"
        case etaStart = "eta_start"
        case etaFinish = "eta_finish"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        status = try c.decode(QueueStatusKind.self, forKey: .status)
        requestID = try c.decode(String.self, forKey: .requestID)
        responseURL = try c.decodeIfPresent(String.self, forKey: .responseURL) ?? ""
        statusURL = try c.decodeIfPresent(String.self, forKey: .statusURL) ?? ""
        cancelURL = try c.decodeIfPresent(String.self, forKey: .cancelURL) ?? ""
        queuePosition = try c.decodeIfPresent(Int.self, forKey: .queuePosition)
        if !c.contains(.logs) {
            logs = .absent
        } else if let lines = try c.decodeIfPresent([LogLine].self, forKey: .logs) {
            logs = .lines(lines)
        } else {
            logs = .null
        }
        metrics = try c.decodeIfPresent(StatusMetrics.self, forKey: .metrics)
        error = try c.decodeIfPresent(String.self, forKey: .error)
        errorType = try c.decodeIfPresent(String.self, forKey: .errorType)
        etaStart = try c.decodeIfPresent(String.self, forKey: .etaStart)
        etaFinish = try c.decodeIfPresent(String.self, forKey: .etaFinish)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encode(requestID, forKey: .requestID)
        try c.encode(responseURL, forKey: .responseURL)
        try c.encode(statusURL, forKey: .statusURL)
        try c.encode(cancelURL, forKey: .cancelURL)
        try c.encodeIfPresent(queuePosition, forKey: .queuePosition)
        switch logs {
        case .absent: break
        case .null: try c.encodeNil(forKey: .logs)
        case .lines(let lines): try c.encode(lines, forKey: .logs)
        }
        try c.encodeIfPresent(metrics, forKey: .metrics)
        try c.encodeIfPresent(error, forKey: .error)
        try c.encodeIfPresent(errorType, forKey: .errorType)
        try c.encodeIfPresent(etaStart, forKey: .etaStart)
        try c.encodeIfPresent(etaFinish, forKey: .etaFinish)
    }
}

/// The three absolute URLs of a queued request.
public struct RequestURLs: Sendable, Equatable {
    /// `GET` for the result.
    public var response: String
    /// `GET` for the status.
    public var status: String
    /// `PUT` to cancel.
    public var cancel: String

    /// Builds the URLs under `base` (`https://host:port/queue/{owner}/{alias}`).
    public init(base: String, requestID: String) {
        response = "\(base)/requests/\(requestID)"
        status = "\(response)/status"
        cancel = "\(response)/cancel"
    }
}
