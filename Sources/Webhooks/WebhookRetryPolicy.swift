import Foundation

/// When to try a failed webhook delivery again: exponential backoff, a fixed number of attempts.
///
/// The default, 10 attempts with delays 15 s, 30 s, 1 min, ... doubling up to an hour, spreads
/// the attempts over about two hours (7,425 s), like fal's hosted queue. No jitter: deliveries
/// fail at independent times already, and a deterministic schedule is easy to reason about.
public struct WebhookRetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    /// Delay after the first failed attempt.
    public var initialDelay: TimeInterval
    /// Factor applied to the delay after each further failure.
    public var multiplier: Double
    /// Upper bound of one delay.
    public var maxDelay: TimeInterval

    /// - Parameters: see the properties; defaults give about two hours over 10 attempts.
    public init(maxAttempts: Int = 10, initialDelay: TimeInterval = 15, multiplier: Double = 2, maxDelay: TimeInterval = 3600) {
        self.maxAttempts = maxAttempts
        self.initialDelay = initialDelay
        self.multiplier = multiplier
        self.maxDelay = maxDelay
    }

    /// The delay before the next attempt once `attemptsMade` attempts have failed, or `nil`
    /// when no attempt is left.
    public func delay(afterFailedAttempts attemptsMade: Int) -> TimeInterval? {
        guard attemptsMade >= 1, attemptsMade < maxAttempts else { return nil }
        return min(maxDelay, initialDelay * pow(multiplier, Double(attemptsMade - 1)))
    }
}
