import Crypto
import Foundation
import Testing

/// The durability rule, proven from outside: SIGKILL a server holding queued jobs, a running
/// job and finished jobs whose webhooks are still pending, restart it on the same home, and
/// every accepted job reaches its end state, no result is lost and every webhook arrives
/// (at least once) with a valid signature.
@Suite("Crash durability", .serialized)
struct DurabilityTests {
    @Test("nothing accepted is lost across SIGKILL and restart")
    func survivesSIGKILL() async throws {
        let home = try ServerProcess.temporaryHome()
        defer { try? FileManager.default.removeItem(at: home) }
        let port = try ServerProcess.freePort()
        // Leases are short so the restarted server rescues the running job soon, but long enough
        // (extended every third) that a loaded machine never loses one while the job runs.
        let environment = [
            "PEREGRINE_NO_AUTH": "1", "PEREGRINE_ALLOW_PRIVATE_URLS": "1",
            "PEREGRINE_TEST_LEASE_SECONDS": "5", "PEREGRINE_WEBHOOK_RETRY_INITIAL_SECONDS": "1",
        ]
        let release = home.appendingPathComponent("release-the-running-job")
        let receiver = WebhookReceiver()
        try await receiver.run { hook in
            let first = try ServerProcess(home: home, port: port, extraEnvironment: environment)
            defer { first.stop() }
            let certificate = try first.waitUntilListening()
            let (finished, running, queued) = try await withHTTP(base: "https://127.0.0.1:\(port)", certificate: certificate) { http in
            let query = "?fal_webhook=" + hook.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!

            // Finished before the crash; their webhooks fail (500) and stay pending.
            var finished: [String] = []
            for i in 0..<3 {
                let r = try await http.send(.POST, "/queue/peregrine-test/echo\(query)", json: ["value": "done-\(i)"])
                try #require(r.status == 200, "submit: \(String(describing: r.body))")
                finished.append(r.body?["request_id"] as! String)
            }
            // Running at the crash, held until the test releases it (the slow model serves one
            // request at a time) ...
            let long = try await http.send(.POST, "/queue/peregrine-test/slow\(query)", json: ["steps": 2, "step_ms": 5, "hold_file": release.path])
            let running = long.body?["request_id"] as! String
            // ... and queued behind it.
            var queued: [String] = []
            for _ in 0..<4 {
                let r = try await http.send(.POST, "/queue/peregrine-test/slow\(query)", json: ["steps": 2, "step_ms": 5])
                queued.append(r.body?["request_id"] as! String)
            }

            func status(_ endpoint: String, _ id: String) async throws -> String? {
                try await http.send(.GET, "/queue/peregrine-test/\(endpoint)/requests/\(id)/status").body?["status"] as? String
            }
            try await eventually(timeout: 180, "pre-crash states") {
                for id in finished where try await status("echo", id) != "COMPLETED" { return false }
                let failedDeliveries = await receiver.recorder.deliveries.filter { $0.answered == 500 }.count
                return try await status("slow", running) == "IN_PROGRESS" && failedDeliveries >= finished.count
            }
            for id in queued { #expect(try await status("slow", id) == "IN_QUEUE") }
            return (finished, running, queued)
            }

            first.kill()
            await receiver.recorder.setStatus(200)

            let second = try ServerProcess(home: home, port: port, extraEnvironment: environment)
            defer { second.stop() }
            let certificate2 = try second.waitUntilListening()
            _ = FileManager.default.createFile(atPath: release.path, contents: Data())
            try await withHTTP(base: "https://127.0.0.1:\(port)", certificate: certificate2) { http2 in
            func status2(_ endpoint: String, _ id: String) async throws -> String? {
                try await http2.send(.GET, "/queue/peregrine-test/\(endpoint)/requests/\(id)/status").body?["status"] as? String
            }
            let all = finished.map { ("echo", $0) } + ([running] + queued).map { ("slow", $0) }
            try await eventually(timeout: 180, "all jobs completed after restart") {
                for (endpoint, id) in all where try await status2(endpoint, id) != "COMPLETED" { return false }
                return true
            }
            for (i, id) in finished.enumerated() {
                let r = try await http2.send(.GET, "/queue/peregrine-test/echo/requests/\(id)")
                #expect(r.status == 200)
                #expect(r.body?["value"] as? String == "done-\(i)")
            }
            for id in [running] + queued {
                let r = try await http2.send(.GET, "/queue/peregrine-test/slow/requests/\(id)")
                #expect(r.status == 200, "result of \(id): \(String(describing: r.body))")
                #expect(r.body?["steps_done"] != nil)
            }

            // Every job's webhook arrives with a valid signature.
            let jwks = try JSONSerialization.jsonObject(with: try await http2.get("/.well-known/jwks.json")) as! [String: Any]
            let keys = try (jwks["keys"] as! [[String: Any]]).map { key -> Curve25519.Signing.PublicKey in
                var x = (key["x"] as! String).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
                x += String(repeating: "=", count: (4 - x.count % 4) % 4)
                return try Curve25519.Signing.PublicKey(rawRepresentation: Data(base64Encoded: x)!)
            }
            try await eventually(timeout: 180, "a successful delivery per job") {
                let ok = await receiver.recorder.deliveries.filter { $0.answered == 200 }
                let ids = Set(ok.compactMap { try? JSONSerialization.jsonObject(with: $0.body) as? [String: Any] }.compactMap { $0["request_id"] as? String })
                return Set(all.map(\.1)).isSubset(of: ids)
            }
            for delivery in await receiver.recorder.deliveries {
                let h = delivery.headers
                let digest = SHA256.hash(data: delivery.body).map { String(format: "%02x", $0) }.joined()
                let message = [h["x-fal-webhook-request-id"] ?? "", h["x-fal-webhook-user-id"] ?? "", h["x-fal-webhook-timestamp"] ?? "", digest].joined(separator: "\n")
                let signature = Data(hexString: h["x-fal-webhook-signature"] ?? "")
                #expect(keys.contains { $0.isValidSignature(signature, for: Data(message.utf8)) }, "bad signature: \(h)")
            }
            }
        }
    }
}

extension Data {
    init(hexString: String) {
        var bytes: [UInt8] = []
        var index = hexString.startIndex
        while let next = hexString.index(index, offsetBy: 2, limitedBy: hexString.endIndex), index != hexString.endIndex {
            bytes.append(UInt8(hexString[index..<next], radix: 16) ?? 0)
            index = next
        }
        self.init(bytes)
    }
}
