import APITypes
import Foundation
import Hummingbird
import Platform
import JobQueue
import Runners

/// The admin reads behind `peregrine ps` and `peregrine logs`:
/// - `GET /admin/requests[?limit=N]`: unfinished requests, running first (default and most 1000).
/// - `GET /admin/requests/{id}[?logs=1]`: one request in any state, of any key, with its logs.
/// - `GET /admin/residency`: which models are in memory, their load and the memory budget.
extension AdminRoutes {
    static let maxListedRequests = 1000

    static func requests(_ call: APICall, services: APIServices) async throws -> Response {
        try call.allow(.get)
        let s = call.segments
        if s.count == 3 {
            let id = s[2]
            call.requestID.withLockedValue { $0 = id }
            guard id.utf8.count <= 64, let job = try await services.store.jobWithoutPayloads(id: id) else {
                throw APIError.requestNotFound
            }
            var summary = try await summary(job, services: services)
            if SubmitOptions.flag(call.query("logs") ?? "0") ?? false {
                summary.logs = try await services.store.logs(id: id).map { LogLine(message: $0.message, level: $0.level, timestamp: $0.timestamp) }
            }
            return JSON.response(summary)
        }
        guard s.count == 2 else { throw APIError.detail(.notFound, "Not Found") }
        guard let listing = services.store as? any ActiveJobListing else {
            throw APIError.detail(.notImplemented, "This job store cannot list requests")
        }
        let limit: Int
        if let text = call.query("limit") {
            guard let n = Int(text), n >= 0 else {
                throw APIError.validation([.key("query"), .key("limit")], "value is not a valid non-negative integer", type: "type_error.integer")
            }
            limit = min(n, maxListedRequests)
        } else {
            limit = maxListedRequests
        }
        var summaries: [RequestSummary] = []
        for job in try await listing.activeJobs(limit: limit) { summaries.append(try await summary(job, services: services)) }
        return JSON.response(RequestList(requests: summaries))
    }

    static func residency(_ call: APICall, services: APIServices) throws -> Response {
        try call.allow(.get)
        guard let pool = services.pool else {
            throw APIError.typed(.serviceUnavailable, "No runner pool in this process", type: "runner_scheduling_failure")
        }
        let snapshot = pool.residencySnapshot
        let models = snapshot.models.map { id, state -> ModelResidency in
            let phase: String
            switch state.phase {
            case .unloaded: phase = "unloaded"
            case .loading: phase = "loading"
            case .loaded: phase = "loaded"
            }
            return ModelResidency(endpointID: id, phase: phase, bytes: state.accountedBytes, queued: state.queued, running: state.running)
        }
        let rank = ["loaded": 0, "loading": 1, "unloaded": 2]
        let sorted = models.sorted { (rank[$0.phase] ?? 3, $0.endpointID) < (rank[$1.phase] ?? 3, $1.endpointID) }
        return JSON.response(ResidencyReport(models: sorted, residentBytes: snapshot.residentBytes, budgetBytes: snapshot.budget))
    }

    private static func summary(_ job: Job, services: APIServices) async throws -> RequestSummary {
        let position = job.state == .queued ? try await services.store.queuePosition(id: job.id) : nil
        return RequestSummary(
            requestID: job.id, endpointID: job.endpointID, state: job.state.rawValue, queuePosition: position,
            priority: job.priority == .low ? "low" : "normal", attempt: job.attempt, enqueuedAt: job.enqueuedAt,
            startedAt: job.startedAt, apiKeyID: job.apiKeyID)
    }
}
