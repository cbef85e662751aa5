import Foundation
import Hummingbird
import HummingbirdTesting
@testable import APITypes
@testable import JobQueue
import ModelKit
@testable import Server
@testable import Platform
import Testing

/// Uploads `body` through `POST /files/upload` (auth off) and returns the path it is served at.
func uploadFile(_ client: some TestClientProtocol, _ body: String, contentType: String, name: String = "f.bin") async throws -> String {
    var headers = HTTPFields()
    headers[.contentType] = contentType
    headers[HTTPField.Name("X-Fal-File-Name")!] = name
    let uploaded = try await client.send(.post, "/files/upload", raw: body, headers: headers)
    try #require(uploaded.status == .ok, "\(uploaded.text)")
    return pathOf(try #require(try uploaded.json["access_url"]?.stringValue))
}

@Suite("Range header parsing")
struct ByteRangeTests {
    struct Case: Sendable, CustomStringConvertible {
        var header: String
        var size: Int
        var expected: ByteRange
        var description: String { "\(header) of \(size)" }
    }

    static let cases: [Case] = [
        Case(header: "bytes=0-9223372036854775807", size: 10, expected: .part(0..<10)),
        Case(header: "bytes=3-9223372036854775807", size: 10, expected: .part(3..<10)),
        Case(header: "bytes=0-99999999999999999999999999", size: 10, expected: .part(0..<10)),
        Case(header: "bytes=9223372036854775807-", size: 10, expected: .unsatisfiable),
        Case(header: "bytes=99999999999999999999999999-", size: 10, expected: .unsatisfiable),
        Case(header: "bytes=9223372036854775806-9223372036854775807", size: 10, expected: .unsatisfiable),
        Case(header: "bytes=-9223372036854775807", size: 10, expected: .part(0..<10)),
        Case(header: "bytes=-99999999999999999999999999", size: 10, expected: .part(0..<10)),
        Case(header: "bytes=-3", size: 10, expected: .part(7..<10)),
        Case(header: "bytes=-0", size: 10, expected: .unsatisfiable),
        Case(header: "bytes=-1", size: 0, expected: .unsatisfiable),
        Case(header: "bytes=0-0", size: 10, expected: .part(0..<1)),
        Case(header: "bytes=2-5", size: 10, expected: .part(2..<6)),
        Case(header: "bytes=9-", size: 10, expected: .part(9..<10)),
        Case(header: "bytes=10-", size: 10, expected: .unsatisfiable),
        Case(header: "bytes=10-20", size: 10, expected: .unsatisfiable),
        Case(header: "BYTES=1-2", size: 10, expected: .part(1..<3)),
        // Not a usable single range: ignored, the whole file is served.
        Case(header: "bytes=0-1,3-4", size: 10, expected: .whole),
        Case(header: "bytes=5-3", size: 10, expected: .whole),
        Case(header: "bytes=+1-2", size: 10, expected: .whole),
        Case(header: "bytes=1--2", size: 10, expected: .whole),
        Case(header: "bytes=-", size: 10, expected: .whole),
        Case(header: "bytes=a-b", size: 10, expected: .whole),
        Case(header: "bytes=0x1-2", size: 10, expected: .whole),
        Case(header: "items=0-1", size: 10, expected: .whole),
        Case(header: "garbage", size: 10, expected: .whole),
        Case(header: "", size: 10, expected: .whole),
    ]

    @Test("parses without trapping, clamps huge ends, ignores what is not one range", arguments: cases)
    func parse(_ c: Case) {
        #expect(ByteRange.parse(c.header, size: c.size) == c.expected)
    }

    @Test("a digit run saturates at Int.max instead of overflowing")
    func digits() {
        #expect(ByteRange.digits("9223372036854775807") == Int.max)
        #expect(ByteRange.digits("9223372036854775808") == Int.max)
        #expect(ByteRange.digits(String(repeating: "9", count: 500)) == Int.max)
        #expect(ByteRange.digits("0042") == 42)
        #expect(ByteRange.digits("") == nil)
        #expect(ByteRange.digits("-1") == nil)
        #expect(ByteRange.digits(" 1") == nil)
    }

    @Test("GET and HEAD with a range ending at Int.max answer the whole file as 206", arguments: [HTTPRequest.Method.get, .head])
    func hugeRangeRoute(_ method: HTTPRequest.Method) async throws {
        let h = try Harness.make()
        try await h.test { client in
            let path = try await uploadFile(client, "0123456789", contentType: "image/png")
            let r = try await client.execute(uri: path, method: method, headers: [.range: "bytes=0-9223372036854775807"])
            #expect(r.status == .partialContent)
            #expect(r.headers[.contentRange] == "bytes 0-9/10")
            #expect(r.headers[.contentLength] == "10")
            if method == .get { #expect(r.text == "0123456789") }

            let suffix = try await client.execute(uri: path, method: method, headers: [.range: "bytes=-99999999999999999999"])
            #expect(suffix.status == .partialContent)
            #expect(suffix.headers[.contentRange] == "bytes 0-9/10")

            let beyond = try await client.execute(uri: path, method: method, headers: [.range: "bytes=99999999999999999999-"])
            #expect(beyond.status == .rangeNotSatisfiable)
            #expect(beyond.headers[.contentRange] == "bytes */10")

            let multiple = try await client.execute(uri: path, method: method, headers: [.range: "bytes=0-1,4-5"])
            #expect(multiple.status == .ok)
            #expect(multiple.headers[.contentLength] == "10")

            let garbage = try await client.execute(uri: path, method: method, headers: [.range: "bytes=zz-x"])
            #expect(garbage.status == .ok)

            let tail = try await client.execute(uri: path, method: method, headers: [.range: "bytes=8-"])
            #expect(tail.status == .partialContent)
            #expect(tail.headers[.contentRange] == "bytes 8-9/10")
            if method == .get { #expect(tail.text == "89") }
        }
    }
}

@Suite("Numbers from request headers are bounded")
struct NumericHeaderTests {
    @Test("X-Fal-Request-Timeout: 1e17 is a 422 naming the header, not a trap")
    func hugeTimeout() async throws {
        let h = try Harness.make()
        try await h.test { client in
            for value in ["1e17", "1e308", "9223372036854775807", "604801"] {
                let r = try await client.send(.post, "/queue/test/echo", json: ["prompt": "a"], headers: [.falRequestTimeout: value])
                #expect(r.status == .unprocessableContent, "\(value): \(r.text)")
                let issue = try r.json["detail"]?.arrayValue?.first
                #expect(issue?["type"] == "value_error.number.not_le")
                #expect(issue?["loc"] == ["header", "x-fal-request-timeout"])
            }
            let atLimit = try await client.send(.post, "/queue/test/echo", json: ["prompt": "a"], headers: [.falRequestTimeout: "604800"])
            #expect(atLimit.status == .ok, "\(atLimit.text)")
        }
    }

    @Test("the request timeout limit is configurable")
    func configuredTimeout() throws {
        var limits = SubmitOptions.Limits()
        limits.maxRequestTimeout = 30
        #expect(try SubmitOptions(headers: [.falRequestTimeout: "30"], limits: limits).startTimeout == 30)
        #expect(throws: APIError.self) { try SubmitOptions(headers: [.falRequestTimeout: "30.5"], limits: limits) }
    }

    @Test("expiration_duration_seconds is bounded on submit and on every upload route")
    func lifecycleBound() async throws {
        let h = try Harness.make { $0.maxObjectLifetime = 3600 }
        try await h.test { client in
            let huge = #"{"expiration_duration_seconds": 9223372036854775807}"#
            let over = #"{"expiration_duration_seconds": 3601}"#
            let float = #"{"expiration_duration_seconds": 1e300}"#
            for value in [huge, over] {
                let submit = try await client.send(.post, "/queue/test/echo", json: ["prompt": "a"], headers: [.falObjectLifecycle: value])
                #expect(submit.status == .unprocessableContent)
                let issue = try submit.json["detail"]?.arrayValue?.first
                #expect(issue?["type"] == "value_error.number.not_le")
                #expect(issue?["loc"] == ["header", "x-fal-object-lifecycle-preference", "expiration_duration_seconds"])

                let upload = try await client.send(.post, "/files/upload", raw: "x", headers: [.falObjectLifecycle: value])
                #expect(upload.status == .unprocessableContent)
                let multipart = try await client.send(.post, "/files/upload/multipart", raw: "", headers: [.falObjectLifecycleCDN: value])
                #expect(multipart.status == .unprocessableContent)
                let initiate = try await client.send(
                    .post, "/storage/upload/initiate", json: ["content_type": "text/plain"], headers: [.falObjectLifecycle: value])
                #expect(initiate.status == .unprocessableContent)
            }
            let notInteger = try await client.send(.post, "/queue/test/echo", json: ["prompt": "a"], headers: [.falObjectLifecycle: float])
            #expect(try notInteger.json["detail"]?.arrayValue?.first?["type"] == "type_error.integer")
            let fine = try await client.send(
                .post, "/queue/test/echo", json: ["prompt": "a"], headers: [.falObjectLifecycle: #"{"expiration_duration_seconds": 3600}"#])
            #expect(fine.status == .ok)
        }
    }

    @Test("stored milliseconds saturate instead of trapping")
    func storedTimeSaturates() {
        #expect(StoredTime.milliseconds(Date(timeIntervalSince1970: 1e17)) == .max)
        #expect(StoredTime.milliseconds(Date(timeIntervalSince1970: -1e17)) == .min)
        #expect(StoredTime.milliseconds(Date(timeIntervalSince1970: .infinity)) == .max)
        #expect(StoredTime.milliseconds(Date(timeIntervalSince1970: .nan)) == 0)
        #expect(StoredTime.milliseconds(Date(timeIntervalSince1970: 1.5)) == 1500)
        #expect(StoredTime.milliseconds(Date(timeIntervalSince1970: -0.0005)) == -1)
    }

    @Test("ISO-8601 formatting clamps instead of trapping")
    func isoClamps() {
        #expect(ISO8601.string(from: Date(timeIntervalSince1970: 1e300)) == "9999-12-31T23:59:59.000+00:00")
        #expect(ISO8601.string(from: Date(timeIntervalSince1970: .nan)) == "1970-01-01T00:00:00.000+00:00")
        #expect(ISO8601.string(from: Date(timeIntervalSince1970: 1.25)) == "1970-01-01T00:00:01.250+00:00")
    }

    @Test("the new limits come from the environment and are validated")
    func configuration() throws {
        var c = ServerConfiguration()
        try c.apply(environment: [
            "PEREGRINE_MAX_REQUEST_TIMEOUT": "60", "PEREGRINE_MAX_OBJECT_LIFETIME": "120",
            "PEREGRINE_STORAGE_TOKEN_LIFETIME": "300", "PEREGRINE_MAX_AUTHORIZATION_BYTES": "2048",
        ])
        #expect(c.maxRequestTimeout == 60)
        #expect(c.maxObjectLifetime == 120)
        #expect(c.storageTokenLifetime == 300)
        #expect(c.maxAuthorizationBytes == 2048)
        try c.validate()
        c.storageTokenLifetime = 90_000
        #expect(throws: ConfigurationError.self) { try c.validate() }
        c.storageTokenLifetime = 300
        c.maxRequestTimeout = 1e17
        #expect(throws: ConfigurationError.self) { try c.validate() }
    }
}

@Suite("Request bodies and query values are bounded")
struct RequestValueBoundTests {
    @Test("deeply nested JSON bodies are refused, not recursed into", arguments: ["[", "{\"a\":"])
    func deepJSON(_ opener: String) async throws {
        let h = try Harness.make { $0.maxJSONBytes = 1 << 20 }
        try await h.test { client in
            let body = String(repeating: opener, count: 200_000)
            let r = try await client.send(.post, "/queue/test/echo", raw: body, headers: [.contentType: "application/json"])
            #expect(r.status == .unprocessableContent)
            let nestedButClosed = String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000)
            let closed = try await client.send(
                .post, "/queue/test/echo", raw: #"{"prompt": "a", "x": \#(nestedButClosed)}"#, headers: [.contentType: "application/json"])
            #expect(closed.status == .unprocessableContent)
        }
    }

    @Test("an overlong webhook URL is a 422 naming the query parameter")
    func longWebhook() async throws {
        let h = try Harness.make { $0.allowPrivateURLs = true }
        try await h.test { client in
            let url = "http://127.0.0.1:9/" + String(repeating: "a", count: 3000)
            let r = try await client.send(.post, "/queue/test/echo?fal_webhook=\(url)", json: ["prompt": "a"])
            #expect(r.status == .unprocessableContent)
            let issue = try r.json["detail"]?.arrayValue?.first
            #expect(issue?["loc"] == ["query", "fal_webhook"])
            #expect(issue?["type"] == "value_error.any_str.max_length")
        }
    }
}
