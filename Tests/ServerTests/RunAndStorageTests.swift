import Foundation
import Hummingbird
import HummingbirdTesting
import ModelKit
import Platform
import Testing

@Suite("Sync runs, files and uploads")
struct RunAndStorageTests {
    @Test("POST /run answers the model's output with a request id")
    func syncRun() async throws {
        let h = try Harness.make()
        try await h.test { client in
            let response = try await client.send(.post, "/run/test/echo", json: ["prompt": "sync", "count": 3])
            #expect(response.status == .ok)
            #expect(response.headers[HTTPField.Name("x-fal-request-id")!] != nil)
            #expect(try response.json["echo"]?["count"] == 3)
            let failed = try await client.send(.post, "/run/test/fail", json: [:])
            #expect(failed.status.code == 415)
            #expect(try failed.json["error_type"] == "unsupported_media")
        }
    }

    @Test("POST /run/.../stream sends progress events and ends with the output")
    func runStream() async throws {
        let h = try Harness.make()
        try await h.test { client in
            let response = try await client.send(.post, "/run/test/echo/stream", json: ["prompt": "s"])
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/event-stream")
            let events = response.text.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") }
            let last = try #require(events.last)
            #expect(try JSONValue(parsing: Data(last.dropFirst(6).utf8))["echo"]?["prompt"] == "s")
        }
    }

    @Test("JS upload flow: initiate, plain PUT without a key, then the file URL serves the bytes")
    func jsUpload() async throws {
        let h = try Harness.make { $0.authEnabled = true }
        try await h.test { client in
            let (key, secret) = try await h.platform.keys.createKey(name: "t", now: Date())
            var auth = HTTPFields()
            auth[.authorization] = "Key \(key.id):\(secret)"
            let initiated = try await client.send(
                .post, "/storage/upload/initiate?storage_type=fal-cdn-v3", json: ["content_type": "image/png", "file_name": "cat.png"], headers: auth)
            #expect(initiated.status == .ok)
            let uploadURL = try #require(try initiated.json["upload_url"]?.stringValue)
            let fileURL = try #require(try initiated.json["file_url"]?.stringValue)
            #expect(fileURL.hasPrefix("https://"))
            #expect(fileURL.hasSuffix("/cat.png"))
            let put = try await client.send(.put, pathOf(uploadURL), raw: "PNGDATA", headers: [.contentType: "image/png"])
            #expect(put.status == .ok)
            let file = try await client.execute(uri: pathOf(fileURL), method: .get)
            #expect(file.status == .ok)
            #expect(file.text == "PNGDATA")
            #expect(file.headers[.contentType] == "image/png")
            let part = try await client.execute(uri: pathOf(fileURL), method: .get, headers: [.range: "bytes=1-3"])
            #expect(part.status == .partialContent)
            #expect(part.text == "NGD")
            #expect(part.headers[.contentRange] == "bytes 1-3/7")
            let tail = try await client.execute(uri: pathOf(fileURL), method: .get, headers: [.range: "bytes=-2"])
            #expect(tail.text == "TA")
            let outside = try await client.execute(uri: pathOf(fileURL), method: .get, headers: [.range: "bytes=50-60"])
            #expect(outside.status == .rangeNotSatisfiable)
            // The uploaded file feeds a model: read locally, output stored and served.
            let run = try await client.send(.post, "/run/test/files", json: ["image_url": .string(fileURL)], headers: auth)
            #expect(run.status == .ok, "\(run.text)")
            let output = try #require(try run.json["image"]?["url"]?.stringValue)
            let reversed = try await client.execute(uri: pathOf(output), method: .get)
            #expect(reversed.text == "ATADGNP")
            #expect(try run.json["image"]?["file_size"] == 7)
        }
    }

