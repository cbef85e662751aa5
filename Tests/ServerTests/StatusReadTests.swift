import Foundation
import Hummingbird
import HummingbirdTesting
import JobQueue
import ModelKit
@testable import Platform
import Runners
@testable import Server
import Testing

extension SpyPlatform {
    /// Runs `body` against the router with the hub and the pool running.
    func test(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        defer { try? FileManager.default.removeItem(at: home) }
        let app = Application(responder: APIResponder(services: services, scheme: "https"), services: [hub, pool])
        try await app.test(.router) { client in try await body(client) }
    }

    /// Waits (without a full read) until job `id` is terminal, woken by its notifications; fails
    /// after a generous deadline instead of hanging.
    func waitUntilTerminal(_ id: String) async throws {
        let changes = hub.changes(of: id)
        let done = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                var iterator = changes.makeAsyncIterator()
                repeat {
                    if try await spy.base.jobWithoutPayloads(id: id)?.state.isTerminal == true { return true }
                } while await iterator.next() != nil
                return false
            }
            group.addTask {
                try await Task.sleep(for: .seconds(60))
                return false
            }
            let first = try await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !done { throw HarnessError("job \(id) never finished") }
    }
}


@Suite("Status reads: payload-free polls and streams, /run re-checks, stream cap")
struct StatusReadTests {
    @Test("status polls and status streams never read a job's input or result; the result route does")
    func statusAndStreamsReadNoPayloads() async throws {
        let platform = try SpyPlatform()
        try await platform.test { client in
            let submitted = try await client.send(.post, "/queue/test/gated", json: ["name": "big"]).json
            let id = try #require(submitted["request_id"]?.stringValue)
            var starts = platform.started.makeAsyncIterator()
            _ = await starts.next()
            let before = platform.spy.fullReads(of: id)
            for _ in 0..<5 {
                let status = try await client.send(.get, "/queue/test/gated/requests/\(id)/status?logs=1")
                #expect(status.status == .accepted)
                #expect(try status.json["status"]?.stringValue == "IN_PROGRESS")
            }
            platform.gate.open()
            try await platform.waitUntilTerminal(id)
            let stream = try await client.send(.get, "/queue/test/gated/requests/\(id)/status/stream")
            #expect(stream.status == .ok)
            #expect(stream.text.contains("\"COMPLETED\""))
            #expect(try await client.send(.get, "/queue/test/gated/requests/\(id)/status").status == .ok)
            #expect(platform.spy.fullReads(of: id) == before, "status and stream reads loaded payloads")

            let result = try await client.send(.get, "/queue/test/gated/requests/\(id)")
            #expect(result.status == .ok)
            #expect(platform.spy.fullReads(of: id) == before + 1)
        }
    }

    @Test("a non-streaming /run returns even when the job's notifications are lost")
    func runSurvivesLostNotifications() async throws {
        let platform = try SpyPlatform(deliversNotifications: false) { $0.waitRecheckInterval = 0.05 }
        try await platform.test { client in
            let response = try await withHangGuard {
                try await client.send(.post, "/run/test/echo", json: ["prompt": "lost"])
            }
            let answered = try #require(response, "/run hung after its notification was lost")
            #expect(answered.status == .ok)
            #expect(try answered.json["echo"]?["prompt"]?.stringValue == "lost")
        }
    }

    @Test("a key over its open-stream limit gets 429, before any job is submitted; a closed stream frees its slot")
    func streamCapPerKey() async throws {
        let platform = try SpyPlatform { $0.maxStreamsPerKey = 1 }
        try await platform.test { client in
            let id = try #require(try await client.send(.post, "/queue/test/echo", json: ["prompt": "s"]).json["request_id"]?.stringValue)
            try await platform.waitUntilTerminal(id)
            // Another stream of the same (key-less) caller is open.
            let held = try #require(platform.services.streams.acquire(key: nil))
            let refused = try await client.send(.get, "/queue/test/echo/requests/\(id)/status/stream")
            #expect(refused.status == .tooManyRequests)
            #expect(refused.headers[.retryAfter] == "1")
            #expect(try refused.json["error_type"]?.stringValue == "rate_limited")
            let run = try await client.send(.post, "/run/test/echo/stream", json: ["prompt": "s"])
            #expect(run.status == .tooManyRequests)
            #expect(try await platform.spy.base.queuePosition(id: id) == nil)

            held.release()
            let stream = try await client.send(.get, "/queue/test/echo/requests/\(id)/status/stream")
            #expect(stream.status == .ok)
            #expect(stream.text.contains("\"COMPLETED\""))
            #expect(platform.services.streams.openStreams(key: nil) == 0, "the finished stream kept its slot")
        }
    }

    @Test("stream slots are counted per key and given back once, also when dropped unused")
    func streamLimiterCounts() {
        let limiter = StreamLimiter(limit: 2)
        let a1 = limiter.acquire(key: "a")
        var a2 = limiter.acquire(key: "a")
        #expect(a1 != nil && a2 != nil)
        #expect(limiter.acquire(key: "a") == nil)
        #expect(limiter.acquire(key: "b") != nil, "another key has its own count")
        a1?.release()
        a1?.release()
        #expect(limiter.openStreams(key: "a") == 1, "a second release is ignored")
        a2 = nil
        #expect(limiter.openStreams(key: "a") == 0, "a dropped slot is given back")
        _ = a2
        #expect(StreamLimiter(limit: 0).acquire(key: "a") != nil, "0 means no limit")
    }
}
