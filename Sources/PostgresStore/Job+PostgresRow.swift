import Foundation
import JobQueue
import PostgresNIO

extension Job {
    /// Decodes a full `jobs` row (`SELECT *` or `RETURNING *`).
    /// - Throws: `JobStoreError.corrupt` when a column is missing, mistyped or out of range.
    init(postgres row: PostgresRow) throws {
        let row = row.makeRandomAccess()
        do {
            let stateName = try row["state"].decode(String.self)
            let priorityValue = try row["priority"].decode(Int.self)
            guard let state = JobState(rawValue: stateName), let priority = JobPriority(rawValue: priorityValue) else {
                throw JobStoreError(.corrupt, "job row with state \(stateName), priority \(priorityValue)")
            }
            let result = try row["result_status"].decode(Int?.self).map { status in
                JobResult(
                    status: status, body: try row["result_body"].decode(Data?.self) ?? Data(),
                    errorMessage: try row["error_message"].decode(String?.self),
                    errorType: try row["error_type"].decode(String?.self),
                    inferenceTime: try row["inference_time"].decode(Double?.self))
            }
            func date(_ column: String) throws -> Date? { try row[column].decode(Int64?.self).map(StoredTime.date) }
            self.init(
                id: try row["id"].decode(String.self), endpointID: try row["endpoint_id"].decode(String.self),
                input: try row["input"].decode(Data?.self), priority: priority, state: state,
                attempt: try row["attempt"].decode(Int.self), maxAttempts: try row["max_attempts"].decode(Int.self),
                enqueuedAt: StoredTime.date(try row["enqueued_at"].decode(Int64.self)),
                startedAt: try date("started_at"), finishedAt: try date("finished_at"),
                startDeadline: try date("start_deadline"), leaseOwner: try row["lease_owner"].decode(String?.self),
                leaseToken: try row["lease_token"].decode(String?.self), leaseExpiresAt: try date("lease_expires_at"),
                cancelRequested: try row["cancel_requested"].decode(Bool.self),
                webhookURL: try row["webhook_url"].decode(String?.self), storeIO: try row["store_io"].decode(Bool.self),
                runnerHint: try row["runner_hint"].decode(String?.self), apiKeyID: try row["api_key_id"].decode(String?.self),
                objectLifetime: try row["object_lifetime"].decode(Double?.self), result: result,
                version: try row["version"].decode(Int64.self))
        } catch let error as JobStoreError {
            throw error
        } catch {
            throw JobStoreError(.corrupt, "undecodable job row", underlying: error)
        }
    }
}

extension WebhookDelivery {
    /// Decodes a `webhook_outbox` row whose due time is in the column `due_at`.
    init(postgres row: PostgresRow) throws {
        let row = row.makeRandomAccess()
        do {
            self.init(
                id: try row["id"].decode(Int64.self), requestID: try row["request_id"].decode(String.self),
                url: try row["url"].decode(String.self), body: try row["body"].decode(Data.self),
                attempts: try row["attempts"].decode(Int.self),
                nextAttemptAt: StoredTime.date(try row["due_at"].decode(Int64.self)))
            userID = try row["user_id"].decode(String?.self)
        } catch {
            throw JobStoreError(.corrupt, "undecodable webhook row", underlying: error)
        }
    }
}
