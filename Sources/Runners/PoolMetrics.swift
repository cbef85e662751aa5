import CoreMetrics
import NIOConcurrencyHelpers

/// Per-model request metrics of the runner pool, recorded through swift-metrics: latency
/// histograms (queue wait, inference, end to end), load times, cold and warm starts, and errors
/// by `error_type`. Which backend receives them is the factory's business (the platform hands in
/// one that feeds its Prometheus registry).
public final class PoolMetrics: Sendable {
    /// Which latency a histogram measures.
    public enum Latency: String, Sendable, CaseIterable {
        /// Enqueue until the model starts the request (includes waiting for residency and a load).
        case queueWait = "queue_wait"
        /// The model's run.
        case inference
        /// Enqueue until the outcome is recorded.
        case endToEnd = "end_to_end"

        /// The metric's name.
        public var label: String { "peregrine_request_\(rawValue)_seconds" }
    }

    /// Upper bounds, in seconds, of the latency and load-time histogram buckets (`+Inf` implied).
    public static let latencyBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]
    /// The load-time histogram's name.
    public static let loadLabel = "peregrine_model_load_seconds"
    /// The start counter's name (dimension `start`: `cold` or `warm`).
    public static let startsLabel = "peregrine_request_starts_total"
    /// The error counter's name (dimension `error_type`).
    public static let errorsLabel = "peregrine_request_errors_total"

    /// What each metric means, by name, for exporters that print help text.
    public static let descriptions: [String: String] = [
        Latency.queueWait.label: "Time from enqueue until the model started the request (queue, residency wait and load).",
        Latency.inference.label: "Time the model spent running the request.",
        Latency.endToEnd.label: "Time from enqueue until the outcome was recorded.",
        loadLabel: "Time a model took to load.",
        startsLabel: "Requests started, cold (waited for their model to load) or warm.",
        errorsLabel: "Requests that ended with an error, by error_type.",
    ]

    /// Starts and load time per model, kept here too for benchmarks' reports.
    private struct Tally {
        var starts: [String: (cold: Int, warm: Int)] = [:]
        var loadSeconds: [String: Double] = [:]
        /// Inference latencies per model, mirrored for forecasts.
        var inference: [String: LatencyHistogram] = [:]
    }

    private let factory: any MetricsFactory
    private let tally = NIOLockedValueBox(Tally())

    /// - Parameters:
    ///   - models: endpoint ids whose series exist from the start, so a model with no traffic yet
    ///     reads zero rather than being absent.
    ///   - factory: where the metrics go (default: the process-wide `MetricsSystem` factory).
    public init(models: [String] = [], factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        for model in models {
            for latency in Latency.allCases { _ = timer(latency.label, model: model) }
            _ = timer(Self.loadLabel, model: model)
            for start in ["cold", "warm"] { starts(model: model, start: start).increment(by: 0) }
        }
    }

    private func timer(_ label: String, model: String) -> CoreMetrics.Timer {
        CoreMetrics.Timer(label: label, dimensions: [("model", model)], factory: factory)
    }

    private func starts(model: String, start: String) -> Counter {
        Counter(label: Self.startsLabel, dimensions: [("model", model), ("start", start)], factory: factory)
    }

    /// Records one latency of a request of `model`, in seconds.
    public func observe(_ latency: Latency, model: String, seconds: Double) {
        timer(latency.label, model: model).recordSeconds(max(0, seconds))
        if latency == .inference {
            tally.withLockedValue { $0.inference[model, default: LatencyHistogram()].record(seconds) }
        }
    }

    /// The inference latencies of `model` recorded so far in this process (empty before any).
    public func inferenceHistogram(of model: String) -> LatencyHistogram {
        tally.withLockedValue { $0.inference[model] ?? LatencyHistogram() }
    }

    /// Records how long a load of `model` took, in seconds.
    public func observeLoad(model: String, seconds: Double) {
        timer(Self.loadLabel, model: model).recordSeconds(max(0, seconds))
        tally.withLockedValue { $0.loadSeconds[model, default: 0] += max(0, seconds) }
    }

    /// Records that a request of `model` started, cold (it waited for a load) or warm.
    public func recordStart(model: String, cold: Bool) {
        starts(model: model, start: cold ? "cold" : "warm").increment()
        tally.withLockedValue { s in
            var entry = s.starts[model] ?? (0, 0)
            if cold { entry.cold += 1 } else { entry.warm += 1 }
            s.starts[model] = entry
        }
    }

    /// Records a request of `model` that ended with `errorType`.
    public func recordError(model: String, type errorType: String) {
        Counter(label: Self.errorsLabel, dimensions: [("model", model), ("error_type", errorType)], factory: factory).increment()
    }

    /// Cold and warm starts of `model` so far.
    public func starts(of model: String) -> (cold: Int, warm: Int) { tally.withLockedValue { $0.starts[model] ?? (0, 0) } }

    /// Seconds all loads of `model` took together so far.
    public func loadSeconds(of model: String) -> Double { tally.withLockedValue { $0.loadSeconds[model] ?? 0 } }
}
