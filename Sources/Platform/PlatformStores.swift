import Foundation
import JobQueue
import ServiceLifecycle

/// The stores a platform runs on: the job queue, API keys and runtime model settings, all in one
/// database, plus the services that database needs running (a connection pool, a listener).
///
/// The embedded SQLite database needs none; a cluster's PostgreSQL stores are opened by the
/// executable (which links the PostgreSQL driver) and handed in, so this target stays free of it.
public struct PlatformStores: Sendable {
    /// The job queue.
    public var jobs: any JobStore
    /// API keys.
    public var keys: any APIKeyStore
    /// Runtime model settings.
    public var modelSettings: any ModelSettingsStore
    /// The result cache's index; nil where the database keeps none (the cache is then off).
    public var resultCacheIndex: (any ResultCacheIndex)?
    /// Run first in the service group (and so stopped last), before anything uses the stores.
    public var services: [any Service]

    /// - Parameters: the stores, and the services their database needs running.
    public init(jobs: any JobStore, keys: any APIKeyStore, modelSettings: any ModelSettingsStore,
                resultCacheIndex: (any ResultCacheIndex)? = nil, services: [any Service] = []) {
        self.jobs = jobs
        self.keys = keys
        self.modelSettings = modelSettings
        self.resultCacheIndex = resultCacheIndex
        self.services = services
    }

    /// The embedded SQLite database at `configuration.databasePath` (created on first use).
    /// - Parameter resultCacheIndex: wraps the result cache's index (tests force faults with it).
    /// - Throws: when the home directory or the database cannot be opened.
    public static func sqlite(
        _ configuration: ServerConfiguration,
        resultCacheIndex: (SQLiteResultCacheIndex) -> any ResultCacheIndex = { $0 }
    ) throws -> PlatformStores {
        try FileManager.default.createDirectory(
            at: configuration.home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let database = try SQLiteDatabase(path: configuration.databasePath.path)
        return PlatformStores(
            jobs: SQLiteJobStore(database: database), keys: SQLiteAPIKeyStore(database: database),
            modelSettings: SQLiteModelSettingsStore(database: database),
            resultCacheIndex: resultCacheIndex(SQLiteResultCacheIndex(database: database)))
    }
}
