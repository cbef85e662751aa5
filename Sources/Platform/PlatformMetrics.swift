import CoreMetrics
import Foundation
import JobQueue
import Prometheus
import Runners

/// The platform's metrics: a Prometheus registry of its own (never the process-wide
/// `MetricsSystem`, so two platforms in one process, as in tests, never share or collide), the
/// swift-metrics factory that feeds it, and the text exposition `/metrics` serves.
public struct PlatformMetrics: Sendable {
    /// Where every metric of this platform lives.
    public let registry: PrometheusCollectorRegistry
    /// The swift-metrics factory over `registry`; the runner pool records through it.
    public let factory: any MetricsFactory
    /// The runner pool's residency state, copied in at each exposition.
    let residency: ResidencyMetrics

    static let queuedLabel = "peregrine_model_queued_requests"
    static let cacheLabel = "peregrine_result_cache_requests_total"

    /// An empty registry.
    public init() {
        registry = PrometheusCollectorRegistry()
        var descriptions = PoolMetrics.descriptions.merging(ResidencyMetrics.descriptions) { a, _ in a }
        descriptions[Self.queuedLabel] = "Requests queued in the store, not yet taken by a runner."
        descriptions[Self.cacheLabel] = "Submits to cached models by what the result cache made of them (hit, miss, bypass)."
        var prometheus = PrometheusMetricsFactory(registry: registry)
        let buckets = PoolMetrics.latencyBuckets.map { Duration.nanoseconds(Int64(($0 * 1e9).rounded())) }
        prometheus.defaultDurationHistogramBuckets = buckets
        factory = DescribedMetricsFactory(registry: registry, base: prometheus, descriptions: descriptions, durationBuckets: buckets)
        residency = ResidencyMetrics(factory: factory)
    }

    /// Counts a submit to a cached model under its verdict.
    public func recordCache(model: String, verdict: CacheVerdict) {
        Counter(label: Self.cacheLabel, dimensions: [("model", model), ("verdict", verdict.rawValue)], factory: factory).increment()
    }

    /// The runner pool's metrics for `models`, recorded into this registry.
    public func poolMetrics(models: [String]) -> PoolMetrics {
        PoolMetrics(models: models, factory: factory)
    }

    /// Prometheus's text format (version 0.0.4) of everything recorded, after copying in the
    /// state that is read rather than recorded: requests queued per model and the residency.
    /// - Parameters:
    ///   - queued: requests queued per model (`nil` when the store cannot say).
    ///   - models: every served model, so a model with nothing queued reads zero.
    ///   - residency: the runner pool's residency state, if a pool runs here.
    public func exposition(queued: [String: Int]?, models: [String], residency snapshot: ResidencyStateMachine?) -> String {
        if let queued {
            for model in models {
                Gauge(label: Self.queuedLabel, dimensions: [("model", model)], factory: factory).record(queued[model] ?? 0)
            }
        }
        if let snapshot { residency.record(snapshot) }
        return registry.emitToString()
    }
}

/// `PrometheusMetricsFactory` with help text: swift-metrics has no place for a description, so
/// metrics named in `descriptions` are made through the registry's own calls that take one.
/// Destroying goes to the Prometheus factory, which knows the registry's types.
struct DescribedMetricsFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    let base: PrometheusMetricsFactory
    let descriptions: [String: String]
    let durationBuckets: [Duration]

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        guard let help = descriptions[label] else { return base.makeCounter(label: label, dimensions: dimensions) }
        return registry.makeCounter(descriptor: Self.descriptor(label, help), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        guard let help = descriptions[label] else { return base.makeFloatingPointCounter(label: label, dimensions: dimensions) }
        return registry.makeCounter(descriptor: Self.descriptor(label, help), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard !aggregate, let help = descriptions[label] else {
            return base.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
        }
        return registry.makeGauge(descriptor: Self.descriptor(label, help), labels: dimensions)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        guard let help = descriptions[label] else { return base.makeMeter(label: label, dimensions: dimensions) }
        return registry.makeGauge(descriptor: Self.descriptor(label, help), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        guard let help = descriptions[label] else { return base.makeTimer(label: label, dimensions: dimensions) }
        return registry.makeDurationHistogram(descriptor: Self.descriptor(label, help), labels: dimensions, buckets: durationBuckets)
    }

    /// The metric named `label` exactly (no namespace or unit added), with its help text.
    static func descriptor(_ label: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: help)
    }

    func destroyCounter(_ handler: any CounterHandler) { base.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { base.destroyFloatingPointCounter(handler) }
    func destroyRecorder(_ handler: any RecorderHandler) { base.destroyRecorder(handler) }
    func destroyMeter(_ handler: any MeterHandler) { base.destroyMeter(handler) }
    func destroyTimer(_ handler: any TimerHandler) { base.destroyTimer(handler) }
}
