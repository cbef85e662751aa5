import Foundation
import JobQueue
import Logging
import ModelKit
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Runs the registered models' jobs: for each model it leases queued jobs when the store says
/// some were enqueued (never by busy polling), loads the model on first use, runs up to the
/// manifest's `maxConcurrency` jobs at once, keeps their leases alive and records their outcome.
///
/// On graceful shutdown it stops leasing, lets running jobs finish within the grace period and
/// then stops the rest and releases them back to the queue.
public final class RunnerPool: Service, Sendable {
    let registry: ModelRegistry
    let store: any JobStore
    let hub: JobEventHub
    let files: any FileAccess
    let configuration: RunnerConfiguration
    let logger: Logger
    /// Jobs running in this process, by id.
    let running = NIOLockedValueBox<[String: JobHandle]>([:])
    /// Each model's loader, by endpoint id.
    let loaders: [String: ModelLoader]
    /// Decides which models stay loaded under the memory budget.
    let residency: ResidencyController
    /// Latency, load, start and error metrics.
    public let metrics: PoolMetrics
    /// Each model's settings from its manifest and the configuration, before runtime overrides.
    let defaults: [String: ResidencySettings]
    /// Settings in force, by endpoint id (defaults with the runtime overrides applied).
    let current: NIOLockedValueBox<[String: ResidencySettings]>
    /// Wakes a model's lease loop (its concurrency limit changed), by endpoint id.
    let kicks = NIOLockedValueBox<[String: AsyncStream<Void>.Continuation]>([:])
    /// Persisted runtime settings, applied when `run` starts.
    let settingsStore: (any ModelSettingsStore)?
    /// The process's compute pool, handed to every model's load; residency budgets its cores.
    public let compute: ComputeResources
    /// Stored and shared results of deterministic requests (`nil`: every request computes).
    let resultCache: (any JobResultCache)?
    /// Computations in flight by cache key, joined by identical requests.
    let sharedRuns = SharedRuns()

    /// - Parameters:
    ///   - registry: the models to serve.
    ///   - store: the job queue.
    ///   - hub: notifications and progress (must run in the same service group, started first).
    ///   - files: file inputs and outputs.
    ///   - compute: the process's compute pool (created once by the composition root); this pool
    ///     owns it from now on and hands it to every model it loads.
    ///   - configuration: leases, grace period, limits.
    ///   - settingsStore: persisted runtime settings, applied over the defaults when `run` starts.
    ///   - logger: where the pool logs.
    ///   - metrics: where latencies, loads, starts and errors are recorded (default: the
    ///     process-wide metrics system).
    ///   - resultCache: answers repeated deterministic requests and shares identical ones in
    ///     flight (default: none).
    public init(
        registry: ModelRegistry, store: any JobStore, hub: JobEventHub, files: any FileAccess, compute: ComputeResources,
        configuration: RunnerConfiguration = RunnerConfiguration(), settingsStore: (any ModelSettingsStore)? = nil,
        logger: Logger = Logger(label: "peregrine.runners"), metrics: PoolMetrics? = nil,
        resultCache: (any JobResultCache)? = nil
    ) {
        self.resultCache = resultCache
        self.registry = registry
        self.store = store
        self.hub = hub
        self.files = files
        self.configuration = configuration
        self.logger = logger
        self.settingsStore = settingsStore
        self.metrics = metrics ?? PoolMetrics(models: registry.endpointIDs)
        self.compute = compute
        let coreCapacity = configuration.coreCapacity ?? compute.threads
        var models: [String: (loader: ModelLoader, settings: ResidencySettings)] = [:]
        for entry in registry.entries {
            let manifest = entry.model.manifest
            let loader = ModelLoader(
                model: entry.model,
                context: LoadContext(modelDirectory: configuration.modelDirectory, compute: compute))
            let settings = ResidencySettings(
                estimatedBytes: manifest.memoryEstimateBytes,
                keepAlive: .milliseconds(Int64(configuration.modelKeepAlive * 1000)),
                maxConcurrency: max(1, manifest.maxConcurrency),
                startupTimeout: configuration.startupTimeout.map { .milliseconds(Int64($0 * 1000)) },
                cores: manifest.computeDemand.cores(capacity: compute.threads))
            models[manifest.endpointID] = (loader, settings)
        }
        loaders = models.mapValues(\.loader)
        defaults = models.mapValues(\.settings)
        current = NIOLockedValueBox(defaults)
        residency = ResidencyController(
            budget: configuration.memoryBudgetBytes, coreCapacity: coreCapacity, models: models, metrics: self.metrics,
            logger: logger)
    }

