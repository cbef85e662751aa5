import Foundation
import JobQueue
import Testing

/// The `JobStore` conformance suite, part 3: expired leases, releases, start deadlines, cancel.
@Suite("JobStore conformance: failures and cancellation")
struct ConformanceFailureTests {
    @Test(arguments: JobStoreFactory.all)
    func expiredLeasesAreRequeuedUntilAttemptsRunOut(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        _ = try await store.enqueue(newJob("x", maxAttempts: 2))
        _ = try await store.enqueue(newJob("y", maxAttempts: 2))
        let first = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r1", limit: 1, leaseDuration: 10, now: t0)
        let staleToken = try #require(first.first?.leaseToken)
        #expect(try await store.rescueExpiredLeases(now: t0.addingTimeInterval(9)).isEmpty)
        #expect(try await store.rescueExpiredLeases(now: t0.addingTimeInterval(10)) == ["x"])
        let requeued = try #require(try await store.job(id: "x"))
        #expect(requeued.state == .queued && requeued.attempt == 1 && requeued.leaseOwner == nil)
        // It keeps its place at the head of the queue.
        #expect(try await store.queuePosition(id: "x") == 0)
        // The runner that lost the lease can no longer finish it.
        #expect(try await store.finish(id: "x", leaseToken: staleToken, state: .completed, result: okResult, now: t0) == false)

        let second = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r2", limit: 1, leaseDuration: 10, now: t0.addingTimeInterval(20))
        #expect(second.map(\.id) == ["x"])
        #expect(second.first?.attempt == 2)
        #expect(try await store.rescueExpiredLeases(now: t0.addingTimeInterval(31)) == ["x"])
        let failed = try #require(try await store.job(id: "x"))
        #expect(failed.state == .failed)
        #expect(failed.result == .runnerDisconnected)
        #expect(failed.finishedAt == t0.addingTimeInterval(31))
        #expect(try await store.job(id: "y")?.state == .queued)
    }

    @Test(arguments: JobStoreFactory.all)
    func extendedLeasesAreNotRescued(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        _ = try await store.enqueue(newJob("e"))
        _ = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r1", limit: 1, leaseDuration: 10, now: t0)
        #expect(try await store.extendLease(id: "e", leaseToken: store.leaseToken(of: "e"), until: t0.addingTimeInterval(60)))
        #expect(try await store.job(id: "e")?.leaseExpiresAt == t0.addingTimeInterval(60))
        #expect(try await store.rescueExpiredLeases(now: t0.addingTimeInterval(30)).isEmpty)
        #expect(try await store.rescueExpiredLeases(now: t0.addingTimeInterval(60)) == ["e"])
    }

