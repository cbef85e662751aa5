import Foundation
import NIOHTTP1
import Testing

/// Requests an attacker (or a buggy client) can send to a real `peregrine serve` process:
/// after each one the process must still run, answer `/health`, and its memory must stay
/// bounded. Each case also checks the precise answer the server owes.
@Suite("Hostile requests against peregrine serve", .serialized)
struct HostileRequestTests {
    static let endpoint = "/queue/peregrine/realesr-animevideov3"

    /// Runs `body` against a fresh server and stops it afterwards.
    private func withServer(
        environment: [String: String] = [:], _ body: (HostileServer, TestHTTP) async throws -> Void
    ) async throws {
        let server = try HostileServer(environment: environment)
        defer { server.stop() }
        try await withHTTP(base: "https://127.0.0.1:\(server.tlsPort)", certificate: server.certificate) { http in
            try await body(server, http)
        }
    }

    /// The server process is alive and answers `/health` on both ports.
    private func expectAlive(_ server: HostileServer, _ http: TestHTTP, after name: String) async throws {
        try #require(server.isRunning, "server died after: \(name)\n\(server.process.log.suffix(4000))")
        let health = try await http.exchange(.GET, "/health/ready")
        #expect(health.status == 200, "health after \(name): \(health.status)")
        let raw = try RawConnection(port: server.httpPort)
        raw.send("GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        #expect(RawConnection.status(of: raw.receive()) == 200, "plain-HTTP health after \(name)")
    }

    private func auth(_ server: HostileServer) -> (String, String) { ("Authorization", "Key \(server.key)") }

    /// Uploads `data` as one file and returns its URL's path.
    private func upload(_ server: HostileServer, _ http: TestHTTP, _ data: Data, type: String) async throws -> String {
        let r = try await http.exchange(.POST, "/files/upload", headers: [auth(server), ("Content-Type", type), ("X-Fal-File-Name", "f.bin")], body: data)
        try #require(r.status == 200, "upload: \(r.status) \(r.text)")
        let url = try #require(r.json?["access_url"] as? String)
        return String(url[try #require(url.range(of: "/files/")).lowerBound...])
    }

    @Test("Range headers with overflowing or hostile bounds")
    func rangeHeaders() async throws {
        try await withServer { server, http in
            let path = try await upload(server, http, Data("0123456789abcdef".utf8), type: "application/octet-stream")
            let cases: [(String, Set<Int>)] = [
                ("bytes=0-9223372036854775807", [206]),
                ("bytes=9223372036854775807-", [416]),
                ("bytes=-9223372036854775807", [206]),
                ("bytes=-9223372036854775808", [206, 416]),
                ("bytes=99999999999999999999999-", [416]),
                // Syntax the server does not serve is ignored: the whole file (RFC 9110 §14.2).
                ("bytes=5-2", [200, 416]),
                ("bytes=0-1,3-4", [200, 416]),
                ("bytes=--1", [200, 416]),
                ("bites=0-1", [200, 416]),
            ]
            for (range, expected) in cases {
                for method in [HTTPMethod.GET, .HEAD] {
                    let r = try await http.exchange(method, path, headers: [("Range", range)])
                    #expect(expected.contains(r.status), "\(method) Range: \(range) -> \(r.status)")
                    try await expectAlive(server, http, after: "\(method) Range: \(range)")
                }
            }
            let whole = try await http.exchange(.GET, path, headers: [("Range", "bytes=0-9223372036854775807")])
            #expect(whole.text == "0123456789abcdef")
        }
    }

    @Test("numeric headers and query values out of range are refused, never trap")
    func numericHeaders() async throws {
        try await withServer { server, http in
            let body = Data(#"{"image_url": "https://example.com/a.png"}"#.utf8)
            let json = ("Content-Type", "application/json")
            for value in ["1e17", "1e308", "9223372036854775807", "inf", "nan", "-1", "0", "", "1e400", "ten"] {
                let r = try await http.exchange(.POST, Self.endpoint, headers: [auth(server), json, ("X-Fal-Request-Timeout", value)], body: body)
                #expect(r.status == 422, "X-Fal-Request-Timeout: \(value) -> \(r.status) \(r.text)")
                try await expectAlive(server, http, after: "X-Fal-Request-Timeout: \(value)")
            }
            for value in ["{\"expiration_duration_seconds\": 1e300}", "{\"expiration_duration_seconds\": 99999999999999999999}",
                          "{\"expiration_duration_seconds\": -5}"] {
                let r = try await http.exchange(
                    .POST, "/files/upload", headers: [auth(server), ("X-Fal-Object-Lifecycle-Preference", value)], body: Data("x".utf8))
                #expect(r.status == 422, "lifecycle \(value) -> \(r.status) \(r.text)")
                try await expectAlive(server, http, after: "lifecycle \(value)")
            }
            for query in ["logs=99999999999999999999999", "logs=-1", "logs=%00"] {
                let r = try await http.exchange(.GET, Self.endpoint + "/requests/00000000-0000-0000-0000-000000000000/status?\(query)", headers: [auth(server)])
                #expect((400..<500).contains(r.status), "status?\(query) -> \(r.status)")
                try await expectAlive(server, http, after: "status?\(query)")
            }
            let history = "/v1/models/requests/by-endpoint?endpoint_id=peregrine/realesr-animevideov3&"
            for query in [
                "limit=99999999999999999999999", "limit=-1", "limit=%00", "start=%00", "start=99999999-01-01",
                "end=0000-00-00", "start=2025-01-01T99:99:99Z", "cursor=%00%FF", "cursor=" + String(repeating: "A", count: 5000),
                "cursor=a.b.c", "status=%00", "expand=%FF", "request_id=" + String(repeating: "r", count: 5000),
            ] {
                let r = try await http.exchange(.GET, history + query, headers: [auth(server)])
                #expect(r.status == 422, "history?\(query.prefix(60)) -> \(r.status)")
                try await expectAlive(server, http, after: "history?\(query.prefix(60))")
            }
            for key in [String(repeating: "k", count: 4000), "", "a b", "a\tb"] {
                let r = try await http.exchange(.POST, Self.endpoint, headers: [auth(server), json, ("Idempotency-Key", key)], body: body)
                #expect((400..<500).contains(r.status), "Idempotency-Key of \(key.utf8.count) bytes -> \(r.status)")
                try await expectAlive(server, http, after: "Idempotency-Key of \(key.utf8.count) bytes")
            }
        }
    }

    @Test("hostile JSON bodies: deep nesting, huge numbers, wrong types")
    func hostileJSON() async throws {
        try await withServer { server, http in
            let json = ("Content-Type", "application/json")
            let deep = String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000)
            let deepObject = #"{"image_url": "# + String(repeating: #"{"a":"#, count: 100_000) + "1" + String(repeating: "}", count: 100_000) + "}"
            let bodies = [
                deep, deepObject,
                #"{"image_url": "https://example.com/a.png", "scale": 1e308}"#,
                #"{"image_url": "https://example.com/a.png", "scale": 123456789012345678901234567890}"#,
                #"{"image_url": "https://example.com/a.png", "tile_size": -9223372036854775808}"#,
                #"{"image_url": "https://example.com/a.png", "tile_size": 1e400}"#,
                #"{"image_url": 5}"#,
                "{\"image_url\": \"" + String(repeating: "\\ud800", count: 1000) + "\"}",
                "not json at all",
            ]
            for body in bodies {
                let r = try await http.exchange(.POST, Self.endpoint, headers: [auth(server), json], body: Data(body.utf8))
                #expect((400..<500).contains(r.status), "body \(body.prefix(60)) -> \(r.status) \(r.text.prefix(200))")
                try await expectAlive(server, http, after: "JSON body \(body.prefix(60))")
            }
            for hook in ["http://[::ffff:127.0.0.1]:1/", "http://0x7f000001/", "http://2130706433/", "http://0/", "http://[::]/",
                         "file:///etc/passwd", "http://" + String(repeating: "a", count: 3_000) + ".com/"] {
                let q = hook.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                let r = try await http.exchange(.POST, Self.endpoint + "?fal_webhook=\(q)", headers: [auth(server), json],
                                                body: Data(#"{"image_url": "https://example.com/a.png"}"#.utf8))
                #expect((400..<500).contains(r.status), "webhook \(hook.prefix(60)) -> \(r.status)")
                try await expectAlive(server, http, after: "webhook \(hook.prefix(60))")
            }
        }
    }

    @Test("credentials: storage tokens, giant and random Authorization headers")
    func credentials() async throws {
        try await withServer { server, http in
            let token = try await http.exchange(.POST, "/storage/auth/token?storage_type=fal-cdn-v3", headers: [auth(server)], body: Data("{}".utf8))
            try #require(token.status == 200, "token: \(token.status)")
            let bearer = try #require(token.json?["token"] as? String)
            let submit = try await http.exchange(
                .POST, Self.endpoint, headers: [("Authorization", "Bearer \(bearer)"), ("Content-Type", "application/json")],
                body: Data(#"{"image_url": "https://example.com/a.png"}"#.utf8))
            #expect([401, 403].contains(submit.status), "a storage token submitted a job: \(submit.status)")
            let models = try await http.exchange(.GET, "/models", headers: [("Authorization", "Bearer \(bearer)")])
            #expect([401, 403].contains(models.status), "a storage token listed models: \(models.status)")

            let before = ProcessMemory.highWaterMark(pid: server.pid) ?? 0
            for i in 0..<300 {
                let junk = (0..<3000).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! }
                let r = try await http.exchange(.GET, "/models", headers: [("Authorization", "Key \(i):\(String(junk))")])
                #expect(r.status == 401)
            }
            let raw = try RawConnection(port: server.httpPort)
            raw.send("GET /models HTTP/1.1\r\nHost: x\r\nAuthorization: Key " + String(repeating: "k", count: 60_000) + "\r\n\r\n")
            let huge = RawConnection.status(of: raw.receive())
            #expect(huge.map { [401, 431].contains($0) } ?? raw.closedByPeer, "60 kB Authorization -> \(String(describing: huge))")
            try await expectAlive(server, http, after: "random Authorization headers")
            let after = ProcessMemory.highWaterMark(pid: server.pid) ?? 0
            #expect(after - before < 32 << 20, "300 failed logins raised the high-water mark by \((after - before) >> 20) MiB")
        }
    }

    @Test("stored files never run as pages on the API origin")
    func storedFilesAreNotPages() async throws {
        try await withServer { server, http in
            for type in ["text/html", "image/svg+xml", "application/javascript", "text/html; charset=utf-8", "TEXT/HTML"] {
                let path = try await upload(server, http, Data("<script>alert(1)</script>".utf8), type: type)
                let r = try await http.exchange(.GET, path)
                let disposition = r.headers["Content-Disposition"].first ?? ""
                #expect(disposition.lowercased().hasPrefix("attachment"), "\(type) served \(disposition)")
                #expect((r.headers["Content-Security-Policy"].first ?? "").contains("sandbox"), "\(type) without CSP sandbox")
                #expect(r.headers["X-Content-Type-Options"].first == "nosniff")
            }
            let png = try await upload(server, http, Data([0x89, 0x50, 0x4E, 0x47]), type: "image/png")
            let r = try await http.exchange(.GET, png)
            #expect((r.headers["Content-Disposition"].first ?? "").hasPrefix("inline"))
            for path in ["/files/..%2F..%2Fetc%2Fpasswd", "/files/../../etc/passwd", "/files/%00", "/files/" + String(repeating: "a", count: 10_000)] {
                let r = try await http.exchange(.GET, path)
                #expect((400..<500).contains(r.status), "\(path.prefix(40)) -> \(r.status)")
            }
            try await expectAlive(server, http, after: "file serving")
        }
    }

    @Test("unauthenticated upload bodies are refused before they are read")
    func unauthenticatedUploads() async throws {
        try await withServer { server, http in
            let size = 90 << 20
            let before = ProcessMemory.highWaterMark(pid: server.pid) ?? 0
            let madeUp = String(repeating: "ab", count: 16)
            let paths = ["/storage/upload/\(madeUp)", "/storage/upload/\(madeUp)/1", "/files/\(madeUp)/x/multipart/\(madeUp)/1"]
            let port = server.httpPort
            let statuses = try await withThrowingTaskGroup(of: Int?.self) { group in
                for path in paths {
                    group.addTask {
                        let c = try RawConnection(port: port)
                        c.send("PUT \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(size)\r\nContent-Type: application/octet-stream\r\n\r\n")
                        let chunk = [UInt8](repeating: 0x41, count: 1 << 20)
                        for _ in 0..<(size >> 20) where c.send(chunk) {}
                        return RawConnection.status(of: c.receive())
                    }
                }
                var out: [Int?] = []
                for try await s in group { out.append(s) }
                return out
            }
            for s in statuses { #expect(s == 404 || s == nil, "made-up upload -> \(String(describing: s))") }
            try await expectAlive(server, http, after: "unauthenticated 90 MB uploads")
            let after = ProcessMemory.highWaterMark(pid: server.pid) ?? 0
            #expect(after - before < 48 << 20, "three refused uploads raised the high-water mark by \((after - before) >> 20) MiB")
        }
    }

    @Test("malformed HTTP on the wire: garbage, lying lengths, huge headers")
    func malformedWire() async throws {
        try await withServer { server, http in
            let cases: [(String, [UInt8])] = [
                ("garbage", Array((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919) })),
                ("huge content-length", Array("POST /queue/a/b HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n".utf8)),
                ("negative content-length", Array("POST /queue/a/b HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".utf8)),
                ("huge chunk size", Array("POST /queue/a/b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffff\r\n".utf8)),
                ("two lengths", Array("POST /queue/a/b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 5000\r\n\r\nx".utf8)),
                ("header of 1 MiB", Array(("GET /health/live HTTP/1.1\r\nHost: x\r\nX-A: " + String(repeating: "a", count: 1 << 20) + "\r\n\r\n").utf8)),
                ("100k headers", Array(("GET /health/live HTTP/1.1\r\nHost: x\r\n" + String(repeating: "X-B: b\r\n", count: 100_000) + "\r\n").utf8)),
                ("request line of 1 MiB", Array(("GET /" + String(repeating: "a", count: 1 << 20) + " HTTP/1.1\r\nHost: x\r\n\r\n").utf8)),
                ("invalid UTF-8 path", [0x47, 0x45, 0x54, 0x20, 0x2F, 0xFF, 0xFE, 0x20] + Array("HTTP/1.1\r\nHost: x\r\n\r\n".utf8)),
            ]
            for (name, bytes) in cases {
                let c = try RawConnection(port: server.httpPort)
                c.send(bytes)
                let answer = c.receive()
                if let status = RawConnection.status(of: answer) {
                    #expect((400..<500).contains(status) || (name.contains("invalid UTF-8") && status == 404), "\(name) -> \(status)")
                }
                try await expectAlive(server, http, after: name)
            }
        }
    }

    @Test("half-sent requests do not keep the server from others (slowloris)")
    func slowloris() async throws {
        try await withServer(environment: ["PEREGRINE_IDLE_TIMEOUT": "2"]) { server, http in
            var held: [RawConnection] = []
            for _ in 0..<64 {
                let c = try RawConnection(port: server.httpPort)
                c.send("POST /queue/a/b HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
                held.append(c)
            }
            try await expectAlive(server, http, after: "64 half-sent requests")
            // The idle timeout closes them: the server ends each connection (with or without a
            // 408) before the client's own 30 s read deadline gives up.
            for c in held.prefix(4) {
                let answer = c.receive()
                #expect(c.closedByPeer, "a half-sent request was still open after 30 s")
                #expect(RawConnection.status(of: answer).map { (400..<500).contains($0) } ?? true)
            }
            held.removeAll()
            // The idle timeout also closed `http`'s pooled connection; a client of its own
            // checks health on a fresh one instead of racing that close.
            try await withHTTP(base: "https://127.0.0.1:\(server.tlsPort)", certificate: server.certificate) { fresh in
                try await expectAlive(server, fresh, after: "idle connections closed")
            }
        }
    }

    @Test("after every hostile case a real job still runs end to end")
    func realJobAfterwards() async throws {
        try await withServer { server, http in
            // A few of the hostile requests, then a real job through the Python example runner.
            _ = try await http.exchange(.GET, "/models", headers: [("Authorization", "Key " + String(repeating: "z", count: 5000))])
            _ = try await http.exchange(.POST, "/queue/examples/mandelbrot", headers: [auth(server), ("X-Fal-Request-Timeout", "1e17")], body: Data("{}".utf8))
            let submit = try await http.exchange(.POST, "/queue/examples/mandelbrot", headers: [auth(server), ("Content-Type", "application/json")],
                                                 body: Data(#"{"width": 32, "height": 32, "max_iterations": 20}"#.utf8))
            try #require(submit.status == 200, "submit: \(submit.status) \(submit.text)")
            let id = try #require(submit.json?["request_id"] as? String)
            try await eventually(timeout: 120, "the mandelbrot job to complete") {
                let s = try await http.exchange(.GET, "/queue/examples/mandelbrot/requests/\(id)/status", headers: [auth(server)])
                return s.json?["status"] as? String == "COMPLETED"
            }
            let result = try await http.exchange(.GET, "/queue/examples/mandelbrot/requests/\(id)", headers: [auth(server)])
            #expect(result.status == 200)
            #expect(((result.json?["image"] as? [String: Any])?["url"] as? String) != nil, "result: \(result.text.prefix(300))")
            try await expectAlive(server, http, after: "real job")
        }
    }
}
