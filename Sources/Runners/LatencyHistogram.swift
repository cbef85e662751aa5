/// A latency histogram kept in memory beside the exported one (same buckets): what the pool
/// reads back to forecast when a queued request will start and finish. Prometheus histograms
/// are write-only from here, so the counts are mirrored rather than scraped.
public struct LatencyHistogram: Sendable, Equatable {
    /// Upper bounds of the buckets, in seconds (`+Inf` implied).
    public let bounds: [Double]
    /// Observations per bucket; the last counts those above every bound.
    public private(set) var counts: [Int]
    /// Observations so far.
    public private(set) var count = 0
    /// Sum of the observations, in seconds.
    public private(set) var sum = 0.0

    /// An empty histogram over `bounds` (ascending).
    public init(bounds: [Double] = PoolMetrics.latencyBuckets) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count + 1)
    }

    /// Records one latency; a negative or non-finite value counts as 0.
    public mutating func record(_ seconds: Double) {
        let value = seconds.isFinite ? max(0, seconds) : 0
        let bucket = bounds.firstIndex { value <= $0 } ?? bounds.count
        counts[bucket] &+= 1
        count &+= 1
        sum += value
    }

    /// The mean latency, or `nil` before the first observation.
    public var mean: Double? { count > 0 ? sum / Double(count) : nil }
}
