import Runners
import Testing

/// Instants on a manual clock: a fixed origin plus seconds.
private let origin = ContinuousClock.Instant.now
private func at(_ seconds: Double) -> ContinuousClock.Instant { origin + .milliseconds(Int((seconds * 1000).rounded())) }

@Suite("Residency core budget")
struct ResidencyCoreBudgetTests {
    @Test("two models that each need the whole pool run one after the other")
    func wholePoolModelsTakeTurns() {
        var machine = ResidencyStateMachine(budget: 1000, coreCapacity: 2)
        for name in ["m/a", "m/b"] { _ = machine.register(name, settings: .init(estimatedBytes: 100, cores: 2), now: at(0)) }
        #expect(machine.jobQueued("m/a", now: at(1)) == [.load(model: "m/a")])
        #expect(machine.loadFinished("m/a", bytes: 100, now: at(2)) == [.start(model: "m/a", count: 1)])
        #expect(machine.jobQueued("m/b", now: at(3)) == [.load(model: "m/b")])
        // Loaded, with memory to spare, but no free cores.
        #expect(machine.loadFinished("m/b", bytes: 100, now: at(4)).isEmpty)
        #expect(machine.busyCores == 2)
        #expect(machine.runFinished("m/a", now: at(5)) == [.start(model: "m/b", count: 1)])
        #expect(machine.busyCores == 2)
        #expect(machine.runFinished("m/b", now: at(6)).isEmpty)
        #expect(machine.busyCores == 0)
    }

    @Test("a model's concurrent requests start only as far as the cores go")
    func concurrencyCappedByCores() {
        var machine = ResidencyStateMachine(budget: 1000, coreCapacity: 3)
        _ = machine.register("m/a", settings: .init(estimatedBytes: 100, maxConcurrency: 8, cores: 1), now: at(0))
        #expect(machine.jobQueued("m/a", count: 5, now: at(1)) == [.load(model: "m/a")])
        #expect(machine.loadFinished("m/a", bytes: 100, now: at(2)) == [.start(model: "m/a", count: 3)])
        #expect(machine.models["m/a"]?.queued == 2)
        #expect(machine.runFinished("m/a", now: at(3)) == [.start(model: "m/a", count: 1)])
        #expect(machine.busyCores == 3)
    }

    @Test("requests that need no cores start while the pool is full")
    func zeroDemandIgnoresCores() {
        var machine = ResidencyStateMachine(budget: 1000, coreCapacity: 1)
        _ = machine.register("m/engine", settings: .init(estimatedBytes: 100, cores: 1), now: at(0))
        _ = machine.register("m/external", settings: .init(estimatedBytes: 100, maxConcurrency: 2), now: at(0))
        _ = machine.jobQueued("m/engine", now: at(1))
        #expect(machine.loadFinished("m/engine", bytes: 100, now: at(2)) == [.start(model: "m/engine", count: 1)])
        _ = machine.jobQueued("m/engine", now: at(3))  // waits for the core
        _ = machine.jobQueued("m/external", count: 2, now: at(4))
        #expect(machine.loadFinished("m/external", bytes: 100, now: at(5)) == [.start(model: "m/external", count: 2)])
        #expect(machine.busyCores == 1)
    }

    @Test("a model that needs many cores is not starved by one that needs few")
    func noStarvationOfLargeDemand() {
        var machine = ResidencyStateMachine(budget: 1000, coreCapacity: 2)
        _ = machine.register("m/big", settings: .init(estimatedBytes: 100, cores: 2), now: at(0))
        _ = machine.register("m/small", settings: .init(estimatedBytes: 100, maxConcurrency: 4, cores: 1), now: at(0))
        _ = machine.jobQueued("m/big", now: at(1))
        _ = machine.loadFinished("m/big", bytes: 100, now: at(2))
        _ = machine.runFinished("m/big", now: at(3))
        _ = machine.jobQueued("m/small", now: at(4))
        #expect(machine.loadFinished("m/small", bytes: 100, now: at(5)) == [.start(model: "m/small", count: 1)])
        // One core is free, not enough for big, which now waits for both.
        #expect(machine.jobQueued("m/big", now: at(6)).isEmpty)
        // The free core is held for big, though small could use it.
        #expect(machine.jobQueued("m/small", now: at(7)).isEmpty)
        #expect(machine.runFinished("m/small", now: at(8)) == [.start(model: "m/big", count: 1)])
        #expect(machine.runFinished("m/big", now: at(9)) == [.start(model: "m/small", count: 1)])
    }

    @Test("a demand larger than the pool runs alone instead of never")
    func demandClampedToCapacity() {
        var machine = ResidencyStateMachine(budget: 1000, coreCapacity: 2)
        _ = machine.register("m/huge", settings: .init(estimatedBytes: 100, maxConcurrency: 2, cores: 64), now: at(0))
        _ = machine.jobQueued("m/huge", count: 2, now: at(1))
        #expect(machine.loadFinished("m/huge", bytes: 100, now: at(2)) == [.start(model: "m/huge", count: 1)])
        #expect(machine.busyCores == 2)
        #expect(machine.runFinished("m/huge", now: at(3)) == [.start(model: "m/huge", count: 1)])
    }

    @Test("random traffic never holds more cores than the pool has, and every request ends up started",
          arguments: [1, 2, 3, 7, 42])
    func randomTrafficRespectsCapacity(seed: UInt64) {
        var rng = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next(_ n: Int) -> Int {
            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17
            return Int(rng % UInt64(n))
        }
        let capacity = 1 + next(4)
        var machine = ResidencyStateMachine(budget: 1 << 20, coreCapacity: capacity)
        let names = ["m/a", "m/b", "m/c", "m/d"]
        for name in names {
            _ = machine.register(name, settings: .init(estimatedBytes: 100, maxConcurrency: 1 + next(3), cores: next(capacity + 2)),
                                 now: at(0))
        }
        var queued = 0, started = 0
        var clock = 0.0
        func apply(_ actions: [ResidencyStateMachine.Action]) {
            for action in actions {
                switch action {
                case .start(_, let count): started += count
                case .load, .unload, .fail: break
                }
            }
            #expect(machine.busyCores <= capacity)
        }
        for _ in 0..<400 {
            clock += 0.01
            let name = names[next(names.count)]
            switch next(3) {
            case 0:
                queued += 1
                apply(machine.jobQueued(name, now: at(clock)))
            case 1:
                if case .loading = machine.models[name]!.phase { apply(machine.loadFinished(name, bytes: 100, now: at(clock))) }
            default:
                if machine.models[name]!.running > 0 { apply(machine.runFinished(name, now: at(clock))) }
            }
        }
        // Drain: finish loads and runs until nothing is left.
        while machine.models.values.contains(where: { $0.running > 0 || $0.queued > 0 }) {
            clock += 0.01
            for name in names {
                if case .loading = machine.models[name]!.phase { apply(machine.loadFinished(name, bytes: 100, now: at(clock))) }
                if machine.models[name]!.running > 0 { apply(machine.runFinished(name, now: at(clock))) }
            }
        }
        #expect(started == queued)
    }
}
