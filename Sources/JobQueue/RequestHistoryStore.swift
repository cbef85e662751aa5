import Foundation

/// The request history (fal's `GET /v1/models/requests/by-endpoint`): one page of requests of
/// some endpoints, newest first, read from the jobs the queue keeps until they are swept.
///
/// Kept apart from `JobStore`: a driver adds it when it can list its jobs by endpoint and key
/// with keyset pagination.
public protocol RequestHistoryStore: Sendable {
    /// One page of `query`, newest first (by enqueue time, then insertion order).
    /// - Throws: `JobStoreError.invalidArgument` for a query outside its bounds, or a storage error.
    func requestHistory(_ query: RequestHistoryQuery) async throws -> RequestHistoryPage
}

/// Whose requests a history query may see.
public enum RequestHistoryOwner: Sendable, Equatable {
    /// Every request (admin keys, or auth off).
    case everyone
    /// Only the requests this API key id submitted.
    case key(String)
}

/// The outcome classes fal filters requests by, plus the two in-flight states.
public enum RequestHistoryStatus: String, Sendable, CaseIterable {
    /// Finished with a result status below 400.
    case success
    /// Finished with a 4xx result (the model refused the input, or the caller cancelled).
    case userError = "user_error"
    /// Finished with a 5xx result or none (model failures, start timeouts, lost runners).
    case error
    /// Queued, not started.
    case inQueue = "in_queue"
    /// Running.
    case inProgress = "in_progress"
}

/// Where a history page ends: the last row's enqueue time and insertion order. The next page
/// holds the rows strictly older.
public struct RequestHistoryPosition: Sendable, Equatable, Hashable {
    /// Enqueue time, integer milliseconds since 1970.
    public var enqueuedAtMilliseconds: Int64
    /// Insertion order.
    public var sequence: Int64

    /// - Parameters:
    ///   - enqueuedAtMilliseconds: the row's enqueue time in milliseconds.
    ///   - sequence: the row's insertion order.
    public init(enqueuedAtMilliseconds: Int64, sequence: Int64) {
        self.enqueuedAtMilliseconds = enqueuedAtMilliseconds
        self.sequence = sequence
    }
}

/// What a history page asks for. Every field is bounded by the caller (the HTTP edge parses
/// the query string into it); the store checks the bounds again.
public struct RequestHistoryQuery: Sendable, Equatable {
    /// The most endpoints one query may name.
    public static let maxEndpoints = 50
    /// The largest page.
    public static let maxLimit = 100

    /// Endpoint ids to list (1 to `maxEndpoints`).
    public var endpointIDs: [String]
    /// Whose requests.
    public var owner: RequestHistoryOwner
    /// Earliest enqueue time, inclusive.
    public var start: Date
    /// Latest enqueue time, exclusive.
    public var end: Date
    /// Outcome classes to keep (`nil`: all).
    public var statuses: Set<RequestHistoryStatus>?
    /// Only this request.
    public var requestID: String?
    /// Continue after this position (from the previous page).
    public var after: RequestHistoryPosition?
    /// Page size, 1 to `maxLimit`.
    public var limit: Int
    /// Read input and result payloads too.
    public var includePayloads: Bool

    /// - Parameters:
    ///   - endpointIDs: endpoints to list.
    ///   - owner: whose requests.
    ///   - start: earliest enqueue time (inclusive).
    ///   - end: latest enqueue time (exclusive).
    ///   - statuses: outcome classes to keep, `nil` for all.
    ///   - requestID: only this request.
    ///   - after: the previous page's position.
    ///   - limit: page size.
    ///   - includePayloads: read payloads too.
    public init(
        endpointIDs: [String], owner: RequestHistoryOwner, start: Date, end: Date,
        statuses: Set<RequestHistoryStatus>? = nil, requestID: String? = nil, after: RequestHistoryPosition? = nil,
        limit: Int = 50, includePayloads: Bool = false
    ) {
        self.endpointIDs = endpointIDs
        self.owner = owner
        self.start = start
        self.end = end
        self.statuses = statuses
        self.requestID = requestID
        self.after = after
        self.limit = limit
        self.includePayloads = includePayloads
    }
}

/// One page of history.
public struct RequestHistoryPage: Sendable, Equatable {
    /// The requests, newest first; without payloads unless the query asked for them.
    public var jobs: [Job]
    /// Where the next page starts, `nil` when this is the last one.
    public var next: RequestHistoryPosition?

    /// - Parameters:
    ///   - jobs: the requests of this page.
    ///   - next: the next page's start.
    public init(jobs: [Job], next: RequestHistoryPosition?) {
        self.jobs = jobs
        self.next = next
    }
}
