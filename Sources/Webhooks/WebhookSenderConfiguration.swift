import Foundation

/// Settings of `WebhookSender`.
public struct WebhookSenderConfiguration: Sendable {
    /// How often the outbox is polled when no notification wakes the sender (retries become due
    /// by time, not by notification).
    public var pollInterval: Duration
    /// Deliveries taken from the outbox per poll.
    public var batchSize: Int
    /// Deliveries in flight at once.
    public var concurrency: Int
    /// Limit for connecting to a receiver.
    public var connectTimeout: Duration
    /// Limit for a whole delivery (lookup, connect, send, the whole response): a receiver that
    /// trickles its answer is cut off here and the delivery retried. Must stay well under the
    /// store's claim on handed-out rows (two minutes for SQLite).
    public var requestTimeout: Duration
    /// The backoff schedule.
    public var retry: WebhookRetryPolicy
    /// `X-Fal-Webhook-User-Id` for jobs submitted without an API key.
    public var defaultUserID: String
    /// `User-Agent` of deliveries.
    public var userAgent: String
    /// Most bytes of a receiver's answer that are read (the rest is dropped with the connection).
    public var maxResponseBytes: Int

    /// Defaults: poll every second, 32 per batch, 8 in flight, 10 s connect, 30 s total, 64 KiB
    /// of each answer read.
    public init(
        pollInterval: Duration = .seconds(1), batchSize: Int = 32, concurrency: Int = 8,
        connectTimeout: Duration = .seconds(10), requestTimeout: Duration = .seconds(30),
        retry: WebhookRetryPolicy = .init(), defaultUserID: String = "peregrine",
        userAgent: String = "peregrine-webhooks/1", maxResponseBytes: Int = 64 << 10
    ) {
        self.pollInterval = pollInterval
        self.batchSize = batchSize
        self.concurrency = concurrency
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.retry = retry
        self.defaultUserID = defaultUserID
        self.userAgent = userAgent
        self.maxResponseBytes = max(0, maxResponseBytes)
    }
}
