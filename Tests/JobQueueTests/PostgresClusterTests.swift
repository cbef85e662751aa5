import Foundation
import JobQueue
import PostgresNIO
import PostgresTestSupport
import Testing

@testable import PostgresStore

/// What only the PostgreSQL driver has: several store instances (nodes) on one database,
/// wake-ups across them through LISTEN/NOTIFY, concurrent migrations and concurrent leasers.
@Suite("PostgreSQL cluster store")
struct PostgresClusterTests {
    @Test("a job enqueued through one instance wakes a leaser on another")
    func enqueueOnOneInstanceWakesAnother() async throws {
        let configuration = try await PostgresTestCluster.shared.makeDatabase()
        let a = try await RunningClusterDatabase.open(configuration)
        let b = try await RunningClusterDatabase.open(configuration)
        let storeA = PostgresJobStore(database: a.database)
        let storeB = PostgresJobStore(database: b.database)
        let wakeUps = storeB.notifications()
        _ = try await storeA.enqueue(newJob("remote", endpoint: "acme/remote"))
        let seen = await collect(wakeUps) { $0.contains(.enqueued(endpointID: "acme/remote")) }
        #expect(seen.contains(.enqueued(endpointID: "acme/remote")))
        // The woken leaser finds the job committed.
        let leased = try await storeB.lease(endpointIDs: ["acme/remote"], owner: "node-b", limit: 1, leaseDuration: 30, now: t0)
        #expect(leased.map(\.id) == ["remote"])
        // And the first instance hears of the lease and of the result.
        let changes = storeA.notifications()
        #expect(try await storeB.finish(id: "remote", leaseToken: leased[0].leaseToken ?? "", state: .completed, result: okResult, now: t0))
        let heard = await collect(changes) { $0.contains(.changed(id: "remote")) }
        #expect(heard.contains(.changed(id: "remote")))
        #expect(try await storeA.job(id: "remote")?.state == .completed)
        await a.stop()
        await b.stop()
    }

    @Test("an instance does not hear its own changes twice")
    func ownChangesArePublishedOnce() async throws {
        let configuration = try await PostgresTestCluster.shared.makeDatabase()
        let a = try await RunningClusterDatabase.open(configuration)
        let b = try await RunningClusterDatabase.open(configuration)
        let storeA = PostgresJobStore(database: a.database)
        let local = storeA.notifications()
        let remote = PostgresJobStore(database: b.database).notifications()
        _ = try await storeA.enqueue(newJob("one", endpoint: "acme/once"))
        _ = try await storeA.enqueue(newJob("marker", endpoint: "acme/marker"))
        // B hearing the marker means A's listener has had both announcements too.
        _ = await collect(remote) { $0.contains(.enqueued(endpointID: "acme/marker")) }
        _ = try await PostgresJobStore(database: b.database).enqueue(newJob("from-b", endpoint: "acme/from-b"))
        let seen = await collect(local) { $0.contains(.enqueued(endpointID: "acme/from-b")) }
        #expect(seen.filter { $0 == .enqueued(endpointID: "acme/once") }.count == 1)
        await a.stop()
        await b.stop()
    }

    @Test("after its listener reconnects, an instance wakes its leasers for every endpoint with queued jobs")
    func listenerReconnectWakesLeasers() async throws {
        let configuration = try await PostgresTestCluster.shared.makeDatabase()
        let a = try await RunningClusterDatabase.open(configuration)
        let b = try await RunningClusterDatabase.open(configuration)
        let wakeUps = PostgresJobStore(database: a.database).notifications()
        _ = try await PostgresJobStore(database: b.database).enqueue(newJob("waiting", endpoint: "acme/gap"))
        _ = await collect(wakeUps) { $0.contains(.enqueued(endpointID: "acme/gap")) }
        // Cut every listener off (as a network failure or a server restart would).
        let cut = try await b.database.rows("""
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND query ILIKE 'LISTEN%'
            """)
        #expect(cut.count == 2)
        let seen = await collect(wakeUps) { $0.contains(.enqueued(endpointID: "acme/gap")) }
        #expect(seen.contains(.enqueued(endpointID: "acme/gap")))
        await a.stop()
        await b.stop()
    }

