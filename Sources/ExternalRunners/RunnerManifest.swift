import Foundation
import ModelKit

/// A runner manifest: how to start the process serving one endpoint and what the endpoint is.
///
/// Read from a JSON file (see docs/runner-protocol.md). Relative `working_directory` and
/// `command` paths are relative to the manifest's own directory; `${NAME}` and
/// `${NAME:-default}` in `command`, `args` and `env` values expand from Peregrine's environment,
/// with `${MANIFEST_DIR}` the manifest's directory.
public struct RunnerManifest: Sendable, Equatable {
    /// The gallery entry served by the runner.
    public var model: ModelManifest
    /// Program to start (looked up on `PATH` when it has no slash).
    public var command: String
    /// Its arguments.
    public var arguments: [String]
    /// Variables added to the runner's environment (Peregrine's own environment is inherited).
    public var environment: [String: String]
    /// Directory the runner starts in.
    public var workingDirectory: URL
    /// Seconds the runner has to answer `GET /health` after it starts.
    public var startupTimeout: Double
    /// Seconds `POST /setup` may take (loading weights).
    public var setupTimeout: Double
    /// Seconds a cancelled request has to end after `POST /cancel` before the runner is killed.
    public var cancelGrace: Double
    /// Seconds between SIGTERM and SIGKILL when the runner is stopped.
    public var stopGrace: Double
    /// Seconds between liveness checks (`GET /health`) of a running runner.
    public var healthInterval: Double
    /// Seconds one liveness check may take.
    public var healthTimeout: Double
    /// Consecutive failed liveness checks after which the runner is killed and restarted.
    public var healthFailures: Int
    /// First delay before restarting a crashed runner; doubles per consecutive crash.
    public var restartInitialDelay: Double
    /// Longest delay between restarts.
    public var restartMaxDelay: Double
    /// Input fields holding file URLs that Peregrine fetches for the runner.
    public var fileInputs: [String]
    /// Longest NDJSON line the runner may send for a progress or log event, and longest line of
    /// its stdout/stderr kept for the log (`max_event_line_bytes`, default 1 MiB): a runner
    /// that never ends a line must not grow Peregrine's memory.
    public var maxEventLineBytes: Int
    /// Longest `result` or `error` line (`max_result_line_bytes`, default 64 MiB; outputs
    /// carry files as `$file` references, so results are small).
    public var maxResultLineBytes: Int

    /// Parses a manifest file.
    /// - Parameters:
    ///   - url: the JSON file.
    ///   - environment: where `${NAME}` expands from.
    /// - Throws: `ExternalRunnerError.invalidManifest` naming the file and the field.
    public init(contentsOf url: URL, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let file = url.resolvingSymlinksInPath()
        let data: Data
        do { data = try Data(contentsOf: file) } catch {
            throw ExternalRunnerError.invalidManifest("\(file.path): \(error.localizedDescription)")
        }
        let json: JSONValue
        do { json = try JSONValue(parsing: data) } catch {
            throw ExternalRunnerError.invalidManifest("\(file.path): not JSON (\(error))")
        }
        try self.init(json: json, directory: file.deletingLastPathComponent(), environment: environment, source: file.path)
    }

