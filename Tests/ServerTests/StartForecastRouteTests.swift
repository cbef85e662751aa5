import Foundation
import Hummingbird
import HummingbirdTesting
import JobQueue
import ModelKit
import Platform
import Testing

private let idempotencyKey = HTTPField.Name("Idempotency-Key")!

/// Parses the ISO-8601 timestamps the server writes (`2026-01-02T03:04:05.678+00:00`).
private func instant(_ value: JSONValue?) -> Date? {
    guard let text = value?.stringValue else { return nil }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.date(from: text)
}

@Suite("Predicted start and finish")
struct StartForecastRouteTests {
    @Test("eta_start/eta_finish appear once the model has latencies; a hopeless timeout is refused with 429")
    func forecastsAndRefusals() async throws {
        let h = try Harness.make()
        try await h.test { client in
            // The gated model (one at a time) is busy with g0; g1 waits behind it.
            let g0 = try await client.send(.post, "/queue/test/gated", json: ["name": "g0"])
            let g0ID = try #require(try g0.json["request_id"]?.stringValue)
            #expect(try await h.nextStart() == "g0")
            let g1 = try await client.send(.post, "/queue/test/gated", json: ["name": "g1"])
            let g1ID = try #require(try g1.json["request_id"]?.stringValue)

            // No history yet: no forecast, and no refusal however short the timeout.
            let before = try await client.send(.get, "/queue/test/gated/requests/\(g1ID)/status")
            #expect(try before.json["eta_start"] == nil && before.json["eta_finish"] == nil)
            // (30 s: refused below once the history says 2000 s, and far from expiring meanwhile.)
            let eager = try await client.send(
                .post, "/queue/test/gated", json: ["name": "g2"], headers: [.falRequestTimeout: "30"])
            #expect(eager.status == .ok)
            let g2ID = try #require(try eager.json["request_id"]?.stringValue)

            // The model's inference histogram now says runs take 1000 s.
            h.platform.pool.metrics.observe(.inference, model: "test/gated", seconds: 1000)

            let queued = try await client.send(.get, "/queue/test/gated/requests/\(g1ID)/status")
            #expect(queued.status == .accepted)
            let start = try #require(instant(try queued.json["eta_start"]))
            let finish = try #require(instant(try queued.json["eta_finish"]))
            #expect(abs(finish.timeIntervalSince(start) - 1000) < 0.01)
            // g1 is next: it starts when g0's forecast finish comes.
            let running = try await client.send(.get, "/queue/test/gated/requests/\(g0ID)/status")
            #expect(try running.json["status"] == "IN_PROGRESS")
            #expect(try running.json["eta_start"] == nil)
            #expect(instant(try running.json["eta_finish"]) == start)
            let behind = try await client.send(.get, "/queue/test/gated/requests/\(g2ID)/status")
            #expect(instant(try behind.json["eta_start"]) == finish)

            // Two runs of 1000 s ahead: a request that must start within 60 s is refused at once,
            // with when to retry, and no job is created.
            let jobsBefore = try await gatedJobs(h)
            let hopeless = try await client.send(
                .post, "/queue/test/gated", json: ["name": "g3"], headers: [.falRequestTimeout: "60"])
            #expect(hopeless.status == .tooManyRequests)
            #expect(try hopeless.json["error_type"] == "request_timeout")
            #expect(hopeless.headers[HTTPField.Name("X-Fal-Error-Type")!] == "request_timeout")
            let retryAfter = try #require(hopeless.headers[.retryAfter].flatMap { Int($0) })
            #expect(retryAfter >= 1 && retryAfter <= 86_400)
            #expect(try await gatedJobs(h) == jobsBefore)

            // A timeout the forecast fits, or none at all, is accepted.
            let patient = try await client.send(
                .post, "/queue/test/gated", json: ["name": "g4"], headers: [.falRequestTimeout: "100000"])
            #expect(patient.status == .ok)
            let keyed = try await client.send(.post, "/queue/test/gated", json: ["name": "g5"], headers: [idempotencyKey: "g5"])
            #expect(keyed.status == .ok)
            // A retry of an accepted request is answered with it even when its timeout is hopeless.
            let retry = try await client.send(
                .post, "/queue/test/gated", json: ["name": "g5"], headers: [idempotencyKey: "g5", .falRequestTimeout: "1"])
            #expect(retry.status == .ok)
            #expect(try retry.json["request_id"] == keyed.json["request_id"])

            h.gate.open()
            for id in try await gatedJobs(h) { _ = try await h.waitForJob(id) { $0.state.isTerminal } }
            // The runs recorded their own latencies into the same histogram.
            #expect(h.platform.pool.metrics.inferenceHistogram(of: "test/gated").count >= 6)
        }
    }

    /// The ids of every job of the gated model.
    private func gatedJobs(_ h: Harness) async throws -> [String] {
        try await #require(h.store as? SQLiteJobStore).requestHistory(RequestHistoryQuery(
            endpointIDs: ["test/gated"], owner: .everyone, start: Date().addingTimeInterval(-3600),
            end: Date().addingTimeInterval(3600), limit: 100)).jobs.map(\.id)
    }
}

extension HTTPField.Name {
    fileprivate static let falRequestTimeout = HTTPField.Name("X-Fal-Request-Timeout")!
}
