import Foundation
import Hummingbird

/// `GET /metrics`: the runner pool's residency state in Prometheus's text format.
enum MetricsRoute {
    static func response(services: APIServices) -> Response {
        let text = services.residency.withLock { $0 }?().prometheusText() ?? ""
        let data = Data(text.utf8)
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        headers[.contentLength] = String(data.count)
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
