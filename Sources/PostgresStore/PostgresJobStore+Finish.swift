import Foundation
import JobQueue
import PostgresNIO

extension PostgresJobStore {
    public func finish(id: String, leaseToken: String, state: JobState, result: JobResult, now: Date) async throws -> Bool {
        guard state.isTerminal else {
            throw JobStoreError(.invalidArgument, "finish needs a terminal state, got \(state.rawValue)")
        }
        let transition = try await database.transaction { connection -> Transition? in
            let t = try await terminate(connection, id: id, guard: .lease(leaseToken), state: state, result: result, now: now)
            if let t { try await database.announce(t.notifications, on: connection) }
            return t
        }
        guard let transition else { return false }
        database.publish(transition.notifications)
        return true
    }

    /// A job that was asked to cancel ends `cancelled` instead of being retried.
    public func release(id: String, leaseToken: String, retryable: Bool, result: JobResult, now: Date) async throws
        -> JobState?
    {
        let outcome = try await database.transaction { connection -> (JobState, Transition)? in
            guard let row = try await connection.query("""
                SELECT attempt, max_attempts, cancel_requested FROM jobs
                WHERE id = \(id) AND state = 'running' AND lease_token = \(leaseToken)
                FOR UPDATE
                """, logger: database.logger).collect().first
            else { return nil }
            let (attempt, maxAttempts, cancelRequested) = try row.decode((Int, Int, Bool).self)
            let outcome: (JobState, Transition)?
            if cancelRequested {
                outcome = try await terminate(
                    connection, id: id, guard: .lease(leaseToken), state: .cancelled, result: .cancelled, now: now
                ).map { (.cancelled, $0) }
            } else if retryable && attempt < maxAttempts {
                outcome = try await requeue(connection, id: id, guard: .lease(leaseToken)).map { (.queued, $0) }
            } else {
                outcome = try await terminate(
                    connection, id: id, guard: .lease(leaseToken), state: .failed, result: result, now: now
                ).map { (.failed, $0) }
            }
            if let outcome { try await database.announce(outcome.1.notifications, on: connection) }
            return outcome
        }
        guard let outcome else { return nil }
        database.publish(outcome.1.notifications)
        return outcome.0
    }

    public func cancel(id: String, now: Date) async throws -> CancelOutcome {
        let outcome = try await database.transaction { connection -> (CancelOutcome, [JobNotification]) in
            guard let stateName = try await connection.query(
                "SELECT state FROM jobs WHERE id = \(id) FOR UPDATE", logger: database.logger
            ).decode(String.self).gather().first
            else { return (.notFound, []) }
            let outcome: (CancelOutcome, [JobNotification])
            switch JobState(rawValue: stateName) {
            case .queued:
                let t = try await terminate(connection, id: id, guard: .queued, state: .cancelled, result: .cancelled, now: now)
                outcome = (.cancelled, t?.notifications ?? [])
            case .running:
                try await connection.query(
                    "UPDATE jobs SET cancel_requested = true, version = version + 1 WHERE id = \(id) AND state = 'running'",
                    logger: database.logger)
                outcome = (.requested, [.changed(id: id)])
            case .completed, .failed, .cancelled:
                outcome = (.alreadyCompleted, [])
            case nil:
                throw JobStoreError(.corrupt, "job \(id) has state \(stateName)")
            }
            try await database.announce(outcome.1, on: connection)
            return outcome
        }
        database.publish(outcome.1)
        return outcome.0
    }
}
