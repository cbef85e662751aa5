import Foundation

/// Waits until `condition` holds, re-checking it every few milliseconds, up to a hang-guard
/// deadline: what a test waits for is the condition, never an amount of time.
/// - Returns: whether the condition held before the deadline.
public func waitUntil(deadline: Duration = .seconds(120), _ condition: @Sendable () async throws -> Bool) async rethrows -> Bool {
    let end = ContinuousClock.now + deadline
    while ContinuousClock.now < end {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return try await condition()
}
