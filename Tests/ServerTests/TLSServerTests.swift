import AsyncHTTPClient
import Client
import Foundation
import JobQueue
import ModelKit
import NIOCore
import Platform
import Runners
import Server
import ServiceLifecycle
import TestSupport
import Testing

/// Tests over a real socket with TLS: what only a real client reveals (certificate, SSE framing,
/// keep-alive, pings).
@Suite("Real TLS server")
struct TLSServerTests {
    @Test("the SDK talks to the HTTPS server: subscribe, run, upload, status-stream pings")
    func endToEnd() async throws {
        var configuration = ServerConfiguration()
        configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-tls-\(UUID().uuidString)")
        configuration.port = 0
        configuration.ssePingInterval = 0.05
        defer { try? FileManager.default.removeItem(at: configuration.home) }
        let gate = Gate()
        let (started, startedContinuation) = AsyncStream<String>.makeStream()
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: [EchoModel(), GatedModel(gate: gate, started: startedContinuation)])
        let (key, secret) = try await platform.keys.createKey(name: "tls", now: Date())
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let group = try PeregrineServer(platform: platform).serviceGroup(signals: false) { scheme, port in
            if scheme == "https" { portContinuation.yield(port) }
        }
        let certificate = SelfSignedCertificate.files(in: configuration.tlsDirectory).certificate.path

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var portIterator = ports.makeAsyncIterator()
            let port = try #require(await portIterator.next())
            let http = try PeregrineClient.makeHTTPClient(trusting: certificate)
            do {
                for host in ["127.0.0.1", "localhost"] {
                    let client = PeregrineClient(baseURL: "https://\(host):\(port)", key: "\(key.id):\(secret)", httpClient: http)
                    let output = try await client.subscribe("test/echo", input: ["prompt": .string(host)])
                    #expect(output["echo"]?["prompt"] == .string(host))
                }
                let client = PeregrineClient(baseURL: "https://127.0.0.1:\(port)", key: "\(key.id):\(secret)", httpClient: http)
                #expect(try await client.run("test/echo", input: ["prompt": "run"])["echo"]?["prompt"] == "run")

                let fileURL = try await client.upload(Data("tls bytes".utf8), contentType: "text/plain", fileName: "t.txt")
                #expect(try await client.download(fileURL) == Data("tls bytes".utf8))

                // A running request's status stream pings while idle and closes after COMPLETED.
                let submitted = try await client.submit("test/gated", input: ["name": "p"])
                #expect(submitted.statusURL == "https://127.0.0.1:\(port)/queue/test/gated/requests/\(submitted.requestID)/status")
                var startedIterator = started.makeAsyncIterator()
                _ = await startedIterator.next()
                var request = HTTPClientRequest(url: submitted.statusURL + "/stream")
                request.headers.add(name: "Authorization", value: "Key \(key.id):\(secret)")
                let response = try await http.execute(request, timeout: .seconds(120))
                #expect(response.status.code == 200)
                #expect(response.headers.first(name: "content-type") == "text/event-stream")
                var text = ""
                var opened = false
                for try await chunk in response.body {
                    text += String(buffer: chunk)
                    if !opened, text.contains(": ping\n\n") {
                        opened = true
                        gate.open()
                    }
                }
                #expect(opened, "a ping arrived while the request was running")
                let last = try #require(text.components(separatedBy: "\n\n").last { $0.hasPrefix("data: ") })
                #expect(try JSONValue(parsing: Data(last.dropFirst(6).utf8))["status"] == "COMPLETED")

                let unauthenticated = PeregrineClient(baseURL: "https://127.0.0.1:\(port)", key: nil, httpClient: http)
                await #expect(throws: ClientError.self) { try await unauthenticated.submit("test/echo", input: ["prompt": "x"]) }
                try await http.shutdown()
            } catch {
                try? await http.shutdown()
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("the self-signed certificate names loopback, localhost and extra hosts, with a 0600 key")
    func certificate() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-cert-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = try SelfSignedCertificate.ensure(in: dir, hostNames: ["peregrine.internal", "10.1.2.3"])
        let attributes = try FileManager.default.attributesOfItem(atPath: files.key.path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let pem = try String(contentsOf: files.certificate, encoding: .utf8)
        let again = try SelfSignedCertificate.ensure(in: dir, hostNames: ["peregrine.internal"])
        #expect(try String(contentsOf: again.certificate, encoding: .utf8) == pem, "an existing certificate is reused")
        _ = try SelfSignedCertificate.ensure(in: dir, hostNames: ["other.internal"])
        #expect(try String(contentsOf: files.certificate, encoding: .utf8) != pem, "a new host name regenerates it")
    }
}

@Suite("Runner pool shutdown")
struct ShutdownTests {
    @Test("a job still running when the grace period ends goes back to the queue")
    func releaseOnShutdown() async throws {
        var configuration = ServerConfiguration()
        configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-shutdown-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: configuration.home) }
        let gate = Gate()
        let (started, startedContinuation) = AsyncStream<String>.makeStream()
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: [GatedModel(gate: gate, started: startedContinuation)],
            runnerConfiguration: RunnerConfiguration(leaseDuration: 30, shutdownGracePeriod: 0.2))
        let group = ServiceGroup(services: [platform.hub, platform.pool], logger: platform.logger)
        let id = UUID().uuidString.lowercased()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            _ = try await platform.store.enqueue(NewJob(id: id, endpointID: "test/gated", input: Data("{}".utf8)))
            var iterator = started.makeAsyncIterator()
            _ = await iterator.next()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        let job = try #require(try await platform.store.job(id: id))
        #expect(job.state == .queued)
        #expect(job.attempt == 1)
    }
}
