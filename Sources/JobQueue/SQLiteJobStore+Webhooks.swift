import Foundation
import GRDB

extension SQLiteJobStore {
    /// How long a delivery handed out by `dueWebhooks` is hidden from other callers. A sender
    /// records the outcome well within this; if it dies first, the row becomes due again.
    static let webhookClaim: TimeInterval = 120

    /// Returns due deliveries and claims them: their `next_attempt_at` moves `webhookClaim`
    /// seconds ahead in the same statement, so two senders (or two polls racing a wake-up) do not
    /// POST the same row at once. The returned `nextAttemptAt` is the time the row was due.
    public func dueWebhooks(now: Date, limit: Int) async throws -> [WebhookDelivery] {
        guard limit > 0 else { return [] }
        let nowMS = StoredTime.milliseconds(now)
        // A lost claim only makes the row due again: not fsynced.
        return try await database.write(durable: false) { db in
            let due = try Row.fetchAll(db, sql: """
                SELECT * FROM webhook_outbox
                WHERE state = 'pending' AND next_attempt_at <= ?
                ORDER BY next_attempt_at, id
                LIMIT ?
                """, arguments: [nowMS, limit])
            let claim = try db.makeStatement(sql: "UPDATE webhook_outbox SET next_attempt_at = ? WHERE id = ?")
            let claimedUntil = StoredTime.milliseconds(now.addingTimeInterval(Self.webhookClaim))
            for row in due {
                try claim.execute(arguments: [claimedUntil, row["id"] as Int64])
            }
            return due.map(WebhookDelivery.init(row:))
        }
    }

    public func recordWebhookAttempt(
        id: Int64, delivered: Bool, nextAttemptAt: Date?, error: String?, now: Date
    ) async throws {
        let nowMS = StoredTime.milliseconds(now)
        // No notification: a rescheduled row is due later, and the sender's poll finds it then.
        try await database.write { db in
            if delivered {
                try db.execute(sql: """
                    UPDATE webhook_outbox
                    SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = NULL
                    WHERE id = ? AND state = 'pending'
                    """, arguments: [nowMS, id])
            } else if let nextAttemptAt {
                try db.execute(sql: """
                    UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?
                    WHERE id = ? AND state = 'pending'
                    """, arguments: [StoredTime.milliseconds(nextAttemptAt), error, id])
            } else {
                try db.execute(sql: """
                    UPDATE webhook_outbox SET state = 'dead', attempts = attempts + 1, last_error = ?
                    WHERE id = ? AND state = 'pending'
                    """, arguments: [error, id])
            }
        }
    }
}
