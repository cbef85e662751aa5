import Foundation
import Hummingbird
import HummingbirdTesting
import JobQueue
import ModelKit
import Platform
import Runners
import Server
import TestSupport
import Testing

/// A platform with auth on, the echo and gated test models, an admin key and an ordinary key.
private struct AdminHarness {
    let harness: Harness
    let admin: HTTPFields
    let user: HTTPFields

    static func make() async throws -> AdminHarness {
        var configuration = ServerConfiguration()
        configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-test-\(UUID().uuidString)")
        configuration.authEnabled = true
        let gate = Gate()
        let (started, startedContinuation) = AsyncStream<String>.makeStream()
        let platform = try EmbeddedPlatform(
            configuration: configuration, models: [EchoModel(), GatedModel(gate: gate, started: startedContinuation)],
            runnerConfiguration: RunnerConfiguration(leaseDuration: 60, shutdownGracePeriod: 1))
        let adminKey = try await platform.keys.createKey(name: "ops", isAdmin: true, now: Date())
        let userKey = try await platform.keys.createKey(name: "app", now: Date())
        var admin = HTTPFields()
        admin[.authorization] = "Key \(adminKey.key.id):\(adminKey.secret)"
        var user = HTTPFields()
        user[.authorization] = "Key \(userKey.key.id):\(userKey.secret)"
        return AdminHarness(harness: Harness(platform: platform, gate: gate, started: started), admin: admin, user: user)
    }
}

@Suite("Admin API: runtime model settings")
struct AdminSettingsTests {
    @Test("only admin keys reach the admin API; unknown models are 404 and bad values 422")
    func authAndValidation() async throws {
        let a = try await AdminHarness.make()
        try await a.harness.test { client in
            let path = "/admin/models/test/echo/settings"
            #expect(try await client.send(.get, path).status == .unauthorized)
            #expect(try await client.send(.get, path, headers: a.user).status == .forbidden)
            #expect(try await client.send(.patch, path, json: ["max_concurrency": 2], headers: a.user).status == .forbidden)

            let shown = try await client.send(.get, path, headers: a.admin)
            #expect(shown.status == .ok)
            #expect(try shown.json["max_concurrency"]?.intValue == 4)
            #expect(try shown.json["keep_alive"]?.doubleValue == 300)
            #expect(try shown.json["overrides"]?.objectValue?.isEmpty == true)

            #expect(try await client.send(.get, "/admin/models/test/nope/settings", headers: a.admin).status == .notFound)
            #expect(try await client.send(.patch, "/admin/models/test/nope/settings", json: ["keep_alive": 1], headers: a.admin).status == .notFound)

            let bad: [JSONValue] = [
                ["max_concurrency": 0], ["max_concurrency": 1.5], ["keep_alive": "long"], ["keep_alive": -1],
                ["startup_timeout": 0], ["concurrency_buffer": 65], ["replicas": 3], ["min_concurrency": 5, "max_concurrency": 2], [1, 2],
            ]
            for body in bad {
                let answer = try await client.send(.patch, path, json: body, headers: a.admin)
                #expect(answer.status == .unprocessableContent, "\(body.encoded()) → \(answer.status)")
                #expect(try answer.json["detail"]?.arrayValue?.isEmpty == false)
            }
            // Nothing invalid was applied.
            #expect(a.harness.platform.pool.settings(for: "test/echo")?.maxConcurrency == 4)

            let list = try await client.send(.get, "/admin/models", headers: a.admin)
            #expect(list.status == .ok)
            #expect(try list.json["models"]?.arrayValue?.count == 2)
        }
    }

    @Test("a change applies at once, null restores the default, and the settings survive a restart")
    func changeAndPersist() async throws {
        let a = try await AdminHarness.make()
        let platform = a.harness.platform
        try await a.harness.test { client in
            let path = "/admin/models/test/echo/settings"
            let body: JSONValue = ["keep_alive": 30, "max_concurrency": 2, "min_concurrency": 1, "concurrency_buffer": 1, "startup_timeout": 45]
            let changed = try await client.send(.patch, path, json: body, headers: a.admin)
            #expect(changed.status == .ok)
            #expect(try changed.json["max_concurrency"]?.intValue == 2)
            #expect(try changed.json["overrides"]?.objectValue?.count == 5)
            let live = try #require(platform.pool.settings(for: "test/echo"))
            #expect(live.keepAliveSeconds == 30)
            #expect(live.maxConcurrency == 2)
            #expect(live.minConcurrency == 1)
            #expect(live.concurrencyBuffer == 1)
            #expect(live.startupTimeoutSeconds == 45)
            #expect(platform.pool.residencySnapshot.models["test/echo"]?.settings == live)

            let restored = try await client.send(.patch, path, json: ["keep_alive": nil, "min_concurrency": nil], headers: a.admin)
            #expect(try restored.json["keep_alive"]?.doubleValue == 300)
            #expect(try restored.json["min_concurrency"]?.intValue == 0)
            #expect(platform.pool.settings(for: "test/echo")?.keepAliveSeconds == 300)

            // Another process on the same home reads the persisted settings when it starts.
            let again = try EmbeddedPlatform(
                configuration: platform.configuration, models: [EchoModel()],
                runnerConfiguration: RunnerConfiguration(leaseDuration: 60, shutdownGracePeriod: 1))
            #expect(again.pool.settings(for: "test/echo")?.maxConcurrency == 4)
            await again.pool.applyStoredSettings()
            let reloaded = try #require(again.pool.settings(for: "test/echo"))
            #expect(reloaded.maxConcurrency == 2)
            #expect(reloaded.concurrencyBuffer == 1)
            #expect(reloaded.keepAliveSeconds == 300)
            #expect(try await again.modelSettings.override(for: "test/echo").maxConcurrency == 2)
        }
    }

    @Test("raising max_concurrency at runtime lets a waiting request start while the first still runs")
    func liveConcurrency() async throws {
        let a = try await AdminHarness.make()
        let h = a.harness
        try await h.test { client in
            let first = try #require(try await client.send(.post, "/queue/test/gated", json: ["name": "one"], headers: a.user).json["request_id"]?.stringValue)
            #expect(try await h.nextStart() == "one")
            let second = try #require(try await client.send(.post, "/queue/test/gated", json: ["name": "two"], headers: a.user).json["request_id"]?.stringValue)
            // The limit is one: the second request stays in the queue.
            #expect(try await h.store.job(id: second)?.state == .queued)
            let answer = try await client.send(.patch, "/admin/models/test/gated/settings", json: ["max_concurrency": 2], headers: a.admin)
            #expect(answer.status == .ok)
            #expect(try await h.nextStart() == "two")
            #expect(try await h.store.job(id: first)?.state == .running)
            h.gate.open()
            for id in [first, second] { #expect(try await h.waitForJob(id) { $0.state.isTerminal }.state == .completed) }
        }
    }
}
