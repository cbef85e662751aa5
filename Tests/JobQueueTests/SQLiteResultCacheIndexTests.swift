import Foundation
import GRDB
import Testing

@testable import JobQueue

private func openIndex(beforeCommit: (@Sendable (String) throws -> Void)? = nil) throws -> SQLiteResultCacheIndex {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-cache-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return SQLiteResultCacheIndex(
        database: try SQLiteDatabase(path: directory.appendingPathComponent("jobs.sqlite").path), beforeCommit: beforeCommit)
}

private func entry(_ key: String, blobs: [String], bytes: Int64) -> ResultCacheEntry {
    ResultCacheEntry(key: key, endpointID: "m", output: Data("{\"k\":\"\(key)\"}".utf8), files: Data("[]".utf8), blobIDs: blobs, bytes: bytes, inferenceTime: 0.5)
}

@Suite("SQLite result cache index")
struct SQLiteResultCacheIndexTests {
    @Test("entries round-trip; a blob two entries name is released only with the second")
    func referenceCounts() async throws {
        let index = try openIndex()
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        #expect(try await index.insert(entry("a", blobs: ["x", "y"], bytes: 10), releaseAt: t0, budget: 100, now: t0).isEmpty)
        #expect(try await index.insert(entry("b", blobs: ["y"], bytes: 10), releaseAt: t0.addingTimeInterval(50), budget: 100, now: t0).isEmpty)
        let a = try #require(try await index.entry(key: "a", now: t0))
        #expect(a.blobIDs == ["x", "y"])
        #expect(a.inferenceTime == 0.5)
        #expect(try await index.totalBytes() == 20)
        #expect(try await index.remove(key: "a") == [ReleasedBlob(id: "x", releaseAt: t0)])
        try await index.extendRelease(blobIDs: ["y"], until: t0.addingTimeInterval(90))
        // The latest promised lifetime wins.
        #expect(try await index.remove(key: "b") == [ReleasedBlob(id: "y", releaseAt: t0.addingTimeInterval(90))])
        #expect(try await index.entry(key: "a", now: t0) == nil)
        #expect(try await index.totalBytes() == 0)
    }

    @Test("over the budget the least recently used entries go, never the one just stored")
    func leastRecentlyUsedFirst() async throws {
        let index = try openIndex()
        let t0 = Date(timeIntervalSince1970: 2_000_000)
        _ = try await index.insert(entry("a", blobs: ["a1"], bytes: 40), releaseAt: t0, budget: 100, now: t0)
        _ = try await index.insert(entry("b", blobs: ["b1"], bytes: 40), releaseAt: t0, budget: 100, now: t0.addingTimeInterval(1))
        _ = try await index.entry(key: "a", now: t0.addingTimeInterval(2))  // a used: b is the oldest now
        let released = try await index.insert(entry("c", blobs: ["c1"], bytes: 40), releaseAt: t0, budget: 100, now: t0.addingTimeInterval(3))
        #expect(released.map(\.id) == ["b1"])
        #expect(try await index.entry(key: "b", now: t0) == nil)
        #expect(try await index.entry(key: "a", now: t0) != nil)
        // One entry larger than the whole budget evicts everything else but stays itself.
        let all = try await index.insert(entry("d", blobs: ["d1"], bytes: 500), releaseAt: t0, budget: 100, now: t0.addingTimeInterval(4))
        #expect(Set(all.map(\.id)) == ["a1", "c1"])
    }

    @Test("a failure before the commit leaves no trace of the entry and keeps the others")
    func faultRollsBack() async throws {
        struct Fault: Error {}
        let index = try openIndex(beforeCommit: { key in if key == "bad" { throw Fault() } })
        let t0 = Date(timeIntervalSince1970: 3_000_000)
        _ = try await index.insert(entry("good", blobs: ["g"], bytes: 60), releaseAt: t0, budget: 100, now: t0)
        await #expect(throws: Fault.self) {
            // Would evict "good" and reference "g" a second time, had it committed.
            _ = try await index.insert(entry("bad", blobs: ["g", "h"], bytes: 60), releaseAt: t0, budget: 100, now: t0.addingTimeInterval(1))
        }
        #expect(try await index.entry(key: "bad", now: t0) == nil)
        #expect(try await index.entry(key: "good", now: t0) != nil)
        #expect(try await index.remove(key: "good") == [ReleasedBlob(id: "g", releaseAt: t0)], "one reference, as before")
    }

    @Test("pending keys and model switches")
    func pendingAndSwitches() async throws {
        let index = try openIndex()
        try await index.setPendingKey("k", jobID: "j")
        #expect(try await index.pendingKey(jobID: "j") == "k")
        try await index.clearPendingKey(jobID: "j")
        #expect(try await index.pendingKey(jobID: "j") == nil)
        #expect(try await index.isEnabled(endpointID: "m") == nil)
        try await index.setEnabled(false, endpointID: "m", now: Date())
        #expect(try await index.isEnabled(endpointID: "m") == false)
        try await index.setEnabled(nil, endpointID: "m", now: Date())
        #expect(try await index.isEnabled(endpointID: "m") == nil)
    }
}
