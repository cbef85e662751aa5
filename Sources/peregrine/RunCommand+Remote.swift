import APITypes
import ArgumentParser
import Client
import Foundation
import ModelKit
import NIOConcurrencyHelpers

extension RunCommand {
    /// `run --server URL`: uploads local files, submits, follows the status stream (queue
    /// position and logs on stderr), prints the result on stdout and, with `--out`, downloads
    /// the output files.
    func runRemote() async throws {
        let value = try parsedInput()
        let server = try remote.baseURL()
        let progress = ProgressPrinter()
        let output: JSONValue
        do {
            output = try await remote.withClient { client in
                let input = try await Self.uploadingLocalFiles(value, client: client, progress: progress)
                let shown = NIOLockedValueBox(0)
                let result = try await client.subscribe(
                    endpoint, input: input, logs: true,
                    onEnqueue: { progress.log("request \($0)") },
                    onUpdate: { status in Self.report(status, shown: shown, progress: progress) })
                progress.finish()
                guard let out else { return result }
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                return try await Self.downloadingFiles(in: result, to: URL(fileURLWithPath: out, isDirectory: true), client: client)
            }
        } catch let error as ClientError {
            progress.finish()
            throw failing(error, server: server)
        }
        print(String(decoding: output.encoded(pretty: true), as: UTF8.self))
    }

    /// Shows one status on stderr: the queue position while queued, new log lines while running.
    static func report(_ status: QueueStatus, shown: NIOLockedValueBox<Int>, progress: ProgressPrinter) {
        switch status.status {
        case .inQueue:
            progress.log("queued, position \(status.queuePosition ?? 0)")
        case .inProgress, .completed:
            guard case .lines(let lines) = status.logs else { return }
            let fresh = shown.withLockedValue { count -> ArraySlice<LogLine> in
                defer { count = max(count, lines.count) }
                return lines.dropFirst(count)
            }
            for line in fresh { progress.log("\(line.level) \(line.message)") }
        }
    }

    /// Replaces top-level `*_url` fields naming local files by the URLs of their uploads.
    static func uploadingLocalFiles(_ value: JSONValue, client: PeregrineClient, progress: ProgressPrinter) async throws -> JSONValue {
        guard var members = value.objectValue else { return value }
        for (key, member) in members.sorted(by: { $0.key < $1.key }) where key.hasSuffix("_url") {
            guard let path = localPath(member.stringValue) else { continue }
            guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(key): no such file '\(path)'") }
            progress.log("uploading \(path)")
            members[key] = .string(try await client.upload(fileAt: URL(fileURLWithPath: path)))
        }
        return .object(members)
    }

    /// The path a `*_url` value names when it is a local file, `nil` for URLs and data URIs.
    static func localPath(_ text: String?) -> String? {
        guard let text, !text.hasPrefix("data:"), !text.hasPrefix("http://"), !text.hasPrefix("https://") else { return nil }
        return text.hasPrefix("file://") ? String(text.dropFirst("file://".count)) : text
    }

    /// Downloads every output file (an object with a `url` on the server) into `directory` and
    /// puts the local path in its place.
    static func downloadingFiles(in value: JSONValue, to directory: URL, client: PeregrineClient) async throws -> JSONValue {
        switch value {
        case .object(var o):
            if let url = o["url"]?.stringValue, url.hasPrefix("http"), let parsed = URL(string: url) {
                let name = (o["file_name"]?.stringValue ?? parsed.lastPathComponent).replacingOccurrences(of: "/", with: "_")
                var target = directory.appendingPathComponent(name.isEmpty ? "output" : name)
                var n = 1
                while FileManager.default.fileExists(atPath: target.path) {
                    n += 1
                    target = directory.appendingPathComponent("\(n)-\(name)")
                }
                try await client.download(url).write(to: target)
                o["url"] = .string(target.path)
                return .object(o)
            }
            var copy: [String: JSONValue] = [:]
            for (k, v) in o { copy[k] = try await downloadingFiles(in: v, to: directory, client: client) }
            return .object(copy)
        case .array(let a):
            var copy: [JSONValue] = []
            for v in a { copy.append(try await downloadingFiles(in: v, to: directory, client: client)) }
            return .array(copy)
        default:
            return value
        }
    }
}
