import Crypto
import Foundation
import JobQueue
import ModelKit

/// Idempotent submits: the submitter's store keeps the key with the job when it can.
extension JobSubmitter {
    /// Longest accepted `Idempotency-Key`, in bytes.
    public static let maxIdempotencyKeyBytes = 255

    /// The store's idempotency keys, `nil` when its driver keeps none.
    public var idempotency: (any IdempotencyStore)? { store as? any IdempotencyStore }

    /// Whether `key` is an acceptable `Idempotency-Key`: 1 to `maxIdempotencyKeyBytes` visible
    /// ASCII characters (no spaces or control bytes), so it is stored and logged as sent.
    public static func isValidIdempotencyKey(_ key: String) -> Bool {
        let bytes = key.utf8
        return (1...maxIdempotencyKeyBytes).contains(bytes.count) && bytes.allSatisfy { (0x21...0x7e).contains($0) }
    }

    /// SHA-256 of the endpoint id and the request body in canonical form (keys sorted), so the
    /// same request reads the same however its JSON was spaced or ordered.
    public static func fingerprint(endpointID: String, input: JSONValue) -> Data {
        var hasher = SHA256()
        hasher.update(data: Data(endpointID.utf8))
        hasher.update(data: Data([0x0a]))
        hasher.update(data: input.encoded())
        return Data(hasher.finalize())
    }

    /// Inserts a prepared job under an idempotency key, or finds the job the key names.
    /// - Throws: `SubmitError.queueFull` when its key has too many requests queued;
    ///   `JobStoreError.invalidArgument` when the store keeps no idempotency keys.
    public func enqueue(_ job: NewJob, claim: IdempotencyClaim, now: Date = Date()) async throws -> IdempotentEnqueue {
        guard let idempotency else { throw JobStoreError(.invalidArgument, "this job store keeps no idempotency keys") }
        do {
            return try await idempotency.enqueue(job, claim: claim, now: now)
        } catch let error as JobStoreError where error.code == .queueLimit {
            throw SubmitError.queueFull(error.message)
        }
    }
}
