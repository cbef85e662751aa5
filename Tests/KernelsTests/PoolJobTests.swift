import Foundation
@testable import Kernels
import Tensor
import Testing

@Suite("ComputePool job threads")
struct PoolJobTests {
    private struct Failure: Error, Equatable {}

    @Test("a job returns its value and throws its error to the awaiting task")
    func executeReturnsAndThrows() async throws {
        let pool = ComputePool(threads: 2)
        #expect(try await pool.execute { 6 * 7 } == 42)
        await #expect(throws: Failure.self) { try await pool.execute { () throws -> Int in throw Failure() } }
    }

    @Test("a job runs on the pool's job thread, not on the awaiting task's thread")
    func executeRunsOnAJobThread() async throws {
        let pool = ComputePool(threads: 1)
        #expect(!JobThreads.isJobThread)
        #expect(try await pool.execute { JobThreads.isJobThread })
        #expect(pool.jobThreadCount >= 1)
    }

    @Test("jobs run one after another reuse their thread instead of starting one each")
    func sequentialJobsReuseThreads() async throws {
        let pool = ComputePool(threads: 2)
        for i in 0..<50 { #expect(try await pool.execute { i } == i) }
        // One thread runs the jobs; a second may start while the first is still returning from
        // a job whose caller already submitted the next.
        #expect(pool.jobThreadCount <= 2)
    }

    @Test("a job may split its work over the pool: the job thread is part 0")
    func jobsRunPoolTasks() async throws {
        let pool = ComputePool(threads: 3)
        let sum = try await pool.execute { () -> Float in
            let seen = Tensor(zeros: [3])
            let p = seen.floatPointer
            pool.run { ith, _ in p[ith] = Float(ith + 1) }
            return seen.toArray().reduce(0, +)
        }
        #expect(sum == 6)
    }

    @Test("jobs that wait on each other all get a thread (a pipeline's stages never deadlock)")
    func dependentJobsDoNotDeadlock() {
        let pool = ComputePool(threads: 1)
        let stages = 6
        let ready = (0..<stages).map { _ in DispatchSemaphore(value: 0) }
        let done = DispatchSemaphore(value: 0)
        // Stage k waits for stage k + 1, which is submitted after it: with fewer threads than
        // stages this would hang.
        for k in 0..<stages {
            pool.submit {
                if k + 1 < stages { ready[k + 1].wait() }
                ready[k].signal()
                if k == 0 { done.signal() }
            }
        }
        // Hang guard only: the chain completes as soon as every stage has a thread.
        #expect(done.wait(timeout: .now() + 120) == .success)
    }
}
