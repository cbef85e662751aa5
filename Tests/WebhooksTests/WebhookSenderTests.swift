import Crypto
import Foundation
import JobQueue
import Testing
import TestSupport
import Webhooks

@Suite("WebhookSender")
struct WebhookSenderTests {
    private let loopback = OutboundURLPolicy(allowPrivateAddresses: true)

    private func makeStore(_ directory: String) throws -> (SQLiteDatabase, SQLiteJobStore) {
        let database = try SQLiteDatabase(path: directory + "/jobs.sqlite")
        return (database, SQLiteJobStore(database: database))
    }

    private func sender(_ store: any JobStore, _ signer: WebhookSigner, _ clock: ManualNow, policy: OutboundURLPolicy? = nil,
                        retry: WebhookRetryPolicy = .init()) -> WebhookSender {
        WebhookSender(
            store: store, signer: signer, urlPolicy: policy ?? loopback,
            configuration: WebhookSenderConfiguration(pollInterval: .seconds(3600), retry: retry),
            now: { clock.now })
    }

    @Test func deliversASignedFalBody() async throws {
        let receiver = try await TestReceiver.start()
        defer { Task { try await receiver.stop() } }
        let (_, store) = try makeStore(try temporaryDirectory("peregrine-webhooks"))
        let signer = WebhookSigner(privateKey: Curve25519.Signing.PrivateKey())
        try await finishedJobWithWebhook(store: store, id: "req-1", url: receiver.url)
        let clock = ManualNow(t0)

        #expect(await sender(store, signer, clock).deliverDue() == 1)
        let request = try #require(receiver.requests.first)
        #expect(request.method == "POST" && request.uri == "/hook")
        #expect(request.headers["content-type"] == "application/json")
        #expect(request.headers["x-fal-webhook-request-id"] == "req-1")
        #expect(request.headers["x-fal-webhook-user-id"] == "pk_test")
        #expect(request.headers["x-fal-webhook-timestamp"] == String(Int64(t0.timeIntervalSince1970)))
        let body = try #require(try JSONSerialization.jsonObject(with: request.body) as? [String: Any])
        #expect(body["request_id"] as? String == "req-1" && body["status"] as? String == "OK")
        #expect((body["payload"] as? [String: Any])?["ok"] as? Bool == true)
        // The signature verifies against the published key.
        let publicKey = try signer.jwks.keys[0].publicKey()
        let message = WebhookSigner.message(requestID: "req-1", userID: "pk_test", timestamp: Int64(t0.timeIntervalSince1970), body: request.body)
        let signature = try #require(request.headers["x-fal-webhook-signature"])
        let bytes = stride(from: 0, to: signature.count, by: 2).map { offset -> UInt8 in
            let start = signature.index(signature.startIndex, offsetBy: offset)
            return UInt8(signature[start..<signature.index(start, offsetBy: 2)], radix: 16) ?? 0
        }
        #expect(publicKey.isValidSignature(Data(bytes), for: message))
        // Delivered rows are done.
        clock.advance(by: 1e6)
        #expect(await sender(store, signer, clock).deliverDue() == 0)
        #expect(receiver.requests.count == 1)
    }

    @Test func retriesWithBackoffUntilDelivered() async throws {
        let receiver = try await TestReceiver.start(statuses: [500, 404])
        defer { Task { try await receiver.stop() } }
        let (_, store) = try makeStore(try temporaryDirectory("peregrine-webhooks"))
        let signer = WebhookSigner(privateKey: Curve25519.Signing.PrivateKey())
        try await finishedJobWithWebhook(store: store, id: "retry", url: receiver.url, apiKeyID: nil)
        let clock = ManualNow(t0)
        let sender = sender(store, signer, clock)

        #expect(await sender.deliverDue() == 1)  // 500
        clock.advance(by: 14)
        #expect(await sender.deliverDue() == 0)  // not due before 15 s
        clock.advance(by: 1)
        #expect(await sender.deliverDue() == 1)  // 404
        clock.advance(by: 29)
        #expect(await sender.deliverDue() == 0)
        clock.advance(by: 1)
        #expect(await sender.deliverDue() == 1)  // 200
        clock.advance(by: 1e6)
        #expect(await sender.deliverDue() == 0)
        let requests = receiver.requests
        #expect(requests.count == 3)
        #expect(Set(requests.map(\.body)).count == 1)
        #expect(requests.allSatisfy { $0.headers["x-fal-webhook-user-id"] == "peregrine" })
    }

