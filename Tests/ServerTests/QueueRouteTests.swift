import Foundation
import Hummingbird
import HummingbirdTesting
import JobQueue
import ModelKit
import Platform
import Testing

@Suite("Queue routes")
struct QueueRouteTests {
    @Test("submit answers IN_QUEUE with absolute owner/alias URLs, then status and result follow")
    func submitStatusResult() async throws {
        let h = try Harness.make()
        try await h.test { client in
            // The router test client's authority is "localhost"; the TLS test checks host:port.
            let submit = try await client.send(.post, "/queue/test/multi/path", json: ["prompt": "hi"])
            #expect(submit.status == .ok)
            #expect(submit.headers[.contentType] == "application/json")
            let body = try submit.json
            let id = try #require(body["request_id"]?.stringValue)
            #expect(submit.headers[HTTPField.Name("x-fal-request-id")!] == id)
            #expect(body["status"] == "IN_QUEUE")
            #expect(body["queue_position"]?.intValue != nil)
            #expect(body["gateway_request_id"]?.stringValue == id)
            #expect(body["status_url"]?.stringValue == "https://localhost/queue/test/multi/requests/\(id)/status")
            #expect(body["response_url"]?.stringValue == "https://localhost/queue/test/multi/requests/\(id)")
            #expect(body["cancel_url"]?.stringValue == "https://localhost/queue/test/multi/requests/\(id)/cancel")

            _ = try await h.waitForJob(id) { $0.state == .completed }
            let status = try await client.send(.get, "/queue/test/multi/requests/\(id)/status?logs=1")
            #expect(status.status == .ok)
            let s = try status.json
            #expect(s["status"] == "COMPLETED")
            #expect(s["logs"]?.arrayValue?.first?["message"] == "echoing")
            #expect(s["logs"]?.arrayValue?.first?["source"] == "USER")
            #expect(s["logs"]?.arrayValue?.first?["timestamp"]?.stringValue?.hasSuffix("+00:00") == true)
            #expect(s["metrics"]?["inference_time"]?.doubleValue != nil)
            #expect(s["error"] == nil)

            let noLogs = try await client.send(.get, "/queue/test/multi/requests/\(id)/status").json
            #expect(noLogs["logs"] == .null)

            // The full endpoint form reaches the same request.
            let result = try await client.send(.get, "/queue/test/multi/path/requests/\(id)")
            #expect(result.status == .ok)
            let echo = try result.json["echo"]
            #expect(echo?["prompt"] == "hi")
            #expect(echo?["count"] == 1, "defaults are filled in before the model runs")
            #expect(echo?["image_size"] == "square_hd")
        }
    }

    @Test("queued requests report queue_position and no logs key; running ones carry logs; result waits")
    func queuedAndRunning() async throws {
        let h = try Harness.make()
        try await h.test { client in
            let first = try await client.send(.post, "/queue/test/gated", json: ["name": "a"]).json
            let firstID = try #require(first["request_id"]?.stringValue)
            #expect(try await h.nextStart() == "a")
            let second = try await client.send(.post, "/queue/test/gated", json: ["name": "b"]).json
            let secondID = try #require(second["request_id"]?.stringValue)
            #expect(second["queue_position"] == 0)

            let queued = try await client.send(.get, "/queue/test/gated/requests/\(secondID)/status?logs=1")
            #expect(queued.status == .accepted)
            let q = try queued.json
            #expect(q["status"] == "IN_QUEUE")
            #expect(q["queue_position"] == 0)
            #expect(q.objectValue?.keys.contains("logs") == false)

            _ = try await h.waitForJob(firstID) { !$0.state.isTerminal && $0.state == .running }
            let running = try await client.send(.get, "/queue/test/gated/requests/\(firstID)/status?logs=true")
            #expect(running.status == .accepted)
            let r = try running.json
            #expect(r["status"] == "IN_PROGRESS")
            #expect(r.objectValue?.keys.contains("logs") == true)
            let runningNoLogs = try await client.send(.get, "/queue/test/gated/requests/\(firstID)/status").json
            #expect(runningNoLogs.objectValue?["logs"] == .null)

            let early = try await client.send(.get, "/queue/test/gated/requests/\(firstID)")
            #expect(early.status == .badRequest)
            #expect(try early.json == ["detail": "Request is still in progress"])

            h.gate.open()
            _ = try await h.waitForJob(secondID) { $0.state == .completed }
            let result = try await client.send(.get, "/queue/test/gated/requests/\(secondID)")
            #expect(try result.json == ["done": "b"])
        }
    }

