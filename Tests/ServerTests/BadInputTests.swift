import Foundation
import Hummingbird
import HummingbirdTesting
import ModelKit
import Platform
import Testing

/// One malformed request and the precise answer it must get.
struct BadInput: Sendable, CustomStringConvertible {
    var name: String
    var method: HTTPRequest.Method
    var path: String
    var headers: [String: String] = [:]
    var body: String?
    var status: Int
    /// `detail` when it is a string, or the `type` of the first validation issue.
    var expect: String?

    var description: String { name }
}

@Suite("Bad input walk")
struct BadInputTests {
    static let cases: [BadInput] = [
        BadInput(name: "malformed JSON", method: .post, path: "/queue/test/echo", body: "{\"prompt\": ", status: 422, expect: "value_error.jsondecode"),
        BadInput(name: "JSON array body", method: .post, path: "/queue/test/echo", body: "[1,2]", status: 422, expect: "type_error.dict"),
        BadInput(name: "JSON string body", method: .post, path: "/queue/test/echo", body: "\"x\"", status: 422, expect: "type_error.dict"),
        BadInput(name: "missing field", method: .post, path: "/queue/test/echo", body: "{}", status: 422, expect: "value_error.missing"),
        BadInput(name: "wrong type", method: .post, path: "/queue/test/echo", body: #"{"prompt": 1}"#, status: 422, expect: "type_error.str"),
        BadInput(name: "integer as float", method: .post, path: "/run/test/echo", body: #"{"prompt": "a", "count": 2.5}"#, status: 422, expect: "type_error.integer"),
        BadInput(name: "unknown endpoint", method: .post, path: "/queue/nobody/nothing", body: "{}", status: 404, expect: "Endpoint 'nobody/nothing' not found"),
        BadInput(name: "unknown run endpoint", method: .post, path: "/run/nobody/nothing", body: "{}", status: 404, expect: "Endpoint 'nobody/nothing' not found"),
        BadInput(name: "unknown request id", method: .get, path: "/queue/test/echo/requests/0f0f0f0f-0000-0000-0000-000000000000/status", status: 404, expect: "Request not found"),
        BadInput(name: "unknown request result", method: .get, path: "/queue/test/echo/requests/nope", status: 404, expect: "Request not found"),
        BadInput(name: "overlong request id", method: .get, path: "/queue/test/echo/requests/\(String(repeating: "a", count: 300))/status", status: 404, expect: "Request not found"),
        BadInput(name: "unknown route", method: .get, path: "/nothing/here", status: 404, expect: "Not Found"),
        BadInput(name: "unknown health route", method: .get, path: "/health/sideways", status: 404, expect: "Not Found"),
        BadInput(name: "GET on submit", method: .get, path: "/queue/test/echo", status: 405, expect: "Method Not Allowed"),
        BadInput(name: "POST on status", method: .post, path: "/queue/test/echo/requests/x/status", body: "{}", status: 405, expect: "Method Not Allowed"),
        BadInput(name: "GET on cancel", method: .get, path: "/queue/test/echo/requests/x/cancel", status: 405, expect: "Method Not Allowed"),
        BadInput(name: "DELETE on health", method: .delete, path: "/health/live", status: 405, expect: "Method Not Allowed"),
        BadInput(name: "oversize JSON", method: .post, path: "/queue/test/echo", body: #"{"prompt": "\#(String(repeating: "x", count: 5000))"}"#, status: 413, expect: nil),
        BadInput(name: "bad priority", method: .post, path: "/queue/test/echo", headers: ["X-Fal-Queue-Priority": "urgent"], body: #"{"prompt":"a"}"#, status: 422, expect: "type_error.enum"),
        BadInput(name: "bad timeout", method: .post, path: "/queue/test/echo", headers: ["X-Fal-Request-Timeout": "soon"], body: #"{"prompt":"a"}"#, status: 422, expect: "type_error.float"),
        BadInput(name: "negative timeout", method: .post, path: "/queue/test/echo", headers: ["X-Fal-Request-Timeout": "-1"], body: #"{"prompt":"a"}"#, status: 422, expect: "value_error.number.not_gt"),
        BadInput(name: "infinite timeout", method: .post, path: "/queue/test/echo", headers: ["X-Fal-Request-Timeout": "inf"], body: #"{"prompt":"a"}"#, status: 422, expect: "type_error.float"),
        BadInput(name: "bad no-retry", method: .post, path: "/queue/test/echo", headers: ["X-Fal-No-Retry": "maybe"], body: #"{"prompt":"a"}"#, status: 422, expect: "type_error.bool"),
        BadInput(name: "bad store-io", method: .post, path: "/queue/test/echo", headers: ["X-Fal-Store-IO": "2"], body: #"{"prompt":"a"}"#, status: 422, expect: "type_error.bool"),
        BadInput(name: "lifecycle not JSON", method: .post, path: "/queue/test/echo", headers: ["X-Fal-Object-Lifecycle-Preference": "forever"], body: #"{"prompt":"a"}"#, status: 422, expect: "value_error.jsondecode"),
        BadInput(name: "lifecycle without duration", method: .post, path: "/queue/test/echo", headers: ["X-Fal-Object-Lifecycle-Preference": "{}"], body: #"{"prompt":"a"}"#, status: 422, expect: "value_error.missing"),
        BadInput(name: "lifecycle negative", method: .post, path: "/queue/test/echo", headers: ["X-Fal-Object-Lifecycle-Preference": #"{"expiration_duration_seconds": -5}"#], body: #"{"prompt":"a"}"#, status: 422, expect: "value_error.number.not_gt"),
        BadInput(name: "overlong runner hint", method: .post, path: "/queue/test/echo", headers: ["X-Fal-Runner-Hint": String(repeating: "h", count: 300)], body: #"{"prompt":"a"}"#, status: 422, expect: "value_error.any_str.max_length"),
        BadInput(name: "loopback webhook", method: .post, path: "/queue/test/echo?fal_webhook=http://127.0.0.1:9/hook", body: #"{"prompt":"a"}"#, status: 422, expect: "value_error.url"),
        BadInput(name: "private webhook", method: .post, path: "/queue/test/echo?fal_webhook=http://10.0.0.8/hook", body: #"{"prompt":"a"}"#, status: 422, expect: "value_error.url"),
        BadInput(name: "link-local webhook", method: .post, path: "/queue/test/echo?fal_webhook=http://169.254.169.254/latest", body: #"{"prompt":"a"}"#, status: 422, expect: "value_error.url"),
        BadInput(name: "non-http webhook", method: .post, path: "/queue/test/echo?fal_webhook=file:///etc/passwd", body: #"{"prompt":"a"}"#, status: 422, expect: "value_error.url"),
        BadInput(name: "openapi of unknown model", method: .get, path: "/models/no/such/openapi.json", status: 404, expect: "Endpoint 'no/such' not found"),
        BadInput(name: "openapi without endpoint_id", method: .get, path: "/openapi/queue/openapi.json", status: 422, expect: "value_error.missing"),
        BadInput(name: "unknown file", method: .get, path: "/files/0123456789abcdef0123456789abcdef/x.png", status: 404, expect: "File not found"),
        BadInput(name: "file id with traversal", method: .get, path: "/files/..%2F..%2Fetc%2Fpasswd/x", status: 404, expect: "File not found"),
        BadInput(name: "upload to unknown id", method: .put, path: "/storage/upload/0123456789abcdef0123456789abcdef", body: "bytes", status: 404, expect: "Upload not found"),
        BadInput(name: "upload part not a number", method: .put, path: "/storage/upload/0123456789abcdef0123456789abcdef/one", body: "bytes", status: 422, expect: "type_error.integer"),
        BadInput(name: "initiate with bad JSON", method: .post, path: "/storage/upload/initiate", body: "{", status: 422, expect: "value_error.jsondecode"),
        BadInput(name: "complete of an unknown upload (404 before the body is read)", method: .post, path: "/storage/upload/0123456789abcdef0123456789abcdef/complete", body: "[]", status: 404, expect: "Upload not found"),
    ]

    @Test("each malformed request gets a precise 4xx in fal's shape", arguments: cases)
    func walk(_ c: BadInput) async throws {
        let h = try Harness.make { $0.maxJSONBytes = 4096 }
        try await h.test { client in
            var headers = HTTPFields()
            for (k, v) in c.headers { headers[HTTPField.Name(k)!] = v }
            let response: TestResponse
            if let body = c.body {
                headers[.contentType] = headers[.contentType] ?? "application/json"
                response = try await client.send(c.method, c.path, raw: body, headers: headers)
            } else {
                response = try await client.execute(uri: c.path, method: c.method, headers: headers)
            }
            #expect(Int(response.status.code) == c.status, "\(c.name): \(response.text)")
            #expect(response.headers[.contentType] == "application/json", "\(c.name)")
            let json = try response.json
            let detail = try #require(json["detail"], "\(c.name): no detail in \(response.text)")
            if let expect = c.expect {
                switch detail {
                case .string(let s): #expect(s == expect, "\(c.name)")
                case .array(let issues):
                    #expect(issues.first?["type"]?.stringValue == expect, "\(c.name): \(response.text)")
                    #expect(issues.first?["loc"]?.arrayValue?.isEmpty == false, "\(c.name)")
                    #expect(issues.first?["msg"]?.stringValue != nil, "\(c.name)")
                default: Issue.record("\(c.name): detail is neither string nor list")
                }
            }
        }
    }

    @Test("bad data URIs fail the request with 422 file_download_error, never crash the runner")
    func badDataURIs() async throws {
        let h = try Harness.make()
        try await h.test { client in
            for uri in ["data:", "data:image/png;base64", "data:image/png;base64,@@@@", "data:not a type;base64,AAAA", "ftp://example.com/x"] {
                let submitted = try await client.send(.post, "/queue/test/files", json: ["image_url": .string(uri)]).json
                let id = try #require(submitted["request_id"]?.stringValue)
                _ = try await h.waitForJob(id) { $0.state.isTerminal }
                let result = try await client.send(.get, "/queue/test/files/requests/\(id)")
                #expect(result.status == .unprocessableContent, "\(uri)")
                #expect(try result.json["error_type"] == "file_download_error", "\(uri)")
            }
        }
    }

    @Test("a remote input URL on a private address is refused")
    func privateInputURL() async throws {
        let h = try Harness.make()
        try await h.test { client in
            let submitted = try await client.send(.post, "/run/test/files", json: ["image_url": "http://127.0.0.1:1/secret.png"])
            #expect(submitted.status == .unprocessableContent)
            let body = try submitted.json
            #expect(body["error_type"] == "file_download_error")
            #expect(body["detail"]?.stringValue?.contains("not allowed") == true)
        }
    }
}
