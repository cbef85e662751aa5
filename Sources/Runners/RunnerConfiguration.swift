import Foundation

/// Settings of the runner pool.
public struct RunnerConfiguration: Sendable {
    /// Unique id of this process among the store's users (lease owner prefix).
    public var nodeID: String
    /// Length of a lease; extended every third of it while a job runs.
    public var leaseDuration: TimeInterval
    /// How long running jobs may take to finish on shutdown before they are released.
    public var shutdownGracePeriod: TimeInterval
    /// Safety re-check of the queue when no notification arrived (jobs re-queued by another
    /// node whose notification this process could not see).
    public var idleRecheckInterval: TimeInterval
    /// Largest file input accepted (data URIs, downloads), in bytes.
    public var maxInputFileBytes: Int
    /// Jobs of one model that may be fetching their file inputs at once. Inputs are fetched
    /// before a job takes a model slot, so a slow input host holds one of these, not a slot;
    /// each holds at most `maxInputFileBytes` per input.
    public var maxJobsFetchingInputs: Int
    /// Directory given to models when they load.
    public var modelDirectory: URL
    /// Threads of the process's one compute pool, which the composition root creates with this
    /// many (`PEREGRINE_THREADS`, `--threads`) and every model shares.
    public var threads: Int
    /// Compute-pool cores that running requests may hold together (`nil`: the pool's threads).
    /// Engine models demand the whole pool, so by default one of them runs at a time; a larger
    /// value oversubscribes the pool, whose tasks then interleave layer by layer.
    public var coreCapacity: Int?

    /// Memory all loaded models may hold together, in bytes; least-recently-used idle models
    /// are unloaded to stay under it.
    public var memoryBudgetBytes: Int
    /// How long an idle model stays loaded after its last request, in seconds.
    public var modelKeepAlive: TimeInterval
    /// How long a model may take to load before its waiting requests fail with
    /// `startup_timeout`, in seconds (`nil`: no limit). Per-model settings override it.
    public var startupTimeout: TimeInterval?

    /// Defaults: 30 s leases, 10 s grace, 5 s re-check, 100 MiB inputs, 2 threads, three
    /// quarters of physical memory for models, 5 minutes keep-alive, 10 minutes startup timeout,
    /// 4 jobs per model fetching inputs.
    public init(
        nodeID: String = "node-\(UUID().uuidString.prefix(8).lowercased())",
        leaseDuration: TimeInterval = 30, shutdownGracePeriod: TimeInterval = 10,
        idleRecheckInterval: TimeInterval = 5, maxInputFileBytes: Int = 100 << 20,
        modelDirectory: URL = FileManager.default.temporaryDirectory, threads: Int = 2,
        memoryBudgetBytes: Int = Int(min(ProcessInfo.processInfo.physicalMemory / 4 * 3, UInt64(Int.max))),
        modelKeepAlive: TimeInterval = 300, startupTimeout: TimeInterval? = 600, maxJobsFetchingInputs: Int = 4,
        coreCapacity: Int? = nil
    ) {
        self.nodeID = nodeID
        self.leaseDuration = leaseDuration
        self.shutdownGracePeriod = shutdownGracePeriod
        self.idleRecheckInterval = idleRecheckInterval
        self.maxInputFileBytes = maxInputFileBytes
        self.modelDirectory = modelDirectory
        self.threads = threads
        self.memoryBudgetBytes = memoryBudgetBytes
        self.modelKeepAlive = modelKeepAlive
        self.startupTimeout = startupTimeout
        self.maxJobsFetchingInputs = max(1, maxJobsFetchingInputs)
        self.coreCapacity = coreCapacity.map { max(1, $0) }
    }
}
