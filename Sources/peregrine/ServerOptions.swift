import ArgumentParser
import Foundation
import Platform
import Server

/// The settings shared by the commands that open `$PEREGRINE_HOME`; flags override
/// `PEREGRINE_*` variables, which override the defaults.
struct ServerOptions: ParsableArguments {
    @Option(help: "Address to listen on (default 127.0.0.1).")
    var host: String?
    @Option(help: "HTTPS port (default 8443).")
    var port: Int?
    @Option(help: "Data directory (default $PEREGRINE_HOME or ~/.peregrine).")
    var home: String?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain (default: a self-signed certificate).")
    var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert.")
    var tlsKey: String?
    @Option(name: .customLong("http-port"), help: "Also serve plain HTTP on this port (behind a TLS proxy).")
    var httpPort: Int?
    @Option(name: .customLong("host-name"), help: "Extra host name or address for the self-signed certificate (repeatable).")
    var hostNames: [String] = []
    @Option(name: .customLong("public-url"), help: "Scheme, host and port used in output file URLs.")
    var publicURL: String?
    @Flag(name: .customLong("no-auth"), help: "Accept requests without an API key (local development only).")
    var noAuth = false
    @Flag(name: .customLong("no-auth-on-public-address"), help: "Allow --no-auth on a non-loopback --host (anyone who can reach it may use the server).")
    var noAuthOnPublicAddress = false
    @Flag(name: .customLong("allow-private-urls"), help: "Allow webhooks and input URLs on private/loopback addresses.")
    var allowPrivateURLs = false
    @Option(name: .customLong("result-ttl"), help: "Seconds finished requests and their files are kept (default 604800).")
    var resultTTL: Int?
    @Option(name: .customLong("max-json-bytes"), help: "Largest JSON body (default 10000000).")
    var maxJSONBytes: Int?
    @Option(name: .customLong("max-upload-bytes"), help: "Largest upload request (default 104857600).")
    var maxUploadBytes: Int?
    @Option(name: .customLong("max-queued-per-key"), help: "Most queued requests per API key before 429 (default 10000; 0: no limit).")
    var maxQueuedPerKey: Int?
    @Option(name: .customLong("idempotency-window"), help: "Seconds an Idempotency-Key holds (default 86400, at most 2592000).")
    var idempotencyWindow: Int?
    @Option(name: .customLong("result-cache-bytes"), help: "Disk budget of the result cache in bytes (default 1073741824; 0: off).")
    var resultCacheBytes: Int64?
    @Option(name: .customLong("storage-token-lifetime"), help: "Seconds a storage upload token lives (default 3600, at most 86400).")
    var storageTokenLifetime: Int?
    @Option(name: .customLong("max-request-timeout"), help: "Largest X-Fal-Request-Timeout accepted, seconds (default 604800).")
    var maxRequestTimeout: Int?
    @Option(name: .customLong("max-object-lifetime"), help: "Largest expiration_duration_seconds accepted (default 2592000).")
    var maxObjectLifetime: Int?
    @Option(name: .customLong("max-authorization-bytes"), help: "Longest Authorization header accepted (default 4096).")
    var maxAuthorizationBytes: Int?
    @Option(name: .customLong("max-header-bytes"), help: "Largest request header section, bytes (default 65536).")
    var maxHeaderBytes: Int?
    @Option(name: .customLong("input-download-timeout"), help: "Seconds one remote input URL may take to download (default 60).")
    var inputDownloadTimeout: Int?
    @Option(name: .customLong("max-concurrent-uploads"), help: "Most uploads received at once before 503 (default 8; 0: no limit).")
    var maxConcurrentUploads: Int?
    @Option(name: .customLong("upload-quota-bytes"), help: "Most bytes of uploads one API key may hold (default 10737418240; 0: no quota).")
    var uploadQuotaBytes: Int64?
    @Option(name: .customLong("max-upload-parts"), help: "Most parts of one multipart upload (default 10000).")
    var maxUploadParts: Int?
    @Option(name: .customLong("upload-timeout"), help: "Seconds one upload body may take to arrive before 408 (default 900).")
    var uploadTimeout: Int?
    @Option(name: .customLong("max-pending-uploads-per-key"), help: "Most uploads one API key may have in progress before 429 (default 1000; 0: no limit).")
    var maxPendingUploadsPerKey: Int?
    @Option(name: .customLong("max-streams-per-key"), help: "Most open status streams per API key before 429 (default 32; 0: no limit).")
    var maxStreamsPerKey: Int?
    @Option(name: .customLong("idle-timeout"), help: "Seconds before an idle or half-sent connection is closed (default 60).")
    var idleTimeout: Int?
    @Option(name: .customLong("threads"), help: "Threads of the compute pool every model shares (default 2).")
    var threads: Int?
    @Option(name: .customLong("max-connections"), help: "Most open connections per listener; more wait to be accepted (default 1024; 0: no limit).")
    var maxConnections: Int?
    @Option(name: .customLong("database"), help: "PostgreSQL URL of a cluster's shared store (postgres://user@host:port/db; default: SQLite under --home).")
    var database: String?

