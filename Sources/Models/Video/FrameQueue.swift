import Foundation

/// A bounded blocking queue between two pipeline stages on their own threads: the producer
/// blocks while `capacity` items wait, so frames in flight (and memory) stay bounded however
/// long the video is.
final class FrameQueue<Element: Sendable>: @unchecked Sendable {
    private enum State { case open, finished(Error?), cancelled }

    // All state is guarded by `condition`.
    private let condition = NSCondition()
    private var items: [Element] = []
    private var head = 0
    private var state = State.open
    private let capacity: Int

    /// - Parameter capacity: most items waiting at once (at least 1).
    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Adds an item, waiting while the queue is full.
    /// - Returns: false when the queue was cancelled (the consumer has stopped).
    func push(_ item: Element) -> Bool {
        condition.lock(); defer { condition.unlock() }
        while case .open = state, items.count - head >= capacity { condition.wait() }
        guard case .open = state else { return false }
        if head > capacity { items.removeFirst(head); head = 0 }
        items.append(item)
        condition.broadcast()
        return true
    }

    /// The next item, waiting while the queue is empty and open.
    /// - Returns: `nil` once the producer finished and every item was taken, or at once after
    ///   a cancel.
    /// - Throws: the producer's error, after the items pushed before it.
    func pop() throws -> Element? {
        condition.lock(); defer { condition.unlock() }
        while case .open = state, head == items.count { condition.wait() }
        if case .cancelled = state { return nil }
        if head < items.count {
            let item = items[head]
            head += 1
            condition.broadcast()
            return item
        }
        if case .finished(let error?) = state { throw error }
        return nil
    }

    /// The producer is done (with `error` if it failed); items already pushed are still taken.
    func finish(throwing error: Error? = nil) {
        condition.lock(); defer { condition.unlock() }
        if case .open = state { state = .finished(error) }
        condition.broadcast()
    }

    /// Stops both sides: waiting items are dropped, `push` returns false, `pop` returns nil.
    func cancel() {
        condition.lock(); defer { condition.unlock() }
        state = .cancelled
        items = []
        head = 0
        condition.broadcast()
    }

    /// Whether `cancel()` was called.
    var isCancelled: Bool {
        condition.lock(); defer { condition.unlock() }
        if case .cancelled = state { return true }
        return false
    }
}
