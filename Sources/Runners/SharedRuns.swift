import Foundation
import ModelKit
import NIOConcurrencyHelpers

/// The result cache as the runner pool sees it: which requests carry a cache key, answers for a
/// key already computed, and where a computed answer is kept. The platform implements it over
/// its blob store and cache index.
public protocol JobResultCache: Sendable {
    /// The cache key of a request, or `nil` when it is not to be cached (or shared).
    func pendingKey(jobID: String) async -> String?

    /// Whether an answer for `key` is stored.
    func contains(key: String) async -> Bool

    /// The stored answer for `key`, made out for one request (its own file URLs, to the same
    /// files, living at least `lifetime` seconds), or `nil` when there is none.
    func output(for key: String, lifetime: TimeInterval?) async -> (output: JSONValue, inferenceTime: Double?)?

    /// Keeps a computed answer under `key` (files first, then the index row).
    func record(key: String, endpointID: String, output: JSONValue, inferenceTime: Double?, lifetime: TimeInterval?) async

    /// The request ended; its key is no longer needed.
    func finished(jobID: String) async
}

/// Computations in flight in this process, by cache key: the first request with a key starts
/// one, later requests with the same key join it, and every one of them gets its outcome. A
/// request that leaves (cancelled, shut down, lease lost) stops waiting at once; the computation
/// goes on until its last waiter leaves, and only then is it cancelled.
final class SharedRuns: Sendable {
    typealias Outcome = Result<JSONValue, any Error>

    private struct Flight {
        let token: UInt64
        var task: Task<Void, Never>?
        var waiters: [String: CheckedContinuation<Outcome, Never>] = [:]
    }
    private struct State {
        var flights: [String: Flight] = [:]
        var nextToken: UInt64 = 0
        /// Waiters whose cancellation arrived before they were registered.
        var cancelledEarly: Set<String> = []
    }
    private let state = NIOLockedValueBox(State())

    /// Waiters of the computation for `key` now (tests wait on it).
    func waiters(of key: String) -> Int { state.withLockedValue { $0.flights[key]?.waiters.count ?? 0 } }

    /// Waits for the outcome of the computation for `key`, starting it with `body` when none is
    /// in flight.
    /// - Parameters:
    ///   - key: the cache key.
    ///   - waiter: the request id joining (unique among running requests).
    ///   - joined: told `true` when this call joined a computation another request started.
    ///   - body: the computation; it outlives the request that started it while others wait.
    /// - Returns: the computation's outcome, or `CancellationError` when this waiter's task was
    ///   cancelled first.
    func join(
        key: String, waiter: String, joined: @escaping @Sendable (Bool) -> Void,
        body: @escaping @Sendable () async -> Outcome
    ) async -> Outcome {
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                let start = state.withLockedValue { s -> UInt64? in
                    if s.cancelledEarly.remove(waiter) != nil {
                        continuation.resume(returning: .failure(CancellationError()))
                        return nil
                    }
                    if s.flights[key] != nil {
                        s.flights[key]!.waiters[waiter] = continuation
                        return nil
                    }
                    s.nextToken += 1
                    s.flights[key] = Flight(token: s.nextToken, waiters: [waiter: continuation])
                    return s.nextToken
                }
                joined(start == nil)
                guard let token = start else { return }
                // Unstructured on purpose: the computation belongs to all its waiters, not to
                // the request that happened to start it.
                let task = Task { self.complete(key: key, token: token, with: await body()) }
                let orphaned = state.withLockedValue { s -> Bool in
                    guard s.flights[key]?.token == token else { return true }
                    s.flights[key]!.task = task
                    return false
                }
                if orphaned { task.cancel() }
            }
        } onCancel: {
            self.leave(key: key, waiter: waiter)
        }
        state.withLockedValue { _ = $0.cancelledEarly.remove(waiter) }
        return outcome
    }

    /// Hands the outcome to every waiter; the next request with this key reads the cache.
    private func complete(key: String, token: UInt64, with outcome: Outcome) {
        let waiters = state.withLockedValue { s -> [CheckedContinuation<Outcome, Never>] in
            guard let flight = s.flights[key], flight.token == token else { return [] }
            s.flights[key] = nil
            return Array(flight.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: outcome) }
    }

    /// One waiter stops waiting; the last one to go cancels the computation.
    private func leave(key: String, waiter: String) {
        let (continuation, task) = state.withLockedValue { s -> (CheckedContinuation<Outcome, Never>?, Task<Void, Never>?) in
            guard var flight = s.flights[key], let continuation = flight.waiters.removeValue(forKey: waiter) else {
                s.cancelledEarly.insert(waiter)
                return (nil, nil)
            }
            if flight.waiters.isEmpty {
                s.flights[key] = nil
                return (continuation, flight.task)
            }
            s.flights[key] = flight
            return (continuation, nil)
        }
        continuation?.resume(returning: .failure(CancellationError()))
        task?.cancel()
    }
}
