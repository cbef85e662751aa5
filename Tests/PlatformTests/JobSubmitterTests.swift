import Foundation
import JobQueue
import ModelKit
@testable import Platform
import Runners
import TestSupport
import Testing

/// A platform in a fresh temporary home serving the echo model; nothing runs its jobs, so what
/// the submitter queued stays queued for the test to read.
private func withPlatform(
    _ configure: (inout ServerConfiguration) -> Void = { _ in }, _ body: (EmbeddedPlatform) async throws -> Void
) async throws {
    var configuration = ServerConfiguration()
    configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-submitter-\(UUID().uuidString)")
    configuration.authEnabled = false
    configure(&configuration)
    defer { try? FileManager.default.removeItem(at: configuration.home) }
    try await body(try EmbeddedPlatform(configuration: configuration, models: [EchoModel()]))
}

@Suite("Job submitter (transport-free submit)")
struct JobSubmitterTests {
    @Test("a valid input is queued with the schema's defaults filled in and the options applied")
    func queuesWithDefaults() async throws {
        try await withPlatform { platform in
            let job = try await platform.submitter.submit(
                endpoint: "test/echo", input: ["prompt": "hi"], options: SubmitOptions(priority: .low, noRetry: true, storeIO: false),
                apiKeyID: "k1")
            let stored = try #require(try await platform.store.job(id: job.id))
            #expect(stored.state == .queued)
            #expect(stored.priority == .low)
            #expect(stored.maxAttempts == 1)
            #expect(stored.storeIO == false)
            #expect(stored.apiKeyID == "k1")
            let input = try JSONValue(parsing: try #require(stored.input))
            #expect(input["prompt"]?.stringValue == "hi")
            #expect(input["output_format"]?.stringValue == "png", "the schema default was filled in")
        }
    }

    @Test("invalid input is refused with field paths and nothing is queued")
    func invalidInput() async throws {
        try await withPlatform { platform in
            let cases: [(JSONValue, [LocationComponent])] = [
                (["prompt": "hi", "count": 11], [.key("body"), .key("count")]),
                ([:], [.key("body"), .key("prompt")]),
                (["hi"], [.key("body")]),
            ]
            for (input, loc) in cases {
                do {
                    _ = try await platform.submitter.submit(endpoint: "test/echo", input: input)
                    Issue.record("accepted \(input)")
                } catch SubmitError.invalidInput(let issues) {
                    #expect(issues.first?.loc == loc, "\(issues)")
                }
            }
            #expect(try await #require(platform.store as? any QueuedJobCounting).queuedCounts()["test/echo"] ?? 0 == 0)
        }
    }

    @Test("an unknown endpoint, an overlong or private webhook and a non-JSON body are refused by name")
    func refusals() async throws {
        try await withPlatform { platform in
            #expect {
                try platform.submitter.prepare(endpoint: "nobody/nothing", input: ["prompt": "hi"])
            } throws: { error in
                if case SubmitError.unknownEndpoint("nobody/nothing") = error { true } else { false }
            }
            for url in ["https://example.com/" + String(repeating: "a", count: JobSubmitter.maxWebhookURLBytes), "http://127.0.0.1/hook"] {
                #expect {
                    try platform.submitter.prepare(endpoint: "test/echo", input: ["prompt": "hi"], webhookURL: url)
                } throws: { error in
                    guard case SubmitError.invalidInput(let issues) = error else { return false }
                    return issues.first?.loc == [.key("query"), .key("fal_webhook")]
                }
            }
            let blank = try JobSubmitter.input(fromBody: Data(" \n".utf8))
            #expect(blank == .object([:]))
            #expect {
                try JobSubmitter.input(fromBody: Data("{not json".utf8))
            } throws: { error in
                guard case SubmitError.invalidInput(let issues) = error else { return false }
                return issues.first?.type == "value_error.jsondecode"
            }
        }
    }

    @Test("a key over its queue limit is refused with queueFull; other keys still submit")
    func queueLimit() async throws {
        try await withPlatform({ $0.maxQueuedPerKey = 2 }) { platform in
            for _ in 0..<2 { _ = try await platform.submitter.submit(endpoint: "test/echo", input: ["prompt": "a"], apiKeyID: "k1") }
            await #expect {
                try await platform.submitter.submit(endpoint: "test/echo", input: ["prompt": "a"], apiKeyID: "k1")
            } throws: { error in
                if case SubmitError.queueFull = error { true } else { false }
            }
            _ = try await platform.submitter.submit(endpoint: "test/echo", input: ["prompt": "a"], apiKeyID: "k2")
        }
    }
}

@Suite("Platform metrics registry")
struct PlatformMetricsTests {
    @Test("each platform has its own registry: what one records never shows in another's exposition")
    func registriesAreSeparate() async throws {
        let first = PlatformMetrics()
        let second = PlatformMetrics()
        first.poolMetrics(models: ["a/one"]).recordError(model: "a/one", type: "boom")
        let one = first.exposition(queued: ["a/one": 3], models: ["a/one"], residency: nil)
        let two = second.exposition(queued: nil, models: [], residency: nil)
        #expect(one.contains("peregrine_request_errors_total{model=\"a/one\",error_type=\"boom\"} 1\n"))
        #expect(one.contains("peregrine_model_queued_requests{model=\"a/one\"} 3.0\n"))
        #expect(one.contains("# HELP peregrine_request_errors_total Requests that ended with an error, by error_type.\n"))
        #expect(!two.contains("a/one"))
    }

    @Test("residency counters advance by what the machine counted since the last exposition, never twice")
    func residencyCountersAdvanceOnce() async throws {
        let metrics = PlatformMetrics()
        var machine = ResidencyStateMachine(budget: 1 << 20)
        _ = machine.register("a/one", settings: ResidencySettings(estimatedBytes: 10), now: .now)
        _ = metrics.exposition(queued: nil, models: ["a/one"], residency: machine)
        let text = metrics.exposition(queued: nil, models: ["a/one"], residency: machine)
        #expect(text.contains("peregrine_model_loads_total{model=\"a/one\"} 0\n"))
        #expect(text.contains("peregrine_memory_budget_bytes 1048576.0\n"))
    }
}
