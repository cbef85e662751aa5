import Foundation
import GRDB

/// The result cache index in the embedded database, beside the jobs (tables `result_cache*`).
///
/// Sharing the jobs' file means one WAL and one fsync order: the pending key of a request is
/// written without an fsync of its own and made durable by the job insert's commit right after
/// it, and a backup of the file holds the queue and the cache index consistent with each other.
public struct SQLiteResultCacheIndex: ResultCacheIndex {
    /// The shared database.
    public let database: SQLiteDatabase
    /// Runs inside `insert`'s transaction after every row was written, before the commit: a
    /// test throws here to prove that a failure at that point leaves no partial entry.
    let beforeCommit: (@Sendable (String) throws -> Void)?

    /// An index over an open database.
    public init(database: SQLiteDatabase) {
        self.init(database: database, beforeCommit: nil)
    }

    init(database: SQLiteDatabase, beforeCommit: (@Sendable (String) throws -> Void)?) {
        self.database = database
        self.beforeCommit = beforeCommit
    }

    public func entry(key: String, now: Date) async throws -> ResultCacheEntry? {
        // A miss (every new request) reads only: the writer is taken to mark an entry used.
        let present = try await database.read { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM result_cache WHERE key = ?", arguments: [key]) ?? false
        }
        guard present else { return nil }
        return try await database.write(durable: false) { db in
            guard let row = try Row.fetchOne(db, sql: """
                UPDATE result_cache SET last_used_at = ? WHERE key = ?
                RETURNING key, endpoint_id, output, files, bytes, inference_time
                """, arguments: [StoredTime.milliseconds(now), key])
            else { return nil }
            let blobs = try String.fetchAll(
                db, sql: "SELECT blob_id FROM result_cache_entry_blobs WHERE key = ? ORDER BY blob_id", arguments: [key])
            return ResultCacheEntry(
                key: row["key"], endpointID: row["endpoint_id"], output: row["output"], files: row["files"],
                blobIDs: blobs, bytes: row["bytes"], inferenceTime: row["inference_time"])
        }
    }