    @Test(arguments: JobStoreFactory.all)
    func releaseRetriesOnlyRetryableFailuresWithAttemptsLeft(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        _ = try await store.enqueue(newJob("r", maxAttempts: 2))
        let infra = JobResult(status: 503, body: Data(#"{"detail":"runner crashed","error_type":"runner_disconnected"}"#.utf8), errorMessage: "runner crashed", errorType: "runner_disconnected")
        _ = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r1", limit: 1, leaseDuration: 10, now: t0)
        #expect(try await store.release(id: "r", leaseToken: store.leaseToken(of: "r"), retryable: true, result: infra, now: t0) == .queued)
        #expect(try await store.job(id: "r")?.result == nil)
        _ = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r2", limit: 1, leaseDuration: 10, now: t0)
        // Second attempt of two: retryable, but nothing left.
        #expect(try await store.release(id: "r", leaseToken: store.leaseToken(of: "r"), retryable: true, result: infra, now: t0) == .failed)
        let job = try #require(try await store.job(id: "r"))
        #expect(job.state == .failed && job.attempt == 2 && job.result == infra)

        _ = try await store.enqueue(newJob("n", maxAttempts: 5))
        _ = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r3", limit: 1, leaseDuration: 10, now: t0)
        let token = try await store.leaseToken(of: "n")
        #expect(try await store.release(id: "n", leaseToken: token, retryable: false, result: infra, now: t0) == .failed)
        #expect(try await store.job(id: "n")?.result == infra)
        #expect(try await store.release(id: "n", leaseToken: token, retryable: true, result: infra, now: t0) == nil)
    }

    @Test(arguments: JobStoreFactory.all)
    func missedStartDeadlineEndsWith504(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        _ = try await store.enqueue(newJob("late", startDeadline: t0.addingTimeInterval(5)))
        _ = try await store.enqueue(newJob("free"))
        #expect(try await store.expireStartDeadlines(now: t0.addingTimeInterval(4)).isEmpty)
        // Past the deadline it is never started, even before the expiry pass ran.
        let leased = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 5, leaseDuration: 10, now: t0.addingTimeInterval(6))
        #expect(leased.map(\.id) == ["free"])
        #expect(try await store.expireStartDeadlines(now: t0.addingTimeInterval(6)) == ["late"])
        let job = try #require(try await store.job(id: "late"))
        #expect(job.state == .failed)
        #expect(job.result?.status == 504)
        let body = try #require(job.result.flatMap { jsonObject($0.body) })
        #expect(body["detail"] as? String == "Request timed out")
        #expect(body["error_type"] as? String == "request_timeout")
        #expect(job.result?.errorType == "request_timeout")
        #expect(try await store.expireStartDeadlines(now: t0.addingTimeInterval(60)).isEmpty)
    }

    @Test(arguments: JobStoreFactory.all)
    func cancelInEveryState(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        #expect(try await store.cancel(id: "missing", now: t0) == .notFound)

        _ = try await store.enqueue(newJob("q"))
        #expect(try await store.cancel(id: "q", now: t0) == .cancelled)
        let cancelled = try #require(try await store.job(id: "q"))
        #expect(cancelled.state == .cancelled && cancelled.result == .cancelled && cancelled.finishedAt == t0)
        #expect(try await store.cancel(id: "q", now: t0) == .alreadyCompleted)

        _ = try await store.enqueue(newJob("run"))
        _ = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 1, leaseDuration: 10, now: t0)
        let before = try #require(try await store.job(id: "run"))
        #expect(try await store.cancel(id: "run", now: t0) == .requested)
        let requested = try #require(try await store.job(id: "run"))
        #expect(requested.state == .running && requested.cancelRequested && requested.version > before.version)
        #expect(try await store.finish(id: "run", leaseToken: store.leaseToken(of: "run"), state: .cancelled, result: .cancelled, now: t0))
        #expect(try await store.job(id: "run")?.state == .cancelled)
        #expect(try await store.cancel(id: "run", now: t0) == .alreadyCompleted)

        _ = try await store.enqueue(newJob("done"))
        _ = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 1, leaseDuration: 10, now: t0)
        _ = try await store.finish(id: "done", leaseToken: store.leaseToken(of: "done"), state: .completed, result: okResult, now: t0)
        #expect(try await store.cancel(id: "done", now: t0) == .alreadyCompleted)
        #expect(try await store.job(id: "done")?.result == okResult)
    }

    @Test(arguments: JobStoreFactory.all)
    func cancelRequestWinsOverRetry(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        _ = try await store.enqueue(newJob("a", maxAttempts: 3))
        _ = try await store.enqueue(newJob("b", maxAttempts: 3))
        _ = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 2, leaseDuration: 10, now: t0)
        #expect(try await store.cancel(id: "a", now: t0) == .requested)
        #expect(try await store.cancel(id: "b", now: t0) == .requested)
        #expect(try await store.release(id: "a", leaseToken: store.leaseToken(of: "a"), retryable: true, result: .runnerDisconnected, now: t0) == .cancelled)
        #expect(try await store.rescueExpiredLeases(now: t0.addingTimeInterval(10)) == ["b"])
        #expect(try await store.job(id: "a")?.result == .cancelled)
        #expect(try await store.job(id: "b")?.state == .cancelled)
    }
}
