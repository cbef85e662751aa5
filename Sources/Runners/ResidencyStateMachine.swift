/// Decides which models are resident under a memory budget and when their queued requests
/// start. Pure: no threads, no clock (every event carries `now`), no I/O; each event returns the
/// actions the caller must carry out, in order.
///
/// Policy:
/// - A model with queued requests loads when it fits; otherwise least-recently-used idle models
///   are evicted when that makes it fit. Busy or loading models are never unloaded.
/// - Pinned models (`minConcurrency > 0`) load as soon as they fit and never unload.
/// - An idle model unloads after its keep-alive.
/// - A model larger than the whole budget never loads: its requests fail with a clear error.
/// - A warm-buffered model (`concurrencyBuffer > 0`) loads ahead of demand when it fits without
///   evicting anything and no model with requests waits for room; it does not expire, and it is
///   evicted only after idle unbuffered models.
/// - A load that outlasts `startupTimeout` fails the model's waiting requests (and any that
///   arrive before it ends) with `startup_timeout`; its memory stays reserved until the loader
///   reports, and a late load is kept only when a pinned or buffered model wants it.
/// - No starvation: once the longest-waiting model has waited `fairnessQuantum`, the
///   least-recently-used busy models that must go for it to fit stop starting new requests,
///   unload when their running requests end, and no later model takes the room it waits for.
/// - Cores are budgeted like memory: a request starts only when its model's core demand
///   (`ResidencySettings.cores`, at most the whole capacity) fits in the compute pool's cores that
///   running requests leave free. Models whose requests wait for cores start in the order they
///   began waiting; once one cannot fit, later ones do not take the cores it waits for (requests
///   that need no cores still start).
/// - Invariant: the bytes of loaded models (measured) and loading models (estimated) never
///   exceed the budget, and the cores of running requests never exceed the core capacity.
public struct ResidencyStateMachine: Sendable {
    /// The clock's instant; tests build them from a fixed origin.
    public typealias Instant = ContinuousClock.Instant

    /// What the caller must do.
    public enum Action: Sendable, Equatable {
        /// Load the model, then report `loadFinished` or `loadFailed`.
        case load(model: String)
        /// Drop the loaded model.
        case unload(model: String, reason: UnloadReason)
        /// Start this many of the model's queued requests (already counted as running); report
        /// `runFinished` for each.
        case start(model: String, count: Int)
        /// Fail this many of the model's queued requests (no longer counted).
        case fail(model: String, count: Int, failure: ResidencyFailure)
    }

    /// Where a model stands.
    public enum Phase: Sendable, Equatable {
        /// Not in memory.
        case unloaded
        /// Being loaded; `bytes` are reserved.
        case loading(bytes: Int)
        /// In memory, holding `bytes` (measured).
        case loaded(bytes: Int)
    }

    /// The state of one model.
    public struct ModelState: Sendable, Equatable {
        /// Settings in force.
        public var settings: ResidencySettings
        /// Footprint measured by the last load, if any.
        public var measuredBytes: Int?
        /// Residency.
        public var phase: Phase = .unloaded
        /// Requests waiting to start.
        public var queued = 0
        /// Requests running.
        public var running = 0
        /// Last time a request started or ended, or the model loaded (least-recently-used order
        /// and keep-alive).
        public var lastUsed: Instant
        /// Since when the model has waited to load (unloaded with demand), or `nil`.
        public var waitingSince: Instant?
        /// Since when its queued requests have waited to start (the order in which models get
        /// free cores), or `nil` when none is queued.
        public var queuedSince: Instant?
        /// Starts no new request: its memory is promised to a model that has waited long enough.
        public var draining = false
        /// The last load failed (a pinned model waits for a request or new settings to retry).
        public var loadFailed = false
        /// When the current load began, while loading.
        public var loadStartedAt: Instant?
        /// The current load outlasted the startup timeout.
        public var loadTimedOut = false
        /// Counters for metrics.
        public var counters = ResidencyCounters()