    @Test("cancel: running → cancelled COMPLETED with error_type; finished → 400; unknown → 404")
    func cancel() async throws {
        let h = try Harness.make()
        try await h.test { client in
            let submitted = try await client.send(.post, "/queue/test/gated", json: ["name": "c"]).json
            let id = try #require(submitted["request_id"]?.stringValue)
            _ = try await h.nextStart()
            let cancel = try await client.send(.put, "/queue/test/gated/requests/\(id)/cancel")
            #expect(cancel.status == .accepted)
            #expect(try cancel.json == ["status": "CANCELLATION_REQUESTED"])
            let job = try await h.waitForJob(id) { $0.state.isTerminal }
            #expect(job.state == .cancelled)
            let status = try await client.send(.get, "/queue/test/gated/requests/\(id)/status").json
            #expect(status["status"] == "COMPLETED")
            #expect(status["error_type"] == "request_cancelled")
            #expect(status["error"]?.stringValue != nil)

            let again = try await client.send(.put, "/queue/test/gated/requests/\(id)/cancel")
            #expect(again.status == .badRequest)
            #expect(try again.json == ["status": "ALREADY_COMPLETED"])

            let unknown = try await client.send(.put, "/queue/test/gated/requests/00000000-0000-0000-0000-000000000000/cancel")
            #expect(unknown.status == .notFound)
            #expect(try unknown.json == ["status": "NOT_FOUND"])
        }
    }

    @Test("a model's ModelError becomes its result status and a failed COMPLETED status")
    func modelFailure() async throws {
        let h = try Harness.make()
        try await h.test { client in
            let id = try #require(try await client.send(.post, "/queue/test/fail", json: [:]).json["request_id"]?.stringValue)
            _ = try await h.waitForJob(id) { $0.state.isTerminal }
            let result = try await client.send(.get, "/queue/test/fail/requests/\(id)")
            #expect(result.status.code == 415)
            #expect(try result.json == ["detail": "image is not a PNG", "error_type": "unsupported_media"])
            #expect(result.headers[HTTPField.Name("X-Fal-Error-Type")!] == "unsupported_media")
            let status = try await client.send(.get, "/queue/test/fail/requests/\(id)/status?logs=1").json
            #expect(status["status"] == "COMPLETED")
            #expect(status["error"] == "image is not a PNG")
            #expect(status["error_type"] == "unsupported_media")
            #expect(status["logs"]?.arrayValue?.first?["level"] == "ERROR")
        }
    }

    @Test("X-Fal-Request-Timeout: a request that cannot start in time ends 504 with the user timeout header")
    func startTimeout() async throws {
        let h = try Harness.make()
        try await h.test { client in
            _ = try await client.send(.post, "/queue/test/gated", json: ["name": "busy"])
            _ = try await h.nextStart()
            var headers = HTTPFields()
            headers[HTTPField.Name("X-Fal-Request-Timeout")!] = "0.2"
            let id = try #require(try await client.send(.post, "/queue/test/gated", json: ["name": "late"], headers: headers).json["request_id"]?.stringValue)
            _ = try await h.waitForJob(id) { $0.state.isTerminal }
            let result = try await client.send(.get, "/queue/test/gated/requests/\(id)")
            #expect(result.status == .gatewayTimeout)
            #expect(result.headers[HTTPField.Name("X-Fal-Request-Timeout-Type")!] == "user")
            #expect(try result.json == ["detail": "Request timed out", "error_type": "request_timeout"])
            h.gate.open()
        }
    }

    @Test("low priority waits behind normal")
    func priority() async throws {
        let h = try Harness.make()
        try await h.test { client in
            _ = try await client.send(.post, "/queue/test/gated", json: ["name": "first"])
            #expect(try await h.nextStart() == "first")
            var low = HTTPFields()
            low[HTTPField.Name("X-Fal-Queue-Priority")!] = "low"
            _ = try await client.send(.post, "/queue/test/gated", json: ["name": "low"], headers: low)
            let normal = try await client.send(.post, "/queue/test/gated", json: ["name": "normal"]).json
            #expect(normal["queue_position"] == 0)
            h.gate.open()
            #expect(try await h.nextStart() == "normal")
            #expect(try await h.nextStart() == "low")
        }
    }

    @Test("status stream sends changes and closes after COMPLETED")
    func statusStream() async throws {
        let h = try Harness.make()
        try await h.test { client in
            let id = try #require(try await client.send(.post, "/queue/test/gated", json: ["name": "s"]).json["request_id"]?.stringValue)
            _ = try await h.nextStart()
            _ = try await h.waitForJob(id) { $0.state == .running }
            // The router client returns the body once the stream ends: open the gate first; the
            // first event is still IN_PROGRESS or already COMPLETED. Pings are checked over a
            // real socket (TLSServerTests).
            h.gate.open()
            let response = try await client.send(.get, "/queue/test/gated/requests/\(id)/status/stream?logs=1")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/event-stream")
            let text = response.text
            let events = text.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") }
            let statuses = try events.map { try JSONValue(parsing: Data($0.dropFirst(6).utf8))["status"] }
            #expect(!statuses.isEmpty)
            #expect(statuses.last == "COMPLETED")
        }
    }
}