    @Test("concurrent leasers on two instances never take the same job")
    func concurrentLeasersSkipLockedRows() async throws {
        let configuration = try await PostgresTestCluster.shared.makeDatabase(maxConnections: 8)
        let a = try await RunningClusterDatabase.open(configuration)
        let b = try await RunningClusterDatabase.open(configuration)
        let stores = [PostgresJobStore(database: a.database), PostgresJobStore(database: b.database)]
        let count = 60
        for i in 0..<count {
            _ = try await stores[i % 2].enqueue(newJob("j\(i)", apiKeyID: i % 3 == 0 ? "k1" : "k2"))
        }
        let leased = try await withThrowingTaskGroup(of: [String].self) { group in
            for leaser in 0..<6 {
                group.addTask {
                    var mine: [String] = []
                    let store = stores[leaser % 2]
                    while true {
                        let jobs = try await store.lease(
                            endpointIDs: ["acme/upscale"], owner: "l\(leaser)", limit: 3, leaseDuration: 30, now: t0)
                        if jobs.isEmpty { break }
                        mine += jobs.map(\.id)
                    }
                    return mine
                }
            }
            var all: [String] = []
            for try await ids in group { all += ids }
            return all
        }
        #expect(leased.count == count)
        #expect(Set(leased).count == count)
        let attempts = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<count { group.addTask { try await stores[0].job(id: "j\(i)")?.attempt ?? 0 } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(attempts.allSatisfy { $0 == 1 })
        await a.stop()
        await b.stop()
    }

    @Test("concurrent submits of one key on two instances never overshoot its queue limit")
    func queueLimitHoldsAcrossInstances() async throws {
        let configuration = try await PostgresTestCluster.shared.makeDatabase(maxConnections: 8)
        let a = try await RunningClusterDatabase.open(configuration)
        let b = try await RunningClusterDatabase.open(configuration)
        let stores = [PostgresJobStore(database: a.database), PostgresJobStore(database: b.database)]
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<24 {
                group.addTask {
                    var job = newJob("k\(i)", apiKeyID: "busy")
                    job.maxQueuedForKey = 5
                    do {
                        _ = try await stores[i % 2].enqueue(job)
                        return true
                    } catch let error as JobStoreError where error.code == .queueLimit {
                        return false
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 5)
        #expect(try await stores[0].queuedCounts() == ["acme/upscale": 5])
        await a.stop()
        await b.stop()
    }

    @Test("an unreachable server is a storage error naming the database, not a hang or a trap")
    func unreachableServer() async throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("no-postgres-\(UUID().uuidString)").path
        let database = ClusterDatabase(configuration: ClusterDatabaseConfiguration(socketDirectory: missing, database: "nowhere"))
        await #expect {
            try await database.migrate()
        } throws: { error in
            (error as? JobStoreError)?.code == .storage && "\(error)".contains("nowhere")
        }
    }

    @Test("nodes migrating a fresh database at once all succeed and the schema is applied once")
    func concurrentMigrations() async throws {
        let configuration = try await PostgresTestCluster.shared.makeDatabase()
        let nodes = 8
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<nodes {
                group.addTask { try await ClusterDatabase(configuration: configuration).migrate() }
            }
            return try await group.reduce(into: [[Int]]()) { $0.append($1) }
        }
        let versions = ClusterDatabase.migrations.map(\.version)
        // Exactly one node applied each migration; the others found nothing to do.
        #expect(applied.flatMap { $0 }.sorted() == versions)
        #expect(applied.filter(\.isEmpty).count == nodes - 1)
        let database = try await RunningClusterDatabase.open(configuration)
        let rows = try await database.database.rows("SELECT version FROM schema_migrations ORDER BY version")
        #expect(try rows.map { try $0.decode(Int.self) } == versions)
        // A later start finds the schema current.
        #expect(try await database.database.migrate().isEmpty)
        await database.stop()
    }

    @Test("notification payloads round-trip, stay under PostgreSQL's limit, and skip their own origin")
    func payloads() throws {
        let many: [JobNotification] = (0..<500).map { .changed(id: "job-\($0)-\(String(repeating: "x", count: 30))") }
            + [.webhookPending, .enqueued(endpointID: "acme/ünïcode")]
        let payloads = ClusterDatabase.payloads(many, origin: "me")
        #expect(payloads.count > 1)
        #expect(payloads.allSatisfy { $0.utf8.count < 8000 })
        #expect(payloads.compactMap { ClusterDatabase.decode($0, skipping: "other") }.flatMap { $0 } == many)
        #expect(payloads.compactMap { ClusterDatabase.decode($0, skipping: "me") }.isEmpty)
        #expect(ClusterDatabase.decode("not json", skipping: "me") == nil)
    }

    @Test("database URLs: TCP, sockets, TLS modes, and precise errors")
    func urls() throws {
        let tcp = try ClusterDatabaseConfiguration(url: "postgres://app:s%40cret@db.internal:6543/peregrine?sslmode=require")
        #expect(tcp.host == "db.internal" && tcp.port == 6543 && tcp.username == "app" && tcp.password == "s@cret")
        #expect(tcp.database == "peregrine" && tcp.tls == .require && tcp.socketDirectory == nil)
        let socket = try ClusterDatabaseConfiguration(url: "postgresql://postgres@localhost/jobs?host=/run/pg&max_connections=4")
        #expect(socket.socketPath == "/run/pg/.s.PGSQL.5432" && socket.database == "jobs" && socket.maxConnections == 4)
        let defaults = try ClusterDatabaseConfiguration(url: "postgres://")
        #expect(defaults.username == "postgres" && defaults.database == "postgres" && defaults.tls == .prefer)
        for bad in ["mysql://x/y", "postgres://h/db?sslmode=sometimes", "postgres://h/db?host=relative",
                    "postgres://h/db?max_connections=0", "postgres://h/db?color=blue", "postgres://h:0/db"] {
            #expect(throws: JobStoreError.self) { try ClusterDatabaseConfiguration(url: bad) }
        }
    }
}

