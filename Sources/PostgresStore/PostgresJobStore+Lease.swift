import Foundation
import JobQueue
import PostgresNIO

extension PostgresJobStore {
    /// One statement picks, locks and marks the jobs: `FOR UPDATE SKIP LOCKED` lets leasers on
    /// other nodes pass over rows another leaser holds instead of waiting on them, and the row
    /// recheck (`state = 'queued'`) drops a job another node leased in the meantime. The order is
    /// `SQLiteJobStore`'s fair order, computed over one snapshot; leasers racing on several nodes
    /// can each see the other's jobs as still queued, so fairness between them is approximate.
    public func lease(
        endpointIDs: [String], owner: String, limit: Int, leaseDuration: TimeInterval, now: Date
    ) async throws -> [Job] {
        guard limit >= 0 else { throw JobStoreError(.invalidArgument, "lease limit must not be negative") }
        let endpoints = Array(Set(endpointIDs)).sorted()
        guard limit > 0, !endpoints.isEmpty else { return [] }
        var binds = PostgresBindings()
        binds.append(endpoints)  // $1
        binds.append(StoredTime.milliseconds(now))  // $2
        binds.append(limit)  // $3
        binds.append(owner)  // $4
        binds.append(StoredTime.milliseconds(now.addingTimeInterval(leaseDuration)))  // $5
        binds.append(ClusterDatabase.channel)  // $6
        binds.append(database.origin)  // $7
        // Not flushed before it returns (as in SQLite): a lease lost to a crash leaves the job
        // queued, to be leased again. The token is random per job and lease (`gen_random_uuid` draws from the server's strong
        // random source), so no two attempts, even by the same owner, share one. Each leased
        // job's key is recorded as served now, in lease order; rows are upserted in key order so
        // concurrent leasers never wait on each other in a cycle.
        let query = PostgresQuery(unsafeSQL: """
            WITH \(Self.fairOrderCTE),
            picked AS MATERIALIZED (
                SELECT j.seq, r.priority, r.turn, r.served, r.enqueued_at
                FROM jobs j JOIN ranked r ON r.seq = j.seq
                WHERE j.state = 'queued'
                ORDER BY r.priority, r.turn, r.served, r.enqueued_at, r.seq
                LIMIT $3
                FOR UPDATE OF j SKIP LOCKED),
            ordered AS (
                SELECT seq, ROW_NUMBER() OVER (ORDER BY priority, turn, served, enqueued_at, seq) AS ord FROM picked),
            leased AS (
                UPDATE jobs
                SET state = 'running', attempt = attempt + 1, lease_owner = $4, lease_expires_at = $5,
                    lease_token = replace(gen_random_uuid()::text, '-', ''), started_at = $2, cancel_requested = false,
                    version = version + 1
                FROM ordered o
                WHERE jobs.seq = o.seq
                RETURNING jobs.*, o.ord),
            turns AS (
                INSERT INTO key_turns (endpoint_id, key, last_served)
                SELECT endpoint_id, COALESCE(api_key_id, ''), (SELECT COALESCE(MAX(last_served), 0) FROM key_turns) + MAX(ord)
                FROM leased GROUP BY 1, 2 ORDER BY 1, 2
                ON CONFLICT (endpoint_id, key) DO UPDATE SET last_served = excluded.last_served)
            SELECT leased.*, pg_notify($6, json_build_array($7::text, 'c:' || leased.id)::text) AS notified,
                \(ClusterDatabase.notDurable) AS not_durable
            FROM leased ORDER BY ord
            """, binds: binds)
        let leased = try await database.rows(query).map(Job.init(postgres:))
        database.publish(leased.map { .changed(id: $0.id) })
        return leased
    }

    /// Lease extensions do not bump `version`: nothing a status reader sees has changed. Not
    /// flushed before it returns: a lost extension only lets the lease expire sooner.
    public func extendLease(id: String, leaseToken: String, until: Date) async throws -> Bool {
        try await !database.rows(PostgresQuery(unsafeSQL: """
            UPDATE jobs SET lease_expires_at = $1
            WHERE id = $2 AND state = 'running' AND lease_token = $3
            RETURNING \(ClusterDatabase.notDurable)
            """, binds: Self.binds(StoredTime.milliseconds(until), id, leaseToken))).isEmpty
    }
}
