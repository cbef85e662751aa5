import Models
import Runners
import Testing

/// Instants on a manual clock: a fixed origin plus seconds.
private let origin = ContinuousClock.Instant.now
private func at(_ seconds: Double) -> ContinuousClock.Instant { origin + .milliseconds(Int((seconds * 1000).rounded())) }

private typealias Machine = ResidencyStateMachine

@Suite("Residency state machine")
struct ResidencyStateMachineTests {
    @Test("a queued request loads its model, starts once loaded, and the finished model stays warm")
    func loadThenStart() {
        var machine = Machine(budget: 300)
        #expect(machine.register("a/x", settings: .init(estimatedBytes: 100), now: at(0)).isEmpty)
        #expect(machine.jobQueued("a/x", now: at(1)) == [.load(model: "a/x")])
        #expect(machine.residentBytes == 100)
        #expect(machine.loadFinished("a/x", bytes: 90, now: at(2)) == [.start(model: "a/x", count: 1)])
        #expect(machine.residentBytes == 90)
        #expect(machine.jobQueued("a/x", now: at(2.5)).isEmpty)  // maxConcurrency 1: waits its turn
        #expect(machine.runFinished("a/x", now: at(3)) == [.start(model: "a/x", count: 1)])
        #expect(machine.runFinished("a/x", now: at(4)).isEmpty)
        #expect(machine.loadedModels == ["a/x"])
        #expect(machine.models["a/x"]?.counters.loads == 1)
    }

    @Test("the least recently used idle model is evicted first")
    func evictionOrder() {
        var machine = Machine(budget: 200)
        for name in ["m/a", "m/b", "m/c"] { _ = machine.register(name, settings: .init(estimatedBytes: 100), now: at(0)) }
        serve(&machine, "m/a", from: 1)
        serve(&machine, "m/b", from: 3)
        // a is used again after b, so b is now the least recently used.
        #expect(machine.jobQueued("m/a", now: at(6)) == [.start(model: "m/a", count: 1)])
        #expect(machine.runFinished("m/a", now: at(7)).isEmpty)
        #expect(machine.jobQueued("m/c", now: at(8)) == [.unload(model: "m/b", reason: .evicted(for: "m/c")), .load(model: "m/c")])
        #expect(machine.models["m/b"]?.counters.evictions == 1)
        #expect(machine.residentBytes <= 200)
    }

    @Test("a model running a request is never evicted; the idle one goes instead, or the newcomer waits")
    func noEvictionMidRequest() {
        var machine = Machine(budget: 200, fairnessQuantum: .seconds(60))
        for name in ["m/a", "m/b", "m/c", "m/d"] { _ = machine.register(name, settings: .init(estimatedBytes: 100), now: at(0)) }
        serve(&machine, "m/b", from: 1)  // b idle since 2
        _ = machine.jobQueued("m/a", now: at(3))
        _ = machine.loadFinished("m/a", bytes: 100, now: at(4))  // a running, and more recent than b
        #expect(machine.models["m/a"]?.running == 1)
        #expect(machine.jobQueued("m/c", now: at(5)) == [.unload(model: "m/b", reason: .evicted(for: "m/c")), .load(model: "m/c")])
        _ = machine.loadFinished("m/c", bytes: 100, now: at(6))
        // Both resident models are busy: d waits, nothing is unloaded.
        #expect(machine.jobQueued("m/d", now: at(7)).isEmpty)
        #expect(machine.tick(now: at(30)).isEmpty)
        // When a finishes it becomes idle and makes room.
        #expect(machine.runFinished("m/a", now: at(31)) == [.unload(model: "m/a", reason: .evicted(for: "m/d")), .load(model: "m/d")])
    }

    @Test("an idle model unloads when its keep-alive ends, not before, and the deadline says when")
    func keepAlive() {
        var machine = Machine(budget: 200)
        _ = machine.register("m/a", settings: .init(estimatedBytes: 100, keepAlive: .seconds(10)), now: at(0))
        serve(&machine, "m/a", from: 0)  // finished at 1
        #expect(machine.nextDeadline(after: at(1)) == at(11))
        #expect(machine.tick(now: at(10.9)).isEmpty)
        #expect(machine.tick(now: at(11)) == [.unload(model: "m/a", reason: .keepAliveExpired)])
        #expect(machine.loadedModels.isEmpty)
        #expect(machine.models["m/a"]?.counters.expirations == 1)
        #expect(machine.nextDeadline(after: at(11)) == nil)
    }

