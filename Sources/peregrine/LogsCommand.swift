import APITypes
import ArgumentParser
import Client
import Foundation
import NIOConcurrencyHelpers

/// `peregrine logs REQUEST_ID [--follow] [--json]`: a request's log lines, read from its status
/// (with `--follow`, from its status stream until it completes).
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Print a request's logs (--follow: until it completes).",
        discussion: """
            The request's endpoint is looked up with the admin API unless --endpoint names it \
            (then any key that submitted the request will do).
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
        let final: QueueStatus
        do {
            final = try await remote.withClient(keyVariables: endpoint == nil ? ["PEREGRINE_ADMIN_KEY", "FAL_KEY"] : ["FAL_KEY"]) { client in
                let endpoint: String
                if let given = self.endpoint { endpoint = given } else { endpoint = try await client.request(requestID).endpointID }
                let emit: @Sendable (QueueStatus) -> Void = { status in
                    guard case .lines(let lines) = status.logs else { return }
                    let fresh = printed.withLockedValue { count -> ArraySlice<LogLine> in
                        defer { count = max(count, lines.count) }
                        return lines.dropFirst(count)
                    }
                    // Written at once, unbuffered: a follower piped into another program sees each line as it comes.
                    let text = fresh.map { Self.format($0, json: json) + "\n" }.joined()
                    if !text.isEmpty { FileHandle.standardOutput.write(Data(text.utf8)) }
                }
                if follow { return try await client.follow(endpoint, requestID: requestID, logs: true, onUpdate: emit) }
                let status = try await client.status(endpoint, requestID: requestID, logs: true)
                emit(status)
                return status
            }
        } catch let error as ClientError {
            throw failing(error, server: (try? remote.baseURL()) ?? "")
        }
        if follow, let error = final.error {
            FileHandle.standardError.write(Data("request ended: \(final.errorType ?? "error"): \(error)\n".utf8))
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
