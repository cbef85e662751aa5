import Foundation
import Hummingbird
import HummingbirdTesting
import JobQueue
import ModelKit
import Platform
import Testing

@Suite("Request history (GET /v1/models/requests/by-endpoint)")
struct RequestHistoryRouteTests {
    /// Every page of `query` for `auth`, following `next_cursor`.
    private func pages(_ client: any TestClientProtocol, _ query: String, _ auth: HTTPFields) async throws -> [[String]] {
        var pages: [[String]] = []
        var cursor: String?
        repeat {
            let uri = "/v1/models/requests/by-endpoint?\(query)" + (cursor.map { "&cursor=\($0)" } ?? "")
            let response = try await client.send(.get, uri, headers: auth)
            #expect(response.status == .ok)
            let body = try response.json
            pages.append(try #require(body["items"]?.arrayValue).compactMap { $0["request_id"]?.stringValue })
            cursor = body["next_cursor"]?.stringValue
            #expect(body["has_more"]?.boolValue == (cursor != nil))
        } while cursor != nil && pages.count < 50
        return pages
    }

    @Test("pages with filters; a key sees only its own requests, an admin all; payloads with expand")
    func listing() async throws {
        let h = try Harness.make { $0.authEnabled = true }
        try await h.test { client in
            let (a, aSecret) = try await h.platform.keys.createKey(name: "a", now: Date())
            let (b, bSecret) = try await h.platform.keys.createKey(name: "b", now: Date())
            let (_, adminSecretPair) = try await { () async throws -> (String, String) in
                let (key, secret) = try await h.platform.keys.createKey(name: "root", isAdmin: true, now: Date())
                return (key.id, "Key \(key.id):\(secret)")
            }()
            let aAuth: HTTPFields = [.authorization: "Key \(a.id):\(aSecret)"]
            let bAuth: HTTPFields = [.authorization: "Key \(b.id):\(bSecret)"]
            let adminAuth: HTTPFields = [.authorization: adminSecretPair]

            var aIDs: [String] = []
            for i in 0..<5 {
                let r = try await client.send(.post, "/queue/test/echo", json: ["prompt": .string("a\(i)")], headers: aAuth)
                aIDs.append(try #require(try r.json["request_id"]?.stringValue))
            }
            var bIDs: [String] = []
            for i in 0..<2 {
                let r = try await client.send(.post, "/queue/test/echo", json: ["prompt": .string("b\(i)")], headers: bAuth)
                bIDs.append(try #require(try r.json["request_id"]?.stringValue))
            }
            let failed = try await client.send(.post, "/queue/test/fail", json: [:], headers: aAuth)
            let failedID = try #require(try failed.json["request_id"]?.stringValue)
            for id in aIDs + bIDs + [failedID] { _ = try await h.waitForJob(id) { $0.state.isTerminal } }

            let aPages = try await pages(client, "endpoint_id=test/echo&limit=2", aAuth)
            #expect(aPages.map(\.count) == [2, 2, 1])
            #expect(aPages.flatMap { $0 } == aIDs.reversed())
            #expect(try await pages(client, "endpoint_id=test/echo", bAuth) == [bIDs.reversed()])
            let all = try await pages(client, "endpoint_id=test/echo,test/fail&limit=3", adminAuth).flatMap { $0 }
            #expect(Set(all) == Set(aIDs + bIDs + [failedID]) && all.count == 8)

            // Filters: status classes, one request, a time range in the past.
            // The failing model refuses its input with a 415: a user error, not a server error.
            #expect(try await pages(client, "endpoint_id=test/echo&endpoint_id=test/fail&status=user_error", aAuth) == [[failedID]])
            #expect(try await pages(client, "endpoint_id=test/echo,test/fail&status=error", aAuth) == [[]])
            #expect(try await pages(client, "endpoint_id=test/echo&status=success", aAuth).flatMap { $0 } == aIDs.reversed())
            #expect(try await pages(client, "endpoint_id=test/echo&request_id=\(bIDs[0])", aAuth) == [[]])
            #expect(try await pages(client, "endpoint_id=test/echo&start=2020-01-01&end=2020-01-02T00:00:00Z", aAuth) == [[]])

            // One request's input and output.
            let one = try await client.send(
                .get, "/v1/models/requests/by-endpoint?endpoint_id=test/echo&request_id=\(aIDs[0])&expand=payloads", headers: aAuth)
            let item = try #require(try one.json["items"]?.arrayValue?.first)
            #expect(item["request_id"]?.stringValue == aIDs[0])
            #expect(item["endpoint_id"] == "test/echo")
            #expect(item["status_code"] == 200)
            #expect(item["status"] == "COMPLETED")
            #expect(item["json_input"]?["prompt"] == "a0")
            #expect(item["json_output"]?.objectValue != nil)
            #expect(item["sent_at"]?.stringValue != nil && item["ended_at"]?.stringValue != nil)
            #expect(item["duration"]?.doubleValue != nil)
            let lean = try await client.send(.get, "/v1/models/requests/by-endpoint?endpoint_id=test/echo&limit=1", headers: aAuth)
            #expect(try lean.json["items"]?.arrayValue?.first?["json_input"] == nil)
        }
    }

    @Test("cursors are bound to their caller and cannot be forged or altered")
    func cursorsAreTamperSafe() async throws {
        let h = try Harness.make { $0.authEnabled = true }
        try await h.test { client in
            let (a, aSecret) = try await h.platform.keys.createKey(name: "a", now: Date())
            let (b, bSecret) = try await h.platform.keys.createKey(name: "b", now: Date())
            let aAuth: HTTPFields = [.authorization: "Key \(a.id):\(aSecret)"]
            let bAuth: HTTPFields = [.authorization: "Key \(b.id):\(bSecret)"]
            for i in 0..<3 {
                let r = try await client.send(.post, "/queue/test/echo", json: ["prompt": .string("a\(i)")], headers: aAuth)
                #expect(r.status == .ok)
            }
            let first = try await client.send(.get, "/v1/models/requests/by-endpoint?endpoint_id=test/echo&limit=1", headers: aAuth)
            let cursor = try #require(try first.json["next_cursor"]?.stringValue)

            var altered = Array(cursor)
            let middle = cursor.firstIndex(of: ".").map { cursor.distance(from: cursor.startIndex, to: $0) + 3 } ?? 3
            altered[middle] = altered[middle] == "A" ? "B" : "A"
            let bad: [String] = [
                String(altered), "Mg==", "garbage", String(repeating: "x", count: 2000), cursor + "x",
            ]
            for value in bad {
                let encoded = value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value
                let r = try await client.send(
                    .get, "/v1/models/requests/by-endpoint?endpoint_id=test/echo&cursor=\(encoded)", headers: aAuth)
                #expect(r.status == .unprocessableContent, "cursor \(value.prefix(40))")
                #expect(try r.json["detail"]?.arrayValue?.first?["loc"] == ["query", "cursor"])
            }
            // Another key cannot use a's cursor.
            let stolen = try await client.send(.get, "/v1/models/requests/by-endpoint?endpoint_id=test/echo&cursor=\(cursor)", headers: bAuth)
            #expect(stolen.status == .unprocessableContent)
            // A cursor is signed with the storage-token key but is no credential.
            let asToken = try await client.send(
                .post, "/storage/upload/initiate", json: ["content_type": "image/png", "file_name": "x.png"],
                headers: [.authorization: "Bearer \(cursor)"])
            #expect(asToken.status == .unauthorized)
            // a can.
            let next = try await client.send(.get, "/v1/models/requests/by-endpoint?endpoint_id=test/echo&limit=1&cursor=\(cursor)", headers: aAuth)
            #expect(next.status == .ok)
        }
    }

    @Test("every query value is bounded: bad ones are a 422 naming the parameter", arguments: [
        ("", "endpoint_id"),
        ("endpoint_id=test/echo&limit=0", "limit"),
        ("endpoint_id=test/echo&limit=101", "limit"),
        ("endpoint_id=test/echo&limit=99999999999999999999999", "limit"),
        ("endpoint_id=test/echo&limit=ten", "limit"),
        ("endpoint_id=test/echo&start=yesterday", "start"),
        ("endpoint_id=test/echo&end=2025-13-45", "end"),
        ("endpoint_id=test/echo&start=2025-02-01&end=2025-01-01", "start"),
        ("endpoint_id=test/echo&status=done", "status"),
        ("endpoint_id=test/echo&expand=everything", "expand"),
        ("endpoint_id=test/echo&request_id=\(String(repeating: "r", count: 65))", "request_id"),
        ("endpoint_id=\((0...50).map { "e/\($0)" }.joined(separator: ","))", "endpoint_id"),
    ])
    func boundedQuery(query: String, parameter: String) async throws {
        let h = try Harness.make()
        try await h.test { client in
            let r = try await client.send(.get, "/v1/models/requests/by-endpoint?\(query)")
            #expect(r.status == .unprocessableContent)
            #expect(try r.json["detail"]?.arrayValue?.first?["loc"] == ["query", .string(parameter)])
        }
    }

    @Test("the history takes an API key; other /v1 paths are 404, other methods 405")
    func routing() async throws {
        let h = try Harness.make { $0.authEnabled = true }
        try await h.test { client in
            #expect(try await client.send(.get, "/v1/models/requests/by-endpoint?endpoint_id=test/echo").status == .unauthorized)
            let (a, secret) = try await h.platform.keys.createKey(name: "a", now: Date())
            let auth: HTTPFields = [.authorization: "Key \(a.id):\(secret)"]
            #expect(try await client.send(.get, "/v1/models/requests/nothing", headers: auth).status == .notFound)
            #expect(try await client.send(.post, "/v1/models/requests/by-endpoint?endpoint_id=test/echo", headers: auth).status == .methodNotAllowed)
        }
    }
}
