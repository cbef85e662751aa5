import Foundation
import GRDB

extension SQLiteJobStore: ActiveJobListing {
    public func activeJobs(limit: Int) async throws -> [Job] {
        try await database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT seq, id, endpoint_id, priority, state, attempt, max_attempts, enqueued_at, started_at,
                    finished_at, start_deadline, lease_owner, lease_token, lease_expires_at, cancel_requested, webhook_url,
                    store_io, runner_hint, api_key_id, object_lifetime, result_status, error_message, error_type,
                    inference_time, version
                FROM jobs WHERE state IN ('queued', 'running')
                ORDER BY state = 'queued', CASE WHEN state = 'running' THEN started_at ELSE enqueued_at END, seq
                LIMIT ?
                """, arguments: [max(0, limit)]).map(Job.init(row:))
        }
    }
}