    /// Serves every model until graceful shutdown.
    public func run() async throws {
        await applyStoredSettings()
        await withDiscardingTaskGroup { group in
            group.addTask { await self.residency.run() }
            await withDiscardingTaskGroup { serving in
                for entry in registry.entries {
                    serving.addTask { await self.serve(entry) }
                }
            }
            residency.finish()
        }
    }

    /// A copy of the residency state (resident models, waiting and running requests, counters).
    public var residencySnapshot: ResidencyStateMachine { residency.snapshot }

    /// Number of jobs this process is running now.
    public var runningCount: Int { running.withLockedValue { $0.count } }

    /// The lease loop of one model.
    private func serve(_ entry: ModelRegistry.Entry) async {
        let manifest = entry.model.manifest
        let endpoint = manifest.endpointID
        let owner = "\(configuration.nodeID)/\(endpoint)"
        // Read on every pass: `max_concurrency` changes at runtime.
        var limit: Int { current.withLockedValue { $0[endpoint]?.maxConcurrency ?? 1 } }
        let loader = loaders[endpoint]!
        // Leased jobs of this model, and how many of them are downloading remote inputs.
        // Inputs are fetched before a job asks for a model slot, so up to
        // `maxJobsFetchingInputs` downloading jobs do not count against the slots: others are
        // leased and run meanwhile. Jobs without remote inputs lease exactly as many as run.
        let active = NIOLockedValueBox(0)
        let fetching = NIOLockedValueBox(0)
        let fetchLimit = max(1, configuration.maxJobsFetchingInputs)
        let (kicks, kick) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        self.kicks.withLockedValue { $0[endpoint] = kick }
        let enqueued = hub.enqueued(for: [endpoint])
        let recheck = configuration.idleRecheckInterval

        await withDiscardingTaskGroup { group in
            group.addTask {
                for await _ in enqueued.cancelOnGracefulShutdown() { kick.yield() }
            }
            group.addTask {
                try? await cancelWhenGracefulShutdown {
                    while true {
                        try await Task.sleep(for: .seconds(recheck))
                        kick.yield()
                    }
                }
            }
            kick.yield()  // jobs queued before this process started
            for await _ in kicks.cancelOnGracefulShutdown() {
                while true {
                    let (leased, inFetch) = (active.withLockedValue({ $0 }), fetching.withLockedValue({ $0 }))
                    let wanted = limit - (leased - min(inFetch, fetchLimit))
                    guard wanted > 0 else { break }
                    let jobs: [Job]
                    do {
                        jobs = try await store.lease(
                            endpointIDs: [endpoint], owner: owner, limit: wanted,
                            leaseDuration: configuration.leaseDuration, now: Date())
                    } catch {
                        // Cancelled at shutdown: not a failure worth reporting.
                        if !(error is CancellationError) && !Task.isCancelled {
                            logger.error("lease failed", metadata: ["endpoint": "\(endpoint)", "error": "\(error)"])
                        }
                        break
                    }
                    for job in jobs {
                        active.withLockedValue { $0 += 1 }
                        group.addTask {
                            await self.runJob(job, entry: entry, loader: loader) { started in
                                fetching.withLockedValue { $0 += started ? 1 : -1 }
                                kick.yield()
                            }
                            active.withLockedValue { $0 -= 1 }
                            kick.yield()
                        }
                    }
                    if jobs.count < wanted { break }
                }
            }
            kick.finish()
            await drain(endpoint: endpoint, active: active)
        }
    }

    /// Waits for running jobs of one model up to the grace period, then stops the rest.
    private func drain(endpoint: String, active: NIOLockedValueBox<Int>) async {
        let deadline = ContinuousClock.now + .seconds(configuration.shutdownGracePeriod)
        while active.withLockedValue({ $0 }) > 0, ContinuousClock.now < deadline, !Task.isCancelled {
            // Shutdown only: a short bounded wait is simpler than another signal path.
            try? await Task.sleep(for: .milliseconds(20))
        }
        let leftover = running.withLockedValue { Array($0.values) }
        for handle in leftover where handle.endpointID == endpoint {
            logger.info("releasing job at shutdown", metadata: ["request_id": "\(handle.id)"])
            handle.stop(.shutdown)
        }
    }
}
