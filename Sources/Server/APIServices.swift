import BlobStore
import Foundation
import JobQueue
import Logging
import NIOConcurrencyHelpers
import Runners
import Webhooks

/// Everything the HTTP handlers share: configuration, models, stores, auth, policies.
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
    /// Reads the runner pool's residency state for `/metrics`; set once the pool exists.
    let residency = NIOLockedValueBox<(@Sendable () -> ResidencyStateMachine)?>(nil)
    /// The runner pool, for the admin API and `/metrics`; set once the pool exists.
    let pool = NIOLockedValueBox<RunnerPool?>(nil)
    /// Persisted runtime model settings, for the admin API.
    let modelSettings = NIOLockedValueBox<(any ModelSettingsStore)?>(nil)

    /// - Parameters:
    ///   - configuration: server settings.
    ///   - registry: served models.
    ///   - store: the job queue.
    ///   - keys: API keys (`nil` only with auth off).
    ///   - blobs: uploaded and produced files.
    ///   - hub: job notifications (must run as a service).
    ///   - tokens: signer of storage tokens.
    ///   - jwks: the webhook public keys (`{"keys": [...]}`).
    ///   - logger: where the server logs.
    ///   - hostResolver: looks up webhook and input host names (default: the system resolver).
    /// - Throws: file-system errors creating the upload index.
    public init(
        configuration: ServerConfiguration, registry: ModelRegistry, store: any JobStore, keys: (any APIKeyStore)?,
        blobs: any BlobStore, hub: JobEventHub, tokens: TokenSigner, jwks: Data,
        logger: Logger = Logger(label: "peregrine.server"), hostResolver: any HostResolver = SystemResolver()
    ) throws {
        self.configuration = configuration
        self.registry = registry
        self.store = store
        self.keys = keys
        self.blobs = blobs
        self.hub = hub
        self.tokens = tokens
        self.jwks = jwks
        self.logger = logger
        auth = Authenticator(
            keys: keys, tokens: tokens, enabled: configuration.authEnabled, cacheLifetime: configuration.authCacheLifetime,
            maxHeaderBytes: configuration.maxAuthorizationBytes,
            maxTokenLifetime: min(configuration.storageTokenLifetime, ServerConfiguration.maxStorageTokenLifetime))
        uploads = try UploadIndex(directory: configuration.home.appendingPathComponent("upload-index", isDirectory: true))
        uploadGate = UploadGate(limit: configuration.maxConcurrentUploads)
        urlPolicy = URLPolicy(allowPrivate: configuration.allowPrivateURLs, resolver: hostResolver)
        streams = StreamLimiter(limit: configuration.maxStreamsPerKey)
    }
}
