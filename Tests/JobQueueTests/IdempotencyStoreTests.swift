import Foundation
import JobQueue
import Testing

/// A fresh SQLite store in a temporary directory, and its path for reopening.
private func freshStore() throws -> (store: SQLiteJobStore, path: String) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-idem-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent("jobs.sqlite").path
    return (try SQLiteJobStore(path: path), path)
}

private func claim(_ key: String = "k1", scope: String = "key-a", body: String = "a", window: TimeInterval = 60) -> IdempotencyClaim {
    IdempotencyClaim(scope: scope, key: key, fingerprint: Data(body.utf8), window: window)
}

@Suite("Idempotency keys (SQLite)")
struct IdempotencyStoreTests {
    @Test("the same key and request returns the original job; no second job is inserted")
    func sameKeySameRequestReplays() async throws {
        let (store, _) = try freshStore()
        let first = try await store.enqueue(newJob("j1"), claim: claim(), now: t0)
        guard case .created(let job) = first else { Issue.record("expected created, got \(first)"); return }
        #expect(job.id == "j1")
        let again = try await store.enqueue(newJob("j2"), claim: claim(), now: t0.addingTimeInterval(1))
        guard case .replayed(let original) = again else { Issue.record("expected replayed, got \(again)"); return }
        #expect(original.id == "j1")
        #expect(try await store.job(id: "j2") == nil)
        #expect(try await store.idempotentRequest(scope: "key-a", key: "k1", now: t0) == "j1")
    }

    @Test("the same key with a different request is a conflict naming the original")
    func differentRequestConflicts() async throws {
        let (store, _) = try freshStore()
        _ = try await store.enqueue(newJob("j1"), claim: claim(body: "a"), now: t0)
        let other = try await store.enqueue(newJob("j2"), claim: claim(body: "b"), now: t0)
        #expect(other == .conflict(requestID: "j1"))
        #expect(try await store.job(id: "j2") == nil)
    }

    @Test("a key holds across a reopen of the database")
    func survivesReopen() async throws {
        let (store, path) = try freshStore()
        _ = try await store.enqueue(newJob("j1"), claim: claim(), now: t0)
        try store.database.close()
        let reopened = try SQLiteJobStore(path: path)
        let again = try await reopened.enqueue(newJob("j2"), claim: claim(), now: t0.addingTimeInterval(30))
        guard case .replayed(let original) = again else { Issue.record("expected replayed, got \(again)"); return }
        #expect(original.id == "j1")
    }

    @Test("past its window a key is free again, and the sweep deletes expired keys")
    func windowExpiry() async throws {
        let (store, _) = try freshStore()
        _ = try await store.enqueue(newJob("j1"), claim: claim(window: 60), now: t0)
        let within = try await store.enqueue(newJob("j2"), claim: claim(window: 60), now: t0.addingTimeInterval(59.999))
        #expect(within == .replayed(try #require(try await store.jobWithoutPayloads(id: "j1"))))
        #expect(try await store.idempotentRequest(scope: "key-a", key: "k1", now: t0.addingTimeInterval(60)) == nil)
        let after = try await store.enqueue(newJob("j3"), claim: claim(body: "other", window: 60), now: t0.addingTimeInterval(60))
        guard case .created(let job) = after else { Issue.record("expected created, got \(after)"); return }
        #expect(job.id == "j3")
        // The key now names j3 until t0 + 120.
        #expect(try await store.sweepIdempotencyKeys(now: t0.addingTimeInterval(119)) == 0)
        #expect(try await store.idempotentRequest(scope: "key-a", key: "k1", now: t0.addingTimeInterval(119)) == "j3")
        #expect(try await store.sweepIdempotencyKeys(now: t0.addingTimeInterval(120)) == 1)
        #expect(try await store.idempotentRequest(scope: "key-a", key: "k1", now: t0.addingTimeInterval(60)) == nil)
    }

    @Test("keys are scoped per API key: another key's identical key is a new request")
    func scopedPerKey() async throws {
        let (store, _) = try freshStore()
        let a = try await store.enqueue(newJob("j1", apiKeyID: "key-a"), claim: claim(scope: "key-a"), now: t0)
        let b = try await store.enqueue(newJob("j2", apiKeyID: "key-b"), claim: claim(scope: "key-b"), now: t0)
        guard case .created = a, case .created = b else { Issue.record("expected two jobs: \(a), \(b)"); return }
        #expect(try await store.idempotentRequest(scope: "key-a", key: "k1", now: t0) == "j1")
        #expect(try await store.idempotentRequest(scope: "key-b", key: "k1", now: t0) == "j2")
    }

    @Test("a refused insert stores no key; a swept job frees its key")
    func keyNeverOutlivesItsJob() async throws {
        let (store, _) = try freshStore()
        var full = newJob("j0", apiKeyID: "key-a")
        full.maxQueuedForKey = 1
        _ = try await store.enqueue(full)
        var refused = newJob("j1", apiKeyID: "key-a")
        refused.maxQueuedForKey = 1
        await #expect(throws: JobStoreError.self) { try await store.enqueue(refused, claim: claim(), now: t0) }
        #expect(try await store.idempotentRequest(scope: "key-a", key: "k1", now: t0) == nil)

        _ = try await store.enqueue(newJob("j2"), claim: claim(window: 3600), now: t0)
        #expect(try await store.cancel(id: "j2", now: t0) == .cancelled)
        #expect(try await store.sweep(finishedBefore: t0.addingTimeInterval(1)).contains("j2"))
        #expect(try await store.idempotentRequest(scope: "key-a", key: "k1", now: t0) == nil)
        let fresh = try await store.enqueue(newJob("j3"), claim: claim(body: "changed", window: 3600), now: t0)
        guard case .created(let job) = fresh else { Issue.record("expected created, got \(fresh)"); return }
        #expect(job.id == "j3")
    }

    @Test("the maintenance pass sweeps expired keys")
    func maintenanceSweepsKeys() async throws {
        let (store, _) = try freshStore()
        _ = try await store.enqueue(newJob("j1"), claim: claim(window: 60), now: t0)
        let service = JobMaintenanceService(store: store, idempotency: store)
        #expect(await service.runOnce(now: t0.addingTimeInterval(30)).idempotencyKeysSwept == 0)
        #expect(await service.runOnce(now: t0.addingTimeInterval(61)).idempotencyKeysSwept == 1)
    }

    @Test("concurrent submits of one key make one job; every other caller gets it back")
    func concurrentSubmitsMakeOneJob() async throws {
        let (store, _) = try freshStore()
        let outcomes = try await withThrowingTaskGroup(of: IdempotentEnqueue.self) { group in
            for i in 0..<10 { group.addTask { try await store.enqueue(newJob("c\(i)"), claim: claim(), now: t0) } }
            return try await group.reduce(into: [IdempotentEnqueue]()) { $0.append($1) }
        }
        let created = outcomes.compactMap { outcome -> String? in
            if case .created(let job) = outcome { return job.id }
            return nil
        }
        #expect(created.count == 1)
        let replayed = outcomes.compactMap { outcome -> String? in
            if case .replayed(let job) = outcome { return job.id }
            return nil
        }
        #expect(replayed.count == 9 && Set(replayed) == Set(created))
    }
}
