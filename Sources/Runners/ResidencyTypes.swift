/// Per-model residency settings, with fal's meaning.
public struct ResidencySettings: Sendable, Equatable {
    /// Resident memory the model is expected to need, in bytes, until a load measures it.
    public var estimatedBytes: Int
    /// How long an idle model stays loaded after its last request.
    public var keepAlive: Duration
    /// When above zero the model is loaded as soon as it fits and is never unloaded for being
    /// idle or to make room: a pinned model serves its first request warm.
    public var minConcurrency: Int
    /// Most requests the loaded model runs at once.
    public var maxConcurrency: Int

    /// Warm capacity kept ahead of demand. An in-process model is one instance whose slots share
    /// its memory, so any value above zero keeps that instance warm: it loads ahead of demand
    /// when it fits without evicting anything, and does not expire after `keepAlive`; unlike a
    /// pinned model it still yields its memory to a model with requests waiting.
    public var concurrencyBuffer: Int
    /// How long a load may take; past it the model's waiting requests fail with
    /// `startup_timeout` (`nil`: no limit).
    public var startupTimeout: Duration?
    /// Cores of the compute pool one running request keeps busy (0: none, it computes
    /// elsewhere); a request starts only when they are free.
    public var cores: Int

    /// - Parameters:
    ///   - estimatedBytes: expected footprint (the manifest's estimate).
    ///   - keepAlive: idle time before the model is unloaded (default 5 minutes).
    ///   - minConcurrency: above zero pins the model (default 0).
    ///   - maxConcurrency: concurrent requests, at least 1 (default 1).
    ///   - concurrencyBuffer: above zero keeps the model warm ahead of demand (default 0).
    ///   - startupTimeout: longest load before waiting requests fail (default none).
    ///   - cores: compute-pool cores per running request (default 0).
    public init(
        estimatedBytes: Int, keepAlive: Duration = .seconds(300), minConcurrency: Int = 0, maxConcurrency: Int = 1,
        concurrencyBuffer: Int = 0, startupTimeout: Duration? = nil, cores: Int = 0
    ) {
        self.estimatedBytes = max(0, estimatedBytes)
        self.keepAlive = keepAlive
        self.minConcurrency = max(0, minConcurrency)
        self.maxConcurrency = max(1, maxConcurrency)
        self.concurrencyBuffer = max(0, concurrencyBuffer)
        self.startupTimeout = startupTimeout
        self.cores = max(0, cores)
    }

    /// Whether the model must stay loaded.
    public var isPinned: Bool { minConcurrency > 0 }
}

/// Why a model is unloaded.
public enum UnloadReason: Sendable, Equatable {
    /// Its memory was needed to load another model (named).
    case evicted(for: String)
    /// It stayed idle longer than its keep-alive.
    case keepAliveExpired
    /// Its measured footprint did not fit next to the models that are busy; it loads again
    /// when they make room.
    case overBudget
    /// Its measured footprint is larger than the whole budget.
    case tooLarge
    /// Its load finished after the startup timeout and nothing waits for it any more.
    case startupTimeout
}

/// Why queued requests of a model are failed without running.
public enum ResidencyFailure: Sendable, Equatable, CustomStringConvertible {
    /// The model needs more memory than the whole budget: it can never load on this machine.
    case exceedsBudget(model: String, bytes: Int, budget: Int)
    /// Pinned models (`minConcurrency > 0`) hold so much of the budget that the model cannot fit.
    case noRoomBesidePinned(model: String, bytes: Int, available: Int)
    /// The model failed to load (the loader's message).
    case loadFailed(model: String, message: String)
    /// The model is not registered.
    case unknownModel(String)
    /// The model's load took longer than its startup timeout (seconds).
    case startupTimeout(model: String, seconds: Double)

    /// A message fit for the request's error body.
    public var description: String {
        switch self {
        case .exceedsBudget(let model, let bytes, let budget):
            "model \(model) needs \(bytes) bytes of memory but the runner's memory budget is \(budget) bytes"
        case .noRoomBesidePinned(let model, let bytes, let available):
            "model \(model) needs \(bytes) bytes of memory but models kept always loaded leave only \(available) bytes"
        case .loadFailed(let model, let message): "model \(model) failed to load: \(message)"
        case .unknownModel(let model): "model \(model) is not served here"
        case .startupTimeout(let model, let seconds): "model \(model) did not start within its startup timeout of \(seconds) s"
        }
    }
}

/// Counters kept by the residency state machine, per model, for metrics.
public struct ResidencyCounters: Sendable, Equatable {
    /// Loads that finished.
    public var loads = 0
    /// Loads that failed.
    public var loadFailures = 0
    /// Unloads to make room for another model.
    public var evictions = 0
    /// Unloads after keep-alive.
    public var expirations = 0
    /// Requests failed without running (too large, load failed, startup timeout).
    public var failedRequests = 0
    /// Loads that exceeded the startup timeout.
    public var startupTimeouts = 0

    /// All zero.
    public init() {}
}
