import Foundation
import JobQueue

/// A wall clock the test moves by hand.
final class ManualNow: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    init(_ start: Date) { current = start }

    var now: Date { lock.withLock { current } }

    func advance(by seconds: TimeInterval) { lock.withLock { current += seconds } }
}

let t0 = Date(timeIntervalSince1970: 1_800_000_000)

func temporaryDirectory(_ prefix: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Enqueues a job with a webhook and finishes it, so the outbox holds one delivery.
func finishedJobWithWebhook(store: any JobStore, id: String, url: String, apiKeyID: String? = "pk_test") async throws {
    _ = try await store.enqueue(NewJob(id: id, endpointID: "acme/hook", input: Data("{}".utf8), webhookURL: url, apiKeyID: apiKeyID))
    _ = try await store.lease(endpointIDs: ["acme/hook"], owner: "r", limit: 1, leaseDuration: 60, now: t0)
    _ = try await store.finish(
        id: id, leaseToken: store.leaseToken(of: id), state: .completed, result: JobResult(status: 200, body: Data(#"{"ok":true}"#.utf8)), now: t0)
}

extension JobStore {
    /// The token of the job's current lease, or a token no lease has when it is not running.
    func leaseToken(of id: String) async throws -> String {
        try await job(id: id)?.leaseToken ?? "not-leased"
    }
}
