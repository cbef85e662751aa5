import Foundation
import Hummingbird
import HummingbirdTesting
import JobQueue
import ModelKit
import Platform
import Runners
import Server
import TestSupport
import Testing

/// A platform in a fresh temporary home with the test models, served through Hummingbird's
/// router test client (no sockets), with its event hub, runner pool and maintenance running.
struct Harness: Sendable {
    let platform: EmbeddedPlatform
    /// What the HTTP handlers share, built once so tests see the responder's own state.
    let services: APIServices
    let gate: Gate
    let started: AsyncStream<String>

    init(platform: EmbeddedPlatform, gate: Gate, started: AsyncStream<String>) {
        self.platform = platform
        services = APIServices(platform: platform)
        self.gate = gate
        self.started = started
    }

    var store: any JobStore { platform.store }

    /// Builds a harness; `configure` adjusts the server settings; `extraModels` are served
    /// beside the test models.
    static func make(extraModels: [any Model] = [], _ configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> Harness {
        var configuration = ServerConfiguration()
        configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-test-\(UUID().uuidString)")
        configuration.authEnabled = false
        configuration.ssePingInterval = 0.05
        configure(&configuration)
        let gate = Gate()
        let (started, startedContinuation) = AsyncStream<String>.makeStream()
        let models: [any Model] = [
            EchoModel(), EchoModel(endpointID: "test/multi/path"), GatedModel(gate: gate, started: startedContinuation),
            FailingModel(), FileModel(),
        ] + extraModels
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: models,
            runnerConfiguration: RunnerConfiguration(leaseDuration: 60, shutdownGracePeriod: 1))
        return Harness(platform: platform, gate: gate, started: started)
    }

    /// Runs `body` against the router with the platform's services running; the home is
    /// removed afterwards unless `keepHome` (a later harness reopens it, as a restart would).
    func test(keepHome: Bool = false, _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        defer { if !keepHome { try? FileManager.default.removeItem(at: platform.configuration.home) } }
        let app = Application(
            responder: APIResponder(services: services, scheme: "https"),
            services: [platform.maintenance(), platform.hub, platform.pool])
        try await app.test(.router) { client in try await body(client) }
    }

    /// Waits until job `id` satisfies `condition`, woken by the store's notifications; gives up
    /// (failing the test) after a generous deadline instead of hanging.
    func waitForJob(_ id: String, _ condition: @escaping @Sendable (Job) -> Bool) async throws -> Job {
        let changes = platform.hub.changes(of: id)
        return try await withThrowingTaskGroup(of: Job?.self) { group in
            group.addTask {
                var iterator = changes.makeAsyncIterator()
                repeat {
                    if let job = try await self.store.job(id: id), condition(job) { return job }
                } while await iterator.next() != nil
                return nil
            }
            group.addTask {
                try await Task.sleep(for: .seconds(60))
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            guard let job = first else { throw HarnessError("job \(id) never reached the expected state") }
            return job
        }
    }

    /// The next name a gated run announced.
    func nextStart() async throws -> String {
        var iterator = started.makeAsyncIterator()
        guard let name = await iterator.next() else { throw HarnessError("gated model never started") }
        return name
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

extension TestResponse {
    /// The body parsed as JSON.
    var json: JSONValue {
        get throws { try JSONValue(parsing: Data(body.readableBytesView)) }
    }
    var text: String { String(buffer: body) }
}

extension TestClientProtocol {
    /// A JSON request.
    func send(_ method: HTTPRequest.Method, _ uri: String, json: JSONValue? = nil, headers: HTTPFields = [:]) async throws -> TestResponse {
        var h = headers
        if json != nil, h[.contentType] == nil { h[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: h, body: json.map { ByteBuffer(bytes: $0.encoded()) })
    }

    /// A request with a raw body.
    func send(_ method: HTTPRequest.Method, _ uri: String, raw: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await execute(uri: uri, method: method, headers: headers, body: ByteBuffer(string: raw))
    }
}

/// The path part of an absolute URL the server handed out.
func pathOf(_ url: String) -> String {
    guard let u = URL(string: url) else { return url }
    return u.path + (u.query.map { "?\($0)" } ?? "")
}

/// Hummingbird re-exports `HTTPFields` but not its element type.
typealias HTTPField = HTTPFields.Element

/// Races `body` against a generous hang guard: a body that never returns fails the test instead
/// of hanging the suite.
func withHangGuard<T: Sendable>(
    seconds: Int = 60, _ body: @escaping @Sendable () async throws -> T
) async throws -> T? {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        let first = try await group.next() ?? nil
        group.cancelAll()
        return first
    }
}
