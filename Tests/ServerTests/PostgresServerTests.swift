import Foundation
import Hummingbird
import HummingbirdTesting
import JobQueue
import ModelKit
import Platform
import PostgresStore
import PostgresTestSupport
import Runners
import Server
import TestSupport
import Testing

@testable import peregrine

/// The server on a cluster's PostgreSQL, opened exactly as `peregrine serve --database` opens it.
@Suite("PostgreSQL-backed server")
struct PostgresServerTests {
    @Test("a request runs end to end: key check, submit, lease, run, status, result, webhook row")
    func jobRunsEndToEnd() async throws {
        var configuration = ServerConfiguration()
        configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-pg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: configuration.home) }
        configuration.databaseURL = try await PostgresTestCluster.shared.makeDatabaseURL()
        configuration.allowPrivateURLs = true
        let stores = try await PlatformStores.open(configuration)
        #expect(stores.jobs is PostgresJobStore && stores.keys is PostgresAPIKeyStore)
        let platform = try EmbeddedPlatform(
            configuration: configuration, stores: stores, models: [EchoModel()],
            runnerConfiguration: RunnerConfiguration(leaseDuration: 60, shutdownGracePeriod: 1))
        let app = Application(
            responder: APIResponder(services: APIServices(platform: platform), scheme: "https"),
            services: platform.storeServices + [platform.maintenance(), platform.hub, platform.pool])
        try await app.test(.router) { client in
            let (key, secret) = try await platform.keys.createKey(name: "pg", now: Date())
            let auth: HTTPFields = [.authorization: "Key \(key.id):\(secret)"]
            #expect(try await client.send(.post, "/queue/test/echo", json: ["prompt": "hi"]).status == .unauthorized)

            let submit = try await client.send(
                .post, "/queue/test/echo?fal_webhook=http://127.0.0.1:9/hook", json: ["prompt": "from postgres"], headers: auth)
            #expect(submit.status == .ok)
            let id = try #require(try submit.json["request_id"]?.stringValue)

            // Woken by the store's notifications, with a generous hang guard.
            let changes = platform.hub.changes(of: id)
            let finished = try await withThrowingTaskGroup(of: Job?.self) { group in
                group.addTask {
                    var iterator = changes.makeAsyncIterator()
                    repeat {
                        if let job = try await platform.store.job(id: id), job.state.isTerminal { return job }
                    } while await iterator.next() != nil
                    return nil
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(60))
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first
            }
            let job = try #require(finished, "the job never finished")
            #expect(job.state == .completed && job.attempt == 1 && job.apiKeyID == key.id)

            let status = try await client.send(.get, "/queue/test/echo/requests/\(id)/status?logs=1", headers: auth).json
            #expect(status["status"] == "COMPLETED")
            #expect(status["logs"]?.arrayValue?.first?["message"] == "echoing")
            let result = try await client.send(.get, "/queue/test/echo/requests/\(id)", headers: auth)
            #expect(result.status == .ok)
            #expect(try result.json["echo"]?["prompt"] == "from postgres")
            // The result and its webhook delivery were committed together.
            let due = try await platform.store.dueWebhooks(now: Date().addingTimeInterval(3600), limit: 10)
            #expect(due.map(\.requestID) == [id] && due.first?.userID == key.id)
        }
    }

    @Test("keys and models scale --offline take --database")
    func commandsTakeTheDatabase() async throws {
        let url = try await PostgresTestCluster.shared.makeDatabaseURL()
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-pg-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        let create = try KeysCommand.Create.parse(["--name", "ops", "--admin", "--quiet", "--database", url, "--home", home.path])
        try await create.run()
        let scale = try ModelsCommand.Scale.parse(
            ["peregrine/waifu2x", "--offline", "--database", url, "--home", home.path, "--max-concurrency", "2"])
        try await scale.run()

        let database = ClusterDatabase(configuration: try ClusterDatabaseConfiguration(url: url))
        let run = Task { await database.run() }
        let keys = try await PostgresAPIKeyStore(database: database).listKeys()
        #expect(keys.map(\.name) == ["ops"] && keys.first?.isAdmin == true)
        let settings = try await PostgresModelSettingsStore(database: database).override(for: "peregrine/waifu2x")
        #expect(settings == ModelSettingsOverride(maxConcurrency: 2))
        // Nothing went to the embedded database.
        #expect(!FileManager.default.fileExists(atPath: home.appendingPathComponent("peregrine.sqlite").path))
        run.cancel()
        await run.value

        #expect(throws: (any Error).self) { try KeysCommand.List.parse(["--database", "mysql://x/y"]).options.resolve() }
    }
}
