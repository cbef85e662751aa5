import BlobStore
import Foundation
import JobQueue
import Kernels
import Logging
import ModelKit
import Runners
import ServiceLifecycle
import Webhooks

/// The deployment's parts: job, key and settings stores (SQLite under `$PEREGRINE_HOME`, or a
/// cluster's PostgreSQL handed in as `PlatformStores`), files on disk under `$PEREGRINE_HOME`,
/// the webhook signing key, the storage-token key, and the runner-side plumbing (event hub,
/// file access, job submitter, runner pool, metrics) for a set of models, each built once and
/// handed to what needs it.
public struct EmbeddedPlatform: Sendable {
    /// Server settings.
    public let configuration: ServerConfiguration
    /// The job queue.
    public let store: any JobStore
    /// API keys.
    public let keys: any APIKeyStore
    /// Uploaded and produced files.
    public let blobs: FileBlobStore
    /// The webhook signing key.
    public let signer: WebhookSigner
    /// The signer of storage tokens.
    public let tokens: TokenSigner
    /// The served models.
    public let registry: ModelRegistry
    /// Upload ids handed out before their blob existed, by the blob each became.
    public let uploads: UploadIndex
    /// Which outbound URLs (webhooks, remote inputs) are allowed.
    public let urlPolicy: URLPolicy
    /// Job notifications and progress for waiters.
    public let hub: JobEventHub
    /// File inputs and outputs of running models, over the blob store.
    public let files: BlobFileAccess
    /// Checks requests and queues them (HTTP routes, `peregrine run`, benchmarks).
    public let submitter: JobSubmitter
    /// The runner pool serving the models.
    public let pool: RunnerPool
    /// Stored results of deterministic requests, shared by identical ones; nil where the
    /// database keeps no result cache index (PostgreSQL, for now).
    public let resultCache: ResultCache?
    /// Runtime model settings (admin API, `peregrine models scale`).
    public let modelSettings: any ModelSettingsStore
    /// What the stores' database needs running (first in the service group).
    public let storeServices: [any Service]
    /// The metrics registry `/metrics` exposes.
    public let metrics: PlatformMetrics
    /// Where the platform logs.
    public let logger: Logger

    /// Opens (creating on first use) everything under `configuration.home`, with the embedded
    /// SQLite stores.
    /// - Parameters:
    ///   - configuration: server settings.
    ///   - models: the models to serve.
    ///   - runnerConfiguration: lease and shutdown settings.
    ///   - modelsDirectory: the weights cache (default `configuration.modelsDirectory`).
    ///   - logger: base logger.
    ///   - hostResolver: looks up webhook and input host names (default: the system resolver).
    ///   - resultCacheIndex: wraps the result cache's index over the database (default: as is).
    /// - Throws: when the home directory, database or keys cannot be opened.
    public init(
        configuration: ServerConfiguration, models: [any Model], runnerConfiguration: RunnerConfiguration? = nil,
        modelsDirectory: URL? = nil, logger: Logger = Logger(label: "peregrine"),
        hostResolver: any HostResolver = SystemResolver(),
        resultCacheIndex: (SQLiteResultCacheIndex) -> any ResultCacheIndex = { $0 }
    ) throws {
        try configuration.validate()
        try self.init(
            configuration: configuration, stores: try .sqlite(configuration, resultCacheIndex: resultCacheIndex), models: models,
            runnerConfiguration: runnerConfiguration, modelsDirectory: modelsDirectory, logger: logger,
            hostResolver: hostResolver)
    }