        /// Bytes the next load is expected to take.
        public var expectedBytes: Int { measuredBytes ?? settings.estimatedBytes }
        /// Bytes accounted against the budget now.
        public var accountedBytes: Int {
            switch phase {
            case .unloaded: 0
            case .loading(let bytes), .loaded(let bytes): bytes
            }
        }
        var isLoaded: Bool { if case .loaded = phase { true } else { false } }
        var wantsLoad: Bool { phase == .unloaded && (queued > 0 || (settings.isPinned && !loadFailed)) }
        var wantsWarm: Bool { phase == .unloaded && settings.concurrencyBuffer > 0 && !loadFailed }
        var isEvictable: Bool { isLoaded && running == 0 && !settings.isPinned }
        var expires: Bool { isEvictable && queued == 0 && settings.concurrencyBuffer == 0 }
        /// When the current load times out, if it can.
        var startupDeadline: Instant? {
            guard case .loading = phase, !loadTimedOut, let started = loadStartedAt, let limit = settings.startupTimeout else { return nil }
            return started + limit
        }
    }

    /// Memory all resident models may hold together, in bytes.
    public private(set) var budget: Int
    /// Compute-pool cores that running requests may hold together.
    public private(set) var coreCapacity: Int
    /// How long the longest-waiting model waits before busy models are drained for it.
    public var fairnessQuantum: Duration
    /// Models by id.
    public private(set) var models: [String: ModelState] = [:]

    /// - Parameters:
    ///   - budget: bytes all resident models may hold together.
    ///   - coreCapacity: compute-pool cores running requests may hold together (default: no
    ///     limit); at least 1.
    ///   - fairnessQuantum: wait after which busy models are drained for a waiting one.
    public init(budget: Int, coreCapacity: Int = .max, fairnessQuantum: Duration = .seconds(10)) {
        self.budget = max(0, budget)
        self.coreCapacity = max(1, coreCapacity)
        self.fairnessQuantum = fairnessQuantum
    }

    /// Cores held by running requests.
    public var busyCores: Int {
        models.values.reduce(0) { $0 &+ $1.running &* cores(of: $1) }
    }

    /// Cores one request of a model holds: its demand, at most the whole capacity (a model that
    /// asks for more than the pool has still runs, alone).
    func cores(of state: ModelState) -> Int { min(state.settings.cores, coreCapacity) }

    /// Bytes held by loaded and loading models.
    public var residentBytes: Int { models.values.reduce(0) { $0 + $1.accountedBytes } }

    /// The ids of loaded models, sorted.
    public var loadedModels: [String] { models.filter { $0.value.isLoaded }.map(\.key).sorted() }

    /// The earliest instant after `now` at which `tick` may have something to do (a keep-alive
    /// ends or a waiting model reaches the fairness quantum), or `nil`: the shell sleeps until then.
    public func nextDeadline(after now: Instant) -> Instant? {
        var deadlines: [Instant] = []
        for state in models.values {
            if state.expires { deadlines.append(state.lastUsed + state.settings.keepAlive) }
            if let since = state.waitingSince { deadlines.append(since + fairnessQuantum) }
            if let deadline = state.startupDeadline { deadlines.append(deadline) }
        }
        return deadlines.filter { $0 > now }.min()
    }

    // MARK: Events

    /// Adds a model, or changes its settings at runtime.
    public mutating func register(_ model: String, settings: ResidencySettings, now: Instant) -> [Action] {
        if models[model] == nil {
            models[model] = ModelState(settings: settings, lastUsed: now)
        } else {
            models[model]!.settings = settings
            models[model]!.loadFailed = false
        }
        refreshWaiting(model, now: now)
        return schedule(now: now)
    }

