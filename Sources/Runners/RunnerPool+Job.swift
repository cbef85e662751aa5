import Foundation
import JobQueue
import Logging
import ModelKit
import NIOConcurrencyHelpers

extension RunnerPool {
    /// Runs one leased job to its end and records the outcome in the store.
    /// - Parameter fetchingInputs: told `true` when the job starts downloading remote inputs
    ///   (before it asks for a model slot) and `false` when that ends; not called for a job
    ///   without remote inputs.
    func runJob(
        _ job: Job, entry: ModelRegistry.Entry, loader: ModelLoader,
        fetchingInputs: @escaping @Sendable (Bool) -> Void = { _ in }
    ) async {
        // Every transition of this attempt names its own lease: a later lease of the same job by
        // this same runner has another token, so a stale attempt cannot overwrite it.
        let lease = job.leaseToken ?? ""
        let handle = JobHandle(id: job.id, endpointID: job.endpointID)
        running.withLockedValue { $0[job.id] = handle }
        defer { running.withLockedValue { _ = $0.removeValue(forKey: job.id) } }

        let input = job.input.flatMap { try? JSONValue(parsing: $0) } ?? .object([:])
        let cacheKey = await resultCache?.pendingKey(jobID: job.id)
        // A computation shared by identical requests answers to its own handle: it stops when
        // every request waiting on it left (see `executeShared`), not when the one that
        // started it is cancelled.
        let computeHandle = cacheKey != nil && resultCache != nil ? JobHandle(id: job.id, endpointID: job.endpointID) : handle
        let context = JobRunContext(
            handle: computeHandle, hub: hub, files: files, syncMode: input["sync_mode"]?.boolValue == true,
            lifetime: job.objectLifetime, maxInputBytes: configuration.maxInputFileBytes)
        let clock = ContinuousClock()
        let started = clock.now
        let timing = RunTiming()

        let outcome: Result<JSONValue, any Error> = await withTaskGroup(of: Void.self) { flusher in
            // The flusher is never cancelled (a cancelled store write would lose lines): it ends
            // when the log stream is closed, after writing what it holds.
            flusher.addTask { await self.flushLogs(of: context, id: job.id) }
            let outcome = await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.keepLease(id: job.id, leaseToken: lease, handle: handle) }
                group.addTask { await self.watchCancellation(id: job.id, handle: handle) }
                let remoteInputs = JobRunContext.remoteInputs(of: input, schema: entry.model.manifest.inputSchema)
                let outcome: Result<JSONValue, any Error>
                if let cacheKey, let resultCache {
                    outcome = await executeShared(
                        key: cacheKey, cache: resultCache, job: job, input: input, remoteInputs: remoteInputs, loader: loader,
                        context: context, handle: handle, computeHandle: computeHandle, timing: timing,
                        fetchingInputs: fetchingInputs)
                } else {
                    outcome = await execute(
                        input: input, remoteInputs: remoteInputs, loader: loader, context: context, handle: handle, timing: timing,
                        fetchingInputs: fetchingInputs)
                }
                group.cancelAll()
                return outcome
            }
            context.closeLogs()
            await flusher.waitForAll()
            return outcome
        }
        let lines = context.drainLogs()
        if !lines.isEmpty {
            do { try await store.appendLogs(id: job.id, lines: lines) } catch {
                logger.warning("could not store log lines", metadata: ["request_id": "\(job.id)", "error": "\(error)"])
            }
        }
        let elapsed = clock.now - started
        // The model's own time when it ran; otherwise (refused, cancelled while waiting) the
        // time this runner held the job.
        let seconds = timing.inferenceSeconds ?? Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        hub.clearProgress(job: job.id)
        if let start = timing.startedAt {
            metrics.observe(.queueWait, model: job.endpointID, seconds: start.timeIntervalSince(job.enqueuedAt))
        }
        if let inference = timing.inferenceSeconds { metrics.observe(.inference, model: job.endpointID, seconds: inference) }
        await conclude(job: job, leaseToken: lease, outcome: outcome, reason: handle.stopReason, seconds: seconds)
        // A re-queued request keeps its key for its next attempt.
        if cacheKey != nil, let resultCache, (try? await store.jobWithoutPayloads(id: job.id))?.state.isTerminal ?? true {
            await resultCache.finished(jobID: job.id)
        }
    }

    /// Answers a request that carries a cache key: from the stored result when there is one
    /// (no model slot, no load), else by joining the identical computation in flight in this
    /// process, or starting it. Each request gets the result made out for itself (its own file
    /// URLs to the same files).
    private func executeShared(
        key: String, cache: any JobResultCache, job: Job, input: JSONValue, remoteInputs: [(field: String, url: String)],
        loader: ModelLoader, context: JobRunContext, handle: JobHandle, computeHandle: JobHandle, timing: RunTiming,
        fetchingInputs: @escaping @Sendable (Bool) -> Void
    ) async -> Result<JSONValue, any Error> {
        if let hit = await cache.output(for: key, lifetime: job.objectLifetime) {
            context.log("Result cache hit: answered from a stored result, no model run", level: .info)
            return .success(hit.output)
        }
        let result = NIOLockedValueBox<Result<JSONValue, any Error>>(.failure(CancellationError()))
        // A request waiting on another's computation holds no model slot: it is counted like
        // one fetching its inputs, so the lease loop leases others meanwhile.
        let joined = NIOLockedValueBox(false)
        let task = Task {
            let outcome = await sharedRuns.join(
                key: key, waiter: job.id,
                joined: { didJoin in
                    guard didJoin else { return }
                    joined.withLockedValue { $0 = true }
                    fetchingInputs(true)
                }
            ) {
                // Stored between this request's lookup and now: nothing to compute.
                if await cache.contains(key: key) { return .success(.null) }
                let outcome = await withTaskCancellationHandler {
                    await self.execute(
                        input: input, remoteInputs: remoteInputs, loader: loader, context: context, handle: computeHandle,
                        timing: timing, fetchingInputs: fetchingInputs)
                } onCancel: {
                    computeHandle.stop(.userCancelled)
                }
                if case .success(let output) = outcome {
                    await cache.record(
                        key: key, endpointID: job.endpointID, output: output, inferenceTime: timing.inferenceSeconds,
                        lifetime: job.objectLifetime)
                }
                return outcome
            }
            result.withLockedValue { $0 = outcome }
        }
        handle.attach(task)
        await task.value
        if joined.withLockedValue({ $0 }) {
            fetchingInputs(false)
            context.log("Joined an identical request in flight: one computation answered both", level: .info)
        }
        let outcome = result.withLockedValue { $0 }
        guard case .success(let computed) = outcome else { return outcome }
        if let mine = await cache.output(for: key, lifetime: job.objectLifetime) { return .success(mine.output) }
        if case .null = computed {
            // The stored result vanished (evicted) between the check and now: compute again.
            return .failure(CacheEntryVanished())
        }
        return .success(computed)
    }

    /// Fetches the remote inputs, then loads the model and runs it, on its own task, which
    /// `JobHandle.stop` cancels. The inputs come first, before the job asks for a model slot:
    /// a host that trickles an input then holds this job only, never a slot others wait for.
    private func execute(
        input: JSONValue, remoteInputs: [(field: String, url: String)], loader: ModelLoader, context: JobRunContext,
        handle: JobHandle, timing: RunTiming, fetchingInputs: @escaping @Sendable (Bool) -> Void
    ) async -> Result<JSONValue, any Error> {
        let result = NIOLockedValueBox<Result<JSONValue, any Error>>(.failure(CancellationError()))
        let task = Task {
            do {
                if !remoteInputs.isEmpty {
                    fetchingInputs(true)
                    defer { fetchingInputs(false) }
                    try await context.prefetch(remoteInputs)
                }
                // Waits until the model is resident and has a free slot under the memory budget.
                let cold = try await residency.acquire(handle.endpointID)
                defer { residency.release(handle.endpointID) }
                let loaded = try await loader.loaded()
                try context.checkCancellation()
                metrics.recordStart(model: handle.endpointID, cold: cold)
                timing.start()
                defer { timing.end() }
                let output = try await loaded.run(input: input, context: context)
                result.withLockedValue { $0 = .success(output) }
            } catch {
                result.withLockedValue { $0 = .failure(error) }
            }
        }
        handle.attach(task)
        await task.value
        return result.withLockedValue({ $0 })
    }

    /// Records how the job ended.
    private func conclude(job: Job, leaseToken: String, outcome: Result<JSONValue, any Error>, reason: StopReason?, seconds: Double) async {
        let id = job.id
        let meta: Logger.Metadata = ["request_id": "\(id)", "endpoint": "\(job.endpointID)"]
        defer {
            if reason != .leaseLost && reason != .shutdown {
                metrics.observe(.endToEnd, model: job.endpointID, seconds: Date().timeIntervalSince(job.enqueuedAt))
                if let type = Self.errorType(outcome: outcome, reason: reason) { metrics.recordError(model: job.endpointID, type: type) }
            }
        }
        do {
            switch (reason, outcome) {
            case (.leaseLost, _):
                logger.warning("lease lost; another runner owns the job now", metadata: meta)
                return
            case (.shutdown, _):
                _ = try await store.release(id: id, leaseToken: leaseToken, retryable: true, result: .runnerDisconnected, now: Date())
                return
            case (_, .success(let output)):
                let result = JobResult(status: 200, body: output.encoded(), inferenceTime: seconds)
                try await finish(id: id, leaseToken: leaseToken, state: .completed, result: result, meta: meta)
            case (nil, .failure(let error as ModelError)) where error.code == .runnerDisconnected:
                // The model's runner process died under the job: an infrastructure failure, not
                // the model's verdict on this input. Retried while attempts remain (none with
                // `X-Fal-No-Retry`); a crash on every attempt still ends the job, as failed.
                logger.warning("runner disconnected mid-job", metadata: meta.merging(["error": "\(error.message)"]) { $1 })
                let body = JSONValue.object(["detail": .string(error.message), "error_type": .string(error.code.description)])
                let result = JobResult(
                    status: error.status, body: body.encoded(), errorMessage: error.message,
                    errorType: error.code.description, inferenceTime: seconds)
                _ = try await store.release(id: id, leaseToken: leaseToken, retryable: true, result: result, now: Date())
            case (_, .failure(let error as ModelError)):
                let body = JSONValue.object(["detail": .string(error.message), "error_type": .string(error.code.description)])
                let result = JobResult(
                    status: error.status, body: body.encoded(), errorMessage: error.message,
                    errorType: error.code.description, inferenceTime: seconds)
                try await finish(id: id, leaseToken: leaseToken, state: .failed, result: result, meta: meta)
            case (_, .failure(let error as RunnerFailure)):
                let body = JSONValue.object(["detail": .string(error.message), "error_type": .string(error.errorType)])
                let result = JobResult(
                    status: error.status, body: body.encoded(), errorMessage: error.message,
                    errorType: error.errorType, inferenceTime: seconds)
                try await finish(id: id, leaseToken: leaseToken, state: .failed, result: result, meta: meta)
            case (.userCancelled, .failure), (_, .failure(is CancellationError)):
                var result = JobResult.cancelled
                result.inferenceTime = seconds
                try await finish(id: id, leaseToken: leaseToken, state: .cancelled, result: result, meta: meta)
            case (_, .failure(let error)):
                // Not the model's own verdict: an infrastructure fault, retried while attempts remain.
                logger.error("model raised an internal error", metadata: meta.merging(["error": "\(error)"]) { $1 })
                let body = JSONValue.object(["detail": "Internal error while running the model", "error_type": "internal_error"])
                let result = JobResult(
                    status: 500, body: body.encoded(), errorMessage: "Internal error while running the model",
                    errorType: "internal_error", inferenceTime: seconds)
                _ = try await store.release(id: id, leaseToken: leaseToken, retryable: true, result: result, now: Date())
            }
        } catch {
            // The lease will expire and the rescuer re-queues the job: at-least-once.
            logger.error("could not record job outcome", metadata: meta.merging(["error": "\(error)"]) { $1 })
        }
    }

    /// The `error_type` an outcome is reported with, or `nil` for a success.
    static func errorType(outcome: Result<JSONValue, any Error>, reason: StopReason?) -> String? {
        switch (reason, outcome) {
        case (_, .success): nil
        case (_, .failure(let error as ModelError)): error.code.description
        case (_, .failure(let error as RunnerFailure)): error.errorType
        case (.userCancelled, .failure), (_, .failure(is CancellationError)): JobResult.cancelled.errorType
        case (_, .failure): "internal_error"
        }
    }

    private func finish(id: String, leaseToken: String, state: JobState, result: JobResult, meta: Logger.Metadata) async throws {
        if try await !store.finish(id: id, leaseToken: leaseToken, state: state, result: result, now: Date()) {
            logger.warning("job was no longer ours when it finished", metadata: meta)
        }
    }

    /// Extends the lease every third of its duration until cancelled.
    private func keepLease(id: String, leaseToken: String, handle: JobHandle) async {
        let duration = configuration.leaseDuration
        while !Task.isCancelled {
            do { try await Task.sleep(for: .seconds(duration / 3)) } catch { return }
            do {
                if try await !store.extendLease(id: id, leaseToken: leaseToken, until: Date().addingTimeInterval(duration)) {
                    handle.stop(.leaseLost)
                    return
                }
            } catch {
                logger.warning("lease extension failed", metadata: ["request_id": "\(id)", "error": "\(error)"])
            }
        }
    }

    /// Moves log lines into the store in batches as they come.
    private func flushLogs(of context: JobRunContext, id: String) async {
        for await _ in context.logWakeups {
            let lines = context.drainLogs()
            guard !lines.isEmpty else { continue }
            do { try await store.appendLogs(id: id, lines: lines) } catch {
                logger.warning("could not store log lines", metadata: ["request_id": "\(id)", "error": "\(error)"])
            }
        }
    }

    /// Stops the job when its caller asks for cancellation.
    private func watchCancellation(id: String, handle: JobHandle) async {
        let changes = hub.changes(of: id)
        // The request may have been cancelled between the lease and this subscription.
        // The payload-free read: a job's input may be a large data URI, and this runs on every change.
        if (try? await store.jobWithoutPayloads(id: id))?.cancelRequested == true { handle.stop(.userCancelled); return }
        for await _ in changes {
            if (try? await store.jobWithoutPayloads(id: id))?.cancelRequested == true {
                handle.stop(.userCancelled)
                return
            }
        }
    }
}

/// A stored result was evicted between a computation's check and its waiters' reads: an
/// infrastructure outcome, so the request is retried (and computes).
private struct CacheEntryVanished: Error, CustomStringConvertible {
    var description: String { "the stored result was evicted before it was read" }
}

/// When the model's run of one job started and how long it took (set from the job's task, read
/// after it ended).
final class RunTiming: Sendable {
    private let state = NIOLockedValueBox<(started: Date?, clock: ContinuousClock.Instant?, seconds: Double?)>((nil, nil, nil))

    /// The model starts.
    func start() { state.withLockedValue { $0 = (Date(), ContinuousClock.now, nil) } }

    /// The model returned or threw.
    func end() {
        state.withLockedValue { s in
            guard let begun = s.clock else { return }
            let d = ContinuousClock.now - begun
            s.seconds = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        }
    }

    /// When the model started, if it did.
    var startedAt: Date? { state.withLockedValue({ $0 }).started }
    /// The model's run time, once it ended.
    var inferenceSeconds: Double? { state.withLockedValue({ $0 }).seconds }
}
