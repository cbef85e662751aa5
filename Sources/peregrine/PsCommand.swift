import APITypes
import ArgumentParser
import Client
import Foundation

/// `peregrine ps [--json]`: the running and queued requests of a running server and the models
/// it holds in memory (the admin API: an admin key, or a server without auth).
struct PsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps", abstract: "List a running server's requests (running, queued) and resident models.")

    @Flag(help: "Print JSON: {\"requests\": [...], \"models\": [...], \"resident_bytes\", \"budget_bytes\"}.")
    var json = false
    @Option(help: "Most requests listed.")
    var limit = 100
    @OptionGroup var remote: RemoteOptions

    /// What `--json` prints.
    struct Report: Codable, Equatable {
        var requests: [RequestSummary]
        var models: [ModelResidency]
        var residentBytes: Int
        var budgetBytes: Int

        enum CodingKeys: String, CodingKey {
            case requests, models
            case residentBytes = "resident_bytes"
            case budgetBytes = "budget_bytes"
        }
    }

    func run() async throws {
        let report: Report
        do {
            report = try await remote.withClient(keyVariables: ["PEREGRINE_ADMIN_KEY", "FAL_KEY"]) { client in
                let requests = try await client.activeRequests(limit: max(0, limit))
                let residency = try await client.residency()
                return Report(
                    requests: requests, models: residency.models, residentBytes: residency.residentBytes, budgetBytes: residency.budgetBytes)
            }
        } catch let error as ClientError {
            throw failing(error, server: (try? remote.baseURL()) ?? "")
        }
        if json {
            try printJSON(report)
            return
        }
        print(Self.table(report))
    }

    /// The terminal form: a request table, then the models in memory or busy.
    static func table(_ report: Report) -> String {
        var lines: [String] = []
        if report.requests.isEmpty {
            lines.append("no running or queued requests")
        } else {
            let rows = [["REQUEST", "ENDPOINT", "STATE", "POSITION", "ATTEMPT", "SUBMITTED"]] + report.requests.map {
                [$0.requestID, $0.endpointID, $0.state, $0.queuePosition.map(String.init) ?? "-", String($0.attempt), $0.enqueuedAt]
            }
            lines += columns(rows)
        }
        lines.append("")
        let busy = report.models.filter { $0.phase != "unloaded" || $0.queued > 0 || $0.running > 0 }
        if busy.isEmpty {
            lines.append("no models in memory (budget \(mebibytes(report.budgetBytes)))")
        } else {
            let rows = [["MODEL", "STATE", "MEMORY", "RUNNING", "QUEUED"]] + busy.map {
                [$0.endpointID, $0.phase, mebibytes($0.bytes), String($0.running), String($0.queued)]
            }
            lines += columns(rows)
            lines.append("memory \(mebibytes(report.residentBytes)) of \(mebibytes(report.budgetBytes))")
        }
        return lines.joined(separator: "\n")
    }

    static func mebibytes(_ bytes: Int) -> String { "\(bytes >> 20) MiB" }

    /// Rows padded into aligned columns.
    static func columns(_ rows: [[String]]) -> [String] {
        let widths = (0..<(rows.first?.count ?? 0)).map { i in rows.map { $0[i].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }
    }
}