    @Test("a pinned model loads at once and is never unloaded, neither for keep-alive nor for room")
    func pinned() {
        var machine = Machine(budget: 250, fairnessQuantum: .seconds(5))
        let pinned = ResidencySettings(estimatedBytes: 150, keepAlive: .seconds(1), minConcurrency: 1)
        #expect(machine.register("m/p", settings: pinned, now: at(0)) == [.load(model: "m/p")])
        #expect(machine.loadFinished("m/p", bytes: 150, now: at(1)).isEmpty)
        for name in ["m/a", "m/b"] { _ = machine.register(name, settings: .init(estimatedBytes: 100), now: at(1)) }
        serve(&machine, "m/a", from: 2)
        #expect(machine.tick(now: at(100)).isEmpty)
        // b needs room: the idle unpinned a goes, never the older idle p.
        #expect(machine.jobQueued("m/b", now: at(101)) == [.unload(model: "m/a", reason: .evicted(for: "m/b")), .load(model: "m/b")])
        #expect(machine.loadedModels == ["m/p"])
        // A model that cannot fit beside the pinned ones is refused instead of waiting forever.
        _ = machine.register("m/c", settings: .init(estimatedBytes: 120), now: at(102))
        let failure = ResidencyFailure.noRoomBesidePinned(model: "m/c", bytes: 120, available: 100)
        #expect(machine.jobQueued("m/c", now: at(103)) == [.fail(model: "m/c", count: 1, failure: failure)])
        // Unpinning at runtime lets it go once idle past its keep-alive.
        let unpinned = ResidencySettings(estimatedBytes: 150, keepAlive: .seconds(1))
        #expect(machine.register("m/p", settings: unpinned, now: at(201)) == [.unload(model: "m/p", reason: .keepAliveExpired)])
    }

    @Test("a model larger than the whole budget fails its requests with a clear error, by estimate or by measure")
    func oversize() {
        var machine = Machine(budget: 100)
        _ = machine.register("m/huge", settings: .init(estimatedBytes: 500), now: at(0))
        let failure = ResidencyFailure.exceedsBudget(model: "m/huge", bytes: 500, budget: 100)
        #expect(machine.jobQueued("m/huge", count: 2, now: at(1)) == [.fail(model: "m/huge", count: 2, failure: failure)])
        #expect(failure.description.contains("budget is 100 bytes"))

        _ = machine.register("m/liar", settings: .init(estimatedBytes: 50), now: at(0))
        #expect(machine.jobQueued("m/liar", now: at(2)) == [.load(model: "m/liar")])
        #expect(machine.loadFinished("m/liar", bytes: 180, now: at(3)) == [
            .unload(model: "m/liar", reason: .tooLarge),
            .fail(model: "m/liar", count: 1, failure: .exceedsBudget(model: "m/liar", bytes: 180, budget: 100)),
        ])
        #expect(machine.residentBytes == 0)
    }

    @Test("a model measured larger than estimated steps back while others are busy and loads when they finish")
    func measuredOverEstimate() {
        var machine = Machine(budget: 200, fairnessQuantum: .seconds(60))
        for name in ["m/a", "m/b"] { _ = machine.register(name, settings: .init(estimatedBytes: 100), now: at(0)) }
        _ = machine.jobQueued("m/a", now: at(1))
        _ = machine.loadFinished("m/a", bytes: 100, now: at(2))  // a running
        #expect(machine.jobQueued("m/b", now: at(3)) == [.load(model: "m/b")])
        #expect(machine.loadFinished("m/b", bytes: 150, now: at(4)) == [.unload(model: "m/b", reason: .overBudget)])
        #expect(machine.residentBytes == 100)
        #expect(machine.runFinished("m/a", now: at(5)) == [.unload(model: "m/a", reason: .evicted(for: "m/b")), .load(model: "m/b")])
        #expect(machine.residentBytes == 150)
    }

    @Test("a failed load fails the queued requests with the loader's message")
    func loadFailure() {
        var machine = Machine(budget: 200)
        _ = machine.register("m/a", settings: .init(estimatedBytes: 100), now: at(0))
        _ = machine.jobQueued("m/a", count: 3, now: at(1))
        #expect(machine.loadFailed("m/a", message: "weights missing", now: at(2)) == [
            .fail(model: "m/a", count: 3, failure: .loadFailed(model: "m/a", message: "weights missing"))
        ])
        #expect(machine.residentBytes == 0)
        #expect(machine.jobQueued("m/a", now: at(3)) == [.load(model: "m/a")])  // the next request retries
    }

    @Test("five models with endless demand and room for two are all served in turn")
    func noStarvation() {
        var simulation = Simulation(budget: 200, quantum: .seconds(10))
        let names = (0..<5).map { "m/\($0)" }
        for name in names { simulation.register(name, bytes: 100, keepAlive: .seconds(300)) }
        for name in names { simulation.queue(name, count: 3) }
        simulation.run(until: 400, requeue: true)
        for name in names {
            #expect((simulation.served[name] ?? 0) >= 5, "\(name) served \(simulation.served[name] ?? 0) times")
        }
        #expect(simulation.violations.isEmpty, "\(simulation.violations)")
    }

    @Test("random events never break the invariants")
    func randomized() {
        for seed in UInt64(1)...40 {
            var random = TerrainNoise(seed: seed)
            var simulation = Simulation(budget: 1000, quantum: .seconds(5), random: random)
            let count = 3 + Int(random.next() % 5)
            for index in 0..<count {
                let bytes = 100 + Int(random.next() % 700)
                let pinned = random.next() % 7 == 0
                simulation.register(
                    "m/\(index)", bytes: bytes, keepAlive: .seconds(Int64(1 + random.next() % 30)),
                    minConcurrency: pinned ? 1 : 0, maxConcurrency: 1 + Int(random.next() % 3))
            }
            for step in 0..<300 {
                let model = "m/\(Int(random.next() % UInt64(count)))"
                switch random.next() % 4 {
                case 0, 1: simulation.queue(model, count: 1 + Int(random.next() % 3))
                case 2: simulation.withdraw(model)
                default: simulation.advance(by: Double(random.next() % 4000) / 1000)
                }
                if step % 50 == 0 { simulation.advance(by: 1) }
            }
            simulation.run(until: simulation.now + 10_000, requeue: false)
            #expect(simulation.violations.isEmpty, "seed \(seed): \(simulation.violations)")
            // Everything queued was started or failed: nothing is stuck.
            let left = simulation.machine.models.values.reduce(0) { $0 + $1.queued + $1.running }
            #expect(left == 0, "seed \(seed): \(left) requests left: \(simulation.machine.models.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }) budget \(simulation.machine.budget)")
        }
    }
}

