import BlobStore
import Foundation
import JobQueue
import Logging
import Platform
import Runners

/// Everything the HTTP handlers share: the platform's parts they call (all passed in, none set
/// later), and the state that exists only at the HTTP edge: authentication, upload and stream
/// limits.
public struct APIServices: Sendable {
    /// Server settings.
    public let configuration: ServerConfiguration
    /// The served models.
    public let registry: ModelRegistry
    /// The job queue.
    public let store: any JobStore
    /// API keys (`nil` only when auth is off).
    public let keys: (any APIKeyStore)?
    /// Uploaded and produced files.
    public let blobs: any BlobStore
    /// Job notifications and progress for waiters.
    public let hub: JobEventHub
    /// Checks requests and queues them.
    let submitter: JobSubmitter
    /// The runner pool in this process, for cancellation, the admin API and `/metrics`.
    let pool: RunnerPool?
    /// Start and finish forecasts (status `eta_*`, refusing hopeless timeouts), when a runner
    /// pool runs here and the store can place jobs in its lease order.
    let predictor: StartPredictor?
    /// Persisted runtime model settings, for the admin API.
    let modelSettings: (any ModelSettingsStore)?
    /// What `/metrics` exposes.
    let metrics: PlatformMetrics
    let auth: Authenticator
    let tokens: TokenSigner
    let uploads: UploadIndex
    /// Caps concurrent uploads.
    let uploadGate: UploadGate
    /// Open status streams per API key (`ServerConfiguration.maxStreamsPerKey`).
    let streams: StreamLimiter
    /// Decides which outbound URLs (webhooks, remote inputs) are allowed.
    let urlPolicy: URLPolicy
    /// The webhook signing keys as a JWKS document.
    let jwks: Data
    let logger: Logger

    /// The services over an opened embedded platform.
    public init(platform p: EmbeddedPlatform) {
        self.init(
            configuration: p.configuration, registry: p.registry, store: p.store, keys: p.keys, blobs: p.blobs, hub: p.hub,
            uploads: p.uploads, urlPolicy: p.urlPolicy, submitter: p.submitter, pool: p.pool, modelSettings: p.modelSettings,
            metrics: p.metrics, tokens: p.tokens, jwks: p.signer.jwks.jsonData(), logger: p.logger)
    }

    /// - Parameters:
    ///   - configuration: server settings.
    ///   - registry: served models.
    ///   - store: the job queue.
    ///   - keys: API keys (`nil` only with auth off).
    ///   - blobs: uploaded and produced files.
    ///   - hub: job notifications (must run as a service).
    ///   - uploads: the upload index.
    ///   - urlPolicy: which outbound URLs are allowed.
    ///   - submitter: checks and queues requests.
    ///   - pool: the runner pool in this process, if any.
    ///   - modelSettings: persisted runtime model settings, if any.
    ///   - metrics: the metrics registry.
    ///   - tokens: signer of storage tokens.
    ///   - jwks: the webhook public keys (`{"keys": [...]}`).
    ///   - logger: where the server logs.
    public init(
        configuration: ServerConfiguration, registry: ModelRegistry, store: any JobStore, keys: (any APIKeyStore)?,
        blobs: any BlobStore, hub: JobEventHub, uploads: UploadIndex, urlPolicy: URLPolicy, submitter: JobSubmitter,
        pool: RunnerPool?, modelSettings: (any ModelSettingsStore)?, metrics: PlatformMetrics, tokens: TokenSigner, jwks: Data,
        logger: Logger = Logger(label: "peregrine.server")
    ) {
        self.configuration = configuration
        self.registry = registry
        self.store = store
        self.keys = keys
        self.blobs = blobs
        self.hub = hub
        self.uploads = uploads
        self.urlPolicy = urlPolicy
        self.submitter = submitter
        self.pool = pool
        predictor = pool.flatMap { pool in (store as? any QueueForecastStore).map { StartPredictor(pool: pool, store: $0) } }
        self.modelSettings = modelSettings
        self.metrics = metrics
        self.tokens = tokens
        self.jwks = jwks
        self.logger = logger
        auth = Authenticator(
            keys: keys, tokens: tokens, enabled: configuration.authEnabled, cacheLifetime: configuration.authCacheLifetime,
            maxHeaderBytes: configuration.maxAuthorizationBytes,
            maxTokenLifetime: min(configuration.storageTokenLifetime, ServerConfiguration.maxStorageTokenLifetime))
        uploadGate = UploadGate(limit: configuration.maxConcurrentUploads)
        streams = StreamLimiter(limit: configuration.maxStreamsPerKey)
    }
}
