import Foundation
import JobQueue
import PostgresNIO

extension PostgresJobStore {
    /// An expired lease is an infrastructure failure: the job goes back to the queue (keeping its
    /// place, since `enqueued_at` is unchanged) while attempts remain, else fails with
    /// `runner_disconnected`; a job that was asked to cancel ends `cancelled`. Rows another
    /// node's rescuer holds are skipped, so rescuers on several nodes never block each other.
    public func rescueExpiredLeases(now: Date) async throws -> [String] {
        let transitions = try await database.transaction { connection -> [Transition] in
            let rows = try await connection.query("""
                SELECT id, attempt, max_attempts, cancel_requested, lease_token FROM jobs
                WHERE state = 'running' AND lease_expires_at <= \(StoredTime.milliseconds(now))
                ORDER BY lease_expires_at, seq
                FOR UPDATE SKIP LOCKED
                """, logger: database.logger).collect()
            var transitions: [Transition] = []
            for row in rows {
                let (id, attempt, maxAttempts, cancelRequested, token) = try row.decode((String, Int, Int, Bool, String?).self)
                let condition = TransitionGuard.leaseOrNone(token)
                let transition: Transition?
                if !cancelRequested && attempt < maxAttempts {
                    transition = try await requeue(connection, id: id, guard: condition)
                } else {
                    transition = try await terminate(
                        connection, id: id, guard: condition, state: cancelRequested ? .cancelled : .failed,
                        result: cancelRequested ? .cancelled : .runnerDisconnected, now: now)
                }
                if let transition { transitions.append(transition) }
            }
            try await database.announce(transitions.flatMap(\.notifications), on: connection)
            return transitions
        }
        database.publish(transitions.flatMap(\.notifications))
        return transitions.map(\.id)
    }

    public func expireStartDeadlines(now: Date) async throws -> [String] {
        let transitions = try await database.transaction { connection -> [Transition] in
            let ids = try await connection.query("""
                SELECT id FROM jobs
                WHERE state = 'queued' AND start_deadline IS NOT NULL AND start_deadline <= \(StoredTime.milliseconds(now))
                ORDER BY start_deadline, seq
                FOR UPDATE SKIP LOCKED
                """, logger: database.logger).decode(String.self).gather()
            var transitions: [Transition] = []
            for id in ids {
                if let t = try await terminate(connection, id: id, guard: .queued, state: .failed, result: .requestTimeout, now: now) {
                    transitions.append(t)
                }
            }
            try await database.announce(transitions.flatMap(\.notifications), on: connection)
            return transitions
        }
        database.publish(transitions.flatMap(\.notifications))
        return transitions.map(\.id)
    }

    /// Deletes the jobs, their logs and their finished (delivered or dead) webhook rows; a
    /// pending delivery is kept, since it carries its own body.
    public func sweep(finishedBefore: Date) async throws -> [String] {
        try await database.transaction { connection -> [String] in
            let ids = try await connection.query("""
                DELETE FROM jobs
                WHERE state IN ('completed', 'failed', 'cancelled') AND finished_at < \(StoredTime.milliseconds(finishedBefore))
                RETURNING id
                """, logger: database.logger).decode(String.self).gather()
            guard !ids.isEmpty else { return [] }
            try await connection.query("DELETE FROM job_logs WHERE job_id = ANY(\(ids)::text[])", logger: database.logger)
            try await connection.query(
                "DELETE FROM webhook_outbox WHERE request_id = ANY(\(ids)::text[]) AND state <> 'pending'",
                logger: database.logger)
            return ids.sorted()
        }
    }

    /// Only a terminal job's payloads are dropped: a queued or running job still needs its input.
    /// Delivered webhook bodies (which embed the output) are emptied too.
    public func dropPayloads(id: String) async throws {
        let notifications: [JobNotification] = [.changed(id: id)]
        let changed = try await database.transaction { connection -> Bool in
            let changed = try await !connection.query("""
                UPDATE jobs SET input = NULL,
                    result_body = CASE WHEN result_status IS NULL THEN NULL ELSE '\\x'::bytea END,
                    version = version + 1
                WHERE id = \(id) AND state IN ('completed', 'failed', 'cancelled')
                RETURNING 1
                """, logger: database.logger).collect().isEmpty
            try await connection.query(
                "UPDATE webhook_outbox SET body = '\\x'::bytea WHERE request_id = \(id) AND state = 'delivered'",
                logger: database.logger)
            if changed { try await database.announce(notifications, on: connection) }
            return changed
        }
        if changed { database.publish(notifications) }
    }
}