    /// Opens everything under `configuration.home` around the given stores.
    /// - Parameters:
    ///   - configuration: server settings.
    ///   - stores: the job, key and settings stores (and their database's services).
    ///   - models: the models to serve.
    ///   - runnerConfiguration: lease and shutdown settings.
    ///   - modelsDirectory: the weights cache (default `configuration.modelsDirectory`).
    ///   - logger: base logger.
    ///   - hostResolver: looks up webhook and input host names (default: the system resolver).
    /// - Throws: when the home directory, database or keys cannot be opened.
    public init(
        configuration: ServerConfiguration, stores: PlatformStores, models: [any Model],
        runnerConfiguration: RunnerConfiguration? = nil, modelsDirectory: URL? = nil,
        logger: Logger = Logger(label: "peregrine"), hostResolver: any HostResolver = SystemResolver()
    ) throws {
        try configuration.validate()
        let fm = FileManager.default
        try fm.createDirectory(at: configuration.home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        store = stores.jobs
        keys = stores.keys
        modelSettings = stores.modelSettings
        storeServices = stores.services
        blobs = try FileBlobStore(
            root: configuration.filesDirectory.path, configuration: FileBlobStoreConfiguration(
                maxParts: configuration.maxUploadParts, maxUploadsPerOwner: configuration.maxPendingUploadsPerKey))
        let secrets = configuration.home.appendingPathComponent("keys", isDirectory: true)
        try fm.createDirectory(at: secrets, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        signer = try WebhookSigner.loadOrCreate(directory: secrets.path)
        tokens = try TokenSigner.loadOrCreate(at: secrets.appendingPathComponent("storage-token.key"))
        hub = JobEventHub(store: store)
        registry = try ModelRegistry(models)
        uploads = try UploadIndex(directory: configuration.home.appendingPathComponent("upload-index", isDirectory: true))
        urlPolicy = URLPolicy(allowPrivate: configuration.allowPrivateURLs, resolver: hostResolver)
        files = BlobFileAccess(blobs: blobs, uploads: uploads, policy: urlPolicy, configuration: configuration)
        // Only where the database keeps a result cache index (the embedded SQLite one).
        let resultCache: ResultCache? = if let index = stores.resultCacheIndex {
            ResultCache(index: index, blobs: blobs, uploads: uploads, files: files, registry: registry, configuration: configuration, logger: logger)
        } else {
            nil
        }
        self.resultCache = resultCache
        let metrics = PlatformMetrics()
        self.metrics = metrics
        var submitter = JobSubmitter(registry: registry, store: store, urlPolicy: urlPolicy, configuration: configuration)
        submitter.resultCache = resultCache
        submitter.metrics = metrics
        self.submitter = submitter
        var runner = runnerConfiguration ?? RunnerConfiguration()
        runner.modelDirectory = modelsDirectory ?? configuration.modelsDirectory
        runner.maxInputFileBytes = configuration.maxUploadBytes
        if let threads = configuration.computeThreads { runner.threads = threads }
        // The process's one compute pool; the runner pool owns it and hands it to every model.
        let compute = ComputePool(threads: runner.threads)
        pool = RunnerPool(
            registry: registry, store: store, hub: hub, files: files,
            compute: ComputeResources(threads: compute.threadCount, handle: compute), configuration: runner,
            settingsStore: modelSettings, logger: logger, metrics: metrics.poolMetrics(models: registry.endpointIDs),
            resultCache: configuration.resultCacheBytes > 0 ? resultCache : nil)
        self.configuration = configuration
        self.logger = logger
    }

    /// Store maintenance: lease rescue, start deadlines, result sweeping (and the swept jobs' files),
    /// expired idempotency keys.
    public func maintenance() -> JobMaintenanceService {
        JobMaintenanceService(
            store: store, idempotency: store as? any IdempotencyStore, configuration: JobMaintenanceConfiguration(resultTTL: configuration.resultTTL),
            logger: logger)
    }

    /// Deletes expired files and prunes the upload index, periodically.
    public func fileSweeper() -> FileSweeper {
        FileSweeper(blobs: blobs, uploads: uploads, logger: logger)
    }

    /// The webhook sender.
    public func webhookSender() -> WebhookSender {
        WebhookSender(
            store: store, signer: signer, urlPolicy: urlPolicy.policy,
            configuration: WebhookSenderConfiguration(retry: WebhookRetryPolicy(initialDelay: configuration.webhookRetryInitialDelay)),
            logger: logger)
    }
}

extension ServerConfiguration {
    /// Scheme, host and port of the URLs this server hands out for stored files: the configured
    /// public URL, else the TLS listener (loopback when bound to every interface).
    public var publicBaseURL: String {
        if let publicURL { return publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL }
        let h = (host == "0.0.0.0" || host == "::") ? "127.0.0.1" : host
        return "https://\(h.contains(":") ? "[\(h)]" : h):\(port)"
    }
}
