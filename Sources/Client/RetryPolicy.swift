import Foundation

/// When and how long ``PeregrineClient`` waits before trying a call again, as fal's clients do:
/// connection errors and answers 408, 409, 429, 502, 503 and 504 are retried with exponential
/// backoff and jitter up to ``maxAttempts`` tries; a 504 whose request ran out of its own
/// `X-Fal-Request-Timeout` (`X-Fal-Request-Timeout-Type: user`) never is. A `Retry-After`
/// header replaces the backoff (bounded by ``maxRetryAfter``).
///
/// The waiting itself goes through ``sleep`` and the randomness through ``jitter``, so tests
/// drive both and never wait for real.
public struct RetryPolicy: Sendable {
    /// Tries in all, the first included (fal: 10); 1 disables retries.
    public var maxAttempts: Int
    /// Delay before the first retry; doubled for each further one.
    public var baseDelay: Duration
    /// Longest backoff delay.
    public var maxDelay: Duration
    /// Longest wait a `Retry-After` header may ask for (a hostile or confused server cannot
    /// park the client for hours).
    public var maxRetryAfter: Duration
    /// A factor the backoff delay is multiplied by (fal: uniform in 0.5...1.5).
    public var jitter: @Sendable () -> Double
    /// Waits; throws when the task is cancelled.
    public var sleep: @Sendable (Duration) async throws -> Void

    /// - Parameters:
    ///   - maxAttempts: tries in all (at least 1).
    ///   - baseDelay: first backoff delay.
    ///   - maxDelay: longest backoff delay.
    ///   - maxRetryAfter: longest `Retry-After` honoured.
    ///   - jitter: the backoff factor's source.
    ///   - sleep: how to wait.
    public init(
        maxAttempts: Int = 10, baseDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(30),
        maxRetryAfter: Duration = .seconds(60), jitter: @escaping @Sendable () -> Double = { Double.random(in: 0.5...1.5) },
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxRetryAfter = maxRetryAfter
        self.jitter = jitter
        self.sleep = sleep
    }

    /// No retries at all.
    public static var never: RetryPolicy { RetryPolicy(maxAttempts: 1) }

    /// Status codes retried (fal's `RETRY_CODES` and ingress errors).
    static let retriedStatuses: Set<Int> = [408, 409, 429, 502, 503, 504]

    /// Whether `error` is worth another try.
    /// - Parameter serverErrorsAreOutcome: true for calls whose 5xx, when it names the request
    ///   (`x-fal-request-id`), is the model's own answer (a result, a synchronous run): asking
    ///   again would repeat it or run the model again. Without the header the 5xx came from
    ///   something in front of the server (fal's ingress rule) and is retried.
    static func shouldRetry(_ error: ClientError, serverErrorsAreOutcome: Bool = false) -> Bool {
        if error.code == .transport { return true }
        guard let status = error.status, !error.isUserTimeout, retriedStatuses.contains(status) else { return false }
        if serverErrorsAreOutcome && status >= 500 && error.requestID != nil { return false }
        return true
    }

    /// The wait before retry number `retry` (1 = the first retry): the server's `Retry-After`
    /// when it gave one, else `baseDelay * 2^(retry-1)` times the jitter, capped at `maxDelay`.
    func delay(retry: Int, retryAfter: Duration?) -> Duration {
        if let retryAfter { return min(max(retryAfter, .zero), maxRetryAfter) }
        let exponent = min(max(retry - 1, 0), 30)
        let backoff = min(baseDelay * (1 << exponent), maxDelay)
        let factor = jitter()
        let jittered = backoff * (factor.isFinite ? min(max(factor, 0), 2) : 1)
        return min(jittered, maxDelay)
    }

    /// Parses a `Retry-After` value: delay seconds (bounded) or an HTTP date.
    /// - Parameters:
    ///   - value: the header value.
    ///   - now: the current time, for dates.
    /// - Returns: the delay, or `nil` when absent or unreadable.
    public static func retryAfter(_ value: String?, now: Date = Date()) -> Duration? {
        guard let text = value?.trimmingCharacters(in: .whitespaces), !text.isEmpty, text.utf8.count < 64 else { return nil }
        if text.allSatisfy(\.isASCII), let seconds = Double(text), seconds.isFinite {
            // One day is far beyond any sensible wait; the policy caps it further.
            return .milliseconds(Int64((min(max(seconds, 0), 86_400) * 1000).rounded()))
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: text) else { return nil }
        let seconds = min(max(date.timeIntervalSince(now), 0), 86_400)
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}
