import Foundation
import NIOConcurrencyHelpers

/// Fans store notifications out to any number of subscribers, one `AsyncStream` each.
///
/// Publishing never waits on a subscriber: each stream buffers the newest notifications only
/// (a slow reader loses old ones, and a reader that missed some re-reads the store, which is
/// what `version` numbers are for). A stream whose consumer went away is removed at once.
public final class JobNotificationBroadcaster: Sendable {
    private let subscribers = NIOLockedValueBox<[UInt64: AsyncStream<JobNotification>.Continuation]>([:])
    private let nextID = NIOLockedValueBox<UInt64>(0)
    private let bufferSize: Int

    /// - Parameter bufferSize: notifications kept per subscriber before the oldest are dropped.
    public init(bufferSize: Int = 1024) {
        self.bufferSize = bufferSize
    }

    /// A new stream that receives every notification published after this call.
    public func subscribe() -> AsyncStream<JobNotification> {
        let id = nextID.withLockedValue { value -> UInt64 in
            value += 1
            return value
        }
        let (stream, continuation) = AsyncStream<JobNotification>.makeStream(
            bufferingPolicy: .bufferingNewest(bufferSize))
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLockedValue { _ = $0.removeValue(forKey: id) }
        }
        subscribers.withLockedValue { $0[id] = continuation }
        return stream
    }

    /// Delivers notifications to every current subscriber without blocking.
    public func publish(_ notifications: [JobNotification]) {
        guard !notifications.isEmpty else { return }
        let targets = subscribers.withLockedValue { Array($0.values) }
        for continuation in targets {
            for notification in notifications { continuation.yield(notification) }
        }
    }

    /// Number of live subscribers (finished streams are already removed).
    public var subscriberCount: Int { subscribers.withLockedValue { $0.count } }
}
