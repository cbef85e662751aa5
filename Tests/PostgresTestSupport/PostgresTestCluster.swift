import Foundation
import Logging
import PostgresNIO
import PostgresStore

#if canImport(Glibc)
import Glibc
#endif

/// The tests' PostgreSQL cluster, from `PEREGRINE_TEST_POSTGRES_URL` (set by scripts/test.sh)
/// or, when that is unset, started through scripts/postgres.sh itself. Each test gets databases
/// of its own: `makeDatabase()` creates one with a unique name, and databases left by test
/// processes that have ended are dropped on first use. There is no silent skip: a cluster that
/// cannot be reached fails the test that needed it, saying why.
public actor PostgresTestCluster {
    /// The one cluster of this test process.
    public static let shared = PostgresTestCluster()

    private var server: ClusterDatabaseConfiguration?
    private var serverURL: String?
    private var counter = 0
    private let logger = Logger(label: "peregrine.tests.postgres")

    /// A new, empty database's settings (its name is unique in the cluster). Not migrated.
    /// - Parameter maxConnections: the pool size for stores opened on it.
    public func makeDatabase(maxConnections: Int = 4) async throws -> ClusterDatabaseConfiguration {
        let server = try await serverConfiguration()
        counter += 1
        let name = "peregrine_t_\(getpid())_\(counter)_\(UUID().uuidString.prefix(8).lowercased())"
        // Database names are identifiers, which cannot be bound parameters; this one is ours.
        try await execute("CREATE DATABASE \"\(name)\" STRATEGY FILE_COPY", on: server)
        var database = server.with(database: name)
        database.maxConnections = maxConnections
        return database
    }

    /// A new, empty database as a URL (what `--database` takes). Not migrated.
    public func makeDatabaseURL() async throws -> String {
        let database = try await makeDatabase().database
        guard let serverURL, var components = URLComponents(string: serverURL) else {
            throw PostgresTestClusterError("the test cluster's URL does not parse")
        }
        components.path = "/" + database
        guard let url = components.string else { throw PostgresTestClusterError("cannot build a database URL") }
        return url
    }

    /// Drops a database made by `makeDatabase` (closing whatever is still connected to it).
    public func dropDatabase(_ name: String) async throws {
        try await execute("DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)", on: try await serverConfiguration())
    }

    private func serverConfiguration() async throws -> ClusterDatabaseConfiguration {
        if let server { return server }
        let url = try Self.clusterURL()
        let configuration = try ClusterDatabaseConfiguration(url: url)
        server = configuration
        serverURL = url
        try await dropLeftovers(on: configuration)
        return configuration
    }

    /// Drops the databases of test processes that are no longer running.
    private func dropLeftovers(on server: ClusterDatabaseConfiguration) async throws {
        let connection = try await connect(server)
        defer { Task { [connection] in try? await connection.close() } }
        var stale: [String] = []
        let names = try await connection.query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'peregrine\\_t\\_%'", logger: logger
        ).decode(String.self)
        for try await name in names {
            let parts = name.split(separator: "_")
            guard parts.count >= 4, let pid = Int32(parts[2]) else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { stale.append(name) }
        }
        // Four at a time: a run may leave a hundred behind.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<4 {
                let names = stride(from: lane, to: stale.count, by: 4).map { stale[$0] }
                guard !names.isEmpty else { continue }
                group.addTask {
                    for name in names {
                        try await self.execute("DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)", on: server)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    private func execute(_ sql: String, on server: ClusterDatabaseConfiguration) async throws {
        let connection = try await connect(server)
        do {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    private func connect(_ server: ClusterDatabaseConfiguration) async throws -> PostgresConnection {
        do {
            return try await PostgresConnection.connect(
                configuration: try server.connectionConfiguration(), id: 0, logger: logger)
        } catch {
            throw PostgresTestClusterError(
                "cannot connect to the test cluster at \(server.socketDirectory ?? server.host) (\(String(reflecting: error))); "
                    + "start it with scripts/postgres.sh and export PEREGRINE_TEST_POSTGRES_URL")
        }
    }

    /// `PEREGRINE_TEST_POSTGRES_URL`, or the URL scripts/postgres.sh prints after starting the cluster.
    static func clusterURL() throws -> String {
        if let url = ProcessInfo.processInfo.environment["PEREGRINE_TEST_POSTGRES_URL"], !url.isEmpty { return url }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let script = root.appendingPathComponent("scripts/postgres.sh").path
        // The URL comes back through a file, not a pipe: the server the script starts lives on,
        // and a descriptor it kept would hold a pipe open forever.
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-postgres-url-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: output.path, contents: nil),
            let handle = FileHandle(forWritingAtPath: output.path)
        else { throw PostgresTestClusterError("cannot create \(output.path)") }
        defer { try? FileManager.default.removeItem(at: output) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        do {
            try process.run()
        } catch {
            throw PostgresTestClusterError("cannot run \(script): \(error)")
        }
        process.waitUntilExit()
        try? handle.close()
        let data = (try? Data(contentsOf: output)) ?? Data()
        let url = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        guard process.terminationStatus == 0, url.hasPrefix("postgres") else {
            throw PostgresTestClusterError(
                "PEREGRINE_TEST_POSTGRES_URL is not set and \(script) could not start the test cluster "
                    + "(exit \(process.terminationStatus)); the PostgreSQL tests need it")
        }
        return url
    }
}

/// The test cluster could not be had; the message says what to do.
public struct PostgresTestClusterError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
