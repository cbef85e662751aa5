import Foundation
import Hummingbird
import NIOCore
import ServiceLifecycle

/// A loopback HTTP endpoint that records webhook deliveries and fails them on demand.
actor WebhookRecorder {
    struct Delivery: Sendable {
        var headers: [String: String]
        var body: Data
        var answered: Int
    }

    private(set) var deliveries: [Delivery] = []
    /// The status answered to the next deliveries (500 makes the sender retry).
    var status = 500

    func setStatus(_ status: Int) { self.status = status }

    func record(headers: [String: String], body: Data) -> Int {
        deliveries.append(Delivery(headers: headers, body: body, answered: status))
        return status
    }
}

/// Runs a Hummingbird app on 127.0.0.1 with a free port for the recorder.
struct WebhookReceiver {
    let recorder = WebhookRecorder()

    /// Starts serving inside `body`'s lifetime and passes the hook URL.
    func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        let recorder = self.recorder
        router.post("/hook") { request, context -> Response in
            let buffer = try await request.body.collect(upTo: 16 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName.lowercased()] = field.value }
            let status = await recorder.record(headers: headers, body: Data(buffer.readableBytesView))
            return Response(status: .init(code: status))
        }
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) })
        return try await withThrowingTaskGroup(of: T?.self) { group in
            let serviceGroup = ServiceGroup(services: [app], logger: app.logger)
            group.addTask {
                try await serviceGroup.run()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw SystemTestError("webhook receiver did not start") }
            let result = try await body("http://127.0.0.1:\(port)/hook")
            await serviceGroup.triggerGracefulShutdown()
            for try await _ in group {}
            return result
        }
    }
}
