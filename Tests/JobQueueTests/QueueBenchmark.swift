import Foundation
import JobQueue
import Testing

/// Queue overhead on the embedded store, printed as JSON (DESIGN.md budget: submit → runner
/// start under 2 ms median; status reads cheap). A benchmark, not a test: it asserts nothing
/// about time and runs only with `PEREGRINE_BENCH=1`.
@Suite("Queue benchmark", .enabled(if: ProcessInfo.processInfo.environment["PEREGRINE_BENCH"] == "1"))
struct QueueBenchmark {
    @Test func submitToLeaseAndStatusReads() async throws {
        let store = try await JobStoreFactory.sqlite.make().store
        let count = 500
        var enqueue: [Double] = []
        var submitToStart: [Double] = []
        for i in 0..<count {
            let start = ContinuousClock.now
            _ = try await store.enqueue(newJob("b\(i)"))
            let enqueued = ContinuousClock.now
            let leased = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 1, leaseDuration: 30, now: Date())
            let end = ContinuousClock.now
            #expect(leased.count == 1)
            enqueue.append((enqueued - start).milliseconds)
            submitToStart.append((end - start).milliseconds)
        }
        for i in 0..<count { _ = try await store.enqueue(newJob("q\(i)")) }
        let reads = 5000
        let readStart = ContinuousClock.now
        for i in 0..<reads {
            let id = "q\(i % count)"
            _ = try await store.jobWithoutPayloads(id: id)
            _ = try await store.queuePosition(id: id)
        }
        let readSeconds = (ContinuousClock.now - readStart).milliseconds / 1000
        // Many submitters at once: group commit shares one fsync among the waiting enqueues.
        let concurrentStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<32 {
                group.addTask {
                    for i in 0..<20 { _ = try await store.enqueue(newJob("c\(task)-\(i)")) }
                }
            }
            try await group.waitForAll()
        }
        let concurrentSeconds = (ContinuousClock.now - concurrentStart).milliseconds / 1000
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        func p99(_ values: [Double]) -> Double { values.sorted()[values.count * 99 / 100] }
        let report: [String: Double] = [
            "enqueue_ms_median": median(enqueue), "enqueue_ms_p99": p99(enqueue),
            "submit_to_lease_ms_median": median(submitToStart), "submit_to_lease_ms_p99": p99(submitToStart),
            "status_reads_per_s": Double(reads) / readSeconds,
            "sequential_enqueues_per_s": 1000 / median(enqueue),
            "concurrent_enqueues_per_s_32_submitters": 640 / concurrentSeconds,
        ]
        let json = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        print("BENCH queue_sqlite " + String(decoding: json, as: UTF8.self))
    }
}
