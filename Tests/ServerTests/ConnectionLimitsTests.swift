import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Platform
import Server
import ServiceLifecycle
import TestSupport
import Testing

/// Received bytes of one raw connection, readable from another task.
/// `@unchecked Sendable`: `text` and `closed` are only touched under `lock`.
private final class Received: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    private var closed = false
    func append(_ s: String) { lock.withLock { text += s } }
    func close() { lock.withLock { closed = true } }
    var current: String { lock.withLock { text } }
    var isClosed: Bool { lock.withLock { closed } }
}

/// A raw TCP connection to the server: what real clients (and hostile ones) send, byte by byte.
private struct RawConnection: Sendable {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

    static func open(port: Int) async throws -> RawConnection {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return RawConnection(channel: channel)
    }
}

/// Runs `body` with a served platform (TLS and plain HTTP listeners on free ports), then shuts
/// it down.
private func withServer(
    _ configure: (inout ServerConfiguration) -> Void,
    _ body: @Sendable (_ https: Int, _ http: Int) async throws -> Void
) async throws {
    var configuration = ServerConfiguration()
    configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-conn-\(UUID().uuidString)")
    configuration.port = 0
    configuration.httpPort = 0
    configuration.authEnabled = false
    configure(&configuration)
    defer { try? FileManager.default.removeItem(at: configuration.home) }
    let platform = try EmbeddedPlatform(configuration: configuration, models: [EchoModel()])
    let (ports, portContinuation) = AsyncStream<(String, Int)>.makeStream()
    let group = try PeregrineServer(platform: platform).serviceGroup(signals: false) { scheme, port in
        portContinuation.yield((scheme, port))
    }
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var found: [String: Int] = [:]
        for await (scheme, port) in ports {
            found[scheme] = port
            if found.count == 2 { break }
        }
        do {
            try await body(try #require(found["https"]), try #require(found["http"]))
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}


@Suite("Connections: TLS versions, idle timeout, connection limit")
struct ConnectionLimitsTests {
    @Test("a client limited to TLS 1.1 cannot connect; a TLS 1.2 client can")
    func tlsBelow12IsRefused() async throws {
        try await withServer({ _ in }) { https, _ in
            func client(maximum: TLSVersion?) -> HTTPClient {
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.certificateVerification = .none
                tls.maximumTLSVersion = maximum
                return HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
            }
            let old = client(maximum: .tlsv11)
            let current = client(maximum: .tlsv12)
            do {
                let request = HTTPClientRequest(url: "https://127.0.0.1:\(https)/health/live")
                await #expect(throws: (any Error).self) { _ = try await old.execute(request, timeout: .seconds(60)) }
                #expect(try await current.execute(request, timeout: .seconds(60)).status == .ok)
            } catch {
                try? await old.shutdown()
                try? await current.shutdown()
                throw error
            }
            try await old.shutdown()
            try await current.shutdown()
        }
    }

    @Test("a connection that sends half a request and stops is closed by the server")
    func halfSentRequestIsClosed() async throws {
        try await withServer({ $0.idleTimeout = 0.2 }) { _, http in
            let connection = try await RawConnection.open(port: http)
            let closedByServer = try await withHangGuard {
                try await connection.channel.executeThenClose { inbound, outbound in
                    // On a loaded machine the server may already have closed the connection before
                    // this write: that is the outcome under test too, so a failed write is fine.
                    try? await outbound.write(ByteBuffer(string: "GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "))
                    // Ends when the server closes the connection (cleanly or with a reset).
                    var received = 0
                    do {
                        for try await chunk in inbound { received += chunk.readableBytes }
                    } catch {}
                    return received
                }
            }
            #expect(closedByServer == 0, "the server kept the half-sent connection open (or answered it)")
        }
    }

    @Test("beyond the connection limit, new connections wait until one closes (queued, not refused)")
    func connectionsBeyondTheLimitWait() async throws {
        try await withServer({ $0.maxConnections = 1 }) { _, http in
            let request = ByteBuffer(string: "GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            let first = try await RawConnection.open(port: http)
            let second = try await RawConnection.open(port: http)
            let secondReceived = Received()
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    try await second.channel.executeThenClose { inbound, outbound in
                        try await outbound.write(request)
                        for try await chunk in inbound {
                            secondReceived.append(String(buffer: chunk))
                            if secondReceived.current.contains("\r\n\r\n") { break }
                        }
                        secondReceived.close()
                    }
                }
                try await first.channel.executeThenClose { inbound, outbound in
                    var iterator = inbound.makeAsyncIterator()
                    // Two round trips on the first connection: the server is serving it, and it
                    // has had every chance to answer the second connection's earlier request.
                    for _ in 0..<2 {
                        try await outbound.write(request)
                        var text = ""
                        while !text.contains("\r\n\r\n"), let chunk = try await iterator.next() { text += String(buffer: chunk) }
                        #expect(text.hasPrefix("HTTP/1.1 200"))
                    }
                    #expect(secondReceived.current.isEmpty, "a connection beyond the limit was served")
                }
                // The first connection is closed: the waiting one is accepted and answered.
                tasks.addTask {
                    try await Task.sleep(for: .seconds(60))
                    throw HarnessError("the queued connection was never served")
                }
                try await tasks.next()
                tasks.cancelAll()
                #expect(secondReceived.isClosed)
                #expect(secondReceived.current.hasPrefix("HTTP/1.1 200"))
            }
        }
    }
}
