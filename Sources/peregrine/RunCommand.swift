import ArgumentParser
import Client
import Foundation
import JobQueue
import ModelKit
import NIOConcurrencyHelpers
import Platform
import Runners
import Server

/// `peregrine run ENDPOINT --input JSON|@file [--out DIR]`: runs one request in this process
/// (a private queue in a temporary directory, so a running server never picks it up), showing
/// progress, and writes the output files to DIR. With `--server URL` it runs the request on
/// that server instead, through the client SDK (see `RunCommand+Remote.swift`).
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run one request in-process, or on a running server with --server.",
        discussion: """
            Progress and logs go to stderr, the result JSON to stdout. With --server, local files named by             `*_url` fields are uploaded to the server first, and --out downloads the output files.
            """)

    @Argument(help: "Endpoint id, e.g. peregrine/realesr-animevideov3.")
    var endpoint: String
    @Option(help: "The input JSON, or @path to read it from a file. A `*_url` field may name a local file (a path or file:// URL).")
    var input: String
    @Option(help: "Directory to write output files to.")
    var out: String?
    @OptionGroup var options: ServerOptions
    @OptionGroup var remote: RemoteOptions

    func run() async throws {
        if remote.server != nil { return try await runRemote() }
        var configuration = try options.resolve()
        // A one-shot run queues in a scratch database of its own: on a cluster's database other
        // nodes could take the job.
        guard configuration.databaseURL == nil else {
            throw ValidationError("peregrine run works in a scratch home; --database is for serve, keys and models scale")
        }
        let models = try ShippedModels.all(configuration: configuration)
        let modelsDirectory = configuration.modelsDirectory
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("peregrine-run-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        configuration.home = scratch
        configuration.authEnabled = false
        let platform = try EmbeddedPlatform(configuration: configuration, models: models, modelsDirectory: modelsDirectory)
        let value = try parsedInput()
        // The same submitter as the HTTP routes: schema check with defaults, then one insert.
        let prepared: NewJob
        do {
            prepared = try platform.submitter.prepare(
                endpoint: endpoint, input: try Self.inliningLocalFiles(value), options: SubmitOptions(noRetry: true))
        } catch SubmitError.unknownEndpoint {
            let known = platform.registry.endpointIDs.joined(separator: ", ")
            throw ValidationError("unknown endpoint '\(endpoint)'; served: \(known.isEmpty ? "none" : known)")
        } catch let error as SubmitError {
            throw ValidationError("invalid input: \(error)")
        }
        let id = prepared.id
        _ = try await platform.submitter.enqueue(prepared)
        let progress = ProgressPrinter()
        let job: Job = try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await platform.hub.run() }
            group.addTask { try await platform.pool.run() }
            let changes = platform.hub.changes(of: id, includingProgress: true)
            var iterator = changes.makeAsyncIterator()
            var shownLogs = 0
            while true {
                guard let job = try await platform.store.job(id: id) else { throw ValidationError("the request vanished") }
                let logs = try await platform.store.logs(id: id)
                for line in logs.dropFirst(shownLogs) { progress.log("\(line.level) \(line.message)") }
                shownLogs = logs.count
                if let p = platform.hub.progress(of: id) { progress.show(p) }
                if job.state.isTerminal {
                    group.cancelAll()
                    progress.finish()
                    return job
                }
                guard await iterator.next() != nil else { throw ValidationError("interrupted") }
            }
        }
        guard let result = job.result else { throw ValidationError("no result") }
        var output = try JSONValue(parsing: result.body)
        if result.status != 200 {
            FileHandle.standardError.write(Data("error (\(result.status)): \(String(decoding: result.body, as: UTF8.self))\n".utf8))
            throw ExitCode(1)
        }
        if let out {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            output = try await writeFiles(in: output, to: URL(fileURLWithPath: out, isDirectory: true), platform: platform)
        }
        print(String(decoding: output.encoded(pretty: true), as: UTF8.self))
    }

    /// `--input` as JSON (`@path` reads a file).
    func parsedInput() throws -> JSONValue {
        let text: String
        if input.hasPrefix("@") {
            do { text = try String(contentsOfFile: String(input.dropFirst()), encoding: .utf8) } catch {
                throw ValidationError("--input: cannot read \(input.dropFirst()): \(error.localizedDescription)")
            }
        } else {
            text = input
        }
        do { return try JSONValue(parsing: Data(text.utf8)) } catch { throw ValidationError("--input is not JSON") }
    }

    /// Turns `*_url` fields that name local files into data URIs: the CLI runs in-process for
    /// the user who typed the path, so reading it is theirs to ask (the server never does this).
    static func inliningLocalFiles(_ value: JSONValue) throws -> JSONValue {
        guard var members = value.objectValue else { return value }
        for (key, member) in members where key.hasSuffix("_url") {
            guard let path = localPath(member.stringValue) else { continue }
            guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(key): no such file '\(path)'") }
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            members[key] = .string("data:\(PeregrineClient.mediaType(forPath: path));base64,\(data.base64EncodedString())")
        }
        return .object(members)
    }

    /// Replaces every stored-file URL in `value` by the path of a copy written to `directory`.
    private func writeFiles(in value: JSONValue, to directory: URL, platform: EmbeddedPlatform) async throws -> JSONValue {
        switch value {
        case .object(var o):
            if let url = o["url"]?.stringValue, let file = try await platform.files.storedFile(at: url) {
                let name = (file.fileName ?? URL(string: url)?.lastPathComponent ?? "output").replacingOccurrences(of: "/", with: "_")
                var target = directory.appendingPathComponent(name)
                var n = 1
                while FileManager.default.fileExists(atPath: target.path) {
                    n += 1
                    target = directory.appendingPathComponent("\(n)-\(name)")
                }
                try file.data.write(to: target)
                o["url"] = .string(target.path)
                return .object(o)
            }
            var copy: [String: JSONValue] = [:]
            for (k, v) in o { copy[k] = try await writeFiles(in: v, to: directory, platform: platform) }
            return .object(copy)
        case .array(let a):
            var copy: [JSONValue] = []
            for v in a { copy.append(try await writeFiles(in: v, to: directory, platform: platform)) }
            return .array(copy)
        default:
            return value
        }
    }
}
