/// Runs `operation` with an overall time limit: when `limit` passes first, the operation is
/// cancelled and `DeadlineExceeded` is thrown, whatever the operation returns afterwards.
///
/// Per-read timeouts do not bound a peer that sends one byte just inside each of them; this
/// bounds the whole exchange. The operation must end soon after cancellation (AsyncHTTPClient
/// requests and their bodies do; `SystemResolver` answers a cancelled caller at once).
/// - Parameters:
///   - limit: the longest the operation may take.
///   - operation: the work.
/// - Throws: `DeadlineExceeded`, or what the operation throws.
public func withDeadline<T: Sendable>(
    _ limit: Duration, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: DeadlineRace<T>.self) { group in
        group.addTask { .value(try await operation()) }
        group.addTask {
            try await Task.sleep(for: limit)
            return .expired
        }
        defer { group.cancelAll() }
        switch try await group.next() {
        case .value(let value): return value
        case .expired, nil: throw DeadlineExceeded(limit: limit)
        }
    }
}

/// An operation ran past its overall time limit (`withDeadline`).
public struct DeadlineExceeded: Error, Sendable, CustomStringConvertible {
    /// The limit that passed.
    public var limit: Duration
    /// - Parameter limit: the limit that passed.
    public init(limit: Duration) { self.limit = limit }
    public var description: String { "took longer than \(limit)" }
}

/// Which side of `withDeadline`'s race ended first.
private enum DeadlineRace<T: Sendable>: Sendable {
    case value(T)
    case expired
}
