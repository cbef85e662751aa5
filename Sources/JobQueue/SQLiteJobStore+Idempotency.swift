import Foundation
import GRDB

extension SQLiteJobStore: IdempotencyStore {
    /// One durable transaction reads the key, and either inserts the job and the key together
    /// or returns the job the key names. Not group-committed: idempotent submits are retries,
    /// rare enough that an fsync of their own costs nothing that matters.
    public func enqueue(_ job: NewJob, claim: IdempotencyClaim, now: Date) async throws -> IdempotentEnqueue {
        guard job.maxAttempts >= 1 else {
            throw JobStoreError(.invalidArgument, "maxAttempts must be at least 1")
        }
        let nowMS = StoredTime.milliseconds(now)
        let expiresMS = StoredTime.milliseconds(now.addingTimeInterval(max(0, claim.window)))
        let outcome = try await database.write { db -> IdempotentEnqueue in
            if let row = try Self.liveKey(db, scope: claim.scope, key: claim.key, nowMS: nowMS) {
                let requestID: String = row["request_id"]
                let fingerprint: Data = row["fingerprint"]
                guard fingerprint == claim.fingerprint else { return .conflict(requestID: requestID) }
                guard let original = try Self.jobWithoutPayloads(db, id: requestID) else {
                    throw JobStoreError(.corrupt, "idempotency key names a missing job")
                }
                return .replayed(original)
            }
            guard let inserted = try Self.insert(job, enqueuedAt: nowMS, db) else {
                throw JobStoreError(.storage, "insert returned no row")
            }
            // A dead key (expired, or its job swept) is replaced in the same statement.
            try db.execute(sql: """
                INSERT OR REPLACE INTO idempotency_keys (scope, key, fingerprint, request_id, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [claim.scope, claim.key, claim.fingerprint, inserted.id, nowMS, expiresMS])
            return .created(inserted)
        }
        if case .created(let job) = outcome { broadcaster.publish([.enqueued(endpointID: job.endpointID)]) }
        return outcome
    }

    public func idempotentRequest(scope: String, key: String, now: Date) async throws -> String? {
        let nowMS = StoredTime.milliseconds(now)
        return try await database.read { db in
            try Self.liveKey(db, scope: scope, key: key, nowMS: nowMS).map { $0["request_id"] }
        }
    }

    public func sweepIdempotencyKeys(now: Date) async throws -> Int {
        let nowMS = StoredTime.milliseconds(now)
        return try await database.write { db in
            try db.execute(sql: "DELETE FROM idempotency_keys WHERE expires_at <= ?", arguments: [nowMS])
            return db.changesCount
        }
    }

    /// The key's row when it has not expired and the job it names still exists.
    private static func liveKey(_ db: Database, scope: String, key: String, nowMS: Int64) throws -> Row? {
        try Row.fetchOne(db, sql: """
            SELECT k.request_id, k.fingerprint FROM idempotency_keys k
            WHERE k.scope = ? AND k.key = ? AND k.expires_at > ?
              AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = k.request_id)
            """, arguments: [scope, key, nowMS])
    }
}
