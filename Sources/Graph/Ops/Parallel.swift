import Kernels

/// Splits independent tasks over the compute pool's threads.
struct Parallel: Sendable {
    /// The pool (its threads are dedicated to compute; never Swift's cooperative pool).
    let pool: ComputePool

    /// Threads, the caller's included.
    var threads: Int { pool.threadCount }

    /// Runs `body(i)` for every `i` in `0..<count` across the pool; returns when all are done.
    /// Tasks must write disjoint memory.
    func run(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 || threads <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        pool.parallelFor(count) { range in for i in range { body(i) } }
    }
}
