import ArgumentParser
import AsyncHTTPClient
import Client
import Foundation
import JobQueue
import ModelKit
import Platform
import Runners
import Server

extension ModelsCommand {
    /// `peregrine models scale NAME [--keep-alive S] [--min-concurrency N] ...`: shows or
    /// changes a model's runtime settings. By default it asks the running server's admin API
    /// (the change applies at once and is persisted); with `--offline` it writes the settings
    /// table of `$PEREGRINE_HOME` directly, for a server that is not running (applied when it
    /// starts). With no setting given it prints the settings in force.
    struct Scale: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "scale",
            abstract: "Show or change a model's runtime settings (keep-alive, concurrency, warm buffer, startup timeout).",
            discussion: """
                Talks to the running server's admin API (PATCH /admin/models/NAME/settings) with an admin key \
                (--key, else $PEREGRINE_ADMIN_KEY, else $FAL_KEY; create one with `peregrine keys create --admin`). \
                --offline edits $PEREGRINE_HOME's database instead, for a stopped server.
                """)

        @Argument(help: "Endpoint id, e.g. peregrine/realesr-animevideov3.")
        var name: String
        @Option(name: .customLong("keep-alive"), help: "Seconds an idle model stays loaded.")
        var keepAlive: Double?
        @Option(name: .customLong("min-concurrency"), help: "Above 0 keeps the model always loaded.")
        var minConcurrency: Int?
        @Option(name: .customLong("max-concurrency"), help: "Requests the model runs at once.")
        var maxConcurrency: Int?
        @Option(name: .customLong("buffer"), help: "Warm buffer: above 0 keeps the model loaded ahead of demand while memory is free.")
        var buffer: Int?
        @Option(name: .customLong("startup-timeout"), help: "Seconds a load may take before its requests fail with startup_timeout.")
        var startupTimeout: Double?
        @Option(
            name: .customLong("reset"),
            help: "Return a setting to its default (keep_alive, min_concurrency, max_concurrency, concurrency_buffer, startup_timeout); repeatable.")
        var reset: [String] = []
        @Flag(help: "Write the settings to the database directly (server not running).")
        var offline = false
        @Option(help: "Server URL (default https://127.0.0.1:PORT).")
        var url: String?
        @Option(help: "Admin API key id:secret.")
        var key: String?
        @OptionGroup var options: ServerOptions

        /// The PATCH body for the given options.
        var patch: JSONValue {
            var members: [String: JSONValue] = [:]
            for field in reset { members[field] = .null }
            if let keepAlive { members["keep_alive"] = .double(keepAlive) }
            if let minConcurrency { members["min_concurrency"] = .int(Int64(minConcurrency)) }
            if let maxConcurrency { members["max_concurrency"] = .int(Int64(maxConcurrency)) }
            if let buffer { members["concurrency_buffer"] = .int(Int64(buffer)) }
            if let startupTimeout { members["startup_timeout"] = .double(startupTimeout) }
            return .object(members)
        }

        func run() async throws {
            let configuration = try options.resolve()
            let body = patch
            let output = offline ? try await runOffline(configuration, body: body) : try await runOnline(configuration, body: body)
            print(String(decoding: output.encoded(pretty: true), as: UTF8.self))
        }

        private func runOnline(_ configuration: ServerConfiguration, body: JSONValue) async throws -> JSONValue {
            let env = ProcessInfo.processInfo.environment
            guard let credentials = key ?? env["PEREGRINE_ADMIN_KEY"] ?? env["FAL_KEY"], !credentials.isEmpty else {
                throw ValidationError("an admin key is needed: --key, $PEREGRINE_ADMIN_KEY or $FAL_KEY (peregrine keys create --admin)")
            }
            let base = url ?? "https://127.0.0.1:\(configuration.port)"
            let certificate = configuration.tlsCertificatePath
                ?? configuration.tlsDirectory.appendingPathComponent("cert.pem").path
            let http = try PeregrineClient.makeHTTPClient(
                trusting: FileManager.default.fileExists(atPath: certificate) ? certificate : nil)
            let client = PeregrineClient(baseURL: base, key: credentials, httpClient: http)
            let path = name.split(separator: "/").map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? String($0) }
                .joined(separator: "/")
            let target = "\(base)/admin/models/\(path)/settings"
            let answer: (status: Int, body: Data, headers: [(String, String)])
            do {
                if body.objectValue?.isEmpty == false {
                    answer = try await client.raw(.PATCH, target, body: body.encoded(), headers: [:])
                } else {
                    answer = try await client.raw(.GET, target, body: nil, headers: [:])
                }
                try await http.shutdown()
            } catch {
                try? await http.shutdown()
                throw ValidationError("could not reach \(base): \(error) (is the server running? use --offline otherwise)")
            }
            guard answer.status == 200 else {
                throw ValidationError("server answered \(answer.status): \(String(decoding: answer.body, as: UTF8.self))")
            }
            return try JSONValue(parsing: answer.body)
        }

        private func runOffline(_ configuration: ServerConfiguration, body: JSONValue) async throws -> JSONValue {
            guard let model = try ShippedModels.all(configuration: configuration).first(where: { $0.manifest.endpointID == name }) else {
                throw ValidationError("unknown model '\(name)'")
            }
            let defaults = RunnerConfiguration()
            let base = ResidencySettings(
                estimatedBytes: model.manifest.memoryEstimateBytes, keepAlive: .seconds(defaults.modelKeepAlive),
                maxConcurrency: model.manifest.maxConcurrency, startupTimeout: defaults.startupTimeout.map { .seconds($0) })
            let endpointID = name
            let override = try await PlatformStores.with(configuration) { stores in
                var override = try await stores.modelSettings.override(for: endpointID)
                if body.objectValue?.isEmpty == false {
                    override = try ModelSettingsPatch.applying(body, to: override, defaults: base)
                    try await stores.modelSettings.setOverride(override, for: endpointID, now: Date())
                }
                return override
            }
            return ModelSettingsPatch.json(endpointID: endpointID, settings: base.applying(override), override: override)
        }
    }
}
