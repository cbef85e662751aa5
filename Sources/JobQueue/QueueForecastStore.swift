import Foundation

/// What a start-time forecast reads from the queue: the jobs running on an endpoint and where a
/// new job would stand. Kept apart from `JobStore`; a driver adds it when it can answer both
/// from its lease order.
public protocol QueueForecastStore: Sendable {
    /// When each job running on `endpointID` started (any node).
    func runningStarts(endpointID: String) async throws -> [Date]

    /// How many queued jobs of `endpointID` would be leased before a job submitted now with
    /// this priority and key, in the fair lease order (what its `queue_position` would read).
    func predictedPosition(endpointID: String, priority: JobPriority, apiKeyID: String?, now: Date) async throws -> Int
}
