import Foundation
import Hummingbird
import HummingbirdTesting
import JobQueue
import ModelKit
import Platform
import Testing

@Suite("Fairness between API keys")
struct KeyFairnessTests {
    @Test("a key that floods the queue gets 429 at its limit; another key is served next and says so")
    func floodingKeyCannotStarveAnother() async throws {
        let h = try Harness.make {
            $0.authEnabled = true
            $0.maxQueuedPerKey = 3
        }
        try await h.test { client in
            let (flood, floodSecret) = try await h.platform.keys.createKey(name: "flood", now: Date())
            let (quiet, quietSecret) = try await h.platform.keys.createKey(name: "quiet", now: Date())
            let floodAuth: HTTPFields = [.authorization: "Key \(flood.id):\(floodSecret)"]
            let quietAuth: HTTPFields = [.authorization: "Key \(quiet.id):\(quietSecret)"]

            let first = try await client.send(.post, "/queue/test/gated", json: ["name": "a0"], headers: floodAuth)
            #expect(first.status == .ok)
            #expect(try await h.nextStart() == "a0")
            var floodIDs: [String] = []
            for name in ["a1", "a2", "a3"] {
                let queued = try await client.send(.post, "/queue/test/gated", json: ["name": .string(name)], headers: floodAuth)
                #expect(queued.status == .ok)
                floodIDs.append(try #require(try queued.json["request_id"]?.stringValue))
            }
            // The fourth queued request of the same key is refused, with fal's retryable status.
            let refused = try await client.send(.post, "/queue/test/gated", json: ["name": "a4"], headers: floodAuth)
            #expect(refused.status == .tooManyRequests)
            #expect(refused.headers[.retryAfter] == "1")
            #expect(refused.headers[HTTPField.Name("X-Fal-Error-Type")!] == "rate_limited")
            #expect(try refused.json["error_type"] == "rate_limited")
            #expect(try await h.store.job(id: floodIDs[2]) != nil)

            // The other key arrives last but goes first: the flooding key already has a job running.
            let late = try await client.send(.post, "/queue/test/gated", json: ["name": "b0"], headers: quietAuth)
            #expect(late.status == .ok)
            #expect(try late.json["queue_position"] == 0)
            let lateID = try #require(try late.json["request_id"]?.stringValue)
            let status = try await client.send(.get, "/queue/test/gated/requests/\(lateID)/status", headers: quietAuth)
            #expect(try status.json["queue_position"] == 0)
            let lastFlood = try await client.send(.get, "/queue/test/gated/requests/\(floodIDs[2])/status", headers: floodAuth)
            #expect(try lastFlood.json["queue_position"] == 3)

            h.gate.open()
            var order: [String] = []
            for _ in 0..<4 { order.append(try await h.nextStart()) }
            #expect(order == ["b0", "a1", "a2", "a3"])
            for id in floodIDs + [lateID] { _ = try await h.waitForJob(id) { $0.state == .completed } }

            // With its queue drained, the flooding key may submit again.
            let again = try await client.send(.post, "/queue/test/gated", json: ["name": "a5"], headers: floodAuth)
            #expect(again.status == .ok)
        }
    }
}
