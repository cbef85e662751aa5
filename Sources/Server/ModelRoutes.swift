import APITypes
import Foundation
import Hummingbird

/// `GET /models`, `GET /models/{endpoint}/openapi.json` and fal's
/// `GET /openapi/queue/openapi.json?endpoint_id={endpoint}`.
enum ModelRoutes {
    static func handle(_ call: APICall, services: APIServices) throws -> Response {
        let s = call.segments
        if s == ["models"] {
            try call.allow(.get, .head)
            return JSON.response(ModelList(models: services.registry.entries.map { ModelInfo(manifest: $0.model.manifest) }))
        }
        let endpoint: String
        if s.first == "models", s.count >= 4, s.last == "openapi.json" {
            endpoint = s.dropFirst().dropLast().joined(separator: "/")
        } else if s == ["openapi", "queue", "openapi.json"] {
            guard let id = call.query("endpoint_id") else {
                throw APIError.validation([.key("query"), .key("endpoint_id")], "field required", type: "value_error.missing")
            }
            endpoint = id
        } else {
            throw APIError.detail(.notFound, "Not Found")
        }
        guard let entry = services.registry.entry(for: endpoint) else {
            throw APIError.detail(.notFound, "Endpoint '\(endpoint)' not found")
        }
        try call.allow(.get, .head)
        let document = OpenAPIDocument.make(for: entry.model.manifest, serverURL: call.base + "/queue")
        return JSON.response(document.encoded())
    }
}
