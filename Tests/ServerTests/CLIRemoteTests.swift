import APITypes
import Client
import Foundation
import ModelKit
import Testing

/// The `peregrine` binary as a user runs it, against a real HTTPS server: `run --server`, `ps`,
/// `logs`, the `--json` listings parsed back, and the completion script.
@Suite("peregrine CLI against a running server")
struct CLIRemoteTests {
    /// What one run of the binary printed.
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
        var json: JSONValue { get throws { try JSONValue(parsing: Data(stdout.utf8)) } }
    }

    /// Runs the `peregrine` binary built beside the tests (output through files: a chatty child
    /// never blocks on a full pipe).
    static func peregrine(_ arguments: [String], environment: [String: String] = [:]) async throws -> Outcome {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var binary: URL?
        for _ in 0..<3 where binary == nil {
            let candidate = dir.appendingPathComponent("peregrine")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { binary = candidate }
            dir = dir.deletingLastPathComponent()
        }
        let executable = try #require(binary, "build with `swift build --build-tests` first")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("out"), err = scratch.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["FAL_KEY"] = nil
        env["PEREGRINE_ADMIN_KEY"] = nil
        env["PEREGRINE_HOME"] = scratch.appendingPathComponent("home").path
        process.environment = env.merging(environment) { _, new in new }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        return Outcome(
            status: status, stdout: try String(contentsOf: out, encoding: .utf8), stderr: try String(contentsOf: err, encoding: .utf8))
    }

    func remote(_ server: LiveServer, key: String? = nil) -> [String] {
        ["--server", server.baseURL, "--cacert", server.certificate] + (key.map { ["--key", $0] } ?? [])
    }

    @Test("run --server: the result JSON on stdout, the request and logs on stderr; FAL_KEY works; a model's error exits 1")
    func runRemote() async throws {
        try await LiveServer.with { server in
            let ok = try await Self.peregrine(["run", "test/echo", "--input", #"{"prompt":"from the cli"}"#] + remote(server, key: server.userKey))
            #expect(ok.status == 0, "\(ok.stderr)")
            #expect(try ok.json["echo"]?["prompt"] == "from the cli")
            #expect(ok.stderr.contains("request "))
            #expect(ok.stderr.contains("echoing"))

            let input = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-cli-input-\(UUID().uuidString).json")
            try Data(#"{"prompt":"from a file"}"#.utf8).write(to: input)
            defer { try? FileManager.default.removeItem(at: input) }
            let env = try await Self.peregrine(
                ["run", "test/echo", "--input", "@\(input.path)"] + remote(server), environment: ["FAL_KEY": server.userKey])
            #expect(env.status == 0, "\(env.stderr)")
            #expect(try env.json["echo"]?["prompt"] == "from a file")

            let failed = try await Self.peregrine(["run", "test/fail", "--input", "{}"] + remote(server, key: server.userKey))
            #expect(failed.status == 1)
            #expect(failed.stdout.isEmpty)
            #expect(failed.stderr.contains("415"))
            #expect(failed.stderr.contains("image is not a PNG"))

            let invalid = try await Self.peregrine(["run", "test/echo", "--input", "{}"] + remote(server, key: server.userKey))
            #expect(invalid.status == 1)
            #expect(invalid.stderr.contains("prompt"))
        }
    }

    @Test("ps --json lists the running and the queued request and the resident model; the table has headers; a plain key is refused")
    func ps() async throws {
        try await LiveServer.with { server in
            try await server.withClient { client in
                let first = try await client.submit("test/gated", input: ["name": "one"])
                #expect(try await server.nextStart() == "one")
                let second = try await client.submit("test/gated", input: ["name": "two"])

                let json = try await Self.peregrine(["ps", "--json"] + remote(server, key: server.adminKey))
                #expect(json.status == 0, "\(json.stderr)")
                let report = try JSONDecoder().decode(PsCommandReport.self, from: Data(json.stdout.utf8))
                #expect(report.requests.map(\.requestID) == [first.requestID, second.requestID])
                #expect(report.requests.map(\.state) == ["running", "queued"])
                #expect(report.requests.last?.queuePosition == 0)
                #expect(report.models.first { $0.endpointID == "test/gated" }?.phase == "loaded")
                #expect(report.models.first { $0.endpointID == "test/gated" }?.running == 1)

                let table = try await Self.peregrine(["ps"] + remote(server), environment: ["PEREGRINE_ADMIN_KEY": server.adminKey])
                #expect(table.status == 0, "\(table.stderr)")
                #expect(table.stdout.contains("REQUEST"))
                #expect(table.stdout.contains(second.requestID))
                #expect(table.stdout.contains("test/gated"))

                let refused = try await Self.peregrine(["ps"] + remote(server, key: server.userKey))
                #expect(refused.status == 1)
                #expect(refused.stderr.contains("403"))

                server.gate.open()
                _ = try await client.follow("test/gated", requestID: second.requestID)
            }
        }
    }

    @Test("logs prints a request's lines (JSON lines with --json); --follow runs until it completes")
    func logs() async throws {
        try await LiveServer.with { server in
            try await server.withClient { client in
                let echo = try await client.submit("test/echo", input: ["prompt": "log me"])
                _ = try await client.follow("test/echo", requestID: echo.requestID)
                let plain = try await Self.peregrine(["logs", echo.requestID] + remote(server, key: server.adminKey))
                #expect(plain.status == 0, "\(plain.stderr)")
                #expect(plain.stdout.contains("INFO echoing"))
                // With --endpoint any key that owns the request will do.
                let json = try await Self.peregrine(
                    ["logs", echo.requestID, "--endpoint", "test/echo", "--json"] + remote(server, key: server.userKey))
                #expect(json.status == 0, "\(json.stderr)")
                let lines = try json.stdout.split(separator: "\n").map { try JSONDecoder().decode(LogLine.self, from: Data($0.utf8)) }
                #expect(lines.map(\.message) == ["echoing"])

                let gated = try await client.submit("test/gated", input: ["name": "follow"])
                #expect(try await server.nextStart() == "follow")
                async let follower = Self.peregrine(["logs", gated.requestID, "--follow"] + remote(server, key: server.adminKey))
                server.gate.open()
                let followed = try await follower
                #expect(followed.status == 0, "\(followed.stderr)")
                #expect(followed.stdout.contains("waiting for the gate"))
                #expect(try await client.status("test/gated", requestID: gated.requestID).status == .completed)
            }
        }
    }

    @Test("keys list --json and models list --json parse back; completion scripts name the new commands")
    func listingsAndCompletions() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-cli-home-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        let created = try await Self.peregrine(["keys", "create", "--name", "ci", "--quiet", "--home", home.path])
        #expect(created.status == 0, "\(created.stderr)")
        let keyID = try #require(created.stdout.split(separator: ":").first.map(String.init))
        let keys = try await Self.peregrine(["keys", "list", "--json", "--home", home.path])
        #expect(keys.status == 0, "\(keys.stderr)")
        #expect(try keys.json["keys"]?.arrayValue?.first?["id"]?.stringValue == keyID)

        let models = try await Self.peregrine(["models", "list", "--json", "--home", home.path])
        #expect(models.status == 0, "\(models.stderr)")
        let list = try JSONDecoder().decode(ModelList.self, from: Data(models.stdout.utf8))
        #expect(!list.models.isEmpty)

        for shell in ["bash", "zsh", "fish"] {
            let script = try await Self.peregrine(["--generate-completion-script", shell])
            #expect(script.status == 0, "\(script.stderr)")
            for word in ["ps", "logs", "--follow", "--server"] { #expect(script.stdout.contains(word), "\(shell): \(word)") }
        }
    }
}

/// `peregrine ps --json`'s shape, as a script reads it.
struct PsCommandReport: Decodable {
    var requests: [RequestSummary]
    var models: [ModelResidency]
    var resident_bytes: Int
    var budget_bytes: Int
}
