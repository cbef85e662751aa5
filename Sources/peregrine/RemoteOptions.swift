import ArgumentParser
import AsyncHTTPClient
import Client
import Foundation
import Platform

/// How the commands that talk to a running server (`run --server`, `ps`, `logs`) reach it.
struct RemoteOptions: ParsableArguments {
    @Option(help: "Server URL, e.g. https://127.0.0.1:8443 (default $PEREGRINE_SERVER, else this machine's server).")
    var server: String?
    @Option(help: "API key id:secret (default $FAL_KEY; ps and logs also read $PEREGRINE_ADMIN_KEY first).")
    var key: String?
    @Option(help: "PEM certificate to trust (default: the self-signed certificate in $PEREGRINE_HOME, if any; else the system roots).")
    var cacert: String?

    /// The server's base URL: `--server`, `$PEREGRINE_SERVER`, or `https://127.0.0.1:PORT` of
    /// this machine's configuration.
    func baseURL(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        if let url = server ?? environment["PEREGRINE_SERVER"] {
            guard let parsed = URL(string: url), ["https", "http"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host != nil else {
                throw ValidationError("--server '\(url)' is not an http(s) URL")
            }
            return url
        }
        return "https://127.0.0.1:\(try Self.localConfiguration(environment).port)"
    }

    /// The key: `--key`, else the first of `variables` that is set.
    func credentials(_ variables: [String], environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let key, !key.isEmpty { return key }
        return variables.lazy.compactMap { environment[$0] }.first { !$0.isEmpty }
    }

    /// The certificate to trust: `--cacert`, else this machine's self-signed one when it exists.
    func certificate(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        if let cacert {
            guard FileManager.default.fileExists(atPath: cacert) else { throw ValidationError("--cacert \(cacert) does not exist") }
            return cacert
        }
        guard let configuration = try? Self.localConfiguration(environment) else { return nil }
        let path = configuration.tlsCertificatePath ?? configuration.tlsDirectory.appendingPathComponent("cert.pem").path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// Runs `body` with a client for the server, shutting its HTTP client down afterwards.
    /// - Parameter keyVariables: environment variables read for the key when `--key` is absent.
    func withClient<T>(keyVariables: [String] = ["FAL_KEY"], _ body: (PeregrineClient) async throws -> T) async throws -> T {
        let http = try PeregrineClient.makeHTTPClient(trusting: try certificate())
        do {
            // Fewer tries than the SDK's default (about 1.5 s of waiting in all): someone at a
            // terminal wants to hear soon that no server answers.
            let client = PeregrineClient(
                baseURL: try baseURL(), key: credentials(keyVariables), httpClient: http, retry: RetryPolicy(maxAttempts: 5))
            let value = try await body(client)
            try await http.shutdown()
            return value
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    /// The defaults and `PEREGRINE_*` settings of this machine.
    static func localConfiguration(_ environment: [String: String]) throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        try configuration.apply(environment: environment)
        return configuration
    }
}

/// Prints a client failure the way a terminal user wants to read it and exits 1.
func failing(_ error: ClientError, server: String) -> ExitCode {
    var message = "error: \(error)"
    if error.code == .transport { message += " (is a server running at \(server)?)" }
    if error.code == .unauthorized { message += " (pass --key or set FAL_KEY)" }
    if error.code == .forbidden { message += " (this needs an admin key: peregrine keys create --admin)" }
    FileHandle.standardError.write(Data((message + "\n").utf8))
    return ExitCode(1)
}

/// JSON for stdout: pretty, sorted keys, slashes unescaped.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
