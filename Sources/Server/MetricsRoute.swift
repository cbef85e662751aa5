import Foundation
import Hummingbird
import JobQueue
import NIOConcurrencyHelpers

/// `GET /metrics`: Prometheus's text format: requests queued in the store per model, the runner
/// pool's residency state, and its latency, load, start and error metrics.
enum MetricsRoute {
    static func response(services: APIServices) async -> Response {
        var text = ""
        let models = services.registry.endpointIDs
        if let store = services.store as? SQLiteJobStore, let counts = try? await store.queuedCounts() {
            text += "# HELP peregrine_model_queued_requests Requests queued in the store, not yet taken by a runner.\n"
            text += "# TYPE peregrine_model_queued_requests gauge\n"
            for model in models.sorted() {
                text += "peregrine_model_queued_requests{model=\"\(escape(model))\"} \(counts[model] ?? 0)\n"
            }
        }
        text += services.residency.withLockedValue({ $0 })?().prometheusText() ?? ""
        text += services.pool.withLockedValue({ $0 })?.metrics.prometheusText(models: models) ?? ""
        let data = Data(text.utf8)
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        headers[.contentLength] = String(data.count)
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Escapes a label value as the text format requires (backslash, double quote, newline).
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
