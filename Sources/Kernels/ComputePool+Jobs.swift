import Foundation

extension ComputePool {
    /// Runs blocking work (a whole inference, a pipeline stage) on one of the pool's job
    /// threads and awaits its result.
    ///
    /// Requests hand their compute here instead of running it on the awaiting task: a long
    /// inference then never holds one of Swift's cooperative threads or a NIO event loop, and
    /// no request starts a thread of its own. The job thread is part 0 of every task the job
    /// runs on the pool (``run(parts:_:)``), so one inference keeps ``threadCount`` threads busy.
    /// - Parameter body: the work; it may call ``run(parts:_:)`` and every op on this pool.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws.
    public func execute<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            jobs.submit {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }

    /// Starts blocking work on one of the pool's job threads without waiting for it: a stage of
    /// a pipeline that runs beside the caller (a decoder reading a child process, an encoder
    /// feeding one). The caller joins it through its own signal.
    /// - Parameter body: the work.
    public func submit(_ body: @escaping @Sendable () -> Void) {
        jobs.submit(body)
    }

    /// Job threads started so far (they are kept for later jobs).
    public var jobThreadCount: Int { jobs.threadCount }
}

/// The job threads of a ``ComputePool``: a FIFO of jobs and the threads that run them.
///
/// A thread is started only when a job arrives and every existing one is busy, and it is kept
/// for later jobs: pipelines whose stages wait on each other (decode → model → encode) can never
/// deadlock on a fixed lane count, and the set stops growing once it covers the most jobs that
/// run at once, which the residency budget bounds (it starts no more runs than the pool has
/// cores for). Threads end when the pool is released.
final class JobThreads: @unchecked Sendable {
    // `@unchecked Sendable`: every stored var is guarded by `condition`.
    private let condition = NSCondition()
    private var queue: [@Sendable () -> Void] = []
    private var head = 0
    /// Threads not running a job (sleeping, or about to look at the queue).
    private var waiting = 0
    private var started = 0
    private var stopping = false

    /// The job threads' name (also their mark in the thread dictionary).
    static let threadName = "peregrine-job"

    /// Whether the calling thread is a job thread of some pool.
    static var isJobThread: Bool { Thread.current.threadDictionary[threadName] != nil }

    /// Jobs run deep call chains (graph executors, codecs): give them a main-thread-sized stack.
    private static let stackSize = 8 << 20

    var threadCount: Int { condition.withLock { started } }

    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        queue.append(job)
        // Every queued job has a thread that is not busy and will look at the queue before it
        // sleeps; a new thread is started only when that would not hold.
        let spawn = queue.count - head > waiting
        if spawn {
            waiting += 1
            started += 1
        }
        condition.signal()
        condition.unlock()
        if spawn {
            let thread = Thread { [self] in loop() }
            thread.name = Self.threadName
            thread.stackSize = Self.stackSize
            thread.start()
        }
    }

    /// Stops the threads once the queue is empty.
    func stop() {
        condition.withLock {
            stopping = true
            condition.broadcast()
        }
    }

    private func loop() {
        Thread.current.threadDictionary[Self.threadName] = true
        condition.lock()
        while true {
            if head < queue.count {
                let job = queue[head]
                head += 1
                if head == queue.count { queue.removeAll(keepingCapacity: true); head = 0 }
                waiting -= 1
                condition.unlock()
                job()
                condition.lock()
                waiting += 1
                continue
            }
            if stopping { break }
            condition.wait()
        }
        waiting -= 1
        started -= 1
        condition.unlock()
    }
}
