import Foundation
import GRDB
@testable import JobQueue
import Tensor
import Testing

private func freshStore() throws -> SQLiteJobStore {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-history-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return try SQLiteJobStore(path: directory.appendingPathComponent("jobs.sqlite").path)
}

/// A query over the last and next hour (jobs are enqueued at the real time).
private func query(
    _ endpoints: [String] = ["acme/upscale"], owner: RequestHistoryOwner = .everyone, statuses: Set<RequestHistoryStatus>? = nil,
    after: RequestHistoryPosition? = nil, limit: Int = 50, payloads: Bool = false
) -> RequestHistoryQuery {
    RequestHistoryQuery(
        endpointIDs: endpoints, owner: owner, start: Date().addingTimeInterval(-3600), end: Date().addingTimeInterval(3600),
        statuses: statuses, after: after, limit: limit, includePayloads: payloads)
}

/// Every page of `base`, following `next`.
private func allPages(_ store: SQLiteJobStore, _ base: RequestHistoryQuery) async throws -> [[String]] {
    var pages: [[String]] = []
    var q = base
    while true {
        let page = try await store.requestHistory(q)
        pages.append(page.jobs.map(\.id))
        guard let next = page.next, pages.count < 100 else { return pages }
        q.after = next
    }
}

@Suite("Request history (SQLite)")
struct RequestHistoryStoreTests {
    @Test("pages follow each other newest first, with no request twice or missing")
    func pagination() async throws {
        let store = try freshStore()
        let ids = (0..<7).map { "j\($0)" }
        for id in ids { _ = try await store.enqueue(newJob(id)) }
        let pages = try await allPages(store, query(limit: 3))
        #expect(pages == [["j6", "j5", "j4"], ["j3", "j2", "j1"], ["j0"]])
        // A page that ends exactly at the last row says so.
        let exact = try await allPages(store, query(limit: 7))
        #expect(exact == [ids.reversed()])
        // Requests arriving meanwhile never shift later pages.
        let first = try await store.requestHistory(query(limit: 3))
        _ = try await store.enqueue(newJob("late"))
        let second = try await store.requestHistory(query(after: first.next, limit: 3))
        #expect(second.jobs.map(\.id) == ["j3", "j2", "j1"])
    }

    @Test("a key sees only its own requests; everyone sees all; other endpoints stay out")
    func ownership() async throws {
        let store = try freshStore()
        _ = try await store.enqueue(newJob("a1", apiKeyID: "a"))
        _ = try await store.enqueue(newJob("b1", apiKeyID: "b"))
        _ = try await store.enqueue(newJob("a2", apiKeyID: "a"))
        _ = try await store.enqueue(newJob("other", endpoint: "acme/other", apiKeyID: "a"))
        _ = try await store.enqueue(newJob("anon"))
        #expect(try await store.requestHistory(query(owner: .key("a"))).jobs.map(\.id) == ["a2", "a1"])
        #expect(try await store.requestHistory(query(owner: .key("b"))).jobs.map(\.id) == ["b1"])
        #expect(try await store.requestHistory(query()).jobs.map(\.id) == ["anon", "a2", "b1", "a1"])
        let both = try await store.requestHistory(query(["acme/upscale", "acme/other"], owner: .key("a")))
        #expect(both.jobs.map(\.id) == ["other", "a2", "a1"])
    }

