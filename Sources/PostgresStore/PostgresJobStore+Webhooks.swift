import Foundation
import JobQueue
import PostgresNIO

extension PostgresJobStore {
    /// How long a delivery handed out by `dueWebhooks` is hidden from other callers (as in
    /// `SQLiteJobStore`): a sender records the outcome well within this; if it dies first, the
    /// row becomes due again.
    static let webhookClaim: TimeInterval = 120

    /// Returns due deliveries and claims them in one statement: their `next_attempt_at` moves
    /// `webhookClaim` seconds ahead, and rows another node is claiming are skipped, so two senders
    /// never POST the same row at once. The returned `nextAttemptAt` is the time the row was due.
    public func dueWebhooks(now: Date, limit: Int) async throws -> [WebhookDelivery] {
        guard limit > 0 else { return [] }
        let nowMS = StoredTime.milliseconds(now)
        let claimedUntil = StoredTime.milliseconds(now.addingTimeInterval(Self.webhookClaim))
        // A lost claim only makes the row due again: not flushed before it returns.
        let rows = try await database.rows(PostgresQuery(unsafeSQL: """
            WITH due AS (
                SELECT id, next_attempt_at AS due_at FROM webhook_outbox
                WHERE state = 'pending' AND next_attempt_at <= $1
                ORDER BY next_attempt_at, id
                LIMIT $2
                FOR UPDATE SKIP LOCKED)
            UPDATE webhook_outbox w SET next_attempt_at = $3
            FROM due WHERE w.id = due.id
            RETURNING w.id, w.request_id, w.user_id, w.url, w.body, w.attempts, due.due_at,
                \(ClusterDatabase.notDurable) AS not_durable
            """, binds: Self.binds(nowMS, limit, claimedUntil)))
        return try rows.map(WebhookDelivery.init(postgres:)).sorted {
            ($0.nextAttemptAt, $0.id) < ($1.nextAttemptAt, $1.id)
        }
    }

    public func recordWebhookAttempt(
        id: Int64, delivered: Bool, nextAttemptAt: Date?, error: String?, now: Date
    ) async throws {
        // No notification: a rescheduled row is due later, and the sender's poll finds it then.
        if delivered {
            try await database.rows("""
                UPDATE webhook_outbox
                SET state = 'delivered', attempts = attempts + 1, delivered_at = \(StoredTime.milliseconds(now)), last_error = NULL
                WHERE id = \(id) AND state = 'pending'
                """)
        } else if let nextAttemptAt {
            try await database.rows("""
                UPDATE webhook_outbox
                SET attempts = attempts + 1, next_attempt_at = \(StoredTime.milliseconds(nextAttemptAt)), last_error = \(error)
                WHERE id = \(id) AND state = 'pending'
                """)
        } else {
            try await database.rows("""
                UPDATE webhook_outbox SET state = 'dead', attempts = attempts + 1, last_error = \(error)
                WHERE id = \(id) AND state = 'pending'
                """)
        }
    }
}
