import Foundation
import Hummingbird
import JobQueue

/// `GET /metrics`: Prometheus's text format of the platform's registry: requests queued in the
/// store per model, the runner pool's residency state, and its latency, load, start and error
/// metrics.
enum MetricsRoute {
    static func response(services: APIServices) async -> Response {
        let queued = try? await (services.store as? any QueuedJobCounting)?.queuedCounts()
        let text = services.metrics.exposition(
            queued: queued, models: services.registry.endpointIDs, residency: services.pool?.residencySnapshot)
        let data = Data(text.utf8)
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        headers[.contentLength] = String(data.count)
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
