import Foundation
import Hummingbird
import HummingbirdTesting
import ModelKit
import Platform
import Testing

@Suite("JS client proxy mode")
struct ProxyTests {
    @Test("x-fal-target-url reaches the route its fal URL names", arguments: ["/proxy", "/api/fal/proxy"])
    func proxy(_ proxy: String) async throws {
        let h = try Harness.make()
        try await h.test { client in
            var headers = HTTPFields()
            headers[HTTPField.Name("x-fal-target-url")!] = "https://queue.fal.run/test/echo"
            let submitted = try await client.send(.post, proxy, json: ["prompt": "via proxy"], headers: headers)
            #expect(submitted.status == .ok)
            let statusURL = try #require(try submitted.json["status_url"]?.stringValue)
            let id = try #require(try submitted.json["request_id"]?.stringValue)
            _ = try await h.waitForJob(id) { $0.state.isTerminal }
            // Follow-up calls come through the proxy with the server's own URLs.
            headers[HTTPField.Name("x-fal-target-url")!] = statusURL + "?logs=1"
            let status = try await client.execute(uri: proxy, method: .get, headers: headers)
            #expect(try status.json["status"] == "COMPLETED")
            // The result and the cancel, in the shapes the JS client sends them (fal's queue host,
            // owner/alias only); the status stream likewise.
            headers[HTTPField.Name("x-fal-target-url")!] = "https://queue.fal.run/test/echo/requests/\(id)"
            let result = try await client.execute(uri: proxy, method: .get, headers: headers)
            #expect(try result.json["echo"]?["prompt"] == "via proxy")
            headers[HTTPField.Name("x-fal-target-url")!] = "https://queue.fal.run/test/echo/requests/\(id)/cancel"
            let cancel = try await client.execute(uri: proxy, method: .put, headers: headers)
            let cancelled = try cancel.json["status"]
            #expect(cancel.status == .badRequest && cancelled == "ALREADY_COMPLETED", "\(cancel.text)")
            headers[HTTPField.Name("x-fal-target-url")!] = "https://queue.fal.run/test/echo/requests/\(id)/status/stream?logs=1"
            let stream = try await client.execute(uri: proxy, method: .get, headers: headers)
            #expect(stream.status == .ok && stream.text.contains("COMPLETED"), "\(stream.text)")
            headers[HTTPField.Name("x-fal-target-url")!] = "https://fal.run/test/echo"
            let run = try await client.send(.post, proxy, json: ["prompt": "run"], headers: headers)
            #expect(try run.json["echo"]?["prompt"] == "run")
            headers[HTTPField.Name("x-fal-target-url")!] = "https://rest.alpha.fal.ai/storage/upload/initiate?storage_type=fal-cdn-v3"
            let initiate = try await client.send(.post, proxy, json: ["content_type": "text/plain", "file_name": "p.txt"], headers: headers)
            let uploadURL = try #require(try initiate.json["upload_url"]?.stringValue)
            let fileURL = try #require(try initiate.json["file_url"]?.stringValue)
            // The upload itself through the proxy too (a client that proxies every call), then
            // the file as the file URL serves it.
            headers[HTTPField.Name("x-fal-target-url")!] = uploadURL
            headers[.contentType] = "text/plain"
            let put = try await client.send(.put, proxy, raw: "proxied bytes", headers: headers)
            #expect(put.status == .ok, "\(put.text)")
            headers[.contentType] = nil
            headers[HTTPField.Name("x-fal-target-url")!] = fileURL
            let file = try await client.execute(uri: proxy, method: .get, headers: headers)
            #expect(file.text == "proxied bytes")

            let missing = try await client.send(.post, proxy, json: [:])
            #expect(missing.status == .unprocessableContent)
            headers[HTTPField.Name("x-fal-target-url")!] = "https://example.com/proxy"
            let loop = try await client.send(.post, proxy, json: [:], headers: headers)
            #expect(loop.status == .unprocessableContent)
        }
    }
}
