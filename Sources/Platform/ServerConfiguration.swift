import Foundation

/// Every setting of `peregrine serve`, with its default. Precedence (applied by the command):
/// flags > environment (`PEREGRINE_*`) > defaults.
public struct ServerConfiguration: Sendable, Equatable {
    /// Address the TLS listener binds (default `127.0.0.1`).
    public var host: String = "127.0.0.1"
    /// TLS port (default 8443).
    public var port: Int = 8443
    /// Data directory: database, files, certificates, models (default `~/.peregrine`).
    public var home: URL = ServerConfiguration.defaultHome
    /// PEM certificate chain to serve instead of the self-signed one.
    public var tlsCertificatePath: String?
    /// PEM private key for `tlsCertificatePath`.
    public var tlsKeyPath: String?
    /// Scheme, host and port used in output file URLs (default: the TLS listener).
    public var publicURL: String?
    /// Extra plain-HTTP port (for use behind a TLS-terminating proxy); off by default.
    public var httpPort: Int?
    /// Host names the self-signed certificate names besides 127.0.0.1, ::1 and localhost.
    public var hostNames: [String] = []
    /// Require an API key (default on). Off only for local development: `validate` refuses it
    /// on a non-loopback `host` unless `allowNoAuthOnPublicAddress` is set too.
    public var authEnabled: Bool = true
    /// Allow `authEnabled == false` on an address other hosts can reach (default off): a
    /// second, explicit switch, so one flag cannot open the server to the network.
    public var allowNoAuthOnPublicAddress: Bool = false
    /// Accept webhook and input URLs on private, loopback and link-local addresses.
    public var allowPrivateURLs: Bool = false
    /// How long finished requests (and their files) are kept, in seconds (default 7 days).
    public var resultTTL: TimeInterval = 7 * 24 * 3600
    /// Largest JSON request body (default 10 MB).
    public var maxJSONBytes: Int = 10_000_000
    /// Largest upload (default 100 MiB).
    public var maxUploadBytes: Int = 100 << 20
    /// Interval of `: ping` comments on SSE streams (default 15 s).
    public var ssePingInterval: TimeInterval = 15
    /// Lifetime of issued storage tokens (default 1 hour, at most `maxStorageTokenLifetime`).
    public var storageTokenLifetime: TimeInterval = 3600
    /// Longest accepted storage token lifetime: tokens claiming to live longer are refused even
    /// when correctly signed (24 hours).
    public static let maxStorageTokenLifetime: TimeInterval = 24 * 3600
    /// Largest `X-Fal-Request-Timeout` a submit may ask for, in seconds (default 7 days).
    public var maxRequestTimeout: TimeInterval = 7 * 24 * 3600
    /// Largest `expiration_duration_seconds` in the object lifecycle headers (default 30 days).
    public var maxObjectLifetime: TimeInterval = 30 * 24 * 3600
    /// Longest `Authorization` header looked at; longer ones are refused with 401 before any
    /// work (default 4 KiB).
    public var maxAuthorizationBytes: Int = 4096
    /// Largest request header section (request line and all fields), answered 400 and closed
    /// when exceeded (default 64 KiB).
    public var maxRequestHeaderBytes: Int = 64 * 1024
    /// How long a verified API key is trusted without asking the store again (default 10 s).
    public var authCacheLifetime: TimeInterval = 10
    /// Delay before the first webhook retry; later ones back off exponentially (10 attempts
    /// over about 2 hours with the default 15 s).
    public var webhookRetryInitialDelay: TimeInterval = 15
    /// Most requests one API key may have waiting in the queue (default 10,000; 0: no limit).
    /// Submits beyond it are answered 429, which fal's clients retry. Keys are also served in
    /// turn (see `JobStore.lease`), so the limit protects memory, not fairness.
    public var maxQueuedPerKey: Int = 10_000
    /// How long an `Idempotency-Key` holds, in seconds (default 24 hours, at most 30 days): a
    /// submit with the same key and request within it gets the original request back.
    public var idempotencyWindow: TimeInterval = 24 * 3600
    /// Longest accepted idempotency window, in seconds (30 days).
    public static let maxIdempotencyWindow: TimeInterval = 30 * 24 * 3600
    /// Bytes the result cache may hold on disk, stored outputs and their files together
    /// (default 1 GiB; 0 turns the cache and in-flight sharing off). Least recently used
    /// entries are evicted beyond it.
    public var resultCacheBytes: Int64 = 1 << 30
    /// The longest one remote input URL may take to download, in seconds (default 60). Inputs
    /// are fetched before the request takes a model slot; this bounds a host that trickles.
    public var inputDownloadTimeout: TimeInterval = 60
    /// Most uploads received at once, server-wide (default 8; 0: no limit). Beyond it uploads
    /// are answered 503 with `Retry-After: 1` before their body is read.
    public var maxConcurrentUploads: Int = 8
    /// Most bytes one API key may hold in uploaded files, uploads in progress included
    /// (default 10 GiB; 0: no quota). Uploads through an unauthenticated upload URL count
    /// against the key that initiated them.
    public var uploadQuotaBytes: Int64 = 10 << 30
    /// Most parts of one multipart upload (default 10,000, as S3). A multipart upload's parts
    /// together are bounded by `maxUploadBytes`, checked as each part arrives.
    public var maxUploadParts: Int = 10_000
    /// Longest one upload request's body may take to arrive (default 15 minutes); slower ones
    /// are answered 408, so trickling senders cannot hold the upload slots.
    public var uploadTimeout: TimeInterval = 900
    /// Most uploads one API key may have in progress (initiated, not yet completed or expired;
    /// default 1,000; 0: no limit). Beyond it initiating answers 429.
    public var maxPendingUploadsPerKey: Int = 1000
    /// Most status streams (`.../status/stream`, `/run/.../stream`) one API key may hold open at
    /// once (default 32; 0: no limit). Callers without a key (auth off) share one count. Beyond
    /// it a new stream is answered 429.
    public var maxStreamsPerKey: Int = 32
    /// How often a waiter (SSE stream, non-streaming `/run`) re-reads a job's status even without
    /// a notification (default 1 s): a lost notification delays it by this much, never forever.
    public var waitRecheckInterval: TimeInterval = 1
    /// Seconds a connection may stay idle (no request part read while no response is being
    /// written, or a request head still incomplete) before the server closes it (default 60):
    /// a client that opens connections and sends half a request cannot hold them forever.
    public var idleTimeout: TimeInterval = 60
    /// Most open connections per listener (default 1024; 0: no limit). Beyond it the listener
    /// stops accepting: further connections wait in the kernel's accept backlog (queued, not
    /// refused) until one closes.
    public var maxConnections: Int = 1024
    /// Threads of the process's compute pool, shared by every model (`nil`: the runner
    /// configuration's default).
    public var computeThreads: Int?
    /// The cluster's PostgreSQL (`postgres://user@host:port/db`) holding jobs, keys and model
    /// settings; `nil` (the default): the embedded SQLite database under `home`.
    public var databaseURL: String?

