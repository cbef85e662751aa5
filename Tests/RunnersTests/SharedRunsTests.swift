import Foundation
import ModelKit
import Testing

@testable import Runners

/// A computation that waits until released and counts its runs and cancellations.
/// `@unchecked Sendable`: every field is touched under `lock`.
private final class Computation: @unchecked Sendable {
    private let lock = NSLock()
    private var runs = 0
    private var cancelled = 0
    private let (release, releaser) = AsyncStream<Void>.makeStream()
    private let (startedStream, started) = AsyncStream<Void>.makeStream()

    func body() async -> Result<JSONValue, any Error> {
        lock.withLock { runs += 1 }
        started.yield()
        for await _ in release {}
        if Task.isCancelled {
            lock.withLock { cancelled += 1 }
            return .failure(CancellationError())
        }
        return .success("done")
    }

    func waitUntilStarted() async { for await _ in startedStream { return } }
    func finish() { releaser.finish() }
    var counts: (runs: Int, cancelled: Int) { lock.withLock { (runs, cancelled) } }
}

/// Waits (bounded) until `condition` holds; polling a state, not timing anything.
private func until(_ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(60)
    while !condition() {
        guard ContinuousClock.now < deadline else { throw CancellationError() }
        try await Task.sleep(for: .milliseconds(1))
    }
}

@Suite("Shared runs")
struct SharedRunsTests {
    @Test("waiters with one key share one computation and its outcome")
    func oneComputation() async throws {
        let runs = SharedRuns()
        let computation = Computation()
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<5 {
                group.addTask {
                    let outcome = await runs.join(key: "k", waiter: "w\(i)", joined: { _ in }) { await computation.body() }
                    return (try? outcome.get()) == "done"
                }
            }
            try? await until { runs.waiters(of: "k") == 5 }
            computation.finish()
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes == [true, true, true, true, true])
        #expect(computation.counts.runs == 1)
        #expect(runs.waiters(of: "k") == 0)
    }

    @Test("a waiter that leaves gets CancellationError at once; the others keep the computation")
    func leavingWaiter() async throws {
        let runs = SharedRuns()
        let computation = Computation()
        let first = Task { await runs.join(key: "k", waiter: "a", joined: { _ in }) { await computation.body() } }
        await computation.waitUntilStarted()
        let second = Task { await runs.join(key: "k", waiter: "b", joined: { _ in }) { await computation.body() } }
        try await until { runs.waiters(of: "k") == 2 }
        first.cancel()
        let left = await first.value
        #expect(throws: CancellationError.self) { try left.get() }
        #expect(runs.waiters(of: "k") == 1)
        computation.finish()
        #expect(try await second.value.get() == "done")
        #expect(computation.counts == (1, 0))
    }

    @Test("when every waiter left, the computation is cancelled")
    func lastWaiterCancels() async throws {
        let runs = SharedRuns()
        let computation = Computation()
        let only = Task { await runs.join(key: "k", waiter: "a", joined: { _ in }) { await computation.body() } }
        await computation.waitUntilStarted()
        only.cancel()
        await #expect(throws: CancellationError.self) { try await only.value.get() }
        try await until { computation.counts.cancelled == 1 }
        #expect(runs.waiters(of: "k") == 0)
        computation.finish()
    }

    @Test("a waiter cancelled before it joined never waits")
    func cancelledBeforeJoining() async throws {
        let runs = SharedRuns()
        let computation = Computation()
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await runs.join(key: "k", waiter: "a", joined: { _ in }) { await computation.body() }
        }
        await #expect(throws: CancellationError.self) { try await task.value.get() }
        computation.finish()
    }
}
