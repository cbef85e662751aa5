import Foundation
import JobQueue
#if canImport(Glibc)
import Glibc
#endif

/// With `PEREGRINE_TEST_KILL_BEFORE_CACHE_INDEX=1`, the fixture server SIGKILLs itself when the
/// result cache is about to commit an index row: after the output blobs were written and pinned,
/// before the row exists, which is the one point where a careless order would serve a partial
/// result after the restart.
struct KillingResultCacheIndex: ResultCacheIndex {
    let wrapped: SQLiteResultCacheIndex

    func insert(_ entry: ResultCacheEntry, releaseAt: Date, budget: Int64, now: Date) async throws -> [ReleasedBlob] {
        FileHandle.standardOutput.write(Data("KILLING BEFORE CACHE INDEX\n".utf8))
        kill(getpid(), SIGKILL)
        return try await wrapped.insert(entry, releaseAt: releaseAt, budget: budget, now: now)
    }

    func entry(key: String, now: Date) async throws -> ResultCacheEntry? { try await wrapped.entry(key: key, now: now) }
    func remove(key: String) async throws -> [ReleasedBlob] { try await wrapped.remove(key: key) }
    func extendRelease(blobIDs: [String], until: Date) async throws { try await wrapped.extendRelease(blobIDs: blobIDs, until: until) }
    func totalBytes() async throws -> Int64 { try await wrapped.totalBytes() }
    func setPendingKey(_ key: String, jobID: String) async throws { try await wrapped.setPendingKey(key, jobID: jobID) }
    func pendingKey(jobID: String) async throws -> String? { try await wrapped.pendingKey(jobID: jobID) }
    func clearPendingKey(jobID: String) async throws { try await wrapped.clearPendingKey(jobID: jobID) }
    func isEnabled(endpointID: String) async throws -> Bool? { try await wrapped.isEnabled(endpointID: endpointID) }
    func setEnabled(_ enabled: Bool?, endpointID: String, now: Date) async throws {
        try await wrapped.setEnabled(enabled, endpointID: endpointID, now: now)
    }
}
