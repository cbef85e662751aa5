import Client
import Foundation
import JobQueue
import ModelKit
import Platform
import Server
import TestSupport
import Testing

/// A real HTTPS server on a loopback port with the test models and auth on: an admin key and a
/// plain key, for tests that go through the client SDK or the `peregrine` binary.
struct LiveServer: Sendable {
    let port: Int
    let certificate: String
    let adminKey: String
    let userKey: String
    let gate: Gate
    let started: AsyncStream<String>
    let platform: EmbeddedPlatform

    var baseURL: String { "https://127.0.0.1:\(port)" }

    /// Starts a server, runs `body`, and shuts the server down (also when `body` throws).
    static func with<T: Sendable>(_ body: @Sendable (LiveServer) async throws -> T) async throws -> T {
        var configuration = ServerConfiguration()
        configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-live-\(UUID().uuidString)")
        configuration.port = 0
        configuration.ssePingInterval = 0.05
        defer { try? FileManager.default.removeItem(at: configuration.home) }
        let gate = Gate()
        let (started, startedContinuation) = AsyncStream<String>.makeStream()
        let platform = try EmbeddedPlatform(
            configuration: configuration,
            models: [EchoModel(), GatedModel(gate: gate, started: startedContinuation), FailingModel(), FileModel()])
        let (admin, adminSecret) = try await platform.keys.createKey(name: "admin", isAdmin: true, now: Date())
        let (user, userSecret) = try await platform.keys.createKey(name: "user", now: Date())
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let group = try PeregrineServer(platform: platform).serviceGroup(signals: false) { scheme, port in
            if scheme == "https" { portContinuation.yield(port) }
        }
        let certificate = SelfSignedCertificate.files(in: configuration.tlsDirectory).certificate.path
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw HarnessError("the server did not start") }
            let server = LiveServer(
                port: port, certificate: certificate, adminKey: "\(admin.id):\(adminSecret)", userKey: "\(user.id):\(userSecret)",
                gate: gate, started: started, platform: platform)
            let value: T
            do {
                value = try await body(server)
            } catch {
                gate.open()
                await group.triggerGracefulShutdown()
                throw error
            }
            gate.open()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return value
        }
    }

    /// Runs `body` with an SDK client for this server (`key` defaults to the plain key).
    func withClient<T>(key: String? = nil, retry: RetryPolicy = RetryPolicy(), _ body: (PeregrineClient) async throws -> T) async throws -> T {
        let http = try PeregrineClient.makeHTTPClient(trusting: certificate)
        do {
            let value = try await body(PeregrineClient(baseURL: baseURL, key: key ?? userKey, httpClient: http, retry: retry))
            try await http.shutdown()
            return value
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    /// The next name a gated run announced.
    func nextStart() async throws -> String {
        var iterator = started.makeAsyncIterator()
        guard let name = await iterator.next() else { throw HarnessError("gated model never started") }
        return name
    }
}
