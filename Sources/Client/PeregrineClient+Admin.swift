import APITypes
import Foundation

extension PeregrineClient {
    /// Unfinished requests, running first (`GET /admin/requests`, admin key).
    /// - Parameter limit: most requests listed (the server caps it at 1000).
    /// - Throws: ``ClientError`` (403 with a key that is not an admin key).
    public func activeRequests(limit: Int = 1000) async throws -> [RequestSummary] {
        try await send(.GET, "\(baseURL)/admin/requests?limit=\(max(0, limit))", as: RequestList.self).requests
    }

    /// One request in any state, of any key (`GET /admin/requests/{id}`, admin key).
    /// - Parameter logs: include its log lines.
    /// - Throws: ``ClientError`` (404 for an unknown id).
    public func request(_ requestID: String, logs: Bool = false) async throws -> RequestSummary {
        try await send(.GET, "\(baseURL)/admin/requests/\(Self.escape(requestID))" + (logs ? "?logs=1" : ""), as: RequestSummary.self)
    }

    /// Which models are in memory and their load (`GET /admin/residency`, admin key).
    public func residency() async throws -> ResidencyReport {
        try await send(.GET, "\(baseURL)/admin/residency", as: ResidencyReport.self)
    }
}
