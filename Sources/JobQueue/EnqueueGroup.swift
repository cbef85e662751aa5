import Foundation
import NIOConcurrencyHelpers

/// Group commit for `enqueue`: every accepted job must be fsynced before its caller is answered,
/// and one fsync costs milliseconds, so enqueues that arrive while a commit is in flight wait and
/// are then inserted together, in one transaction and one fsync.
///
/// The first caller with no commit in flight becomes the leader: it commits its own job together
/// with everyone waiting at that moment, answers them, and hands leadership to the next waiter
/// that arrived during its commit (or ends the group). No task is spawned; each leader works in
/// its own caller's task.
final class EnqueueGroup: Sendable {
    /// What a caller is told when it is woken.
    enum Turn: Sendable {
        /// The job was committed (or refused) in a leader's transaction.
        case done(Result<Job, any Error>)
        /// Commit your job and whoever waits.
        case lead
    }

    struct Waiter: Sendable {
        var job: NewJob
        var continuation: CheckedContinuation<Turn, Never>
    }

    private struct State {
        var waiting: [Waiter] = []
        var leaderActive = false
    }

    private let state = NIOLockedValueBox(State())

    /// Waits for this job's turn: `.lead` at once when no commit is in flight.
    func arrive(_ job: NewJob) async -> Turn {
        await withCheckedContinuation { continuation in
            let lead = state.withLockedValue { state -> Bool in
                if state.leaderActive {
                    state.waiting.append(Waiter(job: job, continuation: continuation))
                    return false
                }
                state.leaderActive = true
                return true
            }
            if lead { continuation.resume(returning: .lead) }
        }
    }

    /// The waiters the leader commits with its own job.
    func takeWaiting() -> [Waiter] {
        state.withLockedValue { state in
            defer { state.waiting = [] }
            return state.waiting
        }
    }

    /// Ends a leader's turn: the next waiter leads, or the group goes idle.
    func handOff() {
        let next = state.withLockedValue { state -> Waiter? in
            if state.waiting.isEmpty {
                state.leaderActive = false
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.continuation.resume(returning: .lead)
    }
}