    /// `count` requests for `model` were queued.
    public mutating func jobQueued(_ model: String, count: Int = 1, now: Instant) -> [Action] {
        guard models[model] != nil else { return [.fail(model: model, count: count, failure: .unknownModel(model))] }
        if models[model]!.queued == 0 { models[model]!.queuedSince = now }
        models[model]!.queued += count
        models[model]!.loadFailed = false
        refreshWaiting(model, now: now)
        return schedule(now: now)
    }

    /// `count` queued requests for `model` went away before starting (cancelled, or taken by
    /// another node).
    public mutating func jobWithdrawn(_ model: String, count: Int = 1, now: Instant) -> [Action] {
        guard models[model] != nil else { return [] }
        models[model]!.queued = max(0, models[model]!.queued - count)
        if models[model]!.queued == 0 { models[model]!.queuedSince = nil }
        refreshWaiting(model, now: now)
        return schedule(now: now)
    }

    /// The load of `model` finished; it holds `bytes`.
    public mutating func loadFinished(_ model: String, bytes: Int, now: Instant) -> [Action] {
        guard var state = models[model], case .loading = state.phase else { return [] }
        let since = state.waitingSince ?? now
        let late = state.loadTimedOut
        state.loadTimedOut = false
        state.loadStartedAt = nil
        state.phase = .loaded(bytes: bytes)
        state.loadFailed = false
        state.measuredBytes = bytes
        state.lastUsed = now
        state.waitingSince = nil
        state.counters.loads += 1
        models[model] = state
        var actions: [Action] = []
        if late && state.queued == 0 && !state.settings.isPinned && state.settings.concurrencyBuffer == 0 {
            // Its requests already failed: nothing wants it.
            models[model]!.phase = .unloaded
            actions.append(.unload(model: model, reason: .startupTimeout))
        } else if bytes > budget {
            models[model]!.phase = .unloaded
            actions.append(.unload(model: model, reason: .tooLarge))
            refreshWaiting(model, now: now)
        } else if residentBytes > budget {
            // The estimate was low: make room among idle models, or step back until busy ones finish.
            var excess = residentBytes - budget
            for victim in evictionOrder(excluding: model) where excess > 0 {
                excess -= models[victim]!.accountedBytes
                actions.append(unload(victim, reason: .evicted(for: model)))
            }
            if excess > 0 {
                models[model]!.phase = .unloaded
                actions.append(.unload(model: model, reason: .overBudget))
                if models[model]!.queued > 0 || models[model]!.settings.isPinned { models[model]!.waitingSince = since }
            }
        }
        return actions + schedule(now: now)
    }

    /// The load of `model` failed: its queued requests fail with the loader's message.
    public mutating func loadFailed(_ model: String, message: String, now: Instant) -> [Action] {
        guard var state = models[model], case .loading = state.phase else { return [] }
        state.phase = .unloaded
        state.loadTimedOut = false
        state.loadStartedAt = nil
        state.counters.loadFailures += 1
        var actions: [Action] = []
        if state.queued > 0 {
            actions.append(.fail(model: model, count: state.queued, failure: .loadFailed(model: model, message: message)))
            state.counters.failedRequests += state.queued
            state.queued = 0
        }
        // A pinned model is not retried in a tight loop: the next request or settings change retries.
        state.loadFailed = true
        state.waitingSince = nil
        models[model] = state
        return actions + schedule(now: now)
    }

    /// One running request of `model` ended.
    public mutating func runFinished(_ model: String, now: Instant) -> [Action] {
        guard models[model] != nil else { return [] }
        models[model]!.running = max(0, models[model]!.running - 1)
        models[model]!.lastUsed = now
        return schedule(now: now)
    }

    /// Time passed: keep-alives and the fairness quantum are checked.
    public mutating func tick(now: Instant) -> [Action] {
        schedule(now: now)
    }

    // MARK: Decisions

