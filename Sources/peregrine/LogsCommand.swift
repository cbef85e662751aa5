import APITypes
import ArgumentParser
import Client
import Foundation
import NIOConcurrencyHelpers

/// `peregrine logs REQUEST_ID [--follow] [--json]`: a request's log lines.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Print a request's logs (--follow: until it completes).",
        discussion: """
            Without --endpoint the request is read through the admin API (an admin key, which sees every \
            key's requests; --follow polls twice a second). With --endpoint it is read like any fal client \
            reads it, with the key that submitted it (--follow uses the status stream).
            """)

    @Argument(help: "The request id.")
    var requestID: String
    @Option(help: "The endpoint the request was submitted to (owner/alias is enough).")
    var endpoint: String?
    @Flag(name: .shortAndLong, help: "Keep printing new lines until the request completes.")
    var follow = false
    @Flag(help: "Print each line as a JSON object (one per line).")
    var json = false
    @OptionGroup var remote: RemoteOptions

    func run() async throws {
        let printed = NIOLockedValueBox(0)
        let json = json
        // Each status carries every line so far: print the ones not printed yet, unbuffered, so
        // a follower piped into another program sees each line as it comes.
        let emit: @Sendable ([LogLine]) -> Void = { lines in
            let fresh = printed.withLockedValue { count -> ArraySlice<LogLine> in
                defer { count = max(count, lines.count) }
                return lines.dropFirst(count)
            }
            let text = fresh.map { Self.format($0, json: json) + "\n" }.joined()
            if !text.isEmpty { FileHandle.standardOutput.write(Data(text.utf8)) }
        }
        do {
            if let endpoint {
                try await remote.withClient { client in
                    let show: @Sendable (QueueStatus) -> Void = { status in if case .lines(let lines) = status.logs { emit(lines) } }
                    if follow {
                        try await client.follow(endpoint, requestID: requestID, logs: true, onUpdate: show)
                    } else {
                        show(try await client.status(endpoint, requestID: requestID, logs: true))
                    }
                }
            } else {
                try await remote.withClient(keyVariables: ["PEREGRINE_ADMIN_KEY", "FAL_KEY"]) { client in
                    var summary = try await client.request(requestID, logs: true)
                    emit(summary.logs ?? [])
                    while follow, !summary.isFinished {
                        try await client.retry.sleep(.milliseconds(500))
                        summary = try await client.request(requestID, logs: true)
                        emit(summary.logs ?? [])
                    }
                }
            }
        } catch let error as ClientError {
            throw failing(error, server: (try? remote.baseURL()) ?? "")
        }
    }

    /// `TIMESTAMP LEVEL message`, or the line as fal's JSON.
    static func format(_ line: LogLine, json: Bool) -> String {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return String(decoding: (try? encoder.encode(line)) ?? Data("{}".utf8), as: UTF8.self)
        }
        return "\(line.timestamp) \(line.level) \(line.message)"
    }
}
