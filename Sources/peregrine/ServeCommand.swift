import ArgumentParser
import Foundation
import Platform
import Server

/// `peregrine serve`: the HTTPS API with in-process runners.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve the fal-compatible API over HTTPS.")

    @OptionGroup var options: ServerOptions

    func run() async throws {
        let configuration = try options.resolve()
        let stores = try await PlatformStores.open(configuration)
        let platform = try EmbeddedPlatform(
            configuration: configuration, stores: stores, models: try ShippedModels.all(configuration: configuration))
        let server = PeregrineServer(platform: platform)
        let (_, certificate) = try PeregrineServer.tlsConfiguration(for: configuration)
        let auth = configuration.authEnabled ? "on (create a key: peregrine keys create)" : "OFF"
        FileHandle.standardError.write(Data("""
            peregrine: serving \(platform.registry.entries.count) model(s); auth \(auth); store \(configuration.databaseURL == nil ? "SQLite" : "PostgreSQL")
            peregrine: certificate \(certificate)

            """.utf8))
        try await server.run { scheme, port in
            let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
            FileHandle.standardError.write(Data("peregrine: listening on \(scheme)://\(host):\(port)\n".utf8))
            if scheme == "https" {
                FileHandle.standardError.write(Data("""
                    peregrine: fal clients: FAL_RUN_HOST=\(host):\(port)/run FAL_QUEUE_RUN_HOST=\(host):\(port)/queue SSL_CERT_FILE=\(certificate)

                    """.utf8))
            }
        }
    }
}

/// `peregrine cert`: prints the TLS certificate's path (creating the self-signed one if needed).
struct CertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cert", abstract: "Print the path of the server's TLS certificate.")

    @OptionGroup var options: ServerOptions

    func run() async throws {
        let configuration = try options.resolve()
        if let path = configuration.tlsCertificatePath {
            print(path)
        } else {
            print(try SelfSignedCertificate.ensure(in: configuration.tlsDirectory, hostNames: configuration.hostNames).certificate.path)
        }
    }
}
