import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Platform
import ServiceLifecycle

/// `peregrine serve`: the embedded platform's services in one `ServiceGroup`, started in
/// dependency order (store maintenance, event hub, runner pool, webhook sender, HTTP listeners)
/// and shut down gracefully in reverse on SIGINT/SIGTERM.
public struct PeregrineServer: Sendable {
    /// The opened stores, runners and configuration.
    public let platform: EmbeddedPlatform
    /// What the HTTP handlers share, over `platform`.
    public let services: APIServices

    /// - Parameter platform: the opened stores and runners.
    public init(platform: EmbeddedPlatform) {
        self.platform = platform
        services = APIServices(platform: platform)
    }

    /// The TLS configuration: the configured certificate and key, or the self-signed development
    /// certificate (created on first start).
    /// - Returns: the configuration and the certificate's path.
    public static func tlsConfiguration(for configuration: Platform.ServerConfiguration) throws -> (TLSConfiguration, certificatePath: String) {
        let certPath: String
        let keyPath: String
        if let cert = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
            certPath = cert
            keyPath = key
        } else {
            let files = try SelfSignedCertificate.ensure(in: configuration.tlsDirectory, hostNames: configuration.hostNames)
            certPath = files.certificate.path
            keyPath = files.key.path
        }
        let chain = try NIOSSLCertificate.fromPEMFile(certPath).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        tls.applicationProtocols = ["http/1.1"]
        // TLS 1.0 and 1.1 are deprecated (RFC 8996): no client worth serving needs them.
        tls.minimumTLSVersion = .tlsv12
        return (tls, certPath)
    }

    /// The HTTP/1 server of both listeners. Its decoder refuses a request whose header section
    /// (request line included) is larger than `maxRequestHeaderBytes` with 400 and closes the
    /// connection, before any of it reaches a handler; a connection idle (or stuck in a
    /// half-sent request) for `idleTimeout` is closed.
    public static func http1(for configuration: Platform.ServerConfiguration) -> HTTPServerBuilder {
        .http1(
            configuration: .init(
                idleTimeout: .milliseconds(Int64(configuration.idleTimeout * 1000)),
                httpDecoderConfiguration: .init(
                    maxHeaderFieldSize: configuration.maxRequestHeaderBytes, maxHeaderListSize: configuration.maxRequestHeaderBytes)))
    }

    /// The listener settings of `port`: address and connection limit.
    static func applicationConfiguration(for c: Platform.ServerConfiguration, port: Int, logger: Logger) -> ApplicationConfiguration {
        ApplicationConfiguration(
            address: .hostname(c.host, port: port), serverName: nil,
            availableConnectionsDelegate: c.maxConnections > 0 ? .maximum(c.maxConnections, logger: logger) : nil)
    }

    /// The HTTPS application (and the plain-HTTP one when configured).
    public func applications(onServerRunning: @escaping @Sendable (String, Int) async -> Void = { _, _ in }) throws -> [any Service] {
        let c = platform.configuration
        let (tls, _) = try Self.tlsConfiguration(for: c)
        var apps: [any Service] = [
            Application(
                responder: APIResponder(services: services, scheme: "https"),
                server: try .tls(Self.http1(for: c), tlsConfiguration: tls),
                configuration: Self.applicationConfiguration(for: c, port: c.port, logger: platform.logger),
                onServerRunning: { channel in await onServerRunning("https", channel.localAddress?.port ?? c.port) },
                logger: platform.logger)
        ]
        if let httpPort = c.httpPort {
            apps.append(
                Application(
                    responder: APIResponder(services: services, scheme: "http", trustForwardedHeaders: true),
                    server: Self.http1(for: c),
                    configuration: Self.applicationConfiguration(for: c, port: httpPort, logger: platform.logger),
                    onServerRunning: { channel in await onServerRunning("http", channel.localAddress?.port ?? httpPort) },
                    logger: platform.logger))
        }
        return apps
    }

    /// The service group, in start order: the stores' database (a cluster's connection pool and
    /// listener), store maintenance, file sweeper, event hub, runner pool, webhook sender, HTTP
    /// listeners (shut down in reverse).
    /// - Parameter signals: whether SIGINT/SIGTERM shut the group down (off for embedding).
    public func serviceGroup(
        signals: Bool = true, onServerRunning: @escaping @Sendable (String, Int) async -> Void = { _, _ in }
    ) throws -> ServiceGroup {
        let services: [any Service] =
            platform.storeServices
            + [platform.maintenance(), platform.fileSweeper(), platform.hub, platform.pool,
             platform.webhookSender()]
            + (try applications(onServerRunning: onServerRunning))
        return ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                gracefulShutdownSignals: signals ? [.sigterm, .sigint] : [], logger: platform.logger))
    }

    /// Runs until SIGINT/SIGTERM.
    public func run(onServerRunning: @escaping @Sendable (String, Int) async -> Void = { _, _ in }) async throws {
        try await serviceGroup(onServerRunning: onServerRunning).run()
    }
}
