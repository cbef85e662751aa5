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

    static func duration(seconds: Double) -> Duration { .milliseconds(Int64((max(0, seconds) * 1000).rounded())) }
    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
