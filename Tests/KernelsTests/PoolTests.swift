import Kernels
import Tensor
import Testing

@Suite("ComputePool")
struct ComputePoolTests {
    @Test(arguments: [1, 2, 3, 5])
    func parallelForVisitsEveryIndexOnce(threads: Int) {
        let pool = ComputePool(threads: threads)
        for count in [0, 1, 2, 7, 1000] {
            let hits = Tensor(zeros: [max(count, 1)])
            let p = hits.floatPointer
            pool.parallelFor(count) { r in for i in r { p[i] += 1 } }
            #expect(hits.toArray().prefix(count).allSatisfy { $0 == 1 })
        }
    }

    @Test func runGivesEachPartItsIndex() {
        let pool = ComputePool(threads: 4)
        let seen = Tensor(zeros: [4])
        let p = seen.floatPointer
        pool.run { ith, nth in p[ith] = Float(nth * 10 + ith) }
        #expect(seen.toArray() == [40, 41, 42, 43])
        pool.run(parts: 2) { ith, nth in p[ith] = Float(nth) }
        #expect(seen.toArray() == [2, 2, 42, 43])
    }

    /// Parts that run longer than the caller's spin make it sleep until the last part wakes it;
    /// many such rounds in a row would hang on a lost wake-up.
    @Test func callerSleepsAndIsWokenByTheLastPart() {
        let pool = ComputePool(threads: 3)
        let sums = Tensor(zeros: [3])
        let p = sums.floatPointer
        for _ in 0..<60 {
            pool.run { ith, _ in
                guard ith > 0 else { return }
                var x: Float = 0
                for i in 0..<(200_000 * ith) { x += Float(i & 7) }
                p[ith] += x > 0 ? 1 : 0
            }
        }
        #expect(sums.toArray() == [0, 60, 60])
    }

    /// Concurrent callers are serialized by the pool: each task sees all of its parts run.
    @Test func concurrentCallersDoNotInterleave() async {
        let pool = ComputePool(threads: 2)
        await withTaskGroup(of: Bool.self) { group in
            for t in 0..<8 {
                group.addTask {
                    let out = Tensor(zeros: [10_000])
                    let p = out.floatPointer
                    for _ in 0..<20 {
                        pool.parallelFor(10_000) { r in for i in r { p[i] += Float(t) } }
                    }
                    return out.toArray().allSatisfy { $0 == Float(20 * t) }
                }
            }
            for await ok in group { #expect(ok) }
        }
    }
}

@Suite("KernelBenchmark")
struct KernelBenchmarkTests {
    /// Runs the benchmark on a tiny map to check that it reports consistent numbers.
    @Test(arguments: [ComputePrecision.fp32, .bf16])
    func conv3x3ReportsConsistentNumbers(_ precision: ComputePrecision) throws {
        let r = try KernelBenchmark.conv3x3(channels: 16, height: 8, width: 12, precision: precision, iterations: 1, pool: testPool)
        let seconds = try #require(r["seconds"]), gflops = try #require(r["gflops"])
        #expect(seconds > 0)
        #expect(abs(gflops * seconds - 2 * Double(16 * 16 * 9 * 8 * 12) / 1e9) < 1e-9)
        #expect(r["threads"] == 2)
        let cpu = try #require(r["cpuSeconds"])
        #expect(cpu > 0)
    }

    @Test func sgemmReportsConsistentNumbers() throws {
        let r = try KernelBenchmark.sgemm(size: 33, iterations: 1, pool: testPool)
        let seconds = try #require(r["seconds"]), gflops = try #require(r["gflops"])
        #expect(abs(gflops * seconds - 2 * Double(33 * 33 * 33) / 1e9) < 1e-9)
    }
}
