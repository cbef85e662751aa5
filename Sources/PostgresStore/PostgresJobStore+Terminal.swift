import Foundation
import JobQueue
import PostgresNIO

/// Which rows a transition may touch, besides the id: the guards of `SQLiteJobStore`.
enum TransitionGuard: Sendable {
    /// Running under this lease.
    case lease(String)
    /// Running under this lease token or, when `nil`, under none (rows from before tokens).
    case leaseOrNone(String?)
    /// Still queued.
    case queued
}

/// What a transition did, for the notifications announced in its transaction.
struct Transition: Sendable {
    var id: String
    var notifications: [JobNotification]
}

extension PostgresJobStore {
    /// Moves one job to a terminal state and, in the same transaction, queues its webhook.
    /// - Returns: the transition, or `nil` when the guard matched no row.
    func terminate(
        _ connection: PostgresConnection, id: String, guard condition: TransitionGuard, state: JobState,
        result: JobResult, now: Date
    ) async throws -> Transition? {
        precondition(state.isTerminal, "terminate needs a terminal state")
        let nowMS = StoredTime.milliseconds(now)
        var binds = PostgresBindings()
        binds.append(id)  // $1
        binds.append(state.rawValue)  // $2
        binds.append(nowMS)  // $3
        binds.append(result.status)  // $4
        try binds.append(result.body)  // $5
        binds.append(result.errorMessage)  // $6
        binds.append(result.errorType)  // $7
        binds.append(result.inferenceTime)  // $8
        let guardSQL = Self.guardSQL(condition, binds: &binds)
        let rows = try await connection.query(PostgresQuery(unsafeSQL: """
            UPDATE jobs
            SET state = $2, finished_at = $3, lease_expires_at = NULL, lease_token = NULL, result_status = $4,
                result_body = $5, error_message = $6, error_type = $7, inference_time = $8, version = version + 1
            WHERE id = $1 AND \(guardSQL)
            RETURNING webhook_url, api_key_id
            """, binds: binds), logger: database.logger).collect()
        guard let row = rows.first else { return nil }
        let (webhookURL, apiKeyID) = try row.decode((String?, String?).self)
        if let webhookURL {
            let body = WebhookPayload.body(requestID: id, state: state, result: result)
            try await connection.query("""
                INSERT INTO webhook_outbox (request_id, user_id, url, body, next_attempt_at, created_at)
                VALUES (\(id), \(apiKeyID), \(webhookURL), \(body), \(nowMS), \(nowMS))
                """, logger: database.logger)
        }
        return Transition(id: id, notifications: webhookURL != nil ? [.changed(id: id), .webhookPending] : [.changed(id: id)])
    }

    /// Sends a running job back to the queue for another attempt.
    /// - Returns: the transition, or `nil` when the guard matched no row.
    func requeue(_ connection: PostgresConnection, id: String, guard condition: TransitionGuard) async throws -> Transition? {
        var binds = PostgresBindings()
        binds.append(id)
        let guardSQL = Self.guardSQL(condition, binds: &binds)
        let rows = try await connection.query(PostgresQuery(unsafeSQL: """
            UPDATE jobs
            SET state = 'queued', lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, version = version + 1
            WHERE id = $1 AND \(guardSQL)
            RETURNING endpoint_id
            """, binds: binds), logger: database.logger).decode(String.self).gather()
        return rows.first.map { Transition(id: id, notifications: [.changed(id: id), .enqueued(endpointID: $0)]) }
    }

    /// The guard's condition, its arguments appended to `binds` (numbered after those already there).
    static func guardSQL(_ condition: TransitionGuard, binds: inout PostgresBindings) -> String {
        switch condition {
        case .lease(let token):
            binds.append(token)
            return "state = 'running' AND lease_token = $\(binds.count)"
        case .leaseOrNone(let token):
            binds.append(token)
            return "state = 'running' AND lease_token IS NOT DISTINCT FROM $\(binds.count)::text"
        case .queued:
            return "state = 'queued'"
        }
    }
}
