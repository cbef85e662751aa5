import Foundation
import JobQueue
import NIOSSL
import PostgresNIO

/// Where the cluster's PostgreSQL is and how to reach it, parsed from a libpq-style URL:
/// `postgres://user[:password]@host[:port]/database[?sslmode=…&host=/socket/dir]`.
///
/// A `host` query item naming a directory (libpq's form for Unix sockets) connects through the
/// socket `DIR/.s.PGSQL.PORT` instead of TCP. `sslmode` is `disable`, `prefer` (the default, as
/// in libpq: TLS when the server offers it, certificate unchecked), `require` (TLS, certificate
/// unchecked) or `verify-full` (TLS with the system's trust roots and host name check).
public struct ClusterDatabaseConfiguration: Sendable, Equatable {
    /// How TLS is used on TCP connections.
    public enum TLSMode: String, Sendable, Equatable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, certificate unchecked.
        case prefer
        /// TLS always, certificate unchecked.
        case require
        /// TLS always, certificate and host name checked against the system's trust roots.
        case verifyFull = "verify-full"
    }

    /// Server host name or address (TCP), when `socketDirectory` is nil.
    public var host: String
    /// Server port; with a socket directory, it names the socket file.
    public var port: Int
    /// Directory holding the server's Unix socket, if connecting through it.
    public var socketDirectory: String?
    /// Role to log in as (default `postgres`).
    public var username: String
    /// Password, if the server asks for one.
    public var password: String?
    /// Database name (default `postgres`).
    public var database: String
    /// TLS on TCP connections (default `prefer`, as libpq).
    public var tls: TLSMode
    /// Most connections the store's pool opens to the server (one more is held for LISTEN).
    public var maxConnections: Int

    /// - Parameters: each setting; see the type's description.
    public init(
        host: String = "127.0.0.1", port: Int = 5432, socketDirectory: String? = nil, username: String = "postgres",
        password: String? = nil, database: String = "postgres", tls: TLSMode = .prefer, maxConnections: Int = 16
    ) {
        self.host = host
        self.port = port
        self.socketDirectory = socketDirectory
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.maxConnections = maxConnections
    }

    /// Parses a `postgres://` (or `postgresql://`) URL.
    /// - Throws: `JobStoreError.invalidArgument` naming what is wrong (never the password).
    public init(url string: String) throws {
        guard let components = URLComponents(string: string),
            let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql"
        else {
            throw JobStoreError(.invalidArgument, "a database URL starts with postgres:// (postgres://user@host:port/db)")
        }
        self.init()
        if let host = components.host, !host.isEmpty { self.host = host }
        if let port = components.port {
            guard (1...65535).contains(port) else { throw JobStoreError(.invalidArgument, "database port \(port) is out of range") }
            self.port = port
        }
        if let user = components.user, !user.isEmpty { username = user.removingPercentEncoding ?? user }
        password = components.password.map { $0.removingPercentEncoding ?? $0 }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        if !path.isEmpty { database = path.removingPercentEncoding ?? path }
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "host":
                guard value.hasPrefix("/") else {
                    throw JobStoreError(.invalidArgument, "the host query item names a socket directory (an absolute path)")
                }
                socketDirectory = value
            case "sslmode":
                switch value {
                case "disable", "allow": tls = .disable
                case "prefer": tls = .prefer
                case "require", "verify-ca": tls = .require
                case "verify-full": tls = .verifyFull
                default: throw JobStoreError(.invalidArgument, "unknown sslmode '\(value)'")
                }
            case "max_connections":
                guard let n = Int(value), (1...1000).contains(n) else {
                    throw JobStoreError(.invalidArgument, "max_connections must be 1...1000")
                }
                maxConnections = n
            case "user":
                username = value
            case "password":
                password = value
            default:
                throw JobStoreError(.invalidArgument, "unknown database URL parameter '\(item.name)'")
            }
        }
    }

    /// The same server with another database (tests create and drop their own).
    public func with(database: String) -> Self {
        var copy = self
        copy.database = database
        return copy
    }

    /// The socket file, when connecting through a Unix socket.
    var socketPath: String? { socketDirectory.map { "\($0)/.s.PGSQL.\(port)" } }

    /// The pooled client's settings.
    func clientConfiguration() -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let socketPath {
            configuration = .init(unixSocketPath: socketPath, username: username, password: password, database: database)
        } else {
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: clientTLS)
        }
        configuration.options.maximumConnections = maxConnections
        configuration.options.minimumConnections = 0
        return configuration
    }

    private var clientTLS: PostgresClient.Configuration.TLS {
        switch tls {
        case .disable: return .disable
        case .prefer: return .prefer(Self.unverified)
        case .require: return .require(Self.unverified)
        case .verifyFull: return .require(.makeClientConfiguration())
        }
    }

    /// A single connection's settings (migrations and LISTEN run outside the pool; tests use
    /// one to create and drop their databases).
    /// - Throws: when the TLS context cannot be made.
    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        if let socketPath {
            return .init(unixSocketPath: socketPath, username: username, password: password, database: database)
        }
        let connectionTLS: PostgresConnection.Configuration.TLS
        switch tls {
        case .disable: connectionTLS = .disable
        case .prefer: connectionTLS = .prefer(try NIOSSLContext(configuration: Self.unverified))
        case .require: connectionTLS = .require(try NIOSSLContext(configuration: Self.unverified))
        case .verifyFull: connectionTLS = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        return .init(host: host, port: port, username: username, password: password, database: database, tls: connectionTLS)
    }

    /// libpq's `prefer` and `require` encrypt without checking the certificate.
    private static var unverified: TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        return tls
    }
}
