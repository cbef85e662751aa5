import Foundation
import GRDB

extension Job {
    /// Decodes a full `jobs` row (`SELECT *` or `RETURNING *`).
    /// - Throws: `JobStoreError.corrupt` when the state or priority is unknown.
    init(row: Row) throws {
        let stateName: String = row["state"]
        let priorityValue: Int = row["priority"]
        guard let state = JobState(rawValue: stateName), let priority = JobPriority(rawValue: priorityValue) else {
            throw JobStoreError(.corrupt, "job row with state \(stateName), priority \(priorityValue)")
        }
        let resultStatus: Int? = row["result_status"]
        let result = resultStatus.map { status in
            JobResult(
                status: status, body: row["result_body"] ?? Data(), errorMessage: row["error_message"],
                errorType: row["error_type"], inferenceTime: row["inference_time"])
        }
        let startedAt: Int64? = row["started_at"]
        let finishedAt: Int64? = row["finished_at"]
        let startDeadline: Int64? = row["start_deadline"]
        let leaseExpiresAt: Int64? = row["lease_expires_at"]
        self.init(
            id: row["id"], endpointID: row["endpoint_id"], input: row["input"], priority: priority, state: state,
            attempt: row["attempt"], maxAttempts: row["max_attempts"],
            enqueuedAt: StoredTime.date(row["enqueued_at"]),
            startedAt: startedAt.map(StoredTime.date), finishedAt: finishedAt.map(StoredTime.date),
            startDeadline: startDeadline.map(StoredTime.date), leaseOwner: row["lease_owner"],
            leaseToken: row["lease_token"],
            leaseExpiresAt: leaseExpiresAt.map(StoredTime.date), cancelRequested: row["cancel_requested"],
            webhookURL: row["webhook_url"], storeIO: row["store_io"], runnerHint: row["runner_hint"],
            apiKeyID: row["api_key_id"], objectLifetime: row["object_lifetime"], result: result,
            version: row["version"])
    }
}

extension WebhookDelivery {
    /// Decodes a `webhook_outbox` row.
    init(row: Row) {
        self.init(
            id: row["id"], requestID: row["request_id"], url: row["url"], body: row["body"],
            attempts: row["attempts"], nextAttemptAt: StoredTime.date(row["next_attempt_at"]))
        self.userID = row["user_id"]
    }
}