/// The PostgreSQL key and settings stores, tested as the SQLite ones are.
@Suite("PostgreSQL key and settings stores")
struct PostgresKeyAndSettingsStoreTests {
    @Test func createVerifyAndRevoke() async throws {
        let database = try await RunningClusterDatabase.open(try await PostgresTestCluster.shared.makeDatabase())
        let store = PostgresAPIKeyStore(database: database.database)
        let (key, secret) = try await store.createKey(name: "ci", now: t0)
        #expect(key.id.hasPrefix("pk_") && key.id.count > 10 && secret.count == 43)
        #expect(key.name == "ci" && key.createdAt == t0 && key.revokedAt == nil && !key.isAdmin)
        #expect(try await store.verify(id: key.id, secret: secret) == key)
        #expect(try await store.verify(id: key.id, secret: secret + "x") == nil)
        #expect(try await store.verify(id: "pk_unknown", secret: secret) == nil)
        #expect(try await store.isActive(id: key.id))
        #expect(try await store.revokeKey(id: key.id, now: t0.addingTimeInterval(5)))
        #expect(try await store.verify(id: key.id, secret: secret) == nil)
        #expect(try await store.isActive(id: key.id) == false)
        #expect(try await store.listKeys().first?.revokedAt == t0.addingTimeInterval(5))
        #expect(try await store.revokeKey(id: "pk_unknown", now: t0) == false)
        await database.stop()
    }

    @Test func adminKeysAndNewestFirst() async throws {
        let database = try await RunningClusterDatabase.open(try await PostgresTestCluster.shared.makeDatabase())
        let store = PostgresAPIKeyStore(database: database.database)
        let a = try await store.createKey(name: "a", now: t0)
        let b = try await store.createKey(name: "b", isAdmin: true, now: t0.addingTimeInterval(1))
        let c = try await store.createKey(name: "c", now: t0.addingTimeInterval(1))
        #expect(a.key.id != b.key.id && a.secret != b.secret)
        #expect(try await store.listKeys().map(\.name) == ["c", "b", "a"])
        #expect(try await store.verify(id: b.key.id, secret: b.secret)?.isAdmin == true)
        #expect(try await store.verify(id: a.key.id, secret: c.secret) == nil)
        await database.stop()
    }

    @Test func secretIsStoredOnlyAsASaltedHash() async throws {
        let database = try await RunningClusterDatabase.open(try await PostgresTestCluster.shared.makeDatabase())
        let store = PostgresAPIKeyStore(database: database.database)
        let (key, secret) = try await store.createKey(name: "x", now: t0)
        let row = try #require(try await database.database.rows(
            "SELECT salt, secret_hash, row_to_json(api_keys)::text FROM api_keys WHERE id = \(key.id)").first)
        let (salt, hash, text) = try row.decode((Data, Data, String).self)
        #expect(salt.count == 16 && hash.count == 32)
        #expect(hash == APIKeySecret.hash(secret: secret, salt: salt))
        #expect(!text.contains(secret))
        await database.stop()
    }

    @Test("overrides round-trip, replace the previous ones, an empty one deletes the row, another node reads them")
    func settingsRoundTrip() async throws {
        let configuration = try await PostgresTestCluster.shared.makeDatabase()
        let database = try await RunningClusterDatabase.open(configuration)
        let store = PostgresModelSettingsStore(database: database.database)
        #expect(try await store.override(for: "a/b").isEmpty)
        let first = ModelSettingsOverride(keepAlive: 12.5, minConcurrency: 1, maxConcurrency: 3, concurrencyBuffer: 2, startupTimeout: 90)
        try await store.setOverride(first, for: "a/b", now: Date())
        #expect(try await store.override(for: "a/b") == first)
        let second = ModelSettingsOverride(maxConcurrency: 2)
        try await store.setOverride(second, for: "a/b", now: Date())
        try await store.setOverride(ModelSettingsOverride(keepAlive: 1), for: "c/d", now: Date())
        #expect(try await store.allOverrides() == ["a/b": second, "c/d": ModelSettingsOverride(keepAlive: 1)])
        try await store.setOverride(ModelSettingsOverride(), for: "a/b", now: Date())
        #expect(try await store.allOverrides().keys.sorted() == ["c/d"])
        let other = try await RunningClusterDatabase.open(configuration)
        #expect(try await PostgresModelSettingsStore(database: other.database).override(for: "c/d").keepAlive == 1)
        await database.stop()
        await other.stop()
    }
}
