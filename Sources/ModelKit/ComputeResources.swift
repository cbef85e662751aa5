/// The process's compute pool as the platform hands it to models when they load.
///
/// ModelKit sits below the engine and does not import it (the platform's runner pool and the
/// external runners depend on ModelKit and must not pull the kernels in), so the pool travels
/// as an opaque handle: the composition root creates the engine's pool once, wraps it here, and
/// the runner pool passes it to every model's load; engine models recover the concrete pool by
/// downcasting `handle` (the Models target does that in one place). `threads` is what the
/// runner pool's residency budgets: runs start only while their models' core demands fit in it.
public struct ComputeResources: Sendable {
    /// Threads one task of the pool spreads over, counting the caller: the cores it uses.
    public let threads: Int
    /// The engine's pool object.
    public let handle: any AnyObject & Sendable

    /// - Parameters:
    ///   - threads: the pool's thread count (at least 1).
    ///   - handle: the pool object.
    public init(threads: Int, handle: any AnyObject & Sendable) {
        self.threads = max(1, threads)
        self.handle = handle
    }
}

/// How many of the compute pool's cores one run of a model keeps busy; the runner pool starts a
/// run only when its demand fits in the cores that running requests leave free.
public enum ComputeDemand: Sendable, Equatable {
    /// Runs nothing on the pool (an external runner process, a fixture).
    case none
    /// Keeps this many of the pool's threads busy.
    case cores(Int)
    /// Splits every kernel over all of the pool's threads (the engine's models).
    case wholePool

    /// The cores this demand takes from a pool of `capacity` threads: never more than the pool
    /// has, so a demand larger than the machine still runs (alone).
    public func cores(capacity: Int) -> Int {
        switch self {
        case .none: 0
        case .cores(let n): min(max(0, n), max(0, capacity))
        case .wholePool: max(0, capacity)
        }
    }
}
