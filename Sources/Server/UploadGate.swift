import Foundation
import Hummingbird
import NIOConcurrencyHelpers

/// Caps the uploads being received at once, and records the largest body chunk any of them
/// held in memory (bodies are streamed to disk chunk by chunk, so this stays at the transport's
/// chunk size however large the upload).
///
/// Over the cap an upload is answered 503 with `Retry-After` before its body is read: the limit
/// protects the server's disk bandwidth and file descriptors as a whole, not any one caller.
final class UploadGate: Sendable {
    private struct State {
        var active = 0
        var largestChunk = 0
    }

    /// Most uploads received at once; 0 means no limit.
    let limit: Int
    private let state = NIOLockedValueBox(State())

    /// - Parameter limit: most concurrent uploads (0: unlimited).
    init(limit: Int) { self.limit = limit }

    /// Uploads being received now.
    var active: Int { state.withLockedValue({ $0 }).active }

    /// The largest chunk of a request body held in memory so far.
    var largestChunk: Int { state.withLockedValue({ $0 }).largestChunk }

    /// Runs `body` in one of the upload slots.
    /// - Throws: `APIError` 503 with `Retry-After: 1` when every slot is taken.
    func withSlot<T>(_ body: () async throws -> T) async throws -> T {
        let admitted = state.withLockedValue { s -> Bool in
            guard limit == 0 || s.active < limit else { return false }
            s.active += 1
            return true
        }
        guard admitted else {
            var refusal = APIError.typed(
                .serviceUnavailable, "Too many uploads in progress (limit \(limit)). Retry shortly.", type: "server_busy")
            refusal.headers[.retryAfter] = "1"
            throw refusal
        }
        defer { state.withLockedValue { $0.active -= 1 } }
        return try await body()
    }

    /// Notes a chunk of `count` bytes about to be written.
    func noteChunk(_ count: Int) {
        state.withLockedValue { $0.largestChunk = max($0.largestChunk, count) }
    }
}
