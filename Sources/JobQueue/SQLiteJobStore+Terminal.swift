import Foundation
import GRDB

/// What a terminal transition did, for the notifications published after the commit.
struct TerminalTransition: Sendable {
    var id: String
    var wroteWebhook: Bool

    var notifications: [JobNotification] {
        wroteWebhook ? [.changed(id: id), .webhookPending] : [.changed(id: id)]
    }
}

extension SQLiteJobStore {
    /// Moves one job to a terminal state and, in the same transaction, queues its webhook.
    ///
    /// - Parameters:
    ///   - guardSQL: extra condition the row must meet (the state/owner guard), ANDed with the id.
    ///   - guardArguments: arguments of `guardSQL`.
    /// - Returns: the transition, or `nil` when the guard matched no row.
    static func terminate(
        _ db: Database, id: String, guardSQL: String, guardArguments: StatementArguments,
        state: JobState, result: JobResult, now: Date
    ) throws -> TerminalTransition? {
        precondition(state.isTerminal, "terminate needs a terminal state")
        let nowMS = StoredTime.milliseconds(now)
        let arguments: StatementArguments = [
            state.rawValue, nowMS, result.status, result.body, result.errorMessage, result.errorType,
            result.inferenceTime, id,
        ]
        guard let row = try Row.fetchOne(db, sql: """
            UPDATE jobs
            SET state = ?, finished_at = ?, lease_expires_at = NULL, lease_token = NULL, result_status = ?, result_body = ?,
                error_message = ?, error_type = ?, inference_time = ?, version = version + 1
            WHERE id = ? AND \(guardSQL)
            RETURNING webhook_url, api_key_id
            """, arguments: arguments + guardArguments)
        else { return nil }
        let webhookURL: String? = row["webhook_url"]
        if let webhookURL {
            try db.execute(sql: """
                INSERT INTO webhook_outbox (request_id, user_id, url, body, next_attempt_at, created_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
                arguments: [
                    id, row["api_key_id"] as String?, webhookURL,
                    WebhookPayload.body(requestID: id, state: state, result: result), nowMS, nowMS,
                ])
        }
        return TerminalTransition(id: id, wroteWebhook: webhookURL != nil)
    }

    /// Sends a running job back to the queue for another attempt.
    static func requeue(_ db: Database, id: String, guardSQL: String, guardArguments: StatementArguments) throws
        -> String?
    {
        try String.fetchOne(db, sql: """
            UPDATE jobs
            SET state = 'queued', lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, version = version + 1
            WHERE id = ? AND \(guardSQL)
            RETURNING endpoint_id
            """, arguments: StatementArguments([id]) + guardArguments)
    }
}
