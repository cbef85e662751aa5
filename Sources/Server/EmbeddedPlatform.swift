import BlobStore
import Foundation
import JobQueue
import Kernels
import Logging
import ModelKit
import Runners
import Webhooks

/// The embedded deployment's parts under `$PEREGRINE_HOME`: SQLite job and key stores, files on
/// disk, the webhook signing key, the storage-token key, and the runner-side plumbing (event hub,
/// file access, runner pool) for a set of models.
public struct EmbeddedPlatform: Sendable {
    /// Server settings.
    public let configuration: ServerConfiguration
    /// The job queue.
    public let store: SQLiteJobStore
    /// API keys (`nil` only when auth is off).
    public let keys: SQLiteAPIKeyStore
    /// Uploaded and produced files.
    public let blobs: FileBlobStore
    /// The webhook signing key.
    public let signer: WebhookSigner
    /// Job notifications and progress for waiters.
    public let hub: JobEventHub
    /// Shared state of the HTTP handlers.
    public let services: APIServices
    /// File inputs and outputs of running models.
    public let files: ServerFileAccess
    /// The runner pool serving the models.
    public let pool: RunnerPool
    /// Runtime model settings (admin API, `peregrine models scale`).
    public let modelSettings: SQLiteModelSettingsStore
    /// Where the platform logs.
    public let logger: Logger

    /// Opens (creating on first use) everything under `configuration.home`.
    /// - Parameters:
    ///   - configuration: server settings.
    ///   - models: the models to serve.
    ///   - runnerConfiguration: lease and shutdown settings.
    ///   - modelsDirectory: the weights cache (default `configuration.modelsDirectory`).
    ///   - logger: base logger.
    ///   - hostResolver: looks up webhook and input host names (default: the system resolver).
    /// - Throws: when the home directory, database or keys cannot be opened.
    public init(
        configuration: ServerConfiguration, models: [any Model], runnerConfiguration: RunnerConfiguration? = nil,
        modelsDirectory: URL? = nil, logger: Logger = Logger(label: "peregrine"),
        hostResolver: any HostResolver = SystemResolver()
    ) throws {
        try configuration.validate()
        let fm = FileManager.default
        try fm.createDirectory(at: configuration.home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let database = try SQLiteDatabase(path: configuration.databasePath.path)
        store = SQLiteJobStore(database: database)
        keys = SQLiteAPIKeyStore(database: database)
        modelSettings = SQLiteModelSettingsStore(database: database)
        blobs = try FileBlobStore(
            root: configuration.filesDirectory.path, configuration: FileBlobStoreConfiguration(
                maxParts: configuration.maxUploadParts, maxUploadsPerOwner: configuration.maxPendingUploadsPerKey))
        let secrets = configuration.home.appendingPathComponent("keys", isDirectory: true)
        try fm.createDirectory(at: secrets, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        signer = try WebhookSigner.loadOrCreate(directory: secrets.path)
        let tokens = try TokenSigner.loadOrCreate(at: secrets.appendingPathComponent("storage-token.key"))
        hub = JobEventHub(store: store)
        let registry = try ModelRegistry(models)
        services = try APIServices(
            configuration: configuration, registry: registry, store: store, keys: keys, blobs: blobs, hub: hub,
            tokens: tokens, jwks: signer.jwks.jsonData(), logger: logger, hostResolver: hostResolver)
        files = ServerFileAccess(services: services, publicBase: configuration.publicBaseURL)
        var runner = runnerConfiguration ?? RunnerConfiguration()
        runner.modelDirectory = modelsDirectory ?? configuration.modelsDirectory
        runner.maxInputFileBytes = configuration.maxUploadBytes
        if let threads = configuration.computeThreads { runner.threads = threads }
        // The process's one compute pool; the runner pool owns it and hands it to every model.
        let compute = ComputePool(threads: runner.threads)
        pool = RunnerPool(
            registry: registry, store: store, hub: hub, files: files,
            compute: ComputeResources(threads: compute.threadCount, handle: compute), configuration: runner,
            settingsStore: modelSettings, logger: logger)
        services.residency.withLock { [pool] in $0 = { pool.residencySnapshot } }
        services.pool.withLock { [pool] in $0 = pool }
        services.modelSettings.withLock { [modelSettings] in $0 = modelSettings }
        self.configuration = configuration
        self.logger = logger
    }

    /// Store maintenance: lease rescue, start deadlines, result sweeping (and the swept jobs' files).
    public func maintenance() -> JobMaintenanceService {
        JobMaintenanceService(
            store: store, configuration: JobMaintenanceConfiguration(resultTTL: configuration.resultTTL), logger: logger)
    }

    /// The stored file a URL handed out by this server names (`.../files/{id}/{name}`), or `nil`.
    public func storedFile(at url: String) async throws -> (data: Data, contentType: String, fileName: String?)? {
        guard let parsed = URL(string: url) else { return nil }
        let segments = parsed.path.split(separator: "/").map(String.init)
        guard segments.count >= 2, segments[0] == "files",
            let blob = try await FileLookup.get(segments[1], blobs: blobs, uploads: services.uploads)
        else { return nil }
        return (blob.data, blob.metadata.contentType, blob.metadata.fileName)
    }

    /// The webhook sender.
    public func webhookSender() -> WebhookSender {
        WebhookSender(
            store: store, signer: signer, urlPolicy: services.urlPolicy.policy,
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
