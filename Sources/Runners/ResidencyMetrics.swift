import CoreMetrics
import NIOConcurrencyHelpers

/// The residency state as swift-metrics: per model the requests waiting for residency and
/// running, whether it is resident and with how many bytes, and its load, eviction, expiry and
/// refusal counters; overall the resident bytes and the budget.
///
/// The state machine keeps these as plain numbers (it is pure); `record(_:)` copies a snapshot
/// into gauges and advances the counters by what they grew since the last snapshot, so an
/// exporter calls it right before it reads the metrics.
public final class ResidencyMetrics: Sendable {
    private struct Family: Sendable {
        var label: String
        var help: String
        var value: @Sendable (ResidencyStateMachine.ModelState) -> Int
    }

    private static let gauges: [Family] = [
        Family(label: "peregrine_model_waiting_requests", help: "Leased requests waiting for their model to be resident or to have a free slot.") { $0.queued },
        Family(label: "peregrine_model_running_requests", help: "Requests running now.") { $0.running },
        Family(label: "peregrine_model_resident", help: "1 when the model is loaded or loading.") { $0.phase == .unloaded ? 0 : 1 },
        Family(label: "peregrine_model_resident_bytes", help: "Memory held by the model (measured once loaded, estimated while loading).") { $0.accountedBytes },
    ]

    private static let counters: [Family] = [
        Family(label: "peregrine_model_loads_total", help: "Loads that finished.") { $0.counters.loads },
        Family(label: "peregrine_model_load_failures_total", help: "Loads that failed.") { $0.counters.loadFailures },
        Family(label: "peregrine_model_evictions_total", help: "Unloads to make room for another model.") { $0.counters.evictions },
        Family(label: "peregrine_model_expirations_total", help: "Unloads after the keep-alive.") { $0.counters.expirations },
        Family(label: "peregrine_model_refused_requests_total", help: "Requests failed because the model cannot load here.") { $0.counters.failedRequests },
        Family(label: "peregrine_model_startup_timeouts_total", help: "Loads that outlasted the startup timeout.") { $0.counters.startupTimeouts },
    ]

    private static let residentBytesLabel = "peregrine_resident_bytes"
    private static let budgetLabel = "peregrine_memory_budget_bytes"

    /// What each metric means, by name, for exporters that print help text.
    public static let descriptions: [String: String] = {
        var out: [String: String] = [:]
        for family in gauges + counters { out[family.label] = family.help }
        out[residentBytesLabel] = "Memory held by all loaded and loading models."
        out[budgetLabel] = "Memory all models may hold together."
        return out
    }()

    private let factory: any MetricsFactory
    /// Counter values already recorded, by counter label and model.
    private let recorded = NIOLockedValueBox<[String: [String: Int]]>([:])

    /// - Parameter factory: where the metrics go (default: the process-wide `MetricsSystem` factory).
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
    }

    /// Copies `snapshot` into the metrics.
    public func record(_ snapshot: ResidencyStateMachine) {
        // One caller at a time: two interleaved snapshots would advance a counter twice.
        recorded.withLockedValue { recorded in
            for (model, state) in snapshot.models {
                let dimensions = [("model", model)]
                for family in Self.gauges {
                    Gauge(label: family.label, dimensions: dimensions, factory: factory).record(family.value(state))
                }
                for family in Self.counters {
                    let now = family.value(state)
                    let before = recorded[family.label]?[model] ?? 0
                    // Counters only grow in the machine; never step one back.
                    Counter(label: family.label, dimensions: dimensions, factory: factory).increment(by: max(0, now - before))
                    recorded[family.label, default: [:]][model] = max(now, before)
                }
            }
            Gauge(label: Self.residentBytesLabel, factory: factory).record(snapshot.residentBytes)
            Gauge(label: Self.budgetLabel, factory: factory).record(snapshot.budget)
        }
    }
}
