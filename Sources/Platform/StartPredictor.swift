import Foundation
import JobQueue
import Runners

/// Forecasts for the models the runner pool in this process serves: the pool's mean inference
/// time and concurrency limit, the store's running jobs and queue order, fed to
/// `StartForecast`. No forecast for a model with no inference recorded yet, or not served here.
public struct StartPredictor: Sendable {
    let pool: RunnerPool
    let store: any QueueForecastStore

    /// - Parameters:
    ///   - pool: the runner pool (latency histograms and concurrency limits).
    ///   - store: the queue (running jobs, lease order).
    public init(pool: RunnerPool, store: any QueueForecastStore) {
        self.pool = pool
        self.store = store
    }

    /// The mean inference time of `endpointID` and its concurrency, or `nil` without history.
    private func basis(_ endpointID: String) -> (mean: Double, concurrency: Int)? {
        guard let settings = pool.settings(for: endpointID), let mean = pool.metrics.inferenceHistogram(of: endpointID).mean
        else { return nil }
        return (mean, settings.maxConcurrency)
    }

    /// The forecast of a queued job at `position`.
    /// - Throws: store errors.
    public func forecast(endpointID: String, position: Int, now: Date = Date()) async throws -> StartForecast? {
        guard let basis = basis(endpointID) else { return nil }
        let running = try await store.runningStarts(endpointID: endpointID)
        return StartForecast.predict(position: position, concurrency: basis.concurrency, runningStarts: running, mean: basis.mean, now: now)
    }

    /// The forecast of a job not submitted yet, placed where the fair lease order would put it.
    /// - Throws: store errors.
    public func forecastNew(endpointID: String, priority: JobPriority, apiKeyID: String?, now: Date = Date()) async throws
        -> StartForecast?
    {
        guard let basis = basis(endpointID) else { return nil }
        let position = try await store.predictedPosition(endpointID: endpointID, priority: priority, apiKeyID: apiKeyID, now: now)
        let running = try await store.runningStarts(endpointID: endpointID)
        return StartForecast.predict(position: position, concurrency: basis.concurrency, runningStarts: running, mean: basis.mean, now: now)
    }

    /// The forecast finish of a job of `endpointID` running since `started`.
    public func finish(endpointID: String, started: Date, now: Date = Date()) -> Date? {
        guard let basis = basis(endpointID) else { return nil }
        return StartForecast.finish(started: started, mean: basis.mean, now: now)
    }
}
