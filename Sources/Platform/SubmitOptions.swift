import Foundation
import JobQueue

/// How one request is queued, beyond its input: what fal's `X-Fal-*` headers say over HTTP, and
/// what the CLI and benchmarks set directly.
public struct SubmitOptions: Sendable, Equatable {
    /// Queue priority.
    public var priority: JobPriority = .normal
    /// Seconds the request may wait to start.
    public var startTimeout: TimeInterval?
    /// Run once: an infrastructure failure fails the request instead of re-queuing it.
    public var noRetry = false
    /// Keep the input and result once the result was delivered.
    public var storeIO = true
    /// Free-form runner preference, stored with the job.
    public var runnerHint: String?
    /// Seconds output files must live.
    public var objectLifetime: TimeInterval?

    /// The largest values a request may ask for; a larger one is refused, so every time that
    /// reaches the store is a bounded, representable instant.
    public struct Limits: Sendable, Equatable {
        /// Largest `X-Fal-Request-Timeout`, in seconds.
        public var maxRequestTimeout: TimeInterval = ServerConfiguration().maxRequestTimeout
        /// Largest `expiration_duration_seconds`.
        public var maxObjectLifetime: TimeInterval = ServerConfiguration().maxObjectLifetime

        /// The defaults.
        public init() {}

        /// The limits `configuration` sets.
        public init(_ configuration: ServerConfiguration) {
            maxRequestTimeout = configuration.maxRequestTimeout
            maxObjectLifetime = configuration.maxObjectLifetime
        }
    }

    /// - Parameters:
    ///   - priority: queue priority.
    ///   - startTimeout: seconds the request may wait to start.
    ///   - noRetry: run at most once.
    ///   - storeIO: keep input and result after delivery.
    ///   - runnerHint: runner preference.
    ///   - objectLifetime: seconds output files must live.
    public init(
        priority: JobPriority = .normal, startTimeout: TimeInterval? = nil, noRetry: Bool = false, storeIO: Bool = true,
        runnerHint: String? = nil, objectLifetime: TimeInterval? = nil
    ) {
        self.priority = priority
        self.startTimeout = startTimeout
        self.noRetry = noRetry
        self.storeIO = storeIO
        self.runnerHint = runnerHint
        self.objectLifetime = objectLifetime
    }
}
