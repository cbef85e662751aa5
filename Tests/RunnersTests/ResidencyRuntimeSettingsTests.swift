import Runners
import Testing

/// Instants on a manual clock: a fixed origin plus seconds.
private let origin = ContinuousClock.Instant.now
private func at(_ seconds: Double) -> ContinuousClock.Instant { origin + .milliseconds(Int((seconds * 1000).rounded())) }

private typealias Machine = ResidencyStateMachine

@Suite("Residency state machine: startup timeout, warm buffer, live settings")
struct ResidencyRuntimeSettingsTests {
    @Test("a load past its startup timeout fails the waiting requests, keeps its reservation, and is dropped when it ends late")
    func startupTimeout() {
        var machine = Machine(budget: 300, fairnessQuantum: .seconds(60))
        _ = machine.register("m/a", settings: .init(estimatedBytes: 100, startupTimeout: .seconds(10)), now: at(0))
        #expect(machine.jobQueued("m/a", now: at(0)) == [.load(model: "m/a")])
        #expect(machine.nextDeadline(after: at(0)) == at(10))
        #expect(machine.tick(now: at(9.9)).isEmpty)
        let timedOut = ResidencyFailure.startupTimeout(model: "m/a", seconds: 10)
        #expect(machine.tick(now: at(10)) == [.fail(model: "m/a", count: 1, failure: timedOut)])
        #expect(machine.models["m/a"]?.counters.startupTimeouts == 1)
        // The load still runs: its memory stays reserved, and no second load starts.
        #expect(machine.residentBytes == 100)
        #expect(machine.nextDeadline(after: at(10)) == nil)
        // A request arriving while the stuck load runs fails at once.
        #expect(machine.jobQueued("m/a", now: at(11)) == [.fail(model: "m/a", count: 1, failure: timedOut)])
        #expect(machine.models["m/a"]?.counters.failedRequests == 2)
        // The late load is unloaded: nothing waits for it.
        #expect(machine.loadFinished("m/a", bytes: 90, now: at(12)) == [.unload(model: "m/a", reason: .startupTimeout)])
        #expect(machine.residentBytes == 0)
        // The next request tries again with a fresh timeout.
        #expect(machine.jobQueued("m/a", now: at(13)) == [.load(model: "m/a")])
        #expect(machine.nextDeadline(after: at(13)) == at(23))
        #expect(machine.loadFinished("m/a", bytes: 90, now: at(14)) == [.start(model: "m/a", count: 1)])
    }

    @Test("a pinned model whose load ends after the timeout is kept, and a load that fails late frees its reservation")
    func lateLoads() {
        var machine = Machine(budget: 300, fairnessQuantum: .seconds(60))
        let pinned = ResidencySettings(estimatedBytes: 100, minConcurrency: 1, startupTimeout: .seconds(5))
        #expect(machine.register("m/p", settings: pinned, now: at(0)) == [.load(model: "m/p")])
        #expect(machine.tick(now: at(5)).isEmpty)
        #expect(machine.models["m/p"]?.counters.startupTimeouts == 1)
        #expect(machine.loadFinished("m/p", bytes: 100, now: at(8)).isEmpty)
        #expect(machine.loadedModels == ["m/p"])

        _ = machine.register("m/a", settings: .init(estimatedBytes: 100, startupTimeout: .seconds(5)), now: at(9))
        #expect(machine.jobQueued("m/a", now: at(10)) == [.load(model: "m/a")])
        #expect(machine.tick(now: at(15)).count == 1)
        #expect(machine.loadFailed("m/a", message: "gave up", now: at(16)).isEmpty)
        #expect(machine.residentBytes == 100)
    }

