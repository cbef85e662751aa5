import Foundation
import JobQueue
import Testing

/// The `JobStore` conformance suite, part listing: drivers that adopt `ActiveJobListing` (what
/// `GET /admin/requests` and `peregrine ps` read) list the same jobs in the same order.
@Suite("JobStore conformance: active job listing")
struct ConformanceListingTests {
    @Test(arguments: JobStoreFactory.all)
    func runningFirstThenQueuedWithoutPayloads(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        let listing = try #require(store as? any ActiveJobListing, "\(factory.name) does not list active jobs")
        for id in ["a", "b", "c", "d"] { _ = try await store.enqueue(newJob(id)) }
        let leased = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 1, leaseDuration: 30, now: t0)
        #expect(leased.map(\.id) == ["a"])
        #expect(try await store.cancel(id: "c", now: t0) == .cancelled)

        let active = try await listing.activeJobs(limit: 10)
        #expect(active.map(\.id) == ["a", "b", "d"])
        #expect(active.map(\.state) == [.running, .queued, .queued])
        #expect(active.allSatisfy { $0.input == nil })
        #expect(try await listing.activeJobs(limit: 1).map(\.id) == ["a"])
        #expect(try await listing.activeJobs(limit: 0).isEmpty)
    }
}