    private mutating func refreshWaiting(_ model: String, now: Instant) {
        guard let state = models[model] else { return }
        if state.queued == 0 { models[model]!.queuedSince = nil }
        if state.wantsLoad {
            if state.waitingSince == nil { models[model]!.waitingSince = now }
        } else if state.phase == .unloaded {
            models[model]!.waitingSince = nil
        }
    }

    private mutating func unload(_ model: String, reason: UnloadReason) -> Action {
        var state = models[model]!
        state.phase = .unloaded
        state.draining = false
        switch reason {
        case .evicted: state.counters.evictions += 1
        case .keepAliveExpired: state.counters.expirations += 1
        case .overBudget, .tooLarge, .startupTimeout: break
        }
        models[model] = state
        return .unload(model: model, reason: reason)
    }

    /// Idle, unpinned loaded models: unbuffered before warm-buffered, each least recently used first.
    private func evictionOrder(excluding: String) -> [String] {
        models.filter { $0.key != excluding && $0.value.isEvictable }
            .sorted {
                ($0.value.settings.concurrencyBuffer > 0 ? 1 : 0, $0.value.lastUsed, $0.key)
                    < ($1.value.settings.concurrencyBuffer > 0 ? 1 : 0, $1.value.lastUsed, $1.key)
            }
            .map(\.key)
    }

    private mutating func schedule(now: Instant) -> [Action] {
        var actions = failTimedOutLoads(now: now)
        actions += startWork(now: now)
        // Keep-alive.
        for (model, state) in models.sorted(by: { $0.key < $1.key })
        where state.expires && now - state.lastUsed >= state.settings.keepAlive {
            actions.append(unload(model, reason: .keepAliveExpired))
        }
        actions += placeWaiting(now: now)
        actions += preloadWarm(now: now)
        actions += startWork(now: now)
        for model in models.keys { refreshWaiting(model, now: now) }
        return actions
    }

