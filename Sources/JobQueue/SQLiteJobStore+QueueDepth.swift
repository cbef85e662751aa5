import Foundation
import GRDB

/// A store that can count its queued jobs per endpoint cheaply (for `/metrics`).
public protocol QueuedJobCounting: Sendable {
    /// Queued (not yet leased) jobs per endpoint id; endpoints with none are absent.
    func queuedCounts() async throws -> [String: Int]
}

extension SQLiteJobStore: QueuedJobCounting {
    /// Queued (not yet leased) jobs per endpoint id, for metrics; endpoints with none are absent.
    public func queuedCounts() async throws -> [String: Int] {
        try await database.read { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT endpoint_id, COUNT(*) AS n FROM jobs WHERE state = 'queued' GROUP BY endpoint_id") {
                counts[row["endpoint_id"]] = row["n"]
            }
            return counts
        }
    }
}
