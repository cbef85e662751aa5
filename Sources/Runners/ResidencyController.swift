import Logging
import ModelKit
import NIOConcurrencyHelpers

/// The I/O shell around `ResidencyStateMachine`: jobs wait in `acquire` until their model is
/// resident and has a free slot, loads and unloads happen on the controller's own task (`run`),
/// and keep-alive deadlines are honoured by sleeping until the machine's next deadline.
final class ResidencyController: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var machine: ResidencyStateMachine
        var waiters: [String: [Waiter]] = [:]
        var loadErrors: [String: any Error] = [:]
        var nextID: UInt64 = 0
    }

    /// Work for the controller's task.
    private enum Work {
        case load(String)
        case unload(String)
        case wake
    }

    private let loaders: [String: ModelLoader]
    private let metrics: PoolMetrics
    private let state: NIOLockedValueBox<State>
    /// The tick loop's current sleep and its deadline: a change that brings the machine's next
    /// deadline earlier (a load with a startup timeout) cuts the sleep short.
    private let sleeper = NIOLockedValueBox<(deadline: ContinuousClock.Instant, task: Task<Void, Never>)?>(nil)
    private let work: AsyncStream<Work>
    private let workQueue: AsyncStream<Work>.Continuation
    private let clock = ContinuousClock()
    private let logger: Logger

    /// - Parameters:
    ///   - budget: bytes all loaded models may hold together.
    ///   - coreCapacity: compute-pool cores running requests may hold together.
    ///   - models: each model's loader and settings, by endpoint id.
    ///   - metrics: where load times go.
    ///   - logger: where loads are reported (with the kernel path each model runs on).
    init(budget: Int, coreCapacity: Int = .max, models: [String: (loader: ModelLoader, settings: ResidencySettings)],
         metrics: PoolMetrics, logger: Logger = Logger(label: "peregrine.runners")) {
        loaders = models.mapValues(\.loader)
        self.metrics = metrics
        self.logger = logger
        state = NIOLockedValueBox(State(machine: ResidencyStateMachine(budget: budget, coreCapacity: coreCapacity)))
        (work, workQueue) = AsyncStream<Work>.makeStream()
        for (id, model) in models.sorted(by: { $0.key < $1.key }) {
            mutate { $0.machine.register(id, settings: model.settings, now: $1) }
        }
    }

    /// A snapshot of the residency state, for metrics.
    var snapshot: ResidencyStateMachine { state.withLockedValue { $0.machine } }

    /// Changes a model's settings at runtime (keep-alive, pinning, concurrency, buffer, startup
    /// timeout); the machine acts on them at once.
    func update(_ model: String, settings: ResidencySettings) {
        mutate { $0.machine.register(model, settings: settings, now: $1) }
    }

    /// Waits until `model` is loaded and may start one more request. After it returns, the
    /// caller must call `release(model)` exactly once. Throws when the request cannot run here
    /// (the model does not fit, or its load failed) or the task is cancelled while waiting.
    /// - Returns: whether the start was cold (the model was not loaded when the request came).
    @discardableResult
    func acquire(_ model: String) async throws -> Bool {
        let id = state.withLockedValue { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        let cold = NIOLockedValueBox(false)
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                mutate { state, now in
                    cold.withLockedValue { $0 = state.machine.models[model]?.isLoaded != true }
                    state.waiters[model, default: []].append(Waiter(id: id, continuation: continuation))
                    return state.machine.jobQueued(model, now: now)
                }
                if Task.isCancelled { withdraw(model, id: id) }
            }
        } onCancel: {
            withdraw(model, id: id)
        }
        return cold.withLockedValue({ $0 })
    }

    /// One request of `model` that `acquire` admitted has ended.
    func release(_ model: String) {
        mutate { $0.machine.runFinished(model, now: $1) }
    }

    /// Carries out loads and unloads, and ticks the machine at its deadlines, until cancelled.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.tickLoop() }
            for await item in work {
                switch item {
                case .load(let model):
                    group.addTask { await self.load(model) }
                case .unload(let model):
                    await loaders[model]?.unload()
                case .wake:
                    break
                }
            }
            group.cancelAll()
        }
    }

    /// Ends `run`.
    func finish() { workQueue.finish() }

    private func tickLoop() async {
        let clock = self.clock
        while !Task.isCancelled {
            let deadline = state.withLockedValue { $0.machine.nextDeadline(after: clock.now) }
            // Without a deadline nothing is time-driven; re-check at a slow pace for safety.
            let until = deadline ?? clock.now + .seconds(5)
            let nap = Task { _ = try? await clock.sleep(until: until) }
            sleeper.withLockedValue { $0 = (until, nap) }
            // A change between reading the deadline and registering the sleep is not missed.
            if let next = state.withLockedValue({ $0.machine.nextDeadline(after: clock.now) }), next < until { nap.cancel() }
            await withTaskCancellationHandler { await nap.value } onCancel: { nap.cancel() }
            if Task.isCancelled { return }
            mutate { $0.machine.tick(now: $1) }
        }
    }

    private func load(_ model: String) async {
        guard let loader = loaders[model] else { return }
        let started = clock.now
        do {
            let loaded = try await loader.loaded()
            let elapsed = clock.now - started
            metrics.observeLoad(model: model, seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
            let bytes = loaded.footprintBytes
            var meta: Logger.Metadata = ["model": "\(model)", "bytes": "\(bytes)", "seconds": "\(elapsed)"]
            if let path = loaded.kernelPath { meta["kernel_path"] = "\(path)" }
            logger.info("model loaded", metadata: meta)
            mutate { $0.machine.loadFinished(model, bytes: bytes, now: $1) }
        } catch {
            state.withLockedValue { $0.loadErrors[model] = error }
            mutate { $0.machine.loadFailed(model, message: "\(error)", now: $1) }
        }
    }

    private func withdraw(_ model: String, id: UInt64) {
        var removed: Waiter?
        mutate { state, now in
            guard let index = state.waiters[model]?.firstIndex(where: { $0.id == id }) else { return [] }
            removed = state.waiters[model]!.remove(at: index)
            // Not yet started: the machine still counts it as queued.
            return state.machine.jobWithdrawn(model, now: now)
        }
        removed?.continuation.resume(throwing: CancellationError())
    }

    /// Changes the machine under the lock and settles the waiters its actions start or fail in
    /// the same critical section (so a withdrawal cannot race a start), then resumes them and
    /// hands loads and unloads to `run`.
    private func mutate(_ body: (inout State, ContinuousClock.Instant) -> [ResidencyStateMachine.Action]) {
        let now = clock.now
        let (resumptions, jobs) = state.withLockedValue { state -> ([(Waiter, (any Error)?)], [Work]) in
            let actions = body(&state, now)
            var resumptions: [(Waiter, (any Error)?)] = []
            var jobs: [Work] = []
            for action in actions {
                switch action {
                case .load(let model): jobs.append(.load(model))
                case .unload(let model, _): jobs.append(.unload(model))
                case .start(let model, let count):
                    resumptions += Self.take(&state, model, count).map { ($0, nil) }
                case .fail(let model, let count, let failure):
                    let error: any Error =
                        switch failure {
                        case .loadFailed: state.loadErrors[model] ?? ModelError(.internalError, failure.description)
                        case .startupTimeout: RunnerFailure(errorType: "startup_timeout", status: 504, message: failure.description)
                        default: RunnerFailure(errorType: "runner_scheduling_failure", status: 503, message: failure.description)
                        }
                    resumptions += Self.take(&state, model, count).map { ($0, error) }
                }
            }
            return (resumptions, jobs)
        }
        if let next = state.withLockedValue({ $0.machine.nextDeadline(after: now) }), let current = sleeper.withLockedValue({ $0 }), next < current.deadline {
            current.task.cancel()
        }
        for (waiter, error) in resumptions {
            if let error { waiter.continuation.resume(throwing: error) } else { waiter.continuation.resume() }
        }
        for job in jobs { workQueue.yield(job) }
    }

    private static func take(_ state: inout State, _ model: String, _ count: Int) -> [Waiter] {
        let taken = Array((state.waiters[model] ?? []).prefix(count))
        state.waiters[model]?.removeFirst(taken.count)
        return taken
    }
}