    @Test("status and time filters; payloads only when asked")
    func filters() async throws {
        let store = try freshStore()
        for id in ["ok", "bad", "failed", "queued"] { _ = try await store.enqueue(newJob(id)) }
        let leased = try await store.lease(endpointIDs: ["acme/upscale"], owner: "t", limit: 3, leaseDuration: 60, now: Date())
        let tokens = Dictionary(uniqueKeysWithValues: leased.map { ($0.id, $0.leaseToken ?? "") })
        #expect(try await store.finish(id: "ok", leaseToken: tokens["ok"] ?? "", state: .completed, result: okResult, now: Date()))
        #expect(try await store.finish(id: "bad", leaseToken: tokens["bad"] ?? "", state: .completed, result: modelError, now: Date()))
        let failed = JobResult(status: 500, body: Data(#"{"detail":"boom"}"#.utf8), errorMessage: "boom", errorType: "internal_error")
        #expect(try await store.finish(id: "failed", leaseToken: tokens["failed"] ?? "", state: .failed, result: failed, now: Date()))

        func ids(_ statuses: Set<RequestHistoryStatus>) async throws -> [String] {
            try await store.requestHistory(query(statuses: statuses)).jobs.map(\.id)
        }
        #expect(try await ids([.success]) == ["ok"])
        #expect(try await ids([.userError]) == ["bad"])
        #expect(try await ids([.error]) == ["failed"])
        #expect(try await ids([.inQueue]) == ["queued"])
        #expect(try await ids([.inProgress]) == [])
        #expect(try await ids([.success, .userError]) == ["bad", "ok"])
        #expect(try await ids([]) == [])

        var past = query()
        past.end = Date().addingTimeInterval(-1800)
        #expect(try await store.requestHistory(past).jobs.isEmpty)

        let lean = try #require(try await store.requestHistory(query(statuses: [.success])).jobs.first)
        #expect(lean.input == nil && lean.result?.body.isEmpty == true)
        let full = try #require(try await store.requestHistory(query(statuses: [.success], payloads: true)).jobs.first)
        #expect(full.input != nil && full.result?.body == okResult.body)
    }

    @Test("limits outside 1...100 and endpoint lists outside 1...50 are refused", arguments: [0, 101, -1])
    func bounds(limit: Int) async throws {
        let store = try freshStore()
        await #expect(throws: JobStoreError.self) { try await store.requestHistory(query(limit: limit)) }
        await #expect(throws: JobStoreError.self) { try await store.requestHistory(query([])) }
        await #expect(throws: JobStoreError.self) {
            try await store.requestHistory(query((0...50).map { "e/\($0)" }))
        }
    }
}

@Suite("Queue forecast reads (SQLite)")
struct QueueForecastStoreTests {
    @Test("the predicted position of a new job is the queue position it gets", arguments: 0..<20)
    func predictedPositionMatches(seed: Int) async throws {
        let store = try freshStore()
        var rng = SplitMix64(seed: UInt64(seed))
        let keys: [String?] = ["a", "b", "c", nil]
        for i in 0..<Int(rng.next() % 12) {
            let key = keys[Int(rng.next() % 4)]
            let priority: JobPriority = rng.next() % 3 == 0 ? .low : .normal
            _ = try await store.enqueue(newJob("q\(i)", priority: priority, apiKeyID: key))
        }
        if rng.next() % 2 == 0 {
            _ = try await store.lease(endpointIDs: ["acme/upscale"], owner: "t", limit: Int(rng.next() % 3), leaseDuration: 60, now: Date())
        }
        let key = keys[Int(rng.next() % 4)]
        let priority: JobPriority = rng.next() % 3 == 0 ? .low : .normal
        let predicted = try await store.predictedPosition(endpointID: "acme/upscale", priority: priority, apiKeyID: key, now: Date())
        _ = try await store.enqueue(newJob("new", priority: priority, apiKeyID: key))
        #expect(try await store.queuePosition(id: "new") == predicted)
    }

    @Test("running starts are the lease times of the running jobs of the endpoint")
    func runningStarts() async throws {
        let store = try freshStore()
        _ = try await store.enqueue(newJob("r1"))
        _ = try await store.enqueue(newJob("r2"))
        _ = try await store.enqueue(newJob("x", endpoint: "acme/other"))
        _ = try await store.lease(endpointIDs: ["acme/upscale", "acme/other"], owner: "t", limit: 5, leaseDuration: 60, now: t0)
        #expect(try await store.runningStarts(endpointID: "acme/upscale") == [t0, t0])
    }
}

@Suite("Request history query plans (SQLite)")
struct RequestHistoryPlanTests {
    @Test("one key's history reads the key index, everyone's the time index: no table scan")
    func historyUsesItsIndexes() async throws {
        let store = try freshStore()
        func plan(_ owner: RequestHistoryOwner) async throws -> [String] {
            try await store.database.pool.read { db in
                var arguments: StatementArguments = ["a/b"]
                var sql = "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE endpoint_id IN (?)"
                if case .key(let key) = owner {
                    sql += " AND api_key_id = ?"
                    arguments += [key]
                }
                sql += " AND enqueued_at >= ? AND enqueued_at < ? ORDER BY enqueued_at DESC, seq DESC LIMIT 51"
                arguments += [0, 1]
                return try Row.fetchAll(db, sql: sql, arguments: arguments).map { $0["detail"] as String }
            }
        }
        let own = try await plan(.key("k"))
        #expect(own.contains { $0.contains("jobs_history_key") })
        let all = try await plan(.everyone)
        #expect(all.contains { $0.contains("jobs_history_time") })
        #expect(!(own + all).contains { $0 == "SCAN jobs" })
    }
}