    /// Builds a manifest from parsed JSON.
    /// - Parameters:
    ///   - json: the manifest object.
    ///   - directory: what relative paths are relative to.
    ///   - environment: where `${NAME}` expands from.
    ///   - source: names the manifest in error messages.
    /// - Throws: `ExternalRunnerError.invalidManifest` naming the field.
    public init(json: JSONValue, directory: URL, environment: [String: String] = ProcessInfo.processInfo.environment, source: String = "manifest") throws {
        func fail(_ why: String) -> ExternalRunnerError { .invalidManifest("\(source): \(why)") }
        guard let o = json.objectValue else { throw fail("not a JSON object") }
        func string(_ key: String) throws -> String? {
            guard let v = o[key] else { return nil }
            guard let s = v.stringValue else { throw fail("'\(key)' must be a string") }
            return s
        }
        // Seconds, counts and byte sizes: positive and far below where a conversion to an
        // integer or to milliseconds could overflow.
        func number(_ key: String, default d: Double) throws -> Double {
            guard let v = o[key] else { return d }
            guard let n = v.doubleValue, n > 0, n <= 1e12 else { throw fail("'\(key)' must be a positive number up to 10^12") }
            return n
        }
        func whole(_ key: String, default d: Int) throws -> Int {
            let n = try number(key, default: Double(d))
            guard n == n.rounded() else { throw fail("'\(key)' must be a whole number") }
            return Int(n)
        }
        var lookup = environment
        lookup["MANIFEST_DIR"] = directory.path
        let variables = lookup
        let expand = { (s: String) in Self.expand(s, variables) }

        guard let endpoint = try string("endpoint_id"), !endpoint.isEmpty else { throw fail("'endpoint_id' is required") }
        guard let command = try string("command").map(expand), !command.isEmpty else { throw fail("'command' is required") }
        let args = try (o["args"]?.arrayValue ?? []).map { v -> String in
            guard let s = v.stringValue else { throw fail("'args' must be an array of strings") }
            return expand(s)
        }
        var env: [String: String] = [:]
        for (k, v) in o["env"]?.objectValue ?? [:] {
            guard let s = v.stringValue else { throw fail("'env.\(k)' must be a string") }
            env[k] = expand(s)
        }
        let wd = try string("working_directory").map(expand) ?? "."
        let workingDirectory = wd.hasPrefix("/") ? URL(fileURLWithPath: wd) : directory.appendingPathComponent(wd)
        let concurrency = try whole("max_concurrency", default: 1)
        let memory = try whole("memory_estimate_bytes", default: 256 << 20)
        let alias = endpoint.split(separator: "/").last.map(String.init) ?? endpoint
        let schemaName = try string("schema_name") ?? alias.split(whereSeparator: { !$0.isLetter && !$0.isNumber })
            .map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()

        model = ModelManifest(
            endpointID: endpoint, version: try string("version") ?? "1.0.0", category: try string("category") ?? "custom",
            displayName: try string("display_name") ?? alias, description: try string("description") ?? "",
            inputSchema: o["input_schema"] ?? ["type": "object"], outputSchema: o["output_schema"] ?? ["type": "object"],
            schemaName: schemaName.isEmpty ? "Runner" : schemaName, memoryEstimateBytes: memory,
            maxConcurrency: max(1, concurrency))
        // A relative program path names a file beside the manifest, not one on PATH.
        self.command = command.contains("/") && !command.hasPrefix("/") ? workingDirectory.appendingPathComponent(command).standardized.path : command
        arguments = args
        self.environment = env
        self.workingDirectory = workingDirectory.standardized
        startupTimeout = try number("startup_timeout", default: 60)
        setupTimeout = try number("setup_timeout", default: 600)
        cancelGrace = try number("cancel_grace", default: 5)
        stopGrace = try number("stop_grace", default: 5)
        healthInterval = try number("health_interval", default: 10)
        healthTimeout = try number("health_timeout", default: 5)
        healthFailures = try whole("health_failures", default: 3)
        let restart = o["restart"]?.objectValue ?? [:]
        func delay(_ key: String, default d: Double) throws -> Double {
            guard let v = restart[key] else { return d }
            guard let n = v.doubleValue, n >= 0, n <= 86_400 else { throw fail("'restart.\(key)' must be 0 to 86400 seconds") }
            return n
        }
        restartInitialDelay = try delay("initial_delay", default: 0.5)
        restartMaxDelay = try delay("max_delay", default: 30)
        func byteCount(_ key: String, default d: Int) throws -> Int {
            guard let v = o[key] else { return d }
            guard let n = v.doubleValue, n >= 1, n <= Double(1 << 40), n == n.rounded() else {
                throw fail("'\(key)' must be a whole number of bytes from 1 to 2^40")
            }
            return Int(n)
        }
        maxEventLineBytes = try byteCount("max_event_line_bytes", default: 1 << 20)
        maxResultLineBytes = max(maxEventLineBytes, try byteCount("max_result_line_bytes", default: 64 << 20))
        fileInputs = try (o["file_inputs"]?.arrayValue ?? []).map { v -> String in
            guard let s = v.stringValue else { throw fail("'file_inputs' must be an array of strings") }
            return s
        }
    }

    /// Expands `${NAME}` and `${NAME:-default}`; an unset name without default expands to "".
    static func expand(_ s: String, _ variables: [String: String]) -> String {
        var result = ""
        var rest = Substring(s)
        while let start = rest.range(of: "${") {
            result += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                result += rest[start.lowerBound...]
                return result
            }
            let body = rest[start.upperBound..<end]
            if let sep = body.range(of: ":-") {
                let value = variables[String(body[..<sep.lowerBound])] ?? ""
                result += value.isEmpty ? String(body[sep.upperBound...]) : value
            } else {
                result += variables[String(body)] ?? ""
            }
            rest = rest[rest.index(after: end)...]
        }
        return result + rest
    }
}