/// Loads `model` and runs one request: queued at `from`, loaded at `from`+0.5, finished at `from`+1.
private func serve(_ machine: inout ResidencyStateMachine, _ model: String, from start: Double) {
    let bytes = machine.models[model]!.settings.estimatedBytes
    _ = machine.jobQueued(model, now: at(start))
    _ = machine.loadFinished(model, bytes: bytes, now: at(start + 0.5))
    _ = machine.runFinished(model, now: at(start + 1))
}

/// Drives the state machine as a runner would, on a manual clock: loads take 0.5 s and measure
/// their footprint (sometimes above the estimate), requests take 1 s. Records every broken
/// invariant instead of stopping.
private struct Simulation {
    var machine: ResidencyStateMachine
    var now: Double = 0
    var served: [String: Int] = [:]
    var violations: [String] = []
    private var pending: [(time: Double, model: String, isLoad: Bool)] = []
    private var random: TerrainNoise
    private var requeue = false

    init(budget: Int, quantum: Duration, random: TerrainNoise = TerrainNoise(seed: 0)) {
        machine = ResidencyStateMachine(budget: budget, fairnessQuantum: quantum)
        self.random = random
    }

    mutating func register(_ model: String, bytes: Int, keepAlive: Duration, minConcurrency: Int = 0, maxConcurrency: Int = 1) {
        let settings = ResidencySettings(estimatedBytes: bytes, keepAlive: keepAlive, minConcurrency: minConcurrency, maxConcurrency: maxConcurrency)
        apply(machine.register(model, settings: settings, now: at(now)))
    }

    mutating func queue(_ model: String, count: Int) { apply(machine.jobQueued(model, count: count, now: at(now))) }

    mutating func withdraw(_ model: String) { apply(machine.jobWithdrawn(model, now: at(now))) }

    /// Delivers every completion and deadline up to `now + seconds`.
    mutating func advance(by seconds: Double) { run(until: now + seconds, requeue: requeue) }

    mutating func run(until end: Double, requeue: Bool) {
        self.requeue = requeue
        while true {
            let deadline = machine.nextDeadline(after: at(now)).map { ($0 - origin) / .seconds(1) }
            let next = pending.map(\.time).min()
            let time = [deadline, next].compactMap { $0 }.min()
            guard let time, time <= end else { break }
            now = max(now, time)
            if let index = pending.firstIndex(where: { $0.time <= now }) {
                let event = pending.remove(at: index)
                if event.isLoad {
                    let estimate = machine.models[event.model]!.settings.estimatedBytes
                    // Real footprints differ from estimates: up to 30 % either way.
                    let bytes = estimate * (70 + Int(random.next() % 61)) / 100
                    apply(machine.loadFinished(event.model, bytes: bytes, now: at(now)))
                } else {
                    apply(machine.runFinished(event.model, now: at(now)))
                    if requeue { apply(machine.jobQueued(event.model, now: at(now))) }
                }
            } else {
                apply(machine.tick(now: at(now)))
            }
        }
        now = max(now, end)
        apply(machine.tick(now: at(now)))
    }

    private mutating func apply(_ actions: [ResidencyStateMachine.Action]) {
        for action in actions {
            switch action {
            case .load(let model):
                pending.append((now + 0.5, model, true))
            case .start(let model, let count):
                for _ in 0..<count { pending.append((now + 1, model, false)) }
                served[model, default: 0] += count
            case .unload(let model, _):
                if machine.models[model]!.running > 0 { violations.append("\(model) unloaded while running at \(now)") }
            case .fail:
                break
            }
        }
        if machine.residentBytes > machine.budget {
            violations.append("resident \(machine.residentBytes) > budget \(machine.budget) at \(now)")
        }
        for (model, state) in machine.models where state.running > state.settings.maxConcurrency {
            violations.append("\(model) runs \(state.running) > \(state.settings.maxConcurrency)")
        }
    }
}
