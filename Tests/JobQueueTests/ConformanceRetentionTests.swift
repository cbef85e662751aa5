import Foundation
import JobQueue
import Testing

/// The `JobStore` conformance suite, part 5: sweeping, payload dropping, notifications and
/// durability across a reopen.
@Suite("JobStore conformance: retention, notifications, durability")
struct ConformanceRetentionTests {
    @Test(arguments: JobStoreFactory.all)
    func sweepDeletesOnlyOldFinishedJobs(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        for id in ["old", "new", "running", "queued"] { _ = try await store.enqueue(newJob(id)) }
        _ = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 3, leaseDuration: 1e6, now: t0)
        _ = try await store.finish(id: "old", leaseToken: store.leaseToken(of: "old"), state: .completed, result: okResult, now: t0)
        _ = try await store.finish(id: "new", leaseToken: store.leaseToken(of: "new"), state: .failed, result: modelError, now: t0.addingTimeInterval(100))
        try await store.appendLogs(id: "old", lines: [JobLogLine(message: "hi", level: "INFO", timestamp: t0)])
        #expect(try await store.sweep(finishedBefore: t0).isEmpty)
        #expect(try await store.sweep(finishedBefore: t0.addingTimeInterval(50)) == ["old"])
        #expect(try await store.job(id: "old") == nil)
        #expect(try await store.logs(id: "old").isEmpty)
        #expect(try await store.sweep(finishedBefore: t0.addingTimeInterval(1e7)) == ["new"])
        #expect(try await store.job(id: "running")?.state == .running)
        #expect(try await store.job(id: "queued")?.state == .queued)
    }

    @Test(arguments: JobStoreFactory.all)
    func sweepKeepsPendingWebhooks(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        _ = try await store.enqueue(newJob("h", webhookURL: "https://hooks.example/h"))
        _ = try await store.cancel(id: "h", now: t0)
        #expect(try await store.sweep(finishedBefore: t0.addingTimeInterval(1)) == ["h"])
        #expect(try await store.dueWebhooks(now: t0, limit: 5).map(\.requestID) == ["h"])
    }

    @Test(arguments: JobStoreFactory.all)
    func dropPayloadsClearsInputAndOutputOfFinishedJobs(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        _ = try await store.enqueue(newJob("p", storeIO: false))
        _ = try await store.enqueue(newJob("busy", storeIO: false))
        _ = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 2, leaseDuration: 10, now: t0)
        _ = try await store.finish(id: "p", leaseToken: store.leaseToken(of: "p"), state: .completed, result: okResult, now: t0)
        let before = try #require(try await store.job(id: "p"))
        try await store.dropPayloads(id: "p")
        let after = try #require(try await store.job(id: "p"))
        #expect(after.input == nil)
        #expect(after.result?.status == 200 && after.result?.body.isEmpty == true)
        #expect(after.result?.inferenceTime == okResult.inferenceTime)
        #expect(after.version > before.version)
        // A running job still needs its input.
        try await store.dropPayloads(id: "busy")
        #expect(try await store.job(id: "busy")?.input != nil)
    }

    @Test(arguments: JobStoreFactory.all)
    func notificationsReachEverySubscriber(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        let first = store.notifications()
        let second = store.notifications()
        _ = try await store.enqueue(newJob("n", webhookURL: "https://hooks.example/n"))
        _ = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 1, leaseDuration: 10, now: t0)
        try await store.appendLogs(id: "n", lines: [JobLogLine(message: "m", level: "INFO", timestamp: t0)])
        _ = try await store.finish(id: "n", leaseToken: store.leaseToken(of: "n"), state: .completed, result: okResult, now: t0)
        let expected: [JobNotification] = [
            .enqueued(endpointID: "acme/upscale"), .changed(id: "n"), .changed(id: "n"), .changed(id: "n"),
            .webhookPending,
        ]
        for stream in [first, second] {
            let seen = await collect(stream) { $0.count >= expected.count }
            #expect(seen == expected)
        }
    }

    @Test(arguments: JobStoreFactory.all)
    func reopeningKeepsEverything(factory: JobStoreFactory) async throws {
        let instance = try await factory.make()
        let store = instance.store
        _ = try await store.enqueue(newJob("queued", priority: .low, startDeadline: t0.addingTimeInterval(600)))
        _ = try await store.enqueue(newJob("running"))
        _ = try await store.enqueue(newJob("done", endpoint: "acme/b", webhookURL: "https://hooks.example/d"))
        _ = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 1, leaseDuration: 10, now: t0)
        _ = try await store.lease(endpointIDs: ["acme/b"], owner: "r", limit: 1, leaseDuration: 10, now: t0)
        _ = try await store.finish(id: "done", leaseToken: store.leaseToken(of: "done"), state: .completed, result: okResult, now: t0)
        try await store.appendLogs(id: "done", lines: [JobLogLine(message: "kept", level: "INFO", timestamp: t0)])
        var before: [Job] = []
        for id in ["queued", "running", "done"] { before.append(try #require(try await store.job(id: id))) }
        try await instance.close()

        let reopened = try await instance.reopen().store
        var after: [Job] = []
        for id in ["queued", "running", "done"] { after.append(try #require(try await reopened.job(id: id))) }
        #expect(after == before)
        #expect(try await reopened.logs(id: "done").map(\.message) == ["kept"])
        #expect(try await reopened.queuePosition(id: "queued") == 0)
        #expect(try await reopened.dueWebhooks(now: t0, limit: 5).map(\.requestID) == ["done"])
        // The lease survives too: the rescuer of the new process re-queues it.
        #expect(try await reopened.rescueExpiredLeases(now: t0.addingTimeInterval(10)) == ["running"])
    }
}
