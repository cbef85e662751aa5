import ExternalRunners
import Foundation
import Hummingbird
import HummingbirdTesting
import JobQueue
import ModelKit
import NIOConcurrencyHelpers
import Platform
import Runners
import Server

/// Paths and helpers shared by the external-runner tests.
enum RunnerFixtures {
    /// The repository root (this file is Tests/ExternalRunnerTests/RunnerFixtures.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// The Python runner library.
    static let pythonLibrary = root.appendingPathComponent("python")
    /// The runner that misbehaves on request.
    static let faultRunner = root.appendingPathComponent("Tests/Fixtures/ExternalRunners/fault_runner.py")
    /// The interpreter used for runners (`PEREGRINE_RUNNER_PYTHON`, default `python3`).
    static let python = ProcessInfo.processInfo.environment["PEREGRINE_RUNNER_PYTHON"] ?? "python3"

    /// A fresh temporary directory.
    static func temporaryDirectory(_ prefix: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A manifest for the fault runner at `endpoint`, recording events in `marks`.
    static func faultManifest(
        endpoint: String, marks: URL, startup: String = "", extra: [String: JSONValue] = [:]
    ) throws -> RunnerManifest {
        var o: [String: JSONValue] = [
            "endpoint_id": .string(endpoint),
            "command": .string(python),
            "args": [.string(faultRunner.path)],
            "env": [
                "PEREGRINE_PYTHON_LIB": .string(pythonLibrary.path), "FAULT_MARKS": .string(marks.path),
                "FAULT_STARTUP": .string(startup), "PYTHONUNBUFFERED": "1",
            ],
            "input_schema": [
                "type": "object",
                "properties": [
                    "mode": ["type": "string"], "text": ["type": "string"], "image_url": ["type": "string"],
                ],
            ],
            "file_inputs": ["image_url"],
            "startup_timeout": 30,
            "cancel_grace": 1,
            "stop_grace": 2,
            "restart": ["initial_delay": 0.05, "max_delay": 0.5],
        ]
        for (k, v) in extra { o[k] = v }
        return try RunnerManifest(json: .object(o), directory: marks, source: endpoint)
    }

    /// Names of the files the fault runner recorded.
    static func marks(in dir: URL) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
    }

    /// Re-checks `condition` until it holds or `seconds` pass (a process's state has no other signal).
    static func eventually(_ seconds: Double = 30, _ condition: @Sendable () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return await condition()
    }
}

/// A platform in a temporary home serving `models`, driven through the router test client.
struct RunnerPlatform: Sendable {
    let platform: EmbeddedPlatform

    init(models: [any Model], keepAlive: TimeInterval = 300) throws {
        var configuration = ServerConfiguration()
        configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-ext-\(UUID().uuidString)")
        configuration.authEnabled = false
        platform = try EmbeddedPlatform(
            configuration: configuration, models: models,
            runnerConfiguration: RunnerConfiguration(leaseDuration: 60, shutdownGracePeriod: 1, modelKeepAlive: keepAlive))
    }

    var store: any JobStore { platform.store }

    /// Runs `body` with the platform's services running.
    func test(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        defer { try? FileManager.default.removeItem(at: platform.configuration.home) }
        let app = Application(
            responder: APIResponder(services: APIServices(platform: platform), scheme: "https"),
            services: [platform.maintenance(), platform.hub, platform.pool])
        try await app.test(.router) { client in try await body(client) }
    }

    /// Submits `input` to `endpoint` and answers the request id.
    func submit(
        _ client: any TestClientProtocol, _ endpoint: String, _ input: JSONValue, headers: HTTPFields = [:]
    ) async throws -> String {
        var headers = headers
        headers[.contentType] = "application/json"
        let response = try await client.execute(
            uri: "/queue/\(endpoint)", method: .post, headers: headers,
            body: ByteBuffer(bytes: input.encoded()))
        let body = try JSONValue(parsing: Data(response.body.readableBytesView))
        guard let id = body["request_id"]?.stringValue else { throw FixtureError("submit answered \(response.status): \(body)") }
        return id
    }

    /// GETs `uri` and parses the JSON body.
    func get(_ client: any TestClientProtocol, _ uri: String) async throws -> JSONValue {
        let response = try await client.execute(uri: uri, method: .get, headers: [:], body: nil)
        return try JSONValue(parsing: Data(response.body.readableBytesView))
    }

    /// Waits until job `id` satisfies `condition`, woken by the store's notifications, collecting
    /// every progress report seen on the way.
    func waitForJob(
        _ id: String, seconds: Double = 60, progress seen: NIOLockedValueBox<[ModelKit.Progress]>? = nil,
        _ condition: @escaping @Sendable (Job) -> Bool
    ) async throws -> Job {
        let hub = platform.hub
        let store = self.store
        let changes = hub.changes(of: id, includingProgress: true)
        return try await withThrowingTaskGroup(of: Job?.self) { group in
            group.addTask {
                var iterator = changes.makeAsyncIterator()
                repeat {
                    if let p = hub.progress(of: id) { seen?.withLockedValue { if $0.last != p { $0.append(p) } } }
                    if let job = try await store.job(id: id), condition(job) { return job }
                } while await iterator.next() != nil
                return nil
            }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            guard let job = first else { throw FixtureError("job \(id) never reached the expected state") }
            return job
        }
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