    public func insert(_ entry: ResultCacheEntry, releaseAt: Date, budget: Int64, now: Date) async throws -> [ReleasedBlob] {
        let beforeCommit = self.beforeCommit
        return try await database.write { db in
            var released = try Self.delete(db, key: entry.key)
            let nowMS = StoredTime.milliseconds(now)
            try db.execute(sql: """
                INSERT INTO result_cache (key, endpoint_id, output, files, bytes, inference_time, created_at, last_used_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
                arguments: [entry.key, entry.endpointID, entry.output, entry.files, entry.bytes, entry.inferenceTime, nowMS, nowMS])
            let releaseMS = StoredTime.milliseconds(releaseAt)
            for blob in Set(entry.blobIDs) {
                try db.execute(
                    sql: "INSERT INTO result_cache_entry_blobs (key, blob_id) VALUES (?, ?)", arguments: [entry.key, blob])
                try db.execute(sql: """
                    INSERT INTO result_cache_blobs (blob_id, refs, release_at) VALUES (?, 1, ?)
                    ON CONFLICT (blob_id) DO UPDATE SET refs = refs + 1, release_at = max(release_at, excluded.release_at)
                    """, arguments: [blob, releaseMS])
            }
            // A blob referenced again (the replaced entry named it too) stays pinned.
            released.removeAll { entry.blobIDs.contains($0.id) }
            var total = try Int64.fetchOne(db, sql: "SELECT coalesce(sum(bytes), 0) FROM result_cache") ?? 0
            while total > budget {
                guard let victim = try Row.fetchOne(db, sql: """
                    SELECT key, bytes FROM result_cache WHERE key != ? ORDER BY last_used_at, rowid LIMIT 1
                    """, arguments: [entry.key])
                else { break }
                released += try Self.delete(db, key: victim["key"])
                total -= victim["bytes"] as Int64
            }
            try beforeCommit?(entry.key)
            return released
        }
    }

    public func remove(key: String) async throws -> [ReleasedBlob] {
        try await database.write { db in try Self.delete(db, key: key) }
    }

    /// Deletes one entry and drops its blob references.
    /// - Returns: the blobs left without a reference.
    static func delete(_ db: Database, key: String) throws -> [ReleasedBlob] {
        let blobs = try String.fetchAll(db, sql: "DELETE FROM result_cache_entry_blobs WHERE key = ? RETURNING blob_id", arguments: [key])
        try db.execute(sql: "DELETE FROM result_cache WHERE key = ?", arguments: [key])
        var released: [ReleasedBlob] = []
        for blob in blobs {
            try db.execute(sql: "UPDATE result_cache_blobs SET refs = refs - 1 WHERE blob_id = ?", arguments: [blob])
            if let row = try Row.fetchOne(
                db, sql: "DELETE FROM result_cache_blobs WHERE blob_id = ? AND refs <= 0 RETURNING release_at", arguments: [blob])
            {
                released.append(ReleasedBlob(id: blob, releaseAt: StoredTime.date(row["release_at"])))
            }
        }
        return released
    }

    public func extendRelease(blobIDs: [String], until: Date) async throws {
        guard !blobIDs.isEmpty else { return }
        let untilMS = StoredTime.milliseconds(until)
        try await database.write { db in
            for blob in blobIDs {
                try db.execute(
                    sql: "UPDATE result_cache_blobs SET release_at = max(release_at, ?) WHERE blob_id = ?", arguments: [untilMS, blob])
            }
        }
    }

    public func totalBytes() async throws -> Int64 {
        try await database.read { db in try Int64.fetchOne(db, sql: "SELECT coalesce(sum(bytes), 0) FROM result_cache") ?? 0 }
    }

    public func setPendingKey(_ key: String, jobID: String) async throws {
        // No fsync of its own: the job insert that follows commits through the same WAL.
        try await database.write(durable: false) { db in
            // Keys of requests that ended without a runner (cancelled while queued, timed out,
            // refused at insert) are dropped a few at a time here, so the table stays as small
            // as the set of requests in flight.
            // A key whose job is not there yet may belong to a submit in progress: only an old
            // one is an orphan.
            let nowMS = StoredTime.milliseconds(Date())
            try db.execute(sql: """
                DELETE FROM result_cache_pending WHERE job_id IN (
                    SELECT p.job_id FROM result_cache_pending p LEFT JOIN jobs j ON j.id = p.job_id
                    WHERE (j.id IS NULL AND p.created_at < ?) OR j.state NOT IN ('queued', 'running') LIMIT 8)
                """, arguments: [nowMS - 600_000])
            try db.execute(
                sql: "INSERT OR REPLACE INTO result_cache_pending (job_id, key, created_at) VALUES (?, ?, ?)",
                arguments: [jobID, key, nowMS])
        }
    }

    public func pendingKey(jobID: String) async throws -> String? {
        try await database.read { db in
            try String.fetchOne(db, sql: "SELECT key FROM result_cache_pending WHERE job_id = ?", arguments: [jobID])
        }
    }

    public func clearPendingKey(jobID: String) async throws {
        try await database.write(durable: false) { db in
            try db.execute(sql: "DELETE FROM result_cache_pending WHERE job_id = ?", arguments: [jobID])
        }
    }

    public func isEnabled(endpointID: String) async throws -> Bool? {
        try await database.read { db in
            try Bool.fetchOne(db, sql: "SELECT enabled FROM result_cache_models WHERE endpoint_id = ?", arguments: [endpointID])
        }
    }

    public func setEnabled(_ enabled: Bool?, endpointID: String, now: Date) async throws {
        try await database.write { db in
            if let enabled {
                try db.execute(sql: """
                    INSERT INTO result_cache_models (endpoint_id, enabled, updated_at) VALUES (?, ?, ?)
                    ON CONFLICT (endpoint_id) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at
                    """, arguments: [endpointID, enabled, StoredTime.milliseconds(now)])
            } else {
                try db.execute(sql: "DELETE FROM result_cache_models WHERE endpoint_id = ?", arguments: [endpointID])
            }
        }
    }
}
