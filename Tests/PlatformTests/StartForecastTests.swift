import Foundation
import Platform
import Runners
import Tensor
import Testing

/// The plain reference: hand each request ahead, in order, to the slot that frees first, and
/// the request itself to the next one.
private func referenceStart(position: Int, concurrency: Int, runningStarts: [Date], mean: Double, now: Date) -> Date {
    let slots = max(1, concurrency)
    var free = runningStarts.map { started -> Date in
        var end = started.addingTimeInterval(mean)
        while end < now, mean > 0 { end = end.addingTimeInterval(mean) }
        return max(end, now)
    }
    free = Array(free.sorted().prefix(slots))
    while free.count < slots { free.append(now) }
    for _ in 0..<max(0, position) {
        let i = free.indices.min { free[$0] < free[$1] }!
        free[i] = free[i].addingTimeInterval(mean)
    }
    return free.min()!
}

@Suite("Start forecasts")
struct StartForecastTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("no mean, no forecast")
    func noHistoryNoForecast() {
        #expect(StartForecast.predict(position: 3, concurrency: 1, runningStarts: [], mean: nil, now: now) == nil)
        #expect(StartForecast.predict(position: 3, concurrency: 1, runningStarts: [], mean: .nan, now: now) == nil)
        #expect(StartForecast.finish(started: now, mean: nil, now: now) == nil)
    }

    @Test("one slot: the running request's rest, then one mean per request ahead")
    func singleSlot() throws {
        let started = now.addingTimeInterval(-4)
        let f = try #require(StartForecast.predict(position: 2, concurrency: 1, runningStarts: [started], mean: 10, now: now))
        #expect(f.start == now.addingTimeInterval(6 + 20))
        #expect(f.finish == now.addingTimeInterval(36))
        // An idle model starts the next request now.
        let idle = try #require(StartForecast.predict(position: 0, concurrency: 2, runningStarts: [], mean: 10, now: now))
        #expect(idle.start == now)
    }

    @Test("an overdue run is forecast one more mean, and that stays put as the clock moves")
    func overdueIsStable() throws {
        let started = now.addingTimeInterval(-25)
        let a = try #require(StartForecast.finish(started: started, mean: 10, now: now))
        let b = try #require(StartForecast.finish(started: started, mean: 10, now: now.addingTimeInterval(3)))
        #expect(a == started.addingTimeInterval(30))
        #expect(a == b)
    }

    @Test("matches the slot-by-slot reference over random queues", arguments: 0..<200)
    func matchesReference(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(seed))
        let concurrency = Int(rng.next() % 4) + 1
        // Offset so that no run is overdue by an exact number of means, where both answers hold.
        let mean = Double(rng.next() % 1000) / 100 + 0.0123457
        let running = (0..<Int(rng.next() % 6)).map { _ in now.addingTimeInterval(-Double(rng.next() % 3000) / 100) }
        let position = Int(rng.next() % 40)
        let forecast = try #require(
            StartForecast.predict(position: position, concurrency: concurrency, runningStarts: running, mean: mean, now: now))
        let reference = referenceStart(position: position, concurrency: concurrency, runningStarts: running, mean: mean, now: now)
        // Dates near 2027 resolve about 0.2 µs; forecasts are reported in milliseconds.
        #expect(abs(forecast.start.timeIntervalSince(reference)) < 1e-4)
        #expect(abs(forecast.finish.timeIntervalSince(forecast.start) - mean) < 1e-4)
    }

    @Test("the latency histogram mirrors what the pool records")
    func histogramMean() {
        let metrics = PoolMetrics(models: ["m/a"])
        #expect(metrics.inferenceHistogram(of: "m/a").mean == nil)
        metrics.observe(.inference, model: "m/a", seconds: 2)
        metrics.observe(.inference, model: "m/a", seconds: 4)
        metrics.observe(.queueWait, model: "m/a", seconds: 100)
        let h = metrics.inferenceHistogram(of: "m/a")
        #expect(h.count == 2 && h.mean == 3)
        #expect(h.counts.reduce(0, +) == 2)
    }
}