    /// Fails the waiting requests of loads past their startup timeout (the load keeps its
    /// reservation until the loader reports).
    private mutating func failTimedOutLoads(now: Instant) -> [Action] {
        var actions: [Action] = []
        for model in models.keys.sorted() {
            var state = models[model]!
            guard case .loading = state.phase, let started = state.loadStartedAt, let limit = state.settings.startupTimeout else { continue }
            if !state.loadTimedOut {
                guard now - started >= limit else { continue }
                state.loadTimedOut = true
                state.waitingSince = nil
                state.counters.startupTimeouts += 1
                // A pinned model does not retry in a tight loop either.
                state.loadFailed = true
            }
            if state.queued > 0 {
                let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) * 1e-18
                actions.append(.fail(model: model, count: state.queued, failure: .startupTimeout(model: model, seconds: seconds)))
                state.counters.failedRequests += state.queued
                state.queued = 0
            }
            models[model] = state
        }
        return actions
    }

    /// Loads warm-buffered models ahead of demand when they fit without evicting anything and no
    /// model with requests or a pin is still waiting for room.
    private mutating func preloadWarm(now: Instant) -> [Action] {
        guard !models.values.contains(where: \.wantsLoad) else { return [] }
        var actions: [Action] = []
        for model in models.keys.sorted() where models[model]!.wantsWarm {
            let need = models[model]!.expectedBytes
            guard need <= budget - residentBytes else { continue }
            models[model]!.phase = .loading(bytes: need)
            models[model]!.loadStartedAt = now
            actions.append(.load(model: model))
        }
        return actions
    }

    /// Starts queued requests on loaded models that are not draining, up to `maxConcurrency` and
    /// the free cores, longest-waiting model first.
    private mutating func startWork(now: Instant) -> [Action] {
        var actions: [Action] = []
        var free = max(0, coreCapacity - busyCores)
        // Set once a model waits for cores: later models must not take them (no starvation of a
        // model that needs many cores by a stream of requests that need few).
        var reserved = false
        let ready = models.filter { $0.value.isLoaded && !$0.value.draining && $0.value.queued > 0 }
            .sorted { ($0.value.queuedSince ?? now, $0.key) < ($1.value.queuedSince ?? now, $1.key) }
            .map(\.key)
        for model in ready {
            var state = models[model]!
            let perRequest = cores(of: state)
            var count = min(state.queued, state.settings.maxConcurrency - state.running)
            guard count > 0 else { continue }
            if perRequest > 0 {
                count = reserved ? 0 : min(count, free / perRequest)
                if count == 0 {
                    reserved = true
                    continue
                }
                free -= count * perRequest
            }
            state.queued -= count
            state.running += count
            state.lastUsed = now
            // Requests left behind queue again behind the other models' waiting ones.
            state.queuedSince = state.queued > 0 ? now : nil
            models[model] = state
            actions.append(.start(model: model, count: count))
        }
        return actions
    }

    /// Loads waiting models, longest-waiting first, evicting and draining as the policy says.
    private mutating func placeWaiting(now: Instant) -> [Action] {
        var actions: [Action] = []
        for model in models.keys { models[model]!.draining = false }
        let waiting = models.filter { $0.value.wantsLoad }
            .sorted { ($0.value.waitingSince ?? now, $0.key) < ($1.value.waitingSince ?? now, $1.key) }
            .map(\.key)
        for model in waiting {
            let state = models[model]!
            let need = state.expectedBytes
            if need > budget {
                if state.queued > 0 {
                    actions.append(.fail(model: model, count: state.queued, failure: .exceedsBudget(model: model, bytes: need, budget: budget)))
                    models[model]!.counters.failedRequests += state.queued
                    models[model]!.queued = 0
                }
                models[model]!.waitingSince = nil
                continue
            }
            let pinnedBytes = models.filter { $0.key != model && $0.value.settings.isPinned }.reduce(0) { $0 + $1.value.accountedBytes }
            if need > budget - pinnedBytes {
                if state.queued > 0 {
                    let failure = ResidencyFailure.noRoomBesidePinned(model: model, bytes: need, available: budget - pinnedBytes)
                    actions.append(.fail(model: model, count: state.queued, failure: failure))
                    models[model]!.counters.failedRequests += state.queued
                    models[model]!.queued = 0
                }
                models[model]!.waitingSince = nil
                continue
            }
            var free = budget - residentBytes
            if need > free {
                // Evict idle models only when that is enough.
                let idle = evictionOrder(excluding: model)
                var chosen: [String] = []
                var freed = free
                for victim in idle where freed < need {
                    chosen.append(victim)
                    freed += models[victim]!.accountedBytes
                }
                if freed >= need {
                    for victim in chosen { actions.append(unload(victim, reason: .evicted(for: model))) }
                    free = freed
                }
            }
            if need <= free {
                models[model]!.phase = .loading(bytes: need)
                models[model]!.loadStartedAt = now
                actions.append(.load(model: model))
                continue
            }
            guard let since = state.waitingSince, now - since >= fairnessQuantum else { continue }
            // Waited long enough: unpinned loaded models, idle ones first (so that a drained model
            // that goes idle stays chosen), then least recently used, stop starting requests until
            // enough of them are idle to be evicted; no later model may take the room meanwhile.
            let candidates = models.filter { $0.key != model && $0.value.isLoaded && !$0.value.settings.isPinned }
                .sorted {
                    ($0.value.running > 0 ? 1 : 0, $0.value.lastUsed, $0.key) < ($1.value.running > 0 ? 1 : 0, $1.value.lastUsed, $1.key)
                }
                .map(\.key)
            var reachable = free
            var drained: [String] = []
            for victim in candidates where reachable < need {
                drained.append(victim)
                reachable += models[victim]!.accountedBytes
            }
            guard reachable >= need else { continue }
            for victim in drained { models[victim]!.draining = true }
            break
        }
        return actions
    }
}
