import Foundation
import JobQueue
import Testing
import TestSupport

/// Records the ids a maintenance service reports as swept.
/// `@unchecked Sendable`: `ids` is only touched under `lock`.
private final class SweptIDs: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: [String] = []
    func add(_ new: [String]) { lock.withLock { ids += new } }
    var all: [String] { lock.withLock { ids } }
}

@Suite("JobMaintenanceService")
struct JobMaintenanceServiceTests {
    @Test func onePassRescuesExpiresAndSweeps() async throws {
        let store = try await JobStoreFactory.sqlite.make().store
        _ = try await store.enqueue(newJob("lost"))
        _ = try await store.enqueue(newJob("late", endpoint: "acme/b", startDeadline: t0.addingTimeInterval(5)))
        _ = try await store.enqueue(newJob("old", endpoint: "acme/c"))
        _ = try await store.lease(endpointIDs: ["acme/upscale", "acme/c"], owner: "r", limit: 2, leaseDuration: 10, now: t0)
        _ = try await store.finish(id: "old", leaseToken: store.leaseToken(of: "old"), state: .completed, result: okResult, now: t0)

        let swept = SweptIDs()
        let service = JobMaintenanceService(
            store: store, configuration: JobMaintenanceConfiguration(interval: .seconds(1), resultTTL: 60),
            onSwept: { swept.add($0) })
        var report = await service.runOnce(now: t0.addingTimeInterval(1))
        #expect(report == JobMaintenanceReport())
        report = await service.runOnce(now: t0.addingTimeInterval(61))
        #expect(report.rescued == ["lost"])
        #expect(report.expired == ["late"])
        #expect(report.swept == ["old"])
        #expect(swept.all == ["old"])
        #expect(try await store.job(id: "lost")?.state == .queued)
        #expect(try await store.job(id: "late")?.result == .requestTimeout)
        #expect(try await store.job(id: "old") == nil)
    }

    @Test func runLoopKeepsPassingUntilCancelled() async throws {
        let store = try await JobStoreFactory.sqlite.make().store
        _ = try await store.enqueue(newJob("j"))
        _ = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 1, leaseDuration: 10, now: t0)
        _ = try await store.finish(id: "j", leaseToken: store.leaseToken(of: "j"), state: .completed, result: okResult, now: t0)
        let swept = SweptIDs()
        // The injected `now` puts the job far past its TTL; the interval is short so the first
        // pass runs at once and the loop is seen to continue.
        let service = JobMaintenanceService(
            store: store, configuration: JobMaintenanceConfiguration(interval: .milliseconds(1), resultTTL: 60),
            now: { t0.addingTimeInterval(3600) }, onSwept: { swept.add($0) })
        let task = Task { try await service.run() }
        #expect(await waitUntil { swept.all == ["j"] })
        _ = try await store.enqueue(newJob("k"))
        // The lease must outlive the service's `now`: the loop runs every millisecond, and a
        // lease already expired at its `now` would be rescued before the finish below.
        let leased = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 1, leaseDuration: 7200, now: t0)
        let token = try #require(leased.first?.leaseToken)
        #expect(try await store.finish(id: "k", leaseToken: token, state: .completed, result: okResult, now: t0))
        #expect(await waitUntil { swept.all == ["j", "k"] })
        task.cancel()
        try await task.value
    }
}
