import APITypes
import Client
import Foundation
import ModelKit
import NIOConcurrencyHelpers
import TestSupport
import Testing

/// The Swift SDK against a real HTTPS server: every call a user makes, and the typed errors the
/// server's fal-shaped answers become.
@Suite("Client SDK against a real server")
struct ClientSDKTests {
    @Test("submit, status, status stream, result, subscribe (stream and poll), run and run stream")
    func queueCalls() async throws {
        try await LiveServer.with { server in
            try await server.withClient { client in
                let submitted = try await client.submit("test/echo", input: ["prompt": "queued"])
                #expect(submitted.status == .inQueue)
                var seen: [QueueStatusKind] = []
                for try await status in client.statusStream("test/echo", requestID: submitted.requestID, logs: true) {
                    seen.append(status.status)
                }
                #expect(seen.last == .completed)
                let completed = try await client.status("test/echo", requestID: submitted.requestID, logs: true)
                #expect(completed.status == .completed)
                guard case .lines(let lines) = completed.logs else { Issue.record("no logs"); return }
                #expect(lines.map(\.message).contains("echoing"))
                #expect(try await client.result("test/echo", requestID: submitted.requestID)["echo"]?["prompt"] == "queued")

                let enqueued = NIOLockedValueBox<String?>(nil)
                let updates = NIOLockedValueBox<[QueueStatusKind]>([])
                let output = try await client.subscribe(
                    "test/echo", input: ["prompt": "sub"], logs: true, onEnqueue: { id in enqueued.withLockedValue { $0 = id } },
                    onUpdate: { status in updates.withLockedValue { $0.append(status.status) } })
                #expect(output["echo"]?["prompt"] == "sub")
                #expect(enqueued.withLockedValue { $0 } != nil)
                #expect(updates.withLockedValue { $0.last } == .completed)

                // Polling waits go through the policy's sleep: a no-op here, so no real waiting.
                var polling = client
                polling.retry = RetryPolicy(sleep: { _ in await Task.yield() })
                let polled = try await polling.subscribe("test/echo", input: ["prompt": "poll"], mode: .poll(every: .milliseconds(100)))
                #expect(polled["echo"]?["prompt"] == "poll")

                #expect(try await client.run("test/echo", input: ["prompt": "run"])["echo"]?["prompt"] == "run")
                var events: [JSONValue] = []
                for try await event in client.runStream("test/echo", input: ["prompt": "stream"]) { events.append(event) }
                #expect(events.last?["echo"]?["prompt"] == "stream")
            }
        }
    }

    @Test("cancel a queued request; cancelling a finished or unknown one answers fal's statuses")
    func cancel() async throws {
        try await LiveServer.with { server in
            try await server.withClient { client in
                let running = try await client.submit("test/gated", input: ["name": "first"])
                #expect(try await server.nextStart() == "first")
                let queued = try await client.submit("test/gated", input: ["name": "second"])
                #expect(try await client.cancel("test/gated", requestID: queued.requestID) == .requested)
                let status = try await client.follow("test/gated", requestID: queued.requestID)
                #expect(status.errorType != nil)
                await #expect(throws: ClientError.self) { try await client.result("test/gated", requestID: queued.requestID) }
                #expect(try await client.cancel("test/gated", requestID: queued.requestID) == .alreadyCompleted)
                #expect(try await client.cancel("test/gated", requestID: "no-such-request") == .notFound)
                server.gate.open()
                _ = try await client.follow("test/gated", requestID: running.requestID)
                #expect(try await client.result("test/gated", requestID: running.requestID)["done"] == "first")
            }
        }
    }

    @Test("upload whole and in parts; the file URLs download back")
    func upload() async throws {
        try await LiveServer.with { server in
            try await server.withClient { client in
                let bytes = Data((0..<1000).map { UInt8($0 % 251) })
                let whole = try await client.upload(bytes, contentType: "application/octet-stream", fileName: "whole.bin")
                #expect(try await client.download(whole) == bytes)

                var parts = client
                parts.multipartThreshold = 100
                parts.partSize = 300
                let multipart = try await parts.upload(bytes, contentType: "application/octet-stream", fileName: "parts.bin")
                #expect(multipart.contains("parts.bin"))
                #expect(try await client.download(multipart) == bytes)

            }
        }
    }

    @Test("fal error bodies become typed errors: 401, 403, 404, 422 with issues, a model's 415, 400 too early")
    func typedErrors() async throws {
        try await LiveServer.with { server in
            try await server.withClient(key: "nobody:wrong", retry: .never) { client in
                let error = await #expect(throws: ClientError.self) { try await client.submit("test/echo", input: [:]) }
                #expect(error?.code == .unauthorized)
            }
            try await server.withClient(retry: .never) { client in
                let forbidden = await #expect(throws: ClientError.self) { try await client.activeRequests() }
                #expect(forbidden?.code == .forbidden)
                let missing = await #expect(throws: ClientError.self) { try await client.submit("test/nothing", input: [:]) }
                #expect(missing?.code == .notFound)
                #expect(missing?.detail.contains("not found") == true)
                let invalid = await #expect(throws: ClientError.self) { try await client.submit("test/files", input: [:]) }
                #expect(invalid?.code == .validation)
                #expect(invalid?.validationIssues.first?.loc == [.key("body"), .key("image_url")])

                let failed = try await client.submit("test/fail", input: [:])
                let final = try await client.follow("test/fail", requestID: failed.requestID)
                #expect(final.error != nil)
                let modelError = await #expect(throws: ClientError.self) { try await client.result("test/fail", requestID: failed.requestID) }
                #expect(modelError?.status == 415)
                #expect(modelError?.requestID == failed.requestID)
                #expect(modelError?.detail == "image is not a PNG")

                let running = try await client.submit("test/gated", input: ["name": "early"])
                #expect(try await server.nextStart() == "early")
                let early = await #expect(throws: ClientError.self) { try await client.result("test/gated", requestID: running.requestID) }
                #expect(early?.code == .badRequest)
                server.gate.open()
            }
        }
    }

    @Test("a request that outlives its own X-Fal-Request-Timeout fails with a user timeout, never retried")
    func userTimeout() async throws {
        try await LiveServer.with { server in
            let sleeps = NIOLockedValueBox(0)
            try await server.withClient(retry: RetryPolicy(sleep: { _ in sleeps.withLockedValue { $0 += 1 } })) { client in
                let blocker = try await client.submit("test/gated", input: ["name": "blocker"])
                #expect(try await server.nextStart() == "blocker")
                let late = try await client.submit("test/gated", input: ["name": "late"], headers: ["X-Fal-Request-Timeout": "0.001"])
                // The maintenance loop expires the start deadline; the status stream ends with it.
                let final = try await client.follow("test/gated", requestID: late.requestID)
                #expect(final.errorType == "request_timeout")
                let before = sleeps.withLockedValue { $0 }
                let error = await #expect(throws: ClientError.self) { try await client.result("test/gated", requestID: late.requestID) }
                #expect(error?.code == .requestTimeout)
                #expect(error?.isUserTimeout == true)
                #expect(sleeps.withLockedValue { $0 } == before, "a user timeout is not retried")
                server.gate.open()
                _ = try await client.follow("test/gated", requestID: blocker.requestID)
            }
        }
    }
}
