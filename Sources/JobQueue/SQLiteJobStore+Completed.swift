import Foundation
import GRDB

extension SQLiteJobStore: CompletedJobRecording {
    public func insertCompleted(_ job: NewJob, result: JobResult, logs: [JobLogLine], now: Date) async throws -> Job {
        let nowMS = StoredTime.milliseconds(now)
        let (inserted, transition) = try await database.write { db -> (Job, TerminalTransition?) in
            guard try Row.fetchOne(db, sql: """
                INSERT INTO jobs (id, endpoint_id, input, priority, state, max_attempts, enqueued_at, started_at,
                    start_deadline, webhook_url, store_io, runner_hint, api_key_id, object_lifetime)
                VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)
                RETURNING *
                """,
                arguments: [
                    job.id, job.endpointID, job.input, job.priority.rawValue, job.maxAttempts, nowMS, nowMS,
                    job.startDeadline.map(StoredTime.milliseconds), job.webhookURL, job.storeIO, job.runnerHint,
                    job.apiKeyID, job.objectLifetime,
                ]) != nil
            else { throw JobStoreError(.storage, "insert returned no row") }
            for line in logs {
                try db.execute(
                    sql: "INSERT INTO job_logs (job_id, message, level, timestamp) VALUES (?, ?, ?, ?)",
                    arguments: [job.id, line.message, line.level, StoredTime.milliseconds(line.timestamp)])
            }
            // The one terminal transition every finish goes through: the webhook row with it.
            let transition = try Self.terminate(
                db, id: job.id, guardSQL: "state = 'running'", guardArguments: [], state: .completed, result: result, now: now)
            guard let stored = try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [job.id]) else {
                throw JobStoreError(.storage, "inserted job vanished")
            }
            return (try Job(row: stored), transition)
        }
        broadcaster.publish(transition?.notifications ?? [.changed(id: inserted.id)])
        return inserted
    }
}
