/// A Prometheus histogram of durations in seconds: counts per upper bound (cumulative when
/// rendered), the sum and the count.
public struct Histogram: Sendable, Equatable {
    /// Upper bounds in seconds, ascending; `+Inf` is implied.
    public static let defaultBounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

    /// Upper bounds in seconds, ascending.
    public let bounds: [Double]
    /// Observations per bucket (not cumulative); the last entry is above every bound.
    public private(set) var counts: [Int]
    /// Sum of all observations.
    public private(set) var sum = 0.0
    /// Number of observations.
    public private(set) var count = 0

    /// - Parameter bounds: ascending upper bounds in seconds.
    public init(bounds: [Double] = Histogram.defaultBounds) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count + 1)
    }

    /// Adds one observation.
    public mutating func observe(_ value: Double) {
        let index = bounds.firstIndex { value <= $0 } ?? bounds.count
        counts[index] += 1
        sum += value
        count += 1
    }

    /// The `_bucket`, `_sum` and `_count` lines of this histogram for `name` and `labels`
    /// (already formatted as `key="value"` pairs).
    func lines(_ name: String, labels: String) -> String {
        let prefix = labels.isEmpty ? "" : labels + ","
        var out = ""
        var cumulative = 0
        for (i, bound) in bounds.enumerated() {
            cumulative += counts[i]
            out += "\(name)_bucket{\(prefix)le=\"\(Self.format(bound))\"} \(cumulative)\n"
        }
        out += "\(name)_bucket{\(prefix)le=\"+Inf\"} \(count)\n"
        let braces = labels.isEmpty ? "" : "{\(labels)}"
        out += "\(name)_sum\(braces) \(Self.format(sum))\n"
        out += "\(name)_count\(braces) \(count)\n"
        return out
    }

    /// A float as Prometheus reads it (integers without a fraction, no exponent surprises).
    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
