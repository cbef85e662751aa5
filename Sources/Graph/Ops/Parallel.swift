import Dispatch

/// Splits independent tasks across threads.
struct Parallel: Sendable {
    /// Worker threads, including the caller.
    let threads: Int

    /// Runs `body(0..<count)`, spread over the threads; returns when all are done.
    func run(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 || threads <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        let chunks = min(threads, count)
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { t in
                var i = t
                while i < count {
                    box.value(i)
                    i += chunks
                }
            }
        }
    }
}

/// Carries a non-Sendable closure into workers; safe because the closure only writes
/// disjoint output ranges chosen by task index and outlives the parallel region.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
