/// The answer to a queue submit: the request id and where to follow it.
public struct SubmitResponse: Sendable, Codable, Equatable {
    /// Always `IN_QUEUE`.
    public var status: QueueStatusKind
    /// The request id.
    public var requestID: String
    /// `GET` here for the result.
    public var responseURL: String
    /// `GET` here for the status.
    public var statusURL: String
    /// `PUT` here to cancel.
    public var cancelURL: String
    /// Jobs ahead of this one (0 = next).
    public var queuePosition: Int
    /// fal's id of the gateway request; the request id here.
    public var gatewayRequestID: String

    /// - Parameters:
    ///   - requestID: the new request's id.
    ///   - urls: its absolute URLs.
    ///   - queuePosition: jobs ahead of it.
    public init(requestID: String, urls: RequestURLs, queuePosition: Int) {
        status = .inQueue
        self.requestID = requestID
        responseURL = urls.response
        statusURL = urls.status
        cancelURL = urls.cancel
        self.queuePosition = queuePosition
        gatewayRequestID = requestID
    }

    enum CodingKeys: String, CodingKey {
        case status
        case requestID = "request_id"
        case responseURL = "response_url"
        case statusURL = "status_url"
        case cancelURL = "cancel_url"
        case queuePosition = "queue_position"
        case gatewayRequestID = "gateway_request_id"
    }
}

/// The body of a cancel answer: `CANCELLATION_REQUESTED` (202), `ALREADY_COMPLETED` (400) or
/// `NOT_FOUND` (404).
public struct CancelResponse: Sendable, Codable, Equatable {
    /// fal's status name.
    public var status: String

    /// - Parameter status: one of fal's cancel outcomes.
    public init(status: String) { self.status = status }

    /// 202: the request is cancelled or will stop.
    public static let requested = CancelResponse(status: "CANCELLATION_REQUESTED")
    /// 400: the request had already finished.
    public static let alreadyCompleted = CancelResponse(status: "ALREADY_COMPLETED")
    /// 404: no such request.
    public static let notFound = CancelResponse(status: "NOT_FOUND")
}
