import AsyncHTTPClient
import Foundation
import Logging
import ModelKit
import NIOConcurrencyHelpers

/// A model served by a separate runner process (any language) speaking the runner protocol
/// (docs/runner-protocol.md).
///
/// `load` starts the process and waits for it to be healthy and set up; the loaded model
/// forwards requests to it, streaming progress and logs into the request's `RunContext`. The
/// process is stopped when the loaded model is dropped (evicted) or `shutdown()` is called.
public struct ExternalModel: Model {
    /// How the runner is started.
    public let runner: RunnerManifest
    private let http: HTTPClient
    private let logger: Logger
    private let supervisors = SupervisorSet()

    /// What the model is and how it is called (from the runner manifest).
    public var manifest: ModelManifest { runner.model }

    /// - Parameters:
    ///   - runner: the runner manifest.
    ///   - http: the client used for the runner's socket (default: the shared client).
    ///   - logger: where runner output and restarts are logged.
    public init(runner: RunnerManifest, http: HTTPClient = .shared, logger: Logger = Logger(label: "peregrine.external-runners")) {
        self.runner = runner
        self.http = http
        self.logger = logger
    }

    /// Starts the runner process, waits for `GET /health` within the startup timeout and runs
    /// `POST /setup`.
    /// - Throws: `ModelError` with `startup_timeout`, `runner_start_failed`, or the error type
    ///   the runner's setup answered.
    public func load(context: LoadContext) async throws -> any LoadedModel {
        let supervisor = try RunnerSupervisor(manifest: runner, http: http, logger: logger)
        supervisors.add(supervisor)
        do {
            let instance = try await supervisor.current()
            return ExternalLoadedModel(
                supervisor: supervisor, runner: runner,
                footprintBytes: Self.footprint(of: instance, estimate: runner.model.memoryEstimateBytes))
        } catch {
            await supervisor.stop()
            supervisors.remove(supervisor)
            throw error
        }
    }

    /// The state of the most recently loaded runner, or `nil` when none was loaded.
    public func status() async -> RunnerStatus? {
        guard let last = supervisors.all.last else { return nil }
        return await last.status
    }

    /// Stops every runner process this model started.
    public func shutdown() async {
        for supervisor in supervisors.all {
            await supervisor.stop()
            supervisors.remove(supervisor)
        }
    }

    /// What the runner reported at setup (`memory_bytes`) or, when larger, its resident set.
    static func footprint(of instance: RunnerInstance, estimate: Int) -> Int {
        let reported = instance.setupInfo["memory_bytes"]?.intValue.map(Int.init) ?? 0
        let resident = residentBytes(pid: instance.process.pid) ?? 0
        let measured = max(reported, resident)
        return measured > 0 ? measured : estimate
    }

    /// The resident set of a process from `/proc` (Linux), or `nil`.
    static func residentBytes(pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The `ModelError` code for a runner's `error_type`, when Peregrine knows it.
    static func code(named name: String?) -> ModelError.Code? {
        let known: [ModelError.Code] = [
            .invalidInput, .fileDownloadError, .unsupportedMedia, .weightsMissing, .weightsInvalid, .internalError,
            .runnerDisconnected, .startupTimeout, .runnerStartFailed,
        ]
        return known.first { $0.description == name }
    }
}

/// The supervisors a model started, so that `shutdown()` can stop them.
final class SupervisorSet: Sendable {
    private let storage = NIOLockedValueBox<[RunnerSupervisor]>([])
    func add(_ s: RunnerSupervisor) { storage.withLockedValue { $0.append(s) } }
    func remove(_ s: RunnerSupervisor) { storage.withLockedValue { $0.removeAll { $0 === s } } }
    var all: [RunnerSupervisor] { storage.withLockedValue({ $0 }) }
}
