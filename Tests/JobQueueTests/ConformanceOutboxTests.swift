import Foundation
import JobQueue
import Testing

/// The `JobStore` conformance suite, part 4: the webhook outbox.
@Suite("JobStore conformance: webhook outbox")
struct ConformanceOutboxTests {
    @Test(arguments: JobStoreFactory.all)
    func finishWritesTheWebhookRowWithTheTerminalState(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        _ = try await store.enqueue(newJob("w1", webhookURL: "https://hooks.example/done", apiKeyID: "pk_user"))
        _ = try await store.enqueue(newJob("plain"))
        #expect(try await store.dueWebhooks(now: t0.addingTimeInterval(1e6), limit: 10).isEmpty)
        _ = try await store.lease(endpointIDs: ["acme/upscale"], owner: "r", limit: 2, leaseDuration: 10, now: t0)
        _ = try await store.finish(id: "plain", leaseToken: store.leaseToken(of: "plain"), state: .completed, result: okResult, now: t0)
        #expect(try await store.dueWebhooks(now: t0.addingTimeInterval(1e6), limit: 10).isEmpty)

        _ = try await store.finish(id: "w1", leaseToken: store.leaseToken(of: "w1"), state: .completed, result: okResult, now: t0)
        let due = try await store.dueWebhooks(now: t0, limit: 10)
        #expect(due.count == 1)
        let delivery = try #require(due.first)
        #expect(delivery.requestID == "w1" && delivery.url == "https://hooks.example/done")
        #expect(delivery.attempts == 0 && delivery.nextAttemptAt == t0 && delivery.userID == "pk_user")
        #expect(delivery.body == WebhookPayload.body(requestID: "w1", state: .completed, result: okResult))
        let body = try #require(jsonObject(delivery.body))
        #expect(body["request_id"] as? String == "w1")
        #expect(body["gateway_request_id"] as? String == "w1")
        #expect(body["status"] as? String == "OK")
        #expect((body["payload"] as? [String: Any])?["image"] != nil)
        #expect(body["error"] == nil)
    }

    @Test(arguments: JobStoreFactory.all)
    func everyTerminalPathWritesAnErrorWebhook(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        let hook = "https://hooks.example/h"
        _ = try await store.enqueue(newJob("cancelled", webhookURL: hook))
        _ = try await store.enqueue(newJob("timed-out", startDeadline: t0, webhookURL: hook))
        _ = try await store.enqueue(newJob("model-error", endpoint: "acme/b", webhookURL: hook))
        _ = try await store.enqueue(newJob("lost", endpoint: "acme/c", maxAttempts: 1, webhookURL: hook))
        _ = try await store.enqueue(newJob("not-json", endpoint: "acme/d", webhookURL: hook))
        #expect(try await store.cancel(id: "cancelled", now: t0) == .cancelled)
        #expect(try await store.expireStartDeadlines(now: t0) == ["timed-out"])
        _ = try await store.lease(endpointIDs: ["acme/b", "acme/c", "acme/d"], owner: "r", limit: 3, leaseDuration: 10, now: t0)
        _ = try await store.finish(id: "model-error", leaseToken: store.leaseToken(of: "model-error"), state: .failed, result: modelError, now: t0)
        _ = try await store.finish(
            id: "not-json", leaseToken: store.leaseToken(of: "not-json"), state: .failed,
            result: JobResult(status: 500, body: Data("plain text".utf8), errorMessage: "boom"), now: t0)
        #expect(try await store.rescueExpiredLeases(now: t0.addingTimeInterval(10)) == ["lost"])

        let due = try await store.dueWebhooks(now: t0.addingTimeInterval(10), limit: 10)
        let bodies = Dictionary(uniqueKeysWithValues: due.map { ($0.requestID, jsonObject($0.body) ?? [:]) })
        #expect(Set(bodies.keys) == ["cancelled", "timed-out", "model-error", "lost", "not-json"])
        #expect(bodies.values.allSatisfy { $0["status"] as? String == "ERROR" })
        #expect((bodies["timed-out"]?["payload"] as? [String: Any])?["error_type"] as? String == "request_timeout")
        #expect(bodies["model-error"]?["error"] as? String == "bad image")
        #expect((bodies["model-error"]?["payload"] as? [String: Any])?["detail"] as? String == "bad image")
        #expect((bodies["lost"]?["payload"] as? [String: Any])?["error_type"] as? String == "runner_disconnected")
        #expect(bodies["not-json"]?["payload"] is NSNull)
        #expect(bodies["not-json"]?["payload_error"] is String)
        #expect(bodies["cancelled"]?["error"] as? String == "Request cancelled")
    }

    @Test(arguments: JobStoreFactory.all)
    func webhookAttemptsAreBookedAndClaimed(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        for id in ["ok", "retry", "dead"] {
            _ = try await store.enqueue(newJob(id, webhookURL: "https://hooks.example/\(id)"))
            #expect(try await store.cancel(id: id, now: t0) == .cancelled)
        }
        let first = try await store.dueWebhooks(now: t0, limit: 10)
        #expect(first.map(\.requestID) == ["ok", "retry", "dead"])
        // Handed-out rows are claimed: a second poll does not get them again.
        #expect(try await store.dueWebhooks(now: t0, limit: 10).isEmpty)
        let ids = Dictionary(uniqueKeysWithValues: first.map { ($0.requestID, $0.id) })

        try await store.recordWebhookAttempt(id: ids["ok"]!, delivered: true, nextAttemptAt: nil, error: nil, now: t0)
        try await store.recordWebhookAttempt(
            id: ids["retry"]!, delivered: false, nextAttemptAt: t0.addingTimeInterval(30), error: "HTTP 500", now: t0)
        try await store.recordWebhookAttempt(id: ids["dead"]!, delivered: false, nextAttemptAt: nil, error: "refused", now: t0)

        #expect(try await store.dueWebhooks(now: t0.addingTimeInterval(29), limit: 10).isEmpty)
        let retry = try await store.dueWebhooks(now: t0.addingTimeInterval(30), limit: 10)
        #expect(retry.map(\.requestID) == ["retry"])
        #expect(retry.first?.attempts == 1)
        #expect(retry.first?.nextAttemptAt == t0.addingTimeInterval(30))
        try await store.recordWebhookAttempt(id: ids["retry"]!, delivered: true, nextAttemptAt: nil, error: nil, now: t0)
        // Delivered and dead rows never come back.
        #expect(try await store.dueWebhooks(now: t0.addingTimeInterval(1e7), limit: 10).isEmpty)
    }

    @Test(arguments: JobStoreFactory.all)
    func unclaimedRowsComeBackAfterTheClaimLapses(factory: JobStoreFactory) async throws {
        let store = try await factory.make().store
        _ = try await store.enqueue(newJob("c", webhookURL: "https://hooks.example/c"))
        _ = try await store.cancel(id: "c", now: t0)
        #expect(try await store.dueWebhooks(now: t0, limit: 1).count == 1)
        // The sender died without recording anything: the row is due again later, not lost.
        let again = try await store.dueWebhooks(now: t0.addingTimeInterval(3600), limit: 1)
        #expect(again.map(\.requestID) == ["c"])
        #expect(again.first?.attempts == 0)
    }
}
