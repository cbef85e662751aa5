import Foundation
import Hummingbird
import HummingbirdTesting
import JobQueue
import ModelKit
import Testing
import Webhooks

@Suite("Remote inputs fetched before the model slot")
struct RemoteInputEdgeTests {
    @Test("a declared string input that fails to download does not fail a model that never reads it")
    func unusedInputFailureIsHarmless() async throws {
        // `prompt` is a declared string: its URL value is fetched ahead (and refused by the
        // address policy), but the echo model never asks for it as a file.
        let resolver = CountingResolver()
        let h = try outboundHarness(resolver: resolver)
        try await h.test { client in
            let response = try await client.send(.post, "/run/test/echo", json: ["prompt": "http://10.0.0.1/x"])
            #expect(response.status == .ok, "\(response.text)")
            #expect(try response.json["echo"]?["prompt"] == "http://10.0.0.1/x")
            #expect(resolver.calls == 0)
        }
    }

    @Test("a redirecting input host is not followed")
    func redirectsAreNotFollowed() async throws {
        let h = try outboundHarness(resolver: SystemResolver()) { $0.allowPrivateURLs = true }
        try await FileHost().serve { port in
            try await h.test { client in
                let response = try await client.send(.post, "/run/test/one-slot", json: ["image_url": .string("http://127.0.0.1:\(port)/moved")])
                #expect(response.status == .unprocessableContent, "\(response.text)")
                #expect(try response.json["error_type"] == "file_download_error")
                #expect(response.text.contains("HTTP 302"))
            }
        }
    }
}
