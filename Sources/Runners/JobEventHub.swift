import Foundation
import JobQueue
import ModelKit
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Fans the store's notifications out to the tasks waiting on them (status streams, sync runs,
/// runners), and keeps the latest progress report of each running job in memory.
///
/// One subscription to the store serves the whole process, so a thousand waiting SSE streams
/// cost one notification stream, not a thousand. Subscribers get an `AsyncStream<Void>` that
/// buffers at most one wake-up: they re-read the job after each, so coalescing loses nothing.
public final class JobEventHub: Service, Sendable {
    private struct State {
        var nextToken = 0
        /// Per job: subscribers, and whether each also wants progress wake-ups.
        var byJob: [String: [Int: (continuation: AsyncStream<Void>.Continuation, progress: Bool)]] = [:]
        var byEndpoint: [String: [Int: AsyncStream<Void>.Continuation]] = [:]
        var progress: [String: ModelKit.Progress] = [:]
        var finished = false
    }

    private let source: AsyncStream<JobNotification>
    private let state = NIOLockedValueBox(State())

    /// Subscribes to `store` at once, so nothing published after this returns is missed.
    public init(store: any JobStore) {
        source = store.notifications()
    }

    /// Dispatches notifications until graceful shutdown, then ends every subscriber stream.
    public func run() async throws {
        for await notification in source.cancelOnGracefulShutdown() {
            switch notification {
            case .changed(let id): signal(job: id, progressOnly: false)
            case .enqueued(let endpointID):
                let targets = state.withLockedValue { Array(($0.byEndpoint[endpointID] ?? [:]).values) }
                for t in targets { t.yield() }
            case .webhookPending: break
            }
        }
        let all = state.withLockedValue { s -> [AsyncStream<Void>.Continuation] in
            s.finished = true
            return s.byJob.values.flatMap { $0.values.map(\.continuation) } + s.byEndpoint.values.flatMap(\.values)
        }
        for c in all { c.finish() }
    }

    /// Wake-ups for every change of job `id` in the store (state, logs, cancellation request),
    /// and, when `includingProgress`, for each progress report.
    public func changes(of id: String, includingProgress: Bool = false) -> AsyncStream<Void> {
        subscribe { s, token, c in s.byJob[id, default: [:]][token] = (c, includingProgress) } remove: { s, token in
            s.byJob[id]?[token] = nil
            if s.byJob[id]?.isEmpty == true { s.byJob[id] = nil }
        }
    }

    /// Wake-ups whenever a job is enqueued (or re-queued) for one of `endpointIDs`.
    public func enqueued(for endpointIDs: [String]) -> AsyncStream<Void> {
        subscribe { s, token, c in
            for e in endpointIDs { s.byEndpoint[e, default: [:]][token] = c }
        } remove: { s, token in
            for e in endpointIDs {
                s.byEndpoint[e]?[token] = nil
                if s.byEndpoint[e]?.isEmpty == true { s.byEndpoint[e] = nil }
            }
        }
    }

    /// Records a running job's progress and wakes its waiters.
    public func publishProgress(_ progress: ModelKit.Progress, job id: String) {
        state.withLockedValue { $0.progress[id] = progress }
        signal(job: id, progressOnly: true)
    }

    /// The last progress a running job reported, if any.
    public func progress(of id: String) -> ModelKit.Progress? {
        state.withLockedValue { $0.progress[id] }
    }

    /// Forgets a finished job's progress.
    public func clearProgress(job id: String) {
        _ = state.withLockedValue { $0.progress.removeValue(forKey: id) }
    }

    private func signal(job id: String, progressOnly: Bool) {
        let targets = state.withLockedValue { s in
            (s.byJob[id] ?? [:]).values.filter { !progressOnly || $0.progress }.map(\.continuation)
        }
        for t in targets { t.yield() }
    }

    private func subscribe(
        add: (inout State, Int, AsyncStream<Void>.Continuation) -> Void,
        remove: @escaping @Sendable (inout State, Int) -> Void
    ) -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let registered = state.withLockedValue { s -> Bool in
            guard !s.finished else { return false }
            let token = s.nextToken
            s.nextToken += 1
            add(&s, token, continuation)
            continuation.onTermination = { [state] _ in state.withLockedValue { remove(&$0, token) } }
            return true
        }
        if !registered { continuation.finish() }
        return stream
    }
}
