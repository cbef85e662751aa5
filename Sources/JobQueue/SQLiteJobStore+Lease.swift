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
        let until = StoredTime.milliseconds(now.addingTimeInterval(leaseDuration))
        var arguments = StatementArguments(endpoints)
        arguments += StatementArguments(endpoints)
        arguments += [nowMS, limit]
        let pickArguments = arguments
        let pick = """
            WITH \(Self.fairOrderCTE(endpointCount: endpoints.count))
            SELECT seq FROM ranked ORDER BY \(Self.fairOrder) LIMIT ?
            """
        // One write transaction picks and marks the jobs: concurrent leasers can never take the
        // same job, and a job whose start deadline passed is left for `expireStartDeadlines`
        // instead of being started late.
        // Not fsynced: a lease lost to power failure leaves the job queued, to be leased again.
        let leased = try await database.write(durable: false) { db -> [Job] in
            let order = try Int64.fetchAll(db, sql: pick, arguments: pickArguments)
            guard !order.isEmpty else { return [] }
            let marks = Array(repeating: "?", count: order.count).joined(separator: ", ")
            var updateArguments: StatementArguments = [owner, until, nowMS]
            updateArguments += StatementArguments(order)
            // The token is random per job and lease (`randomblob` is a CSPRNG in SQLite), so no
            // two attempts, even by the same owner, share one.
            let rows = try Row.fetchAll(db, sql: """
                UPDATE jobs
                SET state = 'running', attempt = attempt + 1, lease_owner = ?, lease_expires_at = ?,
                    lease_token = lower(hex(randomblob(16))), started_at = ?, cancel_requested = 0,
                    version = version + 1
                WHERE seq IN (\(marks)) AND state = 'queued'
                RETURNING *
                """, arguments: updateArguments)
            // RETURNING has no defined order: give the caller the lease order.
            let rank = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
            let ordered = rows.sorted { a, b in
                rank[a["seq"] as Int64, default: .max] < rank[b["seq"] as Int64, default: .max]
            }
            let jobs = try ordered.map(Job.init(row:))
            // Each leased job's key was served now, in lease order.
            let served = try db.makeStatement(sql: """
                INSERT INTO key_turns (endpoint_id, key, last_served)
                VALUES (?, ?, (SELECT COALESCE(MAX(last_served), 0) + 1 FROM key_turns))
                ON CONFLICT (endpoint_id, key) DO UPDATE SET last_served = excluded.last_served
                """)
            for job in jobs {
                try served.execute(arguments: [job.endpointID, job.apiKeyID ?? ""])
            }
            return jobs
        }
        broadcaster.publish(leased.map { .changed(id: $0.id) })
        return leased
    }

    /// Lease extensions do not bump `version`: nothing a status reader sees has changed.
    public func extendLease(id: String, leaseToken: String, until: Date) async throws -> Bool {
        try await database.write(durable: false) { db in
            try db.execute(
                sql: "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND state = 'running' AND lease_token = ?",
                arguments: [StoredTime.milliseconds(until), id, leaseToken])
            return db.changesCount > 0
        }
    }
}
