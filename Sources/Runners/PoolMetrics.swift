import NIOConcurrencyHelpers
/// Per-model request metrics of the runner pool: latency histograms (queue wait, inference,
/// end to end), load times, cold and warm starts, and errors by `error_type`.
public final class PoolMetrics: Sendable {
    /// Which latency a histogram measures.
    public enum Latency: String, Sendable, CaseIterable {
        /// Enqueue until the model starts the request (includes waiting for residency and a load).
        case queueWait = "queue_wait"
        /// The model's run.
        case inference
        /// Enqueue until the outcome is recorded.
        case endToEnd = "end_to_end"
    }

    private struct State {
        var latency: [Latency: [String: Histogram]] = [:]
        var loads: [String: Histogram] = [:]
        var starts: [String: (cold: Int, warm: Int)] = [:]
        var errors: [String: [String: Int]] = [:]
    }

    private let state = NIOLockedValueBox(State())

    /// Empty metrics.
    public init() {}

    /// Records one latency of a request of `model`, in seconds.
    public func observe(_ latency: Latency, model: String, seconds: Double) {
        state.withLockedValue { $0.latency[latency, default: [:]][model, default: Histogram()].observe(max(0, seconds)) }
    }

    /// Records how long a load of `model` took, in seconds.
    public func observeLoad(model: String, seconds: Double) {
        state.withLockedValue { $0.loads[model, default: Histogram()].observe(max(0, seconds)) }
    }

    /// Records that a request of `model` started, cold (it waited for a load) or warm.
    public func recordStart(model: String, cold: Bool) {
        state.withLockedValue { s in
            var entry = s.starts[model] ?? (0, 0)
            if cold { entry.cold += 1 } else { entry.warm += 1 }
            s.starts[model] = entry
        }
    }

    /// Records a request of `model` that ended with `errorType`.
    public func recordError(model: String, type errorType: String) {
        state.withLockedValue { $0.errors[model, default: [:]][errorType, default: 0] += 1 }
    }

    /// Cold and warm starts of `model` so far.
    public func starts(of model: String) -> (cold: Int, warm: Int) { state.withLockedValue { $0.starts[model] ?? (0, 0) } }

    /// A copy of one latency histogram.
    public func histogram(_ latency: Latency, model: String) -> Histogram? { state.withLockedValue { $0.latency[latency]?[model] } }

    /// A copy of the load-time histogram of `model`.
    public func loadHistogram(model: String) -> Histogram? { state.withLockedValue { $0.loads[model] } }

    /// Errors of `model` by type.
    public func errors(of model: String) -> [String: Int] { state.withLockedValue { $0.errors[model] ?? [:] } }

    /// The metrics in Prometheus's text format; every family lists each of `models`, so a
    /// model with no traffic yet reads zero rather than being absent.
    public func prometheusText(models: [String]) -> String {
        let s = state.withLockedValue({ $0 })
        let names = models.sorted()
        var out = ""
        for latency in Latency.allCases {
            let name = "peregrine_request_\(latency.rawValue)_seconds"
            out += "# HELP \(name) \(Self.help(latency))\n# TYPE \(name) histogram\n"
            for model in names {
                out += (s.latency[latency]?[model] ?? Histogram()).lines(name, labels: "model=\"\(label(model))\"")
            }
        }
        out += "# HELP peregrine_model_load_seconds Time a model took to load.\n# TYPE peregrine_model_load_seconds histogram\n"
        for model in names {
            out += (s.loads[model] ?? Histogram()).lines("peregrine_model_load_seconds", labels: "model=\"\(label(model))\"")
        }
        out += "# HELP peregrine_request_starts_total Requests started, cold (waited for their model to load) or warm.\n"
        out += "# TYPE peregrine_request_starts_total counter\n"
        for model in names {
            let entry = s.starts[model] ?? (0, 0)
            out += "peregrine_request_starts_total{model=\"\(label(model))\",start=\"cold\"} \(entry.cold)\n"
            out += "peregrine_request_starts_total{model=\"\(label(model))\",start=\"warm\"} \(entry.warm)\n"
        }
        out += "# HELP peregrine_request_errors_total Requests that ended with an error, by error_type.\n"
        out += "# TYPE peregrine_request_errors_total counter\n"
        for model in names {
            for (type, count) in (s.errors[model] ?? [:]).sorted(by: { $0.key < $1.key }) {
                out += "peregrine_request_errors_total{model=\"\(label(model))\",error_type=\"\(label(type))\"} \(count)\n"
            }
        }
        return out
    }

    private func label(_ value: String) -> String { ResidencyStateMachine.escapeLabel(value) }

    private static func help(_ latency: Latency) -> String {
        switch latency {
        case .queueWait: "Time from enqueue until the model started the request (queue, residency wait and load)."
        case .inference: "Time the model spent running the request."
        case .endToEnd: "Time from enqueue until the outcome was recorded."
        }
    }
}
