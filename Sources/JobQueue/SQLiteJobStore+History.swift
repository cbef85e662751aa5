import Foundation
import GRDB

extension SQLiteJobStore: RequestHistoryStore {
    /// Keyset pagination over `(enqueued_at, seq)` descending: a page costs its own rows
    /// whatever its depth, and rows inserted meanwhile never shift later pages.
    public func requestHistory(_ query: RequestHistoryQuery) async throws -> RequestHistoryPage {
        guard (1...RequestHistoryQuery.maxEndpoints).contains(query.endpointIDs.count) else {
            throw JobStoreError(.invalidArgument, "a history query names 1 to \(RequestHistoryQuery.maxEndpoints) endpoints")
        }
        guard (1...RequestHistoryQuery.maxLimit).contains(query.limit) else {
            throw JobStoreError(.invalidArgument, "a history page holds 1 to \(RequestHistoryQuery.maxLimit) requests")
        }
        var conditions = ["endpoint_id IN (\(Array(repeating: "?", count: query.endpointIDs.count).joined(separator: ", ")))"]
        var arguments = StatementArguments(query.endpointIDs)
        if case .key(let key) = query.owner {
            conditions.append("api_key_id = ?")
            arguments += [key]
        }
        conditions.append("enqueued_at >= ? AND enqueued_at < ?")
        arguments += [StoredTime.milliseconds(query.start), StoredTime.milliseconds(query.end)]
        if let id = query.requestID {
            conditions.append("id = ?")
            arguments += [id]
        }
        if let statuses = query.statuses {
            guard !statuses.isEmpty else { return RequestHistoryPage(jobs: [], next: nil) }
            let ordered = RequestHistoryStatus.allCases.filter(statuses.contains)
            conditions.append("(" + ordered.map(Self.condition).joined(separator: " OR ") + ")")
        }
        if let after = query.after {
            conditions.append("(enqueued_at, seq) < (?, ?)")
            arguments += [after.enqueuedAtMilliseconds, after.sequence]
        }
        let columns = query.includePayloads ? "*" : Self.payloadFreeColumns
        let sql = """
            SELECT \(columns) FROM jobs WHERE \(conditions.joined(separator: " AND "))
            ORDER BY enqueued_at DESC, seq DESC LIMIT \(query.limit + 1)
            """
        let bound = arguments
        return try await database.read { db in
            let rows = try Row.fetchAll(db, sql: sql, arguments: bound)
            let page = rows.prefix(query.limit)
            let jobs = try page.map(Job.init(row:))
            let next = rows.count > query.limit ? page.last.map {
                RequestHistoryPosition(enqueuedAtMilliseconds: $0["enqueued_at"], sequence: $0["seq"])
            } : nil
            return RequestHistoryPage(jobs: jobs, next: next)
        }
    }

    /// The SQL condition of one outcome class; the terminal classes split every terminal job.
    static func condition(_ status: RequestHistoryStatus) -> String {
        let terminal = "state IN ('completed', 'failed', 'cancelled')"
        switch status {
        case .success: return "(\(terminal) AND result_status < 400)"
        case .userError: return "(\(terminal) AND result_status BETWEEN 400 AND 499)"
        case .error: return "(\(terminal) AND (result_status IS NULL OR result_status >= 500))"
        case .inQueue: return "state = 'queued'"
        case .inProgress: return "state = 'running'"
        }
    }
}
