import Foundation
import Hummingbird
import HummingbirdTesting
import JobQueue
import ModelKit
import NIOConcurrencyHelpers
import Platform
import Runners
import Server
import TestSupport
import Testing

private let idempotencyKey = HTTPField.Name("Idempotency-Key")!
private let replayed = HTTPField.Name("Idempotent-Replayed")!

/// Serves `platform` through the router test client with its services running, leaving its
/// home in place (so a second platform can open it, as a restarted server would).
private func serve(_ platform: EmbeddedPlatform, _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
    let app = Application(
        responder: APIResponder(services: APIServices(platform: platform), scheme: "https"),
        services: [platform.maintenance(), platform.hub, platform.pool])
    try await app.test(.router) { client in try await body(client) }
}

@Suite("Idempotency-Key on submit")
struct IdempotencyRouteTests {
    @Test("the same key and body returns the original request; another body is a 422; keys are per API key")
    func sameKeySameBody() async throws {
        let h = try Harness.make { $0.authEnabled = true }
        try await h.test { client in
            let (a, aSecret) = try await h.platform.keys.createKey(name: "a", now: Date())
            let (b, bSecret) = try await h.platform.keys.createKey(name: "b", now: Date())
            var aHeaders: HTTPFields = [.authorization: "Key \(a.id):\(aSecret)"]
            aHeaders[idempotencyKey] = "order-42"
            var bHeaders: HTTPFields = [.authorization: "Key \(b.id):\(bSecret)"]
            bHeaders[idempotencyKey] = "order-42"

            let first = try await client.send(.post, "/queue/test/echo", raw: #"{"prompt":"cat","count":2}"#, headers: aHeaders)
            #expect(first.status == .ok)
            #expect(first.headers[replayed] == nil)
            let id = try #require(try first.json["request_id"]?.stringValue)

            // The same body, spaced and ordered differently, is the same request.
            let again = try await client.send(.post, "/queue/test/echo", raw: #"{ "count": 2, "prompt": "cat" }"#, headers: aHeaders)
            #expect(again.status == .ok)
            #expect(again.headers[replayed] == "true")
            #expect(again.headers[HTTPField.Name("x-fal-request-id")!] == id)
            #expect(try again.json["request_id"]?.stringValue == id)
            #expect(try again.json["status"] == "IN_QUEUE")
            #expect(try again.json["status_url"]?.stringValue == first.json["status_url"]?.stringValue)
            #expect(try again.json["queue_position"]?.intValue != nil)

            let other = try await client.send(.post, "/queue/test/echo", raw: #"{"prompt":"dog"}"#, headers: aHeaders)
            #expect(other.status == .unprocessableContent)
            let issue = try #require(try other.json["detail"]?.arrayValue?.first)
            #expect(issue["loc"] == ["header", "idempotency-key"])
            #expect(issue["msg"]?.stringValue?.contains(id) == true)

            // Another key's identical Idempotency-Key is its own request.
            let theirs = try await client.send(.post, "/queue/test/echo", raw: #"{"prompt":"cat","count":2}"#, headers: bHeaders)
            #expect(theirs.status == .ok)
            #expect(try theirs.json["request_id"]?.stringValue != id)
            #expect(theirs.headers[replayed] == nil)

            // The same key on another endpoint is another request: a conflict, not a replay.
            let elsewhere = try await client.send(.post, "/queue/test/multi/path", raw: #"{"prompt":"cat","count":2}"#, headers: aHeaders)
            #expect(elsewhere.status == .unprocessableContent)

            // Only one job came of the three submits of key a on test/echo.
            let history = try await #require(h.store as? SQLiteJobStore).requestHistory(RequestHistoryQuery(
                endpointIDs: ["test/echo"], owner: .key(a.id), start: Date().addingTimeInterval(-3600), end: Date().addingTimeInterval(3600)))
            #expect(history.jobs.map(\.id) == [id])
        }
    }

    @Test("keys that are empty, too long or not visible ASCII are refused before the body is read", arguments: [
        "", String(repeating: "k", count: 256), "has space", "tab\there", "caf\u{e9}",
    ])
    func invalidKeys(key: String) async throws {
        let h = try Harness.make()
        try await h.test { client in
            var headers = HTTPFields()
            headers[idempotencyKey] = key
            let response = try await client.send(.post, "/queue/test/echo", raw: "not json at all", headers: headers)
            #expect(response.status == .unprocessableContent)
            #expect(try response.json["detail"]?.arrayValue?.first?["loc"] == ["header", "idempotency-key"])
        }
    }

    @Test("a key of 255 visible characters is accepted")
    func longestKey() async throws {
        let h = try Harness.make()
        try await h.test { client in
            var headers = HTTPFields()
            headers[idempotencyKey] = String(repeating: "~", count: 255)
            let response = try await client.send(.post, "/queue/test/echo", json: ["prompt": "x"], headers: headers)
            #expect(response.status == .ok)
        }
    }

    @Test("without credentials a key is never looked at: 401")
    func unauthorizedFirst() async throws {
        let h = try Harness.make { $0.authEnabled = true }
        try await h.test { client in
            var headers = HTTPFields()
            headers[idempotencyKey] = String(repeating: "k", count: 300)
            let response = try await client.send(.post, "/queue/test/echo", json: ["prompt": "x"], headers: headers)
            #expect(response.status == .unauthorized)
        }
    }

    @Test("the window holds across a restart of the server on the same home")
    func survivesRestart() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        var configuration = ServerConfiguration()
        configuration.home = home
        configuration.authEnabled = false
        func platform() throws -> EmbeddedPlatform {
            try EmbeddedPlatform(
                configuration: configuration, models: [EchoModel()],
                runnerConfiguration: RunnerConfiguration(leaseDuration: 60, shutdownGracePeriod: 1))
        }
        let headers: HTTPFields = [idempotencyKey: "retry-after-crash"]
        let first = try platform()
        let id: String = try await {
            let box = NIOLockedValueBox<String?>(nil)
            try await serve(first) { client in
                let response = try await client.send(.post, "/queue/test/echo", json: ["prompt": "x"], headers: headers)
                #expect(response.status == .ok)
                let id = try response.json["request_id"]?.stringValue
                box.withLockedValue { $0 = id }
            }
            return try #require(box.withLockedValue { $0 })
        }()
        try #require(first.store as? SQLiteJobStore).database.close()

        let second = try platform()
        try await serve(second) { client in
            let response = try await client.send(.post, "/queue/test/echo", json: ["prompt": "x"], headers: headers)
            #expect(response.status == .ok)
            #expect(response.headers[replayed] == "true")
            #expect(try response.json["request_id"]?.stringValue == id)
            let changed = try await client.send(.post, "/queue/test/echo", json: ["prompt": "y"], headers: headers)
            #expect(changed.status == .unprocessableContent)
        }
    }

    @Test("sync run: a repeated key answers the original request's result")
    func syncRunReplays() async throws {
        let h = try Harness.make()
        try await h.test { client in
            var headers = HTTPFields()
            headers[idempotencyKey] = "run-1"
            let first = try await client.send(.post, "/run/test/echo", json: ["prompt": "x"], headers: headers)
            #expect(first.status == .ok)
            let id = try #require(first.headers[HTTPField.Name("x-fal-request-id")!])
            let again = try await client.send(.post, "/run/test/echo", json: ["prompt": "x"], headers: headers)
            #expect(again.status == .ok)
            #expect(again.headers[HTTPField.Name("x-fal-request-id")!] == id)
            #expect(try again.json == first.json)
            // A queue submit with the same key and body joins the same request too.
            let queued = try await client.send(.post, "/queue/test/echo", json: ["prompt": "x"], headers: headers)
            #expect(try queued.json["request_id"]?.stringValue == id)
        }
    }
}
