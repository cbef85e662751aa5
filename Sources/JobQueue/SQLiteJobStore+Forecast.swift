import Foundation
import GRDB

extension SQLiteJobStore: QueueForecastStore {
    public func runningStarts(endpointID: String) async throws -> [Date] {
        try await database.read { db in
            try Int64.fetchAll(db, sql: """
                SELECT started_at FROM jobs WHERE state = 'running' AND endpoint_id = ? AND started_at IS NOT NULL
                """, arguments: [endpointID]).map(StoredTime.date)
        }
    }

    /// Ranks the queued jobs as `queuePosition` does and counts those that sort before the
    /// would-be job: its turn is its key's running jobs plus its key's queued jobs of the same
    /// priority; it was enqueued last, so every row with an equal (priority, turn, served) and
    /// an enqueue time up to now is ahead of it.
    public func predictedPosition(endpointID: String, priority: JobPriority, apiKeyID: String?, now: Date) async throws -> Int {
        let nowMS = StoredTime.milliseconds(now)
        let key = apiKeyID ?? ""
        return try await database.read { db in
            let turn = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM jobs
                WHERE endpoint_id = ? AND COALESCE(api_key_id, '') = ?
                  AND (state = 'running' OR (state = 'queued' AND priority = ?
                       AND (start_deadline IS NULL OR start_deadline > ?)))
                """, arguments: [endpointID, key, priority.rawValue, nowMS]) ?? 0
            let served = try Int64.fetchOne(
                db, sql: "SELECT last_served FROM key_turns WHERE endpoint_id = ? AND key = ?",
                arguments: [endpointID, key]) ?? 0
            return try Int.fetchOne(db, sql: """
                WITH \(Self.fairOrderCTE(endpointCount: 1))
                SELECT COUNT(*) FROM ranked o WHERE (o.priority, o.turn, o.served, o.enqueued_at) <= (?, ?, ?, ?)
                """, arguments: [endpointID, endpointID, nowMS, priority.rawValue, turn, served, nowMS]) ?? 0
        }
    }
}
