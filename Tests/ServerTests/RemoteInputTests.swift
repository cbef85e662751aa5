import Foundation
import Hummingbird
import HummingbirdTesting
import ModelKit
import Platform
import Testing

@Suite("Remote inputs and payload retention")
struct RemoteInputTests {
    @Test("a remote http URL is downloaded (private addresses allowed by configuration), within the size limit")
    func remoteDownload() async throws {
        // A separate plain-HTTP server on loopback stands in for a remote file host.
        let router = Router()
        router.get("/assets/small.bin") { _, _ in "remote bytes" }
        router.get("/assets/large.bin") { _, _ in String(repeating: "x", count: 4096) }
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let remote = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { portContinuation.yield($0.localAddress?.port ?? 0) })
        let h = try Harness.make {
            $0.allowPrivateURLs = true
            $0.maxUploadBytes = 1024
        }
        try await remote.test(.live) { _ in
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            try await h.test { client in
                let ok = try await client.send(.post, "/run/test/files", json: ["image_url": .string("http://127.0.0.1:\(port)/assets/small.bin")])
                #expect(ok.status == .ok, "\(ok.text)")
                #expect(try ok.json["image"]?["file_size"] == 12)
                let large = try await client.send(.post, "/run/test/files", json: ["image_url": .string("http://127.0.0.1:\(port)/assets/large.bin")])
                #expect(large.status == .contentTooLarge, "\(large.text)")
                #expect(try large.json["error_type"] == "file_download_error")
                let missing = try await client.send(.post, "/run/test/files", json: ["image_url": .string("http://127.0.0.1:\(port)/assets/none.bin")])
                #expect(missing.status == .unprocessableContent)
            }
        }
    }

    @Test("X-Fal-Store-IO: 0 drops the result once it was delivered")
    func storeIO() async throws {
        let h = try Harness.make()
        try await h.test { client in
            var headers = HTTPFields()
            headers[HTTPField.Name("X-Fal-Store-IO")!] = "0"
            let id = try #require(try await client.send(.post, "/queue/test/echo", json: ["prompt": "secret"], headers: headers).json["request_id"]?.stringValue)
            _ = try await h.waitForJob(id) { $0.state.isTerminal }
            let first = try await client.execute(uri: "/queue/test/echo/requests/\(id)", method: .get)
            #expect(first.status == .ok)
            #expect(try first.json["echo"]?["prompt"] == "secret")
            let second = try await client.execute(uri: "/queue/test/echo/requests/\(id)", method: .get)
            #expect(second.status == .notFound)
            let job = try #require(try await h.store.job(id: id))
            #expect(job.input == nil)
        }
    }
}
