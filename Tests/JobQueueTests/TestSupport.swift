import Foundation
import JobQueue

/// A fixed, millisecond-aligned instant, so stored dates read back equal.
let t0 = Date(timeIntervalSince1970: 1_800_000_000)

func newJob(
    _ id: String = UUID().uuidString, endpoint: String = "acme/upscale", priority: JobPriority = .normal,
    startDeadline: Date? = nil, maxAttempts: Int = 3, webhookURL: String? = nil, storeIO: Bool = true,
    apiKeyID: String? = nil
) -> NewJob {
    NewJob(
        id: id, endpointID: endpoint, input: Data(#"{"image_url":"data:,x","id":"\#(id)"}"#.utf8),
        priority: priority, startDeadline: startDeadline, maxAttempts: maxAttempts, webhookURL: webhookURL,
        storeIO: storeIO, apiKeyID: apiKeyID)
}

let okResult = JobResult(status: 200, body: Data(#"{"image":{"url":"http://x/y.png"}}"#.utf8), inferenceTime: 0.25)
let modelError = JobResult(
    status: 422, body: Data(#"{"detail":"bad image"}"#.utf8), errorMessage: "bad image", errorType: "validation_error")

/// Reads notifications from `stream` until `done` says the collected ones suffice, or the
/// deadline passes (then returns what it has, and the caller's expectation fails).
func collect(
    _ stream: AsyncStream<JobNotification>, deadline: Duration = .seconds(120),
    until done: @escaping @Sendable ([JobNotification]) -> Bool
) async -> [JobNotification] {
    await withTaskGroup(of: [JobNotification]?.self) { group in
        group.addTask {
            var seen: [JobNotification] = []
            for await notification in stream {
                seen.append(notification)
                if done(seen) { break }
            }
            return seen
        }
        group.addTask {
            try? await Task.sleep(for: deadline)
            return nil
        }
        var result: [JobNotification] = []
        if let first = await group.next() { result = first ?? [] }
        group.cancelAll()
        return result
    }
}

/// Parses a JSON object body.
func jsonObject(_ data: Data) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
}

extension JobStore {
    /// The token of the job's current lease (what the runner that leased it passes back), or a
    /// token no lease has when the job is not running.
    func leaseToken(of id: String) async throws -> String {
        try await job(id: id)?.leaseToken ?? "not-leased"
    }
}

extension Duration {
    /// The duration in milliseconds (the benchmarks' unit).
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
