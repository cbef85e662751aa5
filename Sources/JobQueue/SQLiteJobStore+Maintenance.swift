import Foundation
import GRDB

extension SQLiteJobStore {
    /// An expired lease is an infrastructure failure: the job goes back to the queue (keeping its
    /// place, since `enqueued_at` is unchanged) while attempts remain, else fails with
    /// `runner_disconnected`; a job that was asked to cancel ends `cancelled`.
    public func rescueExpiredLeases(now: Date) async throws -> [String] {
        let outcome = try await database.write { db -> ([String], [JobNotification]) in
            let rows = try Row.fetchAll(db, sql: """
                SELECT id, attempt, max_attempts, cancel_requested, lease_token FROM jobs
                WHERE state = 'running' AND lease_expires_at <= ?
                ORDER BY lease_expires_at, seq
                """, arguments: [StoredTime.milliseconds(now)])
            var ids: [String] = []
            var notifications: [JobNotification] = []
            for row in rows {
                let id: String = row["id"]
                let attempt: Int = row["attempt"]
                let maxAttempts: Int = row["max_attempts"]
                let cancelRequested: Bool = row["cancel_requested"]
                let guardSQL = "state = 'running' AND lease_token IS ?"
                let guardArguments: StatementArguments = [row["lease_token"] as String?]
                if !cancelRequested && attempt < maxAttempts {
                    if let endpoint = try Self.requeue(db, id: id, guardSQL: guardSQL, guardArguments: guardArguments) {
                        ids.append(id)
                        notifications += [.changed(id: id), .enqueued(endpointID: endpoint)]
                    }
                } else if let t = try Self.terminate(
                    db, id: id, guardSQL: guardSQL, guardArguments: guardArguments,
                    state: cancelRequested ? .cancelled : .failed,
                    result: cancelRequested ? .cancelled : .runnerDisconnected, now: now)
                {
                    ids.append(id)
                    notifications += t.notifications
                }
            }
            return (ids, notifications)
        }
        broadcaster.publish(outcome.1)
        return outcome.0
    }

    public func expireStartDeadlines(now: Date) async throws -> [String] {
        let transitions = try await database.write { db -> [TerminalTransition] in
            let ids = try String.fetchAll(db, sql: """
                SELECT id FROM jobs
                WHERE state = 'queued' AND start_deadline IS NOT NULL AND start_deadline <= ?
                ORDER BY start_deadline, seq
                """, arguments: [StoredTime.milliseconds(now)])
            return try ids.compactMap { id in
                try Self.terminate(
                    db, id: id, guardSQL: "state = 'queued'", guardArguments: [], state: .failed,
                    result: .requestTimeout, now: now)
            }
        }
        broadcaster.publish(transitions.flatMap(\.notifications))
        return transitions.map(\.id)
    }

    /// Deletes the jobs, their logs and their finished (delivered or dead) webhook rows; a
    /// pending delivery is kept, since it carries its own body.
    public func sweep(finishedBefore: Date) async throws -> [String] {
        try await database.write { db in
            let ids = try String.fetchAll(db, sql: """
                DELETE FROM jobs
                WHERE state IN ('completed', 'failed', 'cancelled') AND finished_at < ?
                RETURNING id
                """, arguments: [StoredTime.milliseconds(finishedBefore)])
            let deleteLogs = try db.makeStatement(sql: "DELETE FROM job_logs WHERE job_id = ?")
            let deleteWebhooks = try db.makeStatement(
                sql: "DELETE FROM webhook_outbox WHERE request_id = ? AND state <> 'pending'")
            for id in ids {
                try deleteLogs.execute(arguments: [id])
                try deleteWebhooks.execute(arguments: [id])
            }
            return ids.sorted()
        }
    }

    /// Only a terminal job's payloads are dropped: a queued or running job still needs its input.
    /// Delivered webhook bodies (which embed the output) are emptied too.
    public func dropPayloads(id: String) async throws {
        let changed = try await database.write { db -> Bool in
            try db.execute(sql: """
                UPDATE jobs SET input = NULL, result_body = CASE WHEN result_status IS NULL THEN NULL ELSE x'' END,
                    version = version + 1
                WHERE id = ? AND state IN ('completed', 'failed', 'cancelled')
                """, arguments: [id])
            let changed = db.changesCount > 0
            try db.execute(
                sql: "UPDATE webhook_outbox SET body = x'' WHERE request_id = ? AND state = 'delivered'",
                arguments: [id])
            return changed
        }
        if changed { broadcaster.publish([.changed(id: id)]) }
    }
}
