import Foundation
import GRDB

extension SQLiteJobStore {
    public func lease(
        endpointIDs: [String], owner: String, limit: Int, leaseDuration: TimeInterval, now: Date
    ) async throws -> [Job] {
        guard limit >= 0 else { throw JobStoreError(.invalidArgument, "lease limit must not be negative") }
        let endpoints = Array(Set(endpointIDs))
        guard limit > 0, !endpoints.isEmpty else { return [] }
        let nowMS = StoredTime.milliseconds(now)
        let placeholders = Array(repeating: "?", count: endpoints.count).joined(separator: ", ")
        var sqlArguments: StatementArguments = [
            owner, StoredTime.milliseconds(now.addingTimeInterval(leaseDuration)), nowMS,
        ]
        sqlArguments += StatementArguments(endpoints)
        sqlArguments += [nowMS, limit]
        // One statement: concurrent leasers can never take the same job, and a job whose start
        // deadline passed is left for `expireStartDeadlines` instead of being started late.
        // Not fsynced: a lease lost to power failure leaves the job queued, to be leased again.
        let leaseArguments = sqlArguments
        let leased = try await database.write(durable: false) { db -> [Job] in
            let rows = try Row.fetchAll(db, sql: """
                UPDATE jobs
                SET state = 'running', attempt = attempt + 1, lease_owner = ?, lease_expires_at = ?,
                    started_at = ?, cancel_requested = 0, version = version + 1
                WHERE seq IN (
                    SELECT seq FROM jobs
                    WHERE state = 'queued' AND endpoint_id IN (\(placeholders))
                      AND (start_deadline IS NULL OR start_deadline > ?)
                    ORDER BY priority, enqueued_at, seq
                    LIMIT ?)
                RETURNING *
                """, arguments: leaseArguments)
            // RETURNING has no defined order: give the caller the lease order.
            let ordered = rows.sorted { a, b in
                let ka: (Int, Int64, Int64) = (a["priority"], a["enqueued_at"], a["seq"])
                let kb: (Int, Int64, Int64) = (b["priority"], b["enqueued_at"], b["seq"])
                return ka < kb
            }
            return try ordered.map(Job.init(row:))
        }
        broadcaster.publish(leased.map { .changed(id: $0.id) })
        return leased
    }

    /// Lease extensions do not bump `version`: nothing a status reader sees has changed.
    public func extendLease(id: String, owner: String, until: Date) async throws -> Bool {
        try await database.write(durable: false) { db in
            try db.execute(
                sql: "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND state = 'running' AND lease_owner = ?",
                arguments: [StoredTime.milliseconds(until), id, owner])
            return db.changesCount > 0
        }
    }
}
