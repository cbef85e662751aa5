import Foundation

/// A value guarded by a lock, for the few places that share mutable state across tasks
/// without suspending (the notification broadcaster).
///
/// `@unchecked Sendable` is sound because every access to `value` goes through `withLock`.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
