import Foundation

/// Runtime overrides of one model's serving settings (fal's `keep_alive`, `min_concurrency`,
/// `max_concurrency`, `concurrency_buffer`, `startup_timeout`). `nil` keeps the default from
/// the manifest and the server's configuration.
public struct ModelSettingsOverride: Sendable, Equatable {
    /// Seconds an idle model stays loaded.
    public var keepAlive: Double?
    /// Above zero, the model is always loaded.
    public var minConcurrency: Int?
    /// Requests the model runs at once.
    public var maxConcurrency: Int?
    /// Warm capacity kept ahead of demand.
    public var concurrencyBuffer: Int?
    /// Seconds a load may take before its requests fail with `startup_timeout`.
    public var startupTimeout: Double?

    /// - Parameters: each setting, `nil` for the default.
    public init(
        keepAlive: Double? = nil, minConcurrency: Int? = nil, maxConcurrency: Int? = nil,
        concurrencyBuffer: Int? = nil, startupTimeout: Double? = nil
    ) {
        self.keepAlive = keepAlive
        self.minConcurrency = minConcurrency
        self.maxConcurrency = maxConcurrency
        self.concurrencyBuffer = concurrencyBuffer
        self.startupTimeout = startupTimeout
    }

    /// True when nothing is overridden.
    public var isEmpty: Bool { self == ModelSettingsOverride() }
}

/// Where runtime model settings are persisted, so that a change survives a restart.
public protocol ModelSettingsStore: Sendable {
    /// Every stored override, by endpoint id.
    func allOverrides() async throws -> [String: ModelSettingsOverride]
    /// The override of one endpoint (empty when none is stored).
    func override(for endpointID: String) async throws -> ModelSettingsOverride
    /// Replaces the override of one endpoint; an empty override deletes the row.
    func setOverride(_ override: ModelSettingsOverride, for endpointID: String, now: Date) async throws
}
