import Foundation
import JobQueue
import PostgresNIO

extension PostgresJobStore: ActiveJobListing {
    /// Running jobs first (by start), then queued ones (by submit), without their payloads.
    public func activeJobs(limit: Int) async throws -> [Job] {
        let limit = max(0, limit)
        return try await database.rows("""
            SELECT seq, id, endpoint_id, priority, state, attempt, max_attempts, enqueued_at, started_at,
                finished_at, start_deadline, lease_owner, lease_token, lease_expires_at, cancel_requested, webhook_url,
                store_io, runner_hint, api_key_id, object_lifetime, result_status, error_message, error_type,
                inference_time, version, NULL::bytea AS input, NULL::bytea AS result_body
            FROM jobs WHERE state IN ('queued', 'running')
            ORDER BY state = 'queued', CASE WHEN state = 'running' THEN started_at ELSE enqueued_at END, seq
            LIMIT \(limit)
            """).map(Job.init(postgres:))
    }
}
