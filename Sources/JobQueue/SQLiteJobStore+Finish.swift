import Foundation
import GRDB

extension SQLiteJobStore {
    public func finish(id: String, leaseToken: String, state: JobState, result: JobResult, now: Date) async throws -> Bool {
        guard state.isTerminal else {
            throw JobStoreError(.invalidArgument, "finish needs a terminal state, got \(state.rawValue)")
        }
        let transition = try await database.write { db in
            try Self.terminate(
                db, id: id, guardSQL: "state = 'running' AND lease_token = ?", guardArguments: [leaseToken],
                state: state, result: result, now: now)
        }
        guard let transition else { return false }
        broadcaster.publish(transition.notifications)
        return true
    }

    /// A job that was asked to cancel ends `cancelled` instead of being retried.
    public func release(id: String, leaseToken: String, retryable: Bool, result: JobResult, now: Date) async throws
        -> JobState?
    {
        let guardSQL = "state = 'running' AND lease_token = ?"
        let outcome = try await database.write { db -> (JobState, [JobNotification])? in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT attempt, max_attempts, cancel_requested FROM jobs
                WHERE id = ? AND state = 'running' AND lease_token = ?
                """, arguments: [id, leaseToken])
            else { return nil }
            let attempt: Int = row["attempt"]
            let maxAttempts: Int = row["max_attempts"]
            let cancelRequested: Bool = row["cancel_requested"]
            if cancelRequested {
                let t = try Self.terminate(
                    db, id: id, guardSQL: guardSQL, guardArguments: [leaseToken], state: .cancelled,
                    result: .cancelled, now: now)
                return t.map { (.cancelled, $0.notifications) }
            }
            if retryable && attempt < maxAttempts {
                let endpoint = try Self.requeue(db, id: id, guardSQL: guardSQL, guardArguments: [leaseToken])
                return endpoint.map { (.queued, [.changed(id: id), .enqueued(endpointID: $0)]) }
            }
            let t = try Self.terminate(
                db, id: id, guardSQL: guardSQL, guardArguments: [leaseToken], state: .failed, result: result, now: now)
            return t.map { (.failed, $0.notifications) }
        }
        guard let outcome else { return nil }
        broadcaster.publish(outcome.1)
        return outcome.0
    }

    public func cancel(id: String, now: Date) async throws -> CancelOutcome {
        let outcome = try await database.write { db -> (CancelOutcome, [JobNotification]) in
            guard let stateName = try String.fetchOne(db, sql: "SELECT state FROM jobs WHERE id = ?", arguments: [id])
            else { return (.notFound, []) }
            switch JobState(rawValue: stateName) {
            case .queued:
                let t = try Self.terminate(
                    db, id: id, guardSQL: "state = 'queued'", guardArguments: [], state: .cancelled,
                    result: .cancelled, now: now)
                return (.cancelled, t?.notifications ?? [])
            case .running:
                try db.execute(
                    sql: "UPDATE jobs SET cancel_requested = 1, version = version + 1 WHERE id = ? AND state = 'running'",
                    arguments: [id])
                return (.requested, [.changed(id: id)])
            case .completed, .failed, .cancelled:
                return (.alreadyCompleted, [])
            case nil:
                throw JobStoreError(.corrupt, "job \(id) has state \(stateName)")
            }
        }
        broadcaster.publish(outcome.1)
        return outcome.0
    }
}
