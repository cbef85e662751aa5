import Foundation
import JobQueue
import Testing

/// The `JobStore` conformance suite: fairness between API keys and per-key queue limits.
@Suite("JobStore conformance: fairness between keys")
struct ConformanceFairnessTests {
    /// Leases one job at a time until the queue is empty, finishing each at once.
    private func drain(_ store: any JobStore, endpoint: String = "acme/upscale") async throws -> [String] {
        var order: [String] = []
        while let job = try await store.lease(endpointIDs: [endpoint], owner: "r", limit: 1, leaseDuration: 30, now: t0).first {
            order.append(job.id)
            #expect(try await store.finish(id: job.id, leaseToken: store.leaseToken(of: job.id), state: .completed, result: okResult, now: t0))
        }
        return order
    }

    @Test(arguments: JobStoreFactory.all)
    func aFloodingKeyDoesNotStarveALaterKey(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        for i in 0..<6 { _ = try await store.enqueue(newJob("a\(i)", apiKeyID: "flood")) }
        _ = try await store.enqueue(newJob("b0", apiKeyID: "quiet"))
        _ = try await store.enqueue(newJob("b1", apiKeyID: "quiet"))
        _ = try await store.enqueue(newJob("c0", apiKeyID: "third"))
        #expect(try await store.queuePosition(id: "b0") == 1)
        #expect(try await store.queuePosition(id: "c0") == 2)
        #expect(try await store.queuePosition(id: "b1") == 4)
        #expect(try await store.queuePosition(id: "a5") == 8)
        // Round robin between keys, FIFO within a key and among equal turns.
        #expect(try await drain(store) == ["a0", "b0", "c0", "a1", "b1", "a2", "a3", "a4", "a5"])
    }

    @Test(arguments: JobStoreFactory.all)
    func runningJobsCountAgainstTheirKeysTurn(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        for i in 0..<3 { _ = try await store.enqueue(newJob("a\(i)", apiKeyID: "flood")) }
        let first = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 2, leaseDuration: 30, now: t0)
        #expect(first.map(\.id) == ["a0", "a1"])
        _ = try await store.enqueue(newJob("b0", apiKeyID: "quiet"))
        _ = try await store.enqueue(newJob("b1", apiKeyID: "quiet"))
        // "flood" has two running: "quiet" gets the next two slots although a2 was queued first.
        #expect(try await store.queuePosition(id: "b0") == 0)
        #expect(try await store.queuePosition(id: "a2") == 2)
        let next = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 2, leaseDuration: 30, now: t0)
        #expect(next.map(\.id) == ["b0", "b1"])
    }

    @Test(arguments: JobStoreFactory.all)
    func priorityStillComesBeforeFairness(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        _ = try await store.enqueue(newJob("low-quiet", priority: .low, apiKeyID: "quiet"))
        for i in 0..<3 { _ = try await store.enqueue(newJob("n\(i)", apiKeyID: "flood")) }
        _ = try await store.enqueue(newJob("anon"))
        #expect(try await store.queuePosition(id: "low-quiet") == 4)
        #expect(try await drain(store) == ["n0", "anon", "n1", "n2", "low-quiet"])
    }

    @Test(arguments: JobStoreFactory.all)
    func fairnessIsPerEndpointSet(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        // A key's running jobs on another endpoint do not cost it turns here.
        _ = try await store.enqueue(newJob("v0", endpoint: "acme/video", apiKeyID: "a"))
        _ = try await store.lease(endpointIDs: ["acme/video"], owner: "r", limit: 1, leaseDuration: 30, now: t0)
        _ = try await store.enqueue(newJob("a0", apiKeyID: "a"))
        _ = try await store.enqueue(newJob("b0", apiKeyID: "b"))
        #expect(try await store.queuePosition(id: "a0") == 0)
        #expect(try await drain(store) == ["a0", "b0"])
    }

    @Test(arguments: JobStoreFactory.all)
    func queueLimitPerKeyIsEnforcedAtInsert(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        func limited(_ id: String, key: String?) -> NewJob {
            var job = newJob(id, apiKeyID: key)
            job.maxQueuedForKey = 2
            return job
        }
        _ = try await store.enqueue(limited("a0", key: "a"))
        _ = try await store.enqueue(limited("a1", key: "a"))
        await #expect(throws: JobStoreError.self) { _ = try await store.enqueue(limited("a2", key: "a")) }
        do {
            _ = try await store.enqueue(limited("a2", key: "a"))
        } catch let error as JobStoreError {
            #expect(error.code == .queueLimit)
        }
        #expect(try await store.job(id: "a2") == nil)
        // Other keys and keyless jobs are unaffected.
        _ = try await store.enqueue(limited("b0", key: "b"))
        _ = try await store.enqueue(limited("x0", key: nil))
        _ = try await store.enqueue(limited("x1", key: nil))
        _ = try await store.enqueue(limited("x2", key: nil))
        // A leased job no longer counts as queued.
        let leased = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 1, leaseDuration: 30, now: t0)
        #expect(leased.map(\.id) == ["a0"])
        _ = try await store.enqueue(limited("a2", key: "a"))
    }

    @Test(arguments: JobStoreFactory.all)
    func concurrentSubmitsCannotOvershootTheLimit(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        let stored = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<24 {
                group.addTask {
                    var job = newJob("c\(i)", apiKeyID: "burst")
                    job.maxQueuedForKey = 10
                    do {
                        _ = try await store.enqueue(job)
                        return true
                    } catch let error as JobStoreError where error.code == .queueLimit {
                        return false
                    }
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(stored == 10)
    }
}
