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

/// A model whose load waits for a gate: a load that outlasts the startup timeout.
private struct SlowLoadModel: Model {
    let gate: Gate

    var manifest: ModelManifest {
        ModelManifest(
            endpointID: "test/slowload", category: "image-to-image", displayName: "Slow load", description: "Loads when told.",
            inputSchema: ["type": "object"], outputSchema: ["type": "object"], schemaName: "SlowLoad", memoryEstimateBytes: 1000)
    }

    func load(context: LoadContext) async throws -> any LoadedModel {
        await gate.wait()
        return Loaded()
    }

    struct Loaded: LoadedModel {
        var footprintBytes: Int { 1000 }
        func run(input: JSONValue, context: any RunContext) async throws -> JSONValue { ["ok": true] }
    }
}

/// Waits until `condition` holds, checking every few milliseconds, failing after a generous
/// deadline (state that no notification announces, such as a background unload).
private func eventually(_ what: String, _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(60)
    while !condition() {
        guard ContinuousClock.now < deadline else { throw HarnessError("never happened: \(what)") }
        try await Task.sleep(for: .milliseconds(5))
    }
}

/// One parsed sample line of the text format.
private struct Sample {
    var name: String
    var labels: [String: String]
    var value: Double
}

/// Parses Prometheus's text format strictly enough to catch malformed output: every line is a
/// HELP, a TYPE or a sample; each sample belongs to a family whose TYPE came before it.
private func parseExposition(_ text: String) throws -> (types: [String: String], samples: [Sample]) {
    var types: [String: String] = [:]
    var samples: [Sample] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
        if line.hasPrefix("# HELP ") { continue }
        if line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ")
            guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else {
                throw HarnessError("bad TYPE line: \(line)")
            }
            guard types[String(parts[2])] == nil else { throw HarnessError("family declared twice: \(parts[2])") }
            types[String(parts[2])] = String(parts[3])
            continue
        }
        guard !line.hasPrefix("#") else { throw HarnessError("unknown comment: \(line)") }
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
            throw HarnessError("bad sample: \(line)")
        }
        let series = line[..<space]
        var name = String(series)
        var labels: [String: String] = [:]
        if let brace = series.firstIndex(of: "{") {
            guard series.hasSuffix("}") else { throw HarnessError("bad labels: \(line)") }
            name = String(series[..<brace])
            let body = series[series.index(after: brace)..<series.index(before: series.endIndex)]
            for pair in body.split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, kv[1].hasPrefix("\""), kv[1].hasSuffix("\"") else { throw HarnessError("bad label: \(line)") }
                labels[String(kv[0])] = String(kv[1].dropFirst().dropLast())
            }
        }
        let family = ["_bucket", "_sum", "_count"].reduce(name) { n, suffix in
            n.hasSuffix(suffix) && types[String(n.dropLast(suffix.count))] == "histogram" ? String(n.dropLast(suffix.count)) : n
        }
        guard types[family] != nil else { throw HarnessError("sample before its TYPE: \(line)") }
        samples.append(Sample(name: name, labels: labels, value: value))
    }
    return (types, samples)
}