    @Test func givesUpAfterTheLastAttempt() async throws {
        let receiver = try await TestReceiver.start(statuses: [500, 500, 500])
        defer { Task { try await receiver.stop() } }
        let (_, store) = try makeStore(try temporaryDirectory("peregrine-webhooks"))
        try await finishedJobWithWebhook(store: store, id: "dead", url: receiver.url)
        let clock = ManualNow(t0)
        let sender = sender(store, WebhookSigner(privateKey: .init()), clock, retry: WebhookRetryPolicy(maxAttempts: 2))
        #expect(await sender.deliverDue() == 1)
        clock.advance(by: 15)
        #expect(await sender.deliverDue() == 1)
        clock.advance(by: 1e6)
        #expect(await sender.deliverDue() == 0)
        #expect(receiver.requests.count == 2)
    }

    @Test func refusedReceiversAreNeverContacted() async throws {
        let receiver = try await TestReceiver.start()
        defer { Task { try await receiver.stop() } }
        let (_, store) = try makeStore(try temporaryDirectory("peregrine-webhooks"))
        try await finishedJobWithWebhook(store: store, id: "ssrf", url: receiver.url)
        let clock = ManualNow(t0)
        // The default policy refuses loopback: the delivery is dropped at once, not retried.
        #expect(await sender(store, WebhookSigner(privateKey: .init()), clock, policy: OutboundURLPolicy()).deliverDue() == 1)
        clock.advance(by: 1e6)
        #expect(await sender(store, WebhookSigner(privateKey: .init()), clock).deliverDue() == 0)
        #expect(receiver.requests.isEmpty)
    }

    @Test func pendingDeliveriesSurviveARestart() async throws {
        let receiver = try await TestReceiver.start(statuses: [503])
        defer { Task { try await receiver.stop() } }
        let directory = try temporaryDirectory("peregrine-webhooks")
        let keys = directory + "/keys"
        let clock = ManualNow(t0)
        do {
            let (database, store) = try makeStore(directory)
            try await finishedJobWithWebhook(store: store, id: "restart", url: receiver.url)
            #expect(await sender(store, try WebhookSigner.loadOrCreate(directory: keys), clock).deliverDue() == 1)
            try database.close()
        }
        // A new process: the same database file and key directory.
        let (_, store) = try makeStore(directory)
        let signer = try WebhookSigner.loadOrCreate(directory: keys)
        clock.advance(by: 15)
        #expect(await sender(store, signer, clock).deliverDue() == 1)
        #expect(receiver.requests.count == 2)
        let last = try #require(receiver.requests.last)
        let message = WebhookSigner.message(
            requestID: "restart", userID: "pk_test", timestamp: Int64(clock.now.timeIntervalSince1970), body: last.body)
        let signature = try #require(last.headers["x-fal-webhook-signature"])
        #expect(try signer.signature(requestID: "restart", userID: "pk_test", timestamp: Int64(clock.now.timeIntervalSince1970), body: last.body) == signature)
        #expect(!message.isEmpty)
        clock.advance(by: 1e6)
        #expect(await sender(store, signer, clock).deliverDue() == 0)
    }

    @Test func serviceWakesOnNotification() async throws {
        let receiver = try await TestReceiver.start()
        defer { Task { try await receiver.stop() } }
        let (_, store) = try makeStore(try temporaryDirectory("peregrine-webhooks"))
        // The poll interval is an hour: only the `.webhookPending` notification can cause delivery.
        let service = WebhookSender(
            store: store, signer: WebhookSigner(privateKey: .init()), urlPolicy: loopback,
            configuration: WebhookSenderConfiguration(pollInterval: .seconds(3600)), now: { t0 })
        let task = Task { try await service.run() }
        try await finishedJobWithWebhook(store: store, id: "first", url: receiver.url)
        #expect(await waitUntil { receiver.requests.count == 1 })
        // The first pass is over; with an hour between polls, only the notification sent when
        // the second job finishes can make the service deliver it.
        try await finishedJobWithWebhook(store: store, id: "woken", url: receiver.url)
        #expect(await waitUntil { receiver.requests.count == 2 })
        #expect(receiver.requests.last?.headers["x-fal-webhook-request-id"] == "woken")
        task.cancel()
        try await task.value
    }
}
