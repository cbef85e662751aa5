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
import Webhooks

/// One request at a time: answers the size of its `image_url` file.
struct OneSlotFileModel: Model {
    var manifest: ModelManifest {
        ModelManifest(
            endpointID: "test/one-slot", category: "image-to-image", displayName: "One slot", description: "Measures a file.",
            inputSchema: ["type": "object", "properties": ["image_url": ["type": "string"]], "required": ["image_url"]],
            outputSchema: ["type": "object"], schemaName: "OneSlot", maxConcurrency: 1)
    }

    func load(context: LoadContext) async throws -> any LoadedModel { Loaded() }

    struct Loaded: LoadedModel {
        var footprintBytes: Int { 0 }
        func run(input: JSONValue, context: any RunContext) async throws -> JSONValue {
            let file = try await context.fetch(input["image_url"]?.stringValue ?? "", field: "image_url")
            return ["size": .int(Int64(file.data.count))]
        }
    }
}

/// A name server the test scripts: the first lookup gets `first`, later ones `later`; counts
/// lookups.
final class CountingResolver: HostResolver, @unchecked Sendable {
    private let lock = NSLock()
    private let first: [IPAddress]
    private let later: [IPAddress]
    private var count = 0

    init(first: [String] = [], later: [String] = []) {
        self.first = first.compactMap { IPAddress($0) }
        self.later = later.compactMap { IPAddress($0) }
    }

    var calls: Int { lock.withLock { count } }

    func resolve(host: String, port: Int) async throws -> [IPAddress] {
        try lock.withLock {
            count += 1
            let answer = count == 1 ? first : later
            if answer.isEmpty { throw OutboundURLError(.resolutionFailed, "\(host) does not resolve") }
            return answer
        }
    }
}

/// A file host on loopback: `/small.bin` answers at once; `/slow` answers a long body one byte
/// per interval until the client goes away, and counts the answers it is still sending.
struct FileHost: Sendable {
    let trickling = Counter()
    let slowStarts: AsyncStream<Void>
    private let slowStarted: AsyncStream<Void>.Continuation

    init() { (slowStarts, slowStarted) = AsyncStream<Void>.makeStream() }

    /// Serves on `address` while `body` runs with the port.
    func serve(on address: String = "127.0.0.1", _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        let router = Router()
        router.get("/small.bin") { _, _ in "checked" }
        router.get("/moved") { _, _ in Response(status: .found, headers: [.location: "/small.bin"]) }
        router.get("/slow") { [trickling, slowStarted] _, _ -> Response in
            trickling.add(1)
            slowStarted.yield()
            return Response(
                status: .ok, headers: [.contentLength: "1000000"],
                body: ResponseBody { writer in
                    defer { trickling.add(-1) }
                    for _ in 0..<1_000_000 {
                        try await writer.write(ByteBuffer(bytes: [0x78]))
                        // The peer's behaviour under test: one byte per interval.
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    try await writer.finish(nil)
                })
        }
        let (ports, port) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname(address, port: 0)),
            onServerRunning: { port.yield($0.localAddress?.port ?? 0) })
        // Run as a plain service: the live test client would rebind it to localhost.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService(gracefulShutdownSignals: []) }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            defer { group.cancelAll() }
            try await body(port)
        }
    }
}

/// A count shared across tasks.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func add(_ delta: Int) { lock.withLock { value += delta } }
    var current: Int { lock.withLock { value } }
}

