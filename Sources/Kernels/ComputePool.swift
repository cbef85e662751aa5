import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed set of dedicated compute threads that every kernel runs on.
///
/// The platform creates one per process from its configuration and hands it to every model
/// (benchmarks and tests create their own); every op takes it as an argument. Work is split by index like
/// ggml's compute threads: a task runs as `nth` parts, part `ith` on its own thread, and each part
/// derives its own index range — there are no locks or queues in the hot loop. The calling thread
/// runs part 0, so a one-thread pool starts no thread. Threads are plain pthreads, never the
/// Swift cooperative pool or NIO event loops, so a long convolution never starves async code.
///
/// Requests run their blocking work on the pool's job threads (``execute(_:)``), which become
/// part 0 of each task they start.
///
/// `@unchecked Sendable`: the state is an opaque C pool whose `run` serializes concurrent callers
/// with a mutex (tasks from different callers never overlap), a scratch workspace guarded by
/// its own mutex, and the job threads (guarded by their own lock).
public final class ComputePool: @unchecked Sendable {
    let pool: OpaquePointer
    /// Scratch reused across kernel calls: a fresh multi-megabyte allocation per layer would cost
    /// hundreds of page faults every time.
    private var workspace: UnsafeMutableRawPointer?
    private var workspaceBytes = 0
    private var workspaceLock = pthread_mutex_t()
    /// Threads that run a task, counting the caller.
    public let threadCount: Int
    /// Where requests' blocking work runs (``execute(_:)``, ``submit(_:)``).
    let jobs = JobThreads()

    /// One thread per online CPU core.
    public static var defaultThreadCount: Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// A process-wide pool with ``defaultThreadCount`` threads, created on first use. Only the ONNX
    /// executor's kernels still reach for it; models get the platform's pool from their load context.
    public static let shared = ComputePool()

    /// Starts `threads - 1` worker threads.
    /// - Parameter threads: threads per task, counting the caller (at least 1).
    public init(threads: Int = ComputePool.defaultThreadCount) {
        threadCount = max(1, threads)
        pool = pg_pool_create(Int32(threadCount))
        pthread_mutex_init(&workspaceLock, nil)
    }

    deinit {
        jobs.stop()
        pg_pool_destroy(pool)
        free(workspace)
        pthread_mutex_destroy(&workspaceLock)
    }

    /// Lends the pool's scratch workspace (at least `bytes`, 64-byte aligned, contents undefined)
    /// for the duration of `body`; concurrent callers wait for each other.
    func withWorkspace<R>(bytes: Int, _ body: (UnsafeMutableRawPointer) throws -> R) rethrows -> R {
        pthread_mutex_lock(&workspaceLock)
        defer { pthread_mutex_unlock(&workspaceLock) }
        if bytes > workspaceBytes || workspace == nil {
            free(workspace)
            let size = max(bytes, 64)
            var raw: UnsafeMutableRawPointer?
            guard posix_memalign(&raw, 64, size) == 0, let raw else {
                fatalError("ComputePool: cannot allocate a \(size)-byte workspace")
            }
            workspace = raw
            workspaceBytes = size
        }
        return try body(workspace!)
    }

    /// Runs `body(ith, nth)` once for every `ith` in `0..<nth` on distinct threads and returns when
    /// all parts have finished (their writes are then visible to the caller).
    ///
    /// The body runs concurrently with itself: parts must write disjoint memory. A part must not
    /// call back into the same pool (`run`, an op, a layer): the pool runs one task at a time, so
    /// that would wait for itself.
    /// - Parameters:
    ///   - parts: number of parts (default: ``threadCount``; capped at it).
    ///   - body: one part's work, given its index and the part count.
    public func run(parts: Int? = nil, _ body: (_ ith: Int, _ nth: Int) -> Void) {
        let nth = min(parts ?? threadCount, threadCount)
        guard nth > 1 else {
            if nth == 1 { body(0, 1) }
            return
        }
        withoutActuallyEscaping(body) { escaping in
            var box = TaskBox(body: escaping)
            withUnsafeMutablePointer(to: &box) { ptr in
                pg_pool_run(pool, { ctx, ith, nth in
                    ctx!.assumingMemoryBound(to: TaskBox.self).pointee.body(Int(ith), Int(nth))
                }, UnsafeMutableRawPointer(ptr), Int32(nth))
            }
        }
    }

    /// Runs a C kernel's `(ctx, ith, nth)` entry on the pool without a Swift closure per part.
    func runC(_ fn: pg_task_fn, _ ctx: UnsafeMutableRawPointer, parts: Int? = nil) {
        pg_pool_run(pool, fn, ctx, Int32(min(parts ?? threadCount, threadCount)))
    }

    /// Splits `0..<count` into contiguous ranges, one per part, and runs `body` on each range
    /// concurrently. Empty ranges are not passed.
    /// - Parameters:
    ///   - count: number of indices.
    ///   - minimumPerPart: the smallest range worth a thread of its own (avoids waking threads
    ///     for tiny work).
    ///   - body: handles one range; runs concurrently with other ranges.
    public func parallelFor(_ count: Int, minimumPerPart: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let parts = max(1, min(threadCount, count / max(1, minimumPerPart)))
        run(parts: parts) { ith, nth in
            let lo = count * ith / nth, hi = count * (ith + 1) / nth
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// Carries a non-escaping Swift closure through the C pool's context pointer for the duration of
/// one `run` call (the pool returns only after every part finished).
private struct TaskBox {
    let body: (Int, Int) -> Void
}
