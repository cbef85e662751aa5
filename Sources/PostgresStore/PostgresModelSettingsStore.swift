import Foundation
import JobQueue
import PostgresNIO

/// Runtime model settings in the cluster database (table `model_settings`), shared by every node.
public struct PostgresModelSettingsStore: ModelSettingsStore {
    /// The shared database.
    public let database: ClusterDatabase

    /// A settings store over an open (migrated) database whose `run()` is running.
    public init(database: ClusterDatabase) {
        self.database = database
    }

    public func allOverrides() async throws -> [String: ModelSettingsOverride] {
        var result: [String: ModelSettingsOverride] = [:]
        for row in try await database.rows("SELECT * FROM model_settings") {
            let (endpoint, override) = try Self.override(row: row)
            result[endpoint] = override
        }
        return result
    }

    public func override(for endpointID: String) async throws -> ModelSettingsOverride {
        try await database.rows("SELECT * FROM model_settings WHERE endpoint_id = \(endpointID)").first
            .map { try Self.override(row: $0).1 } ?? ModelSettingsOverride()
    }

    public func setOverride(_ override: ModelSettingsOverride, for endpointID: String, now: Date) async throws {
        if override.isEmpty {
            try await database.rows("DELETE FROM model_settings WHERE endpoint_id = \(endpointID)")
            return
        }
        try await database.rows("""
            INSERT INTO model_settings
                (endpoint_id, keep_alive, min_concurrency, max_concurrency, concurrency_buffer, startup_timeout, updated_at)
            VALUES (\(endpointID), \(override.keepAlive), \(override.minConcurrency), \(override.maxConcurrency),
                \(override.concurrencyBuffer), \(override.startupTimeout), \(StoredTime.milliseconds(now)))
            ON CONFLICT (endpoint_id) DO UPDATE SET
                keep_alive = excluded.keep_alive, min_concurrency = excluded.min_concurrency,
                max_concurrency = excluded.max_concurrency, concurrency_buffer = excluded.concurrency_buffer,
                startup_timeout = excluded.startup_timeout, updated_at = excluded.updated_at
            """)
    }

    private static func override(row: PostgresRow) throws -> (String, ModelSettingsOverride) {
        do {
            let columns = row.makeRandomAccess()
            return (
                try columns["endpoint_id"].decode(String.self),
                ModelSettingsOverride(
                    keepAlive: try columns["keep_alive"].decode(Double?.self),
                    minConcurrency: try columns["min_concurrency"].decode(Int?.self),
                    maxConcurrency: try columns["max_concurrency"].decode(Int?.self),
                    concurrencyBuffer: try columns["concurrency_buffer"].decode(Int?.self),
                    startupTimeout: try columns["startup_timeout"].decode(Double?.self))
            )
        } catch {
            throw JobStoreError(.corrupt, "undecodable model_settings row", underlying: error)
        }
    }
}
