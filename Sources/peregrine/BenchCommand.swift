import ArgumentParser
import AsyncHTTPClient
import Client
import Foundation
import JobQueue
import ModelKit
import Platform
import Server

/// `peregrine bench queue`: queue overhead over loopback HTTPS with a model that does nothing.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks that print JSON.", subcommands: [Queue.self, Cache.self])

    /// Serves `platform` on a loopback HTTPS port while `measure` runs with a client of it,
    /// then shuts the server down and returns what `measure` returned.
    static func serving(
        _ platform: EmbeddedPlatform, configuration: ServerConfiguration, key: String,
        measure: @escaping @Sendable (PeregrineClient) async throws -> JSONValue
    ) async throws -> JSONValue {
        let server = PeregrineServer(platform: platform)
        let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
        let group = try server.serviceGroup(signals: false) { scheme, port in
            if scheme == "https" { portContinuation.yield(port) }
        }
        let certificate = try PeregrineServer.tlsConfiguration(for: configuration).certificatePath
        return try await withThrowingTaskGroup(of: JSONValue?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            tasks.addTask {
                var ports = portStream.makeAsyncIterator()
                guard let port = await ports.next() else { throw ValidationError("server did not start") }
                let http = try PeregrineClient.makeHTTPClient(trusting: certificate)
                do {
                    let result = try await measure(PeregrineClient(baseURL: "https://127.0.0.1:\(port)", key: key, httpClient: http))
                    try await http.shutdown()
                    return result
                } catch {
                    try? await http.shutdown()
                    throw error
                }
            }
            var report: JSONValue = nil
            while let next = try await tasks.next() {
                if let value = next {
                    report = value
                    await group.triggerGracefulShutdown()
                }
            }
            return report
        }
    }

    struct Queue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "queue",
            abstract: "Submit→runner-start and end-to-end latency, status-poll throughput (no-op model, loopback HTTPS).")

        @Option(help: "Sequential requests per latency measurement.")
        var requests = 300
        @Option(help: "Concurrent status pollers.")
        var pollers = 32
        @Option(help: "Seconds of status polling.")
        var seconds = 5.0

        func run() async throws {
            let home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-bench-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: home) }
            var configuration = ServerConfiguration()
            configuration.home = home
            configuration.port = 0
            let starts = StartTimes()
            let platform = try EmbeddedPlatform(configuration: configuration, models: [NoopModel(starts: starts)])
            let (key, secret) = try await platform.keys.createKey(name: "bench", now: Date())
            let report = try await BenchCommand.serving(platform, configuration: configuration, key: "\(key.id):\(secret)") { client in
                try await measure(platform: platform, client: client, starts: starts)
            }
            print(String(decoding: report.encoded(pretty: true), as: UTF8.self))
        }

        private func measure(platform: EmbeddedPlatform, client: PeregrineClient, starts: StartTimes) async throws -> JSONValue {
            let clock = ContinuousClock()
            // Warm up: connections, SQLite page cache, model load.
            for i in 0..<20 { _ = try await client.run(NoopModel.endpoint, input: ["tag": .string("warm-\(i)")]) }

            // 1. Store level: enqueue → the model's run() starts / the job is finished.
            var storeStart: [Double] = []
            var storeDone: [Double] = []
            for i in 0..<requests {
                let tag = "store-\(i)"
                let id = UUID().uuidString.lowercased()
                let changes = platform.hub.changes(of: id)
                let t0 = clock.now
                _ = try await platform.store.enqueue(NewJob(id: id, endpointID: NoopModel.endpoint, input: JSONValue.object(["tag": .string(tag)]).encoded()))
                let started = await starts.wait(tag)
                var iterator = changes.makeAsyncIterator()
                while try await platform.store.job(id: id)?.state.isTerminal != true {
                    guard await iterator.next() != nil else { break }
                }
                storeStart.append(ms(started - t0))
                storeDone.append(ms(clock.now - t0))
            }

            // 2. HTTP: submit → runner start, submit answer time, submit → result in hand (status stream + result).
            var httpStart: [Double] = []
            var httpSubmit: [Double] = []
            var httpEnd: [Double] = []
            var completedID = ""
            for i in 0..<requests {
                let tag = "http-\(i)"
                let t0 = clock.now
                let submitted = try await client.submit(NoopModel.endpoint, input: ["tag": .string(tag)])
                httpSubmit.append(ms(clock.now - t0))
                for try await status in client.statusStream(NoopModel.endpoint, requestID: submitted.requestID) where status.status == .completed {
                    break
                }
                _ = try await client.result(NoopModel.endpoint, requestID: submitted.requestID)
                httpEnd.append(ms(clock.now - t0))
                httpStart.append(ms(await starts.wait(tag) - t0))
                completedID = submitted.requestID
            }

            // 3. Status polls: `pollers` concurrent loops on one finished request.
            let deadline = clock.now + .milliseconds(Int64(seconds * 1000))
            let pollID = completedID
            let pollStart = clock.now
            let total = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<pollers {
                    group.addTask {
                        var n = 0
                        while clock.now < deadline {
                            let status = try await client.status(NoopModel.endpoint, requestID: pollID)
                            guard status.status == .completed else { throw ValidationError("unexpected status") }
                            n += 1
                        }
                        return n
                    }
                }
                return try await group.reduce(0, +)
            }
            let elapsed = secs(clock.now - pollStart)
            return [
                "benchmark": "queue",
                "transport": "https loopback, keep-alive, API key auth",
                "cpu_cores": .int(Int64(ProcessInfo.processInfo.activeProcessorCount)),
                "requests": .int(Int64(requests)),
                "store_enqueue_to_runner_start_ms": summary(storeStart),
                "store_enqueue_to_completed_ms": summary(storeDone),
                "http_submit_to_runner_start_ms": summary(httpStart),
                "http_submit_response_ms": summary(httpSubmit),
                "http_end_to_end_ms": summary(httpEnd),
                "status_polls": [
                    "pollers": .int(Int64(pollers)), "seconds": .double(elapsed), "requests": .int(Int64(total)),
                    "per_second": .double((Double(total) / elapsed).rounded()),
                ],
            ]
        }

        private func ms(_ d: Duration) -> Double { secs(d) * 1000 }
        private func secs(_ d: Duration) -> Double {
            Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        }

        private func summary(_ values: [Double]) -> JSONValue {
            let sorted = values.sorted()
            func q(_ p: Double) -> Double {
                guard !sorted.isEmpty else { return 0 }
                return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
            }
            func r(_ x: Double) -> JSONValue { .double((x * 1000).rounded() / 1000) }
            return ["median": r(q(0.5)), "p99": r(q(0.99)), "min": r(sorted.first ?? 0), "max": r(sorted.last ?? 0)]
        }
    }
}

