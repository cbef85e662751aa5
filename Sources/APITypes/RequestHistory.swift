import Foundation
import ModelKit

/// One request in fal's platform-API history (`GET /v1/models/requests/by-endpoint`).
public struct RequestHistoryItem: Sendable, Codable, Equatable {
    /// The request id.
    public var requestID: String
    /// Full endpoint id.
    public var endpointID: String
    /// When it was submitted (ISO-8601).
    public var sentAt: String
    /// When its last attempt started, once started.
    public var startedAt: String?
    /// When it finished, once finished.
    public var endedAt: String?
    /// The result's HTTP status, once finished.
    public var statusCode: Int?
    /// Seconds from start to finish, once finished after starting.
    public var duration: Double?
    /// `IN_QUEUE`, `IN_PROGRESS` or `COMPLETED` (a Peregrine extension: fal lists finished
    /// requests only, this history includes those still waiting or running).
    public var status: QueueStatusKind
    /// The request body, with `expand=payloads` while it is stored.
    public var jsonInput: JSONValue?
    /// The result body, with `expand=payloads` while it is stored.
    public var jsonOutput: JSONValue?

    /// - Parameters:
    ///   - requestID: the request id.
    ///   - endpointID: full endpoint id.
    ///   - sentAt: when it was submitted.
    ///   - startedAt: when its last attempt started, if it did.
    ///   - endedAt: when it finished, if it did.
    ///   - statusCode: the result's HTTP status, once finished.
    ///   - status: the public status.
    ///   - jsonInput: the request body, when payloads are asked for.
    ///   - jsonOutput: the result body, when payloads are asked for.
    public init(
        requestID: String, endpointID: String, sentAt: Date, startedAt: Date?, endedAt: Date?, statusCode: Int?,
        status: QueueStatusKind, jsonInput: JSONValue? = nil, jsonOutput: JSONValue? = nil
    ) {
        self.requestID = requestID
        self.endpointID = endpointID
        self.sentAt = ISO8601.string(from: sentAt)
        self.startedAt = startedAt.map(ISO8601.string(from:))
        self.endedAt = endedAt.map(ISO8601.string(from:))
        self.statusCode = statusCode
        // Whole milliseconds, as the stored times are.
        if let startedAt, let endedAt { duration = (max(0, endedAt.timeIntervalSince(startedAt)) * 1000).rounded() / 1000 }
        self.status = status
        self.jsonInput = jsonInput
        self.jsonOutput = jsonOutput
    }

    enum CodingKeys: String, CodingKey {
        case requestID = "request_id"
        case endpointID = "endpoint_id"
        case sentAt = "sent_at"
        case startedAt = "started_at"
        case endedAt = "ended_at"
        case statusCode = "status_code"
        case duration, status
        case jsonInput = "json_input"
        case jsonOutput = "json_output"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(requestID, forKey: .requestID)
        try c.encode(endpointID, forKey: .endpointID)
        try c.encode(sentAt, forKey: .sentAt)
        // fal's shape names every field; an unknown value is null rather than missing.
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(endedAt, forKey: .endedAt)
        try c.encode(statusCode, forKey: .statusCode)
        try c.encode(duration, forKey: .duration)
        try c.encode(status, forKey: .status)
        try c.encodeIfPresent(jsonInput, forKey: .jsonInput)
        try c.encodeIfPresent(jsonOutput, forKey: .jsonOutput)
    }
}

/// A page of request history: `items`, and `next_cursor` for the next page while `has_more`.
public struct RequestHistoryResponse: Sendable, Codable, Equatable {
    /// The requests, newest first.
    public var items: [RequestHistoryItem]
    /// Opaque cursor of the next page (`null` on the last).
    public var nextCursor: String?
    /// Whether another page follows.
    public var hasMore: Bool

    /// - Parameters:
    ///   - items: this page.
    ///   - nextCursor: the next page's cursor.
    public init(items: [RequestHistoryItem], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
        hasMore = nextCursor != nil
    }

    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
        case hasMore = "has_more"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(items, forKey: .items)
        try c.encode(nextCursor, forKey: .nextCursor)
        try c.encode(hasMore, forKey: .hasMore)
    }
}
