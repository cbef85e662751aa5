import Foundation
import JobQueue
import Platform
import PostgresStore

extension PlatformStores {
    /// The stores `configuration` names: a cluster's PostgreSQL (`databaseURL`, migrated before
    /// this returns; its pool and listener are `services`) or the embedded SQLite database.
    /// - Throws: when the database cannot be reached, opened or migrated.
    static func open(_ configuration: ServerConfiguration) async throws -> PlatformStores {
        guard let url = configuration.databaseURL else { return try .sqlite(configuration) }
        let database = try await ClusterDatabase.open(url: url)
        return PlatformStores(
            jobs: PostgresJobStore(database: database), keys: PostgresAPIKeyStore(database: database),
            modelSettings: PostgresModelSettingsStore(database: database), services: [database])
    }

    /// Runs `body` with the stores open and their services running, then stops the services:
    /// for the short commands that touch the store (`keys`, `models scale --offline`).
    static func with<T: Sendable>(
        _ configuration: ServerConfiguration, _ body: @Sendable (PlatformStores) async throws -> T
    ) async throws -> T {
        let stores = try await open(configuration)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for service in stores.services { group.addTask { try await service.run() } }
            do {
                let result = try await body(stores)
                group.cancelAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }
}
