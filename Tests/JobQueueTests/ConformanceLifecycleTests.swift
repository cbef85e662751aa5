import Foundation
import JobQueue
import Testing

/// The `JobStore` conformance suite, part 1: enqueue, lease, finish and their guards.
/// Every driver runs it through `JobStoreFactory.all`.
@Suite("JobStore conformance: lifecycle")
struct ConformanceLifecycleTests {
    @Test(arguments: JobStoreFactory.all)
    func enqueueStoresEverything(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        let request = NewJob(
            id: "req-1", endpointID: "acme/upscale/x4", input: Data(#"{"a":1}"#.utf8), priority: .low,
            startDeadline: t0.addingTimeInterval(30), maxAttempts: 2, webhookURL: "https://hooks.example/a",
            storeIO: false, runnerHint: "hint-7", apiKeyID: "pk_abc", objectLifetime: 3600)
        let before = Date()
        let job = try await store.enqueue(request)
        let after = Date()
        #expect(job.id == "req-1")
        #expect(job.endpointID == "acme/upscale/x4")
        #expect(job.input == request.input)
        #expect(job.priority == .low)
        #expect(job.state == .queued)
        #expect(job.attempt == 0)
        #expect(job.maxAttempts == 2)
        #expect(job.startDeadline == t0.addingTimeInterval(30))
        #expect(job.webhookURL == "https://hooks.example/a")
        #expect(job.storeIO == false)
        #expect(job.runnerHint == "hint-7")
        #expect(job.apiKeyID == "pk_abc")
        #expect(job.objectLifetime == 3600)
        #expect(job.result == nil && job.leaseOwner == nil && !job.cancelRequested)
        // Stamped by the store while enqueueing (stored to the millisecond, truncated).
        #expect(job.enqueuedAt >= before.addingTimeInterval(-0.001) && job.enqueuedAt <= after)
        #expect(try await store.job(id: "req-1") == job)
        #expect(try await store.job(id: "missing") == nil)
        var lean = job
        lean.input = nil
        #expect(try await store.jobWithoutPayloads(id: "req-1") == lean)
        #expect(try await store.jobWithoutPayloads(id: "missing") == nil)
    }

    @Test(arguments: JobStoreFactory.all)
    func duplicateIDIsRejected(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        _ = try await store.enqueue(newJob("dup"))
        await #expect(throws: JobStoreError.self) { _ = try await store.enqueue(newJob("dup")) }
        do {
            _ = try await store.enqueue(newJob("dup"))
        } catch let error as JobStoreError {
            #expect(error.code == .duplicateID)
        }
    }

    @Test(arguments: JobStoreFactory.all)
    func leaseThenFinish(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        let queued = try await store.enqueue(newJob("j1"))
        let leased = try await store.lease(
            endpointIDs: ["acme/upscale"], owner: "node-a/r1", limit: 5, leaseDuration: 30, now: t0)
        #expect(leased.map(\.id) == ["j1"])
        let running = try #require(leased.first)
        #expect(running.state == .running)
        #expect(running.attempt == 1)
        #expect(running.leaseOwner == "node-a/r1")
        #expect(running.leaseToken?.isEmpty == false)
        #expect(running.leaseExpiresAt == t0.addingTimeInterval(30))
        #expect(running.startedAt == t0)
        #expect(running.version > queued.version)
        #expect(try await store.lease(endpointIDs: ["acme/upscale"], owner: "other", limit: 5, leaseDuration: 30, now: t0).isEmpty)

        let finishedAt = t0.addingTimeInterval(2)
        #expect(try await store.finish(id: "j1", leaseToken: running.leaseToken ?? "", state: .completed, result: okResult, now: finishedAt))
        let done = try #require(try await store.job(id: "j1"))
        #expect(done.state == .completed)
        #expect(done.result == okResult)
        #expect(done.finishedAt == finishedAt)
        #expect(done.version > running.version)
        #expect(try await store.queuePosition(id: "j1") == nil)
        var lean = done
        lean.input = nil
        lean.result?.body = Data()
        #expect(try await store.jobWithoutPayloads(id: "j1") == lean)
    }

    @Test(arguments: JobStoreFactory.all)
    func finishIsGuardedByStateAndLease(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        _ = try await store.enqueue(newJob("g1"))
        // Not running yet.
        #expect(try await store.finish(id: "g1", leaseToken: "any", state: .completed, result: okResult, now: t0) == false)
        let leased = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r1", limit: 1, leaseDuration: 30, now: t0)
        let token = try #require(leased.first?.leaseToken)
        // Another lease's token.
        #expect(try await store.finish(id: "g1", leaseToken: "other", state: .completed, result: okResult, now: t0) == false)
        #expect(try await store.release(id: "g1", leaseToken: "other", retryable: true, result: okResult, now: t0) == nil)
        #expect(try await store.extendLease(id: "g1", leaseToken: "other", until: t0.addingTimeInterval(99)) == false)
        #expect(try await store.job(id: "g1")?.state == .running)
        // A non-terminal target state is a programming error.
        await #expect(throws: JobStoreError.self) {
            _ = try await store.finish(id: "g1", leaseToken: token, state: .queued, result: okResult, now: t0)
        }
        #expect(try await store.finish(id: "g1", leaseToken: token, state: .failed, result: modelError, now: t0))
        // Already terminal: a second finish changes nothing.
        #expect(try await store.finish(id: "g1", leaseToken: token, state: .completed, result: okResult, now: t0) == false)
        let job = try #require(try await store.job(id: "g1"))
        #expect(job.state == .failed)
        #expect(job.result == modelError)
        #expect(job.leaseToken == nil)
        #expect(try await store.finish(id: "nope", leaseToken: token, state: .completed, result: okResult, now: t0) == false)
    }

    @Test(arguments: JobStoreFactory.all)
    func logsAreAppendedInOrderAndBumpVersion(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        let job = try await store.enqueue(newJob("l1"))
        let lines = (0..<5).map { JobLogLine(message: "step \($0)", level: $0 == 4 ? "WARN" : "INFO", timestamp: t0.addingTimeInterval(Double($0))) }
        try await store.appendLogs(id: "l1", lines: Array(lines[0..<2]))
        try await store.appendLogs(id: "l1", lines: Array(lines[2...]))
        #expect(try await store.logs(id: "l1") == lines)
        #expect(try await store.job(id: "l1")!.version > job.version)
        #expect(try await store.logs(id: "other").isEmpty)
    }
}
