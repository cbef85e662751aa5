import Foundation
import JobQueue
import NIOConcurrencyHelpers

extension RunnerPool {
    /// The settings in force for `endpointID` (defaults with runtime overrides), or `nil` when
    /// the model is not served here.
    public func settings(for endpointID: String) -> ResidencySettings? {
        current.withLockedValue { $0[endpointID] }
    }

    /// The settings of `endpointID` from its manifest and the configuration, before overrides.
    public func defaultSettings(for endpointID: String) -> ResidencySettings? { defaults[endpointID] }

    /// Applies a runtime override to a served model at once: residency (keep-alive, pinning,
    /// warm buffer, startup timeout) and the lease loop's concurrency limit. The override
    /// replaces the previous one; `nil` fields fall back to the defaults.
    /// - Returns: the settings now in force, or `nil` when the model is not served here.
    @discardableResult
    public func apply(_ override: ModelSettingsOverride, to endpointID: String) -> ResidencySettings? {
        guard let base = defaults[endpointID] else { return nil }
        let settings = base.applying(override)
        current.withLockedValue { $0[endpointID] = settings }
        residency.update(endpointID, settings: settings)
        // A higher limit may let the lease loop take more jobs now.
        _ = kicks.withLockedValue { $0[endpointID] }?.yield()
        return settings
    }

    /// Stops a job this process is running because its caller cancelled it (the store already
    /// records the request); the model sees the cancellation at its next check.
    /// - Returns: whether the job was running here.
    @discardableResult
    public func stopRunning(id: String) -> Bool {
        guard let handle = running.withLockedValue({ $0[id] }) else { return false }
        handle.stop(.userCancelled)
        return true
    }

    /// Applies the persisted overrides; `run` calls it before leasing any job.
    public func applyStoredSettings() async {
        guard let settingsStore else { return }
        do {
            for (endpoint, override) in try await settingsStore.allOverrides() where defaults[endpoint] != nil {
                apply(override, to: endpoint)
            }
        } catch {
            logger.error("could not read stored model settings; serving with defaults", metadata: ["error": "\(error)"])
        }
    }
}
