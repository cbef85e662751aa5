import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A webhook receiver on 127.0.0.1 for tests: records every request and answers with the next
/// scripted status (200 once the script is used up).
final class TestReceiver: @unchecked Sendable {
    struct Request: Sendable {
        var method: String
        var uri: String
        var headers: [String: String]
        var body: Data
    }

    private let lock = NSLock()
    private var statuses: [Int]
    private var received: [Request] = []
    private var channel: Channel?

    private init(statuses: [Int]) {
        self.statuses = statuses
    }

    /// Starts a receiver on `host` (loopback) and `port` (0: an ephemeral one).
    static func start(statuses: [Int] = [], host: String = "127.0.0.1", port: Int = 0) async throws -> TestReceiver {
        let receiver = TestReceiver(statuses: statuses)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(ReceiverHandler(receiver: receiver))
                }
            }
            .bind(host: host, port: port).get()
        receiver.lock.withLock { receiver.channel = channel }
        return receiver
    }

    /// The hook URL.
    var url: String { "http://127.0.0.1:\(lock.withLock { channel?.localAddress?.port ?? 0 })/hook" }

    /// The port it listens on.
    var port: Int { lock.withLock { channel?.localAddress?.port ?? 0 } }

    /// Requests received so far.
    var requests: [Request] { lock.withLock { received } }

    func stop() async throws {
        if let channel = lock.withLock({ channel }) { try await channel.close() }
    }

    fileprivate func record(_ request: Request) -> Int {
        lock.withLock {
            received.append(request)
            return statuses.isEmpty ? 200 : statuses.removeFirst()
        }
    }
}

private final class ReceiverHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let receiver: TestReceiver
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(receiver: TestReceiver) {
        self.receiver = receiver
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            guard let head else { return }
            var headers: [String: String] = [:]
            for (name, value) in head.headers { headers[name.lowercased()] = value }
            let status = receiver.record(
                .init(method: head.method.rawValue, uri: head.uri, headers: headers, body: Data(body.readableBytesView)))
            let response = HTTPResponseHead(
                version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: ["content-length": "0"])
            context.write(wrapOutboundOut(.head(response)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
