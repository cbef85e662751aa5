import BlobStore
import Foundation
import JobQueue
import ModelKit
import Platform
import Runners
import Server
import TestSupport

/// A `JobStore` over SQLite that counts full job reads (the ones that load input and result
/// payloads) and can be told to lose every notification, as a broken notification path would:
/// then only periodic re-checks move waiters and runners.
/// `@unchecked Sendable`: `fullReads` is only touched under `lock`.
final class SpyJobStore: JobStore, @unchecked Sendable {
    let base: SQLiteJobStore
    /// False: `notifications()` streams never deliver anything.
    let deliversNotifications: Bool
    private let lock = NSLock()
    private var fullReads: [String: Int] = [:]

    init(base: SQLiteJobStore, deliversNotifications: Bool = true) {
        self.base = base
        self.deliversNotifications = deliversNotifications
    }

    /// Full reads of job `id` so far.
    func fullReads(of id: String) -> Int { lock.withLock { fullReads[id, default: 0] } }

    func job(id: String) async throws -> Job? {
        lock.withLock { fullReads[id, default: 0] += 1 }
        return try await base.job(id: id)
    }

    func jobWithoutPayloads(id: String) async throws -> Job? { try await base.jobWithoutPayloads(id: id) }

    func notifications() -> AsyncStream<JobNotification> {
        // A stream that stays open and silent: every notification is lost.
        deliversNotifications ? base.notifications() : AsyncStream.makeStream(of: JobNotification.self).stream
    }

    func enqueue(_ job: NewJob) async throws -> Job { try await base.enqueue(job) }
    func queuePosition(id: String) async throws -> Int? { try await base.queuePosition(id: id) }
    func lease(endpointIDs: [String], owner: String, limit: Int, leaseDuration: TimeInterval, now: Date) async throws -> [Job] {
        try await base.lease(endpointIDs: endpointIDs, owner: owner, limit: limit, leaseDuration: leaseDuration, now: now)
    }
    func extendLease(id: String, leaseToken: String, until: Date) async throws -> Bool {
        try await base.extendLease(id: id, leaseToken: leaseToken, until: until)
    }
    func finish(id: String, leaseToken: String, state: JobState, result: JobResult, now: Date) async throws -> Bool {
        try await base.finish(id: id, leaseToken: leaseToken, state: state, result: result, now: now)
    }
    func release(id: String, leaseToken: String, retryable: Bool, result: JobResult, now: Date) async throws -> JobState? {
        try await base.release(id: id, leaseToken: leaseToken, retryable: retryable, result: result, now: now)
    }
    func cancel(id: String, now: Date) async throws -> CancelOutcome { try await base.cancel(id: id, now: now) }
    func appendLogs(id: String, lines: [JobLogLine]) async throws { try await base.appendLogs(id: id, lines: lines) }
    func logs(id: String) async throws -> [JobLogLine] { try await base.logs(id: id) }
    func rescueExpiredLeases(now: Date) async throws -> [String] { try await base.rescueExpiredLeases(now: now) }
    func expireStartDeadlines(now: Date) async throws -> [String] { try await base.expireStartDeadlines(now: now) }
    func sweep(finishedBefore: Date) async throws -> [String] { try await base.sweep(finishedBefore: finishedBefore) }
    func dropPayloads(id: String) async throws { try await base.dropPayloads(id: id) }
    func dueWebhooks(now: Date, limit: Int) async throws -> [WebhookDelivery] { try await base.dueWebhooks(now: now, limit: limit) }
    func recordWebhookAttempt(id: Int64, delivered: Bool, nextAttemptAt: Date?, error: String?, now: Date) async throws {
        try await base.recordWebhookAttempt(id: id, delivered: delivered, nextAttemptAt: nextAttemptAt, error: error, now: now)
    }
}

/// The server's handlers, event hub and runner pool over a `SpyJobStore`, with the test models.
struct SpyPlatform: Sendable {
    let spy: SpyJobStore
    let services: APIServices
    let hub: JobEventHub
    let pool: RunnerPool
    let gate: Gate
    let started: AsyncStream<String>
    let home: URL

    /// - Parameters:
    ///   - deliversNotifications: false to lose every notification (see `SpyJobStore`); the
    ///     runner pool then finds queued jobs by its idle re-check alone.
    ///   - configure: adjusts the server settings (auth is off by default).
    init(deliversNotifications: Bool = true, _ configure: (inout ServerConfiguration) -> Void = { _ in }) throws {
        var configuration = ServerConfiguration()
        configuration.home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-spy-\(UUID().uuidString)")
        configuration.authEnabled = false
        configuration.ssePingInterval = 0.05
        configure(&configuration)
        home = configuration.home
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let database = try SQLiteDatabase(path: configuration.databasePath.path)
        spy = SpyJobStore(base: SQLiteJobStore(database: database), deliversNotifications: deliversNotifications)
        let (started, startedContinuation) = AsyncStream<String>.makeStream()
        let gate = Gate()
        self.gate = gate
        self.started = started
        let registry = try ModelRegistry([EchoModel(), GatedModel(gate: gate, started: startedContinuation)])
        hub = JobEventHub(store: spy)
        let blobs = try FileBlobStore(root: configuration.filesDirectory.path)
        let uploads = try UploadIndex(directory: home.appendingPathComponent("upload-index", isDirectory: true))
        let policy = URLPolicy(allowPrivate: configuration.allowPrivateURLs)
        let pool = RunnerPool(
            registry: registry, store: spy, hub: hub,
            files: BlobFileAccess(blobs: blobs, uploads: uploads, policy: policy, configuration: configuration),
            compute: ComputeResources(threads: 1, handle: FixtureComputePool()),
            configuration: RunnerConfiguration(
                leaseDuration: 60, shutdownGracePeriod: 1, idleRecheckInterval: deliversNotifications ? 5 : 0.05))
        self.pool = pool
        services = APIServices(
            configuration: configuration, registry: registry, store: spy, keys: SQLiteAPIKeyStore(database: database),
            blobs: blobs, hub: hub, uploads: uploads, urlPolicy: policy,
            submitter: JobSubmitter(registry: registry, store: spy, urlPolicy: policy, configuration: configuration), pool: pool,
            modelSettings: nil, metrics: PlatformMetrics(),
            tokens: try TokenSigner.loadOrCreate(at: home.appendingPathComponent("token.key")), jwks: Data("{}".utf8))
    }
}

/// The fixture models compute nothing: a placeholder for the engine's pool.
private final class FixtureComputePool: Sendable {}
