import Crypto
import Foundation
import TestSupport
import JobQueue
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
import Webhooks

/// A webhook receiver on 127.0.0.1 that answers 200 and then sends a chunked body one byte
/// per interval, for as long as the connection stays open: a slow peer.
final class TricklingReceiver: @unchecked Sendable {
    private let lock = NSLock()
    private var received = 0
    private var open = 0
    private var channel: Channel?

    static func start(interval: TimeAmount = .milliseconds(20)) async throws -> TricklingReceiver {
        let receiver = TricklingReceiver()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(TrickleHandler(receiver: receiver, interval: interval))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        receiver.lock.withLock { receiver.channel = channel }
        return receiver
    }

    var url: String { "http://127.0.0.1:\(lock.withLock { channel?.localAddress?.port ?? 0 })/slow" }
    /// Requests received.
    var requests: Int { lock.withLock { received } }
    /// Answers still being trickled (their connection is open).
    var trickling: Int { lock.withLock { open } }

    func stop() async throws {
        if let channel = lock.withLock({ channel }) { try await channel.close() }
    }

    fileprivate func began() { lock.withLock { received += 1; open += 1 } }
    fileprivate func ended() { lock.withLock { open -= 1 } }
}

private final class TrickleHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let receiver: TricklingReceiver
    private let interval: TimeAmount
    private var task: RepeatedTask?

    init(receiver: TricklingReceiver, interval: TimeAmount) {
        self.receiver = receiver
        self.interval = interval
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data), task == nil else { return }
        receiver.began()
        let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["transfer-encoding": "chunked"])
        context.writeAndFlush(wrapOutboundOut(.head(head)), promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        task = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            bound.value.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: [0x78])))), promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let task {
            task.cancel()
            receiver.ended()
        }
        task = nil
        context.fireChannelInactive()
    }
}

@Suite("Slow webhook receivers")
struct SlowReceiverTests {
    private func makeStore() throws -> SQLiteJobStore {
        let directory = try temporaryDirectory("peregrine-slow-hooks")
        return SQLiteJobStore(database: try SQLiteDatabase(path: directory + "/jobs.sqlite"))
    }

    @Test("a fast receiver gets its delivery while a slow receiver is still stalled", .timeLimit(.minutes(2)))
    func slowReceiverDoesNotStallOthers() async throws {
        let slow = try await TricklingReceiver.start()
        defer { Task { try await slow.stop() } }
        let fast = try await TestReceiver.start()
        defer { Task { try await fast.stop() } }
        let store = try makeStore()
        // The per-delivery deadline is far away: only running deliveries side by side lets the
        // second one through while the first is stalled.
        let service = WebhookSender(
            store: store, signer: WebhookSigner(privateKey: Curve25519.Signing.PrivateKey()),
            urlPolicy: OutboundURLPolicy(allowPrivateAddresses: true),
            configuration: WebhookSenderConfiguration(pollInterval: .seconds(3600), requestTimeout: .seconds(600)), now: { t0 })
        let task = Task { try await service.run() }
        try await finishedJobWithWebhook(store: store, id: "slow", url: slow.url)
        #expect(await waitUntil(deadline: .seconds(60)) { slow.trickling == 1 })
        try await finishedJobWithWebhook(store: store, id: "fast", url: fast.url)
        #expect(await waitUntil(deadline: .seconds(60)) { fast.requests.count == 1 })
        #expect(slow.trickling == 1, "the slow answer was still being sent when the fast delivery arrived")
        task.cancel()
        try await task.value
    }

    @Test("a receiver that trickles its answer is cut off by the per-delivery deadline and retried", .timeLimit(.minutes(2)))
    func tricklingAnswerHitsTheDeadline() async throws {
        let slow = try await TricklingReceiver.start()
        defer { Task { try await slow.stop() } }
        let store = try makeStore()
        try await finishedJobWithWebhook(store: store, id: "trickle", url: slow.url)
        let clock = ManualNow(t0)
        // Each byte comes well within the client's read timeout; only an overall deadline ends it.
        let sender = WebhookSender(
            store: store, signer: WebhookSigner(privateKey: Curve25519.Signing.PrivateKey()),
            urlPolicy: OutboundURLPolicy(allowPrivateAddresses: true),
            configuration: WebhookSenderConfiguration(pollInterval: .seconds(3600), requestTimeout: .seconds(2)),
            now: { clock.now })
        #expect(await sender.deliverDue() == 1)
        #expect(slow.requests == 1)
        clock.advance(by: 15)
        #expect(await sender.deliverDue() == 1)  // retried, not dropped
    }

    @Test("deliverDue refills a slot as soon as a delivery ends", .timeLimit(.minutes(2)))
    func deliverDueHasNoBatchBarrier() async throws {
        let slow = try await TricklingReceiver.start()
        defer { Task { try await slow.stop() } }
        let fast = try await TestReceiver.start()
        defer { Task { try await fast.stop() } }
        let store = try makeStore()
        try await finishedJobWithWebhook(store: store, id: "a-slow", url: slow.url)
        for index in 0..<3 { try await finishedJobWithWebhook(store: store, id: "b-fast-\(index)", url: fast.url) }
        // One row per claim and two slots: with batches, the slow row's batch would hold back
        // every later one.
        let sender = WebhookSender(
            store: store, signer: WebhookSigner(privateKey: Curve25519.Signing.PrivateKey()),
            urlPolicy: OutboundURLPolicy(allowPrivateAddresses: true),
            configuration: WebhookSenderConfiguration(pollInterval: .seconds(3600), batchSize: 1, concurrency: 2, requestTimeout: .seconds(600)),
            now: { t0 })
        let task = Task { await sender.deliverDue() }
        #expect(await waitUntil(deadline: .seconds(60)) { fast.requests.count == 3 })
        task.cancel()
        _ = await task.value
    }
}
