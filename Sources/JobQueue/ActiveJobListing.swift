import Foundation

/// A job store that can list its unfinished jobs (the admin API's `GET /admin/requests`,
/// `peregrine ps`). Apart from `JobStore` so a driver adopts it when it can answer cheaply.
public protocol ActiveJobListing: Sendable {
    /// Queued and running jobs without their payloads: running first (by start), then queued
    /// (by submit time), at most `limit`.
    func activeJobs(limit: Int) async throws -> [Job]
}
