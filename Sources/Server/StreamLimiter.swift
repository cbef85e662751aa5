import Foundation
import NIOConcurrencyHelpers

/// Counts the open server-sent-event streams of each API key. A stream holds a connection and
/// a task for as long as the job runs (or forever, for a job that never finishes), so without a
/// bound one key could hold the server's connections and memory with streams alone.
final class StreamLimiter: Sendable {
    private let limit: Int
    private let open = NIOLockedValueBox<[String: Int]>([:])

    /// - Parameter limit: most open streams per key; 0 means no limit.
    init(limit: Int) { self.limit = limit }

    /// A slot for one more stream of `key` (`nil` key: the callers without one, when auth is
    /// off, share one count), or `nil` when the key already has `limit` streams open.
    func acquire(key: String?) -> StreamSlot? {
        let name = key ?? ""
        let granted = open.withLockedValue { counts -> Bool in
            let current = counts[name, default: 0]
            guard limit == 0 || current < limit else { return false }
            counts[name] = current + 1
            return true
        }
        guard granted else { return nil }
        return StreamSlot { [self] in
            open.withLockedValue { counts in
                let left = counts[name, default: 1] - 1
                counts[name] = left > 0 ? left : nil
            }
        }
    }

    /// Streams `key` has open now.
    func openStreams(key: String?) -> Int { open.withLockedValue { $0[key ?? "", default: 0] } }
}

/// One open stream's share of its key's limit; released once, when the stream ends or, if the
/// response was never written (the client left before the body started), when it is dropped.
final class StreamSlot: Sendable {
    private let onRelease: NIOLockedValueBox<(@Sendable () -> Void)?>

    init(onRelease: @escaping @Sendable () -> Void) { self.onRelease = NIOLockedValueBox(onRelease) }

    /// Gives the slot back; later calls do nothing.
    func release() {
        let action = onRelease.withLockedValue { action -> (@Sendable () -> Void)? in
            defer { action = nil }
            return action
        }
        action?()
    }

    deinit { release() }
}