    @Test("a warm-buffered model loads ahead of demand, never expires, and is evicted only after idle unbuffered models")
    func warmBuffer() {
        var machine = Machine(budget: 200, fairnessQuantum: .seconds(60))
        let warm = ResidencySettings(estimatedBytes: 100, keepAlive: .seconds(5), concurrencyBuffer: 1)
        #expect(machine.register("m/w", settings: warm, now: at(0)) == [.load(model: "m/w")])
        #expect(machine.loadFinished("m/w", bytes: 100, now: at(1)).isEmpty)
        #expect(machine.nextDeadline(after: at(1)) == nil)
        #expect(machine.tick(now: at(100)).isEmpty)
        for name in ["m/a", "m/b"] { _ = machine.register(name, settings: .init(estimatedBytes: 100), now: at(100)) }
        #expect(machine.jobQueued("m/a", now: at(101)) == [.load(model: "m/a")])
        #expect(machine.loadFinished("m/a", bytes: 100, now: at(102)) == [.start(model: "m/a", count: 1)])
        #expect(machine.runFinished("m/a", now: at(103)).isEmpty)
        // w is older, but a has no buffer: a goes first.
        #expect(machine.jobQueued("m/b", now: at(104)) == [.unload(model: "m/a", reason: .evicted(for: "m/b")), .load(model: "m/b")])
        #expect(machine.loadFinished("m/b", bytes: 100, now: at(105)) == [.start(model: "m/b", count: 1)])
        // With b busy, the buffered model yields its memory to a model with a request.
        #expect(machine.jobQueued("m/a", now: at(106)) == [.unload(model: "m/w", reason: .evicted(for: "m/a")), .load(model: "m/a")])
        #expect(machine.loadFinished("m/a", bytes: 100, now: at(107)) == [.start(model: "m/a", count: 1)])
        // It does not evict anything to come back...
        #expect(machine.runFinished("m/a", now: at(108)).isEmpty)
        #expect(machine.runFinished("m/b", now: at(109)).isEmpty)
        // ...but reloads once keep-alives free the room.
        #expect(machine.tick(now: at(409)) == [
            .unload(model: "m/a", reason: .keepAliveExpired), .unload(model: "m/b", reason: .keepAliveExpired), .load(model: "m/w"),
        ])
    }

    @Test("a warm-buffered model does not take the room a model with requests is waiting for")
    func bufferYieldsToWaiting() {
        var machine = Machine(budget: 100, fairnessQuantum: .seconds(60))
        _ = machine.register("m/a", settings: .init(estimatedBytes: 100), now: at(0))
        _ = machine.register("m/b", settings: .init(estimatedBytes: 100), now: at(0))
        #expect(machine.jobQueued("m/a", now: at(0)) == [.load(model: "m/a")])
        #expect(machine.loadFinished("m/a", bytes: 100, now: at(1)) == [.start(model: "m/a", count: 1)])
        #expect(machine.register("m/w", settings: .init(estimatedBytes: 50, concurrencyBuffer: 2), now: at(2)).isEmpty)
        #expect(machine.jobQueued("m/b", now: at(3)).isEmpty)
        #expect(machine.runFinished("m/a", now: at(4)) == [.unload(model: "m/a", reason: .evicted(for: "m/b")), .load(model: "m/b")])
        #expect(machine.models["m/w"]?.phase == .unloaded)
    }

    @Test("settings changed at runtime act at once: more concurrency starts waiting requests, unpinning lets keep-alive run")
    func liveSettings() {
        var machine = Machine(budget: 300)
        _ = machine.register("m/a", settings: .init(estimatedBytes: 100), now: at(0))
        #expect(machine.jobQueued("m/a", count: 3, now: at(0)) == [.load(model: "m/a")])
        #expect(machine.loadFinished("m/a", bytes: 100, now: at(1)) == [.start(model: "m/a", count: 1)])
        #expect(machine.register("m/a", settings: .init(estimatedBytes: 100, maxConcurrency: 3), now: at(2)) == [.start(model: "m/a", count: 2)])
        #expect(machine.register("m/a", settings: .init(estimatedBytes: 100, minConcurrency: 1, maxConcurrency: 3), now: at(3)).isEmpty)
        for _ in 0..<3 { #expect(machine.runFinished("m/a", now: at(4)).isEmpty) }
        #expect(machine.tick(now: at(1000)).isEmpty)
        #expect(machine.loadedModels == ["m/a"])
        let unpinned = ResidencySettings(estimatedBytes: 100, keepAlive: .seconds(10), maxConcurrency: 3)
        #expect(machine.register("m/a", settings: unpinned, now: at(1000)) == [.unload(model: "m/a", reason: .keepAliveExpired)])
    }
}
