import Foundation
import NIOConcurrencyHelpers

/// Why a running job is being stopped before the model returned.
enum StopReason: Sendable, Equatable {
    /// The caller cancelled the request.
    case userCancelled
    /// The process is shutting down and the grace period ran out.
    case shutdown
    /// Another runner owns the job now (our lease expired).
    case leaseLost
}

/// A running job as the pool tracks it: its stop reason and the task running the model.
final class JobHandle: Sendable {
    let id: String
    let endpointID: String
    private struct State {
        var reason: StopReason?
        var task: Task<Void, Never>?
    }
    private let state = NIOLockedValueBox(State())

    init(id: String, endpointID: String) {
        self.id = id
        self.endpointID = endpointID
    }

    /// The first reason given to `stop`, if any.
    var stopReason: StopReason? { state.withLockedValue({ $0 }).reason }

    /// True once the caller asked for cancellation (what `RunContext.isCancelled` reports).
    var isCancelled: Bool { state.withLockedValue({ $0 }).reason != nil }

    /// Registers the task running the model, cancelling it at once if a stop came first.
    func attach(_ task: Task<Void, Never>) {
        let cancelNow = state.withLockedValue { s -> Bool in
            s.task = task
            return s.reason != nil
        }
        if cancelNow { task.cancel() }
    }

    /// Stops the job: the first reason wins; the model's task is cancelled.
    func stop(_ reason: StopReason) {
        let task = state.withLockedValue { s -> Task<Void, Never>? in
            if s.reason == nil { s.reason = reason }
            return s.task
        }
        task?.cancel()
    }
}
