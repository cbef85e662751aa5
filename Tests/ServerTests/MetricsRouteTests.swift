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

@Suite("Metrics route and residency in the pool")
struct MetricsRouteTests {
    @Test("/metrics reports a served model as resident, loaded once, with nothing running")
    func metricsAfterAJob() async throws {
        let h = try Harness.make()
        try await h.test { client in
            let before = try await client.send(.get, "/metrics")
            #expect(before.status == .ok)
            #expect(before.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(before.text.contains("peregrine_model_resident{model=\"test/echo\"} 0.0\n"))
            #expect(before.text.contains("# TYPE peregrine_model_loads_total counter\n"))

            let id = try #require(try await client.send(.post, "/queue/test/echo", json: ["prompt": "hi"]).json["request_id"]?.stringValue)
            _ = try await h.waitForJob(id) { $0.state == .completed }
            let after = try await client.send(.get, "/metrics").text
            #expect(after.contains("peregrine_model_resident{model=\"test/echo\"} 1.0\n"))
            #expect(after.contains("peregrine_model_loads_total{model=\"test/echo\"} 1\n"))
            #expect(after.contains("peregrine_model_waiting_requests{model=\"test/echo\"} 0.0\n"))
            #expect(after.contains("peregrine_model_resident{model=\"test/fail\"} 0.0\n"))
            #expect(after.contains("peregrine_memory_budget_bytes "))

            let post = try await client.send(.post, "/metrics")
            #expect(post.status == .methodNotAllowed)
        }
    }

    @Test("a model whose estimate exceeds the memory budget fails its request with a message naming the budget")
    func oversizeThroughTheAPI() async throws {
        var configuration = ServerConfiguration()
        configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-test-\(UUID().uuidString)")
        configuration.authEnabled = false
        // EchoModel estimates 64 MiB (the manifest default); the budget is far smaller.
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: [EchoModel()],
            runnerConfiguration: RunnerConfiguration(leaseDuration: 60, shutdownGracePeriod: 1, memoryBudgetBytes: 1 << 20))
        let (started, _) = AsyncStream<String>.makeStream()
        let h = Harness(platform: platform, gate: Gate(), started: started)
        try await h.test { client in
            let id = try #require(try await client.send(.post, "/queue/test/echo", json: ["prompt": "hi"]).json["request_id"]?.stringValue)
            let job = try await h.waitForJob(id) { $0.state == .failed }
            #expect(job.result?.errorMessage?.contains("memory budget is \(1 << 20) bytes") == true, "\(String(describing: job.result))")
            #expect(job.result?.errorType == "runner_scheduling_failure")
            #expect(job.result?.status == 503)
            let metrics = try await client.send(.get, "/metrics").text
            #expect(metrics.contains("peregrine_model_refused_requests_total{model=\"test/echo\"} 1\n"))
            #expect(metrics.contains("peregrine_resident_bytes 0.0\n"))
        }
    }
}