    /// Defaults, then the environment, then these flags.
    func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServerConfiguration {
        var c = ServerConfiguration()
        try c.apply(environment: environment)
        if let host { c.host = host }
        if let port { c.port = port }
        if let home { c.home = URL(fileURLWithPath: home, isDirectory: true) }
        if let tlsCert { c.tlsCertificatePath = tlsCert }
        if let tlsKey { c.tlsKeyPath = tlsKey }
        if let httpPort { c.httpPort = httpPort }
        if !hostNames.isEmpty { c.hostNames = hostNames }
        if let publicURL { c.publicURL = publicURL }
        if noAuth { c.authEnabled = false }
        if noAuthOnPublicAddress { c.allowNoAuthOnPublicAddress = true }
        if allowPrivateURLs { c.allowPrivateURLs = true }
        if let resultTTL { c.resultTTL = TimeInterval(resultTTL) }
        if let maxJSONBytes { c.maxJSONBytes = maxJSONBytes }
        if let maxUploadBytes { c.maxUploadBytes = maxUploadBytes }
        if let maxQueuedPerKey { c.maxQueuedPerKey = maxQueuedPerKey }
        if let idempotencyWindow { c.idempotencyWindow = TimeInterval(idempotencyWindow) }
        if let resultCacheBytes { c.resultCacheBytes = resultCacheBytes }
        if let storageTokenLifetime { c.storageTokenLifetime = TimeInterval(storageTokenLifetime) }
        if let maxRequestTimeout { c.maxRequestTimeout = TimeInterval(maxRequestTimeout) }
        if let maxObjectLifetime { c.maxObjectLifetime = TimeInterval(maxObjectLifetime) }
        if let maxAuthorizationBytes { c.maxAuthorizationBytes = maxAuthorizationBytes }
        if let maxHeaderBytes { c.maxRequestHeaderBytes = maxHeaderBytes }
        if let inputDownloadTimeout { c.inputDownloadTimeout = TimeInterval(inputDownloadTimeout) }
        if let maxConcurrentUploads { c.maxConcurrentUploads = maxConcurrentUploads }
        if let uploadQuotaBytes { c.uploadQuotaBytes = uploadQuotaBytes }
        if let maxUploadParts { c.maxUploadParts = maxUploadParts }
        if let uploadTimeout { c.uploadTimeout = TimeInterval(max(1, uploadTimeout)) }
        if let maxPendingUploadsPerKey { c.maxPendingUploadsPerKey = maxPendingUploadsPerKey }
        if let maxStreamsPerKey { c.maxStreamsPerKey = maxStreamsPerKey }
        if let idleTimeout { c.idleTimeout = TimeInterval(idleTimeout) }
        if let maxConnections { c.maxConnections = maxConnections }
        if let threads { c.computeThreads = threads }
        if let database { c.databaseURL = database }
        try c.validate()
        return c
    }
}
