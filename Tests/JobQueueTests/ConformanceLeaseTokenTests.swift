import Foundation
import JobQueue
import Testing

/// The `JobStore` conformance suite: every lease has its own token, and only that lease's token
/// moves the job out of `running`, even when the same owner leased it again.
@Suite("JobStore conformance: lease tokens")
struct ConformanceLeaseTokenTests {
    /// Leases the one queued job of `acme/upscale` as `owner`.
    private func leaseOne(_ store: any JobStore, owner: String, now: Date) async throws -> Job {
        let leased = try await store.lease(
            endpointIDs: ["acme/upscale"], owner: owner, limit: 1, leaseDuration: 10, now: now)
        return try #require(leased.first)
    }

    @Test(arguments: JobStoreFactory.all)
    func staleAttemptOfSameOwnerCannotFinishTheReLease(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        _ = try await store.enqueue(newJob("same", maxAttempts: 3))
        let stale = try await leaseOne(store, owner: "node-a/acme/upscale", now: t0)
        #expect(try await store.rescueExpiredLeases(now: t0.addingTimeInterval(10)) == ["same"])
        // The same process leases it again under the same owner name.
        let fresh = try await leaseOne(store, owner: "node-a/acme/upscale", now: t0.addingTimeInterval(11))
        #expect(fresh.leaseOwner == stale.leaseOwner)
        #expect(fresh.attempt == 2)
        let staleToken = try #require(stale.leaseToken)
        let freshToken = try #require(fresh.leaseToken)
        #expect(staleToken != freshToken)

        // The first attempt wakes up late: every transition it tries is refused.
        #expect(try await store.extendLease(id: "same", leaseToken: staleToken, until: t0.addingTimeInterval(99)) == false)
        #expect(try await store.finish(id: "same", leaseToken: staleToken, state: .completed, result: okResult, now: t0) == false)
        #expect(try await store.release(id: "same", leaseToken: staleToken, retryable: true, result: okResult, now: t0) == nil)
        let running = try #require(try await store.job(id: "same"))
        #expect(running.state == .running && running.attempt == 2 && running.leaseToken == freshToken)
        #expect(running.leaseExpiresAt == t0.addingTimeInterval(21))

        // The current attempt still owns it.
        #expect(try await store.extendLease(id: "same", leaseToken: freshToken, until: t0.addingTimeInterval(40)))
        #expect(try await store.finish(id: "same", leaseToken: freshToken, state: .completed, result: modelError, now: t0))
        #expect(try await store.job(id: "same")?.result == modelError)
    }

    @Test(arguments: JobStoreFactory.all)
    func releasedAndReLeasedJobRefusesTheEarlierToken(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        _ = try await store.enqueue(newJob("again", maxAttempts: 3))
        let first = try await leaseOne(store, owner: "r", now: t0)
        let firstToken = try #require(first.leaseToken)
        #expect(try await store.release(id: "again", leaseToken: firstToken, retryable: true, result: okResult, now: t0) == .queued)
        #expect(try await store.job(id: "again")?.leaseToken == nil)
        let second = try await leaseOne(store, owner: "r", now: t0)
        #expect(second.leaseToken != firstToken)
        // A duplicate release from the first attempt must not requeue (or fail) the second.
        #expect(try await store.release(id: "again", leaseToken: firstToken, retryable: true, result: okResult, now: t0) == nil)
        #expect(try await store.job(id: "again")?.state == .running)
    }

    @Test(arguments: JobStoreFactory.all)
    func tokensAreUniquePerJobInOneLease(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        for i in 0..<5 { _ = try await store.enqueue(newJob("many-\(i)")) }
        let leased = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 5, leaseDuration: 10, now: t0)
        let tokens = leased.compactMap(\.leaseToken)
        #expect(tokens.count == 5)
        #expect(Set(tokens).count == 5)
    }
}
