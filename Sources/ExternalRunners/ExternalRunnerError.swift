/// Failures of the external-runner machinery itself (not of a request).
public enum ExternalRunnerError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A manifest file is unreadable or a field is missing or wrong.
    case invalidManifest(String)
    /// The runner process could not be created.
    case spawnFailed(String)
    /// The runner answered something the protocol does not allow.
    case protocolViolation(String)

    /// The failure in words, naming the manifest or program.
    public var description: String {
        switch self {
        case .invalidManifest(let m): "invalid runner manifest: \(m)"
        case .spawnFailed(let m): "could not start runner: \(m)"
        case .protocolViolation(let m): "runner protocol violation: \(m)"
        }
    }
}
