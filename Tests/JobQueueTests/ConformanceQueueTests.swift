import Foundation
import JobQueue
import Testing

/// The `JobStore` conformance suite, part 2: lease order, queue positions, endpoints, concurrency.
@Suite("JobStore conformance: queue order")
struct ConformanceQueueTests {
    @Test(arguments: JobStoreFactory.all)
    func normalBeforeLowAndFIFOWithin(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        for (id, priority) in [("a", JobPriority.low), ("b", .normal), ("c", .low), ("d", .normal), ("e", .normal)] {
            _ = try await store.enqueue(newJob(id, priority: priority))
        }
        var order: [String] = []
        while let job = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 1, leaseDuration: 30, now: t0).first {
            order.append(job.id)
        }
        #expect(order == ["b", "d", "e", "a", "c"])
    }

    @Test(arguments: JobStoreFactory.all)
    func batchLeaseReturnsLeaseOrder(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        for i in 0..<6 { _ = try await store.enqueue(newJob("j\(i)", priority: i % 2 == 0 ? .low : .normal)) }
        let leased = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 4, leaseDuration: 30, now: t0)
        #expect(leased.map(\.id) == ["j1", "j3", "j5", "j0"])
        #expect(leased.allSatisfy { $0.state == .running && $0.leaseOwner == "r" })
    }

    @Test(arguments: JobStoreFactory.all)
    func queuePositionsFollowLeaseOrder(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        for (id, priority) in [("a", JobPriority.low), ("b", .normal), ("c", .low), ("d", .normal)] {
            _ = try await store.enqueue(newJob(id, priority: priority))
        }
        _ = try await store.enqueue(newJob("other", endpoint: "acme/other"))
        func positions() async throws -> [String: Int?] {
            var result: [String: Int?] = [:]
            for id in ["a", "b", "c", "d", "other", "missing"] { result[id] = try await store.queuePosition(id: id) }
            return result
        }
        #expect(try await positions() == ["a": 2, "b": 0, "c": 3, "d": 1, "other": 0, "missing": nil])
        _ = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 1, leaseDuration: 30, now: t0)
        #expect(try await positions() == ["a": 1, "b": nil, "c": 2, "d": 0, "other": 0, "missing": nil])
        _ = try await store.cancel(id: "a", now: t0)
        #expect(try await positions() == ["a": nil, "b": nil, "c": 1, "d": 0, "other": 0, "missing": nil])
    }

    @Test(arguments: JobStoreFactory.all)
    func leasesOnlyTheAskedEndpoints(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        _ = try await store.enqueue(newJob("u1", endpoint: "acme/upscale"))
        _ = try await store.enqueue(newJob("d1", endpoint: "acme/denoise"))
        _ = try await store.enqueue(newJob("v1", endpoint: "acme/video"))
        _ = try await store.enqueue(newJob("u2", endpoint: "acme/upscale"))
        #expect(try await store.lease(endpointIDs: [], owner: "r", limit: 10, leaseDuration: 30, now: t0).isEmpty)
        #expect(try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 0, leaseDuration: 30, now: t0).isEmpty)
        let upscale = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 10, leaseDuration: 30, now: t0)
        #expect(upscale.map(\.id) == ["u1", "u2"])
        let mixed = try await store.lease(
            endpointIDs: ["acme/denoise", "acme/video", "acme/none"], owner: "r", limit: 10, leaseDuration: 30, now: t0)
        #expect(Set(mixed.map(\.id)) == ["d1", "v1"])
    }

    @Test(arguments: JobStoreFactory.all)
    func concurrentEnqueuesAreAllStoredAndDuplicatesRefusedAlone(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        _ = try await store.enqueue(newJob("taken"))
        let outcomes = try await withThrowingTaskGroup(of: [(id: String, stored: Bool)].self) { group in
            for task in 0..<8 {
                group.addTask {
                    var mine: [(id: String, stored: Bool)] = []
                    for i in 0..<25 {
                        // Each task tries the taken id once, in the middle of its run.
                        let id = i == 12 ? "taken" : "t\(task)-\(i)"
                        do {
                            let job = try await store.enqueue(newJob(id))
                            #expect(job.id == id && job.state == .queued)
                            mine.append((id, true))
                        } catch let error as JobStoreError where error.code == .duplicateID {
                            mine.append((id, false))
                        }
                    }
                    return mine
                }
            }
            var all: [(id: String, stored: Bool)] = []
            for try await outcome in group { all += outcome }
            return all
        }
        #expect(outcomes.filter { !$0.stored }.map(\.id) == Array(repeating: "taken", count: 8))
        let stored = outcomes.filter(\.stored).map(\.id)
        #expect(stored.count == 8 * 24)
        for id in stored { #expect(try await store.job(id: id)?.state == .queued) }
        // Every stored job is in the queue exactly once.
        var leased: [String] = []
        while case let jobs = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 50, leaseDuration: 30, now: t0), !jobs.isEmpty {
            leased += jobs.map(\.id)
        }
        #expect(Set(leased) == Set(stored + ["taken"]) && leased.count == stored.count + 1)
    }

    @Test(arguments: JobStoreFactory.all)
    func concurrentLeasersNeverShareAJob(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        let total = 60
        for i in 0..<total { _ = try await store.enqueue(newJob("c\(i)", endpoint: i % 2 == 0 ? "acme/a" : "acme/b")) }
        let perLeaser = try await withThrowingTaskGroup(of: [String].self) { group in
            for leaser in 0..<8 {
                group.addTask {
                    var mine: [String] = []
                    while true {
                        let jobs = try await store.lease(
                            endpointIDs: ["acme/a", "acme/b"], owner: "leaser-\(leaser)", limit: 3,
                            leaseDuration: 30, now: t0)
                        if jobs.isEmpty { return mine }
                        #expect(jobs.allSatisfy { $0.leaseOwner == "leaser-\(leaser)" })
                        mine += jobs.map(\.id)
                    }
                }
            }
            var all: [[String]] = []
            for try await ids in group { all.append(ids) }
            return all
        }
        let leased = perLeaser.flatMap { $0 }
        #expect(leased.count == total)
        #expect(Set(leased).count == total)
        for ids in perLeaser {
            for id in ids { #expect(try await store.job(id: id)?.attempt == 1) }
        }
    }
}
