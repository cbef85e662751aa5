import Foundation
import Testing

/// The result cache's write order, proven from outside: a server SIGKILLed after an output's
/// files were written and pinned but before the cache's index row was committed serves no
/// partial result after its restart; the next identical request computes, and the entry it
/// writes then answers later ones with the whole output.
@Suite("Result cache crash safety", .serialized)
struct ResultCacheCrashTests {
    /// What `peregrine-test/cached` outputs for `value` and `size`.
    private func expected(_ value: String, size: Int) -> Data {
        let unit = Array(value.utf8)
        return Data((0..<size).map { unit[$0 % unit.count] })
    }

    @Test("a SIGKILL between the cached files and their index row never serves a partial result")
    func killBeforeIndexRow() async throws {
        let home = try ServerProcess.temporaryHome()
        defer { try? FileManager.default.removeItem(at: home) }
        let port = try ServerProcess.freePort()
        // The request running at the crash keeps its lease for the whole test, so nothing but the
        // requests below can write the entry.
        let environment = ["PEREGRINE_NO_AUTH": "1", "PEREGRINE_TEST_LEASE_SECONDS": "3600"]
        let input: [String: Any] = ["value": "peregrine", "size": 300_000]
        let bytes = expected("peregrine", size: 300_000)

        let first = try ServerProcess(
            home: home, port: port, extraEnvironment: environment.merging(["PEREGRINE_TEST_KILL_BEFORE_CACHE_INDEX": "1"]) { $1 })
        defer { first.stop() }
        let certificate = try first.waitUntilListening()
        try await withHTTP(base: "https://127.0.0.1:\(port)", certificate: certificate) { http in
            let submitted = try await http.exchange(.POST, "/queue/peregrine-test/cached", json: input)
            #expect(submitted.status == 200)
            #expect(submitted.headers.first(name: "x-peregrine-cache") == "miss")
        }
        // The server kills itself at the crash point.
        first.process.waitUntilExit()
        #expect(first.log.contains("KILLING BEFORE CACHE INDEX"), "\(first.log)")
        #expect(first.process.terminationReason == .uncaughtSignal)

        let second = try ServerProcess(home: home, port: port, extraEnvironment: environment)
        defer { second.stop() }
        let certificate2 = try second.waitUntilListening()
        try await withHTTP(base: "https://127.0.0.1:\(port)", certificate: certificate2) { http in
            func finishedBytes(_ id: String) async throws -> Data {
                try await eventually(timeout: 120, "request \(id) completed") {
                    try await http.send(.GET, "/queue/peregrine-test/cached/requests/\(id)/status").body?["status"] as? String == "COMPLETED"
                }
                let result = try await http.send(.GET, "/queue/peregrine-test/cached/requests/\(id)")
                let url = try #require((result.body?["file"] as? [String: Any])?["url"] as? String)
                return try await http.get(try #require(URL(string: url)).path)
            }
            // The crashed write left no entry: this identical request is computed, not a hit.
            let again = try await http.exchange(.POST, "/queue/peregrine-test/cached", json: input)
            #expect(again.headers.first(name: "x-peregrine-cache") == "miss")
            let againID = try #require(again.body?["request_id"] as? String)
            #expect(try await finishedBytes(againID) == bytes)
            // Its own write is whole: the next one is a hit with every byte.
            let hit = try await http.exchange(.POST, "/queue/peregrine-test/cached", json: input)
            #expect(hit.headers.first(name: "x-peregrine-cache") == "hit")
            #expect(try await finishedBytes(try #require(hit.body?["request_id"] as? String)) == bytes)
        }
    }
}
