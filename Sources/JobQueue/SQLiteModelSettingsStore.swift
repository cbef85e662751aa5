import Foundation
import GRDB

/// Runtime model settings in the embedded database (table `model_settings`).
public struct SQLiteModelSettingsStore: ModelSettingsStore {
    /// The shared database (also used by `SQLiteJobStore`).
    public let database: SQLiteDatabase

    /// A settings store over an open database.
    public init(database: SQLiteDatabase) {
        self.database = database
    }

    public func allOverrides() async throws -> [String: ModelSettingsOverride] {
        try await database.read { db in
            var result: [String: ModelSettingsOverride] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM model_settings") {
                result[row["endpoint_id"]] = Self.override(row: row)
            }
            return result
        }
    }

    public func override(for endpointID: String) async throws -> ModelSettingsOverride {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM model_settings WHERE endpoint_id = ?", arguments: [endpointID])
                .map(Self.override(row:)) ?? ModelSettingsOverride()
        }
    }

    public func setOverride(_ override: ModelSettingsOverride, for endpointID: String, now: Date) async throws {
        let updated = StoredTime.milliseconds(now)
        try await database.write { db in
            if override.isEmpty {
                try db.execute(sql: "DELETE FROM model_settings WHERE endpoint_id = ?", arguments: [endpointID])
                return
            }
            try db.execute(
                sql: """
                    INSERT INTO model_settings
                        (endpoint_id, keep_alive, min_concurrency, max_concurrency, concurrency_buffer, startup_timeout, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (endpoint_id) DO UPDATE SET
                        keep_alive = excluded.keep_alive, min_concurrency = excluded.min_concurrency,
                        max_concurrency = excluded.max_concurrency, concurrency_buffer = excluded.concurrency_buffer,
                        startup_timeout = excluded.startup_timeout, updated_at = excluded.updated_at
                    """,
                arguments: [
                    endpointID, override.keepAlive, override.minConcurrency, override.maxConcurrency,
                    override.concurrencyBuffer, override.startupTimeout, updated,
                ])
        }
    }

    private static func override(row: Row) -> ModelSettingsOverride {
        ModelSettingsOverride(
            keepAlive: row["keep_alive"], minConcurrency: row["min_concurrency"], maxConcurrency: row["max_concurrency"],
            concurrencyBuffer: row["concurrency_buffer"], startupTimeout: row["startup_timeout"])
    }
}
