import AsyncHTTPClient
import Foundation
import Logging
import ModelKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A started runner process that passed its health check and set up.
struct RunnerInstance: Sendable {
    let process: RunnerProcess
    let client: RunnerClient
    /// Counts starts of this supervisor: 1 for the first process.
    let generation: Int
    /// What `POST /setup` answered.
    let setupInfo: JSONValue
}

/// What a supervisor is doing now, for status pages and tests.
public struct RunnerStatus: Sendable, Equatable {
    /// The live process, when one is up.
    public var pid: Int32?
    /// Processes started so far (the first start included).
    public var starts: Int
    /// Restarts after the runner exited unexpectedly.
    public var restarts: Int
    /// True once `stop()` was called.
    public var stopped: Bool
}

/// Keeps one runner process alive for a loaded external model: starts it (health check within
/// the startup timeout, then setup), restarts it with exponential backoff when it exits
/// unexpectedly, and stops it (SIGTERM, then SIGKILL after the grace period).
actor RunnerSupervisor {
    private let manifest: RunnerManifest
    private let http: HTTPClient
    private let logger: Logger
    /// A private directory for sockets and request files.
    let directory: URL
    private var instance: RunnerInstance?
    private var starting: Task<RunnerInstance, any Error>?
    private var starts = 0
    private var restarts = 0
    private var consecutiveFailures = 0
    private var stopped = false

    init(manifest: RunnerManifest, http: HTTPClient, logger: Logger) throws {
        self.manifest = manifest
        self.http = http
        self.logger = logger
        directory = try Self.makeDirectory()
    }

    /// A short private directory: socket paths are limited to about 100 bytes. Made by
    /// `mkdtemp` (a new directory, mode 0700, with an unguessable name), never an existing one
    /// or a link another user placed under a name they could predict.
    static func makeDirectory() throws -> URL {
        var base = FileManager.default.temporaryDirectory.path
        if base.utf8.count > 40 { base = "/tmp" }
        var template = Array("\(base)/peregrine-runner-XXXXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw ExternalRunnerError.spawnFailed("cannot create a runner directory in \(base): \(String(cString: strerror(errno)))")
        }
        return URL(fileURLWithPath: String(cString: made), isDirectory: true)
    }

    var status: RunnerStatus {
        RunnerStatus(pid: instance?.process.pid, starts: starts, restarts: restarts, stopped: stopped)
    }

    /// The running instance, waiting for a start or restart in progress.
    /// - Throws: `ModelError` (`startup_timeout`, `runner_start_failed`, `runner_disconnected`)
    ///   when no runner can be had.
    func current() async throws -> RunnerInstance {
        if let instance { return instance }
        if stopped { throw ModelError(.runnerDisconnected, "the model's runner was stopped") }
        if let starting { return try await starting.value }
        return try await launch(after: .zero)
    }

    /// Starts a process unless one is starting; the returned task's value is the instance.
    private func launch(after delay: Duration) async throws -> RunnerInstance {
        let task = Task { () async throws -> RunnerInstance in
            if delay > .zero { try await Task.sleep(for: delay) }
            return try await self.startProcess()
        }
        starting = task
        do {
            let started = try await task.value
            return started
        } catch {
            if starting == task { starting = nil }
            throw error
        }
    }

    private func startProcess() async throws -> RunnerInstance {
        if stopped { throw ModelError(.runnerDisconnected, "the model's runner was stopped") }
        starts += 1
        let generation = starts
        let socket = directory.appendingPathComponent("g\(generation).sock").path
        try? FileManager.default.removeItem(atPath: socket)
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in manifest.environment { environment[k] = v }
        environment["PEREGRINE_RUNNER_SOCKET"] = socket
        environment["PEREGRINE_RUNNER_PROTOCOL"] = "1"
        var processLogger = logger
        processLogger[metadataKey: "runner"] = "\(manifest.model.endpointID)"
        let process: RunnerProcess
        do {
            process = try RunnerProcess.spawn(
                executable: manifest.command, arguments: manifest.arguments, environment: environment,
                workingDirectory: manifest.workingDirectory.path, maxLineBytes: manifest.maxEventLineBytes, logger: processLogger)
        } catch {
            consecutiveFailures += 1
            throw ModelError(.runnerStartFailed, "\(manifest.model.endpointID): \(error)")
        }
        let client = RunnerClient(socketPath: socket, http: http, maxEventLineBytes: manifest.maxEventLineBytes,
                                  maxResultLineBytes: manifest.maxResultLineBytes)
        do {
            try await waitHealthy(process: process, client: client)
            let (status, info) = try await client.setup(timeout: .seconds(manifest.setupTimeout))
            guard status == 200 else {
                let message = info["message"]?.stringValue ?? "setup answered HTTP \(status)"
                throw ModelError(ExternalModel.code(named: info["error_type"]?.stringValue) ?? .runnerStartFailed, message)
            }
            if Task.isCancelled || stopped { throw CancellationError() }
            let started = RunnerInstance(process: process, client: client, generation: generation, setupInfo: info)
            instance = started
            starting = nil
            logger.info("runner ready", metadata: ["endpoint": "\(manifest.model.endpointID)", "pid": "\(process.pid)"])
            Task { await self.watch(started) }
            Task { await self.monitor(started) }
            return started
        } catch {
            consecutiveFailures += 1
            await process.terminate(grace: .seconds(manifest.stopGrace))
            if let model = error as? ModelError { throw model }
            if error is CancellationError { throw ModelError(.runnerDisconnected, "the model's runner was stopped") }
            throw ModelError(.runnerStartFailed, "\(manifest.model.endpointID): \(error)")
        }
    }

    /// Polls `GET /health` until it answers, the process exits, or the startup timeout passes.
    private func waitHealthy(process: RunnerProcess, client: RunnerClient) async throws {
        let deadline = ContinuousClock.now + .seconds(manifest.startupTimeout)
        while ContinuousClock.now < deadline {
            if let exit = process.exitDescription {
                let tail = await process.finalOutput().suffix(5).joined(separator: "\n")
                throw ModelError(
                    .runnerStartFailed,
                    "\(manifest.model.endpointID): runner \(exit) before it was healthy" + (tail.isEmpty ? "" : ":\n\(tail)"))
            }
            if FileManager.default.fileExists(atPath: client.socketPath), await client.healthy(timeout: .seconds(2)) { return }
            if stopped { throw CancellationError() }
            // The runner has no way to announce itself but its socket: poll it briefly.
            try await Task.sleep(for: .milliseconds(25))
        }
        throw ModelError(
            .startupTimeout,
            "\(manifest.model.endpointID): runner did not answer its health check within \(manifest.startupTimeout) s")
    }

    /// Waits for the instance's process to end and restarts it unless it was stopped.
    private func watch(_ watched: RunnerInstance) async {
        let how = await watched.process.waitForExit()
        try? FileManager.default.removeItem(atPath: watched.client.socketPath)
        guard instance?.generation == watched.generation else { return }
        instance = nil
        guard !stopped else { return }
        restarts += 1
        consecutiveFailures += 1
        let seconds = min(manifest.restartMaxDelay, manifest.restartInitialDelay * pow(2, Double(max(0, consecutiveFailures - 1))))
        logger.warning(
            "runner \(how); restarting", metadata: ["endpoint": "\(manifest.model.endpointID)", "delay_s": "\(seconds)"])
        do {
            _ = try await launch(after: .milliseconds(Int64(seconds * 1000)))
        } catch {
            logger.error("runner restart failed", metadata: ["endpoint": "\(manifest.model.endpointID)", "error": "\(error)"])
        }
    }

    /// Checks a running instance's health every `health_interval`; kills it (the watcher then
    /// restarts it) after `health_failures` consecutive failures: a hung runner would otherwise
    /// hold its requests forever.
    private func monitor(_ watched: RunnerInstance) async {
        var failures = 0
        while true {
            try? await Task.sleep(for: .milliseconds(Int64(manifest.healthInterval * 1000)))
            guard instance?.generation == watched.generation, !stopped else { return }
            if await watched.client.healthy(timeout: .milliseconds(Int64(manifest.healthTimeout * 1000))) {
                failures = 0
                continue
            }
            // The instance may have ended or been replaced while the check ran.
            guard instance?.generation == watched.generation, !stopped else { return }
            failures += 1
            if failures >= manifest.healthFailures {
                logger.warning(
                    "runner failed \(failures) health checks; killing it",
                    metadata: ["endpoint": "\(manifest.model.endpointID)", "pid": "\(watched.process.pid)"])
                watched.process.signal(SIGKILL)
                return
            }
        }
    }

    /// A request ended normally: the runner is healthy again, backoff starts over.
    func succeeded() { consecutiveFailures = 0 }

    /// Kills the instance's process (a request ignored its cancellation); the watcher restarts it.
    func kill(_ target: RunnerInstance) {
        guard instance?.generation == target.generation else { return }
        logger.warning("runner did not stop a cancelled request; killing it", metadata: ["pid": "\(target.process.pid)"])
        target.process.signal(SIGKILL)
    }

    /// Stops the runner for good and removes its directory.
    func stop() async {
        stopped = true
        starting?.cancel()
        let current = instance
        instance = nil
        if let current { await current.process.terminate(grace: .seconds(manifest.stopGrace)) }
        try? FileManager.default.removeItem(at: directory)
    }
}