/// A harness whose platform serves `OneSlotFileModel` and `EchoModel` and looks names up with
/// `resolver`.
func outboundHarness(resolver: any HostResolver, _ configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> Harness {
    var configuration = ServerConfiguration()
    configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-test-\(UUID().uuidString)")
    configuration.authEnabled = false
    configure(&configuration)
    let platform = try EmbeddedPlatform(
        configuration: configuration, models: [OneSlotFileModel(), EchoModel()],
        runnerConfiguration: RunnerConfiguration(leaseDuration: 60, shutdownGracePeriod: 1), hostResolver: resolver)
    let (started, _) = AsyncStream<String>.makeStream()
    return Harness(platform: platform, gate: Gate(), started: started)
}

@Suite("Slow peers and outbound lookups")
struct SlowPeerTests {
    @Test("a second request runs to completion while a trickling input is still being fetched", .timeLimit(.minutes(3)))
    func tricklingInputDoesNotHoldTheSlot() async throws {
        let host = FileHost()
        let h = try outboundHarness(resolver: SystemResolver()) {
            $0.allowPrivateURLs = true
            $0.inputDownloadTimeout = 600
        }
        try await host.serve { port in
            try await h.test { client in
                let slow = try await client.send(.post, "/queue/test/one-slot", json: ["image_url": .string("http://127.0.0.1:\(port)/slow")])
                let slowID = try #require(try slow.json["request_id"]?.stringValue)
                var starts = host.slowStarts.makeAsyncIterator()
                _ = await starts.next()
                // The model has one slot; the slow input must not be holding it.
                let fast = try await client.send(.post, "/queue/test/one-slot", json: ["image_url": .string("http://127.0.0.1:\(port)/small.bin")])
                let fastID = try #require(try fast.json["request_id"]?.stringValue)
                let done = try await h.waitForJob(fastID) { $0.state.isTerminal }
                #expect(done.state == .completed)
                #expect(try JSONValue(parsing: done.result?.body ?? Data())["size"] == 7)
                #expect(host.trickling.current == 1, "the slow input was still being sent")
                #expect(try await h.store.job(id: slowID)?.state.isTerminal == false)
            }
        }
    }

    @Test("a trickling input fails at the download deadline", .timeLimit(.minutes(3)))
    func tricklingInputHitsTheDeadline() async throws {
        let host = FileHost()
        let h = try outboundHarness(resolver: SystemResolver()) {
            $0.allowPrivateURLs = true
            $0.inputDownloadTimeout = 1
        }
        try await host.serve { port in
            try await h.test { client in
                let slow = try await client.send(.post, "/queue/test/one-slot", json: ["image_url": .string("http://127.0.0.1:\(port)/slow")])
                let id = try #require(try slow.json["request_id"]?.stringValue)
                let job = try await h.waitForJob(id) { $0.state.isTerminal }
                #expect(job.state == .failed)
                #expect(job.result?.errorType == "file_download_error")
                #expect(job.result?.errorMessage?.contains("took longer than 1 s") == true, "\(job.result?.errorMessage ?? "")")
            }
        }
    }

    @Test("a remote input connects to the checked address, whatever the host's spelling", arguments: ["Rebind.TEST.", "rebind.test"])
    func remoteInputIsPinned(name: String) async throws {
        // The checked answer is 127.0.0.2, where the file host listens; a second lookup would
        // answer 127.0.0.1.
        let resolver = CountingResolver(first: ["127.0.0.2"], later: ["127.0.0.1"])
        let h = try outboundHarness(resolver: resolver) { $0.allowPrivateURLs = true }
        try await FileHost().serve(on: "127.0.0.2") { port in
            try await h.test { client in
                let response = try await client.send(.post, "/run/test/one-slot", json: ["image_url": .string("http://\(name):\(port)/small.bin")])
                #expect(response.status == .ok, "\(response.text)")
                #expect(try response.json["size"] == 7)
                #expect(resolver.calls == 1)
            }
        }
    }

    @Test("a submit checks the webhook's syntax only: no lookup, literal private addresses refused")
    func submitDoesNotResolveWebhookHosts() async throws {
        let resolver = CountingResolver()
        let h = try outboundHarness(resolver: resolver)
        @Sendable func query(_ target: String) -> String {
            "/queue/test/echo?fal_webhook=" + (target.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? target)
        }
        try await h.test { client in
            let ok = try await client.send(.post, query("http://does-not-exist.invalid/hook"), json: ["prompt": "x"])
            #expect(ok.status == .ok, "\(ok.text)")
            for target in ["http://10.0.0.1/hook", "http://2130706433/hook", "http://[::ffff:127.0.0.1]/hook", "http://0x7f.1/", "ftp://example.com/"] {
                let refused = try await client.send(.post, query(target), json: ["prompt": "x"])
                #expect(refused.status == .unprocessableContent, "\(target): \(refused.text)")
            }
            #expect(resolver.calls == 0)
        }
    }
}