@Suite("Pool metrics and startup timeout")
struct PoolMetricsTests {
    @Test("/metrics is valid exposition text with latency histograms, load times, cold and warm starts and errors by type")
    func exposition() async throws {
        let h = try Harness.make()
        try await h.test { client in
            for _ in 0..<2 {
                let id = try #require(try await client.send(.post, "/queue/test/echo", json: ["prompt": "hi"]).json["request_id"]?.stringValue)
                _ = try await h.waitForJob(id) { $0.state == .completed }
            }
            let failed = try #require(try await client.send(.post, "/queue/test/fail", json: [:]).json["request_id"]?.stringValue)
            _ = try await h.waitForJob(failed) { $0.state.isTerminal }

            let (types, samples) = try parseExposition(try await client.send(.get, "/metrics").text)
            func value(_ name: String, _ labels: [String: String]) -> Double? {
                samples.first { $0.name == name && $0.labels == labels }?.value
            }
            for family in ["peregrine_request_queue_wait_seconds", "peregrine_request_inference_seconds",
                           "peregrine_request_end_to_end_seconds", "peregrine_model_load_seconds"] {
                #expect(types[family] == "histogram", "\(family)")
                // Buckets are cumulative and +Inf equals the count.
                let buckets = samples.filter { $0.name == family + "_bucket" && $0.labels["model"] == "test/echo" }
                #expect(buckets.count == PoolMetrics.latencyBuckets.count + 1)
                #expect(zip(buckets, buckets.dropFirst()).allSatisfy { $0.value <= $1.value })
                #expect(buckets.last?.labels["le"] == "+Inf")
                #expect(buckets.last?.value == value(family + "_count", ["model": "test/echo"]))
                #expect(value(family + "_sum", ["model": "test/echo"]) != nil)
            }
            #expect(value("peregrine_request_end_to_end_seconds_count", ["model": "test/echo"]) == 2)
            #expect(value("peregrine_model_load_seconds_count", ["model": "test/echo"]) == 1)
            #expect(value("peregrine_request_starts_total", ["model": "test/echo", "start": "cold"]) == 1)
            #expect(value("peregrine_request_starts_total", ["model": "test/echo", "start": "warm"]) == 1)
            #expect(value("peregrine_request_errors_total", ["model": "test/fail", "error_type": "unsupported_media"]) == 1)
            #expect(value("peregrine_model_queued_requests", ["model": "test/echo"]) == 0)
            #expect(value("peregrine_model_evictions_total", ["model": "test/echo"]) == 0)
            #expect(types["peregrine_request_errors_total"] == "counter")
        }
    }

    @Test("a load past the startup timeout fails the request with startup_timeout; the late load is dropped and the model serves again")
    func startupTimeout() async throws {
        var configuration = ServerConfiguration()
        configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-test-\(UUID().uuidString)")
        configuration.authEnabled = false
        let gate = Gate()
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: [SlowLoadModel(gate: gate)],
            runnerConfiguration: RunnerConfiguration(leaseDuration: 60, shutdownGracePeriod: 1, startupTimeout: 0.2))
        let (started, _) = AsyncStream<String>.makeStream()
        let h = Harness(platform: platform, gate: gate, started: started)
        try await h.test { client in
            let id = try #require(try await client.send(.post, "/queue/test/slowload", json: [:]).json["request_id"]?.stringValue)
            let job = try await h.waitForJob(id) { $0.state.isTerminal }
            #expect(job.state == .failed)
            #expect(job.result?.errorType == "startup_timeout")
            #expect(job.result?.status == 504)
            let status = try await client.send(.get, "/queue/test/slowload/requests/\(id)/status").json
            #expect(status["status"]?.stringValue == "COMPLETED")
            #expect(status["error_type"]?.stringValue == "startup_timeout")
            let model = { platform.pool.residencySnapshot.models["test/slowload"] }
            #expect(model()?.counters.startupTimeouts == 1)
            // The stuck load keeps its reservation until it ends, then nothing wants it.
            #expect(platform.pool.residencySnapshot.residentBytes == 1000)
            gate.open()
            try await eventually("the late load is unloaded") { model()?.phase == .unloaded && model()?.counters.loads == 1 }
            #expect(platform.pool.residencySnapshot.residentBytes == 0)
            // A generous limit from now on (a loaded machine may take more than 0.2 s for any load).
            platform.pool.apply(ModelSettingsOverride(startupTimeout: 600), to: "test/slowload")
            let next = try #require(try await client.send(.post, "/queue/test/slowload", json: [:]).json["request_id"]?.stringValue)
            let served = try await h.waitForJob(next) { $0.state.isTerminal }
            #expect(served.state == .completed, "\(String(describing: served.result?.errorMessage)) \(String(describing: model()))")
            let metrics = try await client.send(.get, "/metrics").text
            #expect(metrics.contains("peregrine_request_errors_total{model=\"test/slowload\",error_type=\"startup_timeout\"} 1\n"))
            #expect(metrics.contains("peregrine_model_startup_timeouts_total{model=\"test/slowload\"} 1\n"))
        }
    }
}
