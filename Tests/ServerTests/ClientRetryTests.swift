import AsyncHTTPClient
import Client
import Foundation
import Hummingbird
import HummingbirdTesting
import ModelKit
import NIOConcurrencyHelpers
import Testing

/// The SDK's retries against a loopback server that answers from a script: which answers are
/// retried, how long it waits (recorded by an injected sleep that returns at once, so nothing
/// waits for real), and that it stops.
@Suite("Client SDK retries")
struct ClientRetryTests {
    /// One scripted answer.
    struct Scripted: Sendable {
        var status: HTTPResponse.Status
        var body: String
        var headers: [(String, String)] = []
    }

    /// Serves `script` in order (the last answer repeats) on every path, counting requests.
    static func withScriptedServer(
        _ script: [Scripted], _ body: @Sendable (_ baseURL: String, _ requests: NIOLockedValueBox<Int>) async throws -> Void
    ) async throws {
        let count = NIOLockedValueBox(0)
        let router = Router()
        let answer: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, _ in
            let n = count.withLockedValue { c -> Int in defer { c += 1 }; return c }
            let scripted = script[min(n, script.count - 1)]
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            for (name, value) in scripted.headers { headers[HTTPField.Name(name)!] = value }
            return Response(status: scripted.status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: scripted.body)))
        }
        router.get("/**", use: answer)
        router.post("/**", use: answer)
        router.put("/**", use: answer)
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { portContinuation.yield($0.localAddress?.port ?? 0) })
        try await app.test(.live) { _ in
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            try await body("http://127.0.0.1:\(port)", count)
        }
    }

    /// A policy whose sleeps are recorded, not slept, and whose jitter is 1.
    static func recordingPolicy(_ sleeps: NIOLockedValueBox<[Duration]>, maxAttempts: Int = 10) -> RetryPolicy {
        RetryPolicy(maxAttempts: maxAttempts, jitter: { 1 }, sleep: { d in sleeps.withLockedValue { $0.append(d) } })
    }

    static func withClient(
        _ baseURL: String, retry: RetryPolicy, timeout: Duration = .seconds(60), _ body: (PeregrineClient) async throws -> Void
    ) async throws {
        let http = try PeregrineClient.makeHTTPClient(trusting: nil)
        do {
            var client = PeregrineClient(baseURL: baseURL, key: "k:s", httpClient: http, retry: retry)
            client.requestTimeout = timeout
            try await body(client)
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    @Test("503 and 429 with Retry-After are retried after the server's delay, then the 200 is the answer")
    func retryAfter() async throws {
        let script = [
            Scripted(status: .serviceUnavailable, body: #"{"detail":"busy","error_type":"runner_scheduling_failure"}"#, headers: [("Retry-After", "2")]),
            Scripted(status: .tooManyRequests, body: #"{"detail":"slow down"}"#, headers: [("Retry-After", "1")]),
            Scripted(status: .ok, body: #"{"ok":true}"#),
        ]
        try await Self.withScriptedServer(script) { base, requests in
            let sleeps = NIOLockedValueBox<[Duration]>([])
            try await Self.withClient(base, retry: Self.recordingPolicy(sleeps)) { client in
                let output = try await client.run("a/b", input: [:])
                #expect(output["ok"] == true)
            }
            #expect(requests.withLockedValue { $0 } == 3)
            #expect(sleeps.withLockedValue { $0 } == [.seconds(2), .seconds(1)])
        }
    }

    @Test("without Retry-After the waits grow exponentially, are capped, and the tries stop at maxAttempts")
    func backoffAndLimit() async throws {
        try await Self.withScriptedServer([Scripted(status: .badGateway, body: "bad gateway")]) { base, requests in
            let sleeps = NIOLockedValueBox<[Duration]>([])
            var policy = Self.recordingPolicy(sleeps, maxAttempts: 6)
            policy.maxDelay = .milliseconds(500)
            try await Self.withClient(base, retry: policy) { client in
                let error = await #expect(throws: ClientError.self) { try await client.submit("a/b", input: [:]) }
                #expect(error?.code == .serverError)
                #expect(error?.status == 502)
            }
            #expect(requests.withLockedValue { $0 } == 6)
            #expect(sleeps.withLockedValue { $0 } == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(500), .milliseconds(500)])
        }
    }

    @Test("a 504 with X-Fal-Request-Timeout-Type: user is final: one request, no wait")
    func userTimeoutIsNotRetried() async throws {
        let timeout = Scripted(
            status: .gatewayTimeout, body: #"{"detail":"Request timed out","error_type":"request_timeout"}"#,
            headers: [("X-Fal-Request-Timeout-Type", "user"), ("X-Fal-Error-Type", "request_timeout")])
        try await Self.withScriptedServer([timeout, Scripted(status: .ok, body: "{}")]) { base, requests in
            let sleeps = NIOLockedValueBox<[Duration]>([])
            try await Self.withClient(base, retry: Self.recordingPolicy(sleeps)) { client in
                let error = await #expect(throws: ClientError.self) { try await client.run("a/b", input: [:]) }
                #expect(error?.code == .requestTimeout)
                #expect(error?.errorType == "request_timeout")
                #expect(error?.detail == "Request timed out")
            }
            #expect(requests.withLockedValue { $0 } == 1)
            #expect(sleeps.withLockedValue { $0 }.isEmpty)
        }
    }

    @Test("4xx answers other than 408/409/429 and a 500 are not retried; their bodies are typed")
    func nonRetried() async throws {
        let cases: [(Scripted, ClientError.Code)] = [
            (Scripted(status: .unprocessableContent, body: #"{"detail":[{"loc":["body","prompt"],"msg":"field required","type":"value_error.missing"}]}"#), .validation),
            (Scripted(status: .internalServerError, body: #"{"detail":"boom","error_type":"internal_error"}"#), .serverError),
            (Scripted(status: .notFound, body: #"{"detail":"Not Found"}"#), .notFound),
            (Scripted(status: .contentTooLarge, body: #"{"detail":"too big","error_type":"request_too_large"}"#), .tooLarge),
        ]
        for (scripted, code) in cases {
            try await Self.withScriptedServer([scripted, Scripted(status: .ok, body: "{}")]) { base, requests in
                let sleeps = NIOLockedValueBox<[Duration]>([])
                try await Self.withClient(base, retry: Self.recordingPolicy(sleeps)) { client in
                    let error = await #expect(throws: ClientError.self) { try await client.submit("a/b", input: [:]) }
                    #expect(error?.code == code)
                    if code == .validation {
                        #expect(error?.validationIssues.first?.loc == [.key("body"), .key("prompt")])
                        #expect(error?.detail == "body.prompt: field required")
                    }
                    if code == .serverError { #expect(error?.errorType == "internal_error") }
                }
                #expect(requests.withLockedValue { $0 } == 1)
                #expect(sleeps.withLockedValue { $0 }.isEmpty)
            }
        }
    }

    @Test("a stored 5xx result is the request's outcome, not retried; a 409 on the same call is")
    func resultOutcome() async throws {
        let stored = Scripted(status: .serviceUnavailable, body: #"{"detail":"runner gone","error_type":"runner_disconnected"}"#, headers: [("x-fal-request-id", "r1")])
        try await Self.withScriptedServer([stored]) { base, requests in
            let sleeps = NIOLockedValueBox<[Duration]>([])
            try await Self.withClient(base, retry: Self.recordingPolicy(sleeps)) { client in
                let error = await #expect(throws: ClientError.self) { try await client.result("a/b", requestID: "r1") }
                #expect(error?.requestID == "r1")
                #expect(error?.errorType == "runner_disconnected")
            }
            #expect(requests.withLockedValue { $0 } == 1)
        }
        try await Self.withScriptedServer([Scripted(status: .conflict, body: "{}"), Scripted(status: .ok, body: #"{"x":1}"#)]) { base, requests in
            let sleeps = NIOLockedValueBox<[Duration]>([])
            try await Self.withClient(base, retry: Self.recordingPolicy(sleeps)) { client in
                let output = try await client.result("a/b", requestID: "r1")
                #expect(output["x"] == 1)
            }
            #expect(requests.withLockedValue { $0 } == 2)
        }
    }

    @Test("a refused connection is a transport error, retried until the tries run out")
    func transport() async throws {
        // A port that was just free: nothing listens there.
        let sleeps = NIOLockedValueBox<[Duration]>([])
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        close(fd)
        try await Self.withClient("http://127.0.0.1:\(port)", retry: Self.recordingPolicy(sleeps, maxAttempts: 3)) { client in
            let error = await #expect(throws: ClientError.self) { try await client.status("a/b", requestID: "x") }
            #expect(error?.code == .transport)
            #expect(error?.status == nil)
        }
        #expect(sleeps.withLockedValue { $0 }.count == 2)
    }

    @Test("Retry-After: delay seconds and HTTP dates are read, nonsense is ignored, huge values are bounded")
    func retryAfterParsing() {
        #expect(RetryPolicy.retryAfter("3") == .seconds(3))
        #expect(RetryPolicy.retryAfter(" 0.5 ") == .milliseconds(500))
        #expect(RetryPolicy.retryAfter("-4") == .zero)
        #expect(RetryPolicy.retryAfter("1e300") == .seconds(86_400))
        #expect(RetryPolicy.retryAfter("soon") == nil)
        #expect(RetryPolicy.retryAfter(nil) == nil)
        let now = Date(timeIntervalSince1970: 1_700_000_000)  // Tue, 14 Nov 2023 22:13:20 GMT
        #expect(RetryPolicy.retryAfter("Tue, 14 Nov 2023 22:13:30 GMT", now: now) == .seconds(10))
        let error = ClientError(status: 429, body: Data(), headers: [("Retry-After", "100000")])
        #expect(error.retryAfter == .seconds(86_400))
    }
}
