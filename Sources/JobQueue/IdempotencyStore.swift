import Foundation

/// Idempotency keys (`Idempotency-Key` on submit): a retried submit with the same key and the
/// same request gets the original job back instead of a second one.
///
/// Kept apart from `JobStore` so a driver adds it when it can keep the key and the job in one
/// transaction: a key is stored only together with the job it names, so no crash leaves a key
/// without its job or a job without its key.
public protocol IdempotencyStore: Sendable {
    /// Enqueues `job` under `claim` in one transaction, unless a live key of the same scope
    /// already names a job: then nothing is inserted and that job is returned.
    ///
    /// A key is live until `expiresAt` and while the job it names still exists (a swept job
    /// frees its key).
    /// - Parameters:
    ///   - job: the job to insert when the key is new.
    ///   - claim: the key, its scope and the fingerprint of the request.
    ///   - now: compared with stored expiries; a new key lives until `now + claim.window`.
    /// - Returns: what happened (`created`, `replayed`, or `conflict` for a different request).
    /// - Throws: `JobStoreError` as `JobStore.enqueue` does (queue limit, storage).
    func enqueue(_ job: NewJob, claim: IdempotencyClaim, now: Date) async throws -> IdempotentEnqueue

    /// The job id a live key names, or `nil`: a cheap read before deciding to refuse a submit,
    /// so that a retry is answered with its original request rather than refused.
    func idempotentRequest(scope: String, key: String, now: Date) async throws -> String?

    /// Deletes keys that expired before `now`.
    /// - Returns: how many were deleted.
    func sweepIdempotencyKeys(now: Date) async throws -> Int
}

/// An idempotency key as one submit claims it.
public struct IdempotencyClaim: Sendable, Equatable {
    /// Whose key it is: the API key id (keys are scoped per API key; `""` with auth off).
    public var scope: String
    /// The `Idempotency-Key` value.
    public var key: String
    /// SHA-256 of the endpoint and the canonical request body: the same key with another
    /// fingerprint is a different request.
    public var fingerprint: Data
    /// How long the key holds, in seconds.
    public var window: TimeInterval

    /// - Parameters:
    ///   - scope: the API key id (`""` without auth).
    ///   - key: the header's value.
    ///   - fingerprint: the request's digest.
    ///   - window: the key's lifetime in seconds.
    public init(scope: String, key: String, fingerprint: Data, window: TimeInterval) {
        self.scope = scope
        self.key = key
        self.fingerprint = fingerprint
        self.window = window
    }
}

/// The outcome of `IdempotencyStore.enqueue`.
public enum IdempotentEnqueue: Sendable, Equatable {
    /// The key was new: the job was inserted (committed to disk).
    case created(Job)
    /// The key names an earlier job of the same request: that job (without payloads).
    case replayed(Job)
    /// The key names an earlier job of a different request (its id).
    case conflict(requestID: String)
}