/// A benchmark fixture, never served by `serve`: answers at once and records when it started.
struct NoopModel: Model {
    static let endpoint = "bench/noop"
    let starts: StartTimes

    var manifest: ModelManifest {
        ModelManifest(
            endpointID: Self.endpoint, category: "benchmark", displayName: "No-op", description: "Does nothing (queue benchmark).",
            inputSchema: ["type": "object", "properties": ["tag": ["type": "string"]], "required": ["tag"]],
            outputSchema: ["type": "object"], schemaName: "Noop", maxConcurrency: 4)
    }

    func load(context: LoadContext) async throws -> any LoadedModel { Loaded(starts: starts) }

    struct Loaded: LoadedModel {
        let starts: StartTimes
        var footprintBytes: Int { 0 }
        func run(input: JSONValue, context: any RunContext) async throws -> JSONValue {
            if let tag = input["tag"]?.stringValue { starts.record(tag) }
            return ["ok": true]
        }
    }
}

/// When each tagged request reached the model, with waiters.
final class StartTimes: @unchecked Sendable {
    // All state is guarded by `lock`; @unchecked because NSLock serializes every access.
    private let lock = NSLock()
    private var times: [String: ContinuousClock.Instant] = [:]
    private var waiters: [String: CheckedContinuation<ContinuousClock.Instant, Never>] = [:]

    func record(_ tag: String) {
        let now = ContinuousClock.now
        lock.lock()
        let waiter = waiters.removeValue(forKey: tag)
        if waiter == nil { times[tag] = now }
        lock.unlock()
        waiter?.resume(returning: now)
    }

    func wait(_ tag: String) async -> ContinuousClock.Instant {
        await withCheckedContinuation { continuation in
            lock.lock()
            if let t = times.removeValue(forKey: tag) {
                lock.unlock()
                continuation.resume(returning: t)
            } else {
                waiters[tag] = continuation
                lock.unlock()
            }
        }
    }
}