    @Test("JS multipart: parts answer an ETag header and JSON, completion joins them")
    func jsMultipart() async throws {
        let h = try Harness.make()
        try await h.test { client in
            let initiated = try await client.send(
                .post, "/storage/upload/initiate-multipart?storage_type=fal-cdn-v3", json: ["content_type": "text/plain", "file_name": "a.txt"]).json
            let uploadURL = try #require(initiated["upload_url"]?.stringValue)
            var parts: [JSONValue] = []
            for (n, chunk) in ["hello ", "multipart ", "world"].enumerated() {
                let part = try await client.send(.put, pathOf(uploadURL) + "/\(n + 1)", raw: chunk)
                #expect(part.status == .ok)
                let etag = try #require(part.headers[.eTag])
                #expect(try part.json == ["partNumber": .int(Int64(n + 1)), "etag": .string(etag)])
                parts.append(["partNumber": .int(Int64(n + 1)), "etag": .string(etag)])
            }
            let done = try await client.send(.post, pathOf(uploadURL) + "/complete", json: ["parts": .array(parts)])
            #expect(done.status == .ok)
            let file = try await client.execute(uri: pathOf(try #require(initiated["file_url"]?.stringValue)), method: .get)
            #expect(file.text == "hello multipart world")
        }
    }

    @Test("Python upload flow: storage token, then /files/upload with the bearer token")
    func pythonUpload() async throws {
        let h = try Harness.make { $0.authEnabled = true }
        try await h.test { client in
            let (key, secret) = try await h.platform.keys.createKey(name: "py", now: Date())
            var auth = HTTPFields()
            auth[.authorization] = "Key \(key.id):\(secret)"
            let token = try await client.send(.post, "/storage/auth/token?storage_type=fal-cdn-v3", raw: "", headers: auth)
            #expect(token.status == .ok)
            let t = try token.json
            #expect(t["token_type"] == "Bearer")
            #expect(t["expires_at"]?.stringValue?.hasSuffix("+00:00") == true)
            let base = try #require(t["base_url"]?.stringValue)
            var bearer = HTTPFields()
            bearer[.authorization] = "Bearer \(try #require(t["token"]?.stringValue))"
            bearer[HTTPField.Name("X-Fal-File-Name")!] = "note.txt"
            bearer[.contentType] = "text/plain"
            let uploaded = try await client.send(.post, pathOf(base + "/files/upload"), raw: "from python", headers: bearer)
            #expect(uploaded.status == .ok)
            let access = try #require(try uploaded.json["access_url"]?.stringValue)
            #expect(try await client.execute(uri: pathOf(access), method: .get).text == "from python")

            // Multipart: parts under {access_url}/multipart/{uploadId}/{n}.
            let begun = try await client.send(.post, "/files/upload/multipart", raw: "", headers: bearer).json
            let accessURL = try #require(begun["access_url"]?.stringValue)
            let uploadID = try #require(begun["uploadId"]?.stringValue)
            let part = try await client.send(.put, pathOf(accessURL) + "/multipart/\(uploadID)/1", raw: "big file", headers: bearer)
            let etag = try #require(part.headers[.eTag])
            let done = try await client.send(
                .post, pathOf(accessURL) + "/multipart/\(uploadID)/complete", json: ["parts": [["partNumber": 1, "etag": .string(etag)]]], headers: bearer)
            #expect(done.status == .ok)
            #expect(try await client.execute(uri: pathOf(accessURL), method: .get).text == "big file")

            let forged = try await client.send(.post, "/files/upload", raw: "x", headers: [.authorization: "Bearer not.a.token"])
            #expect(forged.status == .unauthorized)
        }
    }

    @Test("sync_mode answers data URIs; data URI inputs are decoded")
    func syncMode() async throws {
        let h = try Harness.make()
        try await h.test { client in
            let input = "data:text/plain;base64," + Data("abc".utf8).base64EncodedString()
            let run = try await client.send(.post, "/run/test/files", json: ["image_url": .string(input), "sync_mode": true])
            #expect(run.status == .ok)
            #expect(try run.json["image"]?["url"] == .string("data:text/plain;base64," + Data("cba".utf8).base64EncodedString()))
        }
    }
}

@Suite("Models, health, auth")
struct ModelsAndAuthTests {
    @Test("GET /models lists the registered models with schemas")
    func models() async throws {
        let h = try Harness.make()
        try await h.test { client in
            let list = try await client.execute(uri: "/models", method: .get)
            #expect(list.status == .ok)
            let models = try #require(try list.json["models"]?.arrayValue)
            let ids = models.compactMap { $0["id"]?.stringValue }
            #expect(ids.contains("test/echo"))
            let echo = try #require(models.first { $0["id"] == "test/echo" })
            #expect(echo["category"] == "text-to-image")
            #expect(echo["input_schema"]?["required"] == ["prompt"])
        }
    }

    @Test("per-model OpenAPI document names <Name>Input, <Name>Output and QueueStatus")
    func openAPI() async throws {
        let h = try Harness.make()
        try await h.test { client in
            for path in ["/models/test/echo/openapi.json", "/openapi/queue/openapi.json?endpoint_id=test/echo"] {
                let doc = try await client.execute(uri: path, method: .get)
                #expect(doc.status == .ok)
                let json = try doc.json
                #expect(json["openapi"]?.stringValue?.hasPrefix("3.") == true)
                let schemas = try #require(json["components"]?["schemas"]?.objectValue)
                #expect(schemas["EchoInput"] != nil)
                #expect(schemas["EchoOutput"] != nil)
                #expect(schemas["QueueStatus"] != nil)
                #expect(schemas["ImageSize"] != nil, "$defs are hoisted into components")
                let text = doc.text
                #expect(!text.contains("#/$defs/"))
                #expect(json["paths"]?["/test/echo/requests/{request_id}/status"] != nil)
            }
        }
    }

    @Test("health and JWKS need no key; everything else does")
    func auth() async throws {
        let h = try Harness.make { $0.authEnabled = true }
        try await h.test { client in
            #expect(try await client.execute(uri: "/health/live", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/health/ready", method: .get).status == .ok)
            let jwks = try await client.execute(uri: "/.well-known/jwks.json", method: .get)
            #expect(jwks.status == .ok)
            #expect(try jwks.json["keys"]?.arrayValue?.first?["crv"] == "Ed25519")

            let anonymous = try await client.send(.post, "/queue/test/echo", json: ["prompt": "x"])
            #expect(anonymous.status == .unauthorized)
            #expect(try anonymous.json["detail"]?.stringValue != nil)
            let wrong = try await client.send(.post, "/queue/test/echo", json: ["prompt": "x"], headers: [.authorization: "Key nope:nope"])
            #expect(wrong.status == .unauthorized)
            #expect(try await client.execute(uri: "/models", method: .get).status == .unauthorized)

            let (a, secretA) = try await h.platform.keys.createKey(name: "a", now: Date())
            let (b, secretB) = try await h.platform.keys.createKey(name: "b", now: Date())
            let submitted = try await client.send(.post, "/queue/test/echo", json: ["prompt": "x"], headers: [.authorization: "Key \(a.id):\(secretA)"])
            #expect(submitted.status == .ok)
            let id = try #require(try submitted.json["request_id"]?.stringValue)
            let mine = try await client.execute(uri: "/queue/test/echo/requests/\(id)/status", method: .get, headers: [.authorization: "Key \(a.id):\(secretA)"])
            #expect(mine.status == .ok || mine.status == .accepted)
            let theirs = try await client.execute(uri: "/queue/test/echo/requests/\(id)/status", method: .get, headers: [.authorization: "Key \(b.id):\(secretB)"])
            #expect(theirs.status == .notFound, "another key's requests are invisible")
        }
    }
}
