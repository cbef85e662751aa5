import Foundation

/// Stores a request that is finished the moment it arrives (its result was already known, from
/// the result cache): the job row inserted terminal, its log lines and, in the same
/// transaction, its webhook delivery. A driver without it still serves such requests, through
/// the queue: the runner answers them from the cache without running the model.
public protocol CompletedJobRecording: Sendable {
    /// Inserts `job` as `completed` with `result`, committed to disk before returning.
    /// - Throws: `JobStoreError` on a duplicate id or a storage failure.
    func insertCompleted(_ job: NewJob, result: JobResult, logs: [JobLogLine], now: Date) async throws -> Job
}
