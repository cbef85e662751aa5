import JobQueue

extension ResidencySettings {
    /// These settings with the stored runtime override applied on top (`nil` fields keep ours).
    public func applying(_ override: ModelSettingsOverride) -> ResidencySettings {
        var s = self
        if let v = override.keepAlive { s.keepAlive = Self.duration(seconds: v) }
        if let v = override.minConcurrency { s.minConcurrency = max(0, v) }
        if let v = override.maxConcurrency { s.maxConcurrency = max(1, v) }
        if let v = override.concurrencyBuffer { s.concurrencyBuffer = max(0, v) }
        if let v = override.startupTimeout { s.startupTimeout = Self.duration(seconds: v) }
        return s
    }

    /// `keepAlive` in seconds.
    public var keepAliveSeconds: Double { Self.seconds(keepAlive) }
    /// `startupTimeout` in seconds, or `nil` for none.
    public var startupTimeoutSeconds: Double? { startupTimeout.map(Self.seconds) }

    /// Saturating: an override read back from the settings store is not trusted to be in the
    /// range the admin route checks, and `Int64(_:)` traps on values beyond it. At most ~31,700
    /// years; NaN and negatives are 0.
    static func duration(seconds: Double) -> Duration {
        guard seconds > 0 else { return .zero }
        return .milliseconds(Int64((min(seconds, 1e12) * 1000).rounded()))
    }
    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