    /// The defaults.
    public init() {}

    /// `$PEREGRINE_HOME`, else `~/.peregrine`.
    public static var defaultHome: URL {
        if let home = ProcessInfo.processInfo.environment["PEREGRINE_HOME"], !home.isEmpty {
            return URL(fileURLWithPath: home, isDirectory: true)
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".peregrine", isDirectory: true)
    }

    /// Applies `PEREGRINE_*` variables over the current values.
    /// - Throws: `ConfigurationError` naming the variable when a value does not parse.
    public mutating func apply(environment env: [String: String]) throws {
        func value(_ name: String) -> String? { env["PEREGRINE_\(name)"].flatMap { $0.isEmpty ? nil : $0 } }
        func int(_ name: String) throws -> Int? {
            guard let raw = value(name) else { return nil }
            guard let v = Int(raw), v >= 0 else { throw ConfigurationError("PEREGRINE_\(name): '\(raw)' is not a non-negative integer") }
            return v
        }
        func bool(_ name: String) throws -> Bool? {
            guard let raw = value(name) else { return nil }
            switch raw.lowercased() {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off": return false
            default: throw ConfigurationError("PEREGRINE_\(name): '\(raw)' is not a boolean")
            }
        }
        if let v = value("HOST") { host = v }
        if let v = try int("PORT") { port = v }
        if let v = value("HOME") { home = URL(fileURLWithPath: v, isDirectory: true) }
        if let v = value("TLS_CERT") { tlsCertificatePath = v }
        if let v = value("TLS_KEY") { tlsKeyPath = v }
        if let v = try int("HTTP_PORT") { httpPort = v }
        if let v = value("PUBLIC_URL") { publicURL = v }
        if let v = value("HOST_NAMES") { hostNames = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        if let v = try bool("NO_AUTH") { authEnabled = !v }
        if let v = try bool("NO_AUTH_ON_PUBLIC_ADDRESS") { allowNoAuthOnPublicAddress = v }
        if let v = try int("IDLE_TIMEOUT") { idleTimeout = TimeInterval(v) }
        if let v = try int("MAX_CONNECTIONS") { maxConnections = v }
        if let v = try int("THREADS") { computeThreads = v }
        if let v = value("DATABASE") { databaseURL = v }
        if let v = try bool("ALLOW_PRIVATE_URLS") { allowPrivateURLs = v }
        if let v = try int("RESULT_TTL") { resultTTL = TimeInterval(v) }
        if let v = try int("MAX_JSON_BYTES") { maxJSONBytes = v }
        if let v = try int("MAX_UPLOAD_BYTES") { maxUploadBytes = v }
        if let v = try int("WEBHOOK_RETRY_INITIAL_SECONDS") { webhookRetryInitialDelay = TimeInterval(max(1, v)) }
        if let v = try int("MAX_QUEUED_PER_KEY") { maxQueuedPerKey = v }
        if let v = try int("IDEMPOTENCY_WINDOW") { idempotencyWindow = TimeInterval(v) }
        if let v = try int("RESULT_CACHE_BYTES") { resultCacheBytes = Int64(v) }
        if let v = try int("STORAGE_TOKEN_LIFETIME") { storageTokenLifetime = TimeInterval(v) }
        if let v = try int("MAX_REQUEST_TIMEOUT") { maxRequestTimeout = TimeInterval(v) }
        if let v = try int("MAX_OBJECT_LIFETIME") { maxObjectLifetime = TimeInterval(v) }
        if let v = try int("MAX_AUTHORIZATION_BYTES") { maxAuthorizationBytes = v }
        if let v = try int("MAX_HEADER_BYTES") { maxRequestHeaderBytes = v }
        if let v = try int("INPUT_DOWNLOAD_TIMEOUT") { inputDownloadTimeout = TimeInterval(v) }
        if let v = try int("MAX_CONCURRENT_UPLOADS") { maxConcurrentUploads = v }
        if let v = try int("UPLOAD_QUOTA_BYTES") { uploadQuotaBytes = Int64(v) }
        if let v = try int("MAX_UPLOAD_PARTS") { maxUploadParts = v }
        if let v = try int("UPLOAD_TIMEOUT") { uploadTimeout = TimeInterval(max(1, v)) }
        if let v = try int("MAX_PENDING_UPLOADS_PER_KEY") { maxPendingUploadsPerKey = v }
        if let v = try int("MAX_STREAMS_PER_KEY") { maxStreamsPerKey = v }
    }

    /// Checks combinations that cannot work.
    /// - Throws: `ConfigurationError` describing the problem.
    public func validate() throws {
        if let databaseURL, !(databaseURL.hasPrefix("postgres://") || databaseURL.hasPrefix("postgresql://")) {
            throw ConfigurationError("--database takes a postgres:// URL (postgres://user@host:port/db)")
        }
        // Port 0 asks the system for a free port (tests, benchmarks).
        guard (0...65535).contains(port) else { throw ConfigurationError("port \(port) is out of range") }
        if let httpPort, !(0...65535).contains(httpPort) || (httpPort == port && port != 0) {
            throw ConfigurationError("http port \(httpPort) is out of range or equals the TLS port")
        }
        if (tlsCertificatePath == nil) != (tlsKeyPath == nil) {
            throw ConfigurationError("--tls-cert and --tls-key go together")
        }
        guard maxJSONBytes > 0, maxUploadBytes > 0 else { throw ConfigurationError("body limits must be positive") }
        guard maxQueuedPerKey >= 0 else { throw ConfigurationError("the per-key queue limit must not be negative") }
        guard idempotencyWindow >= 1, idempotencyWindow <= Self.maxIdempotencyWindow else {
            throw ConfigurationError("the idempotency window must be 1...\(Int(Self.maxIdempotencyWindow)) seconds")
        }
        guard resultCacheBytes >= 0 else { throw ConfigurationError("the result cache budget must not be negative") }
        guard storageTokenLifetime >= 1, storageTokenLifetime <= Self.maxStorageTokenLifetime else {
            throw ConfigurationError("the storage token lifetime must be 1...\(Int(Self.maxStorageTokenLifetime)) seconds")
        }
        // Both become instants stored as integer milliseconds: keep them far from overflow.
        let century: TimeInterval = 100 * 365 * 24 * 3600
        guard maxRequestTimeout >= 1, maxRequestTimeout <= century else {
            throw ConfigurationError("the request timeout limit must be 1...\(Int(century)) seconds")
        }
        guard maxObjectLifetime >= 1, maxObjectLifetime <= century else {
            throw ConfigurationError("the object lifetime limit must be 1...\(Int(century)) seconds")
        }
        guard maxAuthorizationBytes >= 64 else { throw ConfigurationError("the Authorization header limit must be at least 64 bytes") }
        guard maxRequestHeaderBytes >= 1024 else { throw ConfigurationError("the request header limit must be at least 1024 bytes") }
        guard inputDownloadTimeout >= 1, inputDownloadTimeout <= 86_400 else {
            throw ConfigurationError("the input download timeout must be 1 to 86400 seconds")
        }
        guard maxConcurrentUploads >= 0, uploadQuotaBytes >= 0 else {
            throw ConfigurationError("the upload concurrency limit and quota must not be negative")
        }
        guard uploadTimeout > 0, uploadTimeout <= 366 * 24 * 3600 else {
            throw ConfigurationError("the upload timeout must be positive and at most a year")
        }
        guard maxPendingUploadsPerKey >= 0 else { throw ConfigurationError("the pending upload limit must not be negative") }
        guard maxUploadParts > 0 else { throw ConfigurationError("the multipart part limit must be positive") }
        guard idleTimeout > 0, idleTimeout <= 86_400 else {
            throw ConfigurationError("the idle timeout must be in (0, 86400] seconds")
        }
        guard maxConnections >= 0 else { throw ConfigurationError("the connection limit must not be negative") }
        if let computeThreads, !(1...1024).contains(computeThreads) {
            throw ConfigurationError("the compute thread count must be 1 to 1024")
        }
        if !authEnabled && !allowNoAuthOnPublicAddress && !Self.isLoopback(host) {
            throw ConfigurationError(
                "--no-auth on \(host), which is not a loopback address, would let anyone who can reach it use "
                    + "this server; listen on 127.0.0.1, or add --no-auth-on-public-address "
                    + "(PEREGRINE_NO_AUTH_ON_PUBLIC_ADDRESS=1) to accept that")
        }
        guard maxStreamsPerKey >= 0 else { throw ConfigurationError("the per-key stream limit must not be negative") }
        guard waitRecheckInterval > 0, waitRecheckInterval <= 3600 else {
            throw ConfigurationError("the wait re-check interval must be in (0, 3600] seconds")
        }
    }

    /// Whether `host` names only this machine: `localhost`, `::1` or an IPv4 address in
    /// 127.0.0.0/8. Any other name or address (`0.0.0.0` included) may be reachable by others.
    public static func isLoopback(_ host: String) -> Bool {
        var h = host.lowercased()
        if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        if h == "localhost" || h == "::1" { return true }
        if h.hasPrefix("::ffff:") { h = String(h.dropFirst(7)) }
        let octets = h.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.allSatisfy { UInt8($0) != nil } && octets[0] == "127"
    }

    /// Where the self-signed certificate and key live.
    public var tlsDirectory: URL { home.appendingPathComponent("tls", isDirectory: true) }
    /// The SQLite database.
    public var databasePath: URL { home.appendingPathComponent("peregrine.sqlite") }
    /// Stored files (uploads and outputs).
    public var filesDirectory: URL { home.appendingPathComponent("files", isDirectory: true) }
    /// Model weights cache.
    public var modelsDirectory: URL { home.appendingPathComponent("models", isDirectory: true) }
}

/// A setting that cannot be used.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, naming the setting or value.
    public var message: String
    /// - Parameter message: what is wrong, naming the setting.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
