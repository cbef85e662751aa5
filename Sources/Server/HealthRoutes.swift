import Foundation
import Hummingbird

/// `/health/live` (the process answers) and `/health/ready` (the job store answers too).
enum HealthRoutes {
    static func handle(_ call: APICall, services: APIServices) async throws -> Response {
        guard call.segments.count == 2, ["live", "ready"].contains(call.segments[1]) else {
            throw APIError.detail(.notFound, "Not Found")
        }
        try call.allow(.get, .head)
        if call.segments[1] == "ready" {
            do {
                _ = try await services.store.job(id: "health-check")
            } catch {
                throw APIError.typed(.serviceUnavailable, "Job store unavailable", type: "runner_scheduling_failure")
            }
        }
        let models = services.registry.entries.count
        return JSON.response(Data(#"{"status":"ok","models":\#(models)}"#.utf8))
    }
}
